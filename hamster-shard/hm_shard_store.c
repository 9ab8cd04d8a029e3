/* hm_shard_store.c - one disk's shard store; see hm_shard_store.h.
 *
 * Every byte goes through hm_env, so the simulator can crash the store at
 * any write.  The shaping decision is "nothing partial is ever visible": a
 * put writes a temporary file in tmp/, makes it durable, and only then
 * renames it to a name derived from (blob id, shard index) and fsyncs the
 * directory; anything left in tmp/ after a crash is garbage and is removed
 * at open.  Memory per stream is one block, so a shard of any size streams.
 *
 * Opening costs the same whatever the store holds: no shard file is
 * walked (hence no shard count in info; the metadata knows the blobs).
 *
 * Locking: the store mutex guards the record of which fan-out directories
 * are known durable; it is never held across a sync.  A put creates missing
 * fan-out directories without syncing, renames its file in, and then has
 * the file's directory (and, when this process has not yet made them
 * durable, the fan-out directories' own entries) synced by the disk's
 * directory group commit (hm_shard_dirsync.c), which concurrent puts share.
 * Puts and gets otherwise run in parallel.
 *
 * A failed fsync fails the disk (docs/storage-safety.md, "A failed fsync"):
 * Linux may drop the dirty pages and report the error once, so a later
 * sync, above all a directory fsync through a fresh descriptor, can
 * "succeed" over lost writeback.  After the first failed sync or sync_dir
 * the store refuses every put and delete with HM_EUNAVAIL (a 503 to S3
 * clients) until the process restarts and reopens it; gets go on, each
 * block still checked against its CRC32C.  An I/O error (EIO) from any
 * other disk call (open, read, write, rename, mkdir, unlink) fails the disk
 * the same way: the disk is dying.  A full disk (ENOSPC) is not a failure:
 * that put fails, the disk stays healthy.
 *
 * A disk whose directory disappears at run time (removed, or its contents
 * deleted) is "missing", as at start: once its label, shards/ or tmp/ is
 * found gone, every call returns HM_EUNAVAIL and info HM_ENOENT, so nothing
 * is written into a directory that no longer holds the disk.  Presence is
 * checked by info (every health probe), at each put_open, and whenever a
 * disk call answers "not found" where the store's own directories should
 * be.  Only the same disk coming back (its own label) ends it before a
 * restart; an emptied directory stays missing.
 */
#include "hm_shard_store.h"

#include <assert.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_crc.h"
#include "hm_err.h"
#include "hm_log.h"
#include "hm_shard_dirsync.h"
#include "hm_shard_format.h"

#define SHARD_COMP "shard"
#define SHARD_PATH_BYTES 4096u
#define SHARD_DIR_BYTES_MAX 3072u        /* disk_dir length we accept */
#define SHARD_ID_HEX_BYTES (2u * HM_BLOB_ID_BYTES)
#define SHARD_NAME_BYTES 48u             /* "<32 hex>.<u32>" + NUL */
#define SHARD_CRC_BATCH 1024u            /* CRC entries read at once by a get */
#define SHARD_WRITEBACK_BYTES (4u << 20) /* a put starts writeback this often */
#define SHARD_TABLE_BYTES_MAX                                                 \
    ((HM_SHARD_DATA_BYTES_MAX / HM_SHARD_BLOCK_BYTES + 1) * HM_SHARD_CRC_BYTES)

_Static_assert(SHARD_DIR_BYTES_MAX + 64 < SHARD_PATH_BYTES, "shard path fits");

struct hm_shard_store {
    hm_env *env;
    char *dir;
    char *shards_dir;
    char *tmp_dir;
    char disk_id[SHARD_ID_HEX_BYTES + 1];
    hm_disk_label label;
    pthread_mutex_t mu;
    atomic_int failed;    /* 0, or the error of the first failed sync or EIO */
    atomic_bool missing;  /* its directory was found gone at run time */
    char *label_path;
    /* Fan-out directories whose entries this process has made durable,
     * one bit per directory (l1: first two hex digits; l2: first four);
     * under mu. */
    uint8_t l1_durable[256 / 8];
    uint8_t l2_durable[65536 / 8];
    hm_dirsync *dirsync;
};

struct hm_shard_store_put {
    hm_shard_store *s;
    hm_file *f;
    char tmp_path[SHARD_PATH_BYTES];
    Hm__ShardHeader *hdr;  /* our copy, unpacked form */
    uint8_t *block;        /* HM_SHARD_BLOCK_BYTES */
    size_t block_fill;
    uint64_t written;      /* data bytes flushed to the file */
    uint64_t writeback;    /* data bytes whose writeback was started */
    uint32_t data_crc;
    size_t placeholder_len; /* preamble + header bytes written at open */
    uint8_t *table;        /* little-endian CRC32C per flushed block */
    size_t table_len;
    size_t table_cap;
    int err;               /* sticky: the put is poisoned */
};

struct hm_shard_store_get {
    hm_shard_store *s;
    hm_file *f;
    char name[SHARD_NAME_BYTES];
    hm_shard_layout lay;
    uint64_t pos;          /* next data byte to return */
    uint64_t end;          /* one past the last */
    uint8_t *block;
    uint64_t block_start;
    size_t block_len;      /* 0: nothing loaded */
    uint8_t crcs[SHARD_CRC_BATCH * HM_SHARD_CRC_BYTES];
    uint32_t crc_first;
    uint32_t crc_count;
    int err;
};

/* ---- names ------------------------------------------------------------- */

static void store_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool store_is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

/* "<blob-hex>.<index>": the file name, also used in log lines. */
static void store_shard_name(const uint8_t blob_id[HM_BLOB_ID_BYTES],
                             uint32_t shard_index, char out[SHARD_NAME_BYTES])
{
    char hex[SHARD_ID_HEX_BYTES + 1];
    store_hex(blob_id, HM_BLOB_ID_BYTES, hex);
    snprintf(out, SHARD_NAME_BYTES, "%s.%u", hex, (unsigned)shard_index);
}

