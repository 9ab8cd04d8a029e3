/* test_disk_label.c - disk labels (v1 and v2 bytes pinned by
 * tests/golden/disk_label_v1.bin and _v2.bin), the explicit format, the
 * checks that refuse a missing, empty, unlabelled, foreign or wrong-slot
 * disk, the store open that creates nothing, and the failed-disk api.
 * With HM_GOLDEN_UPDATE=1 the golden files are written instead of
 * compared. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_disk_label.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_shard_api.h"
#include "hm_shard_store.h"
#include "test_disk_util.h"

#define GOLDEN_CLUSTER "00112233445566778899aabbccddeeff"
#define GOLDEN_DISK "0123456789abcdef0123456789abcdef"
#define OTHER_CLUSTER "ffeeddccbbaa99887766554433221100"

static hm_env *env;
static char root[256];
static char disk[300];

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
    snprintf(root, sizeof root, "%s/hm_disk_label_XXXXXX", tmp != NULL ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(disk, sizeof disk, "%s/disk0", root);
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
}

static void teardown(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    hm_env_posix_free(env);
}

static hm_disk_label golden_label(unsigned version)
{
    hm_disk_label l;
    memset(&l, 0, sizeof l);
    l.format_version = version;
    memcpy(l.disk_id, GOLDEN_DISK, sizeof l.disk_id);
    l.created_ms = 1764892800000; /* 2025-12-05T00:00:00Z */
    l.slot = HM_DISK_SLOT_ANY;
    if (version >= 2) {
        memcpy(l.cluster_id, GOLDEN_CLUSTER, sizeof l.cluster_id);
        l.slot = 3;
    }
    return l;
}

static void golden(const char *name, const uint8_t *buf, size_t len)
{
    const char *gdir = getenv("HM_GOLDEN_DIR");
    ck_assert_msg(gdir != NULL, "HM_GOLDEN_DIR is not set (ctest sets it)");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", gdir, name);
    const char *upd = getenv("HM_GOLDEN_UPDATE");
    if (upd != NULL && strcmp(upd, "1") == 0) {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
        return;
    }
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "missing golden file %s", path);
    uint8_t want[1024];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    ck_assert_msg(n == len, "%s: %zu bytes, golden has %zu", name, len, n);
    ck_assert_msg(memcmp(want, buf, len) == 0, "%s differs from the golden bytes", name);
}

