/* tests/check.h — tiny assertion helpers for ctest programs: failures print file:line and the values;
 * the exit code carries the verdict (0 pass, 1 fail, 77 skipped). */
#ifndef MB_CHECK_H
#define MB_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int mb_check_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            mb_check_failures++;                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_OK(ctx, expr)                                                                        \
    do {                                                                                           \
        mb_status s_ = (expr);                                                                     \
        if (s_ != MB_OK) {                                                                         \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr,              \
                    mb_status_name(s_), (ctx)->err);                                               \
            mb_check_failures++;                                                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_U(a, b)                                                                           \
    CHECK((unsigned long long)(a) == (unsigned long long)(b), "%s = %llu, expected %s = %llu", #a, \
          (unsigned long long)(a), #b, (unsigned long long)(b))

#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0, "got \"%s\"\nexpected \"%s\"", (a), (b))

#define CHECK_DONE()                                                                               \
    do {                                                                                           \
        if (mb_check_failures) {                                                                   \
            fprintf(stderr, "%d check(s) failed\n", mb_check_failures);                            \
            return 1;                                                                              \
        }                                                                                          \
        printf("all checks passed\n");                                                             \
        return 0;                                                                                  \
    } while (0)

#endif
