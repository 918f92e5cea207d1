/* engine/cpu/kernels_zo.h — MeZO's seeded update on the CPU: normals regenerated from the Philox
 * stream (philox.h, the text the GPU runs), never stored. Included by backend_cpu.c once per
 * element type with REAL and SFX(name) defined. */

static void SFX(zo_axpy)(struct mb_ctx *ctx MB_UNUSED, void *p_, void *master MB_UNUSED, size_t n,
                         uint64_t seed, uint32_t stream, uint64_t first, double alpha,
                         double decay) {
    REAL *p = p_;
#pragma omp parallel for if (n >= MB_PAR_MIN_WORK)
    for (size_t j = 0; j < n; j++) {
        uint64_t idx = first + j;
        uint32_t w[4];
        double z[2];
        mb_philox_block(seed, stream, idx / 2, w);
        mb_philox_box_muller(w, &z[0], &z[1]);
        p[j] = (REAL)((double)p[j] * decay + alpha * z[idx % 2]);
    }
}
