/* datasets/jsondoc.c — recursive descent into a node pool: a container's members are gathered on a
 * scratch stack while it is read, then moved side by side into the pool, so a document is two
 * arrays however large. */
#include "jsondoc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/jsonstr.h"

typedef struct mb_jd_rd {
    mb_ctx *ctx;
    mb_jd *doc;
    const unsigned char *s;
    size_t n, i;
    mb_jd_node *stk; /* members of the containers being read */
    size_t nstk, capstk, capnode, capstr;
} mb_jd_rd;

static void *mb_jd_grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return p;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / size) return NULL;
        c *= 2;
    }
    void *q = realloc(p, c * size);
    if (q) *cap = c;
    return q;
}

void mb_jd_pos(const mb_jd *doc, size_t at, size_t *line, size_t *col) {
    size_t l = 1, c = 1;
    for (size_t i = 0; i < at && i < doc->len; i++) {
        if (doc->text[i] == '\n')
            l++, c = 1;
        else
            c++;
    }
    *line = l;
    *col = c;
}

static mb_status mb_jd_fail(mb_jd_rd *r, size_t at, const char *what) {
    size_t line, col;
    mb_jd_pos(r->doc, at, &line, &col);
    return mb_error(r->ctx, MB_EFORMAT, "%s:%zu:%zu: %s", r->doc->path, line, col, what);
}

static mb_status mb_jd_oom(mb_jd_rd *r) {
    return mb_error(r->ctx, MB_ENOMEM, "%s: out of host memory", r->doc->path);
}

/* Reads the string at r->i (its opening quote) into doc->str; *off and *len say where. */
static mb_status mb_jd_string(mb_jd_rd *r, size_t *off, size_t *len) {
    r->i++;
    *off = r->doc->nstr;
    for (;;) {
        uint32_t cp;
        const char *why;
        size_t at = r->i;
        int k = mb_json_str_next(r->s, r->n, &r->i, &cp, &why);
        if (k == 0) break;
        if (k < 0) return mb_jd_fail(r, at, why);
        char *q = mb_jd_grow(r->doc->str, &r->capstr, r->doc->nstr + 4, 1);
        if (!q) return mb_jd_oom(r);
        r->doc->str = q;
        r->doc->nstr += mb_utf8_put(cp, (unsigned char *)q + r->doc->nstr);
    }
    *len = r->doc->nstr - *off;
    return MB_OK;
}

