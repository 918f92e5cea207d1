/* methods/registry.h — the built-in methods (one const list) plus out-of-tree plugins loaded with
 * --plugin, held in a registry value passed explicitly (no globals). */
#ifndef MB_REGISTRY_H
#define MB_REGISTRY_H

#include "../engine/method.h"

#define MB_MAX_PLUGINS 16

typedef struct mb_registry {
    const mb_method *plugin[MB_MAX_PLUGINS];
    void *handle[MB_MAX_PLUGINS];
    int nplugins;
} mb_registry;

void mb_registry_init(mb_registry *r);
void mb_registry_fini(mb_registry *r); /* closes plugins */
int mb_registry_count(const mb_registry *r);
const mb_method *mb_registry_get(const mb_registry *r, int i); /* built-ins first, then plugins */
const mb_method *mb_registry_find(const mb_registry *r, const char *name);
/* FlashAttention (methods/flash), which the runner adds to a stack for `attention: auto` or
 * `flash`; mb_flash_supports (methods/flash/flash_kernels.h) says where it has a kernel. */
extern const mb_method mb_method_flash;
/* dlopen()s a shared object exporting MB_PLUGIN_ENTRY; refuses an ABI mismatch or a name clash. */
mb_status mb_registry_load_plugin(mb_ctx *ctx, mb_registry *r, const char *path);

/* Index of a declared parameter by name, -1 if absent. */
int mb_method_param_index(const mb_method *m, const char *name);
/* A parameter value as a suite would write it: true/false, the enum's choice, or the number
 * (exact: the fewest digits that read back to the same double; else %g). Returns strlen(out). */
size_t mb_param_format(const mb_param_decl *d, double v, int exact, char *out, size_t n);

/* The closest candidate to `name` by edit distance, or NULL when none is close
 * (distance > max(2, strlen(name)/3)). For "did you mean" hints. */
const char *mb_nearest(const char *name, const char *const *cands, int n);
/* The same within `limit` edits: short enumerations ("fp16" is not a typo of "fp32") pass a
 * tighter limit. */
const char *mb_nearest_within(const char *name, const char *const *cands, int n, size_t limit);

#endif
