/* methods/template/template.cu — signSGD on CUDA, a method's own kernel: the cuda-f32 (also
 * cuda-tf32's) and cuda-bf16 tables, launched on the context's stream like the engine's kernels. */
#include "../../engine/cuda/cuda_common.h"
#include "template_kernels.h"

#define MB_THREADS 256

template <typename T>
__global__ void mb_template_sign_k(T *p, const T *g, float *master, size_t n, float lr) {
    MB_GRID_LOOP(i, n) {
        float gi = mb_ld(g + i);
        float w = __fsub_rn(mb_ldw(p, master, i), lr * (float)((gi > 0.0f) - (gi < 0.0f)));
        if (master) master[i] = w;
        mb_st(p + i, w);
    }
}

template <typename T>
static void mb_template_sign(mb_ctx *ctx, void *p, const void *g, void *master, size_t n,
                             double lr) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_template_sign_k<T><<<mb_cuda_blocks(n, MB_THREADS), MB_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (T *)p, (const T *)g, (float *)master, n, (float)lr);
    MB_CUDA_LAUNCHED(ctx);
}

extern "C" {
const mb_template_kernels mb_template_cuda_f32 = {.sign_step = mb_template_sign<float>};
const mb_template_kernels mb_template_cuda_bf16 = {.sign_step = mb_template_sign<__nv_bfloat16>};
}
