/* tests/test_llama.c — the LLaMA family on the CPU: fp64 gradients against finite differences
 * (GQA 4 heads over 2, RoPE, an untied head and a tied one), fp32 against fp64, tracked bytes
 * against the closed formula, a Hugging Face-named checkpoint round trip, the loss at init. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../engine/models/llama.h"
#include "../engine/rng.h"
#include "../engine/safetensors.h"
#include "check.h"

#define FD_H 1e-3
#define REL_TOL 1e-6
#define SAMPLES 50
#define B_ 2
#define T_ 12

static void batch(int32_t *x, int32_t *y, int n, int V, uint64_t seed) {
    for (int i = 0; i < n; i++) {
        x[i] = (int32_t)(mb_rng_u32(seed, 1, (uint64_t)i) % (uint32_t)V);
        y[i] = (int32_t)(mb_rng_u32(seed, 2, (uint64_t)i) % (uint32_t)V);
    }
}

static int make(mb_ctx *ctx, const mb_backend *be, int tie, mb_model *m, mb_model_config *cfg) {
    CHECK_OK(ctx, mb_ctx_init(ctx, be));
    CHECK_OK(ctx, mb_model_preset(ctx, "llama-nano", cfg));
    cfg->tie = tie;
    CHECK_OK(ctx, mb_model_config_check(ctx, cfg));
    CHECK_OK(ctx, mb_model_create(ctx, cfg, m));
    CHECK_OK(ctx, mb_model_init_weights(ctx, m, 5));
    return 0;
}

static double loss_at(mb_ctx *ctx, mb_model *m, const int32_t *x, const int32_t *y) {
    double l = 0;
    if (mb_model_forward(ctx, m, x, y, B_, T_, &l) != MB_OK) {
        fprintf(stderr, "forward failed: %s\n", ctx->err);
        exit(1);
    }
    mb_model_free_acts(ctx, m);
    return l;
}

/* Every tensor's gradient at >= 50 entries (all of smaller ones) against a fourth-order central
 * difference, relative error below 1e-6 (entries under 1e-9 on both sides count as zero). */
static int gradcheck(int tie) {
    mb_ctx ctx;
    mb_model m;
    mb_model_config cfg;
    if (make(&ctx, &mb_backend_cpu_f64, tie, &m, &cfg)) return 1;
    CHECK(cfg.layers == 2 && cfg.heads == 4 && cfg.kv_heads == 2, "llama-nano's shape changed");
    /* away from init, so attention is not uniform and the norms not 1 */
    size_t maxn = 0;
    for (int i = 0; i < m.nparams; i++)
        if (m.params[i].numel > maxn) maxn = m.params[i].numel;
    double *h = malloc(maxn * sizeof *h), *g = malloc(maxn * sizeof *g);
    for (int i = 0; i < m.nparams; i++) {
        mb_param *p = &m.params[i];
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &p->w, p->numel, h));
        for (size_t j = 0; j < p->numel; j++)
            h[j] += 0.15 * mb_rng_normal(99, 5, (uint64_t)i * 65536 + j);
        CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
    }
    int32_t x[B_ * T_], y[B_ * T_];
    batch(x, y, B_ * T_, cfg.vocab, 3);
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, NULL));
    double loss;
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B_, T_, &loss));
    CHECK_OK(&ctx, mb_model_backward(&ctx, &m));
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < m.nparams; i++) {
        mb_param *p = &m.params[i];
        CHECK_OK(&ctx, mb_model_grad_get(&ctx, &m, i, g));
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &p->w, p->numel, h));
        int n = p->numel < SAMPLES ? (int)p->numel : SAMPLES;
        for (int k = 0; k < n; k++) {
            size_t j = p->numel <= SAMPLES ? (size_t)k
                                           : mb_rng_u32(11, (uint32_t)i, (uint64_t)k) % p->numel;
            double x0 = h[j], f[4], d[4] = {2 * FD_H, FD_H, -FD_H, -2 * FD_H};
            for (int s = 0; s < 4; s++) {
                h[j] = x0 + d[s];
                CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
                f[s] = loss_at(&ctx, &m, x, y);
            }
            h[j] = x0;
            CHECK_OK(&ctx, mb_model_param_set(&ctx, &p->w, p->numel, h));
            double fd = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * FD_H);
            double den = fmax(fabs(fd), fabs(g[j])), rel = den < 1e-9 ? 0 : fabs(fd - g[j]) / den;
            CHECK(rel < REL_TOL, "%s[%zu]: analytic %.10e, finite difference %.10e, rel %.2e",
                  p->name, j, g[j], fd, rel);
            worst = fmax(worst, rel);
            checked++;
        }
    }
    printf("llama-nano (%s head) fp64 gradients: %d entries over %d tensors, worst relative error "
           "%.2e (tolerance %.0e)\n",
           tie > 0 ? "tied" : "untied", checked, m.nparams, worst, REL_TOL);
    free(h);
    free(g);
    mb_model_destroy(&ctx, &m);
    mb_ctx_fini(&ctx);
    return 0;
}