static int store_join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) return HM_ETOOBIG;
    return 0;
}

/* ---- failure ------------------------------------------------------------ */

/* A sync of this disk failed with rc: the disk is failed until restart.
 * Returns HM_EUNAVAIL, what the failing call reports. */
static int store_fail(hm_shard_store *s, int rc, const char *what, const char *name)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&s->failed, &expected, rc)) {
        hm_error(SHARD_COMP, NULL,
                 "disk %s failed: %s fsync of %s: %s; refusing writes until restart",
                 s->disk_id, what, name, hm_err_msg(rc));
    }
    return HM_EUNAVAIL;
}

/* 0, or HM_EUNAVAIL once a sync has failed or the disk is missing. */
static int store_writable(const hm_shard_store *s)
{
    return atomic_load(&s->failed) == 0 && !atomic_load(&s->missing) ? 0 : HM_EUNAVAIL;
}

bool hm_shard_store_failed(const hm_shard_store *s) { return store_writable(s) != 0; }

bool hm_shard_store_missing(const hm_shard_store *s) { return atomic_load(&s->missing); }

static int store_io(hm_shard_store *s, int rc, const char *what, const char *name);

/* Is the disk still there: its label, shards/ and tmp/?  The first time
 * one is found gone the disk is marked missing and named in the log.  A
 * missing disk is served again once all three are back and the label is
 * this disk's own (the directory was moved away and back): its shards are
 * checked block by block when read, as always.  Another error from the
 * check (EIO) fails the disk (store_io). */
static bool store_present(hm_shard_store *s)
{
    bool was_missing = atomic_load(&s->missing);
    const char *const paths[] = {s->label_path, s->shards_dir, s->tmp_dir};
    const char *gone = NULL;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0] && gone == NULL; i++) {
        bool is_dir = false;
        int rc = s->env->ops->exists(s->env, paths[i], &is_dir);
        if (rc == 0 && is_dir == (i > 0)) continue;
        if (rc != 0 && rc != HM_ENOENT) {
            (void)store_io(s, rc, "check", paths[i]);
            return !was_missing;
        }
        gone = paths[i];
    }
    if (gone == NULL && was_missing) {
        hm_disk_label lab;
        if (hm_disk_label_read(s->env, s->dir, &lab) != 0 ||
            strcmp(lab.disk_id, s->disk_id) != 0) {
            gone = s->label_path;
        } else {
            atomic_store(&s->missing, false);
            hm_warn(SHARD_COMP, NULL, "disk %s is back at %s: serving it again", s->disk_id,
                    s->dir);
            return true;
        }
    }
    if (gone == NULL) return true;
    bool expected = false;
    if (atomic_compare_exchange_strong(&s->missing, &expected, true))
        hm_error(SHARD_COMP, NULL,
                 "disk %s missing: %s is gone (directory removed or emptied); refusing every "
                 "call until it is back or the process restarts",
                 s->disk_id, gone);
    return false;
}

/* Classify the result of a disk call on the store: HM_EIO fails the disk
 * (and is returned as it is), "not found" where the store's directories
 * should be checks that the disk is still there (HM_EUNAVAIL if not);
 * anything else, ENOSPC included, is returned as it is. */
static int store_io(hm_shard_store *s, int rc, const char *what, const char *name)
{
    if (rc == HM_EIO) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&s->failed, &expected, rc))
            hm_error(SHARD_COMP, NULL,
                     "disk %s failed: %s of %s: %s; refusing writes until restart",
                     s->disk_id, what, name, hm_err_msg(rc));
        return rc;
    }
    if (rc == HM_ENOENT && !store_present(s)) return HM_EUNAVAIL;
    return rc;
}

int hm_shard_store_shard_path(const hm_shard_store *s,
                              const uint8_t blob_id[HM_BLOB_ID_BYTES],
                              uint32_t shard_index, char *out, size_t cap)
{
    char name[SHARD_NAME_BYTES];
    store_shard_name(blob_id, shard_index, name);
    int n = snprintf(out, cap, "%s/%.2s/%.2s/%s", s->shards_dir, name, name + 2, name);
    if (n < 0 || (size_t)n >= cap) return HM_ETOOBIG;
    return 0;
}

/* ---- open / close ------------------------------------------------------ */

/* mkdir path; *created tells whether it is new.  An existing non-directory
 * is an error. */
static int store_mkdir(hm_env *env, const char *path, bool *created)
{
    *created = false;
    int rc = env->ops->mkdir(env, path);
    if (rc == 0) {
        *created = true;
        return 0;
    }
    if (rc != HM_EEXIST) return rc;
    bool is_dir = false;
    rc = env->ops->exists(env, path, &is_dir);
    if (rc != 0) return rc;
    return is_dir ? 0 : HM_EEXIST;
}

/* fsync the directory holding path, so a new entry for path persists.
 * path is a shard's (hm_shard_store_shard_path: DISK/shards/xx/yy/NAME), so
 * it always names its directory; a bare name has none to sync here. */
static int store_sync_parent(hm_env *env, const char *path)
{
    char parent[SHARD_PATH_BYTES];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    while (n > 0 && path[n - 1] != '/') n--;
    while (n > 1 && path[n - 1] == '/') n--;
    assert(n > 0);
    if (n == 0) return HM_EINVAL;
    if (n >= sizeof parent) return HM_ETOOBIG;
    memcpy(parent, path, n);
    parent[n] = '\0';
    return env->ops->sync_dir(env, parent);
}

typedef struct store_walk {
    hm_shard_store *s;
    const char *dir;
    uint64_t count;
    int err;
} store_walk;

static int store_tmp_clean_cb(void *arg, const char *name, bool is_dir)
{
    store_walk *w = arg;
    char path[SHARD_PATH_BYTES];
    if (is_dir) return 0;
    if (store_join(path, sizeof path, w->dir, name) != 0) return 0;
    int rc = w->s->env->ops->unlink(w->s->env, path);
    if (rc != 0 && rc != HM_ENOENT) {
        w->err = rc;
        return 1;
    }
    w->count++;
    return 0;
}

