/* engine/safetensors.h — safetensors reader and writer: u64 LE header length N, N bytes of JSON
 * (name -> dtype, shape, data_offsets; optional "__metadata__" of string -> string), raw data. */
#ifndef MB_SAFETENSORS_H
#define MB_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctx.h"
#include "status.h"

#define MB_ST_MAX_DIMS 8
#define MB_ST_MAX_HEADER 100000000ull /* bytes; the reference implementation's limit */

typedef struct mb_st_tensor {
    char *name;    /* UTF-8, NUL-terminated (names holding \u0000 are rejected) */
    char dtype[8]; /* "F32", "BF16", "F8_E4M3", ... */
    int ndim;      /* 0..MB_ST_MAX_DIMS; 0 is a scalar */
    int64_t shape[MB_ST_MAX_DIMS];
    uint64_t begin, end; /* byte offsets relative to the start of the data section */
    uint64_t numel;      /* product(shape); 1 for a scalar */
} mb_st_tensor;

typedef struct mb_st_meta {
    char *key, *value;
} mb_st_meta;

typedef struct mb_st_file {
    char *path;
    FILE *fp;
    uint64_t data_start; /* absolute file offset of the data section: 8 + header length */
    size_t n;            /* tensors, ordered by data_offsets begin (then by name) */
    mb_st_tensor *t;
    uint64_t header_len; /* N, the JSON header's length in bytes */
    uint64_t data_size;  /* file size - data_start */
    size_t n_meta;       /* "__metadata__" entries, in header order */
    mb_st_meta *meta;
    mb_st_tensor **by_name; /* the n tensors sorted by name (for mb_st_find) */
} mb_st_file;

/* Opens `path`, parses and validates its header: among what is refused, a tensor name given twice
 * ("duplicate tensor name 'NAME'") and two tensors sharing data bytes ("tensor 'B': data_offsets
 * [b, e] overlap those of tensor 'A' [b, e]"; empty tensors share none). On failure *out is zeroed
 * and nothing is held; MB_EIO when the file cannot be opened or read, MB_EFORMAT when its content
 * is malformed. */
mb_status mb_st_open(mb_ctx *ctx, const char *path, mb_st_file *out);
/* The tensor called `name`, or NULL. */
const mb_st_tensor *mb_st_find(const mb_st_file *f, const char *name);
/* The "__metadata__" value for `key`, or NULL. */
const char *mb_st_meta_get(const mb_st_file *f, const char *key);
/* Bytes per element of a safetensors dtype name ("F32" -> 4); 0 if unknown. */
size_t mb_st_dtype_size(const char *dtype);
/* Copies the raw (little-endian) bytes of `t` into dst; dst_bytes must equal t->end - t->begin.
 * Uses pread, so several threads may read from one open file at once. */
mb_status mb_st_read(mb_ctx *ctx, const mb_st_file *f, const mb_st_tensor *t, void *dst,
                     size_t dst_bytes);
/* Converts n elements of safetensors dtype st_dtype (F64, F32, F16, BF16; little-endian, any
 * alignment) into dst as element type t (engine/stconvert.c): exact where t holds the value, else
 * rounded once to nearest even (a value past t's largest rounds to infinity, a NaN stays a NaN of
 * its sign). 0, with nothing written, for any other dtype. */
int mb_st_convert(mb_dtype t, void *dst, const char *st_dtype, const void *src, size_t n);
/* Releases everything and zeroes *f; safe on a zeroed struct and when called twice. */
void mb_st_close(mb_st_file *f);

typedef struct mb_st_entry {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[MB_ST_MAX_DIMS];
    const void *data; /* little-endian bytes; may be NULL when bytes == 0 */
    size_t bytes;     /* must equal product(shape) * dtype size */
} mb_st_entry;

/* Writes n tensors, laid out in the order given, to `path` (engine/file.h: a new file beside it,
 * synced and renamed over it, so a crash leaves either the old file or the complete new one, and a
 * symlink at `path` is replaced, never written through). metadata_json is NULL or the text of a
 * JSON object of string -> string, stored as "__metadata__". The header is padded with spaces to a
 * multiple of 8 bytes. MB_EINVAL for bad entries or metadata, MB_EIO when writing fails,
 * MB_ESTORAGE when the disk is full. */
mb_status mb_st_write(mb_ctx *ctx, const char *path, const mb_st_entry *e, size_t n,
                      const char *metadata_json);

#endif
