/* datasets/jsondoc.h — a whole JSON document as a tree of nodes (RFC 8259), for files whose
 * structure is read key by key (tokenizer.json); errors give FILE:LINE:COL. */
#ifndef MB_JSONDOC_H
#define MB_JSONDOC_H

#include <stddef.h>
#include <stdint.h>

#include "../engine/ctx.h"

typedef enum mb_jd_type {
    MB_JD_NULL,
    MB_JD_FALSE,
    MB_JD_TRUE,
    MB_JD_NUM,
    MB_JD_STR,
    MB_JD_ARR,
    MB_JD_OBJ
} mb_jd_type;

typedef struct mb_jd_node {
    mb_jd_type type;
    size_t at;        /* byte offset of the value in the text */
    size_t key, klen; /* an object member's name: doc->str[key .. key + klen) */
    size_t a, n;      /* string: doc->str[a .. a + n); number: text[a .. a + n); array, object:
                       * its n members are doc->node[a .. a + n) */
} mb_jd_node;

typedef struct mb_jd {
    const char *path; /* for messages */
    const char *text; /* the caller's, kept for numbers and positions */
    size_t len;
    mb_jd_node *node;   /* every container's members side by side */
    size_t nnode, root; /* node[root] is the document's value */
    char *str;          /* decoded strings and member names (UTF-8; may hold NUL) */
    size_t nstr;
} mb_jd;

#define MB_JD_DEPTH 64 /* deeper nesting is an error */

/* Parses text[0..len) (which must outlive the document). Errors: MB_EFORMAT, "PATH:LINE:COL:
 * what was wrong". */
mb_status mb_jd_parse(mb_ctx *ctx, const char *path, const char *text, size_t len, mb_jd *doc);
void mb_jd_free(mb_jd *doc);

/* The member `key` of object o, or NULL (also when o is not an object); the last one when a name
 * repeats. */
const mb_jd_node *mb_jd_get(const mb_jd *doc, const mb_jd_node *o, const char *key);
/* 1-based line and column (in bytes) of offset `at`. */
void mb_jd_pos(const mb_jd *doc, size_t at, size_t *line, size_t *col);
/* 1 when n is a string equal to the NUL-terminated s. */
int mb_jd_is(const mb_jd *doc, const mb_jd_node *n, const char *s);
/* 1 with *v when n is an integer number in [0, INT32_MAX] (no fraction or exponent). */
int mb_jd_uint(const mb_jd *doc, const mb_jd_node *n, int32_t *v);
/* A short rendering of n for messages: a string quoted (cut past 40 bytes), else its type. */
void mb_jd_show(const mb_jd *doc, const mb_jd_node *n, char *out, size_t cap);

#endif