/* fp32 and fp64 models of one seed hold the same weights up to rounding: the loss within 1e-5
 * relative, each gradient within 1e-5 of its largest entry. */
static int f32_vs_f64(void) {
    mb_ctx c32, c64;
    mb_model m32, m64;
    mb_model_config cfg;
    if (make(&c32, &mb_backend_cpu_f32, 0, &m32, &cfg) ||
        make(&c64, &mb_backend_cpu_f64, 0, &m64, &cfg))
        return 1;
    int32_t x[B_ * T_], y[B_ * T_];
    batch(x, y, B_ * T_, cfg.vocab, 4);
    double l32, l64;
    CHECK_OK(&c32, mb_model_alloc_grads(&c32, &m32, NULL));
    CHECK_OK(&c64, mb_model_alloc_grads(&c64, &m64, NULL));
    CHECK_OK(&c32, mb_model_forward(&c32, &m32, x, y, B_, T_, &l32));
    CHECK_OK(&c32, mb_model_backward(&c32, &m32));
    CHECK_OK(&c64, mb_model_forward(&c64, &m64, x, y, B_, T_, &l64));
    CHECK_OK(&c64, mb_model_backward(&c64, &m64));
    CHECK(fabs(l32 - l64) <= 1e-5 * fabs(l64), "loss fp32 %.9g, fp64 %.9g", l32, l64);
    /* at init the loss is within 2% of ln(V): the logits start near 0 */
    CHECK(fabs(l64 - log(cfg.vocab)) < 0.02 * log(cfg.vocab), "loss at init %.6f, ln(V) %.6f", l64,
          log(cfg.vocab));
    double worst = 0;
    for (int i = 0; i < m64.nparams; i++) {
        size_t n = m64.params[i].numel;
        double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), big = 0, diff = 0;
        CHECK_OK(&c32, mb_model_grad_get(&c32, &m32, i, a));
        CHECK_OK(&c64, mb_model_grad_get(&c64, &m64, i, b));
        for (size_t j = 0; j < n; j++)
            big = fmax(big, fabs(b[j])), diff = fmax(diff, fabs(a[j] - b[j]));
        CHECK(diff <= 1e-5 * big, "%s: fp32 differs by %.3e, largest entry %.3e",
              m64.params[i].name, diff, big);
        worst = fmax(worst, big > 0 ? diff / big : 0);
        free(a);
        free(b);
    }
    printf("llama-nano fp32 vs fp64: loss %.9f vs %.9f (ln V %.6f), gradients within %.2e of their "
           "largest entries (tolerance 1e-5)\n",
           l32, l64, log(cfg.vocab), worst);
    mb_model_destroy(&c32, &m32);
    mb_model_destroy(&c64, &m64);
    mb_ctx_fini(&c32);
    mb_ctx_fini(&c64);
    return 0;
}

