/* harness/cmd_forward.c — `membench forward`: one forward and backward of a Hugging Face checkpoint
 * on a token batch, printed as JSON (mean loss, each row's last-position logits, chosen gradients
 * in the checkpoint's layout), so another framework's numbers can be set beside membench's. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../engine/file.h"
#include "../engine/models/hf.h"
#include "cli.h"

static void usage(FILE *fp) {
    fprintf(
        fp,
        "usage: membench forward CHECKPOINT --tokens FILE [--precision P] [--target T]\n"
        "                        [--grads NAME[,NAME...]] [--out FILE]\n\n"
        "Builds the model config.json describes (CHECKPOINT is a Hugging Face folder, or its\n"
        "index or .safetensors file beside config.json), loads its weights, and runs one\n"
        "forward and backward on the batch in FILE: one row per line, each T + 1 token ids\n"
        "separated by spaces; a row's first T are the input, its last T the targets. Prints\n"
        "JSON: {\"loss\": mean cross-entropy over the B x T positions, \"B\", \"T\", \"vocab\",\n"
        "\"last_logits\": each row's logits at position T - 1, \"grads\": {NAME: {\"shape\",\n"
        "\"values\"}}} with each named gradient of the mean loss in the checkpoint's layout\n"
        "(GPT-2's Conv1D weights [in, out]). Non-finite numbers print as NaN or Infinity.\n\n"
        "  --precision P  fp32 (default), fp64 (cpu), tf32 or bf16 (cuda)\n"
        "  --target T     cpu (default) or cuda\n"
        "  --grads NAMES  parameters by checkpoint name, comma-separated\n"
        "  --out FILE     write the JSON to FILE instead of stdout\n");
}

static const mb_backend *pick(const char *target, const char *prec) {
    int cuda = !strcmp(target, "cuda");
    if (!cuda && strcmp(target, "cpu")) return NULL;
    if (!cuda)
        return !strcmp(prec, "fp32")   ? &mb_backend_cpu_f32
               : !strcmp(prec, "fp64") ? &mb_backend_cpu_f64
                                       : NULL;
#ifdef MB_HAVE_CUDA
    return !strcmp(prec, "fp32")   ? &mb_backend_cuda_f32
           : !strcmp(prec, "tf32") ? &mb_backend_cuda_tf32
           : !strcmp(prec, "bf16") ? &mb_backend_cuda_bf16
                                   : NULL;
#else
    return NULL;
#endif
}

static int tok_len(const char *q) { /* a bad token as the message shows it: up to 40 bytes */
    size_t n = strcspn(q, " \t\r");
    return n > 40 ? 40 : (int)n;
}

/* The token file: rows of equal length T + 1 (>= 2) into x and y ([B, T] each, caller frees). */
static mb_status read_tokens(mb_ctx *ctx, const char *path, int vocab, int32_t **x, int32_t **y,
                             int *B, int *T) {
    char *text;
    size_t size;
    MB_TRY(mb_file_read_all(ctx, path, "--tokens", 64u << 20, &text, &size));
    long *v = malloc((size / 2 + 2) * sizeof *v); /* at most one id per two bytes */
    mb_status st = v ? MB_OK : mb_error(ctx, MB_ENOMEM, "%s: out of memory", path);
    size_t n = 0;
    int rows = 0, width = 0, line = 1;
    for (char *p = st == MB_OK ? text : NULL; p && *p && st == MB_OK; line++) {
        char *end = strchr(p, '\n');
        if (end) *end = 0;
        int count = 0;
        for (char *q = p;;) {
            while (*q == ' ' || *q == '\t' || *q == '\r') q++;
            if (!*q) break;
            char *stop;
            errno = 0;
            long t = strtol(q, &stop, 10);
            if (stop == q || errno || t < 0 || t >= vocab || (*stop && !strchr(" \t\r", *stop))) {
                st = mb_error(ctx, MB_EINVAL, "%s:%d: expected token ids in [0, %d), got '%.*s'",
                              path, line, vocab, tok_len(q), q);
                break;
            }
            v[n++] = t;
            count++;
            q = stop;
        }
        if (st == MB_OK && count) {
            if (!rows) width = count;
            if (count != width || count < 2)
                st = mb_error(ctx, MB_EINVAL,
                              "%s:%d: expected %d token ids like the first row (at least 2), got "
                              "%d",
                              path, line, width < 2 ? 2 : width, count);
            rows++;
        }
        p = end ? end + 1 : NULL;
    }
    if (st == MB_OK && !rows) st = mb_error(ctx, MB_EINVAL, "%s: no token rows", path);
    if (st == MB_OK) {
        *B = rows, *T = width - 1;
        *x = malloc((size_t)rows * (size_t)*T * sizeof **x);
        *y = malloc((size_t)rows * (size_t)*T * sizeof **y);
        if (!*x || !*y) st = mb_error(ctx, MB_ENOMEM, "%s: out of memory", path);
        for (int b = 0; st == MB_OK && b < rows; b++)
            for (int t = 0; t < *T; t++) {
                (*x)[b * *T + t] = (int32_t)v[(size_t)b * width + t];
                (*y)[b * *T + t] = (int32_t)v[(size_t)b * width + t + 1];
            }
    }
    free(text);
    free(v);
    return st;
}

