/* harness/cmd_models.c — `membench models`: the GPT presets with shapes and parameter counts. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../engine/models/gpt.h"

int mb_cmd_models(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: membench models\n\nLists the model presets a suite can name with "
               "'preset:'. Any other GPT shape\ncan be given key by key (arch: gpt, layers, "
               "d_model, heads, seq_len, vocab).\n");
        return MB_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "membench models: unexpected argument '%s'\nTry 'membench models "
                        "--help'.\n", argv[1]);
        return MB_EXIT_USAGE;
    }
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    printf("%-10s %-5s %6s %7s %5s %7s %7s %15s\n", "preset", "arch", "layers", "d_model", "heads",
           "seq_len", "vocab", "parameters");
    for (int i = 0; mb_gpt_preset_names[i]; i++) {
        mb_gpt_config c;
        mb_gpt_preset(&ctx, mb_gpt_preset_names[i], &c);
        printf("%-10s %-5s %6d %7d %5d %7d %7d %15zu\n", mb_gpt_preset_names[i], "gpt", c.layers,
               c.d_model, c.heads, c.seq_len, c.vocab, mb_gpt_num_params(&c));
    }
    mb_ctx_fini(&ctx);
    return MB_EXIT_OK;
}
