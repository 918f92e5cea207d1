/* tests/plugins/bad_abi.c — a plugin built for a future method ABI: loading it must be refused. */
#include "../../methods/method.h"

static const mb_method method = {
    .abi_version = MB_METHOD_ABI_VERSION + 1,
    .name = "from-the-future",
    .paper = "test only",
    .summary = "test only",
};

const mb_method *membench_method(void);
const mb_method *membench_method(void) { return &method; }
