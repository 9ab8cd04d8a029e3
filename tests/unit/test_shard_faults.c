/* test_shard_faults.c - the shard store under disk faults.
 *
 * A wrapper around the production env fails the Nth disk call (open, pread,
 * pwrite, sync, size, rename, mkdir, sync_dir) with HM_EIO, for N = 1, 2,
 * ... until an operation completes without reaching the fault.  Each time
 * the store must return an error, leave nothing half-visible, and keep
 * working afterwards, except after a failed sync or sync_dir: then the
 * disk is failed (HM_EUNAVAIL for every write) until the store is reopened.
 */
#include <check.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_disk_util.h"
#include "hm_crc.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_shard_format.h"
#include "hm_shard_store.h"

#define B HM_SHARD_BLOCK_BYTES

static hm_env *inner;            /* the production env */
static hm_env fault_env;         /* what the store sees */
static struct hm_env_ops fault_ops;
static long fault_countdown;     /* 0: off; else fail the call that takes it to 0 */
static bool fault_fired;
static char root[256];
static char disk[300];

/* Which calls the countdown counts: all, or only one kind of sync. */
enum fault_kind { FK_OTHER, FK_SYNC, FK_SYNC_DIR };
static bool fault_any = true;
static enum fault_kind fault_only;
static enum fault_kind fault_fired_kind;

static bool fault_hit_kind(enum fault_kind kind)
{
    if (!fault_any && kind != fault_only) return false;
    if (fault_countdown > 0 && --fault_countdown == 0) {
        fault_fired = true;
        fault_fired_kind = kind;
        return true;
    }
    return false;
}

static bool fault_hit(void) { return fault_hit_kind(FK_OTHER); }

static int f_open(hm_env *e, const char *p, int flags, hm_file **out)
{
    (void)e;
    return fault_hit() ? HM_EIO : inner->ops->open(inner, p, flags, out);
}

static int f_pread(hm_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    return fault_hit() ? HM_EIO : inner->ops->pread(f, buf, len, off, got);
}

static int f_pwrite(hm_file *f, const void *buf, size_t len, uint64_t off)
{
    return fault_hit() ? HM_EIO : inner->ops->pwrite(f, buf, len, off);
}

static int f_sync(hm_file *f)
{
    return fault_hit_kind(FK_SYNC) ? HM_EIO : inner->ops->sync(f);
}

static int f_size(hm_file *f, uint64_t *out)
{
    return fault_hit() ? HM_EIO : inner->ops->size(f, out);
}

static int f_rename(hm_env *e, const char *from, const char *to)
{
    (void)e;
    return fault_hit() ? HM_EIO : inner->ops->rename(inner, from, to);
}

static int f_mkdir(hm_env *e, const char *p)
{
    (void)e;
    return fault_hit() ? HM_EIO : inner->ops->mkdir(inner, p);
}

static int f_sync_dir(hm_env *e, const char *p)
{
    (void)e;
    return fault_hit_kind(FK_SYNC_DIR) ? HM_EIO : inner->ops->sync_dir(inner, p);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/hm_shard_faults_XXXXXX", tmp != NULL ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(disk, sizeof disk, "%s/disk0", root);
    ck_assert_int_eq(hm_env_posix_new(&inner), 0);
    /* Same binding state, some calls intercepted. */
    fault_ops = *inner->ops;
    fault_ops.open = f_open;
    fault_ops.pread = f_pread;
    fault_ops.pwrite = f_pwrite;
    fault_ops.sync = f_sync;
    fault_ops.size = f_size;
    fault_ops.rename = f_rename;
    fault_ops.mkdir = f_mkdir;
    fault_ops.sync_dir = f_sync_dir;
    fault_ops.sync_fs = NULL; /* directory syncs must meet the faults too */
    fault_env.ops = &fault_ops;
    fault_env.impl = inner->impl;
    fault_countdown = 0;
    fault_any = true;
}

static void teardown(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    hm_env_posix_free(inner);
}

static void blob_of(uint8_t id[HM_BLOB_ID_BYTES], unsigned n)
{
    for (unsigned i = 0; i < HM_BLOB_ID_BYTES; i++) id[i] = (uint8_t)(n * 19 + i);
}

static int count_cb(void *arg, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(int *)arg)++;
    return 0;
}

static int tmp_entries(void)
{
    char path[400];
    int n = 0;
    snprintf(path, sizeof path, "%s/tmp", disk);
    ck_assert_int_eq(inner->ops->list_dir(inner, path, count_cb, &n), 0);
    return n;
}

static uint64_t files_seen;

static int files_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)sb;
    (void)ftw;
    if (flag == FTW_F) files_seen++;
    return 0;
}

/* Shard files on the disk, counted by walking it (the store keeps no
 * count). */
static uint64_t shards_on_disk(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/shards", disk);
    files_seen = 0;
    ck_assert_int_eq(nftw(path, files_cb, 16, FTW_PHYS), 0);
    return files_seen;
}

