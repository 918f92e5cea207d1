/* tests/plugins/old_abi.c — a plugin built for the previous method ABI: loading it must be refused
 * with the version it has and the one expected. */
#include "../../methods/method.h"

static const mb_method method = {
    .abi_version = MB_METHOD_ABI_VERSION - 1,
    .name = "from-the-past",
    .paper = "test only",
    .summary = "test only",
};

const mb_method *membench_method(void);
const mb_method *membench_method(void) {
    return &method;
}
