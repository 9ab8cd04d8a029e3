/* test_gw_wrap.c - the gateway's per-disk wrapper (hamster-gw/hm_gw_ops.c)
 * around a shard store whose disk dies under it at run time.
 *
 * The wrapper takes over every op that is handed the api itself, so each
 * must reach the inner binding with the inner api: an op left to the
 * inner ops table would hand the store the wrapper (a stat once did, and
 * crashed).  Each test here calls every wrapped op, through the wrapper,
 * on a healthy disk, on one whose directory was removed, on one whose
 * contents were deleted, on one that answers EIO and on one that is full;
 * the disk's state as readiness and metrics name it is checked too.
 */
#include <check.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_env.h"
#include "hm_err.h"
#include "hm_gw_int.h"
#include "hm_shard_store.h"
#include "test_disk_util.h"

#define LEN (300u * 1024u + 17u) /* a few blocks and a short one */

static char root[256], disk[300];
static hm_env *inner;
static hm_env fault_env;
static struct hm_env_ops fault_ops;
static atomic_int fail_pwrite;      /* the error every pwrite returns, 0: none */
static atomic_int fail_pread;
static hm_shard_store *store;
static hm_shard_api *local;
static hm_gw *gw;
static hm_shard_api *wrap;          /* gw->shards[0] */
static uint8_t data[LEN];

static int f_pwrite(hm_file *f, const void *buf, size_t len, uint64_t off)
{
    int e = atomic_load(&fail_pwrite);
    if (e != 0) return e;
    return inner->ops->pwrite(f, buf, len, off);
}

static int f_pread(hm_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    int e = atomic_load(&fail_pread);
    if (e != 0) return e;
    return inner->ops->pread(f, buf, len, off, got);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* rm -rf path; with keep_top the directory itself stays (its contents go). */
static void rm_rf(const char *path, bool keep_top)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (keep_top) ck_assert_int_eq(mkdir(path, 0700), 0);
}

static void setup(void)
{
    snprintf(root, sizeof root, "%s/hm-gw-wrap-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(disk, sizeof disk, "%s/disk0", root);
    ck_assert_int_eq(hm_env_posix_new(&inner), 0);
    fault_ops = *inner->ops;
    fault_ops.pwrite = f_pwrite;
    fault_ops.pread = f_pread;
    fault_env.ops = &fault_ops;
    fault_env.impl = inner->impl;
    atomic_store(&fail_pwrite, 0);
    atomic_store(&fail_pread, 0);
    ck_assert_int_eq(test_store_open(&store, &fault_env, disk), 0);
    ck_assert_int_eq(hm_shard_api_local_new(&local, store), 0);
    for (size_t i = 0; i < LEN; i++) data[i] = (uint8_t)(i * 31 + (i >> 9));
    gw = calloc(1, sizeof *gw);
    ck_assert_ptr_nonnull(gw);
    static hm_shard_api *shards[1];
    static const char *paths[1];
    shards[0] = local;
    paths[0] = disk;
    gw->cfg.env = &fault_env;
    gw->cfg.shards = shards;
    gw->cfg.shard_count = 1;
    gw->cfg.disk_paths = paths;
    ck_assert_int_eq(gw_stats_new(gw), 0);
    wrap = gw->shards[0];
}

static void teardown(void)
{
    gw_stats_free(gw);
    free(gw);
    local->ops->free(local);
    hm_shard_store_close(store);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    hm_env_posix_free(inner);
}

static void blob_of(uint8_t id[HM_BLOB_ID_BYTES], unsigned n)
{
    memset(id, 0, HM_BLOB_ID_BYTES);
    id[0] = (uint8_t)(n * 37);
    id[1] = (uint8_t)n;
    id[15] = 0x5a;
}

static void header_of(Hm__ShardHeader *h, uint8_t id[HM_BLOB_ID_BYTES])
{
    hm__shard_header__init(h);
    h->has_blob_id = true;
    h->blob_id.data = id;
    h->blob_id.len = HM_BLOB_ID_BYTES;
    h->has_shard_index = true;
    h->shard_index = 0;
}

/* A whole put through the wrapper: its result. */
static int put_blob(unsigned n)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    blob_of(id, n);
    header_of(&h, id);
    hm_shard_put *p = NULL;
    int rc = wrap->ops->put_open(wrap, &h, &p);
    if (rc != 0) return rc;
    rc = wrap->ops->put_write(p, data, LEN);
    if (rc != 0) {
        wrap->ops->put_abort(p);
        return rc;
    }
    Hm__ShardHeader seal = HM__SHARD_HEADER__INIT;
    rc = wrap->ops->put_seal(p, &seal);
    if (rc != 0) {
        wrap->ops->put_abort(p);
        return rc;
    }
    uint64_t length = 0;
    uint32_t crc = 0;
    rc = wrap->ops->put_commit(p, &length, &crc);
    if (rc == 0) ck_assert_uint_eq(length, LEN);
    return rc;
}

