/* methods/registry.c — the one const list of built-in methods, plugin loading, slot ownership. */
#include "registry.h"

#include "../engine/fmt.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

extern const mb_method mb_method_adamw;
extern const mb_method mb_method_sgd;
extern const mb_method mb_method_adafactor;
extern const mb_method mb_method_lomo;
extern const mb_method mb_method_adam_mini;
extern const mb_method mb_method_checkpointing;
extern const mb_method mb_method_adam8bit;
extern const mb_method mb_method_galore;
extern const mb_method mb_method_apollo;
extern const mb_method mb_method_apollo_mini;
extern const mb_method mb_method_lora;
extern const mb_method mb_method_cce;
extern const mb_method mb_method_mezo;
extern const mb_method mb_method_lisa;
extern const mb_method mb_method_mesa;
extern const mb_method mb_method_flash;

/* One line per method. */
static const mb_method *const builtin[] = {
    &mb_method_adamw,
    &mb_method_sgd,
    &mb_method_adafactor,
    &mb_method_adam_mini,
    &mb_method_adam8bit,
    &mb_method_galore,
    &mb_method_apollo,
    &mb_method_apollo_mini,
    &mb_method_lomo,
    &mb_method_checkpointing,
    &mb_method_lora,
    &mb_method_cce,
    &mb_method_mezo,
    &mb_method_lisa,
    &mb_method_mesa,
    &mb_method_flash,
};
#define NBUILTIN ((int)(sizeof builtin / sizeof builtin[0]))

void mb_registry_init(mb_registry *r) { memset(r, 0, sizeof *r); }

void mb_registry_fini(mb_registry *r) {
    for (int i = 0; i < r->nplugins; i++)
        if (r->handle[i]) dlclose(r->handle[i]);
    memset(r, 0, sizeof *r);
}

int mb_registry_count(const mb_registry *r) { return NBUILTIN + r->nplugins; }

const mb_method *mb_registry_get(const mb_registry *r, int i) {
    if (i < 0) return NULL;
    if (i < NBUILTIN) return builtin[i];
    return i - NBUILTIN < r->nplugins ? r->plugin[i - NBUILTIN] : NULL;
}

const mb_method *mb_registry_find(const mb_registry *r, const char *name) {
    for (int i = 0; i < mb_registry_count(r); i++)
        if (!strcmp(mb_registry_get(r, i)->name, name)) return mb_registry_get(r, i);
    return NULL;
}

mb_status mb_registry_load_plugin(mb_ctx *ctx, mb_registry *r, const char *path) {
    if (r->nplugins == MB_MAX_PLUGINS)
        return mb_error(ctx, MB_EINVAL, "%s: at most %d plugins", path, MB_MAX_PLUGINS);
    /* dlopen searches the library path for a bare name; a plugin is always a file path. */
    char buf[4096];
    const char *p = path;
    if (!strchr(path, '/')) {
        snprintf(buf, sizeof buf, "./%s", path);
        p = buf;
    }
    void *h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
    if (!h) return mb_error(ctx, MB_EINVAL, "cannot load plugin %s: %s", path, dlerror());
    void *sym = dlsym(h, MB_PLUGIN_ENTRY);
    if (!sym) {
        dlclose(h);
        return mb_error(ctx, MB_EINVAL, "plugin %s does not export %s()", path, MB_PLUGIN_ENTRY);
    }
    mb_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry);
    const mb_method *m = entry();
    if (!m || m->abi_version != MB_METHOD_ABI_VERSION) {
        unsigned v = m ? m->abi_version : 0;
        dlclose(h);
        return mb_error(ctx, MB_EINVAL,
                        "plugin %s was built for method ABI version %u, this membench has "
                        "version %u: rebuild it against this methods/method.h",
                        path, v, MB_METHOD_ABI_VERSION);
    }
    if (!m->name || !m->paper || !m->summary) {
        dlclose(h);
        return mb_error(ctx, MB_EINVAL, "plugin %s: its method lacks a name, paper or summary", path);
    }
    if (mb_registry_find(r, m->name)) {
        dlclose(h);
        return mb_error(ctx, MB_EINVAL, "plugin %s: a method named '%s' is already registered",
                        path, m->name);
    }
    r->plugin[r->nplugins] = m;
    r->handle[r->nplugins] = h;
    r->nplugins++;
    return MB_OK;
}

int mb_method_param_index(const mb_method *m, const char *name) {
    for (int i = 0; i < m->nparams; i++)
        if (!strcmp(m->params[i].name, name)) return i;
    return -1;
}

size_t mb_param_format(const mb_param_decl *d, double v, int exact, char *out, size_t n) {
    if (d->type == MB_PT_BOOL) return (size_t)snprintf(out, n, "%s", v != 0 ? "true" : "false");
    if (d->type == MB_PT_ENUM) {
        const char *c = d->choices;
        for (int j = 0; j < (int)v && c; j++) {
            c = strchr(c, '|');
            if (c) c++;
        }
        return (size_t)snprintf(out, n, "%.*s", c ? (int)strcspn(c, "|") : 0, c ? c : "");
    }
    if (!exact) return (size_t)snprintf(out, n, "%g", v);
    mb_fmt_double(out, n, v);
    return strlen(out);
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return (size_t)-1;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *mb_nearest(const char *name, const char *const *cands, int n) {
    return mb_nearest_within(name, cands, n, strlen(name) / 3 > 2 ? strlen(name) / 3 : 2);
}

const char *mb_nearest_within(const char *name, const char *const *cands, int n, size_t limit) {
    const char *best = NULL;
    size_t bd = (size_t)-1;
    for (int i = 0; i < n; i++) {
        size_t d = edit_distance(name, cands[i]);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    return bd <= limit ? best : NULL;
}
