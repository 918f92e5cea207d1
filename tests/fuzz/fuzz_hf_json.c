/* tests/fuzz/fuzz_hf_json.c — fuzz target for the Hugging Face checkpoint JSON readers: the first
 * byte picks model.safetensors.index.json (even) or config.json (odd), the rest is the text. Any
 * bytes must parse or fail with a message, never crash or leak; what parses must be what the
 * readers promise (sorted unique names, in-folder shards each used, a shape the family accepts). */
#include <stdlib.h>
#include <string.h>

#include "../../engine/models/hf.h"

static void check_index(const mb_hf_index *ix) {
    for (size_t k = 0; k < ix->n; k++) {
        if (k && strcmp(ix->names[k - 1], ix->names[k]) >= 0) abort();
        if (ix->shard[k] >= ix->nshards) abort();
        if (mb_hf_index_find(ix, ix->names[k]) != (long)k) abort();
    }
    for (size_t s = 0; s < ix->nshards; s++) {
        const char *p = ix->shards[s];
        if (s && strcmp(ix->shards[s - 1], p) >= 0) abort();
        if (!*p || *p == '/') abort();
        for (const char *c = p; (c = strstr(c, "..")); c += 2)
            if ((c == p || c[-1] == '/') && (c[2] == 0 || c[2] == '/')) abort();
        size_t used = 0;
        for (size_t k = 0; k < ix->n; k++) used += ix->shard[k] == s;
        if (!used) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (!n) return 0;
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_status s;
    if (data[0] % 2 == 0) {
        mb_hf_index ix;
        s = mb_hf_index_parse(&ctx, "index.json", data + 1, n - 1, &ix);
        if (s == MB_OK)
            check_index(&ix);
        else if (ix.n || ix.names || ix.nshards)
            abort(); /* zeroed on failure */
        mb_hf_index_free(&ix);
        mb_hf_index_free(&ix);
    } else {
        mb_model_config c;
        s = mb_hf_config_parse(&ctx, "config.json", data + 1, n - 1, &c);
        if (s == MB_OK) {
            mb_model_config again = c;
            if (mb_model_config_check(&ctx, &again) != MB_OK) abort();
            if (c.layers < 1 || c.d_model < 1 || c.heads < 1 || c.vocab < 1 || c.seq_len < 1 ||
                (c.arch != MB_ARCH_GPT && c.arch != MB_ARCH_LLAMA))
                abort();
        }
    }
    if (s != MB_OK && !ctx.err[0]) abort();
    mb_ctx_fini(&ctx);
    return 0;
}
