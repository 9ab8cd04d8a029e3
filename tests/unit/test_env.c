/* test_env.c - the production env: files, directories, and the LMDB store.
 *
 * Each test works in its own fresh directory under TMPDIR (or /tmp), removed
 * at the end.  Reopening a store is the closest a unit test gets to a
 * restart; crash loss of lazy commits is the simulator's job.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_env.h"
#include "hm_err.h"
#include "hm_limits.h"

static hm_env *env;
static char dir[256];

static void setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/hm-env-XXXXXX", t != NULL ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
}

static void teardown(void)
{
    char cmd[512];
    hm_env_posix_free(env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void path_of(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", dir, rel);
}

/* ---- clock and rng ---------------------------------------------------- */

/* The monotonic clock advances across a sleep by at least the sleep. */
START_TEST(test_clock_and_sleep)
{
    int64_t t0 = env->ops->mono_ns(env);
    env->ops->sleep_ms(env, 20);
    int64_t t1 = env->ops->mono_ns(env);
    ck_assert_int_ge(t1 - t0, 20 * 1000000);
    /* Wall clock is in milliseconds since 1970: after 2020-01-01. */
    ck_assert_int_gt(hm_wall_ms(env), 1577836800000ll);
}
END_TEST

/* Two draws of 32 random bytes differ and are not all zero. */
START_TEST(test_random)
{
    uint8_t a[32] = {0}, b[32] = {0}, z[32] = {0};
    hm_random(env, a, sizeof(a));
    hm_random(env, b, sizeof(b));
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    ck_assert(memcmp(a, z, sizeof(a)) != 0);
}
END_TEST

/* ---- files ------------------------------------------------------------ */

/* pwrite then pread returns the bytes; reads past the end come back short. */
START_TEST(test_file_rw)
{
    char p[512];
    hm_file *f;
    size_t got;
    char buf[16];
    uint64_t size;
    path_of(p, sizeof(p), "f");
    ck_assert_int_eq(env->ops->open(env, p, HM_O_RDWR | HM_O_CREAT | HM_O_EXCL, &f), 0);
    ck_assert_int_eq(env->ops->pwrite(f, "hello world", 11, 0), 0);
    ck_assert_int_eq(env->ops->pwrite(f, "W", 1, 6), 0);
    ck_assert_int_eq(env->ops->sync(f), 0);
    ck_assert_int_eq(env->ops->size(f, &size), 0);
    ck_assert_uint_eq(size, 11);
    ck_assert_int_eq(env->ops->pread(f, buf, sizeof(buf), 0, &got), 0);
    ck_assert_uint_eq(got, 11);
    ck_assert_mem_eq(buf, "hello World", 11);
    ck_assert_int_eq(env->ops->pread(f, buf, 4, 100, &got), 0);
    ck_assert_uint_eq(got, 0);
    ck_assert_int_eq(env->ops->truncate(f, 5), 0);
    ck_assert_int_eq(env->ops->size(f, &size), 0);
    ck_assert_uint_eq(size, 5);
    ck_assert_int_ge(env->ops->fd(f), 0);
    env->ops->close(f);
    /* EXCL on an existing file, and opening a missing one. */
    ck_assert_int_eq(env->ops->open(env, p, HM_O_RDWR | HM_O_CREAT | HM_O_EXCL, &f),
                     HM_EEXIST);
    path_of(p, sizeof(p), "missing");
    ck_assert_int_eq(env->ops->open(env, p, HM_O_RDONLY, &f), HM_ENOENT);
}
END_TEST

/* Created files are private to the owner (mode 0600) and close-on-exec. */
START_TEST(test_file_mode_cloexec)
{
    char p[512];
    hm_file *f;
    struct stat st;
    path_of(p, sizeof(p), "m");
    ck_assert_int_eq(env->ops->open(env, p, HM_O_RDWR | HM_O_CREAT, &f), 0);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    int fl = fcntl(env->ops->fd(f), F_GETFD);
    ck_assert(fl >= 0 && (fl & FD_CLOEXEC) != 0);
    env->ops->close(f);
}
END_TEST