static void put_num(FILE *o, double v) {
    if (v != v)
        fputs("NaN", o);
    else if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308)
        fputs(v > 0 ? "Infinity" : "-Infinity", o);
    else
        fprintf(o, "%.17g", v);
}

static void put_array(FILE *o, const double *v, size_t n) {
    fputc('[', o);
    for (size_t i = 0; i < n; i++) {
        if (i) fputc(',', o);
        put_num(o, v[i]);
    }
    fputc(']', o);
}

/* Gradient of each name in `names` (comma-separated) in the checkpoint's layout. */
static mb_status put_grads(mb_ctx *ctx, const mb_model *m, char *names, FILE *o) {
    fputs("\"grads\":{", o);
    int first = 1;
    for (char *nm = strtok(names, ","); nm; nm = strtok(NULL, ",")) {
        const mb_param *p = mb_hf_param_of(m, nm);
        if (!p)
            return mb_error(ctx, MB_ENOTFOUND, "--grads: '%s' is not a parameter of this %s", nm,
                            m->fam->title);
        double *g = malloc(p->numel * sizeof *g), *t = malloc(p->numel * sizeof *t);
        mb_status st = g && t ? mb_model_grad_get(ctx, m, p->id, g)
                              : mb_error(ctx, MB_ENOMEM, "gradient of %s", nm);
        int conv1d = p->is_linear && m->fam->hf_conv1d;
        size_t r0 = p->shape[0], c0 = p->ndim == 2 ? p->shape[1] : 1;
        if (st == MB_OK && conv1d)
            for (size_t r = 0; r < r0; r++)
                for (size_t c = 0; c < c0; c++) t[c * r0 + r] = g[r * c0 + c];
        if (st == MB_OK) {
            fprintf(o, "%s\"%s\":{\"shape\":[", first ? "" : ",", nm);
            if (p->ndim == 1)
                fprintf(o, "%zu]", r0);
            else
                fprintf(o, "%zu,%zu]", conv1d ? c0 : r0, conv1d ? r0 : c0);
            fputs(",\"values\":", o);
            put_array(o, conv1d ? t : g, p->numel);
            fputc('}', o);
            first = 0;
        }
        free(g);
        free(t);
        MB_TRY(st);
    }
    fputc('}', o);
    return MB_OK;
}

