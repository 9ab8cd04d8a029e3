/* kv_lmdb.c - the hm_kv binding on LMDB.
 *
 * One LMDB environment per store directory, one named database per
 * enum hm_kv_table.  The decision that shaped it: durability without
 * MDB_NOSYNC.  The environment is opened with MDB_NOMETASYNC, so a plain
 * mdb_txn_commit fdatasyncs the data pages but leaves the meta page unsynced:
 * a crash can undo that last transaction, never half-apply it (LMDB keeps the
 * previous meta page and the pages it references intact).  That is exactly
 * the lazy commit.  A durable commit adds mdb_env_sync(force), which flushes
 * the meta page too; the cost is the same two syncs LMDB makes by default.
 * The next commit of either kind also makes every earlier lazy commit durable.
 *
 * MDB_NOTLS lets a read transaction move between threads (the RPC layer
 * hands work to whichever thread is free).  A write transaction stays on the
 * thread that began it, as LMDB requires.  After a failed commit or sync the
 * store is poisoned, like LMDB's own MDB_PANIC: no retry, callers stop.
 */
#include "hm_env.h"

#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

/* Database names: part of the on-disk schema, indexed by enum hm_kv_table. */
static const char *const kv_table_names[HM_KV_TABLE_COUNT] = {
    [HM_KV_SYS] = "sys",         [HM_KV_BUCKETS] = "buckets",
    [HM_KV_NAMES] = "names",     [HM_KV_VERSIONS] = "versions",
    [HM_KV_UPLOADS] = "uploads", [HM_KV_PARTS] = "parts",
    [HM_KV_KEYS] = "keys",       [HM_KV_MEMBERS] = "members",
    [HM_KV_LAYOUT] = "layout",   [HM_KV_TOKENS] = "tokens",
    [HM_KV_INTENTS] = "intents", [HM_KV_GC] = "gc",
    [HM_KV_FEATURES] = "features", [HM_KV_INDEX] = "index",
};
_Static_assert(HM_KV_INDEX + 1 == HM_KV_TABLE_COUNT, "name every table");

struct hm_kv {
    MDB_env *env;
    MDB_dbi dbi[HM_KV_TABLE_COUNT];
    atomic_bool poisoned;
};

/* A transaction keeps its open cursors so that ending it detaches them:
 * LMDB frees a write transaction's cursors itself, so closing one after the
 * commit would be a use after free.  With the list, cursors may be closed in
 * any order relative to their transaction. */
struct hm_kv_txn {
    hm_kv *kv;
    MDB_txn *txn;
    bool write;
    hm_kv_cursor *cursors;
};

struct hm_kv_cursor {
    MDB_cursor *cur; /* NULL once the transaction ended */
    hm_kv_txn *txn;
    hm_kv_cursor *prev, *next; /* in txn->cursors */
    MDB_val key, val;          /* the current entry when valid */
    bool valid;
};

/* Close every cursor of txn at the LMDB level and detach it; the handles
 * stay allocated until kv_cursor_close. */
static void kv_txn_detach_cursors(hm_kv_txn *txn)
{
    for (hm_kv_cursor *c = txn->cursors; c != NULL; c = c->next) {
        mdb_cursor_close(c->cur);
        c->cur = NULL;
        c->txn = NULL;
        c->valid = false;
    }
    txn->cursors = NULL;
}

/* Map an LMDB return code to an HM_E* code. */
static int kv_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return 0;
    case MDB_NOTFOUND: return HM_ENOENT;
    case MDB_KEYEXIST: return HM_EEXIST;
    case MDB_MAP_FULL: return HM_ENOSPC;
    case MDB_TXN_FULL: case MDB_CURSOR_FULL: case MDB_DBS_FULL: return HM_ETOOBIG;
    case MDB_BAD_VALSIZE: return HM_EINVAL;
    case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: case MDB_INVALID:
        return HM_ECORRUPT;
    case MDB_VERSION_MISMATCH: return HM_EVERSION;
    case MDB_PANIC: return HM_EPOISONED;
    default:
        if (rc > 0) return hm_err_from_errno(rc);
        return HM_EIO;
    }
}

static void kv_poison(hm_kv *kv, const char *what, int rc)
{
    atomic_store(&kv->poisoned, true);
    hm_error("kv", NULL, "%s failed: %s; store poisoned", what, mdb_strerror(rc));
}

static bool kv_table_ok(enum hm_kv_table t)
{
    return (int)t >= 0 && t < HM_KV_TABLE_COUNT;
}

static bool kv_key_ok(size_t key_len)
{
    return key_len > 0 && key_len <= HM_KV_KEY_BYTES_MAX;
}

/* The map size: HM_KV_MAP_BYTES, or HAMSTER_KV_MAP_BYTES from the environment
 * where the address space is tight (32-bit hosts, valgrind).  Out-of-range
 * values are ignored with a warning. */
