/* test_meta_util.h - helpers shared by the hamster-meta unit tests:
 * scratch directories, a posix env, and an env wrapper that injects sync and
 * commit failures on demand (to test poisoning). */
#ifndef TEST_META_UTIL_H
#define TEST_META_UTIL_H

#include <check.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_env.h"
#include "hm_err.h"

static int tmu_rm_fn(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* A fresh scratch directory; free the string and the tree with tmu_rmdir. */
static inline char *tmu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/hm_meta_test_XXXXXX", base != NULL ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return strdup(d);
}

static inline void tmu_rmdir(char *dir)
{
    nftw(dir, tmu_rm_fn, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static inline hm_env *tmu_env(void)
{
    hm_env *env = NULL;
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
    return env;
}

/* ---- fault env: the posix env with sync / kv_commit failing on demand -- */

static atomic_bool tmu_fail_sync;
static atomic_bool tmu_fail_commit;
static struct hm_env_ops tmu_fault_ops;
static const struct hm_env_ops *tmu_inner_ops;

static int tmu_fault_sync(hm_file *f)
{
    if (atomic_load(&tmu_fail_sync))
        return HM_EIO;
    return tmu_inner_ops->sync(f);
}

static int tmu_fault_commit(hm_kv_txn *txn, bool durable)
{
    if (atomic_load(&tmu_fail_commit)) {
        tmu_inner_ops->kv_abort(txn);
        return HM_EIO;
    }
    return tmu_inner_ops->kv_commit(txn, durable);
}

/* Wrap inner (which must outlive the result); free with free(). */
static inline hm_env *tmu_fault_env(hm_env *inner)
{
    tmu_inner_ops = inner->ops;
    tmu_fault_ops = *inner->ops;
    tmu_fault_ops.sync = tmu_fault_sync;
    tmu_fault_ops.kv_commit = tmu_fault_commit;
    hm_env *e = calloc(1, sizeof *e);
    ck_assert_ptr_nonnull(e);
    e->ops = &tmu_fault_ops;
    e->impl = inner->impl;
    atomic_store(&tmu_fail_sync, false);
    atomic_store(&tmu_fail_commit, false);
    return e;
}

/* Deterministic test randomness (xorshift64*), never the C library's. */
static inline uint64_t tmu_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

#endif