static mb_status mb_jd_number(mb_jd_rd *r, mb_jd_node *v) {
    const unsigned char *s = r->s;
    size_t i = r->i, n = r->n;
    if (i < n && s[i] == '-') i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else
        return mb_jd_fail(r, i, "expected a digit");
    if (i < n && s[i] == '.') {
        if (++i >= n || s[i] < '0' || s[i] > '9') return mb_jd_fail(r, i, "expected a digit");
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return mb_jd_fail(r, i, "expected a digit");
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    v->type = MB_JD_NUM;
    v->a = r->i;
    v->n = i - r->i;
    r->i = i;
    return MB_OK;
}

static mb_status mb_jd_push(mb_jd_rd *r, const mb_jd_node *v) {
    mb_jd_node *q = mb_jd_grow(r->stk, &r->capstk, r->nstk + 1, sizeof *q);
    if (!q) return mb_jd_oom(r);
    r->stk = q;
    r->stk[r->nstk++] = *v;
    return MB_OK;
}

/* Moves the members from stk[base..] into the pool; v->a and v->n say where they went. */
static mb_status mb_jd_settle(mb_jd_rd *r, size_t base, mb_jd_node *v) {
    size_t k = r->nstk - base;
    mb_jd_node *q = mb_jd_grow(r->doc->node, &r->capnode, r->doc->nnode + k + 1, sizeof *q);
    if (!q) return mb_jd_oom(r);
    r->doc->node = q;
    memcpy(q + r->doc->nnode, r->stk + base, k * sizeof *q);
    v->a = r->doc->nnode;
    v->n = k;
    r->doc->nnode += k;
    r->nstk = base;
    return MB_OK;
}

static mb_status mb_jd_value(mb_jd_rd *r, mb_jd_node *v, int depth) {
    mb_json_ws(r->s, r->n, &r->i);
    v->at = r->i;
    if (r->i >= r->n) return mb_jd_fail(r, r->i, "unexpected end of the text");
    unsigned char c = r->s[r->i];
    if (c == '"') {
        v->type = MB_JD_STR;
        return mb_jd_string(r, &v->a, &v->n);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return mb_jd_number(r, v);
    static const char *const lit[] = {"null", "false", "true"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lit[k]);
        if (r->n - r->i >= l && !memcmp(r->s + r->i, lit[k], l)) {
            v->type = (mb_jd_type)(MB_JD_NULL + k);
            r->i += l;
            return MB_OK;
        }
    }
    if (c != '[' && c != '{') return mb_jd_fail(r, r->i, "expected a value");
    if (depth >= MB_JD_DEPTH) return mb_jd_fail(r, r->i, "nesting deeper than 64");
    int obj = c == '{';
    char close = obj ? '}' : ']';
    v->type = obj ? MB_JD_OBJ : MB_JD_ARR;
    r->i++;
    size_t base = r->nstk;
    mb_json_ws(r->s, r->n, &r->i);
    if (r->i < r->n && r->s[r->i] == close) {
        r->i++;
        return mb_jd_settle(r, base, v);
    }
    for (;;) {
        mb_jd_node m;
        memset(&m, 0, sizeof m);
        if (obj) {
            mb_json_ws(r->s, r->n, &r->i);
            if (r->i >= r->n || r->s[r->i] != '"')
                return mb_jd_fail(r, r->i, "expected a member name (a string)");
            MB_TRY(mb_jd_string(r, &m.key, &m.klen));
            mb_json_ws(r->s, r->n, &r->i);
            if (r->i >= r->n || r->s[r->i] != ':')
                return mb_jd_fail(r, r->i, "expected ':' after a member name");
            r->i++;
        }
        size_t key = m.key, klen = m.klen;
        MB_TRY(mb_jd_value(r, &m, depth + 1));
        m.key = key;
        m.klen = klen;
        MB_TRY(mb_jd_push(r, &m));
        mb_json_ws(r->s, r->n, &r->i);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->s[r->i] == close) {
            r->i++;
            return mb_jd_settle(r, base, v);
        }
        return mb_jd_fail(r, r->i, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

mb_status mb_jd_parse(mb_ctx *ctx, const char *path, const char *text, size_t len, mb_jd *doc) {
    memset(doc, 0, sizeof *doc);
    doc->path = path;
    doc->text = text;
    doc->len = len;
    mb_jd_rd r = {.ctx = ctx, .doc = doc, .s = (const unsigned char *)text, .n = len};
    mb_jd_node root;
    memset(&root, 0, sizeof root);
    mb_status s = mb_jd_value(&r, &root, 0);
    if (s == MB_OK) {
        mb_json_ws(r.s, r.n, &r.i);
        if (r.i != r.n) s = mb_jd_fail(&r, r.i, "trailing characters after the document");
    }
    if (s == MB_OK) s = mb_jd_push(&r, &root);
    if (s == MB_OK) s = mb_jd_settle(&r, 0, &root);
    free(r.stk);
    if (s != MB_OK) {
        mb_jd_free(doc);
        return s;
    }
    doc->root = root.a;
    return MB_OK;
}

void mb_jd_free(mb_jd *doc) {
    free(doc->node);
    free(doc->str);
    doc->node = NULL;
    doc->str = NULL;
    doc->nnode = doc->nstr = 0;
}

const mb_jd_node *mb_jd_get(const mb_jd *doc, const mb_jd_node *o, const char *key) {
    if (!o || o->type != MB_JD_OBJ) return NULL;
    size_t kl = strlen(key);
    for (size_t k = o->n; k-- > 0;) {
        const mb_jd_node *m = &doc->node[o->a + k];
        if (m->klen == kl && !memcmp(doc->str + m->key, key, kl)) return m;
    }
    return NULL;
}

int mb_jd_is(const mb_jd *doc, const mb_jd_node *n, const char *s) {
    size_t l = strlen(s);
    return n && n->type == MB_JD_STR && n->n == l && !memcmp(doc->str + n->a, s, l);
}

int mb_jd_uint(const mb_jd *doc, const mb_jd_node *n, int32_t *v) {
    if (!n || n->type != MB_JD_NUM) return 0;
    long long x = 0;
    for (size_t i = 0; i < n->n; i++) {
        char c = doc->text[n->a + i];
        if (c < '0' || c > '9') return 0;
        x = x * 10 + (c - '0');
        if (x > INT32_MAX) return 0;
    }
    *v = (int32_t)x;
    return 1;
}

void mb_jd_show(const mb_jd *doc, const mb_jd_node *n, char *out, size_t cap) {
    static const char *const names[] = {"null",   "false",    "true",     "a number",
                                        "string", "an array", "an object"};
    if (!n) {
        snprintf(out, cap, "missing");
    } else if (n->type == MB_JD_STR) {
        int l = n->n > 40 ? 40 : (int)n->n;
        snprintf(out, cap, "\"%.*s%s\"", l, doc->str + n->a, n->n > 40 ? "..." : "");
    } else if (n->type == MB_JD_NUM) {
        snprintf(out, cap, "%.*s", n->n > 40 ? 40 : (int)n->n, doc->text + n->a);
    } else {
        snprintf(out, cap, "%s", names[n->type]);
    }
}
