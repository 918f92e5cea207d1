/* tests/plugins/segv.c — test-only methods that fail the way a buggy method does, for --isolate:
 * `segv` dereferences a NULL pointer in its first optimizer step; `hang` (this file built with
 * MB_TEST_HANG) sleeps forever there, for --cell-timeout. A plugin exports one method, so CMake
 * builds this file twice: libmb_segv.so and libmb_hang.so. */
#include <signal.h>
#include <unistd.h>

#include "../../methods/method.h"

#ifdef MB_TEST_HANG
static mb_status hang_step(void *priv, struct mb_train *tr, mb_param *p) {
    (void)priv;
    (void)tr;
    (void)p;
    for (;;) sleep(1); /* until --cell-timeout kills the process */
    return MB_OK;
}
#else
static mb_status segv_step(void *priv, struct mb_train *tr, mb_param *p) {
    (void)priv;
    (void)tr;
    (void)p;
    /* Through a volatile pointer, so the compiler can neither prove the store undefined and drop
     * it nor move it; raise() backs it up should the store somehow not fault. */
    int *volatile null = NULL;
    *null = 1;
    raise(SIGSEGV);
    return MB_OK;
}
#endif

static const mb_method method = {
    .abi_version = MB_METHOD_ABI_VERSION,
#ifdef MB_TEST_HANG
    .name = "hang",
    .summary = "test only: the optimizer step never returns",
    .optimizer_step = hang_step,
#else
    .name = "segv",
    .summary = "test only: the optimizer step dereferences a NULL pointer",
    .optimizer_step = segv_step,
#endif
    .paper = "test only",
};

const mb_method *membench_method(void);
const mb_method *membench_method(void) { return &method; }
