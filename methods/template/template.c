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
 * (7) Fill only the slots you change (engine/method.h lists them and says which replace the
 *     default, one owner a stack, and which chain); select parameters by role (model.h), never by
 *     position, so the method works on every model family.
 * (8) Put your kernels beside the method: a table type (template_kernels.h), one table per backend
 *     (template_cpu.c; template.cu, built where nvcc is found), picked by the backend's id; refuse
 *     at init where you have none. Nothing under engine/ changes.
 * (9) Write predict_bytes: the bytes your method adds per category, exactly; a test compares it
 *     with the tracker's measurement. Test against an fp64 reference of the paper's update
 *     (tests/test_optim.c shows how), run the ASan preset, add a row to the README's method table.
 * A built-in method is its folder, one line in methods/registry.c and one in methods/CMakeLists.txt
 * (mb_method_dir), and its test. A plugin exports membench_method() returning the table, as below,
 * and builds on its own: cmake -S methods/template -B out -DMEMBENCH_SOURCE_DIR=<this checkout>. */
#include "../../engine/train.h"
#include "template_kernels.h"

enum { P_LR, P_N };

/* (4) */
static const mb_param_decl params[P_N] = {
    {.name = "lr",
     .type = MB_PT_FLOAT,
     .def = 1e-4,
     .min = 0,
     .max = 1,
     .choices = NULL,
     .help = "step size; the paper tunes it per task, there is no single official default"},
};

/* (5) signSGD without momentum keeps no state beyond its parameters and its kernel table. */
typedef struct template_state {
    double lr;
    const mb_template_kernels *k;
} template_state;

/* (8) The kernels per backend; cuda-tf32 stores fp32, so it runs the f32 kernel. */
static const mb_template_kernels *const tables[MB_BE_N] = {
    [MB_BE_CPU_F32] = &mb_template_cpu_f32,     [MB_BE_CPU_F64] = &mb_template_cpu_f64,
#ifdef MB_TEMPLATE_CUDA
    [MB_BE_CUDA_F32] = &mb_template_cuda_f32,   [MB_BE_CUDA_TF32] = &mb_template_cuda_f32,
    [MB_BE_CUDA_BF16] = &mb_template_cuda_bf16,
#endif
};

static mb_status template_init(void *priv, mb_train *tr, const mb_pvalue *vals) {
    template_state *s = priv;
    s->lr = vals[P_LR].num;
    s->k = tr->ctx->be->id < MB_BE_N ? tables[tr->ctx->be->id] : NULL;
    if (!s->k)
        return mb_error(tr->ctx, MB_EUNSUPPORTED,
                        "template: no kernel for backend %s (this build of the plugin has %s)",
                        tr->ctx->be->name,
#ifdef MB_TEMPLATE_CUDA
                        "cpu and cuda kernels"
#else
                        "cpu kernels only: build it where nvcc is found for cuda"
#endif
        );
    return MB_OK;
}

static void template_fini(void *priv, mb_train *tr) {
    (void)priv;
    (void)tr;
}

/* (7) The optimizer_step slot: called per trainable parameter after backward. (An optimizer that
 * updates many tensors at once may fill optimizer_step_many too: methods/adamw.) Under mixed
 * precision the update runs on the fp32 master copy the engine keeps (mb_train_master). */
static mb_status template_step(void *priv, mb_train *tr, mb_param *p) {
    template_state *s = priv;
    mb_buf *master;
    MB_TRY(mb_train_master(tr, p, &master));
    s->k->sign_step(tr->ctx, p->w.ptr, p->g.ptr, master ? master->ptr : NULL, p->numel, s->lr);
    return MB_OK;
}

/* (9) No optimizer state: the prediction is unchanged (a mixed-precision master copy of every
 * trainable parameter is the engine's, already counted). */
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
    .summary = "copy-me example: signSGD, p -= lr * sign(g), no state (a plugin with its own cpu "
               "and cuda kernels)",
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
