/* datasets/sha256.h — SHA-256 (FIPS 180-4): fetched files checked against the manifest, the token
 * file's key, and (harness/) the config hashes of resolved cells. */
#ifndef MB_SHA256_H
#define MB_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct mb_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
} mb_sha256;

void mb_sha256_init(mb_sha256 *s);
void mb_sha256_update(mb_sha256 *s, const void *data, size_t n);
void mb_sha256_final(mb_sha256 *s, uint8_t out[32]);
/* Hex digest of a NUL-terminated string into out[65]. */
void mb_sha256_hex(const char *text, char out[65]);

#endif