static void write_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static bool path_exists(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* Both versions' bytes are pinned, and each parses back to its fields. */
START_TEST(test_golden_bytes)
{
    for (unsigned v = 1; v <= 2; v++) {
        hm_disk_label l = golden_label(v), back;
        uint8_t buf[256];
        size_t len = 0;
        ck_assert_int_eq(hm_disk_label_pack(&l, buf, sizeof buf, &len), 0);
        golden(v == 1 ? "disk_label_v1.bin" : "disk_label_v2.bin", buf, len);
        ck_assert_int_eq(hm_disk_label_parse(buf, len, &back), 0);
        ck_assert_uint_eq(back.format_version, v);
        ck_assert_str_eq(back.disk_id, GOLDEN_DISK);
        ck_assert_int_eq(back.created_ms, l.created_ms);
        ck_assert_str_eq(back.cluster_id, v == 1 ? "" : GOLDEN_CLUSTER);
        ck_assert_uint_eq(back.slot, v == 1 ? HM_DISK_SLOT_ANY : 3u);
    }
}
END_TEST

/* Malformed labels are refused: garbage, a missing version or field, a
 * newer version, bad ids, a v2 label without cluster or slot, a slot past
 * the limit; every prefix of a v2 label parses or fails cleanly. */
START_TEST(test_parse_refusals)
{
    hm_disk_label out;
    ck_assert_int_eq(hm_disk_label_parse("\xff\xff\xff", 3, &out), HM_ECORRUPT);
    ck_assert_int_eq(hm_disk_label_parse("", 0, &out), HM_ECORRUPT); /* no version */
    hm_disk_label l = golden_label(2);
    uint8_t buf[256];
    size_t len = 0;
    l.format_version = 3;
    ck_assert_int_eq(hm_disk_label_pack(&l, buf, sizeof buf, &len), HM_EINVAL);
    /* A label from a newer build: hand-packed. */
    Hm__DiskIdentity id = HM__DISK_IDENTITY__INIT;
    id.has_format_version = true;
    id.format_version = 3;
    id.disk_id = (char *)GOLDEN_DISK;
    len = hm__disk_identity__pack(&id, buf);
    ck_assert_int_eq(hm_disk_label_parse(buf, len, &out), HM_EVERSION);
    id.format_version = 1;
    id.disk_id = (char *)"0123456789ABCDEF0123456789abcdef"; /* upper case */
    len = hm__disk_identity__pack(&id, buf);
    ck_assert_int_eq(hm_disk_label_parse(buf, len, &out), HM_ECORRUPT);
    id.disk_id = (char *)"0123";
    len = hm__disk_identity__pack(&id, buf);
    ck_assert_int_eq(hm_disk_label_parse(buf, len, &out), HM_ECORRUPT);
    id.disk_id = (char *)GOLDEN_DISK;
    id.format_version = 2; /* v2 without cluster and slot */
    len = hm__disk_identity__pack(&id, buf);
    ck_assert_int_eq(hm_disk_label_parse(buf, len, &out), HM_ECORRUPT);
    id.cluster_id = (char *)GOLDEN_CLUSTER; /* still no slot */
    len = hm__disk_identity__pack(&id, buf);
    ck_assert_int_eq(hm_disk_label_parse(buf, len, &out), HM_ECORRUPT);
    id.has_slot = true;
    id.slot = HM_DISK_SLOT_MAX + 1;
    len = hm__disk_identity__pack(&id, buf);
    ck_assert_int_eq(hm_disk_label_parse(buf, len, &out), HM_ECORRUPT);
    id.slot = HM_DISK_SLOT_MAX;
    len = hm__disk_identity__pack(&id, buf);
    ck_assert_int_eq(hm_disk_label_parse(buf, len, &out), 0);
    for (size_t cut = 0; cut < len; cut++) {
        int rc = hm_disk_label_parse(buf, cut, &out);
        ck_assert(rc == HM_ECORRUPT || rc == HM_EVERSION || rc == 0);
    }
    uint8_t big[HM_DISK_LABEL_BYTES_MAX + 1];
    memset(big, 0, sizeof big);
    ck_assert_int_eq(hm_disk_label_parse(big, sizeof big, &out), HM_ECORRUPT);
}
END_TEST

/* Format creates the directory and a v2 label naming cluster and slot,
 * then refuses to format the same disk again, or a directory that holds
 * anything. */
START_TEST(test_format)
{
    hm_disk_label l, back;
    char reason[HM_DISK_REASON_BYTES];
    ck_assert_int_eq(hm_disk_format(env, disk, GOLDEN_CLUSTER, 2, &l, reason, sizeof reason), 0);
    ck_assert(path_exists(disk, "shards") && path_exists(disk, "tmp"));
    ck_assert_int_eq(hm_disk_label_read(env, disk, &back), 0);
    ck_assert_uint_eq(back.format_version, HM_DISK_LABEL_VERSION);
    ck_assert_str_eq(back.cluster_id, GOLDEN_CLUSTER);
    ck_assert_str_eq(back.disk_id, l.disk_id);
    ck_assert_uint_eq(back.slot, 2);
    ck_assert_int_gt(back.created_ms, 0);
    ck_assert_int_eq(hm_disk_format(env, disk, GOLDEN_CLUSTER, 2, NULL, reason, sizeof reason),
                     HM_EEXIST);
    ck_assert_ptr_nonnull(strstr(reason, "already formatted"));
    ck_assert_ptr_nonnull(strstr(reason, l.disk_id));

    char other[400];
    snprintf(other, sizeof other, "%s/full", root);
    ck_assert_int_eq(mkdir(other, 0700), 0);
    write_file(other, "somefile", "x", 1);
    ck_assert_int_eq(hm_disk_format(env, other, GOLDEN_CLUSTER, 0, NULL, reason, sizeof reason),
                     HM_EEXIST);
    ck_assert_ptr_nonnull(strstr(reason, "not empty"));
    ck_assert(!path_exists(other, "hamster-disk"));
    /* Bad arguments. */
    ck_assert_int_eq(hm_disk_format(env, other, "nothex", 0, NULL, reason, sizeof reason),
                     HM_EINVAL);
    ck_assert_int_eq(hm_disk_format(env, other, GOLDEN_CLUSTER, HM_DISK_SLOT_MAX + 1, NULL,
                                    reason, sizeof reason),
                     HM_EINVAL);
}
END_TEST

/* The check names each way a disk can be wrong, and a v1 label (no
 * cluster, no slot) is accepted by any cluster and slot. */
START_TEST(test_check_reasons)
{
    char reason[HM_DISK_REASON_BYTES];
    hm_disk_label l;
    ck_assert_int_eq(hm_disk_check(env, disk, GOLDEN_CLUSTER, 0, &l, reason, sizeof reason),
                     HM_ENOENT);
    ck_assert_ptr_nonnull(strstr(reason, "missing"));
    ck_assert_int_eq(mkdir(disk, 0700), 0);
    ck_assert_int_eq(hm_disk_check(env, disk, GOLDEN_CLUSTER, 0, &l, reason, sizeof reason),
                     HM_ENOENT);
    ck_assert_ptr_nonnull(strstr(reason, "empty"));
    write_file(disk, "stray", "x", 1);
    ck_assert_int_eq(hm_disk_check(env, disk, GOLDEN_CLUSTER, 0, &l, reason, sizeof reason),
                     HM_ENOENT);
    ck_assert_ptr_nonnull(strstr(reason, "unlabelled"));

    char d1[400];
    snprintf(d1, sizeof d1, "%s/d1", root);
    ck_assert_int_eq(hm_disk_format(env, d1, OTHER_CLUSTER, 1, NULL, reason, sizeof reason), 0);
    ck_assert_int_eq(hm_disk_check(env, d1, GOLDEN_CLUSTER, 1, &l, reason, sizeof reason),
                     HM_EPERM);
    ck_assert_ptr_nonnull(strstr(reason, "foreign"));
    ck_assert_ptr_nonnull(strstr(reason, OTHER_CLUSTER));
    ck_assert_int_eq(hm_disk_check(env, d1, OTHER_CLUSTER, 0, &l, reason, sizeof reason),
                     HM_EPERM);
    ck_assert_ptr_nonnull(strstr(reason, "wrong slot"));
    ck_assert_int_eq(hm_disk_check(env, d1, OTHER_CLUSTER, 1, &l, reason, sizeof reason), 0);
    ck_assert_int_eq(hm_disk_check(env, d1, NULL, HM_DISK_SLOT_ANY, &l, reason, sizeof reason),
                     0);

    /* A v1 disk, as stores made before labels v2 are. */
    char v1[400];
    snprintf(v1, sizeof v1, "%s/v1", root);
    ck_assert_int_eq(mkdir(v1, 0700), 0);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/shards", v1);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof sub, "%s/tmp", v1);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    hm_disk_label g = golden_label(1);
    uint8_t buf[256];
    size_t len = 0;
    ck_assert_int_eq(hm_disk_label_pack(&g, buf, sizeof buf, &len), 0);
    write_file(v1, "hamster-disk", buf, len);
    ck_assert_int_eq(hm_disk_check(env, v1, GOLDEN_CLUSTER, 5, &l, reason, sizeof reason), 0);
    ck_assert_str_eq(l.disk_id, GOLDEN_DISK);
    /* A v1 label that does name a cluster must name ours. */
    memcpy(g.cluster_id, OTHER_CLUSTER, sizeof g.cluster_id);
    ck_assert_int_eq(hm_disk_label_pack(&g, buf, sizeof buf, &len), 0);
    write_file(v1, "hamster-disk", buf, len);
    ck_assert_int_eq(hm_disk_check(env, v1, GOLDEN_CLUSTER, 5, &l, reason, sizeof reason),
                     HM_EPERM);
    /* A label that does not parse. */
    write_file(v1, "hamster-disk", "\xff\xff", 2);
    ck_assert_int_eq(hm_disk_check(env, v1, GOLDEN_CLUSTER, 5, &l, reason, sizeof reason),
                     HM_ECORRUPT);
}
END_TEST

/* Opening a store creates nothing: a missing directory stays missing, an
 * empty one stays empty (no label, no shards/ or tmp/), a foreign or
 * wrong-slot disk is refused; a formatted one opens with its label's id. */
START_TEST(test_store_open_creates_nothing)
{
    hm_shard_store *s = NULL;
    char reason[HM_DISK_REASON_BYTES];
    ck_assert_int_eq(hm_shard_store_open(&s, env, disk), HM_ENOENT);
    ck_assert_int_eq(access(disk, F_OK), -1);
    ck_assert_int_eq(mkdir(disk, 0700), 0);
    ck_assert_int_eq(hm_shard_store_open_checked(&s, env, disk, GOLDEN_CLUSTER, 0, reason,
                                                 sizeof reason),
                     HM_ENOENT);
    ck_assert_ptr_nonnull(strstr(reason, "empty"));
    ck_assert(!path_exists(disk, "hamster-disk"));
    ck_assert(!path_exists(disk, "shards"));
    ck_assert(!path_exists(disk, "tmp"));

    hm_disk_label l;
    ck_assert_int_eq(hm_disk_format(env, disk, GOLDEN_CLUSTER, 1, &l, reason, sizeof reason), 0);
    ck_assert_int_eq(hm_shard_store_open_checked(&s, env, disk, OTHER_CLUSTER, 1, reason,
                                                 sizeof reason),
                     HM_EPERM);
    ck_assert_int_eq(hm_shard_store_open_checked(&s, env, disk, GOLDEN_CLUSTER, 0, reason,
                                                 sizeof reason),
                     HM_EPERM);
    ck_assert_int_eq(hm_shard_store_open_checked(&s, env, disk, GOLDEN_CLUSTER, 1, reason,
                                                 sizeof reason),
                     0);
    ck_assert_str_eq(hm_shard_store_disk_id(s), l.disk_id);
    ck_assert_uint_eq(hm_shard_store_label(s)->slot, 1);
    hm_shard_store_close(s);

    /* The helper fixtures use formats once and reopens keep the id. */
    char d2[400];
    snprintf(d2, sizeof d2, "%s/d2", root);
    ck_assert_int_eq(test_store_open(&s, env, d2), 0);
    char id[40];
    snprintf(id, sizeof id, "%s", hm_shard_store_disk_id(s));
    hm_shard_store_close(s);
    ck_assert_int_eq(test_store_open(&s, env, d2), 0);
    ck_assert_str_eq(hm_shard_store_disk_id(s), id);
    hm_shard_store_close(s);
}
END_TEST

/* A failed disk's api answers every call with HM_EUNAVAIL and keeps its
 * id and reason; another api is not mistaken for one. */
START_TEST(test_failed_api)
{
    hm_shard_api *api = NULL;
    ck_assert_int_eq(hm_shard_api_failed_new(&api, GOLDEN_DISK, "missing: gone"), 0);
    Hm__ShardInfoResp *info = NULL;
    ck_assert_int_eq(api->ops->info(api, &info), HM_EUNAVAIL);
    ck_assert_ptr_null(info);
    Hm__ShardHeader hdr = HM__SHARD_HEADER__INIT;
    hm_shard_put *p = NULL;
    ck_assert_int_eq(api->ops->put_open(api, &hdr, &p), HM_EUNAVAIL);
    ck_assert_ptr_null(p);
    uint8_t blob[HM_BLOB_ID_BYTES] = {1};
    hm_shard_get *g = NULL;
    uint64_t total = 7;
    ck_assert_int_eq(api->ops->get_open(api, blob, 0, 0, UINT64_MAX, &g, &total, NULL),
                     HM_EUNAVAIL);
    ck_assert_ptr_null(g);
    ck_assert_int_eq(api->ops->del(api, blob, 0), HM_EUNAVAIL);
    Hm__ShardHeader *h = NULL;
    ck_assert_int_eq(api->ops->stat(api, blob, 0, &h), HM_EUNAVAIL);
    ck_assert_ptr_null(h);
    const char *id = NULL, *why = NULL;
    ck_assert(hm_shard_api_failed_info(api, &id, &why));
    ck_assert_str_eq(id, GOLDEN_DISK);
    ck_assert_str_eq(why, "missing: gone");
    api->ops->free(api);

    ck_assert_int_eq(hm_shard_api_failed_new(&api, NULL, NULL), 0);
    ck_assert(hm_shard_api_failed_info(api, &id, &why));
    ck_assert_str_eq(id, "");
    api->ops->free(api);

    hm_shard_store *s = NULL;
    hm_shard_api *local = NULL;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    ck_assert_int_eq(hm_shard_api_local_new(&local, s), 0);
    ck_assert(!hm_shard_api_failed_info(local, &id, &why));
    local->ops->free(local);
    hm_shard_store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("disk_label");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_golden_bytes);
    tcase_add_test(tc, test_parse_refusals);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_check_reasons);
    tcase_add_test(tc, test_store_open_creates_nothing);
    tcase_add_test(tc, test_failed_api);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
