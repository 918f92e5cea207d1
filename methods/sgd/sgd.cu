/* methods/sgd/sgd.cu — SGD on CUDA, templated over the storage type (float, bf16) with fp32 state:
 * the cuda-f32 (also cuda-tf32's) and cuda-bf16 tables. Explicitly rounded operations (no FMA
 * contraction) evaluate the CPU fp32 expressions in the same order. */
#include "../../engine/cuda/cuda_common.h"
#include "sgd_kernels.h"

#define MB_THREADS 256

template <typename T>
__global__ void mb_sgd_k(T *p, const T *g, float *buf, float *master, size_t n, float lr, float mu,
                         float damp, float wd, int nesterov, int first) {
    MB_GRID_LOOP(i, n) {
        float pi = mb_ldw(p, master, i);
        float d = mb_ld(g + i);
        if (wd != 0.0f) d = __fadd_rn(d, __fmul_rn(wd, pi));
        if (buf) {
            float b = first ? d : __fadd_rn(__fmul_rn(mu, buf[i]), __fmul_rn(damp, d));
            buf[i] = b;
            d = nesterov ? __fadd_rn(d, __fmul_rn(mu, b)) : b;
        }
        pi = __fsub_rn(pi, __fmul_rn(lr, d));
        if (master) master[i] = pi;
        mb_st(p + i, pi);
    }
}

template <typename T>
static void mb_sgd(mb_ctx *ctx, void *p, const void *g, void *buf, void *master, size_t n,
                   double lr, double momentum, double dampening, double wd, int nesterov,
                   int first) {
    if (mb_cuda_failed(ctx)) return;
    if (!n) return;
    float mu = (float)momentum, damp = (float)(1.0 - dampening), w = (float)wd, a = (float)lr;
    mb_sgd_k<T><<<mb_cuda_blocks(n, MB_THREADS), MB_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (T *)p, (const T *)g, (float *)buf, (float *)master, n, a, mu, damp, w, nesterov, first);
    MB_CUDA_LAUNCHED(ctx);
}

extern "C" {
const mb_sgd_kernels mb_sgd_cuda_f32 = {.sgd = mb_sgd<float>};
const mb_sgd_kernels mb_sgd_cuda_bf16 = {.sgd = mb_sgd<__nv_bfloat16>};
}
