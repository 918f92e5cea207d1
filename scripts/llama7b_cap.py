#!/usr/bin/env python3
# scripts/llama7b_cap.py MEMBENCH OUTDIR [--cap 24GiB] — a 7B-shaped LLaMA written sharded by
# transformers, loaded by membench and trained a few steps under a memory cap with a memory-saving
# stack: it must end `ok`, or `oom` with the memory category named. Needs torch, transformers, a GPU.
"""A user's own 7B checkpoint under a 24 GiB card's cap.

LLaMA-2 7B's shape (hidden 4096, 32 layers, 32 heads, intermediate 11008, vocabulary 32000) with
random weights, built by transformers in bf16 on the GPU (no hub) and written by save_pretrained in
2 GB shards with model.safetensors.index.json. A generated suite loads it with `hf: DIR` on a cuda
target with `memory_cap` (default 24 GiB) and trains `--steps` steps in bf16 at batch 1 with
`--stack` (default lora, checkpointing, adam8bit). Passes (exit 0) when the cell's row says `ok`, or
`oom` with a reason that names the category (`out of memory: weights '...' needs N bytes; ...`);
prints the row's status, reason, peak per category against its prediction and the step time. The
checkpoint (about 13 GB) is deleted afterwards unless --keep.
"""
import argparse
import csv
import os
import re
import shutil
import subprocess
import sys

CATEGORIES = ["weights", "grads", "optimizer", "activations", "kv_cache", "workspace", "comm",
              "other"]


def write_checkpoint(path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                      vocab_size=32000, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=False, hidden_act="silu")
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # built in bf16: 13.5 GB on the GPU, not 27 + 13.5
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)
    torch.set_default_dtype(torch.float32)
    n = sum(p.numel() for p in model.parameters())
    model.save_pretrained(path, safe_serialization=True, max_shard_size="2GB")
    del model
    torch.cuda.empty_cache()
    if not os.path.exists(os.path.join(path, "model.safetensors.index.json")):
        raise RuntimeError(f"{path}: save_pretrained wrote no index")
    shards = [f for f in os.listdir(path) if f.endswith(".safetensors")]
    print(f"wrote {path}: {n:,} parameters in {len(shards)} shards")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("membench", help="path of the membench binary (built with CUDA)")
    ap.add_argument("outdir", help="folder for the checkpoint, the suite and its results")
    ap.add_argument("--cap", default="24GiB", help="the target's memory_cap (default 24GiB)")
    ap.add_argument("--stack", default="lora,checkpointing,adam8bit",
                    help="the method stack, comma-separated (default lora,checkpointing,adam8bit)")
    ap.add_argument("--seq", type=int, default=1024, help="sequence length (default 1024)")
    ap.add_argument("--steps", type=int, default=3, help="steps, the first untimed (default 3)")
    ap.add_argument("--keep", action="store_true", help="keep the checkpoint")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    ckpt = os.path.join(os.path.abspath(a.outdir), "llama-7b")
    if not os.path.exists(os.path.join(ckpt, "model.safetensors.index.json")):
        write_checkpoint(ckpt)
    stack = [m.strip() for m in a.stack.split(",") if m.strip()]
    suite = os.path.join(a.outdir, "llama7b-cap.yaml")
    with open(suite, "w") as f:
        f.write("suite: llama7b-cap\nseed: 1\n"
                f"defaults: {{steps: {a.steps}, warmup_steps: 1, precision: bf16, "
                "eval: {every: 0, batches: 1}}\n"
                f"targets: [{{name: cap, backend: cuda, device: 0, memory_cap: {a.cap}}}]\n"
                f"models: [{{name: llama-7b, hf: {ckpt}, batch_size: 1}}]\n"
                "data: {name: synthetic, vocab: 32000}\n"
                f"task: {{kind: train, seq_len: {a.seq}}}\n"
                f"methods: [{{stack: [{', '.join(stack)}]}}]\n")
    res = os.path.join(a.outdir, "results")
    shutil.rmtree(res, ignore_errors=True)
    p = subprocess.run([a.membench, "run", "--quiet", "--out", res, suite],
                       capture_output=True, text=True)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    rows = list(csv.DictReader(open(os.path.join(res, "results.csv")))) \
        if os.path.exists(os.path.join(res, "results.csv")) else []
    if not a.keep:
        shutil.rmtree(ckpt, ignore_errors=True)
    if len(rows) != 1:
        print(f"llama7b_cap: expected one row, got {len(rows)} (membench exited {p.returncode})")
        return 1
    r = rows[0]
    print(f"status {r['status']}; reason: {r['reason'] or '-'}")
    for c in CATEGORIES:
        got, want = r.get(f"peak_{c}_bytes", ""), r.get(f"pred_{c}_bytes", "")
        if got or want:
            print(f"  {c:12s} measured {got or '-':>14s}  predicted {want or '-':>14s}")
    print(f"  tracked peak {r['tracked_peak_bytes'] or '-'}, device peak "
          f"{r['device_peak_bytes'] or '-'}, median step {r['step_ms_median'] or '-'} ms")
    if r["status"] == "ok":
        return 0
    m = re.search(r"out of memory: (\w+) '", r["reason"])
    if r["status"] == "oom" and m and m.group(1) in CATEGORIES:
        print(f"oom in category {m.group(1)}: the cap holds the rest, the answer is named")
        return 0
    print("llama7b_cap: neither ok nor an oom that names its category")
    return 1


if __name__ == "__main__":
    sys.exit(main())
