/* harness/suite.c — a YAML suite read with libyaml's document API, validated against the schema
 * and the methods' declared parameters, and resolved into mb_suite. Errors name FILE:LINE:COL. */
#include "suite.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "../datasets/hftok.h"
#include "../engine/file.h"
#include "../engine/models/hf.h"
#include "../engine/train.h"

/* Aliases make the node graph a DAG (or even a cycle); no real suite nests anywhere near this. */
#define MAX_DEPTH 64
/* A suite is a page of text; a bigger file is a wrong path, not a suite. */
#define MAX_BYTES ((size_t)16 << 20)
/* Room for a user's value echoed in a message ('...' and escapes included). */
#define QCAP 80

static const char *const prec_names[] = {"fp32", "fp64", "tf32", "bf16"}; /* mb_precision order */

const char *mb_precision_name(mb_precision p) {
    if ((unsigned)p < sizeof prec_names / sizeof prec_names[0]) return prec_names[p];
    return "unknown";
}

/* Values already seen in one list, by their bytes, so that checking n values for a duplicate takes
 * n look-ups, not n^2/2 comparisons (300,000 matrix values took 20 s). Open addressing; keys point
 * into the document or the suite, which outlive the set. */
typedef struct seen_slot {
    const void *key; /* NULL: empty */
    size_t len;
    int idx;
} seen_slot;
typedef struct seen {
    seen_slot *slot;
    size_t cap, n; /* cap: 0 or a power of two, kept at least twice n */
} seen;

/* The loader's state: where messages point and what is being filled. */
typedef struct ld {
    mb_ctx *ctx;
    const mb_registry *reg;
    const char *file; /* for messages, as given */
    size_t dirlen;    /* data paths resolve against file[0..dirlen) (0: as written, cwd) */
    yaml_document_t *doc;
    mb_suite *s;
    const mb_suite *prev; /* the file's earlier documents (init: {suite: NAME} names one) */
    int nprev;
    seen docs;  /* the earlier documents' suite names -> their index */
    seen names; /* the list being loaded: its names or values -> their index */
} ld;

/* ---- messages ---- */

__attribute__((format(printf, 4, 5))) static mb_status
fail_st(ld *L, mb_status st, const yaml_node_t *n, const char *fmt, ...) {
    char msg[MB_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!n) return mb_error(L->ctx, st, "%s: error: %s", L->file, msg);
    return mb_error(L->ctx, st, "%s:%zu:%zu: error: %s", L->file, n->start_mark.line + 1,
                    n->start_mark.column + 1, msg);
}
#define fail(L, n, ...) fail_st((L), MB_EINVAL, (n), __VA_ARGS__)

static mb_status oom(ld *L) {
    return mb_error(L->ctx, MB_ENOMEM, "%s: error: out of memory while loading the suite", L->file);
}

/* 'text' for a message: control characters escaped and long values cut, so an error stays one
 * line whatever the user wrote. */
static const char *quote(const char *s, char *buf, size_t cap) {
    size_t o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        /* cut only at a character start, keeping room for escapes, "...'" and the NUL */
        if ((c & 0xC0) != 0x80 && o + 8 >= cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '\n')
            o += (size_t)snprintf(buf + o, cap - o, "\\n");
        else if (c == '\t')
            o += (size_t)snprintf(buf + o, cap - o, "\\t");
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o++] = '\'';
    buf[o] = 0;
    return buf;
}

static void join(const char *const *v, int n, const char *sep, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, "%s%s", i ? sep : "", v[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* ---- duplicates ---- */

static uint64_t seen_hash(const void *key, size_t len) {
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then MurmurHash3's finaliser: the slot is the
                                         * low bits, which must depend on every byte */
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static void seen_free(seen *s) {
    free(s->slot);
    memset(s, 0, sizeof *s);
}

/* The index recorded under `key`, or -1. */
static int seen_find(const seen *s, const void *key, size_t len) {
    for (size_t h = s->cap ? seen_hash(key, len) & (s->cap - 1) : 0; s->cap && s->slot[h].key;
         h = (h + 1) & (s->cap - 1))
        if (s->slot[h].len == len && !memcmp(s->slot[h].key, key, len)) return s->slot[h].idx;
    return -1;
}

/* *first: the index recorded earlier under the same bytes, or -1 after recording `idx`. */
static mb_status seen_add(ld *L, seen *s, const void *key, size_t len, int idx, int *first) {
    if ((*first = seen_find(s, key, len)) >= 0) return MB_OK;
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        seen_slot *t = calloc(cap, sizeof *t);
        if (!t) return oom(L);
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slot[i].key) continue;
            size_t h = seen_hash(s->slot[i].key, s->slot[i].len) & (cap - 1);
            while (t[h].key) h = (h + 1) & (cap - 1);
            t[h] = s->slot[i];
        }
        free(s->slot);
        s->slot = t;
        s->cap = cap;
    }
    size_t h = seen_hash(key, len) & (s->cap - 1);
    while (s->slot[h].key) h = (h + 1) & (s->cap - 1);
    s->slot[h] = (seen_slot){.key = key, .len = len, .idx = idx};
    s->n++;
    return MB_OK;
}

/* ---- nodes ---- */

static yaml_node_t *nd(const ld *L, int id) {
    return yaml_document_get_node(L->doc, id);
}
static const char *sv(const yaml_node_t *n) {
    return (const char *)n->data.scalar.value;
}
static int map_len(const yaml_node_t *m) {
    return (int)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
}
static yaml_node_t *map_key(const ld *L, const yaml_node_t *m, int i) {
    return nd(L, m->data.mapping.pairs.start[i].key);
}
static yaml_node_t *map_val(const ld *L, const yaml_node_t *m, int i) {
    return nd(L, m->data.mapping.pairs.start[i].value);
}
static int seq_len(const yaml_node_t *q) {
    return (int)(q->data.sequence.items.top - q->data.sequence.items.start);
}
static yaml_node_t *seq_at(const ld *L, const yaml_node_t *q, int i) {
    return nd(L, q->data.sequence.items.start[i]);
}

/* The value under `key` (keys are known to be scalars and unique once check_keys passed). */
static yaml_node_t *map_get(const ld *L, const yaml_node_t *m, const char *key) {
    for (int i = 0; i < map_len(m); i++) {
        const yaml_node_t *k = map_key(L, m, i);
        if (k->type == YAML_SCALAR_NODE && !strcmp(sv(k), key)) return map_val(L, m, i);
    }
    return NULL;
}

/* YAML's null: an empty plain value, ~ or null. */
static int is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = sv(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* What a node is, for "got ..." */
static const char *got(const yaml_node_t *n, char *buf, size_t cap) {
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (is_null(n)) return "an empty value";
    return quote(sv(n), buf, cap);
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* ---- keys ---- */

/* "line L" of an earlier node, with its column when both sit on one line (flow style). */
static const char *first_at(const yaml_node_t *first, const yaml_node_t *now, char *buf,
                            size_t cap) {
    if (first->start_mark.line == now->start_mark.line)
        snprintf(buf, cap, "line %zu, column %zu", first->start_mark.line + 1,
                 first->start_mark.column + 1);
    else
        snprintf(buf, cap, "line %zu", first->start_mark.line + 1);
    return buf;
}

static mb_status unknown(ld *L, const yaml_node_t *k, const char *noun, const char *where,
                         const char *const *valid, int nvalid) {
    char q[QCAP], list[512];
    quote(sv(k), q, sizeof q);
    const char *near = mb_nearest(sv(k), valid, nvalid);
    if (near) return fail(L, k, "unknown %s %s%s (did you mean '%s'?)", noun, q, where, near);
    if (!nvalid) return fail(L, k, "unknown %s %s%s (it has none)", noun, q, where);
    join(valid, nvalid, ", ", list, sizeof list);
    return fail(L, k, "unknown %s %s%s (valid: %s)", noun, q, where, list);
}

/* Keys must be scalars and unique (libyaml does not check). With nvalid >= 0 each key must also be
 * `allow` or one of valid[]; an unknown one names the nearest valid key, or lists them all. */
static mb_status check_keys(ld *L, const yaml_node_t *map, const char *allow,
                            const char *const *valid, int nvalid, const char *noun,
                            const char *where) {
    char b[QCAP], at[64];
    seen keys = {0};
    mb_status st = MB_OK;
    const int few = map_len(map) <= 16; /* compared pairwise: cheaper than a table, still bounded */
    for (int i = 0; st == MB_OK && i < map_len(map); i++) {
        const yaml_node_t *k = map_key(L, map, i);
        int j = -1;
        if (k->type != YAML_SCALAR_NODE) {
            st = fail(L, k, "a key must be a name, got %s", got(k, b, sizeof b));
            break;
        }
        for (int q = 0; few && q < i && j < 0; q++)
            if (!strcmp(sv(map_key(L, map, q)), sv(k))) j = q;
        if (!few && (st = seen_add(L, &keys, sv(k), k->data.scalar.length, i, &j)) != MB_OK) break;
        if (j >= 0) {
            st = fail(L, k, "duplicate key %s (first at %s)", quote(sv(k), b, sizeof b),
                      first_at(map_key(L, map, j), k, at, sizeof at));
            break;
        }
        if (nvalid < 0 || (allow && !strcmp(sv(k), allow))) continue;
        int found = 0;
        for (int v = 0; v < nvalid && !found; v++) found = !strcmp(sv(k), valid[v]);
        if (!found) st = unknown(L, k, noun, where, valid, nvalid);
    }
    seen_free(&keys);
    return st;
}

#define NKEYS(a) ((int)(sizeof(a) / sizeof(a)[0]))

/* ---- scalars ---- */

static mb_status get_string(ld *L, const yaml_node_t *n, const char *what, char **out) {
    char b[QCAP];
    if (n->type != YAML_SCALAR_NODE)
        return fail(L, n, "%s must be a string, got %s", what, got(n, b, sizeof b));
    if (is_null(n) || !*sv(n)) return fail(L, n, "%s must not be empty", what);
    if (!(*out = xstrdup(sv(n)))) return oom(L);
    return MB_OK;
}

/* Suite, target and model names end up in folder names and in the '/'-separated cell labels. */
static mb_status get_name(ld *L, const yaml_node_t *n, const char *what, char **out) {
    MB_TRY(get_string(L, n, what, out));
    const char *s = *out;
    int ok = s[0] != '.' && s[0] != '-';
    for (size_t i = 0; ok && s[i]; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    char b[QCAP];
    if (!ok)
        return fail(L, n,
                    "%s must be a name of letters, digits, '.', '_' and '-' (not starting with "
                    "'.' or '-'), got %s",
                    what, quote(s, b, sizeof b));
    return MB_OK;
}

/* Numbers and booleans must be plain scalars: "12" in quotes is a string in YAML. */
static mb_status not_quoted(ld *L, const yaml_node_t *n, const char *what, const char *kind) {
    char b[QCAP];
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) return MB_OK;
    return fail(L, n, "%s must be %s, got the quoted string %s (remove the quotes)", what, kind,
                quote(sv(n), b, sizeof b));
}

static mb_status parse_int(ld *L, const yaml_node_t *n, const char *what, int64_t *out) {
    char b[QCAP];
    if (n->type != YAML_SCALAR_NODE || is_null(n))
        return fail(L, n, "%s must be an integer, got %s", what, got(n, b, sizeof b));
    MB_TRY(not_quoted(L, n, what, "an integer"));
    const char *s = sv(n);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || s[0] == ' ')
        return fail(L, n, "%s must be an integer, got %s", what, quote(s, b, sizeof b));
    if (errno == ERANGE)
        return fail(L, n, "%s is out of range, got %s", what, quote(s, b, sizeof b));
    *out = v;
    return MB_OK;
}

/* hi == INT_MAX or INT64_MAX stands for "no upper bound" in the message. */
static mb_status range_int(ld *L, const yaml_node_t *n, const char *what, int64_t v, int64_t lo,
                           int64_t hi) {
    if (v >= lo && v <= hi) return MB_OK;
    if (hi == INT_MAX || hi == INT64_MAX) {
        if (v < lo)
            return fail(L, n, "%s must be >= %lld, got %lld", what, (long long)lo, (long long)v);
        return fail(L, n, "%s must be <= %lld, got %lld", what, (long long)hi, (long long)v);
    }
    return fail(L, n, "%s must be in [%lld, %lld], got %lld", what, (long long)lo, (long long)hi,
                (long long)v);
}

static mb_status get_int(ld *L, const yaml_node_t *n, const char *what, int lo, int hi, int *out) {
    int64_t v = 0;
    MB_TRY(parse_int(L, n, what, &v));
    MB_TRY(range_int(L, n, what, v, lo, hi));
    *out = (int)v;
    return MB_OK;
}

static mb_status parse_num(ld *L, const yaml_node_t *n, const char *what, double *out) {
    char b[QCAP];
    if (n->type != YAML_SCALAR_NODE || is_null(n))
        return fail(L, n, "%s must be a number, got %s", what, got(n, b, sizeof b));
    MB_TRY(not_quoted(L, n, what, "a number"));
    const char *s = sv(n);
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || s[0] == ' ')
        return fail(L, n, "%s must be a number, got %s", what, quote(s, b, sizeof b));
    if (!isfinite(v))
        return fail(L, n, "%s must be a finite number, got %s", what, quote(s, b, sizeof b));
    *out = v;
    return MB_OK;
}

