/* tests/test_hf_ckpt.c — Hugging Face checkpoint folders (mb_hf_load): a 2-shard index loads
 * bit for bit what the single file loads (GPT with its "transformer." prefix, LLaMA with GQA), BF16
 * and F16 shards convert exactly (subnormals, inf, NaN), and each refusal's message is exact. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/models/hf.h"
#include "check.h"

typedef struct tens {
    char name[128], dtype[8];
    int ndim;
    int64_t shape[MB_ST_MAX_DIMS];
    unsigned char *data;
    size_t bytes;
} tens;

static char root[] = "/tmp/mbhf.XXXXXX";

static void path_of(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s/%s", root, dir, name);
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* Every tensor of a safetensors file, in its order, each with `prefix` before its name. */
static size_t read_all(mb_ctx *ctx, const char *path, const char *prefix, tens **out) {
    mb_st_file f;
    if (mb_st_open(ctx, path, &f) != MB_OK) return 0;
    tens *t = calloc(f.n, sizeof *t);
    for (size_t i = 0; i < f.n; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s%s", prefix, f.t[i].name);
        snprintf(t[i].dtype, sizeof t[i].dtype, "%s", f.t[i].dtype);
        t[i].ndim = f.t[i].ndim;
        memcpy(t[i].shape, f.t[i].shape, sizeof t[i].shape);
        t[i].bytes = f.t[i].end - f.t[i].begin;
        t[i].data = malloc(t[i].bytes);
        if (mb_st_read(ctx, &f, &f.t[i], t[i].data, t[i].bytes) != MB_OK) t[i].bytes = 0;
    }
    size_t n = f.n;
    mb_st_close(&f);
    *out = t;
    return n;
}

static void free_all(tens *t, size_t n) {
    for (size_t i = 0; i < n; i++) free(t[i].data);
    free(t);
}

static void shard_name(char *out, size_t cap, size_t i) {
    snprintf(out, cap, "model-%05zu-of-00002.safetensors", i % 2 + 1);
}

/* Writes t[] into folder `dir` as two shards (tensor i into shard i % 2) and an index; `skip_map`
 * leaves a tensor out of the index, `skip_file` out of its shard (NULL: none). */
static int write_sharded(mb_ctx *ctx, const char *dir, const tens *t, size_t n,
                         const char *skip_map, const char *skip_file) {
    char d[256], p[320], sh[64];
    snprintf(d, sizeof d, "%s/%s", root, dir);
    mkdir(d, 0755);
    size_t cap = 256 + n * 200;
    char *ix = malloc(cap);
    size_t used = (size_t)snprintf(ix, cap,
                                   "{\n  \"metadata\": {\"total_size\": 1},\n"
                                   "  \"weight_map\": {");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (skip_map && !strcmp(t[i].name, skip_map)) continue;
        shard_name(sh, sizeof sh, i);
        used += (size_t)snprintf(ix + used, cap - used, "%s\n    \"%s\": \"%s\"", first ? "" : ",",
                                 t[i].name, sh);
        first = 0;
    }
    snprintf(ix + used, cap - used, "\n  }\n}\n");
    path_of(p, sizeof p, dir, MB_HF_INDEX);
    int ok = write_text(p, ix);
    free(ix);
    for (size_t s = 0; s < 2; s++) {
        mb_st_entry *e = calloc(n, sizeof *e);
        size_t k = 0;
        for (size_t i = s; i < n; i += 2) {
            if ((skip_map && !strcmp(t[i].name, skip_map)) ||
                (skip_file && !strcmp(t[i].name, skip_file)))
                continue;
            e[k] = (mb_st_entry){.name = t[i].name,
                                 .dtype = t[i].dtype,
                                 .ndim = t[i].ndim,
                                 .data = t[i].data,
                                 .bytes = t[i].bytes};
            memcpy(e[k].shape, t[i].shape, sizeof e[k].shape);
            k++;
        }
        shard_name(sh, sizeof sh, s);
        path_of(p, sizeof p, dir, sh);
        ok &= mb_st_write(ctx, p, e, k, "{\"format\":\"pt\"}") == MB_OK;
        free(e);
    }
    return ok;
}

