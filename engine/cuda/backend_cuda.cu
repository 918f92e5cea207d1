/* engine/cuda/backend_cuda.cu — the CUDA backend: device set-up, a stream-ordered pool behind the
 * tagged tracker, copies, error recording, event timing, device-memory readings, and the three
 * tables (cuda-f32, cuda-tf32, cuda-bf16); kernels in kernels_*.cu, matmul.cu and attention.cu. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cusolverDn.h>

#include "cuda_common.h"
#include "kernels.h"
#include "nvml.h"

#define MB_CUDA_WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLASLt's advice for Hopper */

mb_status mb_cuda_fail(mb_ctx *ctx, mb_status s, const char *file, int line, const char *fmt, ...) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d && d->err != MB_OK) return d->err;
    char msg[MB_ERRMSG_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    mb_error(ctx, s, "%s (%s:%d)", msg, base ? base + 1 : file, line);
    if (d) d->err = s;
    return s;
}

int mb_cuda_check_rt(mb_ctx *ctx, cudaError_t e, const char *what, const char *file, int line) {
    if (e == cudaSuccess) return 0;
    mb_status s = e == cudaErrorMemoryAllocation ? MB_ENOMEM : MB_EDEVICE;
    mb_cuda_fail(ctx, s, file, line, "%s: %s (%s)", what, cudaGetErrorString(e),
                 cudaGetErrorName(e));
    return 1;
}

int mb_cuda_check_blas(mb_ctx *ctx, int st, const char *what, const char *file, int line) {
    if (st == CUBLAS_STATUS_SUCCESS) return 0;
    mb_status s = st == CUBLAS_STATUS_ALLOC_FAILED ? MB_ENOMEM : MB_EDEVICE;
    mb_cuda_fail(ctx, s, file, line, "%s: %s", what, cublasGetStatusString((cublasStatus_t)st));
    return 1;
}

void *mb_cuda_scratch(mb_ctx *ctx, size_t bytes) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return NULL;
    if (d->scratch.ptr && d->scratch.bytes >= bytes) return d->scratch.ptr;
    mb_free(ctx, &d->scratch);
    size_t want = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1); /* whole MiB */
    mb_status s = mb_alloc(ctx, &d->scratch, want, MB_MEM_WORKSPACE, "cuda.scratch");
    if (s != MB_OK) {
        d->err = s; /* mb_alloc wrote the message */
        return NULL;
    }
    return d->scratch.ptr;
}

mb_status mb_cuda_solver(mb_ctx *ctx, cusolverDnHandle_t *out) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (!d->solver) {
        cusolverDnHandle_t s = NULL;
        if (cusolverDnCreate(&s) != CUSOLVER_STATUS_SUCCESS)
            return mb_error(ctx, MB_EDEVICE, "cusolverDnCreate failed");
        if (cusolverDnSetStream(s, d->stream) != CUSOLVER_STATUS_SUCCESS) {
            cusolverDnDestroy(s);
            return mb_error(ctx, MB_EDEVICE, "cusolverDnSetStream failed");
        }
        d->solver = s;
    }
    *out = (cusolverDnHandle_t)d->solver;
    return MB_OK;
}

/* Bytes in use on the device now, by the best source there is. */
static mb_status device_used(mb_ctx *ctx, size_t *used) {
    mb_cuda *d = mb_cuda_of(ctx);
    int per_process = 0;
    if (d->nvml && mb_nvml_used((mb_nvml *)d->nvml, used, &per_process) == 0) return MB_OK;
    size_t free_b = 0, total = 0;
    if (MB_CUDA_OK(ctx, cudaMemGetInfo(&free_b, &total))) return d->err;
    *used = total - free_b;
    return MB_OK;
}

