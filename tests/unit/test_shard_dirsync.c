/* test_shard_dirsync.c - the per-disk group commit of directory syncs, and
 * the production binding's sync counter.
 *
 * A wrapper around the production env counts sync_dir and sync_fs calls and
 * can hold the first sync until every caller has arrived, so the grouping
 * is forced rather than hoped for; it can also fail the sync of one path.
 */
#include <check.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_env.h"
#include "hm_err.h"
#include "hm_shard_dirsync.h"

#define THREADS 8

static hm_env *inner;
static hm_env wrap_env;
static struct hm_env_ops wrap_ops;
static char root[256];
static char dirs[THREADS][300];
static atomic_int n_sync_dir, n_sync_fs, entered;
static atomic_bool hold_first;   /* the first sync waits for every caller */
static const char *fail_path;    /* sync_dir of this path fails */

static void wait_for_all(void)
{
    if (!atomic_exchange(&hold_first, false)) return;
    while (atomic_load(&entered) < THREADS) usleep(1000);
    usleep(100 * 1000); /* let the others queue their directories */
}

static int w_sync_dir(hm_env *env, const char *path)
{
    (void)env;
    atomic_fetch_add(&n_sync_dir, 1);
    wait_for_all();
    if (fail_path != NULL && strcmp(path, fail_path) == 0) return HM_EIO;
    return inner->ops->sync_dir(inner, path);
}

static int w_sync_fs(hm_env *env, const char *path)
{
    (void)env;
    atomic_fetch_add(&n_sync_fs, 1);
    wait_for_all();
    return inner->ops->sync_fs(inner, path);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void setup(void)
{
    snprintf(root, sizeof root, "%s/hm-dirsync-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    for (int i = 0; i < THREADS; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/d%d", root, i);
        ck_assert_int_eq(mkdir(dirs[i], 0700), 0);
    }
    ck_assert_int_eq(hm_env_posix_new(&inner), 0);
    wrap_ops = *inner->ops;
    wrap_ops.sync_dir = w_sync_dir;
    wrap_ops.sync_fs = w_sync_fs;
    wrap_env.ops = &wrap_ops;
    wrap_env.impl = inner->impl;
    atomic_store(&n_sync_dir, 0);
    atomic_store(&n_sync_fs, 0);
    atomic_store(&entered, 0);
    atomic_store(&hold_first, false);
    fail_path = NULL;
}

static void teardown(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    hm_env_posix_free(inner);
}

typedef struct caller {
    hm_dirsync *d;
    int i;
    int rc;
} caller;

static void *caller_main(void *arg)
{
    caller *c = arg;
    const char *mine[1] = {dirs[c->i]};
    atomic_fetch_add(&entered, 1);
    c->rc = hm_dirsync_sync(c->d, mine, 1);
    return NULL;
}

