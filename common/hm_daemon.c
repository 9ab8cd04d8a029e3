/* hm_daemon.c - start-up and shutdown shared by the daemons; see
 * hm_daemon.h.
 *
 * The decision that shaped it: a daemon checks everything that can fail
 * before it writes anything, and says what failed in words.  The lock is a
 * flock on a file inside the directory, not a pid file: the kernel drops it
 * when the process dies however it dies, so there is never a stale lock to
 * clean up, and the pid written in the file is only there to be quoted. */
#include "hm_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_cluster.h"
#include "hm_ec.h"
#include "hm_err.h"
#include "hm_log.h"

#define DAEMON_PATH_BYTES 4096

void hm_daemon_block_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Words for the errno of a failed write access check. */
static const char *daemon_access_words(int err)
{
    switch (err) {
    case EACCES: case EPERM: return "permission denied";
    case EROFS: return "read-only file system";
    default: return strerror(err);
    }
}

int hm_daemon_check_dir(const char *dir, bool create, char *why, size_t cap)
{
    struct stat st;
    if (dir == NULL || dir[0] == '\0') {
        snprintf(why, cap, "no directory given");
        return HM_EINVAL;
    }
    if (strlen(dir) >= DAEMON_PATH_BYTES - 64) {
        snprintf(why, cap, "%.64s...: path too long", dir);
        return HM_ETOOBIG;
    }
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(why, cap, "%s is a file, not a directory", dir);
            return HM_EINVAL;
        }
        if (access(dir, W_OK | X_OK) != 0) {
            int e = errno;
            snprintf(why, cap, "%s is not writable: %s", dir, daemon_access_words(e));
            return hm_err_from_errno(e);
        }
        return 0;
    }
    int e = errno;
    if (e == EACCES) {
        snprintf(why, cap, "cannot reach %s: permission denied on a directory above it", dir);
        return HM_EPERM;
    }
    if (e != ENOENT) {
        snprintf(why, cap, "%s: %s", dir, strerror(e));
        return hm_err_from_errno(e);
    }
    if (!create) {
        snprintf(why, cap, "%s does not exist", dir);
        return HM_ENOENT;
    }
    /* Missing: its parent must exist and take a new entry. */
    char parent[DAEMON_PATH_BYTES];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    memcpy(parent, dir, n);
    parent[n] = '\0';
    char *slash = strrchr(parent, '/');
    if (slash == NULL) snprintf(parent, sizeof parent, ".");
    else if (slash == parent) parent[1] = '\0';
    else *slash = '\0';
    if (stat(parent, &st) != 0) {
        e = errno;
        if (e == ENOENT)
            snprintf(why, cap, "cannot create %s: its parent directory %s does not exist",
                     dir, parent);
        else snprintf(why, cap, "cannot create %s: %s: %s", dir, parent, strerror(e));
        return hm_err_from_errno(e);
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, cap, "cannot create %s: %s is a file, not a directory", dir, parent);
        return HM_EINVAL;
    }
    if (access(parent, W_OK | X_OK) != 0) {
        e = errno;
        snprintf(why, cap, "cannot create %s: %s is not writable: %s", dir, parent,
                 daemon_access_words(e));
        return hm_err_from_errno(e);
    }
    return 0;
}

int hm_daemon_lock(const char *dir, int *fd_out, char *why, size_t cap)
{
    char path[DAEMON_PATH_BYTES];
    int n = snprintf(path, sizeof path, "%s/%s", dir, HM_DAEMON_LOCK_FILE);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(why, cap, "%.64s...: path too long", dir);
        return HM_ETOOBIG;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM || e == EROFS)
            snprintf(why, cap, "%s is not writable: %s", dir, daemon_access_words(e));
        else snprintf(why, cap, "cannot open the lock file %s: %s", path, strerror(e));
        return hm_err_from_errno(e);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            char buf[32];
            ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
            long pid = 0;
            if (got > 0) {
                buf[got] = '\0';
                pid = strtol(buf, NULL, 10);
            }
            if (pid > 0)
                snprintf(why, cap,
                         "%s is in use by another process (pid %ld holds %s); stop it "
                         "first or use another directory",
                         dir, pid, path);
            else
                snprintf(why, cap, "%s is in use by another process (it holds %s)", dir,
                         path);
            close(fd);
            return HM_EBUSY;
        }
        snprintf(why, cap, "cannot lock %s: %s", path, strerror(e));
        close(fd);
        return hm_err_from_errno(e);
    }
    /* Ours now: record who holds it, for the message above.  Not synced: a
     * crash drops the lock with the process, and a stale pid is harmless. */
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno;
        snprintf(why, cap, "cannot write %s: %s", path, strerror(e));
        close(fd);
        return hm_err_from_errno(e);
    }
    *fd_out = fd;
    return 0;
}

