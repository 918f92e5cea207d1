/* datasets/idx.c — IDX reader (big-endian header, unsigned-byte body) through zlib's gzread, which
 * reads gzip and plain files alike. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../engine/file.h"
#include "data.h"
#include "idx.h"

/* Reads up to n bytes; *got says how many. A gzip stream that ends early is not an error here
 * (the caller reports the short count as truncation); corrupt data is. */
static mb_status idx_read(mb_ctx *ctx, gzFile f, const char *path, void *buf, size_t n,
                          size_t *got) {
    *got = 0;
    while (*got < n) {
        size_t want = n - *got > (1u << 30) ? (1u << 30) : n - *got;
        int r = gzread(f, (unsigned char *)buf + *got, (unsigned)want);
        if (r > 0) {
            *got += (size_t)r;
            continue;
        }
        int zerr = Z_OK;
        const char *msg = gzerror(f, &zerr);
        if (r < 0 || (zerr != Z_OK && zerr != Z_BUF_ERROR)) {
            if (zerr == Z_ERRNO)
                return mb_error(ctx, MB_EIO, "%s: cannot read: %s", path, strerror(errno));
            return mb_error(ctx, zerr == Z_MEM_ERROR ? MB_ENOMEM : MB_EFORMAT,
                            "%s: corrupt gzip data (%s)", path, msg);
        }
        break; /* end of file, or a gzip stream cut short (Z_BUF_ERROR) */
    }
    return MB_OK;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static mb_status idx_parse(mb_ctx *ctx, gzFile f, const char *path, mb_idx *out) {
    unsigned char head[4 + 4 * 4];
    size_t got;
    MB_TRY(idx_read(ctx, f, path, head, 4, &got));
    if (got < 4)
        return mb_error(ctx, MB_EFORMAT, "%s: truncated: %zu of the 4 bytes of the magic number",
                        path, got);
    uint32_t magic = be32(head);
    if (magic != 0x00000801u && magic != 0x00000803u)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: magic number 0x%08x is not an IDX file of unsigned bytes (expected "
                        "0x00000801 labels or 0x00000803 images)",
                        path, (unsigned)magic);
    int ndim = (int)(magic & 0xff);
    MB_TRY(idx_read(ctx, f, path, head + 4, 4 * (size_t)ndim, &got));
    if (got < 4 * (size_t)ndim)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: truncated: %zu of the %d bytes of the dimensions in the header", path,
                        got, 4 * ndim);
    char shape[64] = "";
    size_t n = 1;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(head + 4 + 4 * i);
        out->dims[i] = d;
        size_t len = strlen(shape);
        snprintf(shape + len, sizeof shape - len, "%s%u", i ? "x" : "", (unsigned)d);
        if (d == 0) return mb_error(ctx, MB_EFORMAT, "%s: dimension %d is 0", path, i);
        if (n > SIZE_MAX / d)
            return mb_error(ctx, MB_EFORMAT, "%s: dimensions %s overflow a size", path, shape);
        n *= d;
    }
    /* Grow the buffer as bytes arrive, so a corrupt header cannot ask for gigabytes up front. */
    size_t cap = n < (1u << 20) ? n : (1u << 20), have = 0;
    out->data = malloc(cap);
    if (!out->data) return mb_error(ctx, MB_ENOMEM, "%s: out of memory for %zu bytes", path, cap);
    while (have < n) {
        if (have == cap) {
            size_t next = cap > n / 2 ? n : 2 * cap;
            uint8_t *d = realloc(out->data, next);
            if (!d) return mb_error(ctx, MB_ENOMEM, "%s: out of memory for %zu bytes", path, next);
            out->data = d;
            cap = next;
        }
        MB_TRY(idx_read(ctx, f, path, out->data + have, cap - have, &got));
        have += got;
        if (have < cap) break;
    }
    if (have < n)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: truncated: the header promises %s = %zu bytes of data, the file "
                        "holds %zu",
                        path, shape, n, have);
    unsigned char extra;
    MB_TRY(idx_read(ctx, f, path, &extra, 1, &got));
    if (got)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: trailing bytes after the %zu bytes of data the header (%s) promises",
                        path, n, shape);
    out->n = n;
    return MB_OK;
}

mb_status mb_idx_read(mb_ctx *ctx, const char *path, mb_idx *out) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0)
        return mb_error(ctx, errno == ENOENT ? MB_ENOTFOUND : MB_EIO, "cannot open %s: %s", path,
                        strerror(errno));
    FILE *fp; /* a regular file within the limit, or nothing: a FIFO would block gzopen */
    MB_TRY(mb_file_open_read(ctx, path, "IDX file", MB_DATA_FILE_MAX, &fp, NULL));
    int fd = dup(fileno(fp));
    fclose(fp);
    gzFile f = fd >= 0 ? gzdopen(fd, "rb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) close(fd);
        return mb_error(ctx, MB_EIO, "cannot open %s: %s", path, e ? strerror(e) : "out of memory");
    }
    mb_status s = idx_parse(ctx, f, path, out);
    gzclose(f);
    if (s != MB_OK) mb_idx_free(out);
    return s;
}

void mb_idx_free(mb_idx *x) {
    free(x->data);
    memset(x, 0, sizeof *x);
}
