/* test_gw_gc.c - the object service's collector (hamster-gw/hm_objsvc.c
 * hm_objsvc_gc_run): one collector per store through the gc lease, and the
 * expiry of abandoned multipart uploads, whose parts' shards gc frees.
 * Against an in-process metadata node and two in-process shard stores. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_node.h"
#include "hm_objsvc.h"
#include "hm_shard_store.h"
#include "test_gw_objsvc_fixture.h"

static void setup(void) { objsvc_fixture_setup("/tmp/hm-gc-XXXXXX"); }

/* A second service over the same metadata and disks (another gateway). */
static hm_objsvc *second_service(int64_t mpu_expiry_ms)
{
    hm_objsvc_config cfg = {
        .env = env,
        .meta = meta,
        .shards = shards,
        .shard_count = DISKS,
        .gc_grace_ms = 0,
        .intent_ttl_ms = HM_INTENT_TTL_MS,
        .mpu_expiry_ms = mpu_expiry_ms,
        .gc_lease_ms = 20,
    };
    hm_objsvc *s = NULL;
    ck_assert_int_eq(hm_objsvc_new(&s, &cfg), 0);
    return s;
}

/* Create an upload of key with one 1000-byte part; returns the upload id. */
static char *upload_with_part(hm_objsvc *s, const char *key)
{
    static char id[HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1];
    hm_objsvc_upload_args a = {.bucket = "bkt", .key = key};
    ck_assert_int_eq(hm_objsvc_mpu_create(s, "t", &a, id), 0);
    hm_objsvc_part_args pa = {
        .bucket = "bkt", .key = key, .upload_id = id, .part_number = 1, .size = 1000};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_part_begin(s, "t", &pa, &p), 0);
    uint8_t *data = pattern(1000, 3);
    ck_assert_int_eq(hm_objsvc_put_write(p, data, 1000), 0);
    free(data);
    ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, NULL), 0);
    return id;
}

static int list_parts(hm_objsvc *s, const char *key, const char *uid)
{
    Hm__MetaResponse *r = NULL;
    int rc = hm_objsvc_mpu_list_parts(s, "t", "bkt", key, uid, 0, 0, &r);
    if (rc == 0) hm__meta_response__free_unpacked(r, NULL);
    return rc;
}

/* Of two services over one store, the first to run gc holds the lease and
 * collects; the other's runs do nothing until the first stops renewing and
 * its lease runs out. */
START_TEST(test_one_collector)
{
    hm_objsvc *other = second_service(0);
    size_t n = 0;
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &n), 0);
    ck_assert(hm_objsvc_gc_is_collector(svc));
    /* a deleted object's shard: only the collector frees it */
    hm_objsvc_put *p = NULL;
    hm_objsvc_put_args a = {.bucket = "bkt", .key = "big", .size = 10000};
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), 0);
    uint8_t *data = pattern(10000, 1);
    ck_assert_int_eq(hm_objsvc_put_write(p, data, 10000), 0);
    free(data);
    ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, NULL), 0);
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB);
    ck_assert_int_eq(hm_objsvc_delete(svc, "t", "bkt", "big"), 0);
    usleep(2000);
    ck_assert_int_eq(hm_objsvc_gc_run(other, &n), 0);
    ck_assert(!hm_objsvc_gc_is_collector(other));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(shard_files(), 0);
    hm_objsvc_free(other);
}
END_TEST

/* A collector whose lease ran out (it stopped: a dead gateway) is replaced
 * by the next service that runs gc. */
START_TEST(test_lease_taken_over)
{
    hm_objsvc_config cfg = {
        .env = env,
        .meta = meta,
        .shards = shards,
        .shard_count = DISKS,
        .gc_grace_ms = 0,
        .gc_lease_ms = 50,
    };
    hm_objsvc *a = NULL, *b = NULL;
    ck_assert_int_eq(hm_objsvc_new(&a, &cfg), 0);
    ck_assert_int_eq(hm_objsvc_new(&b, &cfg), 0);
    ck_assert_int_eq(hm_objsvc_gc_run(a, NULL), 0);
    ck_assert(hm_objsvc_gc_is_collector(a));
    ck_assert_int_eq(hm_objsvc_gc_run(b, NULL), 0);
    ck_assert(!hm_objsvc_gc_is_collector(b));
    usleep(80 * 1000); /* a stops renewing */
    ck_assert_int_eq(hm_objsvc_gc_run(b, NULL), 0);
    ck_assert(hm_objsvc_gc_is_collector(b));
    hm_objsvc_free(a);
    hm_objsvc_free(b);
}
END_TEST

/* An upload older than mpu_expiry_ms is aborted by the collector and its
 * part's shard freed; a younger one, and every one when expiry is off,
 * stays. */
START_TEST(test_abandoned_upload_expires)
{
    hm_objsvc *quick = second_service(1000);
    char *old = strdup(upload_with_part(quick, "abandoned"));
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB);
    usleep(1100 * 1000);
    char *young = strdup(upload_with_part(quick, "fresh"));
    ck_assert_int_eq(shard_files(), 2 * SHARDS_PER_BLOB);
    size_t n = 0;
    ck_assert_int_eq(hm_objsvc_gc_run(quick, &n), 0);
    ck_assert(hm_objsvc_gc_is_collector(quick));
    ck_assert_int_eq(list_parts(quick, "abandoned", old), HM_ENOUPLOAD);
    ck_assert_int_eq(list_parts(quick, "fresh", young), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB);
    hm_objsvc_free(quick);

    /* expiry off (< 0): nothing is aborted, however old */
    hm_objsvc *never = second_service(-1);
    usleep(60 * 1000);
    ck_assert_int_eq(hm_objsvc_gc_run(never, &n), 0);
    ck_assert(hm_objsvc_gc_is_collector(never)); /* quick's lease ran out */
    ck_assert_int_eq(list_parts(never, "fresh", young), 0);
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB);
    hm_objsvc_free(never);
    /* the default (7 days) keeps it too */
    usleep(60 * 1000);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &n), 0);
    ck_assert(hm_objsvc_gc_is_collector(svc));
    ck_assert_int_eq(list_parts(svc, "fresh", young), 0);
    free(old);
    free(young);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_gc");
    TCase *tc = tcase_create("gc");
    tcase_add_checked_fixture(tc, setup, objsvc_fixture_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_one_collector);
    tcase_add_test(tc, test_lease_taken_over);
    tcase_add_test(tc, test_abandoned_upload_expires);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