void hm_daemon_unlock(int fd)
{
    if (fd >= 0) close(fd);
}

void hm_daemon_identity_why(const char *data_dir, int rc, char *why, size_t cap)
{
    char path[DAEMON_PATH_BYTES];
    snprintf(path, sizeof path, "%s/cluster.pb", data_dir);
    switch (rc) {
    case HM_ENOENT:
        snprintf(why, cap,
                 "%s is not an initialised data directory (no cluster.pb): run "
                 "`hamster-ctl init -data-dir %s` first",
                 data_dir, data_dir);
        return;
    case HM_EPERM: {
        /* HM_EPERM is also what an unreadable file maps to: tell them apart. */
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && (errno == EACCES || errno == EPERM)) {
            snprintf(why, cap, "cannot read %s: permission denied", path);
            return;
        }
        if (fd >= 0) close(fd);
        snprintf(why, cap,
                 "the root key in the environment (HAMSTER_ACCESS_KEY_ID, "
                 "HAMSTER_SECRET_ACCESS_KEY) is not the one %s was initialised with "
                 "(%s records its fingerprints)",
                 data_dir, path);
        return;
    }
    case HM_EVERSION:
        snprintf(why, cap, "%s has a format version this build does not read (it reads %u to %u)",
                 path, HM_CLUSTER_FORMAT_VERSION_MIN, HM_CLUSTER_FORMAT_VERSION);
        return;
    case HM_ECORRUPT:
        snprintf(why, cap, "%s is damaged: it does not parse as a cluster identity", path);
        return;
    default:
        snprintf(why, cap, "%s: cluster identity: %s", data_dir, hm_err_msg(rc));
        return;
    }
}

int hm_daemon_identity(hm_env *env, const char *comp, const char *data_dir, hm_tls **tls)
{
    const char *akid = getenv("HAMSTER_ACCESS_KEY_ID");
    const char *secret = getenv("HAMSTER_SECRET_ACCESS_KEY");
    char why[1024];
    if (akid == NULL || akid[0] == '\0' || secret == NULL || secret[0] == '\0') {
        hm_error(comp, NULL,
                 "HAMSTER_ACCESS_KEY_ID and HAMSTER_SECRET_ACCESS_KEY must be set: every "
                 "node runs with the cluster's root key");
        return HM_EINVAL;
    }
    int rc = hm_daemon_check_dir(data_dir, false, why, sizeof why);
    if (rc != 0) {
        hm_error(comp, NULL, "data directory: %s", why);
        return rc;
    }
    rc = hm_cluster_check(env, data_dir, akid, secret, NULL);
    if (rc != 0) {
        hm_daemon_identity_why(data_dir, rc, why, sizeof why);
        hm_error(comp, NULL, "%s", why);
        return rc;
    }
    rc = hm_tls_new_from_data_dir(tls, data_dir);
    if (rc != 0) hm_error(comp, NULL, "certificates in %s/tls: %s", data_dir, hm_err_msg(rc));
    return rc;
}

void hm_daemon_wait(const sigset_t *sigs, const char *comp)
{
    int sig = 0;
    while (sigwait(sigs, &sig) != 0) {
    }
    hm_info(comp, NULL, "signal %d: stopping", sig);
}

int hm_daemon_ec_selftest(const char *prog, const char *comp)
{
    int rc = hm_ec_selftest();
    if (rc == 0) return 0;
    hm_error(comp, NULL,
             "erasure-coding self-test failed (%s): this build's ISA-L disagrees with the "
             "known answers; refusing to start",
             hm_err_name(rc));
    fprintf(stderr,
            "%s: erasure-coding self-test failed (%s): Reed-Solomon parity from this "
            "build's ISA-L differs from the known answers, so it could write unreadable "
            "shards; refusing to start\n",
            prog, hm_err_msg(rc));
    return rc;
}