static int try_put(hm_shard_store *s, unsigned blob, const uint8_t *data, size_t len)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h = HM__SHARD_HEADER__INIT;
    hm_shard_store_put *p = NULL;
    blob_of(id, blob);
    h.has_blob_id = true;
    h.blob_id.data = id;
    h.blob_id.len = HM_BLOB_ID_BYTES;
    h.has_shard_index = true;
    h.shard_index = 0;
    int rc = hm_shard_store_put_open(s, &h, &p);
    if (rc != 0) return rc;
    for (size_t off = 0; off < len; off += 5000) {
        size_t n = len - off < 5000 ? len - off : 5000;
        rc = hm_shard_store_put_write(p, data + off, n);
        if (rc != 0) {
            /* The put is poisoned: later writes and the commit fail too. */
            ck_assert_int_eq(hm_shard_store_put_write(p, data, 1), HM_EPOISONED);
            hm_shard_store_put_abort(p);
            return rc;
        }
    }
    return hm_shard_store_put_commit(p, NULL, NULL);
}

/* A put that meets a failing disk call at any point fails with that error
 * (HM_EIO; a failed sync or sync_dir HM_EUNAVAIL instead) and leaves no
 * shard and no temporary file.  Any of them fails the disk: the next put
 * is refused until the store is reopened (a restart), and after that the
 * first fault-free put of the same shard succeeds. */
START_TEST(test_put_faults)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader *st = NULL;
    const size_t len = 2 * B + 5;
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i ^ (i >> 8));
    ck_assert_int_eq(test_store_open(&s, &fault_env, disk), 0);
    blob_of(id, 1);
    long n;
    for (n = 1; n < 1000; n++) {
        fault_fired = false;
        fault_countdown = n;
        int rc = try_put(s, 1, data, len);
        fault_countdown = 0;
        if (!fault_fired) {
            ck_assert_int_eq(rc, 0);
            break;
        }
        bool sync_fault = fault_fired_kind != FK_OTHER;
        ck_assert_msg(rc == (sync_fault ? HM_EUNAVAIL : HM_EIO), "fault %ld: put returned %s",
                      n, hm_err_name(rc));
        ck_assert_int_eq(hm_shard_store_stat(s, id, 0, &st), HM_ENOENT);
        ck_assert_int_eq(tmp_entries(), 0);
        ck_assert_uint_eq(shards_on_disk(), 0);
        ck_assert(hm_shard_store_failed(s));
        ck_assert(!hm_shard_store_missing(s));
        ck_assert_int_eq(try_put(s, 1, data, len), HM_EUNAVAIL);
        hm_shard_store_close(s); /* a restart */
        ck_assert_int_eq(test_store_open(&s, &fault_env, disk), 0);
    }
    ck_assert_int_gt(n, 8); /* open, writes, syncs, mkdirs, rename, dir syncs */
    ck_assert_uint_eq(shards_on_disk(), 1);
    ck_assert_int_eq(hm_shard_store_stat(s, id, 0, &st), 0);
    ck_assert_uint_eq(st->data_length, len);
    hm__shard_header__free_unpacked(st, NULL);
    hm_shard_store_close(s);
    /* A reopen agrees with what the store said. */
    ck_assert_int_eq(test_store_open(&s, &fault_env, disk), 0);
    ck_assert_uint_eq(shards_on_disk(), 1);
    hm_shard_store_close(s);
    free(data);
}
END_TEST

/* After a failed sync, the disk refuses writes: the put or delete whose
 * fsync failed returns HM_EUNAVAIL, so does every later put and delete
 * (even though later syncs would report success), while shards already
 * on the disk are still read; a reopen (a restart) takes writes again.
 * Checked for the file fsync, the fsync of a new fan-out directory's
 * parent, the directory fsync after the rename, and the directory fsync
 * of a delete. */
