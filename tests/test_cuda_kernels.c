/* tests/test_cuda_kernels.c — every kernel of the three CUDA tables (f32, tf32, bf16) against the
 * CPU fp64 reference on identical inputs: normwise relative error within a declared tolerance,
 * NaN-poisoned outputs, bitwise determinism of the backward reductions. Exit 77 without a GPU. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#include "../engine/ctx.h"
#include "../engine/cuda/kernels.h"
#include "../engine/dynmap.h"
#include "../methods/mesa/q8.h"
#include "../engine/rng.h"
#include "../methods/adafactor/adafactor_kernels.h"
#include "../methods/adam8bit/adam8bit_kernels.h"
#include "../methods/adam_mini/adam_mini_kernels.h"
#include "../methods/adamw/adamw_kernels.h"
#include "../methods/apollo/apollo_kernels.h"
#include "../methods/flash/flash_kernels.h"
#include "../methods/galore/galore_kernels.h"
#include "../methods/mesa/mesa_kernels.h"
#include "../methods/mezo/mezo_kernels.h"
#include "../methods/projection/projection_kernels.h"
#include "../methods/sgd/sgd_kernels.h"
#include "check.h"
#include "planted.h"

#define SEED 0x5EEDC0DAull
#define STREAM_VALUES 0x7E57u
#define STREAM_IDS 0x7E58u
#define MAX_HELD 16

/* Allocation and upload failures end the test: nothing after them would mean anything. */
#define MUST(ctx, expr)                                                                            \
    do {                                                                                           \
        mb_status must_s_ = (expr);                                                                \
        if (must_s_ != MB_OK) {                                                                    \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr,              \
                    mb_status_name(must_s_), (ctx)->err);                                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Helper layer: a pair is one tensor held twice, on the GPU (in the CUDA table's element type) and
 * on the CPU reference (fp64), both set from the same host values rounded through the GPU type. */

enum { DT, ST, I32 }; /* element kind: the table's dtype, its sdtype, or int32 ids */

typedef struct pair {
    mb_buf g; /* GPU copy */
    mb_buf c; /* CPU fp64 reference copy */
    size_t n;
    int kind;
    double *h; /* the values last set (after rounding): re-uploading them repeats a run exactly */
} pair;

typedef struct tcase {
    mb_ctx *gc, *cc; /* GPU context; CPU fp64 reference context */
    const mb_backend *gb, *cb;
    uint64_t next;        /* next random index: every tensor gets fresh values */
    char label[96];       /* the case being run, e.g. "matmul_bwd N=10 C=24 OC=40" */
    pair *held[MAX_HELD]; /* pairs of the running case, freed by pairs_free */
    int nheld;
    const char *filter; /* run only the groups whose name holds it (NULL: all) */
} tcase;

#define G(p) ((p).g.ptr) /* the GPU buffer of a pair */
#define R(p) ((p).c.ptr) /* the reference buffer of a pair */

/* Tolerance classes. bf16: 1e-2 against fp64 on bf16-rounded inputs, but fp32 optimizer state
 * (master, m, v, momentum) at 1e-5. tf32: 2e-3 for the GEMM-based kernels (inputs rounded to a
 * 10-bit mantissa inside the GEMM), 1e-5 for the rest. f32: 1e-5 everywhere. Exact: pure copies. */
typedef enum { TOL_ELEM, TOL_GEMM, TOL_STATE, TOL_EXACT } tol_kind;

static double tol(const tcase *tc, tol_kind k) {
    if (k == TOL_EXACT) return 0.0;
    if (tc->gb->dtype == MB_BF16) return k == TOL_STATE ? 1e-5 : 1e-2;
    if (tc->gb == &mb_backend_cuda_tf32 && k == TOL_GEMM) return 2e-3;
    return 1e-5;
}

static void set_label(tcase *tc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_label(tcase *tc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tc->label, sizeof tc->label, fmt, ap);
    va_end(ap);
}

static mb_dtype gpu_type(const tcase *tc, int kind) {
    return kind == ST ? tc->gb->sdtype : tc->gb->dtype;
}
static mb_dtype ref_type(const tcase *tc, int kind) {
    return kind == ST ? tc->cb->sdtype : tc->cb->dtype;
}
static size_t bytes_of(mb_dtype t, int kind, size_t n) {
    return n * (kind == I32 ? sizeof(int32_t) : mb_dtype_size(t));
}

static void pair_new(tcase *tc, pair *p, size_t n, int kind, const char *tag) {
    memset(p, 0, sizeof *p);
    p->n = n;
    p->kind = kind;
    p->h = calloc(n, sizeof *p->h);
    MB_ASSERT(p->h && tc->nheld < MAX_HELD);
    MUST(tc->gc, mb_alloc(tc->gc, &p->g, bytes_of(gpu_type(tc, kind), kind, n), MB_MEM_OTHER, tag));
    MUST(tc->cc, mb_alloc(tc->cc, &p->c, bytes_of(ref_type(tc, kind), kind, n), MB_MEM_OTHER, tag));
    tc->held[tc->nheld++] = p;
}

static void pairs_free(tcase *tc) {
    for (int i = 0; i < tc->nheld; i++) {
        pair *p = tc->held[i];
        mb_free(tc->gc, &p->g);
        mb_free(tc->cc, &p->c);
        free(p->h);
        p->h = NULL;
    }
    tc->nheld = 0;
}

/* Copies n host values into a device buffer as elements of type t (int32 for ids). */
static void upload(mb_ctx *ctx, const mb_buf *b, mb_dtype t, int kind, const double *v, size_t n) {
    size_t bytes = bytes_of(t, kind, n);
    void *tmp = malloc(bytes);
    MB_ASSERT(tmp);
    if (kind == I32)
        for (size_t i = 0; i < n; i++) ((int32_t *)tmp)[i] = (int32_t)v[i];
    else
        mb_dtype_from_f64(t, tmp, v, n);
    MUST(ctx, ctx->be->to_device(ctx, b->ptr, tmp, bytes));
    free(tmp);
}

/* Both sides get v rounded through the GPU type, so the reference sees exactly the GPU's inputs. */
static void pair_set(tcase *tc, pair *p, const double *v) {
    if (v != p->h) memcpy(p->h, v, p->n * sizeof *p->h);
    if (p->kind != I32) {
        mb_dtype t = gpu_type(tc, p->kind);
        void *tmp = malloc(bytes_of(t, p->kind, p->n));
        MB_ASSERT(tmp);
        mb_dtype_from_f64(t, tmp, p->h, p->n);
        mb_dtype_to_f64(t, p->h, tmp, p->n);
        free(tmp);
    }
    upload(tc->gc, &p->g, gpu_type(tc, p->kind), p->kind, p->h, p->n);
    upload(tc->cc, &p->c, ref_type(tc, p->kind), p->kind, p->h, p->n);
}

/* Puts the values last set back on both sides (accumulators before a rerun). */
static void pair_reset(tcase *tc, pair *p) {
    pair_set(tc, p, p->h);
}

/* Overwrites only the reference side (its expected starting point differs from the GPU's). */
static void ref_put(tcase *tc, pair *p, const double *v) {
    upload(tc->cc, &p->c, ref_type(tc, p->kind), p->kind, v, p->n);
}

static double *fill_normal(tcase *tc, size_t n, double mean, double std) {
    double *v = malloc(n * sizeof *v);
    MB_ASSERT(v);
    mb_rng_fill_normal(v, n, SEED, STREAM_VALUES, tc->next, mean, std);
    tc->next += n;
    return v;
}

/* A second moment's values: 0.01 z^2 with z ~ N(0, 1) (non-negative, like Adam's v). */
static void pair_second_moment(tcase *tc, pair *p) {
    double *v = fill_normal(tc, p->n, 0, 1);
    for (size_t i = 0; i < p->n; i++) v[i] = 0.01 * v[i] * v[i];
    pair_set(tc, p, v);
    free(v);
}

static void pair_rand(tcase *tc, pair *p, double mean, double std) {
    double *v = fill_normal(tc, p->n, mean, std);
    pair_set(tc, p, v);
    free(v);
}

/* Ids in [0, V): every even position draws from the first 4 ids only, so ids repeat; position 1 is
 * V-1 (the last row). With ignore, positions 2, 7, 12, ... are -1 (targets to skip). */
static void pair_ids(tcase *tc, pair *p, int V, int ignore) {
    uint32_t few = V < 4 ? (uint32_t)V : 4;
    for (size_t i = 0; i < p->n; i++) {
        uint32_t u = mb_rng_u32(SEED, STREAM_IDS, tc->next++);
        p->h[i] = (double)(i % 2 ? u % (uint32_t)V : u % few);
        if (i == 1) p->h[i] = V - 1;
        if (ignore && i % 5 == 2) p->h[i] = -1;
    }
    pair_set(tc, p, p->h);
}

/* 0xFF bytes are NaN in f32, bf16 and f64: an element the kernel never writes fails the comparison.
 */
static void poison_buf(mb_ctx *ctx, const mb_buf *b) {
    void *tmp = malloc(b->bytes);
    MB_ASSERT(tmp);
    memset(tmp, 0xFF, b->bytes);
    MUST(ctx, ctx->be->to_device(ctx, b->ptr, tmp, b->bytes));
    free(tmp);
}
static void pair_poison(tcase *tc, pair *p) {
    poison_buf(tc->gc, &p->g);
    poison_buf(tc->cc, &p->c);
}

/* Waits for queued work and copies a buffer's bytes back. 0 (a failed check) when the device
 * reported an error: kernels are asynchronous, so their errors surface here. */
static int fetch_raw(tcase *tc, mb_ctx *ctx, const mb_buf *b, void *dst, const char *what) {
    mb_status s = ctx->be->sync ? ctx->be->sync(ctx) : MB_OK;
    if (s == MB_OK) s = ctx->be->to_host(ctx, dst, b->ptr, b->bytes);
    CHECK(s == MB_OK, "%s %s on %s: %s: %s", tc->label, what, ctx->be->name, mb_status_name(s),
          ctx->err);
    return s == MB_OK;
}

static int fetch(tcase *tc, mb_ctx *ctx, const mb_buf *b, mb_dtype t, size_t n, double *out,
                 const char *what) {
    void *tmp = malloc(b->bytes);
    MB_ASSERT(tmp);
    int ok = fetch_raw(tc, ctx, b, tmp, what);
    if (ok) mb_dtype_to_f64(t, out, tmp, n);
    free(tmp);
    return ok;
}

/* Replaces both sides with the reference side's current values, rounded through the GPU type (saved
 * forward results such as mean/rstd or att become the backward pass's inputs). */
static void pair_from_ref(tcase *tc, pair *p) {
    double *v = malloc(p->n * sizeof *v);
    MB_ASSERT(v);
    if (fetch(tc, tc->cc, &p->c, ref_type(tc, p->kind), p->n, v, "reference")) pair_set(tc, p, v);
    free(v);
}

/* The GPU side of g against the reference side of r: err = max|g - r| / max|r|, and every value
 * must be finite. With tri > 0 the tensor is a stack of tri x tri matrices and only entries on or
 * below their diagonals count (attention probabilities: above it the contract leaves them
 * unspecified). Prints one line: case, output, table, err, tolerance, verdict. */
static void compare(tcase *tc, const char *what, const pair *g, const pair *r, double tl, int tri) {
    MB_ASSERT(g->n == r->n);
    size_t n = g->n;
    double *gv = malloc(n * sizeof *gv), *rv = malloc(n * sizeof *rv);
    MB_ASSERT(gv && rv);
    char name[160];
    snprintf(name, sizeof name, "%s %s", tc->label, what);
    if (fetch(tc, tc->gc, &g->g, gpu_type(tc, g->kind), n, gv, what) &&
        fetch(tc, tc->cc, &r->c, ref_type(tc, r->kind), n, rv, what)) {
        double dmax = 0, rmax = 0;
        size_t bad = 0, first_bad = 0, worst = 0;
        for (size_t i = 0; i < n; i++) {
            if (tri > 0 && i % (size_t)tri > i / (size_t)tri % (size_t)tri) continue;
            if (!isfinite(gv[i]) || !isfinite(rv[i])) {
                if (!bad++) first_bad = i;
                continue;
            }
            double d = fabs(gv[i] - rv[i]);
            if (d > dmax) dmax = d, worst = i;
            rmax = fmax(rmax, fabs(rv[i]));
        }
        double err = bad ? INFINITY : dmax / fmax(rmax, 1e-30);
        int pass = err <= tl;
        printf("%-56s %-10s err %.3e  tol %.0e  %s\n", name, tc->gb->name, err, tl,
               pass ? "ok" : "FAIL");
        if (bad)
            CHECK(0, "%s on %s: %zu non-finite value(s), first at %zu: gpu %g ref %g", name,
                  tc->gb->name, bad, first_bad, gv[first_bad], rv[first_bad]);
        else
            CHECK(pass,
                  "%s on %s: err %.3e > %.0e; worst at %zu: gpu %.9g ref %.9g (max|ref| %.3g)",
                  name, tc->gb->name, err, tl, worst, gv[worst], rv[worst], rmax);
    } else {
        printf("%-56s %-10s err -          tol %.0e  FAIL\n", name, tc->gb->name, tl);
    }
    free(gv);
    free(rv);
}

static void expect_close2(tcase *tc, const char *what, const pair *g, const pair *r, double tl) {
    compare(tc, what, g, r, tl, 0);
}

static void expect_close(tcase *tc, const char *what, const pair *p, double tl) {
    compare(tc, what, p, p, tl, 0);
}

/* The GPU side's raw bytes (NULL after a failed check). */
static void *gpu_bytes(tcase *tc, const pair *p, const char *what) {
    void *b = malloc(p->g.bytes);
    MB_ASSERT(b);
    if (fetch_raw(tc, tc->gc, &p->g, b, what)) return b;
    free(b);
    return NULL;
}

/* The GPU buffer b holds exactly the bytes `want` (NULL: fetching them failed), which came from
 * `source`: a first run on identical inputs, or a CPU kernel with the same float expressions. */
static void expect_bytes(tcase *tc, const char *what, const mb_buf *b, const void *want,
                         const char *source) {
    unsigned char *got = malloc(b->bytes);
    MB_ASSERT(got);
    char name[160];
    snprintf(name, sizeof name, "%s %s", tc->label, what);
    if (want && fetch_raw(tc, tc->gc, b, got, what)) {
        size_t first = b->bytes, diff = 0;
        for (size_t i = 0; i < b->bytes; i++)
            if (got[i] != ((const unsigned char *)want)[i] && !diff++) first = i;
        printf("%-56s %-10s %zu of %zu bytes differ from %s  %s\n", name, tc->gb->name, diff,
               b->bytes, source, diff ? "FAIL" : "ok");
        CHECK(diff == 0, "%s on %s: %zu of %zu bytes differ from %s, first at %zu", name,
              tc->gb->name, diff, b->bytes, source, first);
    } else {
        CHECK(0, "%s on %s: bytes not fetched", name, tc->gb->name);
    }
    free(got);
}

/* The GPU side now holds exactly the bytes `first` did (a rerun on identical inputs). */
static void expect_same(tcase *tc, const char *what, const pair *p, const void *first) {
    expect_bytes(tc, what, &p->g, first, "the first run");
}

/* ---------------------------------------------------------------------------------------------
 * One function per kernel. Outputs that are overwritten are poisoned first; "+=" outputs start from
 * random finite values (the same on both sides). */

typedef struct shape {
    int B, T, C, NH, OC, V;
} shape;

static const shape SHAPES[] = {
    {2, 5, 24, 3, 40, 67},      /* small and odd: no size a multiple of a warp or a tile */
    {4, 64, 128, 4, 384, 1000}, /* GPT-like */
    {8, 128, 64, 2, 96, 129},   /* N = 1024 rows: multi-block column reductions */
    {3, 1, 24, 3, 40, 67},      /* T = 1: attention over a single position */
    {2, 33, 128, 2, 200, 50},   /* T = 33 (one past a warp), head size 64 */
    {1, 7, 15, 3, 33, 31},      /* every size odd: C = 15, head size 5 */
    {2, 300, 96, 3, 64, 50},    /* attention in 2 query chunks of 256, the last one partial */
    {1, 1000, 128, 2, 64, 50},  /* T = 1000: 4 chunks, the last partial, not a multiple of a pack */
    {1, 1024, 256, 4, 64, 50},  /* T = 1024, GPT-2's head size 64 */
    {1, 3, 24, 3, 40, 60000},   /* a row of logits too wide for cross-entropy's shared memory */
    {4, 96, 1024, 8, 64, 50},   /* C = 1024 (GPT-2 350M): the fused LayerNorm backward's widest */
};

static void t_encoder_fwd(tcase *tc, const shape *s) {
    int B = s->B, T = s->T, C = s->C, V = s->V;
    size_t N = (size_t)B * T;
    pair tok, wte, wpe, out;
    pair_new(tc, &tok, N, I32, "tok");
    pair_ids(tc, &tok, V, 0);
    pair_new(tc, &wte, (size_t)V * C, DT, "wte");
    pair_rand(tc, &wte, 0, 1);
    pair_new(tc, &wpe, (size_t)T * C, DT, "wpe");
    pair_rand(tc, &wpe, 0, 1);
    pair_new(tc, &out, N * C, DT, "out");
    pair_poison(tc, &out);
    set_label(tc, "encoder_fwd B=%d T=%d C=%d V=%d", B, T, C, V);
    tc->gb->encoder_fwd(tc->gc, G(out), G(tok), G(wte), G(wpe), B, T, C);
    tc->cb->encoder_fwd(tc->cc, R(out), R(tok), R(wte), R(wpe), B, T, C);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

static void t_encoder_bwd(tcase *tc, const shape *s) {
    int B = s->B, T = s->T, C = s->C, V = s->V;
    size_t N = (size_t)B * T;
    pair tok, dout, dwte, dwpe;
    pair_new(tc, &tok, N, I32, "tok");
    pair_ids(tc, &tok, V, 0); /* repeated ids: several rows of dout land on one row of dwte */
    pair_new(tc, &dout, N * C, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &dwte, (size_t)V * C, DT, "dwte");
    pair_rand(tc, &dwte, 0, 1);
    pair_new(tc, &dwpe, (size_t)T * C, DT, "dwpe");
    pair_rand(tc, &dwpe, 0, 1);
    set_label(tc, "encoder_bwd B=%d T=%d C=%d V=%d", B, T, C, V);
    tc->gb->encoder_bwd(tc->gc, G(dwte), G(dwpe), G(dout), G(tok), B, T, C);
    tc->cb->encoder_bwd(tc->cc, R(dwte), R(dwpe), R(dout), R(tok), B, T, C);
    expect_close(tc, "dwte", &dwte, tol(tc, TOL_ELEM));
    expect_close(tc, "dwpe", &dwpe, tol(tc, TOL_ELEM));

    void *first_wte = gpu_bytes(tc, &dwte, "dwte"), *first_wpe = gpu_bytes(tc, &dwpe, "dwpe");
    pair_reset(tc, &dwte);
    pair_reset(tc, &dwpe);
    tc->gb->encoder_bwd(tc->gc, G(dwte), G(dwpe), G(dout), G(tok), B, T, C);
    expect_same(tc, "dwte", &dwte, first_wte);
    expect_same(tc, "dwpe", &dwpe, first_wpe);
    free(first_wte);
    free(first_wpe);

    pair_reset(tc, &dwte);
    set_label(tc, "encoder_bwd B=%d T=%d C=%d dwpe=NULL", B, T, C);
    tc->gb->encoder_bwd(tc->gc, G(dwte), NULL, G(dout), G(tok), B, T, C);
    tc->cb->encoder_bwd(tc->cc, R(dwte), NULL, R(dout), R(tok), B, T, C);
    expect_close(tc, "dwte", &dwte, tol(tc, TOL_ELEM));

    pair_reset(tc, &dwpe);
    set_label(tc, "encoder_bwd B=%d T=%d C=%d dwte=NULL", B, T, C);
    tc->gb->encoder_bwd(tc->gc, NULL, G(dwpe), G(dout), G(tok), B, T, C);
    tc->cb->encoder_bwd(tc->cc, NULL, R(dwpe), R(dout), R(tok), B, T, C);
    expect_close(tc, "dwpe", &dwpe, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

static void t_layernorm_fwd(tcase *tc, const shape *s) {
    int N = s->B * s->T, C = s->C;
    pair inp, w, b, out, mean, rstd;
    pair_new(tc, &inp, (size_t)N * C, DT, "inp");
    pair_rand(tc, &inp, 0.5, 2); /* rows with a nonzero mean */
    pair_new(tc, &w, (size_t)C, DT, "w");
    pair_rand(tc, &w, 1, 0.3);
    pair_new(tc, &b, (size_t)C, DT, "b");
    pair_rand(tc, &b, 0, 0.5);
    pair_new(tc, &out, (size_t)N * C, DT, "out");
    pair_poison(tc, &out);
    pair_new(tc, &mean, (size_t)N, ST, "mean");
    pair_poison(tc, &mean);
    pair_new(tc, &rstd, (size_t)N, ST, "rstd");
    pair_poison(tc, &rstd);
    set_label(tc, "layernorm_fwd N=%d C=%d", N, C);
    tc->gb->layernorm_fwd(tc->gc, G(out), G(mean), G(rstd), G(inp), G(w), G(b), N, C);
    tc->cb->layernorm_fwd(tc->cc, R(out), R(mean), R(rstd), R(inp), R(w), R(b), N, C);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));
    expect_close(tc, "mean", &mean, tol(tc, TOL_ELEM));
    expect_close(tc, "rstd", &rstd, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

static void t_layernorm_bwd(tcase *tc, const shape *s) {
    int N = s->B * s->T, C = s->C;
    pair inp, w, b, out, mean, rstd, dout, dinp, dw, db;
    pair_new(tc, &inp, (size_t)N * C, DT, "inp");
    pair_rand(tc, &inp, 0.5, 2);
    pair_new(tc, &w, (size_t)C, DT, "w");
    pair_rand(tc, &w, 1, 0.3);
    pair_new(tc, &b, (size_t)C, DT, "b");
    pair_rand(tc, &b, 0, 0.5);
    pair_new(tc, &out, (size_t)N * C, DT, "out");
    pair_new(tc, &mean, (size_t)N, ST, "mean");
    pair_new(tc, &rstd, (size_t)N, ST, "rstd");
    /* The saved statistics: the reference forward's, rounded to sdtype, on both sides. */
    tc->cb->layernorm_fwd(tc->cc, R(out), R(mean), R(rstd), R(inp), R(w), R(b), N, C);
    pair_from_ref(tc, &mean);
    pair_from_ref(tc, &rstd);
    pair_new(tc, &dout, (size_t)N * C, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &dinp, (size_t)N * C, DT, "dinp");
    pair_rand(tc, &dinp, 0, 1);
    pair_new(tc, &dw, (size_t)C, DT, "dw");
    pair_rand(tc, &dw, 0, 1);
    pair_new(tc, &db, (size_t)C, DT, "db");
    pair_rand(tc, &db, 0, 1);
    set_label(tc, "layernorm_bwd N=%d C=%d", N, C);
    tc->gb->layernorm_bwd(tc->gc, G(dinp), G(dw), G(db), G(dout), G(inp), G(w), G(mean), G(rstd), N,
                          C);
    tc->cb->layernorm_bwd(tc->cc, R(dinp), R(dw), R(db), R(dout), R(inp), R(w), R(mean), R(rstd), N,
                          C);
    expect_close(tc, "dinp", &dinp, tol(tc, TOL_ELEM));
    expect_close(tc, "dw", &dw, tol(tc, TOL_ELEM));
    expect_close(tc, "db", &db, tol(tc, TOL_ELEM));

    void *f_dinp = gpu_bytes(tc, &dinp, "dinp"), *f_dw = gpu_bytes(tc, &dw, "dw"),
         *f_db = gpu_bytes(tc, &db, "db");
    pair_reset(tc, &dinp);
    pair_reset(tc, &dw);
    pair_reset(tc, &db);
    tc->gb->layernorm_bwd(tc->gc, G(dinp), G(dw), G(db), G(dout), G(inp), G(w), G(mean), G(rstd), N,
                          C);
    expect_same(tc, "dinp", &dinp, f_dinp);
    expect_same(tc, "dw", &dw, f_dw);
    expect_same(tc, "db", &db, f_db);
    free(f_dinp);
    free(f_dw);
    free(f_db);

    pair_reset(tc, &dw);
    pair_reset(tc, &db);
    set_label(tc, "layernorm_bwd N=%d C=%d dinp=NULL", N, C);
    tc->gb->layernorm_bwd(tc->gc, NULL, G(dw), G(db), G(dout), G(inp), G(w), G(mean), G(rstd), N,
                          C);
    tc->cb->layernorm_bwd(tc->cc, NULL, R(dw), R(db), R(dout), R(inp), R(w), R(mean), R(rstd), N,
                          C);
    expect_close(tc, "dw", &dw, tol(tc, TOL_ELEM));
    expect_close(tc, "db", &db, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

static void t_matmul_fwd(tcase *tc, const shape *s) {
    int N = s->B * s->T, C = s->C, OC = s->OC;
    pair inp, w, b, out;
    pair_new(tc, &inp, (size_t)N * C, DT, "inp");
    pair_rand(tc, &inp, 0, 1);
    pair_new(tc, &w, (size_t)OC * C, DT, "w");
    pair_rand(tc, &w, 0, 1);
    pair_new(tc, &b, (size_t)OC, DT, "b");
    pair_rand(tc, &b, 0, 1);
    pair_new(tc, &out, (size_t)N * OC, DT, "out");
    pair_poison(tc, &out);
    set_label(tc, "matmul_fwd N=%d C=%d OC=%d", N, C, OC);
    tc->gb->matmul_fwd(tc->gc, G(out), G(inp), G(w), G(b), N, C, OC, OC);
    tc->cb->matmul_fwd(tc->cc, R(out), R(inp), R(w), R(b), N, C, OC, OC);
    expect_close(tc, "out", &out, tol(tc, TOL_GEMM));

    pair_poison(tc, &out);
    set_label(tc, "matmul_fwd N=%d C=%d OC=%d b=NULL", N, C, OC);
    tc->gb->matmul_fwd(tc->gc, G(out), G(inp), G(w), NULL, N, C, OC, OC);
    tc->cb->matmul_fwd(tc->cc, R(out), R(inp), R(w), NULL, N, C, OC, OC);
    expect_close(tc, "out", &out, tol(tc, TOL_GEMM));
    pairs_free(tc);
}

static void t_matmul_bwd(tcase *tc, const shape *s) {
    int N = s->B * s->T, C = s->C, OC = s->OC;
    pair dout, inp, w, dinp, dw, db;
    pair_new(tc, &dout, (size_t)N * OC, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &inp, (size_t)N * C, DT, "inp");
    pair_rand(tc, &inp, 0, 1);
    pair_new(tc, &w, (size_t)OC * C, DT, "w");
    pair_rand(tc, &w, 0, 1);
    pair_new(tc, &dinp, (size_t)N * C, DT, "dinp"); /* overwritten */
    pair_new(tc, &dw, (size_t)OC * C, DT, "dw");    /* += */
    pair_new(tc, &db, (size_t)OC, DT, "db");        /* += */
    pair_rand(tc, &dw, 0, 1);
    pair_rand(tc, &db, 0, 1);
    /* Every output present, then each one left out in turn. */
    for (int skip = -1; skip < 3; skip++) {
        static const char *const names[] = {"dinp", "dw", "db"};
        pair_poison(tc, &dinp);
        pair_reset(tc, &dw);
        pair_reset(tc, &db);
        void *gd = skip == 0 ? NULL : G(dinp), *gw = skip == 1 ? NULL : G(dw),
             *gbias = skip == 2 ? NULL : G(db);
        void *rd = skip == 0 ? NULL : R(dinp), *rw = skip == 1 ? NULL : R(dw),
             *rb = skip == 2 ? NULL : R(db);
        if (skip < 0)
            set_label(tc, "matmul_bwd N=%d C=%d OC=%d", N, C, OC);
        else
            set_label(tc, "matmul_bwd N=%d C=%d OC=%d %s=NULL", N, C, OC, names[skip]);
        tc->gb->matmul_bwd(tc->gc, gd, gw, gbias, G(dout), G(inp), G(w), N, C, OC, OC);
        tc->cb->matmul_bwd(tc->cc, rd, rw, rb, R(dout), R(inp), R(w), N, C, OC, OC);
        if (gd) expect_close(tc, "dinp", &dinp, tol(tc, TOL_GEMM));
        if (gw) expect_close(tc, "dw", &dw, tol(tc, TOL_GEMM));
        if (gbias) expect_close(tc, "db", &db, tol(tc, TOL_ELEM)); /* column sums, not a GEMM */
        if (skip >= 0) continue;

        void *f_dinp = gpu_bytes(tc, &dinp, "dinp"), *f_dw = gpu_bytes(tc, &dw, "dw"),
             *f_db = gpu_bytes(tc, &db, "db");
        pair_poison(tc, &dinp);
        pair_reset(tc, &dw);
        pair_reset(tc, &db);
        tc->gb->matmul_bwd(tc->gc, G(dinp), G(dw), G(db), G(dout), G(inp), G(w), N, C, OC, OC);
        expect_same(tc, "dinp", &dinp, f_dinp);
        expect_same(tc, "dw", &dw, f_dw);
        expect_same(tc, "db", &db, f_db);
        free(f_dinp);
        free(f_dw);
        free(f_db);
    }
    pairs_free(tc);
}

/* Elements in which the GPU sides of a and b differ (n elements of the table's dtype each). */
static size_t gpu_diff(tcase *tc, const pair *a, const pair *b, const char *what) {
    size_t es = mb_dtype_size(tc->gb->dtype), n = a->n, diff = 0;
    MB_ASSERT(b->n == n && a->kind == DT && b->kind == DT);
    unsigned char *x = gpu_bytes(tc, a, what), *y = gpu_bytes(tc, b, what);
    for (size_t i = 0; x && y && i < n; i++) diff += memcmp(x + i * es, y + i * es, es) != 0;
    free(x);
    free(y);
    return diff;
}

/* That a fused slot took the path it should: where the epilogue runs, bf16 results must differ
 * from the unfused sequence in some elements, since the epilogue rounds once where the sequence
 * rounds twice; where it does not (a size not a multiple of 8; GELU on the fp32 tables), the slot
 * falls back to that very sequence and the bits must be equal. Only some elements differ (5 of 72
 * for GELU's gradient at N = 3 on the H100, 0 of 72 with other inputs): under EPI_MIN elements,
 * equal bits are chance, not a fallback, and only the larger shapes decide. */
#define EPI_MIN 1024
static void expect_path(tcase *tc, const char *what, const pair *fused, const pair *plain,
                        int epilogue) {
    size_t diff = gpu_diff(tc, fused, plain, what);
    printf("%-56s %-10s %zu of %zu elements differ from the unfused kernels (%s)\n", tc->label,
           tc->gb->name, diff, fused->n, epilogue ? "epilogue" : "fallback");
    if (!epilogue)
        CHECK(diff == 0, "%s %s on %s: the fallback differs from the unfused kernels in %zu",
              tc->label, what, tc->gb->name, diff);
    else if (tc->gb->dtype == MB_BF16 && fused->n >= EPI_MIN)
        CHECK(diff > 0, "%s %s on %s: equal to the unfused kernels: the epilogue did not run",
              tc->label, what, tc->gb->name);
}

/* The fused linear slots (matmul + residual, matmul + GELU, matmul backward + GELU's gradient)
 * against the fp64 reference of the sequence each stands for, and which path they took. */
static void t_matmul_fused(tcase *tc, const shape *s) {
    int N = s->B * s->T, C = s->C, OC = s->OC, aligned = C % 8 == 0 && OC % 8 == 0;
    int gelu_epi = aligned && tc->gb->dtype == MB_BF16; /* GELU epilogues: bf16 only */
    pair inp, w, b, res, out, pre, plain, dout, dinp, dw, db;
    pair_new(tc, &inp, (size_t)N * C, DT, "inp");
    pair_rand(tc, &inp, 0, 1);
    pair_new(tc, &w, (size_t)OC * C, DT, "w");
    pair_rand(tc, &w, 0, 0.3);
    pair_new(tc, &b, (size_t)OC, DT, "b");
    pair_rand(tc, &b, 0, 1);
    pair_new(tc, &res, (size_t)N * OC, DT, "res");
    pair_rand(tc, &res, 0, 1);
    pair_new(tc, &out, (size_t)N * OC, DT, "out");
    pair_new(tc, &pre, (size_t)N * OC, DT, "pre");
    pair_new(tc, &plain, (size_t)N * OC, DT, "plain");

    pair_poison(tc, &out);
    set_label(tc, "matmul_fwd_res N=%d C=%d OC=%d", N, C, OC);
    tc->gb->matmul_fwd_res(tc->gc, G(out), G(inp), G(w), G(b), G(res), N, C, OC);
    tc->cb->matmul_fwd_res(tc->cc, R(out), R(inp), R(w), R(b), R(res), N, C, OC);
    expect_close(tc, "out", &out, tol(tc, TOL_GEMM));
    tc->gb->matmul_fwd(tc->gc, G(plain), G(inp), G(w), G(b), N, C, OC, OC);
    tc->gb->residual_fwd(tc->gc, G(plain), G(plain), G(res), (size_t)N * OC);
    expect_path(tc, "out", &out, &plain, aligned);

    pair_poison(tc, &out);
    pair_poison(tc, &pre);
    set_label(tc, "matmul_fwd_gelu N=%d C=%d OC=%d", N, C, OC);
    tc->gb->matmul_fwd_gelu(tc->gc, G(out), G(pre), G(inp), G(w), G(b), N, C, OC);
    tc->cb->matmul_fwd_gelu(tc->cc, R(out), R(pre), R(inp), R(w), R(b), N, C, OC);
    expect_close(tc, "out", &out, tol(tc, TOL_GEMM));
    expect_close(tc, "pre", &pre, tol(tc, TOL_GEMM));
    tc->gb->gelu_fwd(tc->gc, G(plain), G(pre), (size_t)N * OC);
    expect_path(tc, "out", &out, &plain, gelu_epi);

    /* backward of a layer whose input is a GELU's output: width C, pre-activation pre[N, C] */
    pairs_free(tc);
    pair_new(tc, &dout, (size_t)N * OC, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &inp, (size_t)N * C, DT, "inp");
    pair_rand(tc, &inp, 0, 1);
    pair_new(tc, &pre, (size_t)N * C, DT, "pre");
    pair_rand(tc, &pre, 0, 2);
    pair_new(tc, &w, (size_t)OC * C, DT, "w");
    pair_rand(tc, &w, 0, 0.3);
    pair_new(tc, &dinp, (size_t)N * C, DT, "dinp");
    pair_new(tc, &plain, (size_t)N * C, DT, "plain");
    pair_new(tc, &dw, (size_t)OC * C, DT, "dw");
    pair_rand(tc, &dw, 0, 1);
    pair_new(tc, &db, (size_t)OC, DT, "db");
    pair_rand(tc, &db, 0, 1);
    pair_poison(tc, &dinp);
    set_label(tc, "matmul_bwd_dgelu N=%d C=%d OC=%d", N, C, OC);
    tc->gb->matmul_bwd_dgelu(tc->gc, G(dinp), G(dw), G(db), G(dout), G(inp), G(w), G(pre), N, C,
                             OC);
    tc->cb->matmul_bwd_dgelu(tc->cc, R(dinp), R(dw), R(db), R(dout), R(inp), R(w), R(pre), N, C,
                             OC);
    expect_close(tc, "dinp", &dinp, tol(tc, TOL_GEMM));
    expect_close(tc, "dw", &dw, tol(tc, TOL_GEMM));
    expect_close(tc, "db", &db, tol(tc, TOL_ELEM));
    tc->gb->matmul_bwd(tc->gc, G(plain), NULL, NULL, G(dout), G(inp), G(w), N, C, OC, OC);
    tc->gb->gelu_bwd(tc->gc, G(plain), G(pre), G(plain), (size_t)N * C);
    expect_path(tc, "dinp", &dinp, &plain, gelu_epi);
    pairs_free(tc);
}

static void t_attention_fwd(tcase *tc, const shape *s) {
    int B = s->B, T = s->T, C = s->C, NH = s->NH;
    pair qkv, out, att;
    pair_new(tc, &qkv, (size_t)B * T * 3 * C, DT, "qkv");
    pair_rand(tc, &qkv, 0, 1);
    pair_new(tc, &out, (size_t)B * T * C, DT, "out");
    pair_poison(tc, &out);
    pair_new(tc, &att, (size_t)B * NH * T * T, DT, "att");
    pair_poison(tc, &att); /* every entry on or below the diagonal must be written */
    set_label(tc, "attention_fwd B=%d T=%d C=%d NH=%d", B, T, C, NH);
    tc->gb->attention_fwd(tc->gc, G(out), G(att), G(qkv), B, T, C, NH, NH);
    tc->cb->attention_fwd(tc->cc, R(out), R(att), R(qkv), B, T, C, NH, NH);
    expect_close(tc, "out", &out, tol(tc, TOL_GEMM));
    compare(tc, "att", &att, &att, tol(tc, TOL_GEMM), T);
    pairs_free(tc);
}

static void t_attention_bwd(tcase *tc, const shape *s) {
    int B = s->B, T = s->T, C = s->C, NH = s->NH;
    pair qkv, out, att, dout, dqkv, scratch;
    pair_new(tc, &qkv, (size_t)B * T * 3 * C, DT, "qkv");
    pair_rand(tc, &qkv, 0, 1);
    pair_new(tc, &out, (size_t)B * T * C, DT, "out");
    pair_new(tc, &att, (size_t)B * NH * T * T, DT, "att");
    /* The saved probabilities: the reference forward's, rounded to dtype, on both sides. */
    tc->cb->attention_fwd(tc->cc, R(out), R(att), R(qkv), B, T, C, NH, NH);
    pair_from_ref(tc, &att);
    pair_new(tc, &dout, (size_t)B * T * C, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &dqkv, (size_t)B * T * 3 * C, DT, "dqkv");
    pair_poison(tc, &dqkv);
    pair_new(tc, &scratch, (size_t)B * NH * T, DT, "scratch");
    pair_poison(tc, &scratch);
    set_label(tc, "attention_bwd B=%d T=%d C=%d NH=%d", B, T, C, NH);
    tc->gb->attention_bwd(tc->gc, G(dqkv), G(scratch), G(dout), G(qkv), G(att), B, T, C, NH, NH);
    tc->cb->attention_bwd(tc->cc, R(dqkv), R(scratch), R(dout), R(qkv), R(att), B, T, C, NH, NH);
    expect_close(tc, "dqkv", &dqkv, tol(tc, TOL_GEMM));
    pairs_free(tc);
}

static void t_gelu_fwd(tcase *tc, const shape *s) {
    size_t n = (size_t)s->B * s->T * 4 * s->C; /* the MLP's width */
    pair inp, out;
    pair_new(tc, &inp, n, DT, "inp");
    pair_rand(tc, &inp, 0, 2); /* reaches both tails */
    pair_new(tc, &out, n, DT, "out");
    pair_poison(tc, &out);
    set_label(tc, "gelu_fwd n=%zu", n);
    tc->gb->gelu_fwd(tc->gc, G(out), G(inp), n);
    tc->cb->gelu_fwd(tc->cc, R(out), R(inp), n);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

static void t_gelu_bwd(tcase *tc, const shape *s) {
    size_t n = (size_t)s->B * s->T * 4 * s->C;
    pair inp, dout, dinp;
    pair_new(tc, &inp, n, DT, "inp");
    pair_rand(tc, &inp, 0, 2);
    pair_new(tc, &dout, n, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &dinp, n, DT, "dinp");
    pair_poison(tc, &dinp);
    set_label(tc, "gelu_bwd n=%zu", n);
    tc->gb->gelu_bwd(tc->gc, G(dinp), G(inp), G(dout), n);
    tc->cb->gelu_bwd(tc->cc, R(dinp), R(inp), R(dout), n);
    expect_close(tc, "dinp", &dinp, tol(tc, TOL_ELEM));

    pair_set(tc, &dinp, dout.h); /* in place: dinp aliases dout */
    set_label(tc, "gelu_bwd n=%zu dinp=dout", n);
    tc->gb->gelu_bwd(tc->gc, G(dinp), G(inp), G(dinp), n);
    tc->cb->gelu_bwd(tc->cc, R(dinp), R(inp), R(dout), n);
    expect_close(tc, "dinp", &dinp, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

static void t_residual_fwd(tcase *tc, const shape *s) {
    size_t n = (size_t)s->B * s->T * s->C;
    pair a, b, out;
    pair_new(tc, &a, n, DT, "a");
    pair_rand(tc, &a, 0, 1);
    pair_new(tc, &b, n, DT, "b");
    pair_rand(tc, &b, 0, 1);
    pair_new(tc, &out, n, DT, "out");
    pair_poison(tc, &out);
    set_label(tc, "residual_fwd n=%zu", n);
    tc->gb->residual_fwd(tc->gc, G(out), G(a), G(b), n);
    tc->cb->residual_fwd(tc->cc, R(out), R(a), R(b), n);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));

    pair_set(tc, &out, a.h);
    set_label(tc, "residual_fwd n=%zu out=a", n);
    tc->gb->residual_fwd(tc->gc, G(out), G(out), G(b), n);
    tc->cb->residual_fwd(tc->cc, R(out), R(a), R(b), n);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));

    pair_set(tc, &out, b.h);
    set_label(tc, "residual_fwd n=%zu out=b", n);
    tc->gb->residual_fwd(tc->gc, G(out), G(a), G(out), n);
    tc->cb->residual_fwd(tc->cc, R(out), R(a), R(b), n);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

/* The fused loss's two halves are in no table (the engine runs crossentropy_fused): the CUDA
 * kernels are called by name (engine/cuda/kernels.h), the fp64 reference is the CPU kernels' text
 * for double, written out here. */
static void gpu_crossentropy_fwd(tcase *tc, void *losses, void *logits, const int32_t *targets,
                                 int N, int V, int ld) {
    if (tc->gb->dtype == MB_BF16)
        mb_cuda_crossentropy_fwd_bf16(tc->gc, losses, logits, targets, N, V, ld);
    else
        mb_cuda_crossentropy_fwd_f32(tc->gc, losses, logits, targets, N, V, ld);
}

static void gpu_crossentropy_bwd(tcase *tc, void *probs, const int32_t *targets, int N, int V,
                                 int ld, double scale) {
    if (tc->gb->dtype == MB_BF16)
        mb_cuda_crossentropy_bwd_bf16(tc->gc, probs, targets, N, V, ld, scale);
    else
        mb_cuda_crossentropy_bwd_f32(tc->gc, probs, targets, N, V, ld, scale);
}

/* logits[N,V] (rows ld apart) become probabilities; losses[n] = LSE - logit of the target, 0 where
 * the target is < 0 */
static void ref_crossentropy_fwd(double *losses, double *logits, const int32_t *targets, int N,
                                 int V, int ld) {
    for (int n = 0; n < N; n++) {
        double *l = logits + (size_t)n * ld;
        double mx = -INFINITY;
        for (int v = 0; v < V; v++)
            if (l[v] > mx) mx = l[v];
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp(l[v] - mx);
        double lse = mx + log(sum);
        int tg = targets ? targets[n] : -1;
        losses[n] = tg >= 0 ? lse - l[tg] : 0;
        for (int v = 0; v < V; v++) l[v] = exp(l[v] - lse);
    }
}

/* In place: probs[N,V] become (probs - onehot(target)) * scale, rows with target < 0 zeroed */
static void ref_crossentropy_bwd(double *probs, const int32_t *targets, int N, int V, int ld,
                                 double scale) {
    for (int n = 0; n < N; n++) {
        double *p = probs + (size_t)n * ld;
        int tg = targets[n];
        if (tg < 0) {
            for (int v = 0; v < V; v++) p[v] = 0;
            continue;
        }
        for (int v = 0; v < V; v++) p[v] = (p[v] - (v == tg ? 1.0 : 0.0)) * scale;
    }
}

static void t_crossentropy_fwd(tcase *tc, const shape *s) {
    int N = s->B * s->T, V = s->V;
    pair logits, targets, losses;
    pair_new(tc, &logits, (size_t)N * V, DT, "logits");
    pair_rand(tc, &logits, 0, 2);
    pair_new(tc, &targets, (size_t)N, I32, "targets");
    pair_ids(tc, &targets, V, 1); /* some targets -1: loss 0 */
    pair_new(tc, &losses, (size_t)N, ST, "losses");
    pair_poison(tc, &losses);
    set_label(tc, "crossentropy_fwd N=%d V=%d", N, V);
    gpu_crossentropy_fwd(tc, G(losses), G(logits), G(targets), N, V, V);
    ref_crossentropy_fwd(R(losses), R(logits), R(targets), N, V, V);
    expect_close(tc, "probs", &logits, tol(tc, TOL_ELEM));
    expect_close(tc, "losses", &losses, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

static void t_crossentropy_bwd(tcase *tc, const shape *s) {
    int N = s->B * s->T, V = s->V;
    pair probs, targets, losses;
    pair_new(tc, &probs, (size_t)N * V, DT, "probs");
    pair_rand(tc, &probs, 0, 2);
    pair_new(tc, &targets, (size_t)N, I32, "targets");
    pair_ids(tc, &targets, V, 1); /* rows with target -1 must become zeros */
    pair_new(tc, &losses, (size_t)N, ST, "losses");
    /* Real probabilities: the reference softmax of random logits, rounded to dtype. */
    ref_crossentropy_fwd(R(losses), R(probs), R(targets), N, V, V);
    pair_from_ref(tc, &probs);
    int valid = 0;
    for (int i = 0; i < N; i++) valid += targets.h[i] >= 0;
    double scale = 1.0 / (valid ? valid : 1);
    set_label(tc, "crossentropy_bwd N=%d V=%d", N, V);
    gpu_crossentropy_bwd(tc, G(probs), G(targets), N, V, V, scale);
    ref_crossentropy_bwd(R(probs), R(targets), N, V, V, scale);
    expect_close(tc, "dlogits", &probs, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

/* Losses and dlogits in one pass, on rows padded to ld > V (the padding must stay as it was). */
static void t_crossentropy_fused(tcase *tc, const shape *s) {
    int N = s->B * s->T, V = s->V, ld = (V + 7) / 8 * 8 + 8;
    pair logits, targets, losses;
    pair_new(tc, &logits, (size_t)N * ld, DT, "logits");
    pair_rand(tc, &logits, 0, 2);
    pair_new(tc, &targets, (size_t)N, I32, "targets");
    pair_ids(tc, &targets, V, 1);
    pair_new(tc, &losses, (size_t)N, ST, "losses");
    pair_poison(tc, &losses);
    int valid = 0;
    for (int i = 0; i < N; i++) valid += targets.h[i] >= 0;
    double scale = 1.0 / (valid ? valid : 1);
    set_label(tc, "crossentropy_fused N=%d V=%d ld=%d", N, V, ld);
    tc->gb->crossentropy_fused(tc->gc, G(losses), G(logits), G(targets), N, V, ld, scale);
    tc->cb->crossentropy_fused(tc->cc, R(losses), R(logits), R(targets), N, V, ld, scale);
    expect_close(tc, "dlogits", &logits, tol(tc, TOL_ELEM));
    expect_close(tc, "losses", &losses, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

static void t_widen(tcase *tc, size_t n) {
    pair src, dst;
    pair_new(tc, &src, n, DT, "src");
    pair_rand(tc, &src, 0, 1);
    pair_new(tc, &dst, n, ST, "dst");
    pair_poison(tc, &dst);
    ref_put(tc, &dst, src.h); /* expected: the dtype values themselves */
    set_label(tc, "widen n=%zu", n);
    tc->gb->widen(tc->gc, G(dst), G(src), n);
    expect_close(tc, "dst", &dst, tol(tc, TOL_EXACT)); /* dtype -> sdtype is exact */
    pairs_free(tc);
}

/* p, and master when the table is mixed: p is master rounded to dtype, and the reference updates
 * the master values (the GPU runs the update on master and rounds it into p). Returns the master's
 * GPU pointer (NULL when the table has none). */
static void *weights_new(tcase *tc, pair *p, pair *master, size_t n) {
    pair_new(tc, p, n, DT, "p");
    if (tc->gb->dtype == tc->gb->sdtype) {
        pair_rand(tc, p, 0, 1);
        return NULL;
    }
    pair_new(tc, master, n, ST, "master");
    pair_rand(tc, master, 0, 1);
    pair_set(tc, p, master->h);
    ref_put(tc, p, master->h);
    return G(*master);
}

/* An Adam-like update's inputs: weights (and master), g ~ N(0, 1), m ~ 0.1 N(0, 1) over n elements,
 * and nv second-moment values. Returns the GPU master (NULL without one). */
static void *adam_inputs(tcase *tc, pair *p, pair *master, pair *g, pair *m, pair *v, size_t n,
                         size_t nv) {
    void *gmaster = weights_new(tc, p, master, n);
    pair_new(tc, g, n, DT, "g");
    pair_rand(tc, g, 0, 1);
    pair_new(tc, m, n, ST, "m");
    pair_rand(tc, m, 0, 0.1);
    pair_new(tc, v, nv, ST, "v");
    pair_second_moment(tc, v);
    return gmaster;
}

static void t_adamw(tcase *tc, size_t n) {
    pair p, master, g, m, v;
    void *gmaster = adam_inputs(tc, &p, &master, &g, &m, &v, n, n);
    /* Step 5 with a large lr and wd, so the update is far above the rounding of p. */
    double lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    double bc1 = 1 - pow(b1, 5), bc2 = 1 - pow(b2, 5);
    set_label(tc, "adamw n=%zu%s", n, gmaster ? " +master" : "");
    mb_adamw_kernels_of(tc->gb)->adamw(tc->gc, G(p), G(g), G(m), G(v), gmaster, n, lr, b1, b2, eps,
                                       wd, bc1, bc2);
    mb_adamw_kernels_of(tc->cb)->adamw(tc->cc, R(p), R(g), R(m), R(v), NULL, n, lr, b1, b2, eps, wd,
                                       bc1, bc2);
    expect_close(tc, "p", &p, tol(tc, TOL_ELEM));
    expect_close(tc, "m", &m, tol(tc, TOL_STATE));
    expect_close(tc, "v", &v, tol(tc, TOL_STATE));
    if (gmaster) expect_close2(tc, "master", &master, &p, tol(tc, TOL_STATE));
    pairs_free(tc);
}

/* adamw_many over k tensors of assorted sizes (one element, a partial block, several blocks) and
 * update counts must give, bit for bit, what adamw gives one tensor at a time; k > 224 takes more
 * than one launch. */
static void t_adamw_many(tcase *tc, int k) {
    enum { P, GR, M, V, MS, NB };
    const mb_backend *be = tc->gb;
    const mb_adamw_kernels *ak = mb_adamw_kernels_of(be);
    mb_ctx *ctx = tc->gc;
    int mixed = be->dtype != be->sdtype;
    double lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    mb_buf *bufs = calloc((size_t)k * 2 * NB, sizeof *bufs); /* [tensor][run][buffer] */
    mb_adamw_tensor *t = calloc((size_t)k, sizeof *t);
    MB_ASSERT(bufs && t);
    size_t total = 0;
    for (int i = 0; i < k; i++) {
        size_t n = i % 5 == 0 ? 1 : i % 5 == 1 ? 4097 : (size_t)(i * 977 % 9000 + 3);
        total += n;
        double *h[NB];
        h[P] = fill_normal(tc, n, 0, 1);
        h[GR] = fill_normal(tc, n, 0, 1);
        h[M] = fill_normal(tc, n, 0, 0.1);
        h[V] = fill_normal(tc, n, 0, 1);
        for (size_t j = 0; j < n; j++) h[V][j] = 0.01 * h[V][j] * h[V][j];
        h[MS] = h[P];
        for (int r = 0; r < 2; r++)
            for (int q = 0; q < NB; q++) {
                mb_buf *bb = &bufs[((size_t)i * 2 + r) * NB + q];
                if (q == MS && !mixed) continue;
                mb_dtype ty = q == P || q == GR ? be->dtype : be->sdtype;
                MUST(ctx, mb_alloc(ctx, bb, n * mb_dtype_size(ty), MB_MEM_OTHER, "adamw_many"));
                upload(ctx, bb, ty, DT, h[q], n);
            }
        for (int q = 0; q < MS; q++) free(h[q]);
        int steps = 1 + i % 7;
        mb_buf *a = &bufs[(size_t)i * 2 * NB];
        t[i] = (mb_adamw_tensor){
            a[P].ptr, a[GR].ptr,          a[M].ptr,          a[V].ptr, mixed ? a[MS].ptr : NULL,
            n,        1 - pow(b1, steps), 1 - pow(b2, steps)};
        mb_buf *c = a + NB;
        ak->adamw(ctx, c[P].ptr, c[GR].ptr, c[M].ptr, c[V].ptr, mixed ? c[MS].ptr : NULL, n, lr, b1,
                  b2, eps, wd, t[i].bc1, t[i].bc2);
    }
    set_label(tc, "adamw_many k=%d (%zu elements)%s", k, total, mixed ? " +master" : "");
    ak->adamw_many(ctx, t, k, lr, b1, b2, eps, wd);
    size_t diff = 0, bytes = 0;
    for (int i = 0; i < k; i++)
        for (int q = 0; q < NB; q++) {
            mb_buf *a = &bufs[(size_t)i * 2 * NB + q], *c = a + NB;
            if (!a->ptr) continue;
            unsigned char *x = malloc(a->bytes), *y = malloc(a->bytes);
            MB_ASSERT(x && y);
            if (fetch_raw(tc, ctx, a, x, "many") && fetch_raw(tc, ctx, c, y, "one"))
                for (size_t j = 0; j < a->bytes; j++) diff += x[j] != y[j];
            bytes += a->bytes;
            free(x);
            free(y);
        }
    printf("%-56s %-10s %zu of %zu bytes differ from one adamw a tensor  %s\n", tc->label, be->name,
           diff, bytes, diff ? "FAIL" : "ok");
    CHECK(diff == 0, "%s on %s: %zu bytes differ from adamw", tc->label, be->name, diff);
    for (size_t i = 0; i < (size_t)k * 2 * NB; i++) mb_free(ctx, &bufs[i]);
    free(bufs);
    free(t);
}

static void t_sgd(tcase *tc, size_t n) {
    static const struct {
        double momentum, dampening;
        int nesterov, first;
        const char *name;
    } cases[] = {
        {0.0, 0.0, 0, 1, "momentum=0 buf=NULL"},
        {0.9, 0.1, 0, 1, "momentum=0.9 first"},
        {0.9, 0.1, 0, 0, "momentum=0.9"},
        {0.9, 0.0, 1, 1, "nesterov first"},
        {0.9, 0.0, 1, 0, "nesterov"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double mu = cases[k].momentum, lr = 0.05, wd = 0.01;
        pair p, master, g, buf;
        void *gmaster = weights_new(tc, &p, &master, n);
        pair_new(tc, &g, n, DT, "g");
        pair_rand(tc, &g, 0, 1);
        pair_new(tc, &buf, n, ST, "buf");
        if (cases[k].first)
            pair_poison(tc, &buf); /* the first step overwrites buf */
        else
            pair_rand(tc, &buf, 0, 0.5);
        void *gbuf = mu != 0 ? G(buf) : NULL, *rbuf = mu != 0 ? R(buf) : NULL;
        set_label(tc, "sgd n=%zu %s%s", n, cases[k].name, gmaster ? " +master" : "");
        mb_sgd_kernels_of(tc->gb)->sgd(tc->gc, G(p), G(g), gbuf, gmaster, n, lr, mu,
                                       cases[k].dampening, wd, cases[k].nesterov, cases[k].first);
        mb_sgd_kernels_of(tc->cb)->sgd(tc->cc, R(p), R(g), rbuf, NULL, n, lr, mu,
                                       cases[k].dampening, wd, cases[k].nesterov, cases[k].first);
        expect_close(tc, "p", &p, tol(tc, TOL_ELEM));
        if (gbuf) expect_close(tc, "buf", &buf, tol(tc, TOL_STATE));
        if (gmaster) expect_close2(tc, "master", &master, &p, tol(tc, TOL_STATE));
        pairs_free(tc);
    }
}

/* Adafactor on p viewed as rows x cols (cols 1: the unfactored second moment), with decay; the
 * clip RMS(U)/d is active for d = 1 and not for d = 1e3, so both branches of the step are seen. */
static void t_adafactor(tcase *tc, size_t rows, size_t cols, double d) {
    size_t n = rows * cols;
    pair p, master, g, row, col;
    void *gmaster = weights_new(tc, &p, &master, n);
    pair_new(tc, &g, n, DT, "g");
    pair_rand(tc, &g, 0, 1);
    size_t nr = cols > 1 ? rows : n, nc = cols > 1 ? cols : 1;
    pair_new(tc, &row, nr, ST, "row");
    pair_new(tc, &col, nc, ST, "col");
    double *rv = fill_normal(tc, nr > nc ? nr : nc, 0, 1);
    for (size_t i = 0; i < (nr > nc ? nr : nc); i++) rv[i] = 0.5 + 0.1 * rv[i] * rv[i];
    pair_set(tc, &row, rv);
    pair_set(tc, &col, rv);
    free(rv);
    /* step 5 of torch's defaults: w = 5^-0.8, lr 0.01, eps1 1e-3 (large, so max(V, eps1^2) and
     * max(mean(row), eps1) are exercised with rows near 0.5), eps2 1e-3, weight decay 0.1 */
    double w = pow(5.0, -0.8), rho = 0.01, eps1 = 1e-3, eps2 = 1e-3, lr = 0.01, wd = 0.1;
    set_label(tc, "adafactor %zux%zu d=%g%s", rows, cols, d, gmaster ? " +master" : "");
    mb_adafactor_kernels_of(tc->gb)->adafactor(tc->gc, G(p), G(g), G(row), cols > 1 ? G(col) : NULL,
                                               gmaster, rows, cols, w, rho, eps1, eps2, d, lr, wd);
    mb_adafactor_kernels_of(tc->cb)->adafactor(tc->cc, R(p), R(g), R(row), cols > 1 ? R(col) : NULL,
                                               NULL, rows, cols, w, rho, eps1, eps2, d, lr, wd);
    expect_close(tc, "p", &p, tol(tc, TOL_ELEM));
    expect_close(tc, "row", &row, tol(tc, TOL_STATE));
    if (cols > 1) expect_close(tc, "col", &col, tol(tc, TOL_STATE));
    if (gmaster) expect_close2(tc, "master", &master, &p, tol(tc, TOL_STATE));
    pairs_free(tc);
}

/* Adam-mini over n elements in blocks of `block`. */
static void t_adam_mini(tcase *tc, size_t n, size_t block) {
    pair p, master, g, m, v;
    void *gmaster = adam_inputs(tc, &p, &master, &g, &m, &v, n, n / block);
    double lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    double bc1 = 1 - pow(b1, 5), bc2 = 1 - pow(b2, 5);
    set_label(tc, "adam_mini n=%zu block=%zu%s", n, block, gmaster ? " +master" : "");
    mb_adam_mini_kernels_of(tc->gb)->adam_mini(tc->gc, G(p), G(g), G(m), G(v), gmaster, n, block,
                                               lr, b1, b2, eps, wd, bc1, bc2);
    mb_adam_mini_kernels_of(tc->cb)->adam_mini(tc->cc, R(p), R(g), R(m), R(v), NULL, n, block, lr,
                                               b1, b2, eps, wd, bc1, bc2);
    expect_close(tc, "p", &p, tol(tc, TOL_ELEM));
    expect_close(tc, "m", &m, tol(tc, TOL_STATE));
    expect_close(tc, "v", &v, tol(tc, TOL_STATE));
    if (gmaster) expect_close2(tc, "master", &master, &p, tol(tc, TOL_STATE));
    pairs_free(tc);
}

/* One device buffer of `bytes` set from host memory (the 8-bit Adam case's raw tensors). */
static void dev_put(mb_ctx *ctx, mb_buf *b, const void *src, size_t bytes, const char *tag) {
    MUST(ctx, mb_alloc(ctx, b, bytes, MB_MEM_OTHER, tag));
    MUST(ctx, ctx->be->to_device(ctx, b->ptr, src, bytes));
}

/* 8-bit Adam (eight: codes with block absmax; else the fp32-state path) against the CPU fp32 kernel
 * on the same inputs: its float expressions are the CPU's, so weights (master under bf16), codes
 * and absmax must be equal bit for bit, and bf16 p must be master rounded. g holds a NaN and an
 * Inf (m and v zeroed, p kept); n is not a multiple of the 256-element block. */
#define CPU32 "the cpu-f32 kernel"
static void t_adam8bit(tcase *tc, size_t n, int eight) {
    mb_ctx fc;
    MUST(&fc, mb_ctx_init(&fc, &mb_backend_cpu_f32));
    const mb_dtype dt = tc->gb->dtype;
    const size_t nb = (n + MB_ADAM8_BLOCK - 1) / MB_ADAM8_BLOCK, es = eight ? 1 : sizeof(float);
    double *pv = fill_normal(tc, n, 0, 1), *gv = fill_normal(tc, n, 0, 1);
    double *sv = fill_normal(tc, 2 * n, 0, 1), *av = fill_normal(tc, 2 * nb, 0, 1);
    gv[3] = NAN;
    gv[n / 2] = INFINITY;
    /* the GPU's g in its dtype; the CPU's the same values as float */
    void *gd = malloc(n * mb_dtype_size(dt));
    float *pf = malloc(n * sizeof *pf), *gf = malloc(n * sizeof *gf), maps[512];
    float *am = malloc(2 * nb * sizeof *am);
    unsigned char *st = malloc(2 * n * es);
    MB_ASSERT(gd && pf && gf && am && st);
    mb_dtype_from_f64(dt, gd, gv, n);
    mb_dtype_to_f64(dt, gv, gd, n);
    for (size_t i = 0; i < n; i++) {
        pv[i] = pf[i] = (float)pv[i];
        gf[i] = (float)gv[i];
    }
    for (size_t i = 0; i < 2 * nb; i++) am[i] = (float)(0.05 + 0.01 * fabs(av[i]));
    for (size_t i = 0; i < 2 * n; i++) {
        if (eight)
            st[i] = (unsigned char)(mb_rng_u32(SEED, STREAM_IDS, tc->next++) & 0xFF);
        else /* m ~ 0.1 N, v ~ 0.01 chi^2 */
            ((float *)st)[i] = (float)(i < n ? 0.1 * sv[i] : 0.01 * sv[i] * sv[i]);
    }
    mb_dynmap(1, maps);
    mb_dynmap(0, maps + 256);
    int mixed = tc->gb->dtype != tc->gb->sdtype;
    void *pd = malloc(n * mb_dtype_size(dt));
    MB_ASSERT(pd);
    mb_dtype_from_f64(dt, pd, pv, n); /* bf16: p is master rounded, as training keeps it */
    mb_buf gp, gg, gs1, gs2, ga1, ga2, gm, gmaps;
    memset(&gm, 0, sizeof gm);
    dev_put(tc->gc, &gp, pd, n * mb_dtype_size(dt), "p");
    dev_put(tc->gc, &gg, gd, n * mb_dtype_size(dt), "g");
    dev_put(tc->gc, &gs1, st, n * es, "s1");
    dev_put(tc->gc, &gs2, st + n * es, n * es, "s2");
    dev_put(tc->gc, &ga1, am, nb * sizeof *am, "absmax1");
    dev_put(tc->gc, &ga2, am + nb, nb * sizeof *am, "absmax2");
    dev_put(tc->gc, &gmaps, maps, sizeof maps, "maps");
    if (mixed) dev_put(tc->gc, &gm, pf, n * sizeof *pf, "master");
    /* step 5, a large lr and weight decay: every branch of the update is taken */
    double lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    float c1 = 1.0f - powf(0.9f, 5.0f), c2 = sqrtf(1.0f - powf(0.999f, 5.0f));
    set_label(tc, "adam8bit n=%zu %s%s", n, eight ? "8-bit" : "32-bit", mixed ? " +master" : "");
    float *a1 = eight ? ga1.ptr : NULL, *a2 = eight ? ga2.ptr : NULL;
    mb_adam8bit_kernels_of(tc->gb)->adam8bit(tc->gc, gp.ptr, gg.ptr, gs1.ptr, gs2.ptr, a1, a2,
                                             gm.ptr, n, gmaps.ptr, (const float *)gmaps.ptr + 256,
                                             lr, b1, b2, eps, wd, c1, c2);
    mb_adam8bit_kernels_of(fc.be)->adam8bit(&fc, pf, gf, st, st + n * es, eight ? am : NULL,
                                            eight ? am + nb : NULL, NULL, n, maps, maps + 256, lr,
                                            b1, b2, eps, wd, c1, c2);
    expect_bytes(tc, mixed ? "master" : "p", mixed ? &gm : &gp, pf, CPU32);
    if (mixed) { /* p is the new master rounded */
        for (size_t i = 0; i < n; i++) pv[i] = pf[i];
        mb_dtype_from_f64(dt, pd, pv, n);
        expect_bytes(tc, "p", &gp, pd, CPU32);
    }
    expect_bytes(tc, eight ? "codes m" : "m", &gs1, st, CPU32);
    expect_bytes(tc, eight ? "codes v" : "v", &gs2, st + n * es, CPU32);
    if (eight) {
        expect_bytes(tc, "absmax m", &ga1, am, CPU32);
        expect_bytes(tc, "absmax v", &ga2, am + nb, CPU32);
    }
    mb_buf *bufs[] = {&gp, &gg, &gs1, &gs2, &ga1, &ga2, &gmaps, &gm};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) mb_free(tc->gc, bufs[i]);
    free(pv), free(gv), free(sv), free(av), free(gd), free(pf), free(gf), free(am), free(st);
    free(pd);
    mb_ctx_fini(&fc);
}

/* Mesa's 8-bit codec against the CPU fp32 kernels on the same values (q8.h is one text for
 * both): ranges, codes and decoded elements equal bit for bit, for the attention probabilities'
 * layout [B, NH, T, T] by heads (causal: above the diagonals NaN and 1e30, to be ignored) and qkv
 * [B*T, 3C] by thirds of heads; a second call (first = 0) moves the ranges, values shifted and
 * wider so some fall above them and saturate. */
static void t_q8(tcase *tc, const shape *s, int att) {
    mb_ctx fc;
    MUST(&fc, mb_ctx_init(&fc, &mb_backend_cpu_f32));
    const mb_dtype dt = tc->gb->dtype;
    const size_t es = mb_dtype_size(dt), hd = (size_t)(s->C / s->NH);
    const size_t n = att ? (size_t)s->B * s->NH * s->T * s->T : (size_t)s->B * s->T * 3 * s->C;
    const size_t inner = att ? (size_t)s->T * s->T : hd;
    const int G = att ? s->NH : 3 * s->NH;
    const size_t tri = att ? (size_t)s->T : 0;
    float *fst = malloc(4 * (size_t)G * sizeof *fst), *xf = malloc(n * sizeof *xf);
    float *yf = malloc(n * sizeof *yf);
    uint8_t *fq = malloc(n);
    void *xd = malloc(n * es), *yd = malloc(n * es);
    MB_ASSERT(fst && xf && yf && fq && xd && yd);
    for (int g = 0; g < G; g++)
        fst[g] = 1, fst[G + g] = 0, fst[2 * G + g] = INFINITY, fst[3 * G + g] = -INFINITY;
    mb_buf gst, gx, gq, gy;
    dev_put(tc->gc, &gst, fst, 4 * (size_t)G * sizeof *fst, "ranges");
    MUST(tc->gc, mb_alloc(tc->gc, &gq, n, MB_MEM_OTHER, "codes"));
    MUST(tc->gc, mb_alloc(tc->gc, &gy, n * es, MB_MEM_OTHER, "decoded"));
    for (int round = 0; round < 2; round++) {
        double *v = fill_normal(tc, n, round ? 0.3 : 0.0, round ? 1.5 : 1.0);
        for (size_t i = 0; i < n; i++) {
            v[i] *= 1 + (double)mb_q8_group(i, inner, G); /* per group */
            if (mb_q8_skip(i, tri)) v[i] = i % 2 ? NAN : 1e30;
        }
        mb_dtype_from_f64(dt, xd, v, n);
        mb_dtype_to_f64(dt, v, xd, n);
        for (size_t i = 0; i < n; i++) xf[i] = (float)v[i];
        dev_put(tc->gc, &gx, xd, n * es, "x");
        set_label(tc, "q8 %s B=%d NH=%d T=%d C=%d%s", att ? "att" : "qkv", s->B, s->NH, s->T, s->C,
                  round ? " (range moved)" : "");
        uint64_t first = (uint64_t)(round + 3) << 32;
        const mb_mesa_kernels *gq8 = mb_mesa_kernels_of(tc->gb), *fq8 = mb_mesa_kernels_of(fc.be);
        gq8->q8_range(tc->gc, gst.ptr, gx.ptr, n, inner, G, tri, 0.9f, !round);
        gq8->q8_pack(tc->gc, gq.ptr, gx.ptr, gst.ptr, n, inner, G, tri, 77,
                     mb_rng_stream("mesa.rounding"), first);
        gq8->q8_unpack(tc->gc, gy.ptr, gq.ptr, gst.ptr, n, inner, G, tri);
        fq8->q8_range(&fc, fst, xf, n, inner, G, tri, 0.9f, !round);
        fq8->q8_pack(&fc, fq, xf, fst, n, inner, G, tri, 77, mb_rng_stream("mesa.rounding"), first);
        fq8->q8_unpack(&fc, yf, fq, fst, n, inner, G, tri);
        for (size_t i = 0; i < n; i++) v[i] = yf[i];
        mb_dtype_from_f64(dt, yd, v, n); /* float to dtype, rounded to nearest as the GPU's */
        expect_bytes(tc, "ranges", &gst, fst, CPU32);
        expect_bytes(tc, "codes", &gq, fq, CPU32);
        expect_bytes(tc, "decoded", &gy, yd, CPU32);
        mb_free(tc->gc, &gx);
        free(v);
    }
    mb_free(tc->gc, &gst), mb_free(tc->gc, &gq), mb_free(tc->gc, &gy);
    free(fst), free(xf), free(yf), free(fq), free(xd), free(yd);
    mb_ctx_fini(&fc);
}

/* Flash attention (bf16 tensor cores) against the CPU's flash kernels in fp64 on the same bf16
 * inputs, NH query heads over KV kv heads: out and dqkv within the element tolerance, the
 * log-sum-exp within 1e-4 (fp32 sums); a rerun of backward gives the same bits. */
static void t_flash(tcase *tc, int B, int T, int NH, int KV, int hs) {
    const int C = NH * hs, W = C + 2 * KV * hs;
    const size_t n3 = (size_t)B * T * W, n1 = (size_t)B * T * C, rows = (size_t)B * NH * T;
    pair qkv, dout, out, lse, D, dqkv;
    pair_new(tc, &qkv, n3, DT, "qkv");
    pair_rand(tc, &qkv, 0, 1);
    pair_new(tc, &dout, n1, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &out, n1, DT, "out");
    pair_new(tc, &lse, rows, ST, "lse");
    pair_new(tc, &D, rows, ST, "D");
    pair_new(tc, &dqkv, n3, DT, "dqkv");
    pair_poison(tc, &out);
    pair_poison(tc, &dqkv);
    set_label(tc, "flash B=%d T=%d NH=%d KV=%d hs=%d", B, T, NH, KV, hs);
    const mb_flash_kernels *gk = mb_flash_kernels_of(tc->gb), *ck = mb_flash_kernels_of(tc->cb);
    if (gk->init) MUST(tc->gc, gk->init(tc->gc));
    gk->flash_fwd(tc->gc, G(out), G(lse), G(qkv), B, T, C, NH, KV);
    ck->flash_fwd(tc->cc, R(out), R(lse), R(qkv), B, T, C, NH, KV);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));
    expect_close(tc, "lse", &lse, 1e-4);
    /* backward from the reference's out (rounded to bf16, as the GPU's own is) on both sides */
    pair_from_ref(tc, &out);
    gk->flash_bwd(tc->gc, G(dqkv), G(dout), G(qkv), G(out), G(lse), G(D), B, T, C, NH, KV);
    ck->flash_bwd(tc->cc, R(dqkv), R(dout), R(qkv), R(out), R(lse), R(D), B, T, C, NH, KV);
    expect_close(tc, "dqkv", &dqkv, tol(tc, TOL_ELEM));
    void *first = gpu_bytes(tc, &dqkv, "dqkv");
    pair_poison(tc, &dqkv);
    gk->flash_bwd(tc->gc, G(dqkv), G(dout), G(qkv), G(out), G(lse), G(D), B, T, C, NH, KV);
    expect_same(tc, "dqkv", &dqkv, first);
    free(first);
    pairs_free(tc);
}

/* --- gradient projection (galore, apollo): sdtype kernels against the fp64 CPU --- */

/* C = alpha op(A) op(B) + beta C for every transpose pair, C starting non-zero: gemm_s in sdtype
 * (dt 0), or gemm in dtype (dt 1, LoRA's products) with the linear layers' tolerance. */
static void t_gemm(tcase *tc, int dt, int M, int N, int K) {
    const char *nm = dt ? "gemm" : "gemm_s";
    int kind = dt ? DT : ST;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            pair a, b, c;
            pair_new(tc, &a, (size_t)M * K, kind, "A");
            pair_rand(tc, &a, 0, 1);
            pair_new(tc, &b, (size_t)K * N, kind, "B");
            pair_rand(tc, &b, 0, 1);
            pair_new(tc, &c, (size_t)M * N, kind, "C");
            pair_rand(tc, &c, 0, 1);
            int lda = ta ? M : K, ldb = tb ? K : N;
            set_label(tc, "%s M=%d N=%d K=%d ta=%d tb=%d", nm, M, N, K, ta, tb);
            (dt ? tc->gb->gemm : tc->gb->gemm_s)(tc->gc, ta, tb, M, N, K, -0.5, G(a), lda, G(b),
                                                 ldb, 1.0, G(c), N);
            tc->cb->gemm_s(tc->cc, ta, tb, M, N, K, -0.5, R(a), lda, R(b), ldb, 1.0, R(c), N);
            expect_close(tc, "C", &c, dt ? tol(tc, TOL_GEMM) : 1e-5);
            pairs_free(tc);
        }
}

/* The top r singular vectors, signs included: cuSOLVER's fp32 gesvdj against LAPACK's fp64 gesvd
 * on a matrix with singular values 0.9^j (planted.h): a vector is then determined to about
 * eps32 / 0.1, and 1e-4 relative is a bound with room. (On random Gaussian matrices neighbouring
 * singular values can nearly coincide and single vectors are not determined at all.) */
static void t_svd_top(tcase *tc, int m, int n, int r) {
    for (int right = 0; right < 2; right++) {
        pair a, out;
        pair_new(tc, &a, (size_t)m * n, ST, "a");
        double *av = malloc((size_t)m * n * sizeof *av);
        MB_ASSERT(av);
        planted_matrix(av, m, n, (uint64_t)(m * 31 + n + right));
        pair_set(tc, &a, av);
        free(av);
        pair_new(tc, &out, (size_t)(right ? n : m) * r, ST, "out");
        pair_poison(tc, &out);
        set_label(tc, "svd_top %dx%d r=%d %s", m, n, r, right ? "right" : "left");
        mb_status gs = mb_galore_kernels_of(tc->gb)->svd_top(tc->gc, G(a), m, n, r, right, G(out));
        mb_status cs = mb_galore_kernels_of(tc->cb)->svd_top(tc->cc, R(a), m, n, r, right, R(out));
        CHECK(gs == MB_OK && cs == MB_OK, "%s: %s / %s: %s", tc->label, mb_status_name(gs),
              mb_status_name(cs), tc->gc->err);
        expect_close(tc, "vectors", &out, 1e-4);
        pairs_free(tc);
    }
}

static void t_adam_dir(tcase *tc, size_t n) {
    pair x, m, v, out;
    pair_new(tc, &x, n, ST, "x");
    pair_rand(tc, &x, 0, 1);
    pair_new(tc, &m, n, ST, "m");
    pair_rand(tc, &m, 0, 0.1);
    pair_new(tc, &v, n, ST, "v");
    pair_second_moment(tc, &v);
    pair_new(tc, &out, n, ST, "out");
    pair_poison(tc, &out);
    set_label(tc, "adam_dir n=%zu", n);
    mb_projection_kernels_of(tc->gb)->adam_dir(tc->gc, G(x), G(out), G(m), G(v), n, 0.9, 0.999,
                                               1e-6);
    mb_projection_kernels_of(tc->cb)->adam_dir(tc->cc, R(x), R(out), R(m), R(v), n, 0.9, 0.999,
                                               1e-6);
    expect_close(tc, "out", &out, 1e-5);
    expect_close(tc, "m", &m, 1e-5);
    expect_close(tc, "v", &v, 1e-5);
    pairs_free(tc);
}

static void t_axpy_decay(tcase *tc, size_t n) {
    for (int with_d = 0; with_d < 2; with_d++) {
        pair p, master, d;
        void *gmaster = weights_new(tc, &p, &master, n);
        pair_new(tc, &d, n, ST, "d");
        pair_rand(tc, &d, 0, 1);
        set_label(tc, "axpy_decay n=%zu%s%s", n, with_d ? "" : " d=NULL",
                  gmaster ? " +master" : "");
        tc->gb->axpy_decay(tc->gc, G(p), gmaster, with_d ? G(d) : NULL, n, -0.05, 0.999);
        tc->cb->axpy_decay(tc->cc, R(p), NULL, with_d ? R(d) : NULL, n, -0.05, 0.999);
        expect_close(tc, "p", &p, tol(tc, TOL_ELEM));
        if (gmaster) expect_close2(tc, "master", &master, &p, tol(tc, TOL_STATE));
        pairs_free(tc);
    }
}

/* MeZO's seeded move w = 0.999 w + 0.01 z, z regenerated on each side (an odd first index starts
 * mid-block); the GPU's fp64 log/cos/sin may differ from glibc's in the last bit, far under the
 * element tolerance. */
static void t_zo_axpy(tcase *tc, size_t n) {
    pair p, master;
    void *gmaster = weights_new(tc, &p, &master, n);
    set_label(tc, "zo_axpy n=%zu%s", n, gmaster ? " +master" : "");
    mb_mezo_kernels_of(tc->gb)->zo_axpy(tc->gc, G(p), gmaster, n, 77, 3, 1001, 0.01, 0.999);
    mb_mezo_kernels_of(tc->cb)->zo_axpy(tc->cc, R(p), NULL, n, 77, 3, 1001, 0.01, 0.999);
    expect_close(tc, "p", &p, tol(tc, TOL_ELEM));
    if (gmaster) expect_close2(tc, "master", &master, &p, tol(tc, TOL_STATE));
    pairs_free(tc);
}

/* APOLLO's update on p[m,n]: channel scales per row (axis 1, R m x r), per column (axis 0,
 * R r x n), or one (axis -1); the limiter with a previous norm low enough to act, with none yet
 * (-1), and off. */
static void t_apollo_update(tcase *tc, size_t m, size_t n, size_t r) {
    static const struct {
        int axis, front;
        double prev; /* > 0: limiter on with this previous norm; -1: on, first step; 0: off */
    } cases[] = {{1, 0, 1.0}, {0, 1, 1.0}, {-1, 0, -1}, {-1, 1, 0}, {1, 1, -1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int axis = cases[k].axis;
        size_t rows = axis == 0 ? r : m, cols = axis == 0 ? n : r;
        pair p, master, g, R, N, lim, sc;
        void *gmaster = weights_new(tc, &p, &master, m * n);
        pair_new(tc, &g, m * n, DT, "g");
        pair_rand(tc, &g, 0, 1);
        pair_new(tc, &R, rows * cols, ST, "R");
        pair_rand(tc, &R, 0, 1);
        pair_new(tc, &N, rows * cols, ST, "N");
        pair_rand(tc, &N, 0, 3);
        pair_new(tc, &lim, 1, ST, "lim");
        double prev = cases[k].prev;
        pair_set(tc, &lim, &prev);
        pair_new(tc, &sc, rows > cols ? rows : cols, ST, "scales");
        int on = prev != 0;
        set_label(tc, "apollo_update %zux%zu r=%zu axis=%d front=%d lim=%g%s", m, n, r, axis,
                  cases[k].front, prev, gmaster ? " +master" : "");
        mb_apollo_kernels_of(tc->gb)->apollo_update(tc->gc, G(p), G(g), gmaster, G(R), G(N), m, n,
                                                    rows, cols, axis, cases[k].front, 3.0,
                                                    on ? G(lim) : NULL, 0.01, 0.999, G(sc));
        mb_apollo_kernels_of(tc->cb)->apollo_update(tc->cc, R(p), R(g), NULL, R(R), R(N), m, n,
                                                    rows, cols, axis, cases[k].front, 3.0,
                                                    on ? R(lim) : NULL, 0.01, 0.999, R(sc));
        expect_close(tc, "p", &p, tol(tc, TOL_ELEM));
        if (gmaster) expect_close2(tc, "master", &master, &p, tol(tc, TOL_STATE));
        expect_close(tc, "limiter", &lim, tol(tc, TOL_STATE));
        pairs_free(tc);
    }
}

/* --- the LLaMA kernels (RMSNorm, rotary embedding, SwiGLU) and grouped-query attention --- */

/* RMSNorm forward: out and the saved rstd (fp32 on every table) against fp64. */
static void t_rmsnorm_fwd(tcase *tc, int N, int C) {
    pair inp, w, out, rstd;
    pair_new(tc, &inp, (size_t)N * C, DT, "inp");
    pair_rand(tc, &inp, 0.5, 2);
    pair_new(tc, &w, (size_t)C, DT, "w");
    pair_rand(tc, &w, 1, 0.3);
    pair_new(tc, &out, (size_t)N * C, DT, "out");
    pair_poison(tc, &out);
    pair_new(tc, &rstd, (size_t)N, ST, "rstd");
    pair_poison(tc, &rstd);
    set_label(tc, "rmsnorm_fwd N=%d C=%d", N, C);
    tc->gb->rmsnorm_fwd(tc->gc, G(out), G(rstd), G(inp), G(w), N, C, 1e-5);
    tc->cb->rmsnorm_fwd(tc->cc, R(out), R(rstd), R(inp), R(w), N, C, 1e-5);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));
    expect_close(tc, "rstd", &rstd, tol(tc, TOL_ELEM));
    pairs_free(tc);
}

/* RMSNorm backward ("+=" into dinp and dw) from the reference forward's rstd; a rerun gives the
 * same bits (dw's fixed-order column sums); each output left out in turn. */
static void t_rmsnorm_bwd(tcase *tc, int N, int C) {
    pair inp, w, out, rstd, dout, dinp, dw;
    pair_new(tc, &inp, (size_t)N * C, DT, "inp");
    pair_rand(tc, &inp, 0.5, 2);
    pair_new(tc, &w, (size_t)C, DT, "w");
    pair_rand(tc, &w, 1, 0.3);
    pair_new(tc, &out, (size_t)N * C, DT, "out");
    pair_new(tc, &rstd, (size_t)N, ST, "rstd");
    tc->cb->rmsnorm_fwd(tc->cc, R(out), R(rstd), R(inp), R(w), N, C, 1e-5);
    pair_from_ref(tc, &rstd);
    pair_new(tc, &dout, (size_t)N * C, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &dinp, (size_t)N * C, DT, "dinp");
    pair_rand(tc, &dinp, 0, 1);
    pair_new(tc, &dw, (size_t)C, DT, "dw");
    pair_rand(tc, &dw, 0, 1);
    set_label(tc, "rmsnorm_bwd N=%d C=%d", N, C);
    tc->gb->rmsnorm_bwd(tc->gc, G(dinp), G(dw), G(dout), G(inp), G(w), G(rstd), N, C);
    tc->cb->rmsnorm_bwd(tc->cc, R(dinp), R(dw), R(dout), R(inp), R(w), R(rstd), N, C);
    expect_close(tc, "dinp", &dinp, tol(tc, TOL_ELEM));
    expect_close(tc, "dw", &dw, tol(tc, TOL_ELEM));

    void *f_dinp = gpu_bytes(tc, &dinp, "dinp"), *f_dw = gpu_bytes(tc, &dw, "dw");
    pair_reset(tc, &dinp);
    pair_reset(tc, &dw);
    tc->gb->rmsnorm_bwd(tc->gc, G(dinp), G(dw), G(dout), G(inp), G(w), G(rstd), N, C);
    expect_same(tc, "dinp", &dinp, f_dinp);
    expect_same(tc, "dw", &dw, f_dw);
    free(f_dinp);
    free(f_dw);

    pair_reset(tc, &dinp);
    pair_reset(tc, &dw);
    set_label(tc, "rmsnorm_bwd N=%d C=%d dinp=NULL", N, C);
    tc->gb->rmsnorm_bwd(tc->gc, NULL, G(dw), G(dout), G(inp), G(w), G(rstd), N, C);
    tc->cb->rmsnorm_bwd(tc->cc, NULL, R(dw), R(dout), R(inp), R(w), R(rstd), N, C);
    expect_close(tc, "dw", &dw, tol(tc, TOL_ELEM));
    expect_close(tc, "dinp", &dinp, 0.0); /* untouched: the values set */
    pair_reset(tc, &dw);
    set_label(tc, "rmsnorm_bwd N=%d C=%d dw=NULL", N, C);
    tc->gb->rmsnorm_bwd(tc->gc, G(dinp), NULL, G(dout), G(inp), G(w), G(rstd), N, C);
    tc->cb->rmsnorm_bwd(tc->cc, R(dinp), NULL, R(dout), R(inp), R(w), R(rstd), N, C);
    expect_close(tc, "dinp", &dinp, tol(tc, TOL_ELEM));
    expect_close(tc, "dw", &dw, 0.0);
    pairs_free(tc);
}

/* Rotary embedding in place on x[B, T, ld] (H heads of hs from column 0; the columns past them
 * must keep their values exactly), forward then inverse, each against fp64; the inverse of the
 * GPU's forward gives back the input within the tolerance, twice with the same bits. */
static void t_rope(tcase *tc, int B, int T, int H, int hs, int ld, double theta) {
    const size_t n = (size_t)B * T * ld;
    pair x, x0;
    pair_new(tc, &x, n, DT, "x");
    pair_rand(tc, &x, 0, 1);
    pair_new(tc, &x0, n, DT, "x0");
    pair_set(tc, &x0, x.h);
    set_label(tc, "rope B=%d T=%d H=%d hs=%d ld=%d theta=%g", B, T, H, hs, ld, theta);
    tc->gb->rope(tc->gc, G(x), B, T, H, hs, ld, theta, 0);
    tc->cb->rope(tc->cc, R(x), B, T, H, hs, ld, theta, 0);
    expect_close(tc, "x", &x, tol(tc, TOL_ELEM));
    pair_from_ref(tc, &x); /* both sides from the reference's rotation */
    tc->gb->rope(tc->gc, G(x), B, T, H, hs, ld, theta, 1);
    tc->cb->rope(tc->cc, R(x), B, T, H, hs, ld, theta, 1);
    set_label(tc, "rope inverse B=%d T=%d H=%d hs=%d ld=%d", B, T, H, hs, ld);
    expect_close(tc, "x", &x, tol(tc, TOL_ELEM));
    expect_close2(tc, "x back to the input", &x, &x0, tol(tc, TOL_ELEM));
    void *first = gpu_bytes(tc, &x, "x");
    pair_reset(tc, &x); /* the reference's rotation again (pair_from_ref kept it) */
    tc->gb->rope(tc->gc, G(x), B, T, H, hs, ld, theta, 1);
    expect_same(tc, "x", &x, first);
    free(first);
    pairs_free(tc);
}

static void t_swiglu(tcase *tc, size_t n) {
    pair gate, up, out, dout, dgate, dup;
    pair_new(tc, &gate, n, DT, "gate");
    pair_rand(tc, &gate, 0, 2);
    pair_new(tc, &up, n, DT, "up");
    pair_rand(tc, &up, 0, 1);
    pair_new(tc, &out, n, DT, "out");
    pair_poison(tc, &out);
    set_label(tc, "swiglu_fwd n=%zu", n);
    tc->gb->swiglu_fwd(tc->gc, G(out), G(gate), G(up), n);
    tc->cb->swiglu_fwd(tc->cc, R(out), R(gate), R(up), n);
    expect_close(tc, "out", &out, tol(tc, TOL_ELEM));

    pair_new(tc, &dout, n, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &dgate, n, DT, "dgate");
    pair_poison(tc, &dgate);
    pair_new(tc, &dup, n, DT, "dup");
    pair_poison(tc, &dup);
    set_label(tc, "swiglu_bwd n=%zu", n);
    tc->gb->swiglu_bwd(tc->gc, G(dgate), G(dup), G(dout), G(gate), G(up), n);
    tc->cb->swiglu_bwd(tc->cc, R(dgate), R(dup), R(dout), R(gate), R(up), n);
    expect_close(tc, "dgate", &dgate, tol(tc, TOL_ELEM));
    expect_close(tc, "dup", &dup, tol(tc, TOL_ELEM));
    void *f_dgate = gpu_bytes(tc, &dgate, "dgate"), *f_dup = gpu_bytes(tc, &dup, "dup");
    pair_poison(tc, &dgate);
    pair_poison(tc, &dup);
    tc->gb->swiglu_bwd(tc->gc, G(dgate), G(dup), G(dout), G(gate), G(up), n);
    expect_same(tc, "dgate", &dgate, f_dgate);
    expect_same(tc, "dup", &dup, f_dup);
    free(f_dup);

    /* dgate aliasing dout, as the model calls it: the same bits as the separate call */
    pair_poison(tc, &dup);
    set_label(tc, "swiglu_bwd n=%zu dgate=dout", n);
    tc->gb->swiglu_bwd(tc->gc, G(dout), G(dup), G(dout), G(gate), G(up), n);
    tc->cb->swiglu_bwd(tc->cc, R(dout), R(dup), R(dout), R(gate), R(up), n);
    expect_close(tc, "dup", &dup, tol(tc, TOL_ELEM));
    expect_same(tc, "dgate", &dout, f_dgate);
    free(f_dgate);
    pairs_free(tc);
}

/* Grouped-query attention, NH query heads over KV kv heads of hs: qkv [B, T, (NH + 2 KV) hs].
 * Forward: out and the probabilities on and below the diagonal. Backward from the reference's
 * probabilities: dqkv (every column written: poisoned first), and a rerun gives the same bits
 * (a kv head's dk and dv summed over its query heads in a fixed order). */
static void t_attention_gqa(tcase *tc, int B, int T, int NH, int KV, int hs) {
    const int C = NH * hs, W = C + 2 * KV * hs;
    pair qkv, out, att, dout, dqkv, scratch;
    pair_new(tc, &qkv, (size_t)B * T * W, DT, "qkv");
    pair_rand(tc, &qkv, 0, 1);
    pair_new(tc, &out, (size_t)B * T * C, DT, "out");
    pair_poison(tc, &out);
    pair_new(tc, &att, (size_t)B * NH * T * T, DT, "att");
    pair_poison(tc, &att);
    set_label(tc, "attention_fwd B=%d T=%d NH=%d KV=%d hs=%d", B, T, NH, KV, hs);
    tc->gb->attention_fwd(tc->gc, G(out), G(att), G(qkv), B, T, C, NH, KV);
    tc->cb->attention_fwd(tc->cc, R(out), R(att), R(qkv), B, T, C, NH, KV);
    expect_close(tc, "out", &out, tol(tc, TOL_GEMM));
    compare(tc, "att", &att, &att, tol(tc, TOL_GEMM), T);

    pair_from_ref(tc, &att);
    pair_new(tc, &dout, (size_t)B * T * C, DT, "dout");
    pair_rand(tc, &dout, 0, 1);
    pair_new(tc, &dqkv, (size_t)B * T * W, DT, "dqkv");
    pair_poison(tc, &dqkv);
    pair_new(tc, &scratch, (size_t)B * NH * T, DT, "scratch");
    pair_poison(tc, &scratch);
    set_label(tc, "attention_bwd B=%d T=%d NH=%d KV=%d hs=%d", B, T, NH, KV, hs);
    tc->gb->attention_bwd(tc->gc, G(dqkv), G(scratch), G(dout), G(qkv), G(att), B, T, C, NH, KV);
    tc->cb->attention_bwd(tc->cc, R(dqkv), R(scratch), R(dout), R(qkv), R(att), B, T, C, NH, KV);
    expect_close(tc, "dqkv", &dqkv, tol(tc, TOL_GEMM));
    void *first = gpu_bytes(tc, &dqkv, "dqkv");
    pair_reset(tc, &att); /* backward overwrote it */
    pair_poison(tc, &dqkv);
    tc->gb->attention_bwd(tc->gc, G(dqkv), G(scratch), G(dout), G(qkv), G(att), B, T, C, NH, KV);
    expect_same(tc, "dqkv", &dqkv, first);
    free(first);
    pairs_free(tc);
}

/* A group of cases runs when its name holds the filter (test_cuda_kernels [FILTER [TABLE]], or
 * MB_TEST_FILTER): "llama" runs every LLaMA case, "llama.rope" the rotary embedding's only. */
static int sel(const tcase *tc, const char *group) {
    return !tc->filter || strstr(group, tc->filter) != NULL;
}

/* The LLaMA kernels on the shared shapes, rotary embeddings on q- and k-like views of a GQA qkv,
 * grouped-query attention (4 query heads over 2 and over 1), and flash's where the table has it. */
static void run_llama(tcase *tc) {
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        const shape *s = &SHAPES[i];
        const int N = s->B * s->T;
        if (sel(tc, "llama.rmsnorm")) t_rmsnorm_fwd(tc, N, s->C), t_rmsnorm_bwd(tc, N, s->C);
        if (sel(tc, "llama.swiglu")) t_swiglu(tc, (size_t)N * s->C);
    }
    if (sel(tc, "llama.rmsnorm")) t_rmsnorm_bwd(tc, 5000, 40); /* 5,000 rows: 157 partial sums */
    /* the 16-byte row kernels' edges: C = 264 and 136 take two passes of 32 lanes with the last one
     * partial (bf16 packs of 8: 33; float packs of 4: 34), C = 20 is a whole number of float packs
     * but not of bf16 ones (one element a lane) */
    static const int RMS_C[] = {264, 136, 20};
    for (size_t i = 0; i < sizeof RMS_C / sizeof RMS_C[0]; i++)
        if (sel(tc, "llama.rmsnorm"))
            t_rmsnorm_fwd(tc, 37, RMS_C[i]), t_rmsnorm_bwd(tc, 37, RMS_C[i]);
    if (sel(tc, "llama.swiglu")) t_swiglu(tc, 1);
    if (sel(tc, "llama.swiglu")) t_swiglu(tc, 807); /* a tail of 7 after the packs (3 for float) */
    if (sel(tc, "llama.rope")) {
        t_rope(tc, 2, 5, 3, 8, 24, 10000.0);       /* rows exactly the heads */
        t_rope(tc, 2, 64, 6, 16, 128, 10000.0);    /* q and k of a [4 + 2*2] x 16 qkv row at once */
        t_rope(tc, 2, 64, 2, 16, 128, 10000.0);    /* two heads of that row */
        t_rope(tc, 1, 1024, 2, 64, 256, 500000.0); /* long positions, Llama 3's theta */
        t_rope(tc, 3, 7, 1, 2, 5, 10000.0);        /* head size 2, odd row width */
    }
    static const struct {
        int B, T, hs;
    } att[] = {{2, 5, 6}, {2, 64, 16}, {1, 300, 32}, {1, 1000, 64}};
    for (size_t i = 0; sel(tc, "llama.gqa") && i < sizeof att / sizeof att[0]; i++)
        for (int KV = 2; KV >= 1; KV--) t_attention_gqa(tc, att[i].B, att[i].T, 4, KV, att[i].hs);
    for (int hs = 32; sel(tc, "llama.flash_gqa") && mb_flash_kernels_of(tc->gb) && hs <= 128;
         hs *= 2) {
        t_flash(tc, 2, 64, 4, 2, hs);
        t_flash(tc, 2, 300, 4, 2, hs);
        t_flash(tc, 1, 1000, 4, 1, hs);
    }
}

static int run_table(const mb_backend *be, const char *filter) {
    mb_ctx gc, cc;
    CHECK_OK(&gc, mb_ctx_init(&gc, be));
    CHECK_OK(&cc, mb_ctx_init(&cc, &mb_backend_cpu_f64));
    CHECK(cc.be->dtype == MB_F64 && cc.be->sdtype == MB_F64, "the reference is fp64 throughout");
    CHECK(be->sdtype == MB_F32, "%s: statistics and optimizer state in %s, expected f32", be->name,
          mb_dtype_name(be->sdtype));
    tcase tc = {.gc = &gc, .cc = &cc, .gb = be, .cb = cc.be, .filter = filter};
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        const shape *s = &SHAPES[i];
        if (!sel(&tc, "gpt")) break;
        t_encoder_fwd(&tc, s);
        t_encoder_bwd(&tc, s);
        t_layernorm_fwd(&tc, s);
        t_layernorm_bwd(&tc, s);
        t_matmul_fwd(&tc, s);
        t_matmul_bwd(&tc, s);
        t_attention_fwd(&tc, s);
        t_attention_bwd(&tc, s);
        t_gelu_fwd(&tc, s);
        t_gelu_bwd(&tc, s);
        t_residual_fwd(&tc, s);
        t_matmul_fused(&tc, s);
        t_crossentropy_fwd(&tc, s);
        t_crossentropy_bwd(&tc, s);
        t_crossentropy_fused(&tc, s);
    }
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        const shape *s = &SHAPES[i];
        if (!sel(&tc, "optim")) break;
        size_t n = (size_t)s->B * s->T * s->C;
        t_widen(&tc, n);
        t_adamw(&tc, n);
        t_sgd(&tc, n);
        t_adafactor(&tc, (size_t)s->B * s->T, (size_t)s->C, 1.0);
        t_adafactor(&tc, (size_t)s->B * s->T, (size_t)s->C, 1e3);
        t_adafactor(&tc, n, 1, 1.0);
        t_adam_mini(&tc, n, (size_t)s->C);
        t_adam_mini(&tc, n, n);
        if (n % 2 == 0) t_adam_mini(&tc, n, n / 2); /* two large blocks: the split path */
        t_adam8bit(&tc, n, 1);
        t_adam8bit(&tc, n, 0);
        t_adam_dir(&tc, n);
        t_axpy_decay(&tc, n);
        t_zo_axpy(&tc, n);
        t_gemm(&tc, 0, s->B * s->T, s->C, s->NH * 3 + 1);
        /* LoRA's shapes: x A^T (K = C), u B^T (K = r), dout^T u (K = N) */
        t_gemm(&tc, 1, s->B * s->T, 8, s->C);
        t_gemm(&tc, 1, s->B * s->T, s->C, 8);
        t_gemm(&tc, 1, s->C, 8, s->B * s->T);
        t_apollo_update(&tc, (size_t)s->B * s->T, (size_t)s->C, (size_t)s->NH);
    }
    for (size_t i = 0; sel(&tc, "mesa") && i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        t_q8(&tc, &SHAPES[i], 1);
        t_q8(&tc, &SHAPES[i], 0);
    }
    /* flash attention where the table has it (bf16): T = 64, 1024 and 1000 (a partial last tile),
     * each head size with a kernel */
    for (int hs = 32; sel(&tc, "flash") && mb_flash_kernels_of(be) && hs <= 128; hs *= 2) {
        t_flash(&tc, 2, 64, 3, 3, hs);
        t_flash(&tc, 1, 1024, 2, 2, hs);
        t_flash(&tc, 2, 1000, 2, 2, hs);
    }
    if (sel(&tc, "optim")) {
        t_adamw_many(&tc, 6);
        t_adamw_many(&tc, 300); /* two launches */
        /* SVD shapes of the projected GPT matrices: tall, wide, square */
        t_svd_top(&tc, 192, 64, 8);
        t_svd_top(&tc, 300, 1000, 16);
        t_svd_top(&tc, 1000, 300, 16);
        t_svd_top(&tc, 64, 64, 32);
    }
    run_llama(&tc);
    mb_ctx_fini(&gc);
    mb_ctx_fini(&cc);
    CHECK(gc.mem.live == 0, "%s: %zu device buffers never freed", be->name, gc.mem.live);
    CHECK(cc.mem.live == 0, "cpu-f64: %zu buffers never freed", cc.mem.live);
    return 0;
}

/* test_cuda_kernels [FILTER [TABLE]]: FILTER (or MB_TEST_FILTER) selects groups of cases by name
 * (gpt, optim, mesa, flash, llama.rmsnorm, llama.rope, llama.swiglu, llama.gqa, llama.flash_gqa),
 * TABLE one of cuda-f32, cuda-tf32, cuda-bf16. */
int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : getenv("MB_TEST_FILTER");
    const char *only = argc > 2 ? argv[2] : NULL;
    if (filter && !*filter) filter = NULL;
    mb_ctx probe;
    if (mb_ctx_init(&probe, &mb_backend_cuda_f32) != MB_OK) {
        printf("skipped: no usable CUDA device: %s\n", probe.err);
        return 77;
    }
    mb_ctx_fini(&probe);
    CHECK_EQ_U(probe.mem.live, 0);
    const mb_backend *tables[] = {&mb_backend_cuda_f32, &mb_backend_cuda_tf32,
                                  &mb_backend_cuda_bf16};
    int ran = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        if (only && strcmp(only, tables[i]->name)) continue;
        ran++;
        if (run_table(tables[i], filter) != 0) return 1;
    }
    CHECK(ran > 0, "no table is named %s (cuda-f32, cuda-tf32, cuda-bf16)", only ? only : "");
    CHECK_DONE();
}
