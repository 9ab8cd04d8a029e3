/* posix.c - the production hm_env: clock_gettime, getrandom, POSIX files.
 *
 * The decision that shaped it: a failed fdatasync is final.  Linux may drop
 * the dirty pages and clear the error after reporting it once, so a retried
 * sync can "succeed" over lost data.  The file handle is therefore poisoned
 * on the first failed sync and refuses every later call but close; the
 * caller must give up on the file (and, for a log, on the process state).
 * A directory fsync opens a fresh descriptor each time, and a fresh
 * descriptor need not see an error another one was already told about, so
 * a failed sync or sync_dir also marks its file system (st_dev) failed for
 * the life of the process: every later sync_dir there fails too, and so
 * does every sync of a file on it.  The callers treat their disk as failed
 * on the first error anyway (hm_shard_store.h); this keeps the env from
 * ever claiming durability on a file system that has lost writeback.
 *
 * Every descriptor is opened O_CLOEXEC and created files get mode 0600: a
 * data directory holds keys and metadata that are nobody else's business.
 * The key-value members come from kv_lmdb.c through hm_kv_lmdb_bind.
 */
#include "hm_env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hm_err.h"

struct hm_file {
    int fd;
    bool poisoned; /* a sync failed: every call but close refuses */
};

/* The binding's state: its own copy of the vtable (the kv members are
 * filled in at creation by hm_kv_lmdb_bind). */
typedef struct posix_env {
    hm_env env;
    struct hm_env_ops ops;
} posix_env;

/* ---- failed file systems ------------------------------------------------ */

/* File systems on which a sync failed, for the life of the process.  One
 * that cannot be identified, or more than POSIX_FAILED_FS_MAX of them,
 * counts every file system as failed. */
#define POSIX_FAILED_FS_MAX 16
static pthread_mutex_t posix_failed_mu = PTHREAD_MUTEX_INITIALIZER;
static dev_t posix_failed_dev[POSIX_FAILED_FS_MAX]; /* under posix_failed_mu */
static size_t posix_failed_count;                    /* under posix_failed_mu */
static bool posix_failed_all;                        /* under posix_failed_mu */
static atomic_bool posix_failed_any;                 /* set once anything failed */

static void posix_fs_fail(int fd)
{
    struct stat st;
    bool known = fstat(fd, &st) == 0;
    pthread_mutex_lock(&posix_failed_mu);
    bool seen = false;
    for (size_t i = 0; known && i < posix_failed_count; i++)
        seen = seen || posix_failed_dev[i] == st.st_dev;
    if (!known || (!seen && posix_failed_count == POSIX_FAILED_FS_MAX))
        posix_failed_all = true;
    else if (!seen)
        posix_failed_dev[posix_failed_count++] = st.st_dev;
    pthread_mutex_unlock(&posix_failed_mu);
    atomic_store(&posix_failed_any, true);
}

/* Did a sync fail earlier on the file system holding fd? */
static bool posix_fs_failed(int fd)
{
    if (!atomic_load(&posix_failed_any)) return false;
    struct stat st;
    if (fstat(fd, &st) != 0) return true;
    pthread_mutex_lock(&posix_failed_mu);
    bool failed = posix_failed_all;
    for (size_t i = 0; !failed && i < posix_failed_count; i++)
        failed = posix_failed_dev[i] == st.st_dev;
    pthread_mutex_unlock(&posix_failed_mu);
    return failed;
}

/* ---- clock ------------------------------------------------------------- */

