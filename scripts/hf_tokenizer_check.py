#!/usr/bin/env python3
# scripts/hf_tokenizer_check.py — membench's tokenizer.json encoder against Hugging Face
# `tokenizers` itself, offline: tokenizers built or trained here, ids compared on the corpora.
"""Requires ids identical to `tokenizers` (encode(text, add_special_tokens=False)) for:

  gpt2-files   GPT-2's encoder.json + vocab.bpe (data set gpt2-bpe) written as a tokenizer.json
  bytelevel    byte-level BPE trained here by `tokenizers` on the corpus text (ByteLevel
               pre-tokenizer: GPT-2's split)
  llama3-split byte-level BPE trained here with Llama 3's layout (Split with Llama 3's pattern,
               then ByteLevel with use_regex false; ignore_merges where `tokenizers` has it)
  sentencepiece  SentencePiece-style BPE trained here (models.BPE with byte_fallback and
               fuse_unk, Llama 2's normalizer Prepend("▁") + Replace(" ", "▁"), no
               pre-tokenizer, a small alphabet so that byte fallback is used)
  fixture-*    the hand-made tests/fixtures/hftok/*.json

on sotu.txt and moby-dick.txt (from the data cache: $MEMBENCH_DATA, else ~/.cache/membench;
fetch with `membench data fetch sotu moby-dick gpt2-bpe`), tests/fixtures/bpe/tricky.txt and a
text of edge cases written here. membench's ids come from `membench data tokenize --tokenizer
FILE TEXTFILE`. Prints the counts; exits 1 on any mismatch (with the first differing position and
the tokens around it), 2 when something it needs is missing. No network is used.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

EDGE_CASES = (
    "Hello world's  end\n\n x 12 ab\r\n"
    "I'LL WE'RE they'Ve it'\u017f don't 'quoted' ''\n"
    "1234567 3.14159 ٣٤٥ Ⅻ ½ 10,000,000\n"
    "\tTabs\t\tand  double  spaces   \u00a0nbsp\u00a0 \u3000ideographic\u3000 \u0085next\u2028sep\n"
    "caf\u00e9 cafe\u0301 na\u00efve \u4e2d\u6587 \u05e9\u05dc\u05d5\u05dd \U0001F600\U0001F600 "
    "\U0001D7CE \u180e\ufeff zero\u200bwidth\n"
    "(parens) [brackets] {braces} <s> </s> <unk> <|endoftext|> <|begin_of_text|> ...!?\n"
    "trailing spaces   \n   leading spaces\n\n\n\r\r\n\u2581already\u2581marked\u2581"
)


def die(msg, code=2):
    print(f"hf_tokenizer_check: {msg}", file=sys.stderr)
    sys.exit(code)


def read_text(path):
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def corpus_lines(paths, limit):
    for p in paths:
        n = 0
        for line in read_text(p).splitlines(keepends=True):
            yield line
            n += len(line)
            if n > limit:
                break


def gpt2_files(tk, data, out):
    enc_path = os.path.join(data, "gpt2-bpe", "encoder.json")
    bpe_path = os.path.join(data, "gpt2-bpe", "vocab.bpe")
    if not (os.path.exists(enc_path) and os.path.exists(bpe_path)):
        print("gpt2-files: skipped (gpt2-bpe is not fetched)")
        return None
    with open(enc_path, encoding="utf-8") as f:
        vocab = json.load(f)
    lines = read_text(bpe_path).split("\n")
    merges = [l for i, l in enumerate(lines) if l and not (i == 0 and l.startswith("#"))]
    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "", "fuse_unk": False,
                  "byte_fallback": False, "vocab": vocab, "merges": merges},
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    return tk.Tokenizer.from_file(out)


def train_bytelevel(tk, corpus, out, vocab_size, llama3):
    from tokenizers import decoders, models, pre_tokenizers, trainers
    kw = {}
    if llama3:
        try:
            models.BPE(ignore_merges=True)
            kw["ignore_merges"] = True
        except TypeError:
            print("llama3-split: this `tokenizers` has no ignore_merges; trained without it")
    t = tk.Tokenizer(models.BPE(**kw))
    if llama3:
        t.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(tk.Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    special = ["<|begin_of_text|>", "<|end_of_text|>"] if llama3 else ["<|endoftext|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    t.train_from_iterator(corpus(), trainer=trainer)
    t.save(out)
    return tk.Tokenizer.from_file(out)


def train_sentencepiece(tk, corpus, out, vocab_size):
    from tokenizers import decoders, models, normalizers, trainers
    t = tk.Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    t.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"),
                                         normalizers.Replace(" ", "\u2581")])
    t.pre_tokenizer = None
    t.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                   decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    special = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  limit_alphabet=80, show_progress=False)
    t.train_from_iterator(corpus(), trainer=trainer)
    t.save(out)
    return tk.Tokenizer.from_file(out)


def membench_ids(membench, tok_file, text_file):
    r = subprocess.run([membench, "data", "tokenize", "--tokenizer", tok_file, text_file],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return [int(x) for x in r.stdout.split()], None


def compare(name, hf, tok_file, text_name, text_file, membench):
    text = read_text(text_file)
    want = hf.encode(text, add_special_tokens=False).ids
    got, err = membench_ids(membench, tok_file, text_file)
    if got is None:
        print(f"MISMATCH {name} on {text_name}: membench failed: {err}")
        return False
    if got == want:
        print(f"ok       {name} on {text_name}: {len(text.encode('utf-8'))} bytes, "
              f"{len(want)} tokens, identical")
        return True
    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
             min(len(got), len(want)))
    lo = max(0, i - 3)
    show = lambda ids: [hf.id_to_token(x) for x in ids[lo:i + 4]]
    print(f"MISMATCH {name} on {text_name}: tokenizers {len(want)} ids, membench {len(got)}; "
          f"first difference at position {i}")
    print(f"  tokenizers [{lo}:{i + 4}]: {want[lo:i + 4]} {show(want)}")
    print(f"  membench   [{lo}:{i + 4}]: {got[lo:i + 4]} {show(got)}")
    return False


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--membench", help="the membench binary (default: build/membench, else "
                    "build-cpu/membench)")
    ap.add_argument("--data", help="the data cache (default: $MEMBENCH_DATA, else "
                    "~/.cache/membench)")
    ap.add_argument("--vocab-size", type=int, default=8000,
                    help="vocabulary of the tokenizers trained here (default 8000)")
    ap.add_argument("--train-bytes", type=int, default=4 << 20,
                    help="corpus bytes each tokenizer is trained on (default 4 MiB)")
    ap.add_argument("--keep", help="write the tokenizer.json files into this folder and keep them")
    args = ap.parse_args()
    try:
        import tokenizers as tk
    except ImportError:
        die("the `tokenizers` Python package is not installed")
    membench = args.membench or next(
        (p for p in (os.path.join(root, "build", "membench"), os.path.join(root, "build-cpu",
                                                                            "membench"))
         if os.access(p, os.X_OK)), None)
    if not membench or not os.access(membench, os.X_OK):
        die("no membench binary: build it (cmake --preset release && cmake --build build) or "
            "pass --membench")
    data = args.data or os.environ.get("MEMBENCH_DATA") or os.path.expanduser("~/.cache/membench")
    texts = [(n, os.path.join(data, n.split(".")[0], n)) for n in ("sotu.txt", "moby-dick.txt")]
    texts = [(n, p) for n, p in texts if os.path.exists(p)]
    if not texts:
        die(f"neither sotu.txt nor moby-dick.txt is in {data}: run `membench data fetch sotu "
            f"moby-dick gpt2-bpe` or pass --data")
    print(f"tokenizers {tk.__version__}; membench {membench}; corpora from {data}")
    work = args.keep or tempfile.mkdtemp(prefix="hf_tokenizer_check.")
    os.makedirs(work, exist_ok=True)
    edge = os.path.join(work, "edge-cases.txt")
    with open(edge, "w", encoding="utf-8", newline="") as f:
        f.write(EDGE_CASES)
    texts += [("tricky.txt", os.path.join(root, "tests", "fixtures", "bpe", "tricky.txt")),
              ("edge-cases.txt", edge)]
    corpus = lambda: corpus_lines([p for n, p in texts[:2] if n.endswith(".txt")],
                                  args.train_bytes)

    tokenizers_ = []
    p = os.path.join(work, "gpt2-files.json")
    hf = gpt2_files(tk, data, p)
    if hf:
        tokenizers_.append(("gpt2-files", hf, p))
    for name, llama3 in (("bytelevel", False), ("llama3-split", True)):
        p = os.path.join(work, name + ".json")
        tokenizers_.append((name, train_bytelevel(tk, corpus, p, args.vocab_size, llama3), p))
    p = os.path.join(work, "sentencepiece.json")
    tokenizers_.append(("sentencepiece", train_sentencepiece(tk, corpus, p, args.vocab_size), p))
    for fx in ("sentencepiece", "llama3"):
        p = os.path.join(root, "tests", "fixtures", "hftok", fx + ".json")
        tokenizers_.append(("fixture-" + fx, tk.Tokenizer.from_file(p), p))

    ok = True
    for name, hf, path in tokenizers_:
        for text_name, text_path in texts:
            ok &= compare(name, hf, path, text_name, text_path, membench)
    if not args.keep:
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        os.rmdir(work)
    print("all identical" if ok else "some ids differ")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
