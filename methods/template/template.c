/* methods/template/template.c — a working copy-me method, built as an out-of-tree plugin:
 * signSGD (p -= lr * sign(g)). Load it with `membench run --plugin build/libmb_template.so ...`. */

/* How to write a method, step by step:
 * (1) Copy this folder to methods/<name>/ (or keep it out of tree as a plugin, as here).
 * (2) Rename: the method's `name` is what suites write under `methods:`; keep names lower-case.
 * (3) Fill `paper` with the full citation and `summary` with one line.
 * (4) Declare every hyperparameter in params[] with the official code's default; say in `help`
 *     where the paper and the code differ. The suite loader validates YAML against this table.
 * (5) Put all state in a struct and set priv_size: the harness allocates and zeroes it, passes it
 *     to every call, and calls fini even after a failed init (so fini must cope with zeroes).
 * (6) Allocate device memory only with mb_alloc(ctx, &buf, bytes, category, tag), choosing the
 *     category honestly (OPTIMIZER for optimizer state, ACTIVATIONS for saved tensors, ...).
 * (7) Fill only the slots you change (see methods/method.h); NULL means the engine's default.
 *     Two methods of a stack may not fill the same slot.
 * (8) Write predict_bytes: the bytes your method adds per category, exactly; a test compares it
 *     with the tracker's measurement.
 * (9) Test it against an fp64 reference of the paper's update (tests/test_optim.c shows how), run
 *     the ASan preset, and add a row to the README's method table.
 * For a built-in method, add `extern const mb_method mb_method_<name>;` and one line to the list in
 * methods/registry.c, and mb_method_dir(<name>) to methods/CMakeLists.txt. For a plugin, export
 * membench_method() returning the table, as below. */
#include "../../engine/train.h"

enum { P_LR, P_N };

/* (4) */
static const mb_param_decl params[P_N] = {
    {"lr", MB_PT_FLOAT, 1e-4, 0, 1, NULL,
     "step size; the paper tunes it per task, there is no single official default"},
};

/* (5) signSGD without momentum keeps no state beyond its parameters. */
typedef struct template_state {
    double lr;
} template_state;

static mb_status template_init(void *priv, mb_train *tr, const mb_pvalue *vals) {
    template_state *s = priv;
    s->lr = vals[P_LR].num;
    /* This sketch updates through host pointers, which only the CPU backend has; a method meant
     * for the GPU keeps its kernels in its folder instead: a table type in <name>_kernels.h, one
     * table per backend (<name>_cpu.c, <name>.cu), picked by ctx->be->id (as methods/sgd/). */
    if (tr->ctx->be != &mb_backend_cpu_f32 && tr->ctx->be != &mb_backend_cpu_f64)
        return mb_error(tr->ctx, MB_EUNSUPPORTED, "template runs on the cpu backend only");
    return MB_OK;
}

static void template_fini(void *priv, mb_train *tr) {
    (void)priv;
    (void)tr;
}

/* (7) The optimizer_step slot: called per trainable parameter after backward. (An optimizer that
 * updates many tensors at once may fill optimizer_step_many too: adamw.c.) */
static mb_status template_step(void *priv, mb_train *tr, mb_param *p) {
    template_state *s = priv;
    if (tr->ctx->be->dtype == MB_F32) {
        float *w = p->w.ptr;
        const float *g = p->g.ptr;
        float lr = (float)s->lr;
        for (size_t i = 0; i < p->numel; i++) w[i] -= lr * (float)((g[i] > 0) - (g[i] < 0));
    } else {
        double *w = p->w.ptr;
        const double *g = p->g.ptr;
        for (size_t i = 0; i < p->numel; i++) w[i] -= s->lr * ((g[i] > 0) - (g[i] < 0));
    }
    return MB_OK;
}

/* (8) No optimizer state: the prediction is unchanged. */
static void template_predict(const mb_pvalue *vals, mb_predict *pred) {
    (void)vals;
    (void)pred;
}

static const mb_method method = {
    .abi_version = MB_METHOD_ABI_VERSION,
    .name = "template",
    .paper = "Jeremy Bernstein, Yu-Xiang Wang, Kamyar Azizzadenesheli and Animashree Anandkumar. "
             "signSGD: Compressed Optimisation for Non-Convex Problems. ICML 2018. "
             "arXiv:1802.04434",
    .summary = "copy-me example: signSGD, p -= lr * sign(g), no state (plugin, cpu only)",
    .params = params,
    .nparams = P_N,
    .priv_size = sizeof(template_state),
    .init = template_init,
    .fini = template_fini,
    .optimizer_step = template_step,
    .predict_bytes = template_predict,
};

const mb_method *membench_method(void);
const mb_method *membench_method(void) {
    return &method;
}