static mb_status get_num(ld *L, const yaml_node_t *n, const char *what, double lo, double hi,
                         double *out) {
    double v = 0;
    MB_TRY(parse_num(L, n, what, &v));
    if (v < lo || v > hi) return fail(L, n, "%s must be in [%g, %g], got %g", what, lo, hi, v);
    *out = v;
    return MB_OK;
}

static mb_status get_bool(ld *L, const yaml_node_t *n, const char *what, int *out) {
    char b[QCAP];
    if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
        MB_TRY(not_quoted(L, n, what, "true or false"));
        if (!strcmp(sv(n), "true") || !strcmp(sv(n), "false")) {
            *out = !strcmp(sv(n), "true");
            return MB_OK;
        }
    }
    return fail(L, n, "%s must be true or false, got %s", what, got(n, b, sizeof b));
}

static mb_status get_enum(ld *L, const yaml_node_t *n, const char *what, const char *const *ch,
                          int nch, int *out) {
    char b[QCAP], list[512];
    if (n->type == YAML_SCALAR_NODE)
        for (int i = 0; i < nch; i++)
            if (!strcmp(sv(n), ch[i])) {
                *out = i;
                return MB_OK;
            }
    join(ch, nch, ", ", list, sizeof list);
    /* one edit per four letters: "classfy" -> classify, but "fp16" is not offered "fp32" */
    const char *near =
        n->type == YAML_SCALAR_NODE ? mb_nearest_within(sv(n), ch, nch, strlen(sv(n)) / 4) : NULL;
    if (near)
        return fail(L, n, "%s must be one of %s, got %s (did you mean '%s'?)", what, list,
                    got(n, b, sizeof b), near);
    return fail(L, n, "%s must be one of %s, got %s", what, list, got(n, b, sizeof b));
}

/* Bytes: a plain integer, or a number and a unit (binary KiB..TiB, decimal KB..TB), an optional
 * space between. */
static mb_status get_size(ld *L, const yaml_node_t *n, const char *what, size_t *out) {
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"B", 1.0},  {"KiB", 0x1p10}, {"MiB", 0x1p20}, {"GiB", 0x1p30}, {"TiB", 0x1p40},
                 {"KB", 1e3}, {"MB", 1e6},     {"GB", 1e9},     {"TB", 1e12}};
    char b[QCAP], num[64];
    if (n->type != YAML_SCALAR_NODE || is_null(n)) goto bad;
    const char *s = sv(n);
    size_t k = strspn(s, "0123456789.");
    const char *dot = memchr(s, '.', k);
    if (!k || k >= sizeof num || s[0] == '.' ||
        (dot && memchr(dot + 1, '.', k - (size_t)(dot - s) - 1)))
        goto bad;
    memcpy(num, s, k);
    num[k] = 0;
    const char *unit = s + k;
    if (*unit == ' ') unit++;
    if (!*unit) {
        if (dot || unit != s + k) goto bad; /* bare bytes are a whole number */
        errno = 0;
        unsigned long long v = strtoull(num, NULL, 10);
        if (errno == ERANGE || v > (unsigned long long)INT64_MAX)
            return fail(L, n, "%s is too large, got %s", what, quote(s, b, sizeof b));
        *out = (size_t)v;
        return MB_OK;
    }
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        if (strcmp(unit, units[u].unit)) continue;
        double v = strtod(num, NULL) * units[u].mult;
        if (!(v < 0x1p63))
            return fail(L, n, "%s is too large, got %s", what, quote(s, b, sizeof b));
        *out = (size_t)(v + 0.5);
        return MB_OK;
    }
bad:
    return fail(L, n, "%s must be a size like 24GiB or 512MiB, got %s", what, got(n, b, sizeof b));
}

static mb_status want_map(ld *L, const yaml_node_t *n, const char *what) {
    char b[QCAP];
    if (n->type == YAML_MAPPING_NODE) return MB_OK;
    return fail(L, n, "%s must be a mapping, got %s", what, got(n, b, sizeof b));
}

/* A list of at least one item; `items` says what, for the empty case. */
static mb_status want_list(ld *L, const yaml_node_t *n, const char *what, const char *items) {
    char b[QCAP];
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(L, n, "%s must be a list, got %s", what, got(n, b, sizeof b));
    if (!seq_len(n)) return fail(L, n, "%s must list at least one %s", what, items);
    return MB_OK;
}

/* ---- sections ---- */

static mb_status load_defaults(ld *L, const yaml_node_t *m) {
    static const char *const keys[] = {"steps", "warmup_steps", "precision", "eval"};
    static const char *const eval_keys[] = {"every", "batches"};
    mb_suite *s = L->s;
    const yaml_node_t *v;
    MB_TRY(want_map(L, m, "defaults"));
    MB_TRY(check_keys(L, m, NULL, keys, NKEYS(keys), "key", " in defaults"));
    if ((v = map_get(L, m, "steps")))
        MB_TRY(get_int(L, v, "defaults.steps", 1, INT_MAX, &s->steps));
    const yaml_node_t *w = map_get(L, m, "warmup_steps");
    if (w) {
        MB_TRY(get_int(L, w, "defaults.warmup_steps", 0, INT_MAX, &s->warmup_steps));
        if (s->warmup_steps >= s->steps)
            return fail(L, w, "defaults.warmup_steps must be less than defaults.steps (%d), got %d",
                        s->steps, s->warmup_steps);
    } else if (s->warmup_steps >= s->steps) {
        /* the default warm-up shrinks for a very short run rather than failing on a key not written
         */
        s->warmup_steps = s->steps - 1;
    }
    if ((v = map_get(L, m, "precision"))) {
        int p = 0;
        MB_TRY(get_enum(L, v, "defaults.precision", prec_names, NKEYS(prec_names), &p));
        s->precision = (mb_precision)p;
    }
    if ((v = map_get(L, m, "eval"))) {
        const yaml_node_t *e;
        MB_TRY(want_map(L, v, "defaults.eval"));
        MB_TRY(check_keys(L, v, NULL, eval_keys, NKEYS(eval_keys), "key", " in defaults.eval"));
        if ((e = map_get(L, v, "every")))
            MB_TRY(get_int(L, e, "defaults.eval.every", 0, INT_MAX, &s->eval_every));
        if ((e = map_get(L, v, "batches")))
            MB_TRY(get_int(L, e, "defaults.eval.batches", 1, INT_MAX, &s->eval_batches));
    }
    return MB_OK;
}

/* Entry i of a list of models or targets repeating an earlier entry's name (L->names holds the
 * earlier ones, cleared before the list). A target's name is its `name`, else its `preset`. */
static const yaml_node_t *name_node(ld *L, const yaml_node_t *e) {
    const yaml_node_t *n = map_get(L, e, "name");
    return n ? n : map_get(L, e, "preset");
}
static mb_status unique_name(ld *L, const yaml_node_t *list, int i, const char *kind) {
    const yaml_node_t *n = name_node(L, seq_at(L, list, i));
    char b[QCAP], at[64];
    int j;
    MB_TRY(seen_add(L, &L->names, sv(n), n->data.scalar.length, i, &j));
    if (j < 0) return MB_OK;
    return fail(L, n, "duplicate %s name %s (first at %s)", kind, quote(sv(n), b, sizeof b),
                first_at(name_node(L, seq_at(L, list, j)), n, at, sizeof at));
}

/* Target presets: a device's backend and its memory in GiB (binary: 80 GiB = 85899345920 bytes),
 * as vendors' "80 GB" means the card's 80 GiB of HBM/GDDR. The cap holds tracked peak + runtime
 * baseline (DESIGN.md), so a preset cap is the whole card, not what a framework leaves free. */
#define GIB ((size_t)1 << 30)
static const struct {
    const char *name;
    mb_backend_kind backend;
    size_t cap; /* 0: none */
} target_presets[] = {
    {"h100-80g", MB_TARGET_CUDA, 80 * GIB},      {"a100-40g", MB_TARGET_CUDA, 40 * GIB},
    {"rtx4090-24g", MB_TARGET_CUDA, 24 * GIB},   {"l4-24g", MB_TARGET_CUDA, 24 * GIB},
    {"jetson-orin-8g", MB_TARGET_CUDA, 8 * GIB}, {"cpu", MB_TARGET_CPU, 0},
};
static const char *const target_preset_names[] = {"h100-80g", "a100-40g",       "rtx4090-24g",
                                                  "l4-24g",   "jetson-orin-8g", "cpu"};
_Static_assert(sizeof target_presets / sizeof target_presets[0] ==
                   sizeof target_preset_names / sizeof target_preset_names[0],
               "one name per target preset");

const char *mb_attention_mode_name(mb_attention_mode a) {
    return a == MB_ATTN_NAIVE ? "naive" : a == MB_ATTN_FLASH ? "flash" : "auto";
}

/* `attention: auto | naive | flash` of a target or a model entry, when present. */
static mb_status get_attention(ld *L, const yaml_node_t *e, const char *what,
                               mb_attention_mode *out) {
    static const char *const modes[] = {"auto", "naive", "flash"};
    const yaml_node_t *v = map_get(L, e, "attention");
    if (!v) return MB_OK;
    char field[96];
    snprintf(field, sizeof field, "%s.attention", what);
    int m = 0;
    MB_TRY(get_enum(L, v, field, modes, NKEYS(modes), &m));
    *out = (mb_attention_mode)(MB_ATTN_AUTO + m);
    return MB_OK;
}

