#!/usr/bin/env python3
"""scripts/peers/hf_train.py — the PyTorch peer of membench's training cells: Hugging Face
transformers' GPT2LMHeadModel or LlamaForCausalLM in membench's preset shapes, SDPA attention, bf16
autocast over fp32 weights, fused AdamW, eager or torch.compile; prints and appends a CSV row in
baselines/h100/gpt2-peers.csv's columns (median step ms, torch.cuda.max_memory_allocated in MiB).

usage: hf_train.py --model llama-130m --batch 8 --seq 1024 [--mode compile|eager]
                   [--steps 30] [--warmup 10] [--csv FILE]
Random weights and random token ids (no hub, no data): a step's time and memory do not depend on
them. Run it on the same machine and in the same lease as membench's suite to compare.
"""
import argparse
import csv
import os
import statistics
import sys

# membench's presets (engine/models/gpt.c, engine/models/llama.c): the shapes, not the weights
SHAPES = {
    "gpt2-124m": dict(family="gpt2", layers=12, d_model=768, heads=12, vocab=50257),
    "gpt2-350m": dict(family="gpt2", layers=24, d_model=1024, heads=16, vocab=50257),
    "llama-60m": dict(family="llama", layers=8, d_model=512, heads=8, d_ff=1376, vocab=32000),
    "llama-130m": dict(family="llama", layers=12, d_model=768, heads=12, d_ff=2048, vocab=32000),
    "llama-350m": dict(family="llama", layers=24, d_model=1024, heads=16, d_ff=2736, vocab=32000),
}


def build(name, seq):
    import transformers as tf

    s = SHAPES[name]
    if s["family"] == "gpt2":
        cfg = tf.GPT2Config(n_layer=s["layers"], n_embd=s["d_model"], n_head=s["heads"],
                            n_positions=max(seq, 1024), vocab_size=s["vocab"],
                            attn_implementation="sdpa")
        return tf.GPT2LMHeadModel(cfg)
    cfg = tf.LlamaConfig(num_hidden_layers=s["layers"], hidden_size=s["d_model"],
                         num_attention_heads=s["heads"], num_key_value_heads=s["heads"],
                         intermediate_size=s["d_ff"], max_position_embeddings=max(seq, 1024),
                         vocab_size=s["vocab"], rms_norm_eps=1e-6, rope_theta=10000.0,
                         tie_word_embeddings=False, attn_implementation="sdpa")
    return tf.LlamaForCausalLM(cfg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=sorted(SHAPES))
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--mode", choices=["compile", "eager"], default="compile")
    ap.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed first steps (default 10)")
    ap.add_argument("--csv", help="append the row to this CSV (header written if new)")
    a = ap.parse_args()
    if a.steps < 2 or a.warmup < 1:
        ap.error("--steps must be at least 2 and --warmup at least 1")

    import torch
    import transformers

    if not torch.cuda.is_available():
        print("hf_train.py: no CUDA device", file=sys.stderr)
        return 77
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    dev = torch.device("cuda")
    torch.cuda.reset_peak_memory_stats()
    model = build(a.model, a.seq).to(dev)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=True)
    step_fn = model
    if a.mode == "compile":
        step_fn = torch.compile(model)
    vocab = SHAPES[a.model]["vocab"]
    g = torch.Generator(device=dev).manual_seed(1)
    x = torch.randint(0, vocab, (a.batch, a.seq), device=dev, generator=g)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step_fn(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    times = []
    for i in range(a.warmup + a.steps):
        t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0.record()
        loss = step()
        t1.record()
        torch.cuda.synchronize()
        if not torch.isfinite(loss):
            print(f"hf_train.py: the loss is {loss.item()} at step {i}", file=sys.stderr)
            return 1
        if i >= a.warmup:
            times.append(t0.elapsed_time(t1))
    ms = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / 2**20
    peer = "torch.compile" if a.mode == "compile" else "PyTorch eager"
    source = (f"scripts/peers/hf_train.py on {torch.cuda.get_device_name()}: transformers "
              f"{transformers.__version__}, torch {torch.__version__}, "
              f"{'LlamaForCausalLM' if a.model.startswith('llama') else 'GPT2LMHeadModel'}, SDPA, "
              f"bf16 autocast, fused AdamW; median of {a.steps} steps after {a.warmup}, "
              f"max_memory_allocated")
    row = [peer, a.model, a.batch, a.seq, "bf16", f"{ms:.2f}", f"{peak:.0f}", source]
    print(f"{peer} {a.model} {a.batch}x{a.seq} bf16: {ms:.2f} ms/step, peak {peak:.0f} MiB "
          f"(p10-p90 {statistics.quantiles(times, n=10)[0]:.2f}-"
          f"{statistics.quantiles(times, n=10)[-1]:.2f} ms)")
    if a.csv:
        new = not os.path.exists(a.csv)
        with open(a.csv, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["peer", "model", "batch_size", "seq_len", "precision", "step_ms",
                            "peak_mib", "source"])
            w.writerow(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