/* A failed sync poisons the handle: every later call but close refuses with
 * HM_EPOISONED, even once the sync would succeed again.  (The failure is
 * provoked by putting a pipe under the handle's descriptor: fdatasync on a
 * pipe fails with EINVAL.) */
START_TEST(test_sync_failure_poisons)
{
    char p[512];
    hm_file *f;
    size_t got;
    char b[4];
    uint64_t size;
    int pfd[2];
    path_of(p, sizeof(p), "poison");
    ck_assert_int_eq(env->ops->open(env, p, HM_O_RDWR | HM_O_CREAT, &f), 0);
    ck_assert_int_eq(env->ops->pwrite(f, "abc", 3, 0), 0);
    int fd = env->ops->fd(f);
    int saved = dup(fd);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(pipe(pfd), 0);
    ck_assert_int_eq(dup2(pfd[0], fd), fd);
    ck_assert_int_lt(env->ops->sync(f), 0);
    /* Put the real file back: the handle must still refuse. */
    ck_assert_int_eq(dup2(saved, fd), fd);
    ck_assert_int_eq(env->ops->sync(f), HM_EPOISONED);
    ck_assert_int_eq(env->ops->pwrite(f, "x", 1, 0), HM_EPOISONED);
    ck_assert_int_eq(env->ops->pread(f, b, 1, 0, &got), HM_EPOISONED);
    ck_assert_int_eq(env->ops->size(f, &size), HM_EPOISONED);
    ck_assert_int_eq(env->ops->truncate(f, 0), HM_EPOISONED);
    ck_assert_int_eq(env->ops->fd(f), -1);
    struct stat st;
    ck_assert_int_eq(fstat(saved, &st), 0);
    ck_assert_int_eq(st.st_size, 3); /* the refused truncate did nothing */
    env->ops->close(f);
    close(saved);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

static int count_cb(void *arg, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(int *)arg)++;
    return 0;
}

/* The atomic write replaces a file whole and leaves no temp file behind. */
START_TEST(test_write_file_atomic)
{
    char p[512];
    void *buf;
    size_t len;
    path_of(p, sizeof(p), "state.pb");
    ck_assert_int_eq(hm_env_write_file_atomic(env, p, "first", 5), 0);
    ck_assert_int_eq(hm_env_write_file_atomic(env, p, "second!", 7), 0);
    ck_assert_int_eq(hm_env_read_file(env, p, 100, &buf, &len), 0);
    ck_assert_uint_eq(len, 7);
    ck_assert_mem_eq(buf, "second!", 7);
    free(buf);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);

    int count = 0;
    ck_assert_int_eq(env->ops->list_dir(env, dir, count_cb, &count), 0);
    ck_assert_int_eq(count, 1);
}
END_TEST

/* An atomic write into a missing directory fails and creates nothing. */
START_TEST(test_write_file_atomic_fails_cleanly)
{
    char p[512];
    bool is_dir;
    path_of(p, sizeof(p), "nodir/x");
    ck_assert_int_eq(hm_env_write_file_atomic(env, p, "x", 1), HM_ENOENT);
    ck_assert_int_eq(env->ops->exists(env, p, &is_dir), HM_ENOENT);
}
END_TEST

/* read_file refuses a file longer than max and reads an empty file. */
START_TEST(test_read_file_limits)
{
    char p[512];
    void *buf;
    size_t len = 99;
    path_of(p, sizeof(p), "big");
    ck_assert_int_eq(hm_env_write_file_atomic(env, p, "0123456789", 10), 0);
    ck_assert_int_eq(hm_env_read_file(env, p, 9, &buf, &len), HM_ETOOBIG);
    ck_assert_int_eq(hm_env_read_file(env, p, 10, &buf, &len), 0);
    ck_assert_uint_eq(len, 10);
    free(buf);
    path_of(p, sizeof(p), "empty");
    ck_assert_int_eq(hm_env_write_file_atomic(env, p, "", 0), 0);
    ck_assert_int_eq(hm_env_read_file(env, p, 10, &buf, &len), 0);
    ck_assert_uint_eq(len, 0);
    free(buf);
}
END_TEST

