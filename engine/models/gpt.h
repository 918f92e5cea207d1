/* engine/models/gpt.h — the GPT-2 family (mb_family_gpt): presets, its parameter layout and the
 * closed forms of its activation bytes. Forward/backward are explicit (llm.c style) and run on any
 * backend; fp64 on the CPU is the reference. Methods see engine/models/model.h only. */
#ifndef MB_GPT_H
#define MB_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Presets: gpt-nano (tests: L2 C64 NH4 T32 V256), gpt2-124m, gpt2-350m, gpt2-774m, gpt2-1.5b
 * (T1024 V50257, the Hugging Face shapes). Parameters with the head tied to the token embedding:
 * V*C + T*C + L*(12*C*C + 13*C) + 2*C   (124,439,808 for gpt2-124m), + K*C for a classifier.
 * Parameter order: wte, wpe, then per block ln_1 (w, b), attn.c_attn (w, b), attn.c_proj (w, b),
 * ln_2 (w, b), mlp.c_fc (w, b), mlp.c_proj (w, b), then ln_f (w, b) and a classifier's score. */
#define MB_GPT_PER_LAYER 12 /* parameter tensors per block */

/* Saved activation bytes of a training forward (category ACTIVATIONS) with default slots and every
 * block kept; elements of E = es bytes (the backend's dtype) and statistics of S = ss bytes
 * (sdtype), logits rows ld elements apart (mb_model_logits_ld): E * [ encoded B*T*C
 *       + L * (12*B*T*C + NH*B*T*T)
 *           ln1 C, qkv 3C, atty C, res2 C, ln2 C, fch 4C, res3 C   -> 12 C per token
 *           attention probabilities NH*T per token
 *       + gelu 4*B*T*C (one buffer for all blocks; backward recomputes it)
 *       + lnf B*T*C + logits (dlogits in place after the loss) B*T*ld ]
 *   (a classifier's logits have K columns: ld = mb_model_logits_ld(be, K))
 * + S * [ L * 4*B*T (mean and rstd of two LayerNorms) + 2*B*T (final LayerNorm) + B*T (losses) ]
 * Tokens and targets are 2*B*T*4 bytes under OTHER. */
size_t mb_gpt_act_bytes(const mb_model_config *cfg, int B, int T, size_t es, size_t ss, int ld);
/* Scratch that backward allocates (ACTIVATIONS) and frees at its end: dres B*T*C, dtmp B*T*C,
 * dqkv 3*B*T*C, dfch 4*B*T*C, attention row scratch B*NH*T = 9*B*T*C + B*NH*T elements. dlogits
 * reuse the logits buffer, which is freed after the loss, before dqkv, dfch and the row scratch
 * are taken. */
size_t mb_gpt_bwd_scratch_elems(const mb_model_config *cfg, int B, int T);
/* Peak ACTIVATIONS bytes of a training step (forward then backward, default slots, every block
 * kept). Backward takes dres and dtmp (2*B*T*C) for the loss and the head's backward, frees the
 * logits, then takes the rest of its scratch:
 *   max(act + E*2*B*T*C,  act - E*B*T*ld + E*mb_gpt_bwd_scratch_elems)
 * with act = mb_gpt_act_bytes. GPT-2 (ld 50304) sits in the first; small vocabularies in the
 * second. */
size_t mb_gpt_train_act_peak(const mb_model_config *cfg, int B, int T, size_t es, size_t ss,
                             int ld);
/* Bytes of one block's inside activations (what MB_ACT_RECOMPUTE frees after forward):
 * E * (11*B*T*C + NH*B*T*T) + S * 4*B*T (every saved tensor of the block but res3). */
size_t mb_gpt_block_inside_bytes(const mb_model_config *cfg, int B, int T, size_t es, size_t ss);

#endif
