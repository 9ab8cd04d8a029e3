/* test_meta_util.h - helpers shared by the hamster-meta unit tests:
 * scratch directories, a posix env, an env wrapper that injects sync and
 * commit failures on demand (to test poisoning), and a state machine over a
 * scratch kv store. */
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
#include "hm_meta_sm.h"

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

/* ---- state machine: hm_meta_sm over a scratch kv store ----------------- */

typedef struct tmu_sm {
    char *dir;
    hm_env *env;
    hm_kv *kv;
    uint64_t index; /* of the last command applied */
} tmu_sm;

/* A fresh store initialised by hm_meta_sm_init; free with tmu_sm_close. */
static inline tmu_sm *tmu_sm_open(void)
{
    tmu_sm *t = calloc(1, sizeof *t);
    t->dir = tmu_mkdtemp();
    t->env = tmu_env();
    ck_assert_int_eq(t->env->ops->kv_open(t->env, t->dir, &t->kv), 0);
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    ck_assert_int_eq(hm_meta_sm_init(t->env, txn), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    return t;
}

static inline void tmu_sm_close(tmu_sm *t)
{
    t->env->ops->kv_close(t->kv);
    hm_env_posix_free(t->env);
    tmu_rmdir(t->dir);
    free(t);
}

static inline Hm__MetaResponse *tmu_new_resp(void)
{
    Hm__MetaResponse *r = malloc(sizeof *r);
    hm__meta_response__init(r);
    return r;
}

/* Apply cmd at the next index in its own transaction. */
static inline Hm__MetaResponse *tmu_sm_apply(tmu_sm *t, Hm__MetaCommand *cmd)
{
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    Hm__MetaResponse *r = tmu_new_resp();
    ck_assert_int_eq(hm_meta_sm_apply(t->env, txn, ++t->index, cmd, r), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    return r;
}

static inline Hm__MetaResponse *tmu_sm_query(tmu_sm *t, Hm__MetaRequest *req)
{
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &txn), 0);
    Hm__MetaResponse *r = tmu_new_resp();
    ck_assert_int_eq(hm_meta_sm_query(t->env, txn, req, r), 0);
    t->env->ops->kv_abort(txn);
    return r;
}

/* Free r and return its error code. */
static inline int tmu_done(Hm__MetaResponse *r)
{
    int e = r->err;
    hm__meta_response__free_unpacked(r, NULL);
    return e;
}

#endif