static mb_status load_targets(ld *L, const yaml_node_t *list) {
    static const char *const keys[] = {"name",       "preset",  "backend",  "device",
                                       "memory_cap", "threads", "attention"};
    static const char *const backends[] = {"cpu", "cuda"};
    const int npresets = NKEYS(target_preset_names);
    mb_suite *s = L->s;
    MB_TRY(want_list(L, list, "targets", "target"));
    seen_free(&L->names);
    int n = seq_len(list);
    if (!(s->targets = calloc((size_t)n, sizeof *s->targets))) return oom(L);
    s->ntargets = n;
    for (int i = 0; i < n; i++) {
        const yaml_node_t *e = seq_at(L, list, i), *v;
        mb_target_cfg *t = &s->targets[i];
        char what[64], where[80], field[96];
        snprintf(what, sizeof what, "targets[%d]", i);
        snprintf(where, sizeof where, " in %s", what);
        MB_TRY(want_map(L, e, what));
        MB_TRY(check_keys(L, e, NULL, keys, NKEYS(keys), "key", where));
        const yaml_node_t *pre = map_get(L, e, "preset");
        if (pre) {
            /* The preset fills backend and memory_cap; keys given beside it override them. */
            char *pname = NULL, b[QCAP], list_s[256];
            snprintf(field, sizeof field, "%s.preset", what);
            MB_TRY(get_string(L, pre, field, &pname));
            int k = 0;
            while (k < npresets && strcmp(target_preset_names[k], pname)) k++;
            if (k == npresets) {
                const char *near = mb_nearest(pname, target_preset_names, npresets);
                quote(pname, b, sizeof b);
                free(pname);
                if (near) return fail(L, pre, "unknown preset %s (did you mean '%s'?)", b, near);
                join(target_preset_names, npresets, ", ", list_s, sizeof list_s);
                return fail(L, pre, "unknown preset %s (valid: %s)", b, list_s);
            }
            free(pname);
            t->backend = target_presets[k].backend;
            t->memory_cap = target_presets[k].cap;
        }
        if ((v = map_get(L, e, "name"))) {
            snprintf(field, sizeof field, "%s.name", what);
            MB_TRY(get_name(L, v, field, &t->name));
            MB_TRY(unique_name(L, list, i, "target"));
        } else if (pre) {
            /* Named after its preset; two such targets would share one name. */
            snprintf(field, sizeof field, "%s.preset", what);
            MB_TRY(get_name(L, pre, field, &t->name));
            MB_TRY(unique_name(L, list, i, "target"));
        } else {
            return fail(L, e, "missing required key 'name'%s (or a preset)", where);
        }
        if ((v = map_get(L, e, "backend"))) {
            int b = 0;
            snprintf(field, sizeof field, "%s.backend", what);
            MB_TRY(get_enum(L, v, field, backends, NKEYS(backends), &b));
            t->backend = b ? MB_TARGET_CUDA : MB_TARGET_CPU;
        }
        if ((v = map_get(L, e, "device"))) {
            snprintf(field, sizeof field, "%s.device", what);
            MB_TRY(get_int(L, v, field, 0, INT_MAX, &t->device));
        }
        if ((v = map_get(L, e, "memory_cap"))) {
            snprintf(field, sizeof field, "%s.memory_cap", what);
            MB_TRY(get_size(L, v, field, &t->memory_cap));
        }
        if ((v = map_get(L, e, "threads"))) {
            snprintf(field, sizeof field, "%s.threads", what);
            MB_TRY(get_int(L, v, field, 1, 4096, &t->threads));
        }
        MB_TRY(get_attention(L, e, what, &t->attention));
    }
    return MB_OK;
}

static mb_status get_path(ld *L, const yaml_node_t *n, const char *what, char **out);

/* models[i] with hf: PATH (a checkpoint folder, its index or one .safetensors file, relative to the
 * suite's folder): the shape from the folder's config.json, checked now with the index and the
 * shards it names, so a run never starts on a checkpoint it cannot load. Beside hf only name and
 * batch_size and attention are given. */
static mb_status load_hf(ld *L, const yaml_node_t *e, const yaml_node_t *v, const char *what,
                         mb_model_cfg *md) {
    static const char *const beside[] = {"name", "hf", "batch_size", "attention"};
    char field[96], msg[MB_ERRMSG_MAX], b[QCAP], dir[MB_FILE_PATH_MAX];
    for (int i = 0; i < map_len(e); i++) {
        const yaml_node_t *k = map_key(L, e, i);
        int ok = 0;
        for (int j = 0; j < NKEYS(beside); j++) ok |= !strcmp(sv(k), beside[j]);
        if (!ok)
            return fail(L, k,
                        "%s: %s cannot be given with hf (the shape comes from the checkpoint's "
                        "config.json)",
                        what, quote(sv(k), b, sizeof b));
    }
    snprintf(field, sizeof field, "%s.hf", what);
    MB_TRY(get_path(L, v, field, &md->hf));
    struct stat sb;
    if (stat(md->hf, &sb) != 0)
        return fail(L, v, "%s %s: %s", field, quote(md->hf, b, sizeof b), strerror(errno));
    const char *slash = strrchr(md->hf, '/');
    if (S_ISDIR(sb.st_mode))
        snprintf(dir, sizeof dir, "%s", md->hf);
    else if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash > md->hf ? slash - md->hf : 1), md->hf);
    mb_status st = mb_hf_config_read(L->ctx, dir, &md->shape);
    if (st == MB_OK) st = mb_hf_check(L->ctx, md->hf);
    if (st != MB_OK) {
        snprintf(msg, sizeof msg, "%s", L->ctx->err);
        return fail(L, v, "%s: %s", field, msg);
    }
    const yaml_node_t *bs = map_get(L, e, "batch_size");
    if (!bs) return MB_OK;
    snprintf(field, sizeof field, "%s.batch_size", what);
    return get_int(L, bs, field, 1, 1 << 20, &md->batch_size);
}

static mb_status load_models(ld *L, const yaml_node_t *list) {
    static const char *const keys[] = {"name",       "preset",    "arch",       "layers",
                                       "d_model",    "heads",     "seq_len",    "vocab",
                                       "kv_heads",   "d_ff",      "rope_theta", "tie_embeddings",
                                       "batch_size", "attention", "hf"};
    static const char *const archs[] = {"gpt", "llama"};
    /* Upper bounds keep the engine's size arithmetic far from overflow; they are well above
     * today's largest models (Llama 3 405B: 126 layers, d_model 16384, 128 heads). */
    static const struct {
        const char *key;
        int hi;
    } dims[5] = {{"layers", 1024},
                 {"d_model", 65536},
                 {"heads", 1024},
                 {"seq_len", 1 << 20},
                 {"vocab", 1 << 24}};
    mb_suite *s = L->s;
    const char *presets[64];
    int npresets = mb_model_preset_names(presets, 64);
    if (npresets > 64) npresets = 64;
    MB_TRY(want_list(L, list, "models", "model"));
    seen_free(&L->names);
    int n = seq_len(list);
    if (!(s->models = calloc((size_t)n, sizeof *s->models))) return oom(L);
    s->nmodels = n;
    for (int i = 0; i < n; i++) {
        const yaml_node_t *e = seq_at(L, list, i), *v, *pre, *arch;
        mb_model_cfg *md = &s->models[i];
        char what[64], where[80], field[96], b[QCAP], list_s[256];
        snprintf(what, sizeof what, "models[%d]", i);
        snprintf(where, sizeof where, " in %s", what);
        MB_TRY(want_map(L, e, what));
        MB_TRY(check_keys(L, e, NULL, keys, NKEYS(keys), "key", where));
        if (!(v = map_get(L, e, "name"))) return fail(L, e, "missing required key 'name'%s", where);
        snprintf(field, sizeof field, "%s.name", what);
        MB_TRY(get_name(L, v, field, &md->name));
        MB_TRY(unique_name(L, list, i, "model"));
        if ((v = map_get(L, e, "hf"))) {
            MB_TRY(load_hf(L, e, v, what, md));
            MB_TRY(get_attention(L, e, what, &md->attention));
            continue;
        }
        int a = 0;
        if ((arch = map_get(L, e, "arch"))) {
            snprintf(field, sizeof field, "%s.arch", what);
            MB_TRY(get_enum(L, arch, field, archs, NKEYS(archs), &a));
        }
        if ((pre = map_get(L, e, "preset"))) {
            snprintf(field, sizeof field, "%s.preset", what);
            MB_TRY(get_string(L, pre, field, &md->preset));
            if (mb_model_preset_raw(L->ctx, md->preset, &md->shape) != MB_OK) {
                const char *near = mb_nearest(md->preset, presets, npresets);
                quote(md->preset, b, sizeof b);
                if (near) return fail(L, pre, "unknown preset %s (did you mean '%s'?)", b, near);
                join(presets, npresets, ", ", list_s, sizeof list_s);
                return fail(L, pre, "unknown preset %s (valid: %s)", b, list_s);
            }
            if (arch && (int)md->shape.arch != a)
                return fail(L, arch, "%s: preset '%s' is a %s model, not %s", what, md->preset,
                            archs[md->shape.arch], archs[a]);
        } else if (!arch) {
            return fail(L, e,
                        "%s needs a preset, hf: a Hugging Face checkpoint folder, or arch: gpt or "
                        "llama with layers, d_model, heads, seq_len and vocab",
                        what);
        } else {
            md->shape.arch = (mb_arch)a;
        }
        int *slot[5] = {&md->shape.layers, &md->shape.d_model, &md->shape.heads, &md->shape.seq_len,
                        &md->shape.vocab};
        const yaml_node_t *given[5];
        for (int d = 0; d < 5; d++) {
            given[d] = map_get(L, e, dims[d].key);
            if (!given[d]) {
                if (!pre)
                    return fail(L, e,
                                "missing required key '%s'%s (a model without a preset gives "
                                "layers, d_model, heads, seq_len and vocab)",
                                dims[d].key, where);
                continue;
            }
            snprintf(field, sizeof field, "%s.%s", what, dims[d].key);
            MB_TRY(get_int(L, given[d], field, 1, dims[d].hi, slot[d]));
        }
        if (md->shape.d_model % md->shape.heads) {
            const yaml_node_t *at = given[2] ? given[2] : given[1] ? given[1] : e;
            return fail(L, at, "%s: d_model %d is not divisible by heads %d", what,
                        md->shape.d_model, md->shape.heads);
        }
        /* llama's own keys (gpt refuses values other than its fixed ones in its check) */
        static const struct {
            const char *key;
            int hi;
        } extra[2] = {{"kv_heads", 1024}, {"d_ff", 1 << 20}};
        int *eslot[2] = {&md->shape.kv_heads, &md->shape.d_ff};
        for (int d = 0; d < 2; d++)
            if ((v = map_get(L, e, extra[d].key))) {
                snprintf(field, sizeof field, "%s.%s", what, extra[d].key);
                MB_TRY(get_int(L, v, field, 1, extra[d].hi, eslot[d]));
            }
        if ((v = map_get(L, e, "rope_theta"))) {
            snprintf(field, sizeof field, "%s.rope_theta", what);
            MB_TRY(get_num(L, v, field, 1.0, 1e12, &md->shape.rope_theta));
        }
        if ((v = map_get(L, e, "tie_embeddings"))) {
            int tie = 0;
            snprintf(field, sizeof field, "%s.tie_embeddings", what);
            MB_TRY(get_bool(L, v, field, &tie));
            md->shape.tie = tie ? 1 : -1;
        }
        if ((v = map_get(L, e, "batch_size"))) {
            snprintf(field, sizeof field, "%s.batch_size", what);
            MB_TRY(get_int(L, v, field, 1, 1 << 20, &md->batch_size));
        }
        MB_TRY(get_attention(L, e, what, &md->attention));
        /* the engine's own check stays the last word on a shape */
        mb_status st = mb_model_config_check(L->ctx, &md->shape);
        if (st != MB_OK)
            return mb_error_prefix(L->ctx, st, "%s:%zu:%zu: error: %s", L->file,
                                   e->start_mark.line + 1, e->start_mark.column + 1, what);
    }
    return MB_OK;
}