static int weights_equal(const mb_model *a, const mb_model *b) {
    for (int i = 0; i < a->nbase; i++)
        if (memcmp(a->params[i].w.ptr, b->params[i].w.ptr, a->params[i].w.bytes)) {
            fprintf(stderr, "%s differs\n", a->params[i].name);
            return 0;
        }
    return 1;
}

/* Saves a model of `preset` (seed 5) into <dir>/model.safetensors, then writes its tensors as two
 * shards into <dir>-sharded (names prefixed); the single folder, the sharded folder and its index
 * file must each load equal to it. */
static int round_trip(mb_ctx *ctx, const char *preset, const char *dir, const char *prefix) {
    mb_model_config cfg;
    mb_model a, b;
    char d[256], p[320], sd[64];
    CHECK_OK(ctx, mb_model_preset(ctx, preset, &cfg));
    CHECK_OK(ctx, mb_model_create(ctx, &cfg, &a));
    CHECK_OK(ctx, mb_model_init_weights(ctx, &a, 5));
    snprintf(d, sizeof d, "%s/%s", root, dir);
    mkdir(d, 0755);
    path_of(p, sizeof p, dir, MB_HF_SINGLE);
    CHECK_OK(ctx, mb_model_save(ctx, &a, p));
    tens *t;
    size_t n = read_all(ctx, p, prefix, &t);
    CHECK(n == (size_t)a.nbase, "%s: %zu tensors read", preset, n);
    snprintf(sd, sizeof sd, "%s-sharded", dir);
    CHECK(write_sharded(ctx, sd, t, n, NULL, NULL), "writing %s", sd);
    free_all(t, n);
    CHECK_OK(ctx, mb_model_create(ctx, &cfg, &b));
    const char *from[3] = {d, NULL, NULL};
    char sdir[256], six[320];
    snprintf(sdir, sizeof sdir, "%s/%s", root, sd);
    path_of(six, sizeof six, sd, MB_HF_INDEX);
    from[1] = sdir;
    from[2] = six;
    for (int k = 0; k < 3; k++) {
        CHECK_OK(ctx, mb_model_init_weights(ctx, &b, 6 + (uint64_t)k));
        CHECK_OK(ctx, mb_hf_load(ctx, &b, from[k]));
        CHECK(weights_equal(&a, &b), "%s loaded from %s differs from the saved model", preset,
              from[k]);
        CHECK_OK(ctx, mb_hf_check(ctx, from[k]));
    }
    mb_model_destroy(ctx, &a);
    mb_model_destroy(ctx, &b);
    return 0;
}

/* A value of a BF16 (bf 1) or F16 pattern, from the format's definition. */
static double decode16(uint16_t h, int bf) {
    int eb = bf ? 8 : 5, fb = bf ? 7 : 10, bias = (1 << (eb - 1)) - 1, emax = (1 << eb) - 1;
    int e = (h >> fb) & emax;
    unsigned f = h & ((1u << fb) - 1);
    double v = e == emax ? (f ? NAN : INFINITY)
               : e == 0  ? ldexp((double)f, 1 - bias - fb)
                         : ldexp((double)((1u << fb) | f), e - bias - fb);
    return h >> 15 ? -v : v;
}

/* Element j of tensor i: the specials first, then pseudo-random patterns. */
static uint16_t pattern(size_t i, size_t j, int bf) {
    static const uint16_t sp_bf[] = {0x0001, 0x8001, 0x007f, 0x0080, 0x7f80, 0xff80,
                                     0x7fc0, 0xffc1, 0x7f7f, 0x0000, 0x8000, 0x3f81};
    static const uint16_t sp_h[] = {0x0001, 0x8001, 0x03ff, 0x0400, 0x7c00, 0xfc00,
                                    0x7e00, 0xfd01, 0x7bff, 0x0000, 0x8000, 0x3c01};
    if (j < 12) return bf ? sp_bf[j] : sp_h[j];
    uint32_t x = (uint32_t)(i * 2654435761u) ^ (uint32_t)(j * 40503u + 0x9e37u);
    x ^= x >> 15, x *= 0x2c1b3c6du, x ^= x >> 12;
    return (uint16_t)x;
}

