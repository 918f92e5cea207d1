/* engine/status.c — names of status codes. */
#include "status.h"

const char *mb_status_name(mb_status s) {
    switch (s) {
    case MB_OK: return "ok";
    case MB_ENOMEM: return "out of memory";
    case MB_EINVAL: return "invalid argument";
    case MB_EIO: return "i/o error";
    case MB_EFORMAT: return "malformed input";
    case MB_ENOTFOUND: return "not found";
    case MB_EUNSUPPORTED: return "unsupported";
    case MB_EDEVICE: return "device error";
    case MB_EINTERRUPTED: return "interrupted";
    case MB_ESTORAGE: return "storage failure";
    }
    return "unknown status";
}