/* The folder holding config.json: CHECKPOINT itself, or the folder of a file. */
static void config_dir(const char *ckpt, char *dir, size_t cap) {
    struct stat sb;
    const char *slash = strrchr(ckpt, '/');
    if (stat(ckpt, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(dir, cap, "%s", ckpt);
    else if (!slash)
        snprintf(dir, cap, ".");
    else
        snprintf(dir, cap, "%.*s", (int)(slash > ckpt ? slash - ckpt : 1), ckpt);
}

static mb_status forward(mb_ctx *ctx, const char *ckpt, const char *tokens, char *grads, FILE *o) {
    char dir[MB_FILE_PATH_MAX];
    mb_model_config cfg;
    mb_model m = {0};
    int32_t *x = NULL, *y = NULL;
    int B = 0, T = 0;
    double loss = 0, *z = NULL;
    config_dir(ckpt, dir, sizeof dir);
    MB_TRY(mb_hf_config_read(ctx, dir, &cfg));
    mb_status st = read_tokens(ctx, tokens, cfg.vocab, &x, &y, &B, &T);
    if (st == MB_OK && T > cfg.seq_len)
        st = mb_error(ctx, MB_EINVAL, "%s: rows of %d tokens, more than the model's %d positions",
                      tokens, T + 1, cfg.seq_len);
    if (st == MB_OK) st = mb_model_create(ctx, &cfg, &m);
    if (st == MB_OK) st = mb_hf_load(ctx, &m, ckpt);
    if (st == MB_OK) st = mb_model_forward(ctx, &m, x, NULL, B, T, NULL); /* keeps the logits */
    if (st == MB_OK && !(z = malloc((size_t)cfg.vocab * sizeof *z)))
        st = mb_error(ctx, MB_ENOMEM, "host logits");
    if (st == MB_OK)
        fprintf(o, "{\"B\":%d,\"T\":%d,\"vocab\":%d,\"last_logits\":[", B, T, cfg.vocab);
    for (int b = 0; b < B && st == MB_OK; b++) {
        st = m.fam->logits_row(ctx, &m, b * T + T - 1, z);
        if (st == MB_OK) {
            if (b) fputc(',', o);
            put_array(o, z, (size_t)cfg.vocab);
        }
    }
    if (st == MB_OK) st = mb_model_alloc_grads(ctx, &m, NULL);
    if (st == MB_OK) st = mb_model_forward(ctx, &m, x, y, B, T, &loss);
    if (st == MB_OK) st = mb_model_backward(ctx, &m);
    if (st == MB_OK) {
        fputs("],\"loss\":", o);
        put_num(o, loss);
        fputc(',', o);
        st = put_grads(ctx, &m, grads, o);
    }
    if (st == MB_OK) fputs("}\n", o);
    free(z);
    free(x);
    free(y);
    mb_model_destroy(ctx, &m);
    return st;
}

int mb_cmd_forward(int argc, char **argv) {
    static const struct option opts[] = {
        {"tokens", required_argument, NULL, 'k'},
        {"precision", required_argument, NULL, 'p'},
        {"target", required_argument, NULL, 't'},
        {"grads", required_argument, NULL, 'g'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *tokens = NULL, *prec = "fp32", *target = "cpu", *out = NULL;
    char *grads = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'k')
            tokens = optarg;
        else if (c == 'p')
            prec = optarg;
        else if (c == 't')
            target = optarg;
        else if (c == 'g')
            grads = optarg;
        else if (c == 'o')
            out = optarg;
        else if (c == 'h') {
            usage(stdout);
            return MB_EXIT_OK;
        } else {
            fprintf(stderr, "Try 'membench forward --help'.\n");
            return MB_EXIT_USAGE;
        }
    }
    if (argc - optind != 1 || !tokens) {
        fprintf(stderr, "membench forward: expected one CHECKPOINT and --tokens FILE\n"
                        "Try 'membench forward --help'.\n");
        return MB_EXIT_USAGE;
    }
    const mb_backend *be = pick(target, prec);
    if (!be) {
        fprintf(stderr,
                "membench forward: --target %s --precision %s is not available (cpu: fp32, fp64; "
                "cuda, in a CUDA build: fp32, tf32, bf16)\n",
                target, prec);
        return MB_EXIT_USAGE;
    }
    mb_ctx ctx;
    if (mb_ctx_init(&ctx, be) != MB_OK) {
        fprintf(stderr, "membench forward: %s\n", ctx.err);
        return MB_EXIT_FAIL;
    }
    char none[1] = "", *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len); /* printed only when whole: no half JSON on failure */
    mb_status st = mem ? forward(&ctx, argv[optind], tokens, grads ? grads : none, mem)
                       : mb_error(&ctx, MB_ENOMEM, "output buffer");
    if (mem && fclose(mem) != 0 && st == MB_OK) st = mb_error(&ctx, MB_ENOMEM, "output buffer");
    if (st == MB_OK && !out && fwrite(text, 1, len, stdout) != len)
        st = mb_error(&ctx, MB_EIO, "stdout: write failed");
    if (st == MB_OK && out) { /* a new file renamed over FILE once whole (engine/file.h) */
        mb_file_out fo;
        st = mb_file_begin(&ctx, &fo, out);
        if (st == MB_OK && fwrite(text, 1, len, fo.fp) != len) {
            mb_file_abort(&fo);
            st = mb_error(&ctx, MB_EIO, "%s: write failed", out);
        } else if (st == MB_OK) {
            st = mb_file_commit(&ctx, &fo);
        }
    }
    free(text);
    if (st != MB_OK) fprintf(stderr, "membench forward: %s\n", ctx.err);
    mb_ctx_fini(&ctx);
    return st == MB_OK                           ? MB_EXIT_OK
           : st == MB_EDEVICE || st == MB_ENOMEM ? MB_EXIT_FAIL
                                                 : MB_EXIT_USAGE;
}
