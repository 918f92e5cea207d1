/* engine/file.c — safe writes (mkstemp + fsync + rename) and checked reads (regular files only,
 * opened non-blocking so a FIFO cannot hang the run, within a size limit). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mb_file_errno_is_storage(int e) {
    return e == ENOSPC || e == EIO || e == EROFS || e == EFBIG
#ifdef EDQUOT
           || e == EDQUOT
#endif
        ;
}

mb_status mb_file_begin(mb_ctx *ctx, mb_file_out *f, const char *path) {
    memset(f, 0, sizeof *f);
    size_t n = strlen(path);
    if (n == 0) return mb_error(ctx, MB_EINVAL, "cannot write a file with an empty name");
    if (n >= sizeof f->path) return mb_error(ctx, MB_EINVAL, "path too long: %.64s...", path);
    memcpy(f->path, path, n + 1);
    snprintf(f->tmp, sizeof f->tmp, "%s.XXXXXX", path);
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        int e = errno;
        f->tmp[0] = 0;
        return mb_error(ctx, mb_file_errno_is_storage(e) ? MB_ESTORAGE : MB_EIO,
                        "cannot create a temporary file for %s: %s", path, strerror(e));
    }
    mode_t um = umask(0);
    umask(um);
    (void)fchmod(fd, 0644 & ~um);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int e = errno;
        close(fd);
        unlink(f->tmp);
        f->tmp[0] = 0;
        return mb_error(ctx, MB_EIO, "cannot write %s: %s", path, strerror(e));
    }
    return MB_OK;
}

void mb_file_abort(mb_file_out *f) {
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    if (f->tmp[0]) unlink(f->tmp);
    f->tmp[0] = 0;
}

mb_status mb_file_commit(mb_ctx *ctx, mb_file_out *f) {
    if (!f->fp) return mb_error(ctx, MB_EIO, "cannot write %s: not open", f->path);
    int e = 0;
    if (ferror(f->fp)) e = errno ? errno : EIO;
    errno = 0;
    if (!e && fflush(f->fp) != 0) e = errno ? errno : EIO;
    if (!e && fsync(fileno(f->fp)) != 0 && errno != EINVAL && errno != EROFS) e = errno;
    errno = 0;
    int c = fclose(f->fp);
    f->fp = NULL;
    if (!e && c != 0) e = errno ? errno : EIO;
    if (!e && rename(f->tmp, f->path) != 0) e = errno;
    if (e) {
        unlink(f->tmp);
        f->tmp[0] = 0;
        return mb_error(ctx, mb_file_errno_is_storage(e) ? MB_ESTORAGE : MB_EIO,
                        "cannot write %s: %s", f->path, strerror(e));
    }
    f->tmp[0] = 0;
    return MB_OK;
}

mb_status mb_file_append(mb_ctx *ctx, const char *path, const char *mode, FILE **out) {
    *out = NULL;
    int fl = O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    fl |= strchr(mode, '+') ? O_RDWR : O_WRONLY;
    int fd = open(path, fl, 0644);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            return mb_error(ctx, MB_EIO, "cannot write %s: it is a symbolic link (refused)", path);
        return mb_error(ctx, MB_EIO, "cannot write %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mb_error(ctx, MB_EIO, "cannot write %s: not a regular file", path);
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *fp = fdopen(fd, mode);
    if (!fp) {
        int e = errno;
        close(fd);
        return mb_error(ctx, MB_EIO, "cannot write %s: %s", path, strerror(e));
    }
    *out = fp;
    return MB_OK;
}

static const char *kind_of(mode_t m) {
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

static mb_status check_stat(mb_ctx *ctx, const char *path, const char *what, uint64_t max_bytes,
                            const struct stat *st) {
    if (!S_ISREG(st->st_mode))
        return mb_error(ctx, MB_EINVAL, "%s %s is %s; expected a regular file", what, path,
                        kind_of(st->st_mode));
    if (max_bytes && (uint64_t)st->st_size > max_bytes)
        return mb_error(ctx, MB_EINVAL, "%s %s is %llu bytes, over the limit of %llu", what, path,
                        (unsigned long long)st->st_size, (unsigned long long)max_bytes);
    return MB_OK;
}

mb_status mb_file_check_regular(mb_ctx *ctx, const char *path, const char *what,
                                uint64_t max_bytes) {
    struct stat st;
    if (stat(path, &st) != 0)
        return mb_error(ctx, MB_EIO, "cannot read %s %s: %s", what, path, strerror(errno));
    return check_stat(ctx, path, what, max_bytes, &st);
}

mb_status mb_file_open_read(mb_ctx *ctx, const char *path, const char *what, uint64_t max_bytes,
                            FILE **out, uint64_t *size_out) {
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return mb_error(ctx, MB_EIO, "cannot read %s %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mb_error(ctx, MB_EIO, "cannot read %s %s: %s", what, path, strerror(e));
    }
    mb_status s = check_stat(ctx, path, what, max_bytes, &st);
    if (s != MB_OK) {
        close(fd);
        return s;
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return mb_error(ctx, MB_EIO, "cannot read %s %s: %s", what, path, strerror(e));
    }
    if (size_out) *size_out = (uint64_t)st.st_size;
    *out = fp;
    return MB_OK;
}

mb_status mb_file_read_stream(mb_ctx *ctx, FILE *f, const char *path, uint64_t max_bytes,
                              unsigned char **out, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return mb_error(ctx, MB_ENOMEM, "reading %s: cannot allocate %zu bytes", path, cap);
    for (;;) {
        if (n + 1 >= cap) { /* room for the NUL too */
            size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            unsigned char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                free(buf);
                return mb_error(ctx, MB_ENOMEM, "reading %s: cannot allocate %zu bytes", path,
                                ncap);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
        if (max_bytes && (uint64_t)n > max_bytes) {
            free(buf);
            return mb_error(ctx, MB_EINVAL, "%s grew past the limit of %llu bytes while read", path,
                            (unsigned long long)max_bytes);
        }
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        return mb_error(ctx, MB_EIO, "cannot read %s: %s", path, strerror(e));
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return MB_OK;
}

mb_status mb_file_read_all(mb_ctx *ctx, const char *path, const char *what, uint64_t max_bytes,
                           char **out, size_t *len) {
    FILE *f;
    MB_TRY(mb_file_open_read(ctx, path, what, max_bytes, &f, NULL));
    unsigned char *b = NULL;
    mb_status s = mb_file_read_stream(ctx, f, path, max_bytes, &b, len);
    fclose(f);
    if (s == MB_OK) *out = (char *)b;
    return s;
}
