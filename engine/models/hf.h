/* engine/models/hf.h — Hugging Face checkpoints as they are published: a folder with config.json
 * (the shape) and model.safetensors, or model.safetensors.index.json whose weight_map names the
 * shard holding each tensor. Kept out of model.h, which is part of the method ABI. */
#ifndef MB_HF_H
#define MB_HF_H

#include <stddef.h>

#include "../safetensors.h"
#include "model.h"

#define MB_HF_INDEX "model.safetensors.index.json"
#define MB_HF_SINGLE "model.safetensors"
#define MB_HF_CONFIG "config.json"
#define MB_HF_JSON_MAX (64u << 20) /* bytes of an index or config.json read at most */

/* A parsed index: weight_map's entries sorted by name, each naming one of the distinct shards
 * (sorted, every one a relative path inside the checkpoint's folder). */
typedef struct mb_hf_index {
    size_t n;
    char **names;
    size_t *shard; /* [n]: index into shards */
    size_t nshards;
    char **shards;
} mb_hf_index;

/* Parses index JSON (`file` names it in messages, MB_EFORMAT): an object whose "weight_map" is an
 * object of tensor name -> shard file; other members ("metadata") are skipped. Refused: malformed
 * JSON ("FILE: bad JSON at byte N: WHY"), no weight_map, a tensor listed twice, a shard path that
 * is empty, absolute or has a '..' component. On failure *out is zeroed. */
mb_status mb_hf_index_parse(mb_ctx *ctx, const char *file, const unsigned char *text, size_t len,
                            mb_hf_index *out);
/* The entry of `name`, or -1. */
long mb_hf_index_find(const mb_hf_index *ix, const char *name);
void mb_hf_index_free(mb_hf_index *ix); /* safe on a zeroed index and twice */

/* Parses config.json into a checked shape (MB_EFORMAT for malformed JSON or a wrong type,
 * MB_EUNSUPPORTED for a setting membench does not implement, MB_EINVAL for a shape the family
 * refuses; every message starts with `file`). The family comes from model_type (gpt2, llama), else
 * architectures[0]. */
mb_status mb_hf_config_parse(mb_ctx *ctx, const char *file, const unsigned char *text, size_t len,
                             mb_model_config *out);
/* Reads DIR/config.json and parses it. */
mb_status mb_hf_config_read(mb_ctx *ctx, const char *dir, mb_model_config *out);

/* Loads weights from `path`: a safetensors file, a folder (its index when there is one, else its
 * model.safetensors), or an index file. A sharded checkpoint is read shard by shard and tensor by
 * tensor: the host holds one tensor (its file bytes, converted and, for Conv1D, transposed) at a
 * time. File dtypes F64, F32, F16, BF16 convert to the backend's type (mb_st_convert). */
mb_status mb_hf_load(mb_ctx *ctx, mb_model *m, const char *path);
/* Checks that `path` names a checkpoint mb_hf_load could open: a file, or a folder with an index
 * that parses and whose shards are regular files, or with model.safetensors. Reads no tensor. */
mb_status mb_hf_check(mb_ctx *ctx, const char *path);

/* What the single-file and sharded loaders share (model_io.c). The parameter a checkpoint tensor
 * name stands for (the family's hf_prefix allowed), or NULL. */
mb_param *mb_hf_param_of(const mb_model *m, const char *name);
/* 1 when a checkpoint may hold `name` besides the parameters (causal-mask buffers, a tied head). */
int mb_hf_ignorable(const mb_model *m, const char *name);
/* Checks t's shape against p's (Hugging Face layout), reads it from f, converts and uploads it.
 * Messages name f->path and the tensor. */
mb_status mb_hf_load_tensor(mb_ctx *ctx, mb_param *p, const mb_model *m, const mb_st_file *f,
                            const mb_st_tensor *t);

#endif