/* A path as written, or relative to the suite file's folder, so a suite runs from any working
 * directory. */
static mb_status get_path(ld *L, const yaml_node_t *n, const char *what, char **out) {
    char *raw;
    MB_TRY(get_string(L, n, what, &raw));
    if (raw[0] == '/' || !L->dirlen) {
        *out = raw;
        return MB_OK;
    }
    size_t len = strlen(raw);
    *out = malloc(L->dirlen + len + 1);
    if (*out) {
        memcpy(*out, L->file, L->dirlen);
        memcpy(*out + L->dirlen, raw, len + 1);
    }
    free(raw);
    return *out ? MB_OK : oom(L);
}

/* init: {suite: NAME}: an earlier document of this file that saves a checkpoint. */
static mb_status load_init_suite(ld *L, const yaml_node_t *n) {
    char *name, b[QCAP];
    MB_TRY(get_string(L, n, "init.suite", &name));
    L->s->init_suite = name;
    int i = seen_find(&L->docs, name, strlen(name));
    if (i >= 0) {
        if (L->prev[i].save_checkpoint) return MB_OK;
        return fail(L, n, "suite %s saves no checkpoint (it has no save: {checkpoint: NAME})",
                    quote(name, b, sizeof b));
    }
    return fail(L, n,
                "no earlier document of this file is suite %s (init.suite names one that "
                "runs before, in the same file)",
                quote(name, b, sizeof b));
}

/* Every fixed name membench writes into a results folder, which save.checkpoint must not take:
 * `membench run` (harness/runner.c, and the results folder's lock) and `membench report --out` into
 * the same folder (reports/: report.md, index.html, each figure's .gp, .dat, .png and .svg). */
static const char *const results_files[] = {
    "results.csv",  "steps.csv",    "run.json",     "steps.csv.tmp",
    ".lock",        "report.md",    "index.html",   "loss.gp",
    "loss.dat",     "loss.png",     "loss.svg",     "memory.gp",
    "memory.dat",   "memory.png",   "memory.svg",   "time.gp",
    "time.dat",     "time.png",     "time.svg",     "maxbatch.gp",
    "maxbatch.dat", "maxbatch.png", "maxbatch.svg", "peers.gp",
    "peers.dat",    "peers.png",    "peers.svg",    "pareto.gp",
    "pareto.dat",   "pareto.png",   "pareto.svg",   "quality.gp",
    "quality.dat",  "quality.png",  "quality.svg",  "pareto_frontier.dat"};

/* save.checkpoint: a plain name (no folder, not hidden, so never '.', '..' or the lock), none of
 * the results folder's files, ending in .safetensors (which none of them does). */
static mb_status save_name(ld *L, const yaml_node_t *n, const char *name) {
    static const char ext[] = ".safetensors";
    char b[QCAP];
    if (name[0] == '.' || strchr(name, '/'))
        return fail(L, n,
                    "save.checkpoint must be a plain file name (no '/', not starting with '.'), "
                    "written into the results folder; got %s",
                    quote(name, b, sizeof b));
    for (int i = 0; i < NKEYS(results_files); i++)
        if (!strcmp(name, results_files[i]))
            return fail(L, n,
                        "save.checkpoint %s is the name of a file membench writes into the results "
                        "folder; name the checkpoint NAME.safetensors",
                        quote(name, b, sizeof b));
    size_t len = strlen(name);
    if (len < sizeof ext || strcmp(name + len - (sizeof ext - 1), ext))
        return fail(L, n, "save.checkpoint must end in %s, got %s", ext, quote(name, b, sizeof b));
    return MB_OK;
}

/* init.checkpoint, when it exists, must be a regular file: a FIFO would block the run when the
 * weights are opened, a directory or device fail only then. A missing one is the runner's to report
 * (an earlier run may write it). */
static mb_status init_file(ld *L, const yaml_node_t *n, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || S_ISREG(sb.st_mode)) return MB_OK;
    if (mb_file_check_regular(L->ctx, path, "init.checkpoint", 0) == MB_OK) return MB_OK;
    return fail(L, n, "%s", L->ctx->err);
}

/* init: {checkpoint: FILE} (relative to the suite's folder) or {suite: NAME}; save:
 * {checkpoint: NAME} (a plain file name, written into the results folder). */
static mb_status load_checkpoint_key(ld *L, const yaml_node_t *m, const char *key, char **out) {
    static const char *const keys[] = {"checkpoint", "suite"};
    char what[32], where[16];
    snprintf(what, sizeof what, "%s.checkpoint", key);
    snprintf(where, sizeof where, " in %s", key);
    int init = !strcmp(key, "init");
    MB_TRY(want_map(L, m, key));
    MB_TRY(check_keys(L, m, NULL, keys, init ? 2 : 1, "key", where));
    const yaml_node_t *c = map_get(L, m, "checkpoint"), *su = init ? map_get(L, m, "suite") : NULL;
    if (c && su) return fail(L, su, "init takes checkpoint or suite, not both");
    if (su) return load_init_suite(L, su);
    if (!c)
        return fail(L, m, "missing required key 'checkpoint' in %s%s", key,
                    init ? " (or 'suite')" : "");
    if (init) {
        MB_TRY(get_path(L, c, what, out));
        return init_file(L, c, *out);
    }
    MB_TRY(get_string(L, c, what, out));
    return save_name(L, c, *out);
}

/* data.tokenizer: FILE.json, a Hugging Face tokenizer.json (relative to the suite's folder) for
 * the corpora: read whole now, so a file membench cannot encode with stops the suite here, and
 * its vocabulary is the data's. */
static mb_status load_tokenizer_file(ld *L, const yaml_node_t *v, mb_data_cfg *d) {
    if (d->kind == MB_DATA_SPAM)
        return fail(L, v,
                    "data.tokenizer: a tokenizer.json applies to sotu and moby-dick (spam-assassin "
                    "takes gpt2 or bytes)");
    MB_TRY(get_path(L, v, "data.tokenizer", &d->tokenizer_file));
    mb_hftok *t = NULL;
    mb_status s = mb_hftok_load(L->ctx, d->tokenizer_file, &t);
    if (s != MB_OK) return fail(L, v, "data.tokenizer: %s", L->ctx->err);
    d->tokenizer = MB_DATA_TOK_FILE;
    d->vocab = mb_hftok_vocab(t);
    mb_hftok_free(t);
    return MB_OK;
}

static mb_status load_data(ld *L, const yaml_node_t *m) {
    static const char *const keys[] = {"name", "path", "vocab", "val_fraction", "tokenizer"};
    /* mb_data_kind order; all but the first two come from `membench data fetch` */
    static const char *const kinds[] = {"synthetic", "file",          "sotu",
                                        "moby-dick", "spam-assassin", "fashion-mnist"};
    static const char *const tokenizers[] = {"gpt2", "bytes"}; /* mb_tokenizer order */
    mb_data_cfg *d = &L->s->data;
    const yaml_node_t *v;
    MB_TRY(want_map(L, m, "data"));
    MB_TRY(check_keys(L, m, NULL, keys, NKEYS(keys), "key", " in data"));
    if ((v = map_get(L, m, "name"))) {
        int k = -1;
        for (int i = 0; v->type == YAML_SCALAR_NODE && i < (int)NKEYS(kinds); i++)
            if (!strcmp(sv(v), kinds[i])) k = i;
        if (k < 0) {
            char b[QCAP], list[256];
            const char *near =
                v->type == YAML_SCALAR_NODE ? mb_nearest(sv(v), kinds, NKEYS(kinds)) : NULL;
            join(kinds, NKEYS(kinds), ", ", list, sizeof list);
            if (near)
                return fail(L, v,
                            "unknown data set %s (did you mean '%s'?); available: %s "
                            "(fetch corpora with `membench data fetch NAME`)",
                            got(v, b, sizeof b), near, list);
            return fail(L, v,
                        "unknown data set %s; available: %s (fetch corpora with "
                        "`membench data fetch NAME`)",
                        got(v, b, sizeof b), list);
        }
        d->kind = (mb_data_kind)k;
        d->line = (int)v->start_mark.line + 1; /* where a set not fetched is reported */
        d->col = (int)v->start_mark.column + 1;
    }
    if ((v = map_get(L, m, "tokenizer"))) {
        if (d->kind != MB_DATA_SOTU && d->kind != MB_DATA_MOBY_DICK && d->kind != MB_DATA_SPAM)
            return fail(L, v,
                        "data.tokenizer applies only to the text sets (sotu, moby-dick, "
                        "spam-assassin)");
        size_t vl = v->type == YAML_SCALAR_NODE ? strlen(sv(v)) : 0;
        if (vl > 5 && !strcmp(sv(v) + vl - 5, ".json")) {
            MB_TRY(load_tokenizer_file(L, v, d));
        } else {
            int t = 0;
            MB_TRY(get_enum(L, v, "data.tokenizer", tokenizers, NKEYS(tokenizers), &t));
            d->tokenizer = t;
        }
    }
    if (d->kind == MB_DATA_FASHION_MNIST) {
        if ((v = map_get(L, m, "path")) || (v = map_get(L, m, "vocab")) ||
            (v = map_get(L, m, "val_fraction")))
            return fail(L, v,
                        "data.%s does not apply to fashion-mnist (16 gray levels as tokens; "
                        "its own 10,000 test images are the validation split)",
                        map_get(L, m, "path")    ? "path"
                        : map_get(L, m, "vocab") ? "vocab"
                                                 : "val_fraction");
        d->vocab = 16;
        return MB_OK;
    }
    if (d->kind == MB_DATA_SOTU || d->kind == MB_DATA_MOBY_DICK || d->kind == MB_DATA_SPAM) {
        if ((v = map_get(L, m, "path")) || (v = map_get(L, m, "vocab")))
            return fail(L, v,
                        "data.%s does not apply to the %s data (its vocabulary is the "
                        "tokenizer's)",
                        map_get(L, m, "path") ? "path" : "vocab", kinds[d->kind]);
        if (d->tokenizer != MB_DATA_TOK_FILE) d->vocab = d->tokenizer == 0 ? 50257 : 256;
        if ((v = map_get(L, m, "val_fraction"))) {
            MB_TRY(get_num(L, v, "data.val_fraction", 0, 0.5, &d->val_fraction));
            if (d->kind == MB_DATA_SPAM && d->val_fraction == 0)
                return fail(L, v,
                            "data.val_fraction must be above 0 for spam-assassin: the "
                            "classifier is scored on the validation split");
        }
        return MB_OK;
    }
    const yaml_node_t *path = map_get(L, m, "path"), *vocab = map_get(L, m, "vocab");
    if (d->kind == MB_DATA_FILE) {
        if (!path) return fail(L, m, "missing required key 'path' in data (data.name is file)");
        if (vocab)
            return fail(L, vocab,
                        "data.vocab applies only to synthetic data (file data is bytes: vocab "
                        "256)");
        MB_TRY(get_path(L, path, "data.path", &d->path));
        d->line = (int)path->start_mark.line + 1; /* where a file that cannot be read is reported */
        d->col = (int)path->start_mark.column + 1;
        d->vocab = 256;
    } else {
        if (path) return fail(L, path, "data.path applies only to data.name: file");
        if (vocab) MB_TRY(get_int(L, vocab, "data.vocab", 2, 1 << 24, &d->vocab));
    }
    if ((v = map_get(L, m, "val_fraction")))
        MB_TRY(get_num(L, v, "data.val_fraction", 0, 0.5, &d->val_fraction));
    return MB_OK;
}

