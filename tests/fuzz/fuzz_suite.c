/* tests/fuzz/fuzz_suite.c — fuzz target for the YAML suite loader: any bytes must load or fail with
 * a message, never crash, leak or read out of bounds. Built for libFuzzer and for replay. */
#include <stdlib.h>
#include <string.h>

#include "../../harness/suite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    char *text = malloc(n + 1);
    if (!text) return 0;
    memcpy(text, data, n);
    text[n] = 0; /* the loader takes a C string; an embedded NUL ends it early, which is fine */
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_registry reg;
    mb_registry_init(&reg);
    mb_suite_file s;
    if (mb_suite_file_load_string(&ctx, &reg, "fuzz.yaml", text, &s) == MB_OK)
        mb_suite_file_free(&s);
    else if (!ctx.err[0])
        abort(); /* a failure must always say why */
    mb_registry_fini(&reg);
    mb_ctx_fini(&ctx);
    free(text);
    return 0;
}
