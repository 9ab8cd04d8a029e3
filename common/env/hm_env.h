/* hm_env.h - the only door from a core to the world.
 *
 * Cores (the metadata state machine and log, the shard store, the object
 * service, later Raft and the repair planner) take an hm_env * and reach
 * clocks, randomness, files and the key-value store only through it.  The
 * production binding (hm_env_posix_new) maps these to clock_gettime,
 * getrandom, POSIX files and LMDB; the simulator (tests/sim) binds them to a
 * seeded virtual world whose disk and KV lose unsynced writes on a crash.
 *
 * Conventions: every function returns 0 or a negative HM_E* code and writes
 * results through out parameters.  Paths are plain C strings relative to
 * nothing: callers pass the full path.  After a failed sync, rename or
 * commit, the handle is poisoned (HM_EPOISONED on every later call except
 * close): the caller stops, it never retries.
 *
 * The vtable is versioned: HM_ENV_VERSION grows when a member is appended.
 */
#ifndef HM_ENV_H
#define HM_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HM_ENV_VERSION 1

typedef struct hm_env hm_env;
typedef struct hm_file hm_file;       /* an open file */
typedef struct hm_kv hm_kv;           /* an open key-value store */
typedef struct hm_kv_txn hm_kv_txn;   /* a transaction on it */
typedef struct hm_kv_cursor hm_kv_cursor;

/* Open flags for disk.open. */
enum {
    HM_O_RDONLY = 1 << 0,
    HM_O_RDWR = 1 << 1,
    HM_O_CREAT = 1 << 2,
    HM_O_EXCL = 1 << 3,
    HM_O_TRUNC = 1 << 4,
};

/* Key-value tables (LMDB named databases).  Values are part of the on-disk
 * schema: append, never renumber. */
enum hm_kv_table {
    HM_KV_SYS = 0,      /* schema version, applied_index, counters */
    HM_KV_BUCKETS,      /* bucket name -> BucketRecord */
    HM_KV_NAMES,        /* bucket id | encoded key prefix -> NameList */
    HM_KV_VERSIONS,     /* object id | inverted stamp -> ObjectVersion */
    HM_KV_UPLOADS,      /* multipart uploads */
    HM_KV_PARTS,        /* multipart parts */
    HM_KV_KEYS,         /* access keys */
    HM_KV_MEMBERS,      /* cluster members */
    HM_KV_LAYOUT,       /* placement layout */
    HM_KV_TOKENS,       /* join tokens */
    HM_KV_INTENTS,      /* writes in flight */
    HM_KV_GC,           /* blobs to delete */
    HM_KV_FEATURES,     /* feature gates */
    HM_KV_INDEX,        /* secondary indexes of the metadata state machine */
    HM_KV_TABLE_COUNT
};

/* Directory listing callback: return non-zero to stop early (that value is
 * returned by list_dir). */
typedef int (*hm_dir_fn)(void *arg, const char *name, bool is_dir);

struct hm_env_ops {
    int version; /* HM_ENV_VERSION the binding implements */

    /* ---- clock: monotonic for timeouts, wall for stamps the user sees */
    int64_t (*mono_ns)(hm_env *env);
    int64_t (*wall_ms)(hm_env *env);
    /* Block the calling thread for ms; the simulator advances virtual time. */
    void (*sleep_ms)(hm_env *env, int64_t ms);

    /* ---- rng: cryptographic quality in production, seeded in simulation */
    void (*random)(hm_env *env, void *buf, size_t len);

    /* ---- disk */
    int (*open)(hm_env *env, const char *path, int flags, hm_file **out);
    /* Read up to len bytes at off; *got < len only at end of file. */
    int (*pread)(hm_file *f, void *buf, size_t len, uint64_t off, size_t *got);
    /* Write all len bytes at off (loops over short writes). */
    int (*pwrite)(hm_file *f, const void *buf, size_t len, uint64_t off);
    /* fdatasync.  On failure the file is poisoned. */
    int (*sync)(hm_file *f);
    int (*size)(hm_file *f, uint64_t *out);
    int (*truncate)(hm_file *f, uint64_t len);
    /* The OS descriptor, or -1 where there is none (simulation).  Only for
     * what the vtable cannot say: zero-copy sends (sendfile) and writeback
     * hints (sync_file_range) in the production shells; callers must work
     * the same, only slower, when it is -1. */
    int (*fd)(hm_file *f);
    void (*close)(hm_file *f);
    /* rename(2); durable only after sync_dir of the target directory. */
    int (*rename)(hm_env *env, const char *from, const char *to);
    int (*unlink)(hm_env *env, const char *path);
    /* mkdir with mode 0700; HM_EEXIST if present. */
    int (*mkdir)(hm_env *env, const char *path);
    int (*rmdir)(hm_env *env, const char *path);
    /* fsync the directory itself so renames and creations in it persist. */
    int (*sync_dir)(hm_env *env, const char *path);
    /* Call fn for each entry except "." and "..", in unspecified order. */
    int (*list_dir)(hm_env *env, const char *path, hm_dir_fn fn, void *arg);
    /* HM_ENOENT if absent; *is_dir set when present. */
    int (*exists)(hm_env *env, const char *path, bool *is_dir);
    int (*statfs)(hm_env *env, const char *path, uint64_t *bytes_total,
                  uint64_t *bytes_free);

