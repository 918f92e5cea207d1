/* methods/mezo/mezo.cu — MeZO's seeded update on CUDA: each thread regenerates its normal from the
 * Philox stream with the CPU's own text (engine/philox.h, fp64 Box-Muller), so z matches the CPU's
 * up to the last bit of the device's log/cos/sin; the cuda-f32 (also cuda-tf32's) and cuda-bf16
 * tables. */
#include "../../engine/cuda/cuda_common.h"
#include "../../engine/philox.h"
#include "mezo_kernels.h"

template <typename T>
__global__ void mb_zo_axpy_k(T *p, float *master, size_t n, uint64_t seed, uint32_t stream,
                             uint64_t first, double alpha, double decay) {
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < n;
         j += (size_t)gridDim.x * blockDim.x) {
        uint64_t idx = first + j;
        uint32_t w[4];
        double z[2];
        mb_philox_block(seed, stream, idx / 2, w);
        mb_philox_box_muller(w, &z[0], &z[1]);
        float v = (float)((double)(master ? master[j] : mb_ld(p + j)) * decay + alpha * z[idx % 2]);
        if (master) master[j] = v;
        mb_st(p + j, v);
    }
}

template <typename T>
static void mb_zo_axpy(mb_ctx *ctx, void *p, void *master, size_t n, uint64_t seed, uint32_t stream,
                       uint64_t first, double alpha, double decay) {
    if (mb_cuda_failed(ctx) || !n) return;
    mb_zo_axpy_k<T><<<mb_cuda_blocks(n, 256), 256, 0, mb_cuda_stream(ctx)>>>(
        (T *)p, (float *)master, n, seed, stream, first, alpha, decay);
    MB_CUDA_LAUNCHED(ctx);
}

extern "C" {
const mb_mezo_kernels mb_mezo_cuda_f32 = {.zo_axpy = mb_zo_axpy<float>};
const mb_mezo_kernels mb_mezo_cuda_bf16 = {.zo_axpy = mb_zo_axpy<__nv_bfloat16>};
}