static mb_status load_task(ld *L, const yaml_node_t *m) {
    static const char *const keys[] = {"kind", "batch_size", "seq_len"};
    static const char *const kinds[] = {"train", "classify"};
    const yaml_node_t *v;
    MB_TRY(want_map(L, m, "task"));
    MB_TRY(check_keys(L, m, NULL, keys, NKEYS(keys), "key", " in task"));
    if ((v = map_get(L, m, "kind"))) {
        int k = 0;
        MB_TRY(get_enum(L, v, "task.kind", kinds, NKEYS(kinds), &k));
        L->s->classify = k == 1;
    }
    if ((v = map_get(L, m, "batch_size")))
        MB_TRY(get_int(L, v, "task.batch_size", 1, INT_MAX, &L->s->batch_size));
    if ((v = map_get(L, m, "seq_len")))
        MB_TRY(get_int(L, v, "task.seq_len", 1, INT_MAX, &L->s->seq_len));
    return MB_OK;
}

/* ---- methods ---- */

static mb_status find_method(ld *L, const yaml_node_t *n, const char *what, const mb_method **out) {
    char b[QCAP], list[512];
    if (n->type != YAML_SCALAR_NODE || is_null(n))
        return fail(L, n, "%s must be a method name, got %s", what, got(n, b, sizeof b));
    if ((*out = mb_registry_find(L->reg, sv(n)))) return MB_OK;
    int cnt = mb_registry_count(L->reg);
    const char **names = malloc((size_t)cnt * sizeof *names + 1);
    if (!names) return oom(L);
    for (int i = 0; i < cnt; i++) names[i] = mb_registry_get(L->reg, i)->name;
    const char *near = mb_nearest(sv(n), names, cnt);
    quote(sv(n), b, sizeof b);
    mb_status st;
    if (near) {
        st = fail(L, n, "unknown method %s (did you mean '%s'?)", b, near);
    } else {
        join(names, cnt, ", ", list, sizeof list);
        st = fail(L, n, "unknown method %s (valid: %s)", b, list);
    }
    free(names);
    return st;
}

static mb_status inst_init(ld *L, mb_method_inst *mi, const mb_method *m) {
    mi->method = m;
    if (!(mi->vals = calloc(m->nparams ? (size_t)m->nparams : 1, sizeof *mi->vals))) return oom(L);
    if (!(mi->set = calloc(m->nparams ? (size_t)m->nparams : 1, 1))) return oom(L);
    mb_method_defaults(m, mi->vals);
    return MB_OK;
}

static mb_status get_param(ld *L, const yaml_node_t *v, const mb_method *m, int idx,
                           mb_pvalue *out) {
    const mb_param_decl *d = &m->params[idx];
    char what[160];
    snprintf(what, sizeof what, "%s.%s", m->name, d->name);
    switch (d->type) {
    case MB_PT_INT: {
        int64_t x = 0;
        MB_TRY(parse_int(L, v, what, &x));
        if ((double)x < d->min || (double)x > d->max)
            return fail(L, v, "%s must be in [%g, %g], got %lld", what, d->min, d->max,
                        (long long)x);
        out->num = (double)x;
        return MB_OK;
    }
    case MB_PT_FLOAT:
        return get_num(L, v, what, d->min, d->max, &out->num);
    case MB_PT_BOOL: {
        int x = 0;
        MB_TRY(get_bool(L, v, what, &x));
        out->num = x;
        return MB_OK;
    }
    case MB_PT_ENUM: {
        /* choices "a|b|c" split in a copy, so the declaration stays const */
        const char *ch[32];
        int nch = 0, k = 0;
        char *copy = xstrdup(d->choices ? d->choices : "");
        if (!copy) return oom(L);
        for (char *p = copy; nch < 32;) {
            ch[nch++] = p;
            char *bar = strchr(p, '|');
            if (!bar) break;
            *bar = 0;
            p = bar + 1;
        }
        mb_status st = get_enum(L, v, what, ch, nch, &k);
        free(copy);
        out->num = k;
        return st;
    }
    }
    return fail(L, v, "%s has a parameter type this membench does not know", what);
}

/* The parameters of one method from a mapping; `allow` is the one key that is not a parameter. */
static mb_status load_params(ld *L, const yaml_node_t *map, const char *allow, mb_method_inst *mi) {
    const mb_method *m = mi->method;
    char where[96];
    snprintf(where, sizeof where, " for method %s", m->name);
    const char **names = malloc((size_t)m->nparams * sizeof *names + 1);
    if (!names) return oom(L);
    for (int i = 0; i < m->nparams; i++) names[i] = m->params[i].name;
    mb_status st = check_keys(L, map, allow, names, m->nparams, "parameter", where);
    free(names);
    MB_TRY(st);
    for (int i = 0; i < map_len(map); i++) {
        const char *k = sv(map_key(L, map, i));
        if (allow && !strcmp(k, allow)) continue;
        int idx = mb_method_param_index(m, k);
        MB_TRY(get_param(L, map_val(L, map, i), m, idx, &mi->vals[idx]));
        mi->set[idx] = 1;
    }
    return MB_OK;
}

/* One owner per slot (mb_stack_check), then the label: the names joined by '+'. */
static mb_status finish_stack(ld *L, mb_stack_cfg *sc, const yaml_node_t *at) {
    const mb_method **ms = malloc((size_t)sc->n * sizeof *ms);
    if (!ms) return oom(L);
    size_t len = 1;
    for (int i = 0; i < sc->n; i++) {
        ms[i] = sc->items[i].method;
        len += strlen(ms[i]->name) + 1;
    }
    mb_status st = mb_stack_check(L->ctx, ms, sc->n);
    free(ms);
    if (st != MB_OK)
        return mb_error_prefix(L->ctx, st, "%s:%zu:%zu: error", L->file, at->start_mark.line + 1,
                               at->start_mark.column + 1);
    if (!(sc->label = malloc(len))) return oom(L);
    sc->label[0] = 0;
    for (int i = 0; i < sc->n; i++) {
        if (i) strcat(sc->label, "+");
        strcat(sc->label, sc->items[i].method->name);
    }
    return MB_OK;
}

void mb_stack_label(const mb_stack_cfg *st, char *out, size_t n) {
    size_t used = 0;
    out[0] = 0;
    for (int i = 0; i < st->n && used < n; i++) {
        const mb_method *m = st->items[i].method;
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? "+" : "", m->name);
        int opened = 0;
        for (int k = 0; k < m->nparams && used < n; k++) {
            double v = st->items[i].vals[k].num;
            int set = st->items[i].set && st->items[i].set[k];
            if (v == m->params[k].def && !set) continue; /* a default the suite left alone */
            const mb_param_decl *d = &m->params[k];
            used += (size_t)snprintf(out + used, n - used, "%s%s=", opened ? "," : "(", d->name);
            if (used < n) used += mb_param_format(d, v, 0, out + used, n - used);
            opened = 1;
        }
        if (opened && used < n) used += (size_t)snprintf(out + used, n - used, ")");
    }
}

static mb_status alloc_items(ld *L, mb_stack_cfg *sc, int n) {
    if (!(sc->items = calloc((size_t)n, sizeof *sc->items))) return oom(L);
    sc->n = n;
    return MB_OK;
}

/* `{stack: [a, b], a: {param: v}}`: every key beside `stack` sets a method of the stack. */
static mb_status load_stack(ld *L, const yaml_node_t *e, const yaml_node_t *stk, const char *what,
                            mb_stack_cfg *sc) {
    char field[96], b[QCAP];
    snprintf(field, sizeof field, "%s.stack", what);
    MB_TRY(want_list(L, stk, field, "method"));
    int n = seq_len(stk);
    MB_TRY(alloc_items(L, sc, n));
    for (int j = 0; j < n; j++) {
        const yaml_node_t *it = seq_at(L, stk, j);
        const mb_method *m;
        snprintf(field, sizeof field, "%s.stack[%d]", what, j);
        MB_TRY(find_method(L, it, field, &m));
        for (int k = 0; k < j; k++)
            if (sc->items[k].method == m)
                return fail(L, it, "method '%s' appears twice in this stack", m->name);
        MB_TRY(inst_init(L, &sc->items[j], m));
    }
    for (int i = 0; i < map_len(e); i++) {
        const yaml_node_t *k = map_key(L, e, i), *v = map_val(L, e, i);
        if (!strcmp(sv(k), "stack")) continue;
        int j = 0;
        while (j < n && strcmp(sc->items[j].method->name, sv(k))) j++;
        if (j == n) {
            if (mb_registry_find(L->reg, sv(k)))
                return fail(L, k,
                            "method %s is not in this stack; list it under stack: to set its "
                            "parameters",
                            quote(sv(k), b, sizeof b));
            const char **names = malloc((size_t)(n + 1) * sizeof *names);
            if (!names) return oom(L);
            names[0] = "stack";
            for (int q = 0; q < n; q++) names[q + 1] = sc->items[q].method->name;
            char where[96];
            snprintf(where, sizeof where, " in %s", what);
            mb_status st = unknown(L, k, "key", where, names, n + 1);
            free(names);
            return st;
        }
        if (v->type != YAML_MAPPING_NODE)
            return fail(L, v, "%s.%s must be a mapping of %s's parameters, got %s", what, sv(k),
                        sv(k), got(v, b, sizeof b));
        MB_TRY(load_params(L, v, NULL, &sc->items[j]));
    }
    return finish_stack(L, sc, stk);
}

/* Two entries of `methods` with the same methods and parameters would be one configuration twice:
 * two cells under one config hash, whose results mix. Each stack's key is its methods and values.
 */
static mb_status unique_stacks(ld *L, const yaml_node_t *list) {
    const mb_suite *s = L->s;
    size_t total = 0;
    for (int i = 0; i < s->nstacks; i++)
        for (int k = 0; k < s->stacks[i].n; k++)
            total += sizeof(const mb_method *) +
                     (size_t)s->stacks[i].items[k].method->nparams * sizeof(mb_pvalue);
    unsigned char *buf = malloc(total ? total : 1);
    size_t *off = malloc(((size_t)s->nstacks + 1) * sizeof *off);
    mb_status st = buf && off ? MB_OK : oom(L);
    size_t o = 0;
    for (int i = 0; st == MB_OK && i < s->nstacks; i++) {
        off[i] = o;
        for (int k = 0; k < s->stacks[i].n; k++) {
            const mb_method_inst *mi = &s->stacks[i].items[k];
            memcpy(buf + o, &mi->method, sizeof mi->method);
            o += sizeof mi->method;
            memcpy(buf + o, mi->vals, (size_t)mi->method->nparams * sizeof *mi->vals);
            o += (size_t)mi->method->nparams * sizeof *mi->vals;
        }
    }
    if (st == MB_OK) off[s->nstacks] = o;
    seen_free(&L->names);
    for (int i = 0; st == MB_OK && i < s->nstacks; i++) {
        int j;
        st = seen_add(L, &L->names, buf + off[i], off[i + 1] - off[i], i, &j);
        if (st == MB_OK && j >= 0) {
            const yaml_node_t *e = seq_at(L, list, i);
            char at[64];
            st = fail(L, e, "duplicate method stack '%s' with the same parameters (first at %s)",
                      s->stacks[i].label, first_at(seq_at(L, list, j), e, at, sizeof at));
        }
    }
    seen_free(&L->names); /* its keys point into buf */
    free(buf);
    free(off);
    return st;
}

/* One entry of `methods` (a name, {name: m, param: v} or {stack: [...], m: {...}}) into sc; `what`
 * names it in messages ("methods[2]", "baseline"). */