    /* ---- kv: ordered key-value transactions (LMDB in production).
     * One write transaction at a time per store (others block); any number
     * of read transactions.  Keys are at most HM_KV_KEY_BYTES_MAX bytes. */
    int (*kv_open)(hm_env *env, const char *dir, hm_kv **out);
    void (*kv_close)(hm_kv *kv);
    int (*kv_begin)(hm_kv *kv, bool write, hm_kv_txn **out);
    /* *val points into the store, valid until the transaction ends.
     * HM_ENOENT when absent. */
    int (*kv_get)(hm_kv_txn *txn, enum hm_kv_table t, const void *key,
                  size_t key_len, const void **val, size_t *val_len);
    int (*kv_put)(hm_kv_txn *txn, enum hm_kv_table t, const void *key,
                  size_t key_len, const void *val, size_t val_len);
    /* HM_ENOENT when absent. */
    int (*kv_del)(hm_kv_txn *txn, enum hm_kv_table t, const void *key,
                  size_t key_len);
    /* durable: the commit is on disk when this returns.  lazy (false): it
     * may be lost on a crash, but never half-applied.  On failure the txn is
     * gone and the store poisoned. */
    int (*kv_commit)(hm_kv_txn *txn, bool durable);
    void (*kv_abort)(hm_kv_txn *txn);
    int (*kv_cursor_open)(hm_kv_txn *txn, enum hm_kv_table t, hm_kv_cursor **out);
    /* Position at the first key >= key (key_len 0: the first key).
     * HM_ENOENT when there is none. */
    int (*kv_cursor_seek)(hm_kv_cursor *c, const void *key, size_t key_len);
    /* Step forward / backward; HM_ENOENT past the end. */
    int (*kv_cursor_next)(hm_kv_cursor *c);
    int (*kv_cursor_prev)(hm_kv_cursor *c);
    /* Position at the last key; HM_ENOENT when empty. */
    int (*kv_cursor_last)(hm_kv_cursor *c);
    /* Current entry; pointers valid until the cursor moves or the txn ends. */
    int (*kv_cursor_get)(hm_kv_cursor *c, const void **key, size_t *key_len,
                         const void **val, size_t *val_len);
    void (*kv_cursor_close)(hm_kv_cursor *c);
};

struct hm_env {
    const struct hm_env_ops *ops;
    void *impl; /* binding-private state */
};

/* The production binding: real clocks, getrandom, POSIX files, LMDB.
 * Thread-safe.  Free with hm_env_posix_free. */
int hm_env_posix_new(hm_env **out);
void hm_env_posix_free(hm_env *env);

/* Fill the kv_* members of ops with the LMDB binding (common/env/kv_lmdb.c).
 * Used by hm_env_posix_new; exported so that a test binding which wraps the
 * posix one (fault injection) can keep the real store underneath. */
void hm_kv_lmdb_bind(struct hm_env_ops *ops);

/* Convenience wrappers, so call sites read as verbs. */
static inline int64_t hm_mono_ms(hm_env *e) { return e->ops->mono_ns(e) / 1000000; }
static inline int64_t hm_wall_ms(hm_env *e) { return e->ops->wall_ms(e); }
static inline void hm_random(hm_env *e, void *b, size_t n) { e->ops->random(e, b, n); }

/* Write a whole file durably: temp file in the same directory, write, sync,
 * rename over path, sync the directory.  Nothing half-written is ever
 * visible at path. */
int hm_env_write_file_atomic(hm_env *env, const char *path, const void *buf,
                             size_t len);

/* Read a whole file of at most max bytes into a malloc'd buffer. */
int hm_env_read_file(hm_env *env, const char *path, size_t max, void **buf,
                     size_t *len);

#endif
