/* tests/test_gpt_io.c — GPT weights through safetensors: save then load round-trips bit for bit, the
 * file uses Hugging Face GPT-2 names and Conv1D [in, out] layout, and a wrong shape or a missing
 * tensor fails with a message naming the tensor. */
#include <stdlib.h>
#include <unistd.h>

#include "../engine/safetensors.h"
#include "check.h"
#include "gpt_fixture.h"

static int weights_equal(mb_ctx *ctx, const mb_model *a, const mb_model *b) {
    for (int i = 0; i < a->nparams; i++)
        if (memcmp(a->params[i].w.ptr, b->params[i].w.ptr, a->params[i].w.bytes)) {
            fprintf(stderr, "%s differs\n", a->params[i].name);
            return 0;
        }
    (void)ctx;
    return 1;
}

int main(void) {
    char dir[] = "/tmp/mbio.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[64], path2[64], bad[64];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    snprintf(path2, sizeof path2, "%s/b.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);

    mb_ctx ctx;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f32));
    mb_model_config cfg;
    CHECK_OK(&ctx, mb_model_preset(&ctx, "gpt-nano", &cfg));
    mb_model a, b;
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &a));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &a, 5));
    CHECK_OK(&ctx, mb_model_save(&ctx, &a, path));
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &b));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &b, 6));
    CHECK(!weights_equal(&ctx, &a, &b), "different seeds gave equal weights");
    CHECK_OK(&ctx, mb_model_load(&ctx, &b, path));
    CHECK(weights_equal(&ctx, &a, &b), "load(save(a)) != a");
    /* Saving the loaded model gives the same bytes again. */
    CHECK_OK(&ctx, mb_model_save(&ctx, &b, path2));
    FILE *f1 = fopen(path, "rb"), *f2 = fopen(path2, "rb");
    int same = f1 && f2;
    while (same) {
        int c1 = fgetc(f1), c2 = fgetc(f2);
        if (c1 != c2) same = 0;
        if (c1 == EOF || c2 == EOF) break;
    }
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    CHECK(same, "save(load(save(a))) differs from save(a) byte for byte");

    /* Hugging Face layout: c_attn.weight is [C, 3C] holding W^T. */
    mb_st_file sf;
    CHECK_OK(&ctx, mb_st_open(&ctx, path, &sf));
    const mb_st_tensor *t = mb_st_find(&sf, "h.1.attn.c_attn.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 64 && t->shape[1] == 192 && !strcmp(t->dtype, "F32"),
          "c_attn.weight header");
    if (t) {
        float *hf = malloc(t->end - t->begin);
        CHECK_OK(&ctx, mb_st_read(&ctx, &sf, t, hf, t->end - t->begin));
        const float *w = a.params[2 + 12 + 2].w.ptr; /* [3C, C] */
        int ok = 1;
        for (int r = 0; r < 192; r++)
            for (int c = 0; c < 64; c++) ok &= hf[c * 192 + r] == w[r * 64 + c];
        CHECK(ok, "file holds the transpose of the [out, in] weight");
        free(hf);
    }
    CHECK(mb_st_find(&sf, "wte.weight") && mb_st_find(&sf, "ln_f.bias"), "HF names");
    mb_st_close(&sf);

    /* Wrong shape: a file saved with seq_len 16 into a seq_len 32 model. */
    mb_model_config short_cfg = cfg;
    short_cfg.seq_len = 16;
    mb_model s;
    CHECK_OK(&ctx, mb_model_create(&ctx, &short_cfg, &s));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &s, 1));
    CHECK_OK(&ctx, mb_model_save(&ctx, &s, bad));
    mb_model_destroy(&ctx, &s);
    CHECK(mb_model_load(&ctx, &b, bad) == MB_EFORMAT, "wrong shape accepted");
    char want[256];
    snprintf(want, sizeof want, "%s: tensor 'wpe.weight' has shape [16, 64], expected [32, 64]", bad);
    CHECK_STR(ctx.err, want);

    /* Missing tensor: a one-layer file into a two-layer model. */
    mb_model_config one = cfg;
    one.layers = 1;
    CHECK_OK(&ctx, mb_model_create(&ctx, &one, &s));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &s, 1));
    CHECK_OK(&ctx, mb_model_save(&ctx, &s, bad));
    mb_model_destroy(&ctx, &s);
    CHECK(mb_model_load(&ctx, &b, bad) == MB_EFORMAT, "missing tensor accepted");
    snprintf(want, sizeof want, "%s: tensor 'h.1.ln_1.weight' is missing", bad);
    CHECK_STR(ctx.err, want);

    /* An extra block: a three-layer file into the two-layer model. */
    one.layers = 3;
    CHECK_OK(&ctx, mb_model_create(&ctx, &one, &s));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &s, 1));
    CHECK_OK(&ctx, mb_model_save(&ctx, &s, bad));
    mb_model_destroy(&ctx, &s);
    CHECK(mb_model_load(&ctx, &b, bad) == MB_EFORMAT, "extra tensor accepted");
    CHECK(strstr(ctx.err, "unexpected tensor 'h.2.") != NULL, "message: %s", ctx.err);

    /* fp64 model: saved as F64, loads back exactly; an F32 file loads into it by conversion. */
    mb_ctx c64;
    CHECK_OK(&c64, mb_ctx_init(&c64, &mb_backend_cpu_f64));
    mb_model d;
    CHECK_OK(&c64, mb_model_create(&c64, &cfg, &d));
    CHECK_OK(&c64, mb_model_load(&c64, &d, path));
    double *h = malloc(a.params[0].numel * sizeof *h);
    CHECK_OK(&c64, mb_model_param_get(&c64, &d.params[0].w, d.params[0].numel, h));
    CHECK(h[17] == (double)((float *)a.params[0].w.ptr)[17], "F32 -> f64 conversion");
    free(h);
    mb_model_destroy(&c64, &d);

    mb_model_destroy(&ctx, &a);
    mb_model_destroy(&ctx, &b);
    unlink(path);
    unlink(path2);
    unlink(bad);
    rmdir(dir);
    CHECK_EQ_U(ctx.mem.live, 0);
    CHECK_DONE();
}