/* Weights and grads are E * parameters; the activation peak is the formula written out here. */
static int memory(void) {
    mb_ctx ctx;
    mb_model m;
    mb_model_config cfg;
    if (make(&ctx, &mb_backend_cpu_f32, 0, &m, &cfg)) return 1;
    const size_t E = 4, N = B_ * T_, C = (size_t)cfg.d_model, F = (size_t)cfg.d_ff,
                 NH = (size_t)cfg.heads, KV = (size_t)cfg.kv_heads, hs = C / NH,
                 L = (size_t)cfg.layers, V = (size_t)cfg.vocab;
    /* embed V C, per block 2 C (norms) + C NH hs (q) + 2 C KV hs (k, v) + NH hs C (o) + 3 C F,
     * the final norm C, the untied head V C */
    size_t params = 2 * V * C + L * (2 * C + 2 * C * NH * hs + 2 * C * KV * hs + 3 * C * F) + C;
    CHECK_EQ_U(m.num_params, params);
    CHECK_EQ_U(mb_model_num_params(&cfg), params);
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, NULL));
    mb_mem_reset_peaks(&ctx.mem);
    int32_t x[B_ * T_], y[B_ * T_];
    batch(x, y, B_ * T_, cfg.vocab, 6);
    double loss;
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B_, T_, &loss));
    CHECK_OK(&ctx, mb_model_backward(&ctx, &m));
    /* stem: encoded N C + the SwiGLU buffer N F; a block: its output N C and inside ln1, atty,
     * res2, ln2 (4 N C), qkv N (NH + 2 KV) hs, gate and up 2 N F, probabilities NH N T, two rstd
     * of N (fp32 here too); head: lnf N C, its rstd N, the losses N; logits N V */
    size_t inside = E * (4 * N * C + N * (NH + 2 * KV) * hs + 2 * N * F + NH * N * T_) + E * 2 * N;
    size_t act = E * (N * C + N * F) + L * (E * N * C + inside) + E * N * C + E * 2 * N + E * N * V;
    /* backward: dres, dtmp (2 N C) through the loss, then the logits go and dqkv, dgate and
     * dup (or the sum scratch, max(F, C) wide) and the attention's row scratch NH N come */
    size_t bwd_rest = E * (N * (NH + 2 * KV) * hs + N * F + N * (F > C ? F : C) + NH * N);
    size_t peak = act + 2 * E * N * C;
    if (act - E * N * V + 2 * E * N * C + bwd_rest > peak)
        peak = act - E * N * V + 2 * E * N * C + bwd_rest;
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_WEIGHTS], E * params);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_GRADS], E * params);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_ACTIVATIONS], peak);
    CHECK_EQ_U(mb_model_act_walk(&cfg, B_, T_, E, E, (int)V, &(mb_act_walk){0}), peak);
    CHECK_EQ_U(ctx.mem.peak[MB_MEM_OTHER], 2 * 4 * N);
    printf("llama-nano fp32 at %d x %d: weights %zu, grads %zu, activations %zu bytes = formula\n",
           B_, T_, ctx.mem.peak[MB_MEM_WEIGHTS], ctx.mem.peak[MB_MEM_GRADS],
           ctx.mem.peak[MB_MEM_ACTIVATIONS]);
    mb_model_destroy(&ctx, &m);
    mb_ctx_fini(&ctx);
    return 0;
}

/* Saved under Hugging Face LlamaForCausalLM names, [out, in] as nn.Linear stores them, and loaded
 * back into a model of another seed: every weight equal bit for bit. */
static int roundtrip(void) {
    mb_ctx ctx;
    mb_model a, b;
    mb_model_config cfg;
    if (make(&ctx, &mb_backend_cpu_f64, 0, &a, &cfg)) return 1;
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &b));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &b, 77));
    char path[] = "/tmp/mb_llama_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK_OK(&ctx, mb_model_save(&ctx, &a, path));
    mb_st_file f;
    CHECK_OK(&ctx, mb_st_open(&ctx, path, &f));
    static const char *const names[] = {"model.embed_tokens.weight",
                                        "model.layers.0.input_layernorm.weight",
                                        "model.layers.1.self_attn.q_proj.weight",
                                        "model.layers.1.self_attn.k_proj.weight",
                                        "model.layers.0.mlp.down_proj.weight",
                                        "model.norm.weight",
                                        "lm_head.weight"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        CHECK(mb_st_find(&f, names[i]) != NULL, "tensor %s missing", names[i]);
    const mb_st_tensor *k = mb_st_find(&f, "model.layers.1.self_attn.k_proj.weight");
    CHECK(k && k->ndim == 2 && k->shape[0] == 32 && k->shape[1] == 64,
          "k_proj stored [%lld, %lld], expected [32, 64] (kv heads 2 x head size 16, d_model)",
          k ? (long long)k->shape[0] : -1, k ? (long long)k->shape[1] : -1);
    CHECK_EQ_U(f.n, (size_t)a.nbase);
    mb_st_close(&f);
    CHECK_OK(&ctx, mb_model_load(&ctx, &b, path));
    unlink(path);
    int differ = 0;
    for (int i = 0; i < a.nbase; i++) {
        size_t n = a.params[i].numel;
        double *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &a.params[i].w, n, p));
        CHECK_OK(&ctx, mb_model_param_get(&ctx, &b.params[i].w, n, q));
        differ += memcmp(p, q, n * sizeof *p) != 0;
        free(p);
        free(q);
    }
    CHECK(differ == 0, "%d tensors differ after the round trip", differ);
    printf("llama-nano checkpoint: %d tensors under Hugging Face names round-trip bit for bit\n",
           a.nbase);
    mb_model_destroy(&ctx, &a);
    mb_model_destroy(&ctx, &b);
    mb_ctx_fini(&ctx);
    return 0;
}

