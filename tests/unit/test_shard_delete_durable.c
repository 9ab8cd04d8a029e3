/* test_shard_delete_durable.c - a shard delete that reports "absent" has
 * made the absence durable.
 *
 * gc forgets a blob once every shard delete answers 0 or HM_ENOENT.  An
 * unlink whose directory fsync failed (or that a kill interrupted before
 * the fsync) is gone from the page cache but not from the disk: a later
 * delete finds no file, and when that HM_ENOENT came back without a
 * directory fsync, a power loss brought the file back with no gc item left
 * to name it, and the space leaked for good (the simulator's gc audit:
 * "shard of blob ... is orphaned").  A wrapper around the production env
 * tracks which directories hold an unlink not yet followed by a successful
 * fsync of that directory.
 */
#include <check.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_disk_util.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_shard_store.h"

#define DIRTY_MAX 16

static hm_env *inner;
static hm_env wrap_env;
static struct hm_env_ops wrap_ops;
static char root[256];
static char disk[300];
static char dirty[DIRTY_MAX][512]; /* dirs with an unlink not yet synced */
static int n_dirty;
static int fail_sync_dir;          /* fail this many sync_dir calls */

static void parent_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash != NULL) *slash = '\0';
}

static int w_unlink(hm_env *e, const char *p)
{
    (void)e;
    int rc = inner->ops->unlink(inner, p);
    if (rc == 0 && n_dirty < DIRTY_MAX) parent_of(p, dirty[n_dirty++], sizeof dirty[0]);
    return rc;
}

static int w_sync_dir(hm_env *e, const char *p)
{
    (void)e;
    if (fail_sync_dir > 0) {
        fail_sync_dir--;
        return HM_EIO;
    }
    int rc = inner->ops->sync_dir(inner, p);
    if (rc != 0) return rc;
    for (int i = 0; i < n_dirty;)
        if (strcmp(dirty[i], p) == 0) memmove(dirty[i], dirty[--n_dirty], sizeof dirty[0]);
        else i++;
    return 0;
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
    snprintf(root, sizeof root, "%s/hm_shard_del_XXXXXX", tmp != NULL ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(disk, sizeof disk, "%s/disk0", root);
    ck_assert_int_eq(hm_env_posix_new(&inner), 0);
    wrap_ops = *inner->ops;
    wrap_ops.unlink = w_unlink;
    wrap_ops.sync_dir = w_sync_dir;
    wrap_env.ops = &wrap_ops;
    wrap_env.impl = inner->impl;
    n_dirty = 0;
    fail_sync_dir = 0;
}

static void teardown(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    hm_env_posix_free(inner);
}

static void put_shard(hm_shard_store *s, const uint8_t id[HM_BLOB_ID_BYTES])
{
    Hm__ShardHeader h = HM__SHARD_HEADER__INIT;
    hm_shard_store_put *p = NULL;
    h.has_blob_id = true;
    h.blob_id.data = (uint8_t *)id;
    h.blob_id.len = HM_BLOB_ID_BYTES;
    h.has_shard_index = true;
    h.shard_index = 0;
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), 0);
    ck_assert_int_eq(hm_shard_store_put_write(p, "payload", 7), 0);
    ck_assert_int_eq(hm_shard_store_put_commit(p, NULL, NULL), 0);
}

/* A delete whose directory fsync failed is retried after a restart (the
 * file is already gone from the cache): the HM_ENOENT it answers comes
 * only after the directory was synced, so gc may forget the blob. */
START_TEST(test_enoent_after_failed_dir_sync_is_durable)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    for (unsigned i = 0; i < HM_BLOB_ID_BYTES; i++) id[i] = (uint8_t)(0x40 + i);
    ck_assert_int_eq(test_store_open(&s, &wrap_env, disk), 0);
    put_shard(s, id);
    ck_assert_int_eq(n_dirty, 0);
    fail_sync_dir = 1;
    ck_assert_int_ne(hm_shard_store_delete(s, id, 0), 0);
    ck_assert_int_eq(n_dirty, 1); /* the unlink happened, its fsync did not */
    hm_shard_store_close(s);
    ck_assert_int_eq(test_store_open(&s, &wrap_env, disk), 0);
    ck_assert_int_eq(hm_shard_store_delete(s, id, 0), HM_ENOENT);
    ck_assert_msg(n_dirty == 0, "HM_ENOENT answered while the unlink is not durable");
    hm_shard_store_close(s);
}
END_TEST

/* When the directory fsync fails again, the retry answers the error, not
 * HM_ENOENT: gc keeps the item and tries later. */
START_TEST(test_enoent_not_answered_while_dir_sync_fails)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    for (unsigned i = 0; i < HM_BLOB_ID_BYTES; i++) id[i] = (uint8_t)(0x80 + i);
    ck_assert_int_eq(test_store_open(&s, &wrap_env, disk), 0);
    put_shard(s, id);
    fail_sync_dir = 1;
    ck_assert_int_ne(hm_shard_store_delete(s, id, 0), 0);
    hm_shard_store_close(s);
    ck_assert_int_eq(test_store_open(&s, &wrap_env, disk), 0);
    fail_sync_dir = 1;
    int rc = hm_shard_store_delete(s, id, 0);
    ck_assert_msg(rc != 0 && rc != HM_ENOENT, "delete answered %s", hm_err_name(rc));
    /* A failed fsync fails the disk until restart: the next try is after one. */
    ck_assert_int_eq(hm_shard_store_delete(s, id, 0), HM_EUNAVAIL);
    hm_shard_store_close(s);
    ck_assert_int_eq(test_store_open(&s, &wrap_env, disk), 0);
    ck_assert_int_eq(hm_shard_store_delete(s, id, 0), HM_ENOENT);
    ck_assert_int_eq(n_dirty, 0);
    hm_shard_store_close(s);
}
END_TEST

/* A plain delete still answers 0 then HM_ENOENT. */
START_TEST(test_delete_then_absent)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    for (unsigned i = 0; i < HM_BLOB_ID_BYTES; i++) id[i] = (uint8_t)(0xc0 + i);
    ck_assert_int_eq(test_store_open(&s, &wrap_env, disk), 0);
    put_shard(s, id);
    ck_assert_int_eq(hm_shard_store_delete(s, id, 0), 0);
    ck_assert_int_eq(n_dirty, 0);
    ck_assert_int_eq(hm_shard_store_delete(s, id, 0), HM_ENOENT);
    hm_shard_store_close(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("shard_delete_durable");
    TCase *tc = tcase_create("delete");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_enoent_after_failed_dir_sync_is_durable);
    tcase_add_test(tc, test_enoent_not_answered_while_dir_sync_fails);
    tcase_add_test(tc, test_delete_then_absent);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
