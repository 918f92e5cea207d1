/* harness/cmd_methods.c — `membench methods [show NAME]`: the method table, or one method's paper,
 * slots and declared parameters with defaults, ranges and help. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "../methods/registry.h"

static void methods_usage(FILE *fp) {
    fprintf(fp,
            "usage: membench methods [--plugin PATH]... [show NAME]\n\n"
            "Without arguments: one line per method (name, slots it fills, summary).\n"
            "show NAME: its paper, slots and every parameter with type, default, range, help.\n");
}

static void slots_of(const mb_method *m, char *buf, size_t n) {
    buf[0] = 0;
    size_t used = 0;
    for (int s = 0; s < MB_NSLOTS; s++)
        if (mb_method_has_slot(m, s))
            used += (size_t)snprintf(buf + used, used < n ? n - used : 0, "%s%s", used ? "," : "",
                                     mb_slot_names[s]);
}

static const char *type_name(mb_ptype t) {
    switch (t) {
    case MB_PT_INT:
        return "int";
    case MB_PT_FLOAT:
        return "float";
    case MB_PT_BOOL:
        return "bool";
    case MB_PT_ENUM:
        return "enum";
    }
    return "?";
}

static void show(const mb_method *m) {
    char slots[256];
    slots_of(m, slots, sizeof slots);
    printf("%s — %s\n\npaper: %s\nslots: %s\n\nparameters:\n", m->name, m->summary, m->paper,
           slots);
    int w = 14; /* the name column fits the longest name */
    for (int i = 0; i < m->nparams; i++)
        if ((int)strlen(m->params[i].name) > w) w = (int)strlen(m->params[i].name);
    if (!m->nparams)
        printf("  (none)\n");
    else
        printf("  %-*s %-6s %-10s %-22s %s\n", w, "name", "type", "default", "range", "help");
    for (int i = 0; i < m->nparams; i++) {
        const mb_param_decl *d = &m->params[i];
        char def[64], range[64];
        mb_param_format(d, d->def, 0, def, sizeof def);
        if (d->type == MB_PT_INT || d->type == MB_PT_FLOAT)
            snprintf(range, sizeof range, "[%g, %g]", d->min, d->max);
        else if (d->type == MB_PT_ENUM)
            snprintf(range, sizeof range, "%s", d->choices);
        else
            snprintf(range, sizeof range, "true|false");
        printf("  %-*s %-6s %-10s %-22s %s\n", w, d->name, type_name(d->type), def, range, d->help);
    }
}

int mb_cmd_methods(int argc, char **argv) {
    static const struct option opts[] = {{"plugin", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    mb_ctx ctx;
    mb_ctx_init(&ctx, &mb_backend_cpu_f32);
    mb_registry reg;
    mb_registry_init(&reg);
    int c, rc = MB_EXIT_OK;
    optind = 0;
    while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
        if (c == 'h') {
            methods_usage(stdout);
            goto done;
        }
        if (c == 'p' && mb_registry_load_plugin(&ctx, &reg, optarg) == MB_OK) continue;
        if (c == 'p')
            fprintf(stderr, "membench methods: %s\n", ctx.err);
        else
            fprintf(stderr, "Try 'membench methods --help'.\n");
        rc = MB_EXIT_USAGE;
        goto done;
    }
    int n = mb_registry_count(&reg);
    if (optind == argc) {
        int w = 6, ws = 5; /* columns as wide as "method" and "slots", or the longest entry */
        char slots[256];
        for (int i = 0; i < n; i++) {
            const mb_method *m = mb_registry_get(&reg, i);
            slots_of(m, slots, sizeof slots);
            if ((int)strlen(m->name) > w) w = (int)strlen(m->name);
            if ((int)strlen(slots) > ws) ws = (int)strlen(slots);
        }
        printf("%-*s  %-*s  %s\n", w, "method", ws, "slots", "summary");
        for (int i = 0; i < n; i++) {
            const mb_method *m = mb_registry_get(&reg, i);
            slots_of(m, slots, sizeof slots);
            printf("%-*s  %-*s  %s\n", w, m->name, ws, slots, m->summary);
        }
        printf("\n'membench methods show NAME' gives the paper and parameters.\n");
    } else if (!strcmp(argv[optind], "show") && optind + 2 == argc) {
        const mb_method *m = mb_registry_find(&reg, argv[optind + 1]);
        if (!m) {
            const char *names[64];
            for (int i = 0; i < n && i < 64; i++) names[i] = mb_registry_get(&reg, i)->name;
            const char *near = mb_nearest(argv[optind + 1], names, n < 64 ? n : 64);
            fprintf(stderr, "membench methods: unknown method '%s'", argv[optind + 1]);
            if (near) fprintf(stderr, " (did you mean '%s'?)", near);
            fprintf(stderr, "\n");
            rc = MB_EXIT_USAGE;
        } else {
            show(m);
        }
    } else {
        fprintf(stderr, "membench methods: expected nothing or 'show NAME'\n"
                        "Try 'membench methods --help'.\n");
        rc = MB_EXIT_USAGE;
    }
done:
    mb_registry_fini(&reg);
    mb_ctx_fini(&ctx);
    return rc;
}