static char *store_path_dup(const char *a, const char *b)
{
    char buf[SHARD_PATH_BYTES];
    if (store_join(buf, sizeof buf, a, b) != 0) return NULL;
    return strdup(buf);
}

int hm_shard_store_open(hm_shard_store **out, hm_env *env, const char *disk_dir)
{
    char reason[HM_DISK_REASON_BYTES];
    int rc = hm_shard_store_open_checked(out, env, disk_dir, NULL, HM_DISK_SLOT_ANY, reason,
                                         sizeof reason);
    if (rc != 0) hm_error(SHARD_COMP, NULL, "disk %s refused: %s", disk_dir, reason);
    return rc;
}

int hm_shard_store_open_checked(hm_shard_store **out, hm_env *env, const char *disk_dir,
                                const char *cluster_id, uint32_t slot, char *reason,
                                size_t reason_cap)
{
    int rc;
    size_t dir_len = strlen(disk_dir);
    if (reason != NULL && reason_cap > 0) reason[0] = '\0';
    if (dir_len == 0 || dir_len > SHARD_DIR_BYTES_MAX) {
        if (reason != NULL) snprintf(reason, reason_cap, "disk path empty or too long");
        return HM_EINVAL;
    }

    hm_shard_store *s = calloc(1, sizeof *s);
    if (s == NULL) return HM_ENOMEM;
    s->env = env;
    s->dir = strdup(disk_dir);
    s->shards_dir = store_path_dup(disk_dir, "shards");
    s->tmp_dir = store_path_dup(disk_dir, "tmp");
    s->label_path = store_path_dup(disk_dir, HM_DISK_LABEL_FILE);
    if (s->dir == NULL || s->shards_dir == NULL || s->tmp_dir == NULL ||
        s->label_path == NULL) {
        rc = HM_ENOMEM;
        goto err_after_alloc;
    }
    if (hm_dirsync_new(&s->dirsync, env, disk_dir) != 0) {
        rc = HM_ENOMEM;
        goto err_after_alloc;
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        rc = HM_ENOMEM;
        goto err_after_alloc;
    }

    /* Nothing is created here: a disk is formatted only by hm_disk_format,
     * so a missing or foreign one is refused, never re-created empty. */
    rc = hm_disk_check(env, disk_dir, cluster_id, slot, &s->label, reason, reason_cap);
    if (rc != 0) goto err_after_mutex;
    memcpy(s->disk_id, s->label.disk_id, SHARD_ID_HEX_BYTES + 1);

    store_walk w = {.s = s, .dir = s->tmp_dir, .count = 0, .err = 0};
    rc = env->ops->list_dir(env, s->tmp_dir, store_tmp_clean_cb, &w);
    if (rc == 0) rc = w.err;
    if (rc == 0 && w.count > 0) {
        hm_info(SHARD_COMP, NULL, "removed %llu unfinished upload(s) from %s",
                (unsigned long long)w.count, s->tmp_dir);
        rc = env->ops->sync_dir(env, s->tmp_dir);
    }
    if (rc != 0) {
        if (reason != NULL)
            snprintf(reason, reason_cap, "cannot clean %s: %s", s->tmp_dir, hm_err_msg(rc));
        goto err_after_mutex;
    }

    *out = s;
    return 0;

err_after_mutex:
    pthread_mutex_destroy(&s->mu);
err_after_alloc:
    hm_dirsync_free(s->dirsync);
    free(s->label_path);
    free(s->tmp_dir);
    free(s->shards_dir);
    free(s->dir);
    free(s);
    return rc;
}

void hm_shard_store_close(hm_shard_store *s)
{
    if (s == NULL) return;
    pthread_mutex_destroy(&s->mu);
    hm_dirsync_free(s->dirsync);
    free(s->label_path);
    free(s->tmp_dir);
    free(s->shards_dir);
    free(s->dir);
    free(s);
}

const char *hm_shard_store_disk_id(const hm_shard_store *s) { return s->disk_id; }

const hm_disk_label *hm_shard_store_label(const hm_shard_store *s) { return &s->label; }

int hm_shard_store_info(hm_shard_store *s, Hm__ShardInfoResp **out)
{
    uint64_t total = 0, avail = 0;
    if (!store_present(s)) return HM_ENOENT;
    if (atomic_load(&s->failed) != 0) return HM_EUNAVAIL;
    int rc = s->env->ops->statfs(s->env, s->dir, &total, &avail);
    if (rc != 0) {
        rc = store_io(s, rc, "statfs", s->dir);
        return hm_shard_store_missing(s) ? HM_ENOENT : rc;
    }
    Hm__ShardInfoResp *r = malloc(sizeof *r);
    if (r == NULL) return HM_ENOMEM;
    hm__shard_info_resp__init(r);
    r->disk_id = strdup(s->disk_id);
    r->path = strdup(s->dir);
    if (r->disk_id == NULL || r->path == NULL) {
        hm__shard_info_resp__free_unpacked(r, NULL);
        return HM_ENOMEM;
    }
    r->has_format_version = true;
    r->format_version = HM_FORMAT_VERSION;
    r->has_bytes_total = true;
    r->bytes_total = total;
    r->has_bytes_free = true;
    r->bytes_free = avail;
    *out = r;
    return 0;
}

/* ---- put ---------------------------------------------------------------- */

static void store_put_free(hm_shard_store_put *p)
{
    if (p->hdr != NULL) hm__shard_header__free_unpacked(p->hdr, NULL);
    free(p->table);
    free(p->block);
    free(p);
}

/* Drop the temporary file (after a failure or an abort) and free p. */
static void store_put_discard(hm_shard_store_put *p)
{
    hm_env *env = p->s->env;
    if (p->f != NULL) env->ops->close(p->f);
    int rc = env->ops->unlink(env, p->tmp_path);
    if (rc != 0 && rc != HM_ENOENT) {
        /* Removed at the next open. */
        hm_warn(SHARD_COMP, NULL, "remove %s: %s", p->tmp_path, hm_err_msg(rc));
    }
    store_put_free(p);
}