/* Tensors of a 16-bit dtype (BF16 in even positions, F16 in odd: one kind per shard) load exactly
 * into `be`'s type; GPT's Conv1D weights come out transposed. */
static int half_dtypes(const mb_backend *be, const char *preset, const char *dir) {
    mb_ctx ctx;
    mb_model_config cfg;
    mb_model m;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, be));
    CHECK_OK(&ctx, mb_model_preset(&ctx, preset, &cfg));
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, 1));
    char p[320];
    snprintf(p, sizeof p, "%s/%s.safetensors", root, dir);
    CHECK_OK(&ctx, mb_model_save(&ctx, &m, p));
    tens *t;
    size_t n = read_all(&ctx, p, "", &t);
    for (size_t i = 0; i < n; i++) {
        size_t numel = t[i].bytes / (be->dtype == MB_F64 ? 8 : 4);
        snprintf(t[i].dtype, sizeof t[i].dtype, "%s", i % 2 ? "F16" : "BF16");
        t[i].bytes = numel * 2;
        for (size_t j = 0; j < numel; j++) {
            uint16_t h = pattern(i, j, i % 2 == 0);
            memcpy(t[i].data + 2 * j, &h, 2);
        }
    }
    CHECK(write_sharded(&ctx, dir, t, n, NULL, NULL), "writing %s", dir);
    char d[256];
    snprintf(d, sizeof d, "%s/%s", root, dir);
    CHECK_OK(&ctx, mb_hf_load(&ctx, &m, d));
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        mb_param *q = mb_hf_param_of(&m, t[i].name);
        double *h = malloc(q->numel * sizeof *h);
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &q->w, q->numel, h));
        int tr = q->is_linear && m.fam->hf_conv1d;
        for (size_t j = 0; j < q->numel && bad < 5; j++) {
            size_t r = j / (q->ndim == 2 ? q->shape[1] : q->numel),
                   c = j % (q->ndim == 2 ? q->shape[1] : q->numel);
            size_t src = tr ? c * q->shape[0] + r : j;
            double want = decode16(pattern(i, src, i % 2 == 0), i % 2 == 0);
            int ok = isnan(want) ? isnan(h[j]) && signbit(h[j]) == signbit(want)
                                 : h[j] == want && signbit(h[j]) == signbit(want);
            if (!ok) {
                bad++;
                CHECK(0, "%s %s[%zu] = %a, expected %a (%s 0x%04x)", be->name, q->name, j, h[j],
                      want, t[i].dtype, pattern(i, src, i % 2 == 0));
            }
        }
        free(h);
    }
    free_all(t, n);
    mb_model_destroy(&ctx, &m);
    mb_ctx_fini(&ctx);
    return 0;
}

/* Loading `dir` into m fails with MB_EFORMAT (or `code`) and exactly `want`. */
#define EXPECT_FAIL(ctx, m, dir, code, ...)                                                        \
    do {                                                                                           \
        char w_[1024], d_[256];                                                                    \
        snprintf(d_, sizeof d_, "%s/%s", root, dir);                                               \
        snprintf(w_, sizeof w_, __VA_ARGS__);                                                      \
        mb_status s_ = mb_hf_load(ctx, m, d_);                                                     \
        CHECK(s_ == (code), "%s: got %s", dir, mb_status_name(s_));                                \
        CHECK_STR((ctx)->err, w_);                                                                 \
    } while (0)