static void run_callers(hm_dirsync *d, caller *cs)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        cs[i] = (caller){.d = d, .i = i, .rc = -1};
        ck_assert_int_eq(pthread_create(&th[i], NULL, caller_main, &cs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
}

/* Eight writers in eight directories: the first leads alone; the seven that
 * queued behind it share one file-system sync. */
START_TEST(test_concurrent_share_one_sync)
{
    hm_dirsync *d = NULL;
    ck_assert_int_eq(hm_dirsync_new(&d, &wrap_env, root), 0);
    atomic_store(&hold_first, true);
    caller cs[THREADS];
    run_callers(d, cs);
    for (int i = 0; i < THREADS; i++) ck_assert_int_eq(cs[i].rc, 0);
    int total = atomic_load(&n_sync_dir) + atomic_load(&n_sync_fs);
    ck_assert_int_ge(total, 2);
    ck_assert_int_le(total, 3);
    ck_assert_int_ge(atomic_load(&n_sync_fs), 1);
    hm_dirsync_free(d);
}
END_TEST

/* Without sync_fs every distinct directory is synced once, still by one
 * leader at a time, never skipped. */
START_TEST(test_without_sync_fs_each_dir_once)
{
    wrap_ops.sync_fs = NULL;
    hm_dirsync *d = NULL;
    ck_assert_int_eq(hm_dirsync_new(&d, &wrap_env, root), 0);
    atomic_store(&hold_first, true);
    caller cs[THREADS];
    run_callers(d, cs);
    for (int i = 0; i < THREADS; i++) ck_assert_int_eq(cs[i].rc, 0);
    ck_assert_int_eq(atomic_load(&n_sync_dir), THREADS);
    ck_assert_int_eq(atomic_load(&n_sync_fs), 0);
    /* Parents first: a caller naming a directory and its parent gets both. */
    char sub[400];
    snprintf(sub, sizeof sub, "%s/sub", dirs[0]);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    const char *two[2] = {sub, dirs[0]};
    ck_assert_int_eq(hm_dirsync_sync(d, two, 2), 0);
    ck_assert_int_eq(atomic_load(&n_sync_dir), THREADS + 2);
    hm_dirsync_free(d);
}
END_TEST

/* A failed sync fails the callers it did not cover, nobody else, and the
 * next batch syncs again. */
START_TEST(test_failure_fails_its_callers)
{
    wrap_ops.sync_fs = NULL;
    hm_dirsync *d = NULL;
    ck_assert_int_eq(hm_dirsync_new(&d, &wrap_env, root), 0);
    const char *a[1] = {dirs[0]};
    ck_assert_int_eq(hm_dirsync_sync(d, a, 1), 0);
    fail_path = dirs[1];
    const char *b[1] = {dirs[1]};
    ck_assert_int_eq(hm_dirsync_sync(d, b, 1), HM_EIO);
    /* A parent that fails leaves its child unsynced. */
    char child[400];
    snprintf(child, sizeof child, "%s/c", dirs[1]);
    ck_assert_int_eq(mkdir(child, 0700), 0);
    const char *pc[2] = {child, dirs[1]};
    int before = atomic_load(&n_sync_dir);
    ck_assert_int_eq(hm_dirsync_sync(d, pc, 2), HM_EIO);
    ck_assert_int_eq(atomic_load(&n_sync_dir), before + 1); /* the child was not synced */
    fail_path = NULL;
    before = atomic_load(&n_sync_dir);
    ck_assert_int_eq(hm_dirsync_sync(d, a, 1), 0);
    ck_assert_int_eq(atomic_load(&n_sync_dir), before + 1);
    hm_dirsync_free(d);
}
END_TEST

/* The production binding counts every sync it makes, by kind. */
START_TEST(test_env_counts_syncs)
{
    uint64_t f0 = hm_env_syncs(HM_ENV_SYNC_FILE), d0 = hm_env_syncs(HM_ENV_SYNC_DIR);
    uint64_t k0 = hm_env_syncs(HM_ENV_SYNC_KV), t0 = hm_env_syncs_total();
    char path[400];
    snprintf(path, sizeof path, "%s/f", root);
    hm_file *f = NULL;
    ck_assert_int_eq(inner->ops->open(inner, path, HM_O_RDWR | HM_O_CREAT, &f), 0);
    ck_assert_int_eq(inner->ops->pwrite(f, "x", 1, 0), 0);
    ck_assert_int_eq(inner->ops->sync(f), 0);
    inner->ops->close(f);
    ck_assert_uint_eq(hm_env_syncs(HM_ENV_SYNC_FILE), f0 + 1);
    ck_assert_int_eq(inner->ops->sync_dir(inner, root), 0);
    ck_assert_int_eq(inner->ops->sync_fs(inner, root), 0);
    ck_assert_uint_eq(hm_env_syncs(HM_ENV_SYNC_DIR), d0 + 2);

    snprintf(path, sizeof path, "%s/kv", root);
    hm_kv *kv = NULL;
    ck_assert_int_eq(inner->ops->kv_open(inner, path, &kv), 0);
    uint64_t k1 = hm_env_syncs(HM_ENV_SYNC_KV);
    ck_assert_uint_gt(k1, k0);
    hm_kv_txn *t = NULL;
    ck_assert_int_eq(inner->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(inner->ops->kv_put(t, HM_KV_SYS, "a", 1, "1", 1), 0);
    ck_assert_int_eq(inner->ops->kv_commit(t, false), 0); /* lazy: the data sync */
    ck_assert_uint_eq(hm_env_syncs(HM_ENV_SYNC_KV), k1 + 1);
    ck_assert_int_eq(inner->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(inner->ops->kv_put(t, HM_KV_SYS, "b", 1, "2", 1), 0);
    ck_assert_int_eq(inner->ops->kv_commit(t, true), 0); /* durable: data + meta */
    ck_assert_uint_eq(hm_env_syncs(HM_ENV_SYNC_KV), k1 + 3);
    ck_assert_int_eq(inner->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(inner->ops->kv_commit(t, false), 0); /* nothing written */
    ck_assert_uint_eq(hm_env_syncs(HM_ENV_SYNC_KV), k1 + 3);
    inner->ops->kv_close(kv);
    /* kv_open synced the new store's parent directory too. */
    ck_assert_uint_eq(hm_env_syncs(HM_ENV_SYNC_DIR), d0 + 3);
    ck_assert_uint_eq(hm_env_syncs_total(), t0 + 1 + 3 + (hm_env_syncs(HM_ENV_SYNC_KV) - k0));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shard_dirsync");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_concurrent_share_one_sync);
    tcase_add_test(tc, test_without_sync_fs_each_dir_once);
    tcase_add_test(tc, test_failure_fails_its_callers);
    tcase_add_test(tc, test_env_counts_syncs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