static int64_t posix_clock_ns(clockid_t id)
{
    struct timespec ts;
    /* clock_gettime cannot fail for these clock ids on Linux. */
    (void)clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t posix_mono_ns(hm_env *env)
{
    (void)env;
    return posix_clock_ns(CLOCK_MONOTONIC);
}

static int64_t posix_wall_ms(hm_env *env)
{
    (void)env;
    return posix_clock_ns(CLOCK_REALTIME) / 1000000;
}

static void posix_sleep_ms(hm_env *env, int64_t ms)
{
    (void)env;
    if (ms <= 0) return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    /* nanosleep writes the remainder back on EINTR: resume with it. */
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- rng --------------------------------------------------------------- */

/* getrandom(2) with flags 0 blocks until the pool is seeded and then never
 * fails short of EINTR; anything else means the kernel cannot give us key
 * material, and carrying on with predictable bytes would be worse than
 * stopping, so that case aborts. */
static void posix_random(hm_env *env, void *buf, size_t len)
{
    (void)env;
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}

/* ---- files ------------------------------------------------------------- */

static int posix_open(hm_env *env, const char *path, int flags, hm_file **out)
{
    (void)env;
    int oflags = O_CLOEXEC;
    if ((flags & HM_O_RDWR) != 0) oflags |= O_RDWR;
    else if ((flags & HM_O_RDONLY) != 0) oflags |= O_RDONLY;
    else return HM_EINVAL;
    if ((flags & HM_O_CREAT) != 0) oflags |= O_CREAT;
    if ((flags & HM_O_EXCL) != 0) oflags |= O_EXCL;
    if ((flags & HM_O_TRUNC) != 0) oflags |= O_TRUNC;

    hm_file *f = malloc(sizeof(*f));
    if (f == NULL) return HM_ENOMEM;
    int fd;
    do {
        fd = open(path, oflags, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int rc = hm_err_from_errno(errno);
        free(f);
        return rc;
    }
    f->fd = fd;
    f->poisoned = false;
    *out = f;
    return 0;
}

static int posix_pread(hm_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    if (f->poisoned) return HM_EPOISONED;
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off) return HM_EINVAL;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return hm_err_from_errno(errno);
        }
        if (n == 0) break; /* end of file */
        done += (size_t)n;
    }
    *got = done;
    return 0;
}

static int posix_pwrite(hm_file *f, const void *buf, size_t len, uint64_t off)
{
    if (f->poisoned) return HM_EPOISONED;
    if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off) return HM_EINVAL;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done,
                           (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return hm_err_from_errno(errno);
        }
        /* pwrite to a regular file returns 0 only for len 0; guard anyway
         * so a misbehaving file system cannot spin us forever. */
        if (n == 0) return HM_EIO;
        done += (size_t)n;
    }
    return 0;
}

static int posix_sync(hm_file *f)
{
    if (f->poisoned) return HM_EPOISONED;
    if (posix_fs_failed(f->fd)) {
        f->poisoned = true;
        return HM_EIO;
    }
    /* No retry on EINTR either: fdatasync does not return EINTR on Linux,
     * and any failure may already have cost us dirty pages. */
    if (fdatasync(f->fd) != 0) {
        int rc = hm_err_from_errno(errno);
        f->poisoned = true;
        posix_fs_fail(f->fd);
        return rc == HM_OK ? HM_EIO : rc;
    }
    return 0;
}

static int posix_size(hm_file *f, uint64_t *out)
{
    if (f->poisoned) return HM_EPOISONED;
    struct stat st;
    if (fstat(f->fd, &st) != 0) return hm_err_from_errno(errno);
    *out = (uint64_t)st.st_size;
    return 0;
}

static int posix_truncate(hm_file *f, uint64_t len)
{
    if (f->poisoned) return HM_EPOISONED;
    if (len > (uint64_t)INT64_MAX) return HM_EINVAL;
    int r;
    do {
        r = ftruncate(f->fd, (off_t)len);
    } while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : hm_err_from_errno(errno);
}

static int posix_fd(hm_file *f)
{
    return f->poisoned ? -1 : f->fd;
}

static void posix_close(hm_file *f)
{
    if (f == NULL) return;
    /* close(2) must not be retried on Linux: the descriptor is gone even
     * when it reports EINTR. */
    (void)close(f->fd);
    free(f);
}

/* rename has no handle to poison: a failed rename is returned and the
 * caller, which owns the file being published, stops using it. */
static int posix_rename(hm_env *env, const char *from, const char *to)
{
    (void)env;
    return rename(from, to) == 0 ? 0 : hm_err_from_errno(errno);
}