/* Read blob n through the wrapper; 0 only if every byte is right. */
static int get_blob(unsigned n)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    blob_of(id, n);
    hm_shard_get *g = NULL;
    uint64_t total = 0;
    Hm__ShardHeader *hdr = NULL;
    int rc = wrap->ops->get_open(wrap, id, 0, 0, UINT64_MAX, &g, &total, &hdr);
    if (rc != 0) return rc;
    ck_assert_uint_eq(total, LEN);
    ck_assert_uint_eq(hdr->data_length, LEN);
    hm__shard_header__free_unpacked(hdr, NULL);
    static uint8_t back[LEN];
    size_t done = 0;
    while (done < LEN) {
        size_t got = 0;
        rc = wrap->ops->get_read(g, back + done, 4096, &got);
        if (rc != 0) break;
        ck_assert_uint_gt(got, 0);
        done += got;
    }
    wrap->ops->get_close(g);
    if (rc != 0) return rc;
    ck_assert_mem_eq(back, data, LEN); /* never a wrong byte */
    return 0;
}

static int stat_blob(unsigned n)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    blob_of(id, n);
    Hm__ShardHeader *h = NULL;
    int rc = wrap->ops->stat(wrap, id, 0, &h);
    if (rc == 0) {
        ck_assert_uint_eq(h->data_length, LEN);
        hm__shard_header__free_unpacked(h, NULL);
    }
    return rc;
}

static int del_blob(unsigned n)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    blob_of(id, n);
    return wrap->ops->del(wrap, id, 0);
}

static int info_rc(void)
{
    Hm__ShardInfoResp *info = NULL;
    int rc = wrap->ops->info(wrap, &info);
    if (rc == 0) {
        ck_assert_ptr_nonnull(info);
        ck_assert_str_eq(info->disk_id, hm_shard_store_disk_id(store));
        hm__shard_info_resp__free_unpacked(info, NULL);
    }
    return rc;
}

/* Readiness names the disk, its id and its state ("" when it is healthy). */
static void check_ready(const char *state)
{
    char body[2048];
    size_t len = 0;
    bool ready = gw_ready_report(gw, body, sizeof body, &len);
    ck_assert(ready == (state == NULL));
    if (state == NULL) {
        ck_assert_uint_eq(len, 0);
        return;
    }
    char want[128];
    snprintf(want, sizeof want, "id %s: %s: ", hm_shard_store_disk_id(store), state);
    ck_assert_msg(strstr(body, want) != NULL, "readiness body: %s (want %s)", body, want);
    ck_assert_msg(strstr(body, disk) != NULL, "readiness body without the path: %s", body);
}

/* Every op of a healthy disk reaches the store through the wrapper,
 * stat included, and the disk is healthy and ready. */
START_TEST(test_healthy_every_op)
{
    ck_assert_int_eq(info_rc(), 0);
    ck_assert_str_eq(gw_disk_state_name(info_rc()), "healthy");
    ck_assert_int_eq(put_blob(1), 0);
    ck_assert_int_eq(stat_blob(1), 0);
    ck_assert_int_eq(get_blob(1), 0);
    ck_assert_int_eq(stat_blob(2), HM_ENOENT);
    ck_assert_int_eq(get_blob(2), HM_ENOENT);
    ck_assert_int_eq(del_blob(1), 0);
    ck_assert_int_eq(stat_blob(1), HM_ENOENT);
    check_ready(NULL);
    char id[40];
    gw_shard_disk_id(gw, 0, id, sizeof id);
    ck_assert_str_eq(id, hm_shard_store_disk_id(store));
}
END_TEST