int hm_shard_store_put_open(hm_shard_store *s, const Hm__ShardHeader *hdr,
                            hm_shard_store_put **out)
{
    hm_env *env = s->env;
    uint8_t *hbuf = NULL;
    int rc;
    if (!hdr->has_blob_id || hdr->blob_id.len != HM_BLOB_ID_BYTES ||
        !hdr->has_shard_index) {
        return HM_EINVAL;
    }
    int wrc = store_writable(s);
    if (wrc == 0 && !store_present(s)) wrc = HM_EUNAVAIL;
    if (wrc != 0) return wrc;
    hm_shard_store_put *p = calloc(1, sizeof *p);
    if (p == NULL) return HM_ENOMEM;
    p->s = s;
    p->block = malloc(HM_SHARD_BLOCK_BYTES);
    hbuf = malloc(HM_SHARD_PREAMBLE_BYTES + HM_SHARD_HEADER_BYTES_MAX);
    if (p->block == NULL || hbuf == NULL) {
        rc = HM_ENOMEM;
        goto err_after_alloc;
    }

    /* Our copy of the header, with the fields the store owns set to their
     * widest values: the header written at commit can only be shorter, so
     * a header that fits now always fits then. */
    Hm__ShardHeader h = *hdr;
    h.base.unknown_fields = NULL;
    h.base.n_unknown_fields = 0;
    h.has_format_version = true;
    h.format_version = HM_SHARD_FORMAT_VERSION;
    h.has_block_bytes = true;
    h.block_bytes = HM_SHARD_BLOCK_BYTES;
    h.has_data_length = true;
    h.data_length = HM_SHARD_DATA_BYTES_MAX;
    h.has_data_crc32c = true;
    h.data_crc32c = UINT32_MAX;
    if (!h.has_created_ms) {
        h.has_created_ms = true;
        h.created_ms = hm_wall_ms(env);
    }
    hm_shard_preamble pre;
    rc = hm_shard_header_encode(&h, hbuf + HM_SHARD_PREAMBLE_BYTES,
                                HM_SHARD_HEADER_BYTES_MAX, &pre);
    if (rc != 0) goto err_after_alloc;
    /* Room for the fields sealed at commit (hm_shard_store_put_seal). */
    if (pre.header_len > HM_SHARD_HEADER_BYTES_MAX - HM_SHARD_SEAL_BYTES_MAX) {
        rc = HM_ETOOBIG;
        goto err_after_alloc;
    }
    p->hdr = hm__shard_header__unpack(NULL, pre.header_len,
                                      hbuf + HM_SHARD_PREAMBLE_BYTES);
    if (p->hdr == NULL) {
        rc = HM_ENOMEM;
        goto err_after_alloc;
    }

    uint8_t rnd[HM_BLOB_ID_BYTES];
    char name[SHARD_ID_HEX_BYTES + 8];
    hm_random(env, rnd, sizeof rnd);
    store_hex(rnd, sizeof rnd, name);
    strcat(name, ".part");
    rc = store_join(p->tmp_path, sizeof p->tmp_path, s->tmp_dir, name);
    if (rc != 0) goto err_after_alloc;
    rc = env->ops->open(env, p->tmp_path, HM_O_RDWR | HM_O_CREAT | HM_O_EXCL, &p->f);
    if (rc != 0) {
        rc = store_io(s, rc, "create", p->tmp_path);
        goto err_after_alloc;
    }

    /* Placeholder preamble and header; rewritten at commit. */
    hm_shard_preamble_encode(&pre, hbuf);
    p->placeholder_len = HM_SHARD_PREAMBLE_BYTES + pre.header_len;
    rc = env->ops->pwrite(p->f, hbuf, p->placeholder_len, 0);
    if (rc != 0) {
        rc = store_io(s, rc, "write", p->tmp_path);
        goto err_after_open;
    }

    free(hbuf);
    *out = p;
    return 0;

err_after_open:
    store_put_discard(p);
    free(hbuf);
    return rc;
err_after_alloc:
    free(hbuf);
    store_put_free(p);
    return rc;
}

int hm_shard_store_put_seal(hm_shard_store_put *p, const Hm__ShardHeader *seal)
{
    if (p->err != 0) return HM_EPOISONED;
    int rc = hm_shard_header_seal(&p->hdr, seal);
    if (rc != 0) p->err = rc;
    return rc;
}

/* Ask the kernel to start writing back the data written since the last
 * call, once SHARD_WRITEBACK_BYTES have gathered, so that the fsync at
 * commit waits for the tail of a large shard rather than all of it.  Only
 * a hint: durability still comes from that fsync alone, and without an OS
 * descriptor (simulation) or on any error nothing happens. */
static void store_put_writeback(hm_shard_store_put *p)
{
    if (p->written - p->writeback < SHARD_WRITEBACK_BYTES) return;
    int fd = p->s->env->ops->fd(p->f);
    if (fd >= 0) {
        (void)sync_file_range(fd, (off64_t)(HM_SHARD_DATA_OFFSET + p->writeback),
                              (off64_t)(p->written - p->writeback), SYNC_FILE_RANGE_WRITE);
    }
    p->writeback = p->written;
}

/* Checksum n bytes of blocks and write them, in one pwrite, at the end of
 * the data: whole blocks, or one short block that is the last. */