static mb_status load_entry(ld *L, const yaml_node_t *e, const char *what, mb_stack_cfg *sc) {
    char b[QCAP], field[96];
    const mb_method *m;
    if (e->type == YAML_SCALAR_NODE) {
        MB_TRY(find_method(L, e, what, &m));
        MB_TRY(alloc_items(L, sc, 1));
        MB_TRY(inst_init(L, &sc->items[0], m));
        return finish_stack(L, sc, e);
    }
    if (e->type != YAML_MAPPING_NODE)
        return fail(L, e, "%s must be a method name or a mapping, got %s", what,
                    got(e, b, sizeof b));
    MB_TRY(check_keys(L, e, NULL, NULL, -1, NULL, NULL));
    const yaml_node_t *name = map_get(L, e, "name"), *stk = map_get(L, e, "stack");
    if (name && stk)
        return fail(L, e,
                    "%s has both name and stack; give one method by name, or a stack with "
                    "its methods' parameters under their names",
                    what);
    if (!name && !stk)
        return fail(L, e, "%s needs a name (one method) or a stack (a list of methods)", what);
    if (stk) return load_stack(L, e, stk, what, sc);
    snprintf(field, sizeof field, "%s.name", what);
    MB_TRY(find_method(L, name, field, &m));
    MB_TRY(alloc_items(L, sc, 1));
    MB_TRY(inst_init(L, &sc->items[0], m));
    MB_TRY(load_params(L, e, "name", &sc->items[0]));
    return finish_stack(L, sc, e);
}

static mb_status load_methods(ld *L, const yaml_node_t *list) {
    mb_suite *s = L->s;
    MB_TRY(want_list(L, list, "methods", "method"));
    int n = seq_len(list);
    if (!(s->stacks = calloc((size_t)n, sizeof *s->stacks))) return oom(L);
    s->nstacks = n;
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "methods[%d]", i);
        MB_TRY(load_entry(L, seq_at(L, list, i), what, &s->stacks[i]));
    }
    return unique_stacks(L, list);
}

static void stack_free(mb_stack_cfg *sc) {
    free(sc->label);
    for (int j = 0; sc->items && j < sc->n; j++) {
        free(sc->items[j].vals);
        free(sc->items[j].set);
    }
    free(sc->items);
    memset(sc, 0, sizeof *sc);
}

/* Whether two stacks are one configuration: the same methods in order with the same values. */
static int same_stack(const mb_stack_cfg *a, const mb_stack_cfg *b) {
    if (a->n != b->n) return 0;
    for (int k = 0; k < a->n; k++) {
        const mb_method *m = a->items[k].method;
        if (m != b->items[k].method) return 0;
        for (int p = 0; p < m->nparams; p++)
            if (a->items[k].vals[p].num != b->items[k].vals[p].num) return 0;
    }
    return 1;
}

/* The stack `want` names: its label as cells show it ("adamw(lr=0.003)"), else its methods alone
 * ("adamw", "flash+adamw") when only one stack has them. Else, or with out NULL (a miss already
 * known), an error at n: the stacks it could mean, or the nearest label. */
static mb_status find_stack(ld *L, const yaml_node_t *n, const char *want, int *out) {
    const mb_suite *s = L->s;
    int ns = s->nstacks, exact = -1, nexact = 0, plain = -1, nplain = 0;
    char b[QCAP], list[512];
    char(*labels)[160] = malloc((size_t)ns * sizeof *labels);
    const char **cands = malloc((size_t)ns * 2 * sizeof *cands);
    if (!labels || !cands) {
        free(labels);
        free(cands);
        return oom(L);
    }
    for (int i = 0; i < ns; i++) {
        mb_stack_label(&s->stacks[i], labels[i], sizeof labels[i]);
        if (!strcmp(want, labels[i]) && nexact++ == 0) exact = i;
        if (!strcmp(want, s->stacks[i].label) && nplain++ == 0) plain = i;
    }
    mb_status st = MB_OK;
    quote(want, b, sizeof b);
    if (out && (nexact == 1 || (nexact == 0 && nplain == 1))) {
        *out = nexact ? exact : plain;
    } else if (out && nexact + nplain > 1) {
        size_t o = 0;
        list[0] = 0;
        for (int i = 0; i < ns && o < sizeof list; i++)
            if (!strcmp(want, nexact > 1 ? labels[i] : s->stacks[i].label))
                o +=
                    (size_t)snprintf(list + o, sizeof list - o, "%s'%s'", o ? ", " : "", labels[i]);
        st = fail(L, n,
                  "baseline %s matches %d method stacks (%s); name one by its label as the cells "
                  "show it",
                  b, nexact > 1 ? nexact : nplain, list);
    } else {
        /* suggested: the nearest stack by its label or its methods alone; where other stacks
         * have the same methods, by its label */
        for (int i = 0; i < ns; i++) {
            cands[i] = labels[i];
            cands[ns + i] = s->stacks[i].label;
        }
        join(cands, ns, ", ", list, sizeof list);
        const char *near = mb_nearest(want, cands, 2 * ns);
        for (int i = 0; near && i < ns; i++)
            if (near == s->stacks[i].label)
                for (int k = 0; k < ns; k++)
                    if (k != i && !strcmp(s->stacks[k].label, near)) near = labels[i];
        if (near)
            st = fail(L, n, "baseline %s names no method stack of this suite (did you mean '%s'?)",
                      b, near);
        else
            st = fail(L, n, "baseline %s names no method stack of this suite; its stacks: %s", b,
                      list);
    }
    free(labels);
    free(cands);
    return st;
}

/* `baseline:` names the stack the others are measured against, by its label as the cells show
 * it, by its methods (`adamw`, `[flash, adamw]`) where one stack has them, or written as its
 * `methods` entry is (a mapping, or an alias of one), found by its methods and values. */
static mb_status load_baseline(ld *L, const yaml_node_t *n) {
    mb_suite *s = L->s;
    char want[512], b[QCAP];
    if (n->type == YAML_MAPPING_NODE) {
        mb_stack_cfg entry = {0};
        mb_status st = load_entry(L, n, "baseline", &entry);
        for (int i = 0; st == MB_OK && i < s->nstacks; i++)
            if (same_stack(&entry, &s->stacks[i])) {
                s->baseline = i;
                stack_free(&entry);
                return MB_OK;
            }
        if (st == MB_OK) mb_stack_label(&entry, want, sizeof want);
        stack_free(&entry);
        MB_TRY(st);
        return find_stack(L, n, want, NULL);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        size_t o = 0;
        want[0] = 0;
        if (seq_len(n) == 0)
            return fail(L, n, "baseline must name a method stack, got an empty list");
        for (int i = 0; i < seq_len(n); i++) {
            const yaml_node_t *it = seq_at(L, n, i);
            if (it->type != YAML_SCALAR_NODE || is_null(it))
                return fail(L, it, "baseline[%d] must be a method name, got %s", i,
                            got(it, b, sizeof b));
            if (o < sizeof want)
                o += (size_t)snprintf(want + o, sizeof want - o, "%s%s", i ? "+" : "", sv(it));
        }
    } else if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
        snprintf(want, sizeof want, "%s", sv(n));
    } else {
        return fail(L, n, "baseline must name a method stack (its label, such as adamw), got %s",
                    got(n, b, sizeof b));
    }
    return find_stack(L, n, want, &s->baseline);
}

mb_status mb_stack_refusal(mb_ctx *ctx, const mb_stack_cfg *st, const mb_model_cfg *model) {
    const mb_method *ms[MB_MAX_STACK];
    const mb_pvalue *vals[MB_MAX_STACK];
    if (st->n > MB_MAX_STACK)
        return mb_error(ctx, MB_EINVAL, "a stack holds at most %d methods", MB_MAX_STACK);
    for (int k = 0; k < st->n; k++) {
        ms[k] = st->items[k].method;
        vals[k] = st->items[k].vals;
    }
    return mb_stack_check_model(ctx, ms, vals, st->n, &model->shape);
}

/* What a method refuses on a model or beside another method of its stack (mb_method.check), at
 * the stack's entry: refused by every model of the suite, the stack has no cell to run and that is
 * a load error; refused by some, those cells run as `invalid` with the reason (a property of the
 * cell, like a rank at or above a matrix's side), so one suite can hold models of other shapes. */
static mb_status check_stacks_on_models(ld *L, const yaml_node_t *list) {
    const mb_suite *s = L->s;
    for (int i = 0; i < s->nstacks; i++) {
        char why[MB_ERRMSG_MAX] = "";
        int refused = 0, first = -1;
        for (int m = 0; m < s->nmodels; m++) {
            mb_status st = mb_stack_refusal(L->ctx, &s->stacks[i], &s->models[m]);
            if (st == MB_ENOMEM) return oom(L);
            if (st == MB_OK) continue;
            if (first < 0) {
                first = m;
                snprintf(why, sizeof why, "%s", L->ctx->err);
            }
            refused++;
        }
        if (s->nmodels && refused == s->nmodels)
            return fail(L, seq_at(L, list, i), "%s (model '%s'%s)", why, s->models[first].name,
                        s->nmodels > 1 ? "; the suite's other models refuse it too" : "");
    }
    return MB_OK;
}

/* ---- matrix ---- */

static mb_status load_matrix(ld *L, const yaml_node_t *m) {
    static const char *const keys[] = {"batch_size", "seq_len", "precision"};
    mb_suite *s = L->s;
    MB_TRY(want_map(L, m, "matrix"));
    MB_TRY(check_keys(L, m, NULL, keys, NKEYS(keys), "key", " in matrix"));
    int n = map_len(m);
    if (!n) return MB_OK;
    if (!(s->axes = calloc((size_t)n, sizeof *s->axes))) return oom(L);
    s->naxes = n;
    for (int a = 0; a < n; a++) {
        mb_matrix_axis *ax = &s->axes[a];
        const yaml_node_t *list = map_val(L, m, a);
        char what[64], field[96];
        snprintf(what, sizeof what, "matrix.%s", sv(map_key(L, m, a)));
        if (!(ax->key = xstrdup(sv(map_key(L, m, a))))) return oom(L);
        MB_TRY(want_list(L, list, what, "value"));
        int k = seq_len(list), is_prec = !strcmp(ax->key, "precision");
        if (is_prec ? !(ax->precs = calloc((size_t)k, sizeof *ax->precs))
                    : !(ax->ints = calloc((size_t)k, sizeof *ax->ints)))
            return oom(L);
        ax->n = k;
        seen_free(&L->names);
        for (int i = 0; i < k; i++) {
            const yaml_node_t *v = seq_at(L, list, i);
            snprintf(field, sizeof field, "%s[%d]", what, i);
            int x = 0, j = -1;
            if (is_prec) {
                MB_TRY(get_enum(L, v, field, prec_names, NKEYS(prec_names), &x));
                ax->precs[i] = (mb_precision)x;
                MB_TRY(seen_add(L, &L->names, &ax->precs[i], sizeof ax->precs[i], i, &j));
            } else {
                /* the same ranges as task.batch_size and task.seq_len, which these override */
                MB_TRY(get_int(L, v, field, 1, INT_MAX, &x));
                ax->ints[i] = x;
                MB_TRY(seen_add(L, &L->names, &ax->ints[i], sizeof ax->ints[i], i, &j));
            }
            char at[64];
            if (j >= 0)
                return fail(L, v, "%s lists %s twice (first at %s)", what, sv(v),
                            first_at(seq_at(L, list, j), v, at, sizeof at));
        }
    }
    return MB_OK;
}

/* ---- search ---- */

const char *mb_search_name(mb_search_kind k) {
    return k == MB_SEARCH_MAX_BATCH ? "max_batch_size"
           : k == MB_SEARCH_MAX_SEQ ? "max_seq_len"
                                    : "";
}

