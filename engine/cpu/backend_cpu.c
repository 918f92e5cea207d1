/* engine/cpu/backend_cpu.c — the CPU reference backend: plain C11 + OpenMP, fp32 and fp64 tables
 * built from one kernel text (kernels_impl.h, kernels_prim.h), deterministic bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ctx.h"
#include "real.h"

static mb_status cpu_alloc(mb_ctx *ctx, size_t bytes, void **out) {
    /* 64-byte alignment: cache lines and any SIMD width; size rounded up as aligned_alloc needs. */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p) return mb_error(ctx, MB_ENOMEM, "host allocation of %zu bytes failed", bytes);
    *out = p;
    return MB_OK;
}
static void cpu_free(mb_ctx *ctx, void *p) {
    (void)ctx;
    free(p);
}
static mb_status cpu_copy(mb_ctx *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    if (bytes) memcpy(dst, src, bytes);
    return MB_OK;
}
static void cpu_zero(mb_ctx *ctx, void *p, size_t bytes) {
    (void)ctx;
    if (bytes) memset(p, 0, bytes);
}

#define REAL float
#define SFX(name) name##_f32
#include "kernels_impl.h"
#include "kernels_prim.h"
#include "kernels_llama.h"
#undef REAL
#undef SFX

#define REAL double
#define SFX(name) name##_f64
#include "kernels_impl.h"
#include "kernels_prim.h"
#include "kernels_llama.h"
#undef REAL
#undef SFX

/* gemm is gemm_s: dtype == sdtype, the same GEMM with fp64 sums. */
#define MB_CPU_TABLE(sfx, dt, bid)                                                                 \
    {                                                                                              \
        .name = "cpu-" #sfx, .id = bid, .dtype = dt, .sdtype = dt, .logits_align = 1,              \
        .init = NULL, .fini = NULL, .alloc = cpu_alloc, .free = cpu_free, .to_device = cpu_copy,   \
        .to_host = cpu_copy, .zero = cpu_zero, .sync = NULL, .timer = NULL, .mem_info = NULL,      \
        .describe = NULL, .encoder_fwd = encoder_fwd_##sfx, .encoder_bwd = encoder_bwd_##sfx,      \
        .layernorm_fwd = layernorm_fwd_##sfx, .layernorm_bwd = layernorm_bwd_##sfx,                \
        .matmul_fwd = matmul_fwd_##sfx, .matmul_bwd = matmul_bwd_##sfx,                            \
        .attention_fwd = attention_fwd_##sfx, .attention_bwd = attention_bwd_##sfx,                \
        .gelu_fwd = gelu_fwd_##sfx, .gelu_bwd = gelu_bwd_##sfx,                                    \
        .residual_fwd = residual_fwd_##sfx, .crossentropy_fused = crossentropy_fused_##sfx,        \
        .widen = widen_##sfx, .gemm_s = gemm_s_##sfx, .axpy_decay = axpy_decay_##sfx,              \
        .gemm = gemm_s_##sfx, .matmul_fwd_res = mb_seq_matmul_fwd_res,                             \
        .matmul_fwd_gelu = mb_seq_matmul_fwd_gelu, .matmul_bwd_dgelu = mb_seq_matmul_bwd_dgelu,    \
        .rmsnorm_fwd = rmsnorm_fwd_##sfx, .rmsnorm_bwd = rmsnorm_bwd_##sfx, .rope = rope_##sfx,    \
        .swiglu_fwd = swiglu_fwd_##sfx, .swiglu_bwd = swiglu_bwd_##sfx,                            \
    }

const mb_backend mb_backend_cpu_f32 = MB_CPU_TABLE(f32, MB_F32, MB_BE_CPU_F32);
const mb_backend mb_backend_cpu_f64 = MB_CPU_TABLE(f64, MB_F64, MB_BE_CPU_F64);