START_TEST(test_failed_sync_fails_disk)
{
    const size_t len = B + 3;
    uint8_t *data = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 7);
    struct {
        enum fault_kind kind;
        long nth;
        bool on_delete;
    } cases[] = {
        {FK_SYNC, 1, false},     /* the shard file */
        {FK_SYNC_DIR, 1, false}, /* shards/ after creating shards/xx */
        {FK_SYNC_DIR, 2, false}, /* shards/xx after creating shards/xx/yy */
        {FK_SYNC_DIR, 3, false}, /* shards/xx/yy after the rename */
        {FK_SYNC_DIR, 1, true},  /* shards/xx/yy after an unlink */
    };
    uint8_t kept[HM_BLOB_ID_BYTES];
    blob_of(kept, 99);
    for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        hm_shard_store *s = NULL;
        Hm__ShardHeader *st = NULL;
        unsigned blob = 10 + c; /* a fresh fan-out directory each time */
        uint8_t id[HM_BLOB_ID_BYTES];
        blob_of(id, blob);
        ck_assert_int_eq(test_store_open(&s, &fault_env, disk), 0);
        if (c == 0) ck_assert_int_eq(try_put(s, 99, data, len), 0);
        if (cases[c].on_delete) ck_assert_int_eq(try_put(s, blob, data, len), 0);
        fault_any = false;
        fault_only = cases[c].kind;
        fault_fired = false;
        fault_countdown = cases[c].nth;
        int rc = cases[c].on_delete ? hm_shard_store_delete(s, id, 0)
                                    : try_put(s, blob, data, len);
        fault_countdown = 0;
        fault_any = true;
        ck_assert_msg(fault_fired, "case %u: the fault was not reached", c);
        ck_assert_msg(rc == HM_EUNAVAIL, "case %u: %s", c, hm_err_name(rc));
        ck_assert(hm_shard_store_failed(s));
        if (!cases[c].on_delete) ck_assert_int_eq(hm_shard_store_stat(s, id, 0, &st), HM_ENOENT);
        /* refused although the disk now syncs fine */
        ck_assert_int_eq(try_put(s, 50 + c, data, len), HM_EUNAVAIL);
        ck_assert_int_eq(hm_shard_store_delete(s, kept, 0), HM_EUNAVAIL);
        ck_assert_int_eq(tmp_entries(), 0);
        /* reads go on */
        hm_shard_store_get *g = NULL;
        uint64_t total = 0;
        size_t got = 0, done = 0;
        ck_assert_int_eq(hm_shard_store_get_open(s, kept, 0, 0, UINT64_MAX, &g, &total, NULL), 0);
        for (;;) {
            ck_assert_int_eq(hm_shard_store_get_read(g, back + done, len - done + 1, &got), 0);
            if (got == 0) break;
            done += got;
        }
        hm_shard_store_get_close(g);
        ck_assert_uint_eq(done, len);
        ck_assert(memcmp(back, data, len) == 0);
        hm_shard_store_close(s);
        /* a restart takes writes again */
        ck_assert_int_eq(test_store_open(&s, &fault_env, disk), 0);
        ck_assert(!hm_shard_store_failed(s));
        ck_assert_int_eq(try_put(s, 50 + c, data, len), 0);
        hm_shard_store_close(s);
    }
    free(back);
    free(data);
}
END_TEST

/* A get that meets a failing disk call returns the error and no wrong
 * bytes, and the disk is failed (gets still go on); once no fault is
 * reached the data comes back whole. */
START_TEST(test_get_faults)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    const size_t len = 3 * B + 1;
    uint8_t *data = malloc(len), *back = malloc(len + 1);
    for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 13);
    ck_assert_int_eq(test_store_open(&s, &fault_env, disk), 0);
    ck_assert_int_eq(try_put(s, 2, data, len), 0);
    blob_of(id, 2);
    long n;
    for (n = 1; n < 1000; n++) {
        hm_shard_store_get *g = NULL;
        uint64_t total = 0;
        size_t done = 0, got = 0;
        fault_fired = false;
        fault_countdown = n;
        int rc = hm_shard_store_get_open(s, id, 0, 0, UINT64_MAX, &g, &total, NULL);
        if (rc == 0) {
            for (;;) {
                rc = hm_shard_store_get_read(g, back + done, 1000, &got);
                if (rc != 0 || got == 0) break;
                done += got;
            }
            hm_shard_store_get_close(g);
        }
        fault_countdown = 0;
        ck_assert(memcmp(back, data, done) == 0);
        if (!fault_fired) {
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(done, len);
            break;
        }
        ck_assert_int_eq(rc, HM_EIO);
        ck_assert_uint_lt(done, len);
        ck_assert(hm_shard_store_failed(s));
    }
    ck_assert_int_gt(n, 5);
    hm_shard_store_close(s);
    free(back);
    free(data);
}
END_TEST

/* Formatting and opening a fresh store fails cleanly at every disk fault
 * (a format cut short can be formatted again), and a later fault-free open
 * succeeds with one disk id. */
START_TEST(test_open_faults)
{
    hm_shard_store *s = NULL;
    long n;
    for (n = 1; n < 1000; n++) {
        fault_fired = false;
        fault_countdown = n;
        int rc = test_store_open(&s, &fault_env, disk);
        fault_countdown = 0;
        if (!fault_fired) {
            ck_assert_int_eq(rc, 0);
            break;
        }
        ck_assert_int_ne(rc, 0);
    }
    ck_assert_int_gt(n, 3);
    char id[40];
    snprintf(id, sizeof id, "%s", hm_shard_store_disk_id(s));
    hm_shard_store_close(s);
    ck_assert_int_eq(test_store_open(&s, &fault_env, disk), 0);
    ck_assert_str_eq(hm_shard_store_disk_id(s), id);
    hm_shard_store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shard_faults");
    TCase *tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_put_faults);
    tcase_add_test(tc, test_failed_sync_fails_disk);
    tcase_add_test(tc, test_get_faults);
    tcase_add_test(tc, test_open_faults);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
