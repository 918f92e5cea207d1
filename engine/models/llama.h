/* engine/models/llama.h — the LLaMA family (mb_family_llama): presets and the closed form of a
 * block's saved bytes. Parameter order: the embedding, then per block input_layernorm, q, k, v, o,
 * post_attention_layernorm, gate, up, down; then the final norm, an untied lm_head, a score. */
#ifndef MB_LLAMA_H
#define MB_LLAMA_H

#include <stddef.h>

#include "model.h"

#define MB_LLAMA_PER_LAYER 9 /* parameter tensors per block */

/* Bytes of one block's inside (what recompute frees): E * (4 N C (ln1, atty, res2, ln2) +
 * N (NH + 2 KV) hs (qkv) + 2 N F (gate, up) + NH N T (probabilities)) + S * 2 N (two rstd). */
size_t mb_llama_block_inside_bytes(const mb_model_config *c, int B, int T, size_t es, size_t ss);

#endif