static int posix_unlink(hm_env *env, const char *path)
{
    (void)env;
    return unlink(path) == 0 ? 0 : hm_err_from_errno(errno);
}

static int posix_mkdir(hm_env *env, const char *path)
{
    (void)env;
    return mkdir(path, 0700) == 0 ? 0 : hm_err_from_errno(errno);
}

static int posix_rmdir(hm_env *env, const char *path)
{
    (void)env;
    return rmdir(path) == 0 ? 0 : hm_err_from_errno(errno);
}

static int posix_sync_dir(hm_env *env, const char *path)
{
    (void)env;
    int fd;
    do {
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return hm_err_from_errno(errno);
    int rc = 0;
    if (posix_fs_failed(fd)) {
        rc = HM_EIO;
    } else if (fsync(fd) != 0) {
        rc = hm_err_from_errno(errno);
        if (rc == HM_OK) rc = HM_EIO;
        posix_fs_fail(fd);
    }
    (void)close(fd);
    return rc;
}

static int posix_list_dir(hm_env *env, const char *path, hm_dir_fn fn, void *arg)
{
    (void)env;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return hm_err_from_errno(errno);
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        int rc = hm_err_from_errno(errno);
        (void)close(dfd);
        return rc;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0) rc = hm_err_from_errno(errno);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        bool is_dir;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            /* Some file systems do not fill d_type; follow links like
             * exists() does. */
            struct stat st;
            if (fstatat(dfd, de->d_name, &st, 0) != 0) continue; /* raced away */
            is_dir = S_ISDIR(st.st_mode);
        } else {
            is_dir = de->d_type == DT_DIR;
        }
        rc = fn(arg, de->d_name, is_dir);
        if (rc != 0) break;
    }
    (void)closedir(d); /* closes dfd */
    return rc;
}

static int posix_exists(hm_env *env, const char *path, bool *is_dir)
{
    (void)env;
    struct stat st;
    if (stat(path, &st) != 0) return hm_err_from_errno(errno);
    if (is_dir != NULL) *is_dir = S_ISDIR(st.st_mode);
    return 0;
}

static int posix_statfs(hm_env *env, const char *path, uint64_t *bytes_total,
                        uint64_t *bytes_free)
{
    (void)env;
    struct statvfs sv;
    if (statvfs(path, &sv) != 0) return hm_err_from_errno(errno);
    /* bavail, not bfree: blocks reserved for root are not ours to use. */
    *bytes_total = (uint64_t)sv.f_blocks * sv.f_frsize;
    *bytes_free = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}

static const struct hm_env_ops posix_ops = {
    .version = HM_ENV_VERSION,
    .mono_ns = posix_mono_ns,
    .wall_ms = posix_wall_ms,
    .sleep_ms = posix_sleep_ms,
    .random = posix_random,
    .open = posix_open,
    .pread = posix_pread,
    .pwrite = posix_pwrite,
    .sync = posix_sync,
    .size = posix_size,
    .truncate = posix_truncate,
    .fd = posix_fd,
    .close = posix_close,
    .rename = posix_rename,
    .unlink = posix_unlink,
    .mkdir = posix_mkdir,
    .rmdir = posix_rmdir,
    .sync_dir = posix_sync_dir,
    .list_dir = posix_list_dir,
    .exists = posix_exists,
    .statfs = posix_statfs,
};

/* Create the production binding.  HM_ENOMEM is the only failure. */
int hm_env_posix_new(hm_env **out)
{
    posix_env *pe = calloc(1, sizeof(*pe));
    if (pe == NULL) return HM_ENOMEM;
    pe->ops = posix_ops;
    hm_kv_lmdb_bind(&pe->ops);
    pe->env.ops = &pe->ops;
    pe->env.impl = pe;
    *out = &pe->env;
    return 0;
}

/* Free the binding.  Files and stores opened through it must be closed
 * first.  NULL is allowed. */
void hm_env_posix_free(hm_env *env)
{
    if (env == NULL) return;
    free(env->impl);
}