/* A classifier (LlamaForSequenceClassification): a score head [K, C] and no lm_head; its gradient
 * at the class positions only. */
static int classifier(void) {
    mb_ctx ctx;
    mb_model m;
    mb_model_config cfg;
    CHECK_OK(&ctx, mb_ctx_init(&ctx, &mb_backend_cpu_f64));
    CHECK_OK(&ctx, mb_model_preset(&ctx, "llama-nano", &cfg));
    cfg.classes = 3;
    CHECK_OK(&ctx, mb_model_create(&ctx, &cfg, &m));
    CHECK_OK(&ctx, mb_model_init_weights(&ctx, &m, 5));
    size_t C = (size_t)cfg.d_model, V = (size_t)cfg.vocab;
    int heads = 0;
    for (int i = 0; i < m.nparams; i++) heads += !strcmp(m.params[i].name, "lm_head.weight");
    CHECK(heads == 0 && !strcmp(m.params[m.nbase - 1].name, "score.weight"),
          "a classifier has score.weight last and no lm_head");
    CHECK_EQ_U(m.num_params,
               V * C + 2 * (2 * C + 2 * C * C + 2 * C * 32 + 3 * C * 176) + C + 3 * C);
    int32_t x[B_ * T_], y[B_ * T_];
    batch(x, y, B_ * T_, cfg.vocab, 8);
    for (int i = 0; i < B_ * T_; i++) y[i] = i % T_ == T_ - 1 ? i / T_ + 1 : -1;
    CHECK_OK(&ctx, mb_model_alloc_grads(&ctx, &m, NULL));
    double loss;
    CHECK_OK(&ctx, mb_model_forward(&ctx, &m, x, y, B_, T_, &loss));
    CHECK_OK(&ctx, mb_model_backward(&ctx, &m));
    /* two labelled positions: the head's logits (std about 0.02 sqrt(C) = 0.16) move the loss of so
     * few by up to about a tenth of ln 3 */
    CHECK(fabs(loss - log(3.0)) < 0.15 * log(3.0), "classifier loss at init %.6f, ln 3 %.6f", loss,
          log(3.0));
    for (int i = 0; i < m.nparams; i++)
        CHECK(m.params[i].g.ptr != NULL, "%s has no gradient buffer", m.params[i].name);
    double *gs = malloc(3 * C * sizeof *gs), gmax = 0;
    CHECK_OK(&ctx, mb_model_grad_get(&ctx, &m, m.nbase - 1, gs));
    for (size_t j = 0; j < 3 * C; j++) gmax = fmax(gmax, fabs(gs[j]));
    free(gs);
    CHECK(gmax > 0, "the score head has no gradient");
    printf("llama-nano classifier (3 classes): %d tensors, no lm_head, loss at init %.6f\n",
           m.nbase, loss);
    mb_model_destroy(&ctx, &m);
    mb_ctx_fini(&ctx);
    return 0;
}

int main(void) {
    if (gradcheck(0) || gradcheck(1) || f32_vs_f64() || memory() || roundtrip() || classifier())
        return 1;
    CHECK_DONE();
}
