/* harness/outdir.c — the results folder's lock and the check that a run may use the folder:
 * fresh, resumed by the same suite, or cleared with --force. */
#include "outdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const mb_outdir_reserved[] = {
    "results.csv", "steps.csv",  "run.json",  MB_OUT_LOCK, "report.md",
    "report.html", "compare.md", "junit.xml", NULL,
};

static mb_status mkdirs(mb_ctx *ctx, const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0) return mb_error(ctx, MB_EINVAL, "the results folder's name is empty");
    if (n >= sizeof buf) return mb_error(ctx, MB_EINVAL, "results folder name too long");
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return mb_error(ctx, MB_EIO, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return mb_error(ctx, MB_EIO, "cannot create %s: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return mb_error(ctx, MB_EINVAL, "results folder %s is not a directory", buf);
    return MB_OK;
}

/* The size of DIR/name when it is a regular file, else -1 (a symbolic link is not followed: the
 * files are opened later without following one, and refused there). */
static long long file_size(const char *dir, const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return lstat(p, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

/* Reads a JSON string value starting at the opening quote into out (escapes \" and \\ only
 * matter here: suite names are identifiers). 0 on success. */
static int json_string(const char *s, char *out, size_t n) {
    if (*s++ != '"') return -1;
    size_t k = 0;
    for (; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1]) s++;
        if (k + 1 < n) out[k++] = *s;
    }
    out[k] = 0;
    return *s == '"' ? 0 : -1;
}

/* The suite name run.json records ("suite": {"name": "..."}); "" when unknown. */
static void run_json_suite(const char *dir, char *out, size_t n) {
    out[0] = 0;
    char p[4200];
    snprintf(p, sizeof p, "%s/run.json", dir);
    int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    char buf[16384];
    ssize_t got = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) return;
    buf[got] = 0;
    const char *s = strstr(buf, "\"suite\"");
    if (!s) return;
    s = strstr(s, "\"name\"");
    if (!s) return;
    s += 6;
    while (*s == ' ' || *s == ':') s++;
    if (json_string(s, out, n) != 0) out[0] = 0;
}

static mb_status take_lock(mb_ctx *ctx, mb_outdir *o, const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, MB_OUT_LOCK);
    int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0)
        return mb_error(ctx, MB_EIO, "cannot open the lock file %s: %s", p,
                        errno == ELOOP ? "it is a symbolic link (refused)" : strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mb_error(ctx, MB_EIO, "cannot use the lock file %s: not a regular file", p);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[64] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK) return mb_error(ctx, MB_EIO, "cannot lock %s: %s", p, strerror(e));
        holder[n > 0 ? n : 0] = 0;
        holder[strcspn(holder, "\n")] = 0;
        return mb_error(ctx, MB_EINVAL,
                        "%s is in use by another membench run (pid %s): wait for it to end, or "
                        "choose another --out folder",
                        dir, holder[0] ? holder : "unknown");
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return mb_error(ctx, MB_EIO, "cannot write the lock file %s: %s", p, strerror(e));
    }
    o->lock_fd = fd;
    return MB_OK;
}

mb_status mb_outdir_open(mb_ctx *ctx, mb_outdir *o, const char *dir, const char *suite,
                         mb_out_mode mode) {
    o->lock_fd = -1;
    o->cleared = 0;
    MB_TRY(mkdirs(ctx, dir));
    MB_TRY(take_lock(ctx, o, dir));
    static const char *const owned[] = {"results.csv", "steps.csv", "run.json"};
    int used = 0;
    for (int i = 0; i < 3; i++) used |= file_size(dir, owned[i]) > 0;
    if (!used) return MB_OK;
    char other[256];
    run_json_suite(dir, other, sizeof other);
    if (mode == MB_OUT_FORCE) {
        for (int i = 0; i < 3; i++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s", dir, owned[i]);
            if (unlink(p) != 0 && errno != ENOENT)
                return mb_error(ctx, MB_EIO, "--force: cannot remove %s: %s", p, strerror(errno));
        }
        o->cleared = 1;
        return MB_OK;
    }
    if (other[0] && strcmp(other, suite) != 0)
        return mb_error(ctx, MB_EINVAL,
                        "%s holds the results of suite '%s', not '%s': choose another --out "
                        "folder, or add --force to delete them and start over",
                        dir, other, suite);
    if (mode == MB_OUT_RESUME) return MB_OK;
    return mb_error(ctx, MB_EINVAL,
                    "%s already holds results of suite '%s': add --resume to finish that run, "
                    "--force to delete them and start over, or choose another --out folder",
                    dir, other[0] ? other : suite);
}

void mb_outdir_close(mb_outdir *o) {
    if (o->lock_fd >= 0) close(o->lock_fd); /* closing the last descriptor releases the flock */
    o->lock_fd = -1;
}

void mb_outdir_forget(mb_outdir *o) {
    /* the parent's descriptor still holds the lock: a flock belongs to the open file
     * description, which the parent keeps */
    mb_outdir_close(o);
}