/* search: {max_batch_size | max_seq_len: {target, start, max, trial_steps}}. Targets are loaded by
 * then (load_root checks search after the loop). */
static mb_status load_search(ld *L, const yaml_node_t *m) {
    static const char *const kinds[] = {"max_batch_size", "max_seq_len"};
    static const char *const keys[] = {"target", "start", "max", "trial_steps"};
    mb_search_cfg *q = &L->s->search;
    char b[QCAP];
    MB_TRY(want_map(L, m, "search"));
    MB_TRY(check_keys(L, m, NULL, kinds, NKEYS(kinds), "search kind", ""));
    if (map_len(m) != 1)
        return fail(L, m, "search takes one of max_batch_size or max_seq_len, got %d keys",
                    map_len(m));
    const char *k = sv(map_key(L, m, 0));
    const yaml_node_t *e = map_val(L, m, 0), *v;
    q->kind = !strcmp(k, "max_batch_size") ? MB_SEARCH_MAX_BATCH : MB_SEARCH_MAX_SEQ;
    int batch = q->kind == MB_SEARCH_MAX_BATCH;
    char what[64];
    snprintf(what, sizeof what, "search.%s", k);
    if (!is_null(e)) MB_TRY(want_map(L, e, what));
    if (!is_null(e)) MB_TRY(check_keys(L, e, NULL, keys, NKEYS(keys), "key", " in search"));
    q->start = batch ? 1 : 16;
    q->max = batch ? 65536 : 0;
    q->trial_steps = 2;
    q->target = -1;
    char f[96];
    if (!is_null(e) && (v = map_get(L, e, "start"))) {
        snprintf(f, sizeof f, "%s.start", what);
        MB_TRY(get_int(L, v, f, 1, 1 << 24, &q->start));
    }
    if (!is_null(e) && (v = map_get(L, e, "max"))) {
        snprintf(f, sizeof f, "%s.max", what);
        MB_TRY(get_int(L, v, f, 1, 1 << 24, &q->max));
        if (q->max < q->start)
            return fail(L, v, "%s.max (%d) is below its start (%d)", what, q->max, q->start);
    }
    if (!is_null(e) && (v = map_get(L, e, "trial_steps"))) {
        snprintf(f, sizeof f, "%s.trial_steps", what);
        MB_TRY(get_int(L, v, f, 1, 100, &q->trial_steps));
    }
    const mb_suite *s = L->s;
    if (!is_null(e) && (v = map_get(L, e, "target"))) {
        for (int i = 0; v->type == YAML_SCALAR_NODE && i < s->ntargets; i++)
            if (!strcmp(s->targets[i].name, sv(v))) q->target = i;
        if (q->target < 0) {
            const char **names = malloc((size_t)(s->ntargets ? s->ntargets : 1) * sizeof *names);
            if (!names) return oom(L);
            char list[512];
            for (int i = 0; i < s->ntargets; i++) names[i] = s->targets[i].name;
            join((const char *const *)names, s->ntargets, ", ", list, sizeof list);
            const char *near = v->type == YAML_SCALAR_NODE
                                   ? mb_nearest(sv(v), (const char *const *)names, s->ntargets)
                                   : NULL;
            mb_status st = near ? fail(L, v,
                                       "%s.target %s is not a target of this suite (did you "
                                       "mean '%s'?); targets: %s",
                                       what, got(v, b, sizeof b), near, list)
                                : fail(L, v,
                                       "%s.target %s is not a target of this suite; "
                                       "targets: %s",
                                       what, got(v, b, sizeof b), list);
            free(names);
            return st;
        }
    } else { /* the only capped target */
        int n = 0;
        for (int i = 0; i < s->ntargets; i++)
            if (s->targets[i].memory_cap) q->target = i, n++;
        if (n != 1)
            return fail(L, e, "%s needs a target: %s", what,
                        n ? "several targets have a memory_cap; name one with `target:`"
                          : "no target has a memory_cap to search under");
    }
    if (!s->targets[q->target].memory_cap)
        return fail(L, map_get(L, e, "target"),
                    "%s.target '%s' has no memory_cap to search under "
                    "(give it one, or a preset such as rtx4090-24g)",
                    what, s->targets[q->target].name);
    return MB_OK;
}

/* ---- the plan's size ---- */

int mb_suite_over_limit(const mb_suite *s, char *why, size_t cap) {
    uint64_t n = 1;
    int over = -1, saturated = 0, nf = 4 + s->naxes;
    char list[512];
    size_t o = 0;
    list[0] = 0;
    for (int f = 0; f < nf; f++) {
        const mb_matrix_axis *ax = f >= 3 && f < nf - 1 ? &s->axes[f - 3] : NULL;
        const char *name = f == 0 ? "targets" : f == 1 ? "models" : f == 2 ? "methods" : "repeat";
        int k = f == 0 ? s->ntargets : f == 1 ? s->nmodels : f == 2 ? s->nstacks : s->repeat;
        if (ax) k = ax->n;
        /* saturating: three long matrix lists overflow 64 bits */
        if (!saturated && __builtin_mul_overflow(n, (uint64_t)(k > 0 ? k : 0), &n)) saturated = 1;
        if (over < 0 && (saturated || n > MB_MAX_CELLS)) over = f;
        if (o < sizeof list) {
            int w = snprintf(list + o, sizeof list - o, "%s%s%.64s %d", f ? " x " : "",
                             ax ? "matrix." : name, ax ? ax->key : "", k);
            o += w > 0 ? (size_t)w : 0;
        }
    }
    if (over < 0) {
        if (cap) why[0] = 0;
        return -1;
    }
    char count[48];
    if (saturated)
        snprintf(count, sizeof count, "more than %llu", (unsigned long long)UINT64_MAX);
    else
        snprintf(count, sizeof count, "%llu", (unsigned long long)n);
    snprintf(why, cap,
             "the suite plans %s cells (%s), more than the limit of %d; split it into several "
             "suites or shorten its lists",
             count, list, MB_MAX_CELLS);
    return over;
}

/* ---- the document ---- */

static mb_status load_root(ld *L, const yaml_node_t *root) {
    static const char *const keys[] = {"suite",  "seed",   "repeat", "defaults", "targets",
                                       "models", "data",   "task",   "methods",  "baseline",
                                       "matrix", "search", "init",   "save"};
    static const char *const required[] = {"suite", "models", "methods"};
    mb_suite *s = L->s;
    char b[QCAP];
    if (root->type != YAML_MAPPING_NODE)
        return fail(L, root, "the suite must be a mapping of keys, found %s",
                    got(root, b, sizeof b));
    MB_TRY(check_keys(L, root, NULL, keys, NKEYS(keys), "top-level key", ""));
    for (int r = 0; r < NKEYS(required); r++)
        if (!map_get(L, root, required[r]))
            return fail(L, root, "missing required key '%s'", required[r]);

    s->repeat = 1;
    s->steps = 20;
    s->warmup_steps = 2;
    s->precision = MB_PREC_FP32;
    s->eval_batches = 4;
    s->batch_size = 4;
    s->data.kind = MB_DATA_SYNTHETIC;
    s->data.vocab = 256;
    s->data.val_fraction = 0.1;

    /* in document order, so the first error reported is the first one in the file */
    for (int i = 0; i < map_len(root); i++) {
        const char *k = sv(map_key(L, root, i));
        const yaml_node_t *v = map_val(L, root, i);
        if (!strcmp(k, "suite")) {
            MB_TRY(get_name(L, v, "suite", &s->name));
        } else if (!strcmp(k, "seed")) {
            int64_t x = 0;
            MB_TRY(parse_int(L, v, "seed", &x));
            MB_TRY(range_int(L, v, "seed", x, 0, INT64_MAX));
            s->seed = (uint64_t)x;
        } else if (!strcmp(k, "repeat")) {
            MB_TRY(get_int(L, v, "repeat", 1, 1000, &s->repeat));
        } else if (!strcmp(k, "defaults")) {
            MB_TRY(load_defaults(L, v));
        } else if (!strcmp(k, "targets")) {
            MB_TRY(load_targets(L, v));
        } else if (!strcmp(k, "models")) {
            MB_TRY(load_models(L, v));
        } else if (!strcmp(k, "data")) {
            MB_TRY(load_data(L, v));
        } else if (!strcmp(k, "task")) {
            MB_TRY(load_task(L, v));
        } else if (!strcmp(k, "methods")) {
            MB_TRY(load_methods(L, v));
        } else if (!strcmp(k, "matrix")) {
            MB_TRY(load_matrix(L, v));
        } else if (!strcmp(k, "init")) {
            MB_TRY(load_checkpoint_key(L, v, "init", &s->init_checkpoint));
        } else if (!strcmp(k, "save")) {
            MB_TRY(load_checkpoint_key(L, v, "save", &s->save_checkpoint));
        }
    }
    if (!s->targets) {
        if (!(s->targets = calloc(1, sizeof *s->targets))) return oom(L);
        s->ntargets = 1;
        if (!(s->targets[0].name = xstrdup("cpu"))) return oom(L);
        s->targets[0].backend = MB_TARGET_CPU;
    }
    const yaml_node_t *sr = map_get(L, root, "search"); /* after the targets, wherever it is */
    if (sr) MB_TRY(load_search(L, sr));
    const yaml_node_t *bl = map_get(L, root, "baseline"); /* after the methods, wherever it is */
    if (bl) MB_TRY(load_baseline(L, bl));
    char why[512];
    int over = mb_suite_over_limit(s, why, sizeof why);
    if (over >= 0) { /* at the list that takes the count past the limit, in plan order */
        const yaml_node_t *at = over == 0   ? map_get(L, root, "targets")
                                : over == 1 ? map_get(L, root, "models")
                                : over == 2 ? map_get(L, root, "methods")
                                : over < 3 + s->naxes
                                    ? map_val(L, map_get(L, root, "matrix"), over - 3)
                                    : map_get(L, root, "repeat");
        return fail(L, at ? at : root, "%s", why);
    }
    MB_TRY(check_stacks_on_models(L, map_get(L, root, "methods")));
    const yaml_node_t *sv_ = map_get(L, root, "save");
    if (sv_) { /* one cell, so one set of trained weights: the file is not overwritten */
        long cells = (long)s->ntargets * s->nmodels * s->nstacks * s->repeat;
        for (int a = 0; a < s->naxes; a++) cells *= s->axes[a].n;
        if (cells != 1 || s->search.kind != MB_SEARCH_NONE)
            return fail(L, sv_,
                        "a suite that saves a checkpoint runs one cell (one target, model "
                        "and method stack, no matrix, repeat 1, no search); this one has "
                        "%ld%s",
                        cells, s->search.kind != MB_SEARCH_NONE ? " and a search" : "");
    }
    /* the task and the data must agree: labelled data is classified, text is modelled */
    int labelled = s->data.kind == MB_DATA_SPAM || s->data.kind == MB_DATA_FASHION_MNIST;
    if (s->classify && !labelled) {
        const yaml_node_t *t = map_get(L, root, "task");
        return fail(L, map_get(L, t, "kind"),
                    "task kind classify needs labelled data (data.name spam-assassin or "
                    "fashion-mnist)");
    }
    if (!s->classify && labelled) {
        const yaml_node_t *d = map_get(L, root, "data");
        return fail(L, map_get(L, d, "name"),
                    "data set %s is labelled: it needs `task: {kind: classify}`",
                    s->data.kind == MB_DATA_SPAM ? "spam-assassin" : "fashion-mnist");
    }
    return MB_OK;
}

/* Longest path below each node, memoised (height[id-1]; -1 while on the current path), so a DAG of
 * aliases costs one visit per node and a cycle or a deep nest is an error, not a stack overflow. */