static size_t kv_map_bytes(void)
{
    const char *v = getenv("HAMSTER_KV_MAP_BYTES");
    if (v == NULL || *v == '\0') return (size_t)HM_KV_MAP_BYTES;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < (16ull << 20) || n > (1ull << 40)) {
        hm_warn("kv", NULL, "HAMSTER_KV_MAP_BYTES=%s ignored (16 MiB .. 1 TiB)", v);
        return (size_t)HM_KV_MAP_BYTES;
    }
    return (size_t)n;
}

/* Open (creating if needed) the store in dir.  The directory is made 0700
 * when absent, and its parent synced so the new directory survives a power
 * loss.  Every table is created in one first write transaction. */
static int kv_open(hm_env *env, const char *dir, hm_kv **out)
{
    if (mkdir(dir, 0700) == 0) {
        char parent[4096];
        size_t n = strlen(dir);
        if (n >= sizeof(parent)) return HM_ETOOBIG;
        memcpy(parent, dir, n + 1);
        char *slash = strrchr(parent, '/');
        if (slash == parent) slash[1] = '\0';
        else if (slash != NULL) *slash = '\0';
        else strcpy(parent, ".");
        int src = env->ops->sync_dir(env, parent);
        if (src != 0) return src;
    } else if (errno != EEXIST) {
        return hm_err_from_errno(errno);
    }

    hm_kv *kv = calloc(1, sizeof(*kv));
    if (kv == NULL) return HM_ENOMEM;
    atomic_init(&kv->poisoned, false);

    int rc = mdb_env_create(&kv->env);
    if (rc != 0) goto err_free;
    rc = mdb_env_set_mapsize(kv->env, kv_map_bytes());
    if (rc != 0) goto err_env;
    rc = mdb_env_set_maxdbs(kv->env, HM_KV_TABLE_COUNT);
    if (rc != 0) goto err_env;
    rc = mdb_env_open(kv->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600);
    if (rc != 0) goto err_env;

    MDB_txn *txn;
    rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
    if (rc != 0) goto err_env;
    for (int t = 0; t < HM_KV_TABLE_COUNT; t++) {
        rc = mdb_dbi_open(txn, kv_table_names[t], MDB_CREATE, &kv->dbi[t]);
        if (rc != 0) {
            mdb_txn_abort(txn);
            goto err_env;
        }
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) goto err_env;
    /* Make the table creation durable before anyone relies on it. */
    rc = mdb_env_sync(kv->env, 1);
    if (rc != 0) goto err_env;
    *out = kv;
    return 0;

err_env:
    mdb_env_close(kv->env);
err_free:
    free(kv);
    return kv_err(rc);
}

/* Close the store.  Every transaction must have ended. */
static void kv_close(hm_kv *kv)
{
    if (kv == NULL) return;
    mdb_env_close(kv->env);
    free(kv);
}

