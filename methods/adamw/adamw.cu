/* methods/adamw/adamw.cu — AdamW on CUDA, one tensor a launch or up to 224 (adamw_many), templated
 * over the storage type (float, bf16) with fp32 state: the cuda-f32 (also cuda-tf32's) and
 * cuda-bf16 tables. Explicitly rounded operations (no FMA contraction) evaluate the CPU fp32
 * expressions in the same order. */
#include <math.h>

#include "../../engine/cuda/cuda_common.h"
#include "adamw_kernels.h"

#define MB_THREADS 256

/* AdamW on element i; the one- and the many-tensor kernels share it, so both give the same bits. */
template <typename T>
__device__ __forceinline__ void mb_adamw_elem(T *p, const T *g, float *m, float *v, float *master,
                                              size_t i, float decay, float w1, float b2, float w2,
                                              float step, float bc2s, float e) {
    float pi = mb_ldw(p, master, i);
    float gi = mb_ld(g + i);
    pi = __fmul_rn(pi, decay);
    float mi = m[i];
    mi = __fadd_rn(mi, __fmul_rn(w1, __fsub_rn(gi, mi)));
    float vi = __fadd_rn(__fmul_rn(v[i], b2), __fmul_rn(__fmul_rn(w2, gi), gi));
    float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2s), e);
    pi = __fsub_rn(pi, __fmul_rn(step, __fdiv_rn(mi, denom)));
    m[i] = mi;
    v[i] = vi;
    if (master) master[i] = pi;
    mb_st(p + i, pi);
}

template <typename T>
__global__ void mb_adamw_k(T *p, const T *g, float *m, float *v, float *master, size_t n,
                           float decay, float w1, float b2, float w2, float step, float bc2s,
                           float e) {
    MB_GRID_LOOP(i, n) mb_adamw_elem(p, g, m, v, master, i, decay, w1, b2, w2, step, bc2s, e);
}

/* Many tensors in one launch: the table travels as the kernel's parameter (CUDA 12.1 allows 32 KB
 * of them on Volta and later; 4 KB before), tensor i takes blocks [first[i], first[i+1]), each
 * block MB_ADAMW_CHUNK consecutive elements. */
#if CUDART_VERSION >= 12010
#define MB_ADAMW_MANY 224
#else
#define MB_ADAMW_MANY 48
#endif
#define MB_ADAMW_CHUNK 4096
struct mb_adamw_tab {
    void *p[MB_ADAMW_MANY];
    const void *g[MB_ADAMW_MANY];
    float *m[MB_ADAMW_MANY], *v[MB_ADAMW_MANY], *master[MB_ADAMW_MANY];
    size_t n[MB_ADAMW_MANY];
    float step[MB_ADAMW_MANY], bc2s[MB_ADAMW_MANY];
    unsigned first[MB_ADAMW_MANY + 1];
    int count;
};

template <typename T>
__global__ void __launch_bounds__(MB_THREADS)
    mb_adamw_many_k(const __grid_constant__ mb_adamw_tab tab, float decay, float w1, float b2,
                    float w2, float e) {
    int lo = 0, hi = tab.count - 1; /* the last tensor whose first block is at or before ours */
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (tab.first[mid] <= blockIdx.x)
            lo = mid;
        else
            hi = mid - 1;
    }
    const size_t n = tab.n[lo], i0 = (size_t)(blockIdx.x - tab.first[lo]) * MB_ADAMW_CHUNK,
                 i1 = i0 + MB_ADAMW_CHUNK < n ? i0 + MB_ADAMW_CHUNK : n;
    T *p = (T *)tab.p[lo];
    const T *g = (const T *)tab.g[lo];
    float *m = tab.m[lo], *v = tab.v[lo], *master = tab.master[lo];
    const float step = tab.step[lo], bc2s = tab.bc2s[lo];
    for (size_t i = i0 + threadIdx.x; i < i1; i += MB_THREADS)
        mb_adamw_elem(p, g, m, v, master, i, decay, w1, b2, w2, step, bc2s, e);
}

template <typename T>
static void mb_adamw(mb_ctx *ctx, void *p, const void *g, void *m, void *v, void *master, size_t n,
                     double lr, double beta1, double beta2, double eps, double wd, double bc1,
                     double bc2) {
    if (mb_cuda_failed(ctx)) return;
    if (!n) return;
    float decay = (float)(1.0 - lr * wd), w1 = (float)(1.0 - beta1), b2 = (float)beta2,
          w2 = (float)(1.0 - beta2), step = (float)(lr / bc1), bc2s = (float)sqrt(bc2),
          e = (float)eps;
    mb_adamw_k<T><<<mb_cuda_blocks(n, MB_THREADS), MB_THREADS, 0, mb_cuda_stream(ctx)>>>(
        (T *)p, (const T *)g, (float *)m, (float *)v, (float *)master, n, decay, w1, b2, w2, step,
        bc2s, e);
    MB_CUDA_LAUNCHED(ctx);
}

template <typename T>
static void mb_adamw_many(mb_ctx *ctx, const mb_adamw_tensor *t, int n, double lr, double beta1,
                          double beta2, double eps, double wd) {
    if (mb_cuda_failed(ctx)) return;
    float decay = (float)(1.0 - lr * wd), w1 = (float)(1.0 - beta1), b2 = (float)beta2,
          w2 = (float)(1.0 - beta2), e = (float)eps;
    mb_adamw_tab tab;
    for (int i0 = 0; i0 < n; i0 += MB_ADAMW_MANY) {
        const int k = n - i0 < MB_ADAMW_MANY ? n - i0 : MB_ADAMW_MANY;
        size_t blocks = 0;
        for (int j = 0; j < k; j++) {
            const mb_adamw_tensor *x = &t[i0 + j];
            tab.p[j] = x->p;
            tab.g[j] = x->g;
            tab.m[j] = (float *)x->m;
            tab.v[j] = (float *)x->v;
            tab.master[j] = (float *)x->master;
            tab.n[j] = x->n;
            tab.step[j] = (float)(lr / x->bc1); /* as mb_adamw computes them */
            tab.bc2s[j] = (float)sqrt(x->bc2);
            tab.first[j] = (unsigned)blocks;
            blocks += (x->n + MB_ADAMW_CHUNK - 1) / MB_ADAMW_CHUNK;
        }
        if (blocks > 0x7fffffffu) {
            mb_cuda_fail(ctx, MB_EINVAL, __FILE__, __LINE__, "adamw_many: %zu blocks exceed a grid",
                         blocks);
            return;
        }
        tab.first[k] = (unsigned)blocks;
        tab.count = k;
        if (!blocks) continue;
        mb_adamw_many_k<T>
            <<<(unsigned)blocks, MB_THREADS, 0, mb_cuda_stream(ctx)>>>(tab, decay, w1, b2, w2, e);
        if (MB_CUDA_LAUNCHED(ctx) != MB_OK) return;
    }
}

extern "C" {
const mb_adamw_kernels mb_adamw_cuda_f32 = {.adamw = mb_adamw<float>,
                                            .adamw_many = mb_adamw_many<float>};
const mb_adamw_kernels mb_adamw_cuda_bf16 = {.adamw = mb_adamw<__nv_bfloat16>,
                                             .adamw_many = mb_adamw_many<__nv_bfloat16>};
}