typedef struct listing {
    int files, dirs, calls;
    int stop_after;
    bool saw_a, saw_sub;
} listing;

static int list_cb(void *arg, const char *name, bool is_dir)
{
    listing *l = arg;
    l->calls++;
    if (is_dir) l->dirs++;
    else l->files++;
    if (strcmp(name, "a") == 0 && !is_dir) l->saw_a = true;
    if (strcmp(name, "sub") == 0 && is_dir) l->saw_sub = true;
    if (l->stop_after > 0 && l->calls == l->stop_after) return 42;
    return 0;
}

/* list_dir reports files and directories (not . and ..), and a non-zero
 * callback result stops it and is returned. */
START_TEST(test_list_dir)
{
    char p[512];
    bool is_dir;
    path_of(p, sizeof(p), "a");
    ck_assert_int_eq(hm_env_write_file_atomic(env, p, "a", 1), 0);
    path_of(p, sizeof(p), "b");
    ck_assert_int_eq(hm_env_write_file_atomic(env, p, "b", 1), 0);
    path_of(p, sizeof(p), "sub");
    ck_assert_int_eq(env->ops->mkdir(env, p), 0);
    ck_assert_int_eq(env->ops->mkdir(env, p), HM_EEXIST);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    ck_assert_int_eq(env->ops->exists(env, p, &is_dir), 0);
    ck_assert(is_dir);
    ck_assert_int_eq(env->ops->sync_dir(env, p), 0);

    listing l = {0};
    ck_assert_int_eq(env->ops->list_dir(env, dir, list_cb, &l), 0);
    ck_assert_int_eq(l.files, 2);
    ck_assert_int_eq(l.dirs, 1);
    ck_assert(l.saw_a && l.saw_sub);

    listing l2 = {.stop_after = 2};
    ck_assert_int_eq(env->ops->list_dir(env, dir, list_cb, &l2), 42);
    ck_assert_int_eq(l2.calls, 2);

    ck_assert_int_eq(env->ops->rmdir(env, p), 0);
    ck_assert_int_eq(env->ops->exists(env, p, &is_dir), HM_ENOENT);
    path_of(p, sizeof(p), "nope");
    ck_assert_int_eq(env->ops->list_dir(env, p, list_cb, &l), HM_ENOENT);
}
END_TEST

/* rename moves a file, unlink removes it, statfs reports a sane disk. */
START_TEST(test_rename_unlink_statfs)
{
    char a[512], b[512];
    bool is_dir;
    uint64_t total, avail;
    path_of(a, sizeof(a), "a");
    path_of(b, sizeof(b), "b");
    ck_assert_int_eq(hm_env_write_file_atomic(env, a, "x", 1), 0);
    ck_assert_int_eq(env->ops->rename(env, a, b), 0);
    ck_assert_int_eq(env->ops->exists(env, a, &is_dir), HM_ENOENT);
    ck_assert_int_eq(env->ops->exists(env, b, &is_dir), 0);
    ck_assert(!is_dir);
    ck_assert_int_eq(env->ops->unlink(env, b), 0);
    ck_assert_int_eq(env->ops->unlink(env, b), HM_ENOENT);
    ck_assert_int_eq(env->ops->statfs(env, dir, &total, &avail), 0);
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_le(avail, total);
}
END_TEST

/* ---- kv --------------------------------------------------------------- */

static hm_kv *kv_open_store(void)
{
    char p[512];
    hm_kv *kv;
    path_of(p, sizeof(p), "kv");
    ck_assert_int_eq(env->ops->kv_open(env, p, &kv), 0);
    return kv;
}

static void kv_put_str(hm_kv_txn *t, enum hm_kv_table tab, const char *k, const char *v)
{
    ck_assert_int_eq(env->ops->kv_put(t, tab, k, strlen(k), v, strlen(v)), 0);
}