static int refusals(mb_ctx *ctx) {
    mb_model_config cfg;
    mb_model m;
    char p[320], ix[320], sh1[64], sh2[320], d[256];
    CHECK_OK(ctx, mb_model_preset(ctx, "gpt-nano", &cfg));
    CHECK_OK(ctx, mb_model_create(ctx, &cfg, &m));
    CHECK_OK(ctx, mb_model_init_weights(ctx, &m, 2));
    snprintf(p, sizeof p, "%s/nano.safetensors", root);
    CHECK_OK(ctx, mb_model_save(ctx, &m, p));
    tens *t;
    size_t n = read_all(ctx, p, "", &t);
    size_t lnf = 0, wpe = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(t[i].name, "ln_f.bias")) lnf = i;
        if (!strcmp(t[i].name, "wpe.weight")) wpe = i;
    }
    const char *R = root;

    /* a parameter in no shard and not in the index */
    CHECK(write_sharded(ctx, "e-missing", t, n, "h.1.ln_1.weight", NULL), "write");
    EXPECT_FAIL(ctx, &m, "e-missing", MB_EFORMAT,
                "%s/e-missing/model.safetensors.index.json: tensor 'h.1.ln_1.weight' is missing "
                "from every shard (weight_map has no entry for it)",
                R);
    /* in the index, not in the shard it names */
    CHECK(write_sharded(ctx, "e-lacks", t, n, NULL, "ln_f.bias"), "write");
    shard_name(sh1, sizeof sh1, lnf);
    EXPECT_FAIL(ctx, &m, "e-lacks", MB_EFORMAT,
                "%s/e-lacks/%s: tensor 'ln_f.bias' is not in this shard, where the weight_map of "
                "%s/e-lacks/model.safetensors.index.json puts it",
                R, sh1, R);
    /* the wrong shape */
    int64_t keep = t[wpe].shape[0];
    t[wpe].shape[0] = 16;
    t[wpe].bytes /= 2;
    CHECK(write_sharded(ctx, "e-shape", t, n, NULL, NULL), "write");
    t[wpe].shape[0] = keep;
    t[wpe].bytes *= 2;
    shard_name(sh1, sizeof sh1, wpe);
    EXPECT_FAIL(ctx, &m, "e-shape", MB_EFORMAT,
                "%s/e-shape/%s: tensor 'wpe.weight' has shape [16, 64], expected [32, 64]", R, sh1);
    /* a tensor in a shard the index does not list */
    path_of(ix, sizeof ix, "e-unlisted", MB_HF_INDEX);
    CHECK(write_sharded(ctx, "e-unlisted", t, n, NULL, NULL), "write");
    shard_name(sh1, sizeof sh1, lnf);
    path_of(sh2, sizeof sh2, "e-unlisted", sh1);
    { /* the shard again, with a stray tensor besides its own */
        mb_st_file f;
        CHECK_OK(ctx, mb_st_open(ctx, sh2, &f));
        mb_st_entry *e = calloc(f.n + 1, sizeof *e);
        unsigned char **b = calloc(f.n + 1, sizeof *b);
        for (size_t i = 0; i < f.n; i++) {
            b[i] = malloc(f.t[i].end - f.t[i].begin + 1);
            CHECK_OK(ctx, mb_st_read(ctx, &f, &f.t[i], b[i], f.t[i].end - f.t[i].begin));
            e[i] = (mb_st_entry){.name = f.t[i].name,
                                 .dtype = f.t[i].dtype,
                                 .ndim = f.t[i].ndim,
                                 .data = b[i],
                                 .bytes = f.t[i].end - f.t[i].begin};
            memcpy(e[i].shape, f.t[i].shape, sizeof e[i].shape);
        }
        e[f.n] = (mb_st_entry){.name = "stray.weight",
                               .dtype = t[lnf].dtype,
                               .ndim = 1,
                               .shape = {t[lnf].shape[0]},
                               .data = t[lnf].data,
                               .bytes = t[lnf].bytes};
        CHECK_OK(ctx, mb_st_write(ctx, sh2, e, f.n + 1, NULL));
        for (size_t i = 0; i < f.n; i++) free(b[i]);
        free(b);
        free(e);
        mb_st_close(&f);
    }
    EXPECT_FAIL(ctx, &m, "e-unlisted", MB_EFORMAT,
                "%s/e-unlisted/%s: tensor 'stray.weight' is not in the weight_map of %s", R, sh1,
                ix);
    /* the index names ln_f.bias once but a second shard holds it too: listed twice */
    CHECK(write_sharded(ctx, "e-twice", t, n, NULL, NULL), "write");
    snprintf(d, sizeof d, "%s/e-twice", root);
    shard_name(sh1, sizeof sh1, lnf + 1); /* the other shard */
    path_of(sh2, sizeof sh2, "e-twice", sh1);
    {
        mb_st_entry e = {.name = t[lnf].name,
                         .dtype = t[lnf].dtype,
                         .ndim = 1,
                         .shape = {t[lnf].shape[0]},
                         .data = t[lnf].data,
                         .bytes = t[lnf].bytes};
        /* that shard now holds only the stray tensor, checked before what it lacks */
        CHECK_OK(ctx, mb_st_write(ctx, sh2, &e, 1, NULL));
    }
    char other[64];
    shard_name(other, sizeof other, lnf);
    path_of(ix, sizeof ix, "e-twice", MB_HF_INDEX);
    EXPECT_FAIL(ctx, &m, "e-twice", MB_EFORMAT,
                "%s: tensor 'ln_f.bias' is listed twice: %s puts it in %s, not in this shard", sh2,
                ix, other);

    /* hand-written indexes */
    static const struct {
        const char *dir, *index, *want;
        mb_status code;
    } bad[] = {
        {"e-dotdot", "{\"weight_map\": {\"wte.weight\": \"../x.safetensors\"}}",
         "weight_map: tensor 'wte.weight' has shard path '../x.safetensors', which has a '..' "
         "component (a file inside the checkpoint's folder is expected)",
         MB_EFORMAT},
        {"e-inner-dotdot", "{\"weight_map\": {\"wte.weight\": \"a/../../x.safetensors\"}}",
         "weight_map: tensor 'wte.weight' has shard path 'a/../../x.safetensors', which has a "
         "'..' component (a file inside the checkpoint's folder is expected)",
         MB_EFORMAT},
        {"e-abs", "{\"weight_map\": {\"wte.weight\": \"/etc/x.safetensors\"}}",
         "weight_map: tensor 'wte.weight' has shard path '/etc/x.safetensors', which is absolute "
         "(a file inside the checkpoint's folder is expected)",
         MB_EFORMAT},
        {"e-dup",
         "{\"weight_map\": {\"wte.weight\": \"a.safetensors\", \"wpe.weight\": \"a.safetensors\", "
         "\"wte.weight\": \"b.safetensors\"}}",
         "weight_map: tensor 'wte.weight' is listed twice", MB_EFORMAT},
        {"e-prefix-dup",
         "{\"weight_map\": {\"h.0.ln_1.weight\": \"a.safetensors\", "
         "\"transformer.h.0.ln_1.weight\": \"a.safetensors\"}}",
         "tensor 'h.0.ln_1.weight' is listed twice in weight_map (also as "
         "'transformer.h.0.ln_1.weight')",
         MB_EFORMAT},
        {"e-nomap", "{\"metadata\": {\"total_size\": 3}}",
         "no \"weight_map\" (an index maps each tensor to its shard file)", MB_EFORMAT},
        {"e-notstr", "{\"weight_map\": {\"wte.weight\": 1}}",
         "weight_map: tensor 'wte.weight' must map to a shard file name (a string)", MB_EFORMAT},
        {"e-trunc", "{\"weight_map\": {", "bad JSON at byte 16: expected a member name (a string)",
         MB_EFORMAT},
        {"e-extra", "{\"weight_map\": {\"h.2.ln_1.weight\": \"a.safetensors\"}}", NULL, MB_EFORMAT},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(d, sizeof d, "%s/%s", root, bad[k].dir);
        mkdir(d, 0755);
        path_of(ix, sizeof ix, bad[k].dir, MB_HF_INDEX);
        CHECK(write_text(ix, bad[k].index), "write");
        CHECK(mb_hf_load(ctx, &m, d) == bad[k].code, "%s accepted", bad[k].dir);
        char want[1024];
        if (bad[k].want)
            snprintf(want, sizeof want, "%s: %s", ix, bad[k].want);
        else /* every parameter is missing: the first one is named */
            snprintf(want, sizeof want,
                     "%s: tensor 'wte.weight' is missing from every shard (weight_map has no entry "
                     "for it)",
                     ix);
        CHECK_STR(ctx->err, want);
    }
    /* an entry that is no parameter of the shape */
    tens extra = t[0];
    snprintf(extra.name, sizeof extra.name, "h.2.ln_1.weight");
    tens *t2 = calloc(n + 1, sizeof *t2);
    memcpy(t2, t, n * sizeof *t);
    t2[n] = extra;
    CHECK(write_sharded(ctx, "e-unexpected", t2, n + 1, NULL, NULL), "write");
    free(t2);
    EXPECT_FAIL(ctx, &m, "e-unexpected", MB_EFORMAT,
                "%s/e-unexpected/model.safetensors.index.json: unexpected tensor 'h.2.ln_1.weight' "
                "(not a parameter of this GPT shape)",
                R);
    /* a folder with neither file */
    snprintf(d, sizeof d, "%s/e-empty", root);
    mkdir(d, 0755);
    EXPECT_FAIL(ctx, &m, "e-empty", MB_EIO,
                "%s/e-empty: a Hugging Face checkpoint folder holds model.safetensors.index.json "
                "or model.safetensors; neither is there",
                R);
    CHECK(mb_hf_check(ctx, d) == MB_EIO, "empty folder passes the check");
    /* a shard the index names that is not there: the check finds it before any load */
    snprintf(d, sizeof d, "%s/e-gone", root);
    mkdir(d, 0755);
    path_of(ix, sizeof ix, "e-gone", MB_HF_INDEX);
    CHECK(write_text(ix, "{\"weight_map\": {\"wte.weight\": \"gone.safetensors\"}}"), "write");
    CHECK(mb_hf_check(ctx, d) == MB_EIO, "missing shard passes the check: %s", ctx->err);
    CHECK(strstr(ctx->err, "/e-gone/gone.safetensors") != NULL, "message: %s", ctx->err);
    free_all(t, n);
    mb_model_destroy(ctx, &m);
    return 0;
}