static int store_put_blocks(hm_shard_store_put *p, const uint8_t *data, size_t n)
{
    hm_env *env = p->s->env;
    size_t count = (n + HM_SHARD_BLOCK_BYTES - 1) / HM_SHARD_BLOCK_BYTES;
    /* Only the last block may be short: every earlier one is whole. */
    assert(n > 0 && (count == 1 || n % HM_SHARD_BLOCK_BYTES == 0));
    assert(p->written % HM_SHARD_BLOCK_BYTES == 0);
    size_t need = p->table_len + count * HM_SHARD_CRC_BYTES;
    if (need > p->table_cap) {
        size_t cap = p->table_cap == 0 ? 256 : p->table_cap;
        while (cap < need && cap < SHARD_TABLE_BYTES_MAX) cap *= 2;
        if (cap > SHARD_TABLE_BYTES_MAX) cap = SHARD_TABLE_BYTES_MAX;
        if (need > cap) return HM_ETOOBIG;
        uint8_t *t = realloc(p->table, cap);
        if (t == NULL) return HM_ENOMEM;
        p->table = t;
        p->table_cap = cap;
    }
    int rc = env->ops->pwrite(p->f, data, n, HM_SHARD_DATA_OFFSET + p->written);
    if (rc != 0) return store_io(p->s, rc, "write", p->tmp_path);
    for (size_t off = 0; off < n; off += HM_SHARD_BLOCK_BYTES) {
        size_t len = n - off < HM_SHARD_BLOCK_BYTES ? n - off : HM_SHARD_BLOCK_BYTES;
        hm_shard_le32_put(p->table + p->table_len, hm_crc32c(0, data + off, len));
        p->table_len += HM_SHARD_CRC_BYTES;
    }
    p->data_crc = hm_crc32c(p->data_crc, data, n);
    p->written += n;
    store_put_writeback(p);
    return 0;
}

int hm_shard_store_put_write(hm_shard_store_put *p, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    if (p->err != 0) return HM_EPOISONED;
    if (len > HM_SHARD_DATA_BYTES_MAX - p->written - p->block_fill) {
        p->err = HM_ETOOBIG;
        return HM_ETOOBIG;
    }
    while (len > 0) {
        int rc;
        if (p->block_fill == 0 && len >= HM_SHARD_BLOCK_BYTES) {
            /* Whole blocks in the caller's buffer: no copy, one pwrite. */
            size_t n = len - len % HM_SHARD_BLOCK_BYTES;
            rc = store_put_blocks(p, src, n);
            src += n;
            len -= n;
        } else {
            size_t n = HM_SHARD_BLOCK_BYTES - p->block_fill;
            if (n > len) n = len;
            memcpy(p->block + p->block_fill, src, n);
            p->block_fill += n;
            src += n;
            len -= n;
            rc = 0;
            if (p->block_fill == HM_SHARD_BLOCK_BYTES) {
                rc = store_put_blocks(p, p->block, HM_SHARD_BLOCK_BYTES);
                p->block_fill = 0;
            }
        }
        if (rc != 0) {
            p->err = rc;
            return rc;
        }
    }
    return 0;
}

/* Create the fan-out directory dir if absent, without syncing: its entry
 * is made durable after the rename, by the same group sync as the file's. */
static int store_ensure_dir(hm_shard_store *s, const char *dir)
{
    bool created = false;
    return store_mkdir(s->env, dir, &created);
}