static mb_status check_depth(ld *L, int id, int depth, int *height) {
    const yaml_node_t *n = nd(L, id);
    int *h = &height[id - 1];
    if (*h == -1)
        return fail(L, n,
                    "an alias refers to a node that contains it; a suite cannot be recursive");
    if (*h > 0 ? depth + *h - 1 > MAX_DEPTH : depth > MAX_DEPTH)
        return fail(L, n, "the suite nests more than %d levels deep", MAX_DEPTH);
    if (*h > 0) return MB_OK;
    *h = -1;
    int best = 0;
    if (n->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            MB_TRY(check_depth(L, *it, depth + 1, height));
            if (height[*it - 1] > best) best = height[*it - 1];
        }
    } else if (n->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            MB_TRY(check_depth(L, p->key, depth + 1, height));
            MB_TRY(check_depth(L, p->value, depth + 1, height));
            if (height[p->key - 1] > best) best = height[p->key - 1];
            if (height[p->value - 1] > best) best = height[p->value - 1];
        }
    }
    *h = best + 1;
    return MB_OK;
}

/* Byte offset of a zero-based (line, column) mark; libyaml counts columns in characters. */
static size_t offset_of(const char *t, size_t len, size_t line, size_t col) {
    size_t i = len >= 3 && !memcmp(t, "\xEF\xBB\xBF", 3) ? 3 : 0;
    for (size_t l = 0; l < line && i < len; i++) {
        if (t[i] == '\r' && i + 1 < len && t[i + 1] == '\n') i++;
        if (t[i] == '\n' || t[i] == '\r') l++;
    }
    for (size_t c = 0; c < col && i < len; c++) do
            i++;
        while (i < len && ((unsigned char)t[i] & 0xC0) == 0x80);
    return i;
}

/* Zero-based (line, column) of a byte offset (reader errors give offsets, not marks). */
static void mark_of(const char *t, size_t len, size_t off, size_t *line, size_t *col) {
    size_t l = 0, c = 0;
    for (size_t i = len >= 3 && !memcmp(t, "\xEF\xBB\xBF", 3) ? 3 : 0; i < off && i < len; i++) {
        if (t[i] == '\r' && i + 1 < len && t[i + 1] == '\n') continue;
        if (t[i] == '\n' || t[i] == '\r') {
            l++;
            c = 0;
        } else if (((unsigned char)t[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static mb_status syntax_error(ld *L, const yaml_parser_t *p, const char *text, size_t len) {
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR) return oom(L);
    if (p->error == YAML_READER_ERROR) {
        size_t line, col;
        char extra[64] = "";
        mark_of(text, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            snprintf(extra, sizeof extra, strstr(problem, "octet") ? " (byte 0x%02X)" : " (U+%04X)",
                     (unsigned)p->problem_value);
        return mb_error(L->ctx, MB_EFORMAT, "%s:%zu:%zu: error: invalid YAML: %s%s%s", L->file,
                        line + 1, col + 1, problem, extra,
                        strstr(problem, "UTF") ? "; a suite must be UTF-8 text" : "");
    }
    size_t line = p->problem_mark.line, col = p->problem_mark.column;
    size_t off = offset_of(text, len, line, col);
    if (off < len && text[off] == '\t') {
        /* libyaml says "found character that cannot start any token"; the real problem is a tab */
        size_t s = off;
        while (s > 0 && text[s - 1] != '\n' && text[s - 1] != '\r') s--;
        int indent = 1;
        for (size_t i = s; i < off; i++) indent &= text[i] == ' ' || text[i] == '\t';
        if (indent)
            return mb_error(L->ctx, MB_EFORMAT,
                            "%s:%zu:%zu: error: a tab indents this line; YAML cannot be indented "
                            "with tabs, use spaces",
                            L->file, line + 1, col + 1);
        return mb_error(L->ctx, MB_EFORMAT,
                        "%s:%zu:%zu: error: a tab is not allowed here in YAML; use spaces", L->file,
                        line + 1, col + 1);
    }
    if (p->context && (p->context_mark.line != line || p->context_mark.column != col))
        return mb_error(
            L->ctx, MB_EFORMAT,
            "%s:%zu:%zu: error: invalid YAML: %s %s that started at line %zu, column %zu", L->file,
            line + 1, col + 1, problem, p->context, p->context_mark.line + 1,
            p->context_mark.column + 1);
    return mb_error(L->ctx, MB_EFORMAT, "%s:%zu:%zu: error: invalid YAML: %s", L->file, line + 1,
                    col + 1, problem);
}

/* libyaml gives a scalar's length: a NUL from a "\0" escape would cut the value short where C reads
 * it ("adamw\0junk" read as adamw), so a value holding one is refused where it is. */
static mb_status no_nul(ld *L) {
    char b[QCAP];
    for (const yaml_node_t *n = L->doc->nodes.start; n < L->doc->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE && strlen(sv(n)) != n->data.scalar.length)
            return fail(L, n,
                        "a value must not contain a NUL character (\\0); this one has one after %s",
                        quote(sv(n), b, sizeof b));
    return MB_OK;
}

/* Validates and resolves one parsed document into L->s. */
static mb_status load_one(ld *L, yaml_document_t *doc, const yaml_node_t *root) {
    L->doc = doc;
    mb_status st = MB_OK;
    if (!root || is_null(root)) {
        st = fail(L, NULL, "the suite is empty: expected a mapping with suite, models and methods");
    } else {
        st = no_nul(L);
        int nnodes = (int)(doc->nodes.top - doc->nodes.start);
        int *height = st == MB_OK ? calloc((size_t)nnodes, sizeof *height) : NULL;
        if (st == MB_OK) st = height ? check_depth(L, 1, 1, height) : oom(L);
        free(height);
    }
    if (st == MB_OK) st = load_root(L, root);
    seen_free(&L->names);
    int first = -1;
    if (st == MB_OK) st = seen_add(L, &L->docs, L->s->name, strlen(L->s->name), L->nprev, &first);
    if (st == MB_OK && first >= 0)
        st = fail(L, map_get(L, root, "suite"),
                  "suite %s is the name of an earlier document of this file", L->s->name);
    L->doc = NULL;
    return st;
}

/* Parses every document of the text: each is a suite, run in order. A stray trailing "---" (an
 * empty last document) is harmless; an empty first one is an error. */
static mb_status load_docs(ld *L, const char *text, size_t len, mb_suite_file *f) {
    yaml_parser_t p;
    mb_status st = MB_OK;
    size_t cap = 0; /* f->docs grows by doubling: one realloc a document copied them all again */
    if (!yaml_parser_initialize(&p)) return oom(L);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&p, &doc)) { /* the loader has already freed the document */
            st = syntax_error(L, &p, text, len);
            break;
        }
        const yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (f->n > 0 && (!root || is_null(root))) { /* the end, or a trailing "---" */
            yaml_document_delete(&doc);
            break;
        }
        if ((size_t)f->n == cap) {
            size_t ncap = cap ? 2 * cap : 1;
            mb_suite *docs = ncap <= (size_t)INT_MAX ? realloc(f->docs, ncap * sizeof *docs) : NULL;
            if (!docs) {
                yaml_document_delete(&doc);
                st = oom(L);
                break;
            }
            f->docs = docs;
            cap = ncap;
        }
        L->s = &f->docs[f->n];
        memset(L->s, 0, sizeof *L->s);
        L->prev = f->docs;
        L->nprev = f->n;
        st = (L->s->path = xstrdup(L->file)) ? load_one(L, &doc, root) : oom(L);
        L->s->index = f->n++;
        yaml_document_delete(&doc);
        if (st != MB_OK) break;
    }
    yaml_parser_delete(&p);
    return st;
}

static mb_status load_text(mb_ctx *ctx, const mb_registry *reg, const char *file, size_t dirlen,
                           const char *text, size_t len, mb_suite_file *out) {
    ld L = {.ctx = ctx, .reg = reg, .file = file, .dirlen = dirlen};
    memset(out, 0, sizeof *out);
    mb_status st = load_docs(&L, text, len, out);
    seen_free(&L.docs);
    seen_free(&L.names);
    if (st != MB_OK) mb_suite_file_free(out);
    return st;
}

/* One document's suite moved out of a file of one; several are an error here. */
static mb_status only_one(mb_ctx *ctx, mb_status st, mb_suite_file *f, const char *file,
                          mb_suite *out) {
    if (st != MB_OK) return st;
    if (f->n != 1) {
        int n = f->n;
        mb_suite_file_free(f);
        return mb_error(ctx, MB_EINVAL, "%s: error: it holds %d suites; load it as a suite file",
                        file, n);
    }
    *out = f->docs[0];
    free(f->docs);
    return MB_OK;
}

mb_status mb_suite_file_load_string(mb_ctx *ctx, const mb_registry *reg, const char *name,
                                    const char *text, mb_suite_file *out) {
    return load_text(ctx, reg, name, 0, text, strlen(text), out);
}

mb_status mb_suite_load_string(mb_ctx *ctx, const mb_registry *reg, const char *name,
                               const char *text, mb_suite *out) {
    mb_suite_file f;
    memset(out, 0, sizeof *out);
    return only_one(ctx, mb_suite_file_load_string(ctx, reg, name, text, &f), &f, name, out);
}

mb_status mb_suite_load(mb_ctx *ctx, const mb_registry *reg, const char *path, mb_suite *out) {
    mb_suite_file f;
    memset(out, 0, sizeof *out);
    return only_one(ctx, mb_suite_file_load(ctx, reg, path, &f), &f, path, out);
}

mb_status mb_suite_file_load(mb_ctx *ctx, const mb_registry *reg, const char *path,
                             mb_suite_file *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return mb_error(ctx, MB_EIO, "%s: error: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    mb_status st = MB_OK;
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        if (cap >= MAX_BYTES) {
            st = mb_error(ctx, MB_EINVAL, "%s: error: larger than %zu MiB; not a suite", path,
                          MAX_BYTES >> 20);
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf)
        st = mb_error(ctx, MB_ENOMEM, "%s: error: out of memory reading the suite", path);
    else if (st == MB_OK && ferror(f))
        st = mb_error(ctx, MB_EIO, "%s: error: cannot read: %s", path, strerror(errno));
    fclose(f);
    if (st == MB_OK) {
        const char *slash = strrchr(path, '/');
        st = load_text(ctx, reg, path, slash ? (size_t)(slash - path) + 1 : 0, buf, len, out);
    }
    free(buf);
    return st;
}

void mb_suite_file_free(mb_suite_file *f) {
    for (int i = 0; f && f->docs && i < f->n; i++) mb_suite_free(&f->docs[i]);
    if (f) free(f->docs);
    if (f) memset(f, 0, sizeof *f);
}

void mb_suite_free(mb_suite *s) {
    if (!s) return;
    free(s->path);
    free(s->init_suite);
    free(s->name);
    free(s->data.path);
    free(s->data.tokenizer_file);
    free(s->init_checkpoint);
    free(s->save_checkpoint);
    for (int i = 0; s->targets && i < s->ntargets; i++) free(s->targets[i].name);
    free(s->targets);
    for (int i = 0; s->models && i < s->nmodels; i++) {
        free(s->models[i].name);
        free(s->models[i].preset);
        free(s->models[i].hf);
    }
    free(s->models);
    for (int i = 0; s->stacks && i < s->nstacks; i++) stack_free(&s->stacks[i]);
    free(s->stacks);
    for (int i = 0; s->axes && i < s->naxes; i++) {
        free(s->axes[i].key);
        free(s->axes[i].ints);
        free(s->axes[i].precs);
    }
    free(s->axes);
    memset(s, 0, sizeof *s);
}