static void cuda_fini(mb_ctx *ctx) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (!d) return;
    mb_free(ctx, &d->scratch);
    mb_free(ctx, &d->workspace);
    if (d->stream) cudaStreamSynchronize(d->stream);
    if (d->blas) cublasDestroy(d->blas);
    if (d->solver) cusolverDnDestroy((cusolverDnHandle_t)d->solver);
    if (d->lt) cublasLtDestroy(d->lt);
    if (d->ev_start) cudaEventDestroy(d->ev_start);
    if (d->ev_stop) cudaEventDestroy(d->ev_stop);
    if (d->pool) cudaMemPoolDestroy(d->pool);
    if (d->stream) cudaStreamDestroy(d->stream);
    if (d->nvml) mb_nvml_close((mb_nvml *)d->nvml);
    free(d);
    ctx->dev = NULL;
}

static mb_status cuda_init(mb_ctx *ctx) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0)
        return mb_error(ctx, MB_EUNSUPPORTED, "no CUDA device: %s",
                        e != cudaSuccess ? cudaGetErrorString(e) : "the driver lists none");
    if (ctx->device < 0 || ctx->device >= count)
        return mb_error(ctx, MB_EINVAL, "CUDA device %d does not exist (this machine has %d)",
                        ctx->device, count);
    mb_cuda *d = (mb_cuda *)calloc(1, sizeof *d);
    if (!d) return mb_error(ctx, MB_ENOMEM, "host allocation of CUDA state");
    ctx->dev = d;
    d->device = ctx->device;
    d->tf32 = ctx->be == &mb_backend_cuda_tf32;
    mb_status s = MB_OK;
#define INIT_RT(call)                                                                              \
    if (s == MB_OK && MB_CUDA_OK(ctx, call)) s = d->err
#define INIT_BLAS(call)                                                                            \
    if (s == MB_OK && MB_CUBLAS_OK(ctx, call)) s = d->err
    INIT_RT(cudaSetDevice(d->device));
    INIT_RT(cudaFree(0)); /* creates the primary context now, inside the baseline */
    INIT_RT(cudaDeviceGetAttribute(&d->sms, cudaDevAttrMultiProcessorCount, d->device));
    INIT_RT(cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking));
    INIT_RT(cudaEventCreate(&d->ev_start));
    INIT_RT(cudaEventCreate(&d->ev_stop));
    if (s == MB_OK) {
        cudaMemPoolProps props;
        memset(&props, 0, sizeof props);
        props.allocType = cudaMemAllocationTypePinned;
        props.location.type = cudaMemLocationTypeDevice;
        props.location.id = d->device;
        INIT_RT(cudaMemPoolCreate(&d->pool, &props));
        /* keep what it reserved until the context ends: the reserved peak is then a high watermark
         * that cudaMemGetInfo sees too, and no step pays for returning memory to the driver */
        uint64_t keep = UINT64_MAX;
        INIT_RT(cudaMemPoolSetAttribute(d->pool, cudaMemPoolAttrReleaseThreshold, &keep));
    }
    INIT_BLAS(cublasLtCreate(&d->lt));
    INIT_BLAS(cublasCreate(&d->blas));
    INIT_BLAS(cublasSetStream(d->blas, d->stream));
    if (s == MB_OK) {
        char bus[32];
        if (cudaDeviceGetPCIBusId(bus, (int)sizeof bus, d->device) == cudaSuccess)
            d->nvml = mb_nvml_open(bus);
    }
    INIT_RT(cudaStreamSynchronize(d->stream));
    /* the runtime baseline: context, module, handles; everything after this is tracked */
    size_t used = 0;
    if (s == MB_OK) s = device_used(ctx, &used);
    if (s == MB_OK) ctx->mem.baseline = used;
    if (s == MB_OK)
        s = mb_alloc(ctx, &d->workspace, MB_CUDA_WORKSPACE_BYTES, MB_MEM_WORKSPACE,
                     "cublas.workspace");
    INIT_BLAS(cublasSetWorkspace(d->blas, d->workspace.ptr, d->workspace.bytes));
    INIT_BLAS(
        cublasSetMathMode(d->blas, d->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    INIT_RT(mb_cuda_kernels_init());
#undef INIT_RT
#undef INIT_BLAS
    if (s != MB_OK) {
        d->err = MB_OK; /* let fini free what was made */
        cuda_fini(ctx);
        return mb_error_prefix(ctx, s, "starting the CUDA backend on device %d", ctx->device);
    }
    return MB_OK;
}

static mb_status cuda_alloc(mb_ctx *ctx, size_t bytes, void **out) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return d->err;
    cudaError_t e = cudaMallocFromPoolAsync(out, bytes, d->pool, d->stream);
    if (e == cudaSuccess) return MB_OK;
    cudaGetLastError(); /* an allocation failure is not sticky: clear it */
    *out = NULL;
    if (e == cudaErrorMemoryAllocation)
        return mb_error(ctx, MB_ENOMEM, "the device has no room for %zu more bytes", bytes);
    return mb_error(ctx, MB_EDEVICE, "cudaMallocFromPoolAsync(%zu bytes): %s", bytes,
                    cudaGetErrorString(e));
}