/* config.json from a folder gives the shape the model is built with. */
static int config_folder(mb_ctx *ctx) {
    char d[256], p[320];
    snprintf(d, sizeof d, "%s/cfg", root);
    mkdir(d, 0755);
    path_of(p, sizeof p, "cfg", MB_HF_CONFIG);
    CHECK(write_text(p, "{\"model_type\": \"llama\", \"hidden_size\": 64, \"num_hidden_layers\": "
                        "2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                        "\"intermediate_size\": 176, \"max_position_embeddings\": 32, "
                        "\"vocab_size\": 256, \"rms_norm_eps\": 1e-05}"),
          "write");
    mb_model_config c, want;
    CHECK_OK(ctx, mb_hf_config_read(ctx, d, &c));
    CHECK_OK(ctx, mb_model_preset(ctx, "llama-nano", &want));
    want.norm_eps = 1e-5;
    CHECK(c.arch == want.arch && c.layers == want.layers && c.d_model == want.d_model &&
              c.heads == want.heads && c.kv_heads == want.kv_heads && c.d_ff == want.d_ff &&
              c.seq_len == want.seq_len && c.vocab == want.vocab && c.tie == want.tie &&
              c.rope_theta == want.rope_theta && c.norm_eps == want.norm_eps && !c.classes,
          "config.json's shape differs from llama-nano's");
    return 0;
}

int main(void) {
    if (!mkdtemp(root)) return 1;
    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    if (round_trip(&ctx, "gpt-nano", "gpt", "transformer.") ||
        round_trip(&ctx, "llama-nano", "llama", "") || refusals(&ctx) || config_folder(&ctx))
        return 1;
    mb_ctx_fini(&ctx);
    if (half_dtypes(&mb_backend_cpu_f32, "gpt-nano", "h-gpt32") ||
        half_dtypes(&mb_backend_cpu_f64, "gpt-nano", "h-gpt64") ||
        half_dtypes(&mb_backend_cpu_f32, "llama-nano", "h-llama32") ||
        half_dtypes(&mb_backend_cpu_f64, "llama-nano", "h-llama64"))
        return 1;
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (mb_check_failures == 0 && system(cmd) != 0) return 1;
    CHECK_DONE();
}