static void kv_expect(hm_kv_txn *t, enum hm_kv_table tab, const char *k, const char *v)
{
    const void *val;
    size_t len;
    int rc = env->ops->kv_get(t, tab, k, strlen(k), &val, &len);
    if (v == NULL) {
        ck_assert_int_eq(rc, HM_ENOENT);
        return;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(len, strlen(v));
    ck_assert_mem_eq(val, v, len);
}

/* put, get and del work, and tables are separate namespaces. */
START_TEST(test_kv_put_get_del_tables)
{
    hm_kv *kv = kv_open_store();
    hm_kv_txn *t;
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    kv_put_str(t, HM_KV_BUCKETS, "k", "bucket");
    kv_put_str(t, HM_KV_KEYS, "k", "key");
    kv_put_str(t, HM_KV_FEATURES, "gate", "on");
    kv_expect(t, HM_KV_BUCKETS, "k", "bucket"); /* visible inside the txn */
    ck_assert_int_eq(env->ops->kv_commit(t, true), 0);

    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    kv_expect(t, HM_KV_BUCKETS, "k", "bucket");
    kv_expect(t, HM_KV_KEYS, "k", "key");
    kv_expect(t, HM_KV_SYS, "k", NULL);
    kv_put_str(t, HM_KV_BUCKETS, "k", "replaced");
    ck_assert_int_eq(env->ops->kv_del(t, HM_KV_KEYS, "k", 1), 0);
    ck_assert_int_eq(env->ops->kv_del(t, HM_KV_KEYS, "k", 1), HM_ENOENT);
    ck_assert_int_eq(env->ops->kv_commit(t, false), 0);

    ck_assert_int_eq(env->ops->kv_begin(kv, false, &t), 0);
    kv_expect(t, HM_KV_BUCKETS, "k", "replaced");
    kv_expect(t, HM_KV_KEYS, "k", NULL);
    kv_expect(t, HM_KV_FEATURES, "gate", "on");
    /* A read transaction cannot write. */
    ck_assert_int_eq(env->ops->kv_put(t, HM_KV_SYS, "x", 1, "y", 1), HM_EINVAL);
    env->ops->kv_abort(t);
    env->ops->kv_close(kv);
}
END_TEST

/* Keys must be 1..HM_KV_KEY_BYTES_MAX bytes and tables in range. */
START_TEST(test_kv_bounds)
{
    hm_kv *kv = kv_open_store();
    hm_kv_txn *t;
    static char big[HM_KV_KEY_BYTES_MAX + 1];
    const void *v;
    size_t vl;
    memset(big, 'k', sizeof(big));
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(env->ops->kv_put(t, HM_KV_SYS, big, HM_KV_KEY_BYTES_MAX, "v", 1), 0);
    ck_assert_int_eq(env->ops->kv_put(t, HM_KV_SYS, big, sizeof(big), "v", 1), HM_EINVAL);
    ck_assert_int_eq(env->ops->kv_put(t, HM_KV_SYS, big, 0, "v", 1), HM_EINVAL);
    ck_assert_int_eq(env->ops->kv_get(t, HM_KV_TABLE_COUNT, "k", 1, &v, &vl), HM_EINVAL);
    ck_assert_int_eq(env->ops->kv_get(t, (enum hm_kv_table)-1, "k", 1, &v, &vl), HM_EINVAL);
    env->ops->kv_abort(t);
    env->ops->kv_close(kv);
}
END_TEST

/* Aborting a write transaction discards its writes. */
START_TEST(test_kv_abort_discards)
{
    hm_kv *kv = kv_open_store();
    hm_kv_txn *t;
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    kv_put_str(t, HM_KV_SYS, "a", "1");
    ck_assert_int_eq(env->ops->kv_commit(t, true), 0);
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    kv_put_str(t, HM_KV_SYS, "a", "2");
    kv_put_str(t, HM_KV_SYS, "b", "3");
    env->ops->kv_abort(t);
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &t), 0);
    kv_expect(t, HM_KV_SYS, "a", "1");
    kv_expect(t, HM_KV_SYS, "b", NULL);
    env->ops->kv_abort(t);
    env->ops->kv_close(kv);
}
END_TEST