static void cuda_free(mb_ctx *ctx, void *p) {
    MB_CUDA_OK(ctx, cudaFreeAsync(p, mb_cuda_stream(ctx)));
}

static mb_status cuda_to_device(mb_ctx *ctx, void *dst, const void *src, size_t bytes) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return d->err;
    /* from pageable memory the call returns once the source has been staged */
    if (bytes &&
        MB_CUDA_OK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, d->stream)))
        return d->err;
    return MB_OK;
}

static mb_status cuda_to_host(mb_ctx *ctx, void *dst, const void *src, size_t bytes) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return d->err;
    if (bytes &&
        MB_CUDA_OK(ctx, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, d->stream)))
        return d->err;
    MB_CUDA_OK(ctx, cudaStreamSynchronize(d->stream));
    return d->err;
}

static void cuda_zero(mb_ctx *ctx, void *p, size_t bytes) {
    if (mb_cuda_failed(ctx) || !bytes) return;
    MB_CUDA_OK(ctx, cudaMemsetAsync(p, 0, bytes, mb_cuda_stream(ctx)));
}

static mb_status cuda_sync(mb_ctx *ctx) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err == MB_OK) MB_CUDA_OK(ctx, cudaStreamSynchronize(d->stream));
    if (d->err == MB_OK) MB_CUDA_OK(ctx, cudaGetLastError());
    return d->err;
}

static mb_status cuda_timer(mb_ctx *ctx, int stop, double *ms) {
    mb_cuda *d = mb_cuda_of(ctx);
    if (d->err != MB_OK) return d->err;
    if (!stop) {
        MB_CUDA_OK(ctx, cudaEventRecord(d->ev_start, d->stream));
        return d->err;
    }
    float f = 0;
    if (!MB_CUDA_OK(ctx, cudaEventRecord(d->ev_stop, d->stream)) &&
        !MB_CUDA_OK(ctx, cudaEventSynchronize(d->ev_stop)) &&
        !MB_CUDA_OK(ctx, cudaEventElapsedTime(&f, d->ev_start, d->ev_stop)))
        *ms = f;
    return d->err;
}

static mb_status cuda_mem_info(mb_ctx *ctx, mb_dev_mem *out) {
    mb_cuda *d = mb_cuda_of(ctx);
    memset(out, 0, sizeof *out);
    if (d->err != MB_OK) return d->err;
    uint64_t high = 0;
    if (MB_CUDA_OK(ctx, cudaMemPoolGetAttribute(d->pool, cudaMemPoolAttrReservedMemHigh, &high)))
        return d->err;
    out->reserved_peak = (size_t)high;
    return device_used(ctx, &out->device_used);
}

