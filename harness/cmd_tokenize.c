/* harness/cmd_tokenize.c — `membench data tokenize --tokenizer FILE TEXTFILE`: prints the ids a
 * tokenizer.json gives a text file, one per line (what scripts/hf_tokenizer_check.py compares). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../datasets/data.h"
#include "../datasets/hftok.h"
#include "../engine/ctx.h"
#include "../methods/registry.h"
#include "cli.h"

static void usage(FILE *fp) {
    fprintf(fp, "usage: membench data tokenize --tokenizer FILE [--count] TEXTFILE\n\n"
                "Encodes TEXTFILE with the Hugging Face tokenizer.json FILE (BPE: byte-level as\n"
                "GPT-2 and Llama 3, or SentencePiece-style with byte fallback as Llama 2) the way\n"
                "`tokenizers` does with add_special_tokens=False, and prints the ids, one a line.\n"
                "--count prints only how many there are. exit codes: 0 ok; 1 the file cannot be\n"
                "read or tokenized; 2 bad usage or a tokenizer.json membench does not read.\n");
}

int mb_cmd_data_tokenize(int argc, char **argv) {
    const char *tok = NULL, *text = NULL;
    int count = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return MB_EXIT_OK;
        } else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) {
            tok = argv[++i];
        } else if (!strcmp(argv[i], "--count")) {
            count = 1;
        } else if (argv[i][0] == '-' || text) {
            fprintf(stderr,
                    "membench data tokenize: unexpected argument '%s'\n"
                    "Try 'membench data tokenize --help'.\n",
                    argv[i]);
            return MB_EXIT_USAGE;
        } else {
            text = argv[i];
        }
    }
    if (!tok || !text) {
        usage(stderr);
        return MB_EXIT_USAGE;
    }
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_hftok *t = NULL;
    char *s = NULL;
    size_t len = 0, n = 0;
    int32_t *ids = NULL;
    int rc = MB_EXIT_OK;
    mb_status st = mb_hftok_load(&ctx, tok, &t);
    if (st != MB_OK) rc = st == MB_EIO || st == MB_ENOMEM ? MB_EXIT_FAIL : MB_EXIT_USAGE;
    if (st == MB_OK && (st = mb_read_file(&ctx, text, &s, &len)) != MB_OK) rc = MB_EXIT_FAIL;
    if (st == MB_OK && (st = mb_hftok_encode(&ctx, t, s, len, &ids, &n)) != MB_OK)
        rc = MB_EXIT_FAIL;
    if (st != MB_OK) {
        fprintf(stderr, "membench data tokenize: %s\n", ctx.err);
    } else if (count) {
        printf("%zu\n", n);
    } else {
        for (size_t i = 0; i < n; i++) printf("%d\n", (int)ids[i]);
    }
    if (st == MB_OK && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "membench data tokenize: cannot write the ids\n");
        rc = MB_EXIT_FAIL;
    }
    free(ids);
    free(s);
    mb_hftok_free(t);
    mb_ctx_fini(&ctx);
    return rc;
}