/* A read transaction sees the snapshot it began with, not later commits. */
START_TEST(test_kv_snapshot)
{
    hm_kv *kv = kv_open_store();
    hm_kv_txn *r, *w;
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &r), 0);
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &w), 0);
    kv_put_str(w, HM_KV_SYS, "a", "1");
    ck_assert_int_eq(env->ops->kv_commit(w, true), 0);
    kv_expect(r, HM_KV_SYS, "a", NULL);
    ck_assert_int_eq(env->ops->kv_commit(r, false), 0); /* ends a read txn */
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &r), 0);
    kv_expect(r, HM_KV_SYS, "a", "1");
    env->ops->kv_abort(r);
    env->ops->kv_close(kv);
}
END_TEST

/* Durable and lazy commits both survive closing and reopening the store. */
START_TEST(test_kv_reopen_keeps_data)
{
    hm_kv *kv = kv_open_store();
    hm_kv_txn *t;
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    kv_put_str(t, HM_KV_VERSIONS, "durable", "d");
    ck_assert_int_eq(env->ops->kv_commit(t, true), 0);
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    kv_put_str(t, HM_KV_VERSIONS, "lazy", "l");
    ck_assert_int_eq(env->ops->kv_commit(t, false), 0);
    env->ops->kv_close(kv);

    kv = kv_open_store();
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &t), 0);
    kv_expect(t, HM_KV_VERSIONS, "durable", "d");
    kv_expect(t, HM_KV_VERSIONS, "lazy", "l");
    kv_expect(t, HM_KV_NAMES, "durable", NULL);
    env->ops->kv_abort(t);
    env->ops->kv_close(kv);
}
END_TEST

static void cur_expect(hm_kv_cursor *c, const char *k, const char *v)
{
    const void *key, *val;
    size_t kl, vl;
    ck_assert_int_eq(env->ops->kv_cursor_get(c, &key, &kl, &val, &vl), 0);
    ck_assert_uint_eq(kl, strlen(k));
    ck_assert_mem_eq(key, k, kl);
    ck_assert_uint_eq(vl, strlen(v));
    ck_assert_mem_eq(val, v, vl);
}

/* Cursors seek to the first key >= the target, step both ways in byte
 * order, find the last key, and report HM_ENOENT past either end. */
START_TEST(test_kv_cursor)
{
    hm_kv *kv = kv_open_store();
    hm_kv_txn *t;
    hm_kv_cursor *c;
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    kv_put_str(t, HM_KV_NAMES, "b", "2");
    kv_put_str(t, HM_KV_NAMES, "d", "4");
    kv_put_str(t, HM_KV_NAMES, "a", "1");
    kv_put_str(t, HM_KV_NAMES, "c", "3");
    kv_put_str(t, HM_KV_PARTS, "zz", "other table");
    ck_assert_int_eq(env->ops->kv_commit(t, true), 0);

    ck_assert_int_eq(env->ops->kv_begin(kv, false, &t), 0);
    ck_assert_int_eq(env->ops->kv_cursor_open(t, HM_KV_NAMES, &c), 0);
    ck_assert_int_eq(env->ops->kv_cursor_seek(c, "bb", 2), 0);
    cur_expect(c, "c", "3");
    ck_assert_int_eq(env->ops->kv_cursor_next(c), 0);
    cur_expect(c, "d", "4");
    ck_assert_int_eq(env->ops->kv_cursor_next(c), HM_ENOENT);
    ck_assert_int_eq(env->ops->kv_cursor_get(c, NULL, NULL, NULL, NULL), HM_ENOENT);
    ck_assert_int_eq(env->ops->kv_cursor_seek(c, NULL, 0), 0);
    cur_expect(c, "a", "1");
    ck_assert_int_eq(env->ops->kv_cursor_prev(c), HM_ENOENT);
    ck_assert_int_eq(env->ops->kv_cursor_last(c), 0);
    cur_expect(c, "d", "4");
    ck_assert_int_eq(env->ops->kv_cursor_prev(c), 0);
    cur_expect(c, "c", "3");
    ck_assert_int_eq(env->ops->kv_cursor_prev(c), 0);
    cur_expect(c, "b", "2");
    ck_assert_int_eq(env->ops->kv_cursor_seek(c, "b", 1), 0);
    cur_expect(c, "b", "2");
    ck_assert_int_eq(env->ops->kv_cursor_seek(c, "e", 1), HM_ENOENT);
    env->ops->kv_cursor_close(c);

    /* An empty table: no first, no last. */
    ck_assert_int_eq(env->ops->kv_cursor_open(t, HM_KV_GC, &c), 0);
    ck_assert_int_eq(env->ops->kv_cursor_seek(c, NULL, 0), HM_ENOENT);
    ck_assert_int_eq(env->ops->kv_cursor_last(c), HM_ENOENT);
    env->ops->kv_cursor_close(c);
    env->ops->kv_abort(t);
    env->ops->kv_close(kv);
}
END_TEST