static void cuda_describe(mb_ctx *ctx, mb_dev_info *out) {
    mb_cuda *d = mb_cuda_of(ctx);
    memset(out, 0, sizeof *out);
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, d->device) == cudaSuccess) {
        snprintf(out->name, sizeof out->name, "%.127s", p.name);
        const unsigned char *u = (const unsigned char *)p.uuid.bytes;
        snprintf(out->uuid, sizeof out->uuid,
                 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                 u[14], u[15]);
    }
    if (d->nvml) {
        char uuid[80];
        mb_nvml_ids((mb_nvml *)d->nvml, out->driver, sizeof out->driver, uuid, sizeof uuid);
    }
    int v = 0;
    if (!out->driver[0] && cudaDriverGetVersion(&v) == cudaSuccess)
        snprintf(out->driver, sizeof out->driver, "cuda %d.%d", v / 1000, (v % 1000) / 10);
    if (cudaRuntimeGetVersion(&v) == cudaSuccess)
        snprintf(out->runtime, sizeof out->runtime, "%d.%d", v / 1000, (v % 1000) / 10);
    size_t lt = cublasLtGetVersion();
    snprintf(out->blas, sizeof out->blas, "%zu.%zu.%zu", lt / 10000, (lt / 100) % 100, lt % 100);
}

/* Designated initializers (C++20) in declaration order, every field named. */
#define MB_CUDA_TABLE(nm, bid, sfx, dt)                                                            \
    {                                                                                              \
        .name = nm, .id = bid, .dtype = dt, .sdtype = MB_F32, .logits_align = 64,                  \
        .init = cuda_init, .fini = cuda_fini, .alloc = cuda_alloc, .free = cuda_free,              \
        .to_device = cuda_to_device, .to_host = cuda_to_host, .zero = cuda_zero,                   \
        .sync = cuda_sync, .timer = cuda_timer, .mem_info = cuda_mem_info,                         \
        .describe = cuda_describe, .encoder_fwd = mb_cuda_encoder_fwd_##sfx,                       \
        .encoder_bwd = mb_cuda_encoder_bwd_##sfx, .layernorm_fwd = mb_cuda_layernorm_fwd_##sfx,    \
        .layernorm_bwd = mb_cuda_layernorm_bwd_##sfx, .matmul_fwd = mb_cuda_matmul_fwd_##sfx,      \
        .matmul_bwd = mb_cuda_matmul_bwd_##sfx, .attention_fwd = mb_cuda_attention_fwd_##sfx,      \
        .attention_bwd = mb_cuda_attention_bwd_##sfx, .gelu_fwd = mb_cuda_gelu_fwd_##sfx,          \
        .gelu_bwd = mb_cuda_gelu_bwd_##sfx, .residual_fwd = mb_cuda_residual_fwd_##sfx,            \
                                                                                                   \
        .crossentropy_fused = mb_cuda_crossentropy_fused_##sfx, .widen = mb_cuda_widen_##sfx,      \
        .gemm_s = mb_cuda_gemm_s, .axpy_decay = mb_cuda_axpy_decay_##sfx,                          \
        .gemm = mb_cuda_gemm_##sfx, .matmul_fwd_res = mb_cuda_matmul_fwd_res_##sfx,                \
        .matmul_fwd_gelu = mb_cuda_matmul_fwd_gelu_##sfx,                                          \
        .matmul_bwd_dgelu = mb_cuda_matmul_bwd_dgelu_##sfx,                                        \
        .rmsnorm_fwd = mb_cuda_rmsnorm_fwd_##sfx, .rmsnorm_bwd = mb_cuda_rmsnorm_bwd_##sfx,        \
        .rope = mb_cuda_rope_##sfx, .swiglu_fwd = mb_cuda_swiglu_fwd_##sfx,                        \
        .swiglu_bwd = mb_cuda_swiglu_bwd_##sfx,                                                    \
    }
extern "C" {
const mb_backend mb_backend_cuda_f32 = MB_CUDA_TABLE("cuda-f32", MB_BE_CUDA_F32, f32, MB_F32);
const mb_backend mb_backend_cuda_tf32 = MB_CUDA_TABLE("cuda-tf32", MB_BE_CUDA_TF32, f32, MB_F32);
const mb_backend mb_backend_cuda_bf16 = MB_CUDA_TABLE("cuda-bf16", MB_BE_CUDA_BF16, bf16, MB_BF16);
}