static int kv_begin(hm_kv *kv, bool write, hm_kv_txn **out)
{
    if (atomic_load(&kv->poisoned)) return HM_EPOISONED;
    hm_kv_txn *t = malloc(sizeof(*t));
    if (t == NULL) return HM_ENOMEM;
    int rc = mdb_txn_begin(kv->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
    if (rc != 0) {
        free(t);
        if (rc == MDB_PANIC) kv_poison(kv, "txn_begin", rc);
        return kv_err(rc);
    }
    t->kv = kv;
    t->write = write;
    t->cursors = NULL;
    *out = t;
    return 0;
}

static int kv_get(hm_kv_txn *txn, enum hm_kv_table t, const void *key,
                  size_t key_len, const void **val, size_t *val_len)
{
    if (!kv_table_ok(t) || !kv_key_ok(key_len)) return HM_EINVAL;
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v;
    int rc = mdb_get(txn->txn, txn->kv->dbi[t], &k, &v);
    if (rc != 0) return kv_err(rc);
    *val = v.mv_data;
    *val_len = v.mv_size;
    return 0;
}

static int kv_put(hm_kv_txn *txn, enum hm_kv_table t, const void *key,
                  size_t key_len, const void *val, size_t val_len)
{
    if (!txn->write || !kv_table_ok(t) || !kv_key_ok(key_len)) return HM_EINVAL;
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v = {.mv_size = val_len, .mv_data = (void *)val};
    return kv_err(mdb_put(txn->txn, txn->kv->dbi[t], &k, &v, 0));
}

static int kv_del(hm_kv_txn *txn, enum hm_kv_table t, const void *key,
                  size_t key_len)
{
    if (!txn->write || !kv_table_ok(t) || !kv_key_ok(key_len)) return HM_EINVAL;
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    return kv_err(mdb_del(txn->txn, txn->kv->dbi[t], &k, NULL));
}

static int kv_commit(hm_kv_txn *txn, bool durable)
{
    hm_kv *kv = txn->kv;
    bool write = txn->write;
    int rc;
    kv_txn_detach_cursors(txn);
    if (atomic_load(&kv->poisoned)) {
        mdb_txn_abort(txn->txn);
        free(txn);
        return HM_EPOISONED;
    }
    rc = mdb_txn_commit(txn->txn); /* frees the LMDB txn, success or not */
    free(txn);
    if (rc != 0) {
        /* A failed read-only commit changes nothing on disk. */
        if (write) kv_poison(kv, "commit", rc);
        return kv_err(rc);
    }
    if (write && durable) {
        rc = mdb_env_sync(kv->env, 1);
        if (rc != 0) {
            kv_poison(kv, "sync", rc);
            return kv_err(rc);
        }
    }
    return 0;
}

static void kv_abort(hm_kv_txn *txn)
{
    if (txn == NULL) return;
    kv_txn_detach_cursors(txn);
    mdb_txn_abort(txn->txn);
    free(txn);
}

static int kv_cursor_open(hm_kv_txn *txn, enum hm_kv_table t, hm_kv_cursor **out)
{
    if (!kv_table_ok(t)) return HM_EINVAL;
    hm_kv_cursor *c = calloc(1, sizeof(*c));
    if (c == NULL) return HM_ENOMEM;
    int rc = mdb_cursor_open(txn->txn, txn->kv->dbi[t], &c->cur);
    if (rc != 0) {
        free(c);
        return kv_err(rc);
    }
    c->txn = txn;
    c->next = txn->cursors;
    if (txn->cursors != NULL) txn->cursors->prev = c;
    txn->cursors = c;
    *out = c;
    return 0;
}

/* Run one positioning operation; on any failure the cursor has no current
 * entry until positioned again. */
static int kv_cursor_op(hm_kv_cursor *c, MDB_cursor_op op)
{
    if (c->cur == NULL) return HM_EINVAL; /* its transaction ended */
    int rc = mdb_cursor_get(c->cur, &c->key, &c->val, op);
    c->valid = rc == 0;
    return kv_err(rc);
}

static int kv_cursor_seek(hm_kv_cursor *c, const void *key, size_t key_len)
{
    if (key_len == 0) return kv_cursor_op(c, MDB_FIRST);
    if (!kv_key_ok(key_len) || c->cur == NULL) return HM_EINVAL;
    c->key.mv_size = key_len;
    c->key.mv_data = (void *)key;
    return kv_cursor_op(c, MDB_SET_RANGE);
}

static int kv_cursor_next(hm_kv_cursor *c)
{
    if (!c->valid) return HM_ENOENT;
    return kv_cursor_op(c, MDB_NEXT);
}

static int kv_cursor_prev(hm_kv_cursor *c)
{
    if (!c->valid) return HM_ENOENT;
    return kv_cursor_op(c, MDB_PREV);
}

static int kv_cursor_last(hm_kv_cursor *c)
{
    return kv_cursor_op(c, MDB_LAST);
}

static int kv_cursor_get(hm_kv_cursor *c, const void **key, size_t *key_len,
                         const void **val, size_t *val_len)
{
    if (!c->valid) return HM_ENOENT;
    if (key != NULL) *key = c->key.mv_data;
    if (key_len != NULL) *key_len = c->key.mv_size;
    if (val != NULL) *val = c->val.mv_data;
    if (val_len != NULL) *val_len = c->val.mv_size;
    return 0;
}

static void kv_cursor_close(hm_kv_cursor *c)
{
    if (c == NULL) return;
    if (c->txn != NULL) {
        if (c->prev != NULL) c->prev->next = c->next;
        else c->txn->cursors = c->next;
        if (c->next != NULL) c->next->prev = c->prev;
        mdb_cursor_close(c->cur);
    }
    free(c);
}

/* Fill the kv members of ops; see hm_env.h. */
void hm_kv_lmdb_bind(struct hm_env_ops *ops)
{
    ops->kv_open = kv_open;
    ops->kv_close = kv_close;
    ops->kv_begin = kv_begin;
    ops->kv_get = kv_get;
    ops->kv_put = kv_put;
    ops->kv_del = kv_del;
    ops->kv_commit = kv_commit;
    ops->kv_abort = kv_abort;
    ops->kv_cursor_open = kv_cursor_open;
    ops->kv_cursor_seek = kv_cursor_seek;
    ops->kv_cursor_next = kv_cursor_next;
    ops->kv_cursor_prev = kv_cursor_prev;
    ops->kv_cursor_last = kv_cursor_last;
    ops->kv_cursor_get = kv_cursor_get;
    ops->kv_cursor_close = kv_cursor_close;
}
