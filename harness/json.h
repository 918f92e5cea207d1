/* harness/json.h — a small streaming JSON writer for run.json (strings escaped, numbers in %.17g). */
#ifndef MB_JSON_H
#define MB_JSON_H

#include <stdint.h>
#include <stdio.h>

typedef struct mb_json {
    FILE *fp;
    int depth;
    int first[32]; /* per depth: no member written yet */
    int err;       /* a write failed */
} mb_json;

void mb_json_begin(mb_json *j, FILE *fp); /* writes "{" */
void mb_json_end(mb_json *j);             /* closes the top object, writes "\n" */
void mb_json_key_obj(mb_json *j, const char *key); /* "key": { */
void mb_json_key_arr(mb_json *j, const char *key); /* "key": [ */
void mb_json_obj(mb_json *j);                      /* { inside an array */
void mb_json_close(mb_json *j);                    /* } or ] */
void mb_json_str(mb_json *j, const char *key, const char *v); /* key NULL inside arrays */
void mb_json_int(mb_json *j, const char *key, int64_t v);
void mb_json_num(mb_json *j, const char *key, double v); /* NaN/inf written as null */
void mb_json_bool(mb_json *j, const char *key, int v);

#endif
