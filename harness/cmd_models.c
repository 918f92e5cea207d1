/* harness/cmd_models.c — `membench models`: every family's presets with shapes and parameter
 * counts. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../engine/models/model.h"

int mb_cmd_models(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: membench models\n\nLists the model presets a suite can name with "
               "'preset:'. Any other shape can be\ngiven key by key: arch (gpt or llama), layers, "
               "d_model, heads, seq_len, vocab;\nllama also kv_heads (default heads), d_ff, "
               "rope_theta (10000), tie_embeddings (false).\nOr a Hugging Face checkpoint folder: "
               "hf: DIR (shape from its config.json).\n");
        return MB_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "membench models: unexpected argument '%s'\nTry 'membench models "
                        "--help'.\n", argv[1]);
        return MB_EXIT_USAGE;
    }
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    printf("%-10s %-5s %6s %7s %5s %8s %5s %7s %7s %15s\n", "preset", "arch", "layers", "d_model",
           "heads", "kv_heads", "d_ff", "seq_len", "vocab", "parameters");
    const char *names[64];
    int n = mb_model_preset_names(names, 64);
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) {
        mb_model_config c;
        if (mb_model_preset(&ctx, names[i], &c) != MB_OK) continue;
        printf("%-10s %-5s %6d %7d %5d %8d %5d %7d %7d %15zu\n", names[i], mb_arch_name(c.arch),
               c.layers, c.d_model, c.heads, c.kv_heads, c.d_ff, c.seq_len, c.vocab,
               mb_model_num_params(&c));
    }
    mb_ctx_fini(&ctx);
    return MB_EXIT_OK;
}
