/* engine/status.h — status codes returned by every library function, and the assert for programmer bugs.
 * Codes are never renumbered; new ones are appended (curl's CURLcode rule). */
#ifndef MB_STATUS_H
#define MB_STATUS_H

#include <stdio.h>
#include <stdlib.h>

typedef enum mb_status {
    MB_OK = 0,
    MB_ENOMEM = 1,       /* an allocation failed or a memory cap was reached */
    MB_EINVAL = 2,       /* invalid argument or configuration */
    MB_EIO = 3,          /* a file could not be opened, read or written */
    MB_EFORMAT = 4,      /* a file's content is malformed */
    MB_ENOTFOUND = 5,    /* a named thing (tensor, preset, method) does not exist */
    MB_EUNSUPPORTED = 6, /* valid, but not supported by this build or backend */
    MB_EDEVICE = 7,      /* an accelerator runtime or library call failed */
    MB_EINTERRUPTED = 8, /* stopped by a signal */
    MB_ESTORAGE = 9,     /* a write failed for want of storage: disk full, quota, I/O error, read-only */
} mb_status;

const char *mb_status_name(mb_status s);

/* Aborts on a broken invariant (a bug in membench itself), never on bad input or OOM. */
#define MB_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", __FILE__, __LINE__,  \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