/* A cursor of a write transaction may be closed after the transaction
 * ended, and then refuses to move. */
START_TEST(test_kv_cursor_outlives_txn)
{
    hm_kv *kv = kv_open_store();
    hm_kv_txn *t;
    hm_kv_cursor *c1, *c2;
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    kv_put_str(t, HM_KV_GC, "x", "1");
    ck_assert_int_eq(env->ops->kv_cursor_open(t, HM_KV_GC, &c1), 0);
    ck_assert_int_eq(env->ops->kv_cursor_open(t, HM_KV_GC, &c2), 0);
    ck_assert_int_eq(env->ops->kv_cursor_last(c1), 0);
    cur_expect(c1, "x", "1");
    env->ops->kv_cursor_close(c2); /* closed before the commit */
    ck_assert_int_eq(env->ops->kv_commit(t, true), 0);
    ck_assert_int_eq(env->ops->kv_cursor_last(c1), HM_EINVAL);
    ck_assert_int_eq(env->ops->kv_cursor_next(c1), HM_ENOENT);
    env->ops->kv_cursor_close(c1);
    env->ops->kv_close(kv);
}
END_TEST

/* The store directory is created private (0700) when absent. */
START_TEST(test_kv_dir_mode)
{
    char p[512];
    struct stat st;
    hm_kv *kv = kv_open_store();
    path_of(p, sizeof(p), "kv");
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    env->ops->kv_close(kv);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("env");
    TCase *tc = tcase_create("posix");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_clock_and_sleep);
    tcase_add_test(tc, test_random);
    tcase_add_test(tc, test_file_rw);
    tcase_add_test(tc, test_file_mode_cloexec);
    tcase_add_test(tc, test_sync_failure_poisons);
    tcase_add_test(tc, test_write_file_atomic);
    tcase_add_test(tc, test_write_file_atomic_fails_cleanly);
    tcase_add_test(tc, test_read_file_limits);
    tcase_add_test(tc, test_list_dir);
    tcase_add_test(tc, test_rename_unlink_statfs);
    suite_add_tcase(s, tc);
    TCase *kvc = tcase_create("kv");
    tcase_add_checked_fixture(kvc, setup, teardown);
    tcase_add_test(kvc, test_kv_put_get_del_tables);
    tcase_add_test(kvc, test_kv_bounds);
    tcase_add_test(kvc, test_kv_abort_discards);
    tcase_add_test(kvc, test_kv_snapshot);
    tcase_add_test(kvc, test_kv_reopen_keeps_data);
    tcase_add_test(kvc, test_kv_cursor);
    tcase_add_test(kvc, test_kv_cursor_outlives_txn);
    tcase_add_test(kvc, test_kv_dir_mode);
    suite_add_tcase(s, kvc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