/* A disk removed (or emptied) under an open store, with a put and a get
 * stream open on it: every op answers an error or correct bytes, never a
 * crash; the disk is missing from then on (info HM_ENOENT, readiness and
 * the state name say so) and nothing is re-created in its directory. */
static void lose_disk(bool keep_top)
{
    ck_assert_int_eq(put_blob(1), 0);
    ck_assert_int_eq(info_rc(), 0); /* the wrapper learns the disk id */
    uint8_t id3[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    blob_of(id3, 3);
    header_of(&h, id3);
    hm_shard_put *p = NULL;
    ck_assert_int_eq(wrap->ops->put_open(wrap, &h, &p), 0);
    ck_assert_int_eq(wrap->ops->put_write(p, data, 1000), 0);
    uint8_t id1[HM_BLOB_ID_BYTES];
    blob_of(id1, 1);
    hm_shard_get *g = NULL;
    uint64_t total = 0;
    ck_assert_int_eq(wrap->ops->get_open(wrap, id1, 0, 0, UINT64_MAX, &g, &total, NULL), 0);

    rm_rf(disk, keep_top);

    /* The open streams: the get's file is still open, so its bytes are
     * either right or an error; the put cannot land. */
    static uint8_t back[LEN];
    size_t done = 0, got = 0;
    int rc = 0;
    while (done < LEN && (rc = wrap->ops->get_read(g, back + done, 65536, &got)) == 0 && got > 0)
        done += got;
    ck_assert_mem_eq(back, data, done);
    wrap->ops->get_close(g);
    (void)wrap->ops->put_write(p, data + 1000, LEN - 1000);
    ck_assert_int_ne(wrap->ops->put_commit(p, NULL, NULL), 0);

    /* Every op that takes the api, and the state. */
    ck_assert_int_eq(stat_blob(1), HM_EUNAVAIL);
    ck_assert_int_eq(info_rc(), HM_ENOENT);
    ck_assert_str_eq(gw_disk_state_name(info_rc()), "missing");
    ck_assert(hm_shard_store_missing(store));
    ck_assert(hm_shard_store_failed(store));
    ck_assert_int_eq(stat_blob(1), HM_EUNAVAIL);
    ck_assert_int_eq(get_blob(1), HM_EUNAVAIL);
    ck_assert_int_eq(put_blob(4), HM_EUNAVAIL);
    ck_assert_int_eq(del_blob(1), HM_EUNAVAIL);
    check_ready("missing");
    char id[40];
    gw_shard_disk_id(gw, 0, id, sizeof id);
    ck_assert_str_eq(id, hm_shard_store_disk_id(store));

    /* Nothing was re-created: the disk stays gone (or empty). */
    struct stat st;
    if (keep_top) {
        char sub[400];
        snprintf(sub, sizeof sub, "%s/shards", disk);
        ck_assert_int_ne(stat(sub, &st), 0);
        snprintf(sub, sizeof sub, "%s/tmp", disk);
        ck_assert_int_ne(stat(sub, &st), 0);
    } else {
        ck_assert_int_ne(stat(disk, &st), 0);
    }
}

START_TEST(test_removed_dir_every_op) { lose_disk(false); }
END_TEST

START_TEST(test_emptied_dir_every_op) { lose_disk(true); }
END_TEST

/* A disk removed before anything touched it is found missing by the first
 * op that takes the api: stat first, the op that once crashed. */
START_TEST(test_removed_dir_stat_first)
{
    ck_assert_int_eq(put_blob(1), 0);
    rm_rf(disk, false);
    ck_assert_int_eq(stat_blob(1), HM_EUNAVAIL);
    ck_assert(hm_shard_store_missing(store));
    ck_assert_int_eq(info_rc(), HM_ENOENT);
}
END_TEST

/* EIO from a write fails the disk until the store is reopened: that put
 * fails with it and every later one is refused (HM_EUNAVAIL), info says
 * failed, and
 * shards already there still read back whole; EIO from a read fails it
 * too.  A reopen (a restart) serves it again. */
START_TEST(test_eio_fails_disk)
{
    ck_assert_int_eq(put_blob(1), 0);
    atomic_store(&fail_pwrite, HM_EIO);
    ck_assert_int_eq(put_blob(2), HM_EIO);
    atomic_store(&fail_pwrite, 0);
    ck_assert(hm_shard_store_failed(store));
    ck_assert(!hm_shard_store_missing(store));
    ck_assert_int_eq(put_blob(3), HM_EUNAVAIL);
    ck_assert_int_eq(del_blob(1), HM_EUNAVAIL);
    ck_assert_int_eq(info_rc(), HM_EUNAVAIL);
    ck_assert_str_eq(gw_disk_state_name(info_rc()), "failed");
    check_ready("failed");
    ck_assert_int_eq(get_blob(1), 0);
    ck_assert_int_eq(stat_blob(1), 0);
    ck_assert_int_eq(stat_blob(2), HM_ENOENT);

    /* a restart */
    local->ops->free(local);
    hm_shard_store_close(store);
    ck_assert_int_eq(test_store_open(&store, &fault_env, disk), 0);
    ck_assert_int_eq(hm_shard_api_local_new(&local, store), 0);
    gw->cfg.shards[0] = local;
    gw_stats_free(gw);
    ck_assert_int_eq(gw_stats_new(gw), 0);
    wrap = gw->shards[0];
    ck_assert_int_eq(info_rc(), 0);
    ck_assert_int_eq(put_blob(2), 0);

    atomic_store(&fail_pread, HM_EIO);
    ck_assert_int_ne(get_blob(2), 0);
    atomic_store(&fail_pread, 0);
    ck_assert(hm_shard_store_failed(store));
    ck_assert_str_eq(gw_disk_state_name(info_rc()), "failed");
    ck_assert_int_eq(get_blob(2), 0);
}
END_TEST

/* A full disk is not a failed one: the put fails with HM_ENOSPC, the disk
 * stays healthy and ready, and takes the next put once there is room. */
START_TEST(test_enospc_is_not_failure)
{
    atomic_store(&fail_pwrite, HM_ENOSPC);
    ck_assert_int_eq(put_blob(1), HM_ENOSPC);
    atomic_store(&fail_pwrite, 0);
    ck_assert(!hm_shard_store_failed(store));
    ck_assert_int_eq(info_rc(), 0);
    check_ready(NULL);
    ck_assert_int_eq(stat_blob(1), HM_ENOENT);
    ck_assert_int_eq(put_blob(1), 0);
    ck_assert_int_eq(get_blob(1), 0);
}
END_TEST

/* A disk refused at start as missing keeps that state through the
 * wrapper: info HM_ENOENT, every other op HM_EUNAVAIL, its id and reason
 * in readiness. */
START_TEST(test_missing_at_start)
{
    hm_shard_api *m = NULL;
    ck_assert_int_eq(hm_shard_api_missing_new(&m, hm_shard_store_disk_id(store),
                                              "disk directory not found"), 0);
    gw_stats_free(gw);
    gw->cfg.shards[0] = m;
    ck_assert_int_eq(gw_stats_new(gw), 0);
    wrap = gw->shards[0];
    Hm__ShardInfoResp *info = NULL;
    ck_assert_int_eq(wrap->ops->info(wrap, &info), HM_ENOENT);
    ck_assert_str_eq(gw_disk_state_name(HM_ENOENT), "missing");
    ck_assert_int_eq(stat_blob(1), HM_EUNAVAIL);
    ck_assert_int_eq(get_blob(1), HM_EUNAVAIL);
    ck_assert_int_eq(put_blob(1), HM_EUNAVAIL);
    ck_assert_int_eq(del_blob(1), HM_EUNAVAIL);
    check_ready("missing");
    gw_stats_free(gw);
    m->ops->free(m);
    gw->cfg.shards[0] = local;
    ck_assert_int_eq(gw_stats_new(gw), 0);
    wrap = gw->shards[0];
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_wrap");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_healthy_every_op);
    tcase_add_test(t, test_removed_dir_every_op);
    tcase_add_test(t, test_emptied_dir_every_op);
    tcase_add_test(t, test_removed_dir_stat_first);
    tcase_add_test(t, test_eio_fails_disk);
    tcase_add_test(t, test_enospc_is_not_failure);
    tcase_add_test(t, test_missing_at_start);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? 0 : 1;
}