static unsigned store_hexval(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

static bool store_bit(const uint8_t *set, unsigned i) { return (set[i / 8] >> (i % 8)) & 1u; }
static void store_bit_set(uint8_t *set, unsigned i) { set[i / 8] |= (uint8_t)(1u << (i % 8)); }

/* Write table, footer and final header; fsync.  The file is then complete
 * under its temporary name. */
static int store_put_finish_file(hm_shard_store_put *p)
{
    hm_env *env = p->s->env;
    uint8_t footer[HM_SHARD_FOOTER_BYTES];
    uint8_t *hbuf = NULL;
    hm_shard_layout lay;
    int rc;

    if (p->block_fill > 0) {
        rc = store_put_blocks(p, p->block, p->block_fill);
        p->block_fill = 0;
        if (rc != 0) return rc;
    }
    rc = hm_shard_layout_compute(p->written, HM_SHARD_BLOCK_BYTES, &lay);
    if (rc != 0) return rc;
    if ((uint64_t)lay.block_count * HM_SHARD_CRC_BYTES != p->table_len) {
        return HM_EINTERNAL;
    }
    if (p->table_len > 0) {
        rc = env->ops->pwrite(p->f, p->table, p->table_len, lay.table_offset);
        if (rc != 0) return store_io(p->s, rc, "write", p->tmp_path);
    }
    hm_shard_footer_encode(lay.block_count, hm_crc32c(0, p->table, p->table_len),
                           footer);
    rc = env->ops->pwrite(p->f, footer, sizeof footer, lay.footer_offset);
    if (rc != 0) return store_io(p->s, rc, "write", p->tmp_path);

    p->hdr->data_length = p->written;
    p->hdr->data_crc32c = p->data_crc;
    /* Zeroed: the final header is never longer than the placeholder, and
     * writing the placeholder's length clears its tail, so the bytes up to
     * the data offset are the header and then zeros. */
    hbuf = calloc(1, HM_SHARD_PREAMBLE_BYTES + HM_SHARD_HEADER_BYTES_MAX);
    if (hbuf == NULL) return HM_ENOMEM;
    hm_shard_preamble pre;
    rc = hm_shard_header_encode(p->hdr, hbuf + HM_SHARD_PREAMBLE_BYTES,
                                HM_SHARD_HEADER_BYTES_MAX, &pre);
    if (rc == 0) {
        size_t n = HM_SHARD_PREAMBLE_BYTES + pre.header_len;
        if (n < p->placeholder_len) n = p->placeholder_len;
        hm_shard_preamble_encode(&pre, hbuf);
        rc = env->ops->pwrite(p->f, hbuf, n, 0);
    }
    free(hbuf);
    if (rc != 0) return store_io(p->s, rc, "write", p->tmp_path);
    /* Durable means fsync'd: the file first, then the rename, then the
     * directory. */
    rc = env->ops->sync(p->f);
    if (rc != 0) rc = store_fail(p->s, rc, "file", p->tmp_path);
    return rc;
}

int hm_shard_store_put_commit(hm_shard_store_put *p, uint64_t *length, uint32_t *crc32c)
{
    hm_shard_store *s = p->s;
    hm_env *env = s->env;
    char target[SHARD_PATH_BYTES], l1[SHARD_PATH_BYTES], l2[SHARD_PATH_BYTES];
    char name[SHARD_NAME_BYTES];
    int rc;

    if (p->err != 0) {
        rc = HM_EPOISONED;
        goto err;
    }
    rc = store_writable(s);
    if (rc != 0) goto err;
    rc = store_put_finish_file(p);
    if (rc != 0) goto err;
    env->ops->close(p->f);
    p->f = NULL;

    store_shard_name(p->hdr->blob_id.data, p->hdr->shard_index, name);
    rc = hm_shard_store_shard_path(s, p->hdr->blob_id.data, p->hdr->shard_index,
                                   target, sizeof target);
    if (rc != 0) goto err;
    snprintf(l1, sizeof l1, "%s/%.2s", s->shards_dir, name);
    snprintf(l2, sizeof l2, "%s/%.2s/%.2s", s->shards_dir, name, name + 2);

    unsigned i1 = store_hexval(name[0]) << 4 | store_hexval(name[1]);
    unsigned i2 = i1 << 8 | store_hexval(name[2]) << 4 | store_hexval(name[3]);
    pthread_mutex_lock(&s->mu);
    bool l1_known = store_bit(s->l1_durable, i1), l2_known = store_bit(s->l2_durable, i2);
    pthread_mutex_unlock(&s->mu);
    rc = l1_known ? 0 : store_ensure_dir(s, l1);
    if (rc == 0 && !l2_known) rc = store_ensure_dir(s, l2);
    if (rc == 0) rc = env->ops->rename(env, p->tmp_path, target);
    if (rc != 0) {
        rc = store_io(s, rc, "rename", target);
        goto err;
    }

    /* Durable: the file (synced above), then its entry, then the entries of
     * fan-out directories this process has not yet made durable. */
    const char *dirs[3] = {l2, l1, s->shards_dir};
    size_t n_dirs = l2_known ? 1 : l1_known ? 2 : 3;
    rc = hm_dirsync_sync(s->dirsync, dirs, n_dirs);
    if (rc == 0 && !(l1_known && l2_known)) {
        pthread_mutex_lock(&s->mu);
        store_bit_set(s->l1_durable, i1);
        store_bit_set(s->l2_durable, i2);
        pthread_mutex_unlock(&s->mu);
    }
    if (rc != 0) {
        /* The rename may or may not survive a crash: take it back so the
         * caller's view (failed, nothing visible) holds now. */
        hm_error(SHARD_COMP, NULL, "shard %s: directory fsync failed: %s", name,
                 hm_err_msg(rc));
        (void)env->ops->unlink(env, target);
        store_put_free(p);
        return store_fail(s, rc, "directory", l2);
    }
    if (length != NULL) *length = p->written;
    if (crc32c != NULL) *crc32c = p->data_crc;
    store_put_free(p);
    return 0;

err:
    if (rc == HM_EPOISONED && p->err != 0) rc = p->err;
    store_put_discard(p);
    return rc;
}

void hm_shard_store_put_abort(hm_shard_store_put *p)
{
    if (p == NULL) return;
    store_put_discard(p);
}

/* ---- reading ------------------------------------------------------------ */

/* Read exactly len bytes at off; a short read means the file is shorter
 * than its own header says. */
static int store_pread_full(hm_env *env, hm_file *f, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    int rc = env->ops->pread(f, buf, len, off, &got);
    if (rc != 0) return rc;
    return got == len ? 0 : HM_ECORRUPT;
}

/* Validate preamble, header, file size and footer of an open shard file.
 * With check_table, also stream the CRC table and check its CRC. */
static int store_read_meta(hm_env *env, hm_file *f, bool check_table,
                           Hm__ShardHeader **hdr_out, hm_shard_layout *lay,
                           uint32_t *table_crc)
{
    uint8_t pbuf[HM_SHARD_PREAMBLE_BYTES];
    uint8_t footer[HM_SHARD_FOOTER_BYTES];
    uint8_t *hbuf = NULL;
    Hm__ShardHeader *h = NULL;
    hm_shard_preamble pre;
    uint64_t size = 0;
    int rc;

    rc = store_pread_full(env, f, pbuf, sizeof pbuf, 0);
    if (rc == 0) rc = hm_shard_preamble_decode(pbuf, sizeof pbuf, &pre);
    if (rc != 0) return rc;
    /* pre.header_len is bounded by HM_SHARD_HEADER_BYTES_MAX here. */
    hbuf = malloc(pre.header_len);
    if (hbuf == NULL) return HM_ENOMEM;
    rc = store_pread_full(env, f, hbuf, pre.header_len, HM_SHARD_PREAMBLE_BYTES);
    if (rc == 0) rc = hm_shard_header_decode(&pre, hbuf, pre.header_len, &h);
    free(hbuf);
    if (rc != 0) return rc;
    rc = env->ops->size(f, &size);
    if (rc == 0) rc = hm_shard_layout_check(h, size, lay);
    if (rc == 0) rc = store_pread_full(env, f, footer, sizeof footer, lay->footer_offset);
    uint32_t want = 0;
    if (rc == 0) rc = hm_shard_footer_decode(footer, lay, &want);
    if (rc == 0 && check_table) {
        uint8_t chunk[4096];
        uint64_t left = (uint64_t)lay->block_count * HM_SHARD_CRC_BYTES;
        uint64_t off = lay->table_offset;
        uint32_t crc = 0;
        while (rc == 0 && left > 0) {
            size_t n = left < sizeof chunk ? (size_t)left : sizeof chunk;
            rc = store_pread_full(env, f, chunk, n, off);
            crc = hm_crc32c(crc, chunk, n);
            off += n;
            left -= n;
        }
        if (rc == 0 && crc != want) rc = HM_ECORRUPT;
    }
    if (rc != 0) {
        hm__shard_header__free_unpacked(h, NULL);
        return rc;
    }
    if (table_crc != NULL) *table_crc = want;
    *hdr_out = h;
    return 0;
}

int hm_shard_store_get_open(hm_shard_store *s, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                            uint32_t shard_index, uint64_t offset, uint64_t len,
                            hm_shard_store_get **out, uint64_t *total,
                            Hm__ShardHeader **hdr)
{
    hm_env *env = s->env;
    char path[SHARD_PATH_BYTES];
    Hm__ShardHeader *h = NULL;
    int rc = hm_shard_store_shard_path(s, blob_id, shard_index, path, sizeof path);
    if (rc != 0) return rc;
    if (atomic_load(&s->missing)) return HM_EUNAVAIL;
    hm_shard_store_get *g = calloc(1, sizeof *g);
    if (g == NULL) return HM_ENOMEM;
    g->s = s;
    store_shard_name(blob_id, shard_index, g->name);
    rc = env->ops->open(env, path, HM_O_RDONLY, &g->f);
    if (rc != 0) {
        rc = store_io(s, rc, "open", path);
        goto err_after_alloc;
    }
    /* Not the whole CRC table (320 KiB for a 5 GiB shard): a get reads
     * only the entries of the blocks its range covers, and a damaged entry
     * fails its block's check exactly as damaged data would.  The footer's
     * CRC of the whole table is left to a whole-shard check. */
    rc = store_read_meta(env, g->f, false, &h, &g->lay, NULL);
    if (rc != 0) {
        if (rc == HM_ECORRUPT || rc == HM_EVERSION) {
            hm_error(SHARD_COMP, NULL, "shard %s: file fails validation: %s", g->name,
                     hm_err_msg(rc));
        }
        if (rc == HM_EIO) rc = store_io(s, rc, "read", path);
        goto err_after_open;
    }
    g->block = malloc(g->lay.block_bytes);
    if (g->block == NULL) {
        rc = HM_ENOMEM;
        goto err_after_meta;
    }
    uint64_t dlen = g->lay.data_length;
    g->pos = offset < dlen ? offset : dlen;
    g->end = len > dlen - g->pos ? dlen : g->pos + len;
    *total = g->end - g->pos;
    if (hdr != NULL) *hdr = h;
    else hm__shard_header__free_unpacked(h, NULL);
    *out = g;
    return 0;

err_after_meta:
    hm__shard_header__free_unpacked(h, NULL);
err_after_open:
    env->ops->close(g->f);
err_after_alloc:
    free(g);
    return rc;
}

/* The CRC32C of block i, from the batch cache or the table on disk; a
 * batch reads no entry past the last block of the get's range. */
static int store_get_block_crc(hm_shard_store_get *g, uint32_t i, uint32_t *crc)
{
    if (i < g->crc_first || i - g->crc_first >= g->crc_count) {
        assert(g->end > 0);
        uint32_t last = (uint32_t)((g->end - 1) / g->lay.block_bytes);
        assert(i <= last && last < g->lay.block_count);
        uint32_t n = last - i + 1;
        if (n > SHARD_CRC_BATCH) n = SHARD_CRC_BATCH;
        int rc = store_pread_full(g->s->env, g->f, g->crcs, (size_t)n * HM_SHARD_CRC_BYTES,
                                  g->lay.table_offset + (uint64_t)i * HM_SHARD_CRC_BYTES);
        if (rc != 0) {
            g->crc_count = 0;
            return rc;
        }
        g->crc_first = i;
        g->crc_count = n;
    }
    *crc = hm_shard_le32_get(g->crcs + (size_t)(i - g->crc_first) * HM_SHARD_CRC_BYTES);
    return 0;
}

/* Load and verify the block holding data byte g->pos. */
static int store_get_load(hm_shard_store_get *g)
{
    assert(g->pos < g->end && g->end <= g->lay.data_length);
    uint32_t i = (uint32_t)(g->pos / g->lay.block_bytes);
    assert(i < g->lay.block_count);
    uint64_t start = (uint64_t)i * g->lay.block_bytes;
    uint64_t left = g->lay.data_length - start;
    size_t n = left < g->lay.block_bytes ? (size_t)left : g->lay.block_bytes;
    uint32_t want = 0;
    g->block_len = 0;
    int rc = store_get_block_crc(g, i, &want);
    if (rc == 0) {
        rc = store_pread_full(g->s->env, g->f, g->block, n, g->lay.data_offset + start);
    }
    if (rc == HM_EIO) rc = store_io(g->s, rc, "read", g->name);
    if (rc == 0 && hm_crc32c(0, g->block, n) != want) rc = HM_ECORRUPT;
    if (rc == HM_ECORRUPT) {
        hm_error(SHARD_COMP, NULL, "shard %s: block %u (bytes %llu..%llu) fails its CRC32C",
                 g->name, (unsigned)i, (unsigned long long)start,
                 (unsigned long long)(start + n));
    }
    if (rc != 0) return rc;
    g->block_start = start;
    g->block_len = n;
    return 0;
}

int hm_shard_store_get_read(hm_shard_store_get *g, void *buf, size_t cap, size_t *got)
{
    uint8_t *dst = buf;
    size_t done = 0;
    *got = 0;
    if (g->err != 0) return g->err;
    while (done < cap && g->pos < g->end) {
        if (g->block_len == 0 || g->pos < g->block_start ||
            g->pos >= g->block_start + g->block_len) {
            int rc = store_get_load(g);
            if (rc != 0) {
                /* Blocks before this one were verified: hand them out now,
                 * the error on the next call. */
                g->err = rc;
                if (done > 0) break;
                return rc;
            }
        }
        uint64_t in_block = g->block_start + g->block_len - g->pos;
        uint64_t in_range = g->end - g->pos;
        size_t n = cap - done;
        if (n > in_block) n = (size_t)in_block;
        if (n > in_range) n = (size_t)in_range;
        memcpy(dst + done, g->block + (g->pos - g->block_start), n);
        done += n;
        g->pos += n;
    }
    *got = done;
    return 0;
}

void hm_shard_store_get_close(hm_shard_store_get *g)
{
    if (g == NULL) return;
    g->s->env->ops->close(g->f);
    free(g->block);
    free(g);
}

/* ---- delete / stat ------------------------------------------------------- */

int hm_shard_store_delete(hm_shard_store *s, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                          uint32_t shard_index)
{
    char path[SHARD_PATH_BYTES];
    int rc = hm_shard_store_shard_path(s, blob_id, shard_index, path, sizeof path);
    if (rc != 0) return rc;
    rc = store_writable(s);
    if (rc != 0) return rc;
    if (!store_present(s)) return HM_EUNAVAIL;
    if (shard_index != HM_SHARD_INDEX_MANIFEST) {
        /* A multipart object's manifest lives beside every shard of its
         * first part's blob, and goes with the shard on this disk
         * (docs/adr/0005-self-describing-shards.md; a disk holds one shard
         * of a blob).  It
         * goes first, durably: a crash in between leaves the shard, which the
         * collector deletes again, never a manifest without its part. */
        char mpath[SHARD_PATH_BYTES];
        rc = hm_shard_store_shard_path(s, blob_id, HM_SHARD_INDEX_MANIFEST, mpath,
                                       sizeof mpath);
        if (rc != 0) return rc;
        rc = s->env->ops->unlink(s->env, mpath);
        if (rc != 0 && rc != HM_ENOENT) return store_io(s, rc, "unlink", mpath);
        if (rc == 0) {
            int msrc = store_sync_parent(s->env, mpath);
            if (msrc != 0) return store_fail(s, msrc, "directory", mpath);
        }
    }
    rc = s->env->ops->unlink(s->env, path);
    if (rc != 0 && rc != HM_ENOENT) return store_io(s, rc, "unlink", path);
    /* Already gone is not yet durably gone: an earlier unlink (or a rename
     * whose directory sync failed) may still be undone by a crash, and the
     * caller forgets the blob once this returns.  Sync the directory in
     * both cases (a missing fan-out directory has nothing to sync). */
    int src = store_sync_parent(s->env, path);
    if (src == HM_ENOENT) src = 0;
    if (src != 0) return store_fail(s, src, "directory", path);
    return rc;
}

int hm_shard_store_stat(hm_shard_store *s, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                        uint32_t shard_index, Hm__ShardHeader **out)
{
    char path[SHARD_PATH_BYTES];
    hm_file *f = NULL;
    hm_shard_layout lay;
    int rc = hm_shard_store_shard_path(s, blob_id, shard_index, path, sizeof path);
    if (rc != 0) return rc;
    if (atomic_load(&s->missing)) return HM_EUNAVAIL;
    rc = s->env->ops->open(s->env, path, HM_O_RDONLY, &f);
    if (rc != 0) return store_io(s, rc, "open", path);
    rc = store_read_meta(s->env, f, false, out, &lay, NULL);
    s->env->ops->close(f);
    if (rc == HM_EIO) return store_io(s, rc, "read", path);
    if (rc == HM_ECORRUPT || rc == HM_EVERSION) {
        char name[SHARD_NAME_BYTES];
        store_shard_name(blob_id, shard_index, name);
        hm_error(SHARD_COMP, NULL, "shard %s: file fails validation: %s", name,
                 hm_err_msg(rc));
    }
    return rc;
}

/* ---- walk ------------------------------------------------------------------ */

typedef struct store_walk_ctx {
    hm_shard_store *s;
    hm_shard_store_walk_cb cb;
    void *arg;
    char dir[SHARD_PATH_BYTES];
    int level;   /* 0: shards/, 1: shards/ab, 2: shards/ab/cd */
    int err;
    bool stop;
} store_walk_ctx;

/* Does a directory entry look like a shard file we wrote: "<32 hex>.<u32>"? */
static bool store_is_shard_name(const char *name)
{
    size_t n = strlen(name);
    if (n < SHARD_ID_HEX_BYTES + 2 || n > SHARD_ID_HEX_BYTES + 11) return false;
    if (!store_is_hex(name, SHARD_ID_HEX_BYTES) || name[SHARD_ID_HEX_BYTES] != '.') {
        return false;
    }
    for (size_t i = SHARD_ID_HEX_BYTES + 1; i < n; i++) {
        if (name[i] < '0' || name[i] > '9') return false;
    }
    return true;
}

/* One directory entry of the walk: recurse into fan-out directories, hand
 * shard files to the callback.  Names that are not ours are skipped. */
static int store_walk_entry(void *arg, const char *name, bool is_dir)
{
    store_walk_ctx *w = arg;
    if (w->level < 2) {
        if (!is_dir || strlen(name) != 2 || !store_is_hex(name, 2)) return 0;
        store_walk_ctx inner = *w;
        if (store_join(inner.dir, sizeof inner.dir, w->dir, name) != 0) return 0;
        inner.level = w->level + 1;
        int rc = w->s->env->ops->list_dir(w->s->env, inner.dir, store_walk_entry, &inner);
        if (rc == 0) rc = inner.err;
        if (rc != 0 || inner.stop) {
            w->err = rc;
            w->stop = inner.stop;
            return 1;
        }
        return 0;
    }
    if (is_dir || !store_is_shard_name(name)) return 0;
    uint8_t blob[HM_BLOB_ID_BYTES];
    for (size_t i = 0; i < HM_BLOB_ID_BYTES; i++) {
        blob[i] = (uint8_t)(store_hexval(name[2 * i]) << 4 | store_hexval(name[2 * i + 1]));
    }
    uint64_t index = 0;
    for (const char *c = name + SHARD_ID_HEX_BYTES + 1; *c != '\0'; c++) {
        index = index * 10 + (uint64_t)(*c - '0');
        if (index > UINT32_MAX) return 0; /* at most 10 digits: no overflow */
    }
    if (w->cb(w->arg, blob, (uint32_t)index) != 0) {
        w->stop = true;
        return 1;
    }
    return 0;
}

int hm_shard_store_walk(hm_shard_store *s, hm_shard_store_walk_cb cb, void *arg)
{
    store_walk_ctx w = {.s = s, .cb = cb, .arg = arg, .level = 0};
    if (store_join(w.dir, sizeof w.dir, s->dir, "shards") != 0) return HM_ETOOBIG;
    int rc = s->env->ops->list_dir(s->env, w.dir, store_walk_entry, &w);
    return rc != 0 ? rc : w.err;
}
