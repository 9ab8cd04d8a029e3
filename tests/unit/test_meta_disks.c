/* test_meta_disks.c - the disk registry in the metadata: DiskSet is a
 * compare-and-set on the slot's version, bad records are refused without a
 * change, DiskList returns records by slot and the queued rebuilds; the
 * bytes of DiskRecord, DiskRebuild and a DiskSet command are pinned by
 * tests/golden/meta_disk_*_v1.bin (HM_GOLDEN_UPDATE=1 writes them). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_disks.h"
#include "hm_meta_sm.h"
#include "test_meta_util.h"

#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

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
    uint8_t want[2048];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    ck_assert_msg(n == len, "%s: %zu bytes, golden has %zu", name, len, n);
    ck_assert_msg(memcmp(want, buf, len) == 0, "%s differs from the golden bytes", name);
}

static Hm__DiskRecord record(uint32_t slot, const char *id, uint32_t state, const char *reason)
{
    Hm__DiskRecord d = HM__DISK_RECORD__INIT;
    d.has_slot = true;
    d.slot = slot;
    d.disk_id = (char *)id;
    d.path = (char *)"/srv/hamster/disk0";
    d.has_state = true;
    d.state = state;
    d.reason = (char *)reason;
    d.has_since_ms = true;
    d.since_ms = 1764892800000;
    return d;
}

/* Apply DiskSet(d, expect, rebuild); the response's error (the stored
 * version in *version when 0). */
static int disk_set(tmu_sm *t, Hm__DiskRecord *d, uint64_t expect, Hm__DiskRebuild *rb,
                    uint64_t *version)
{
    Hm__DiskSet ds = HM__DISK_SET__INIT;
    ds.disk = d;
    ds.has_expect_version = true;
    ds.expect_version = expect;
    ds.rebuild = rb;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_DISK_SET;
    cmd.disk_set = &ds;
    Hm__MetaResponse *r = tmu_sm_apply(t, &cmd);
    if (r->err == 0 && version != NULL) {
        ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_DISK);
        *version = r->disk->version;
    }
    return tmu_done(r);
}

static Hm__MetaResponse *disk_list(tmu_sm *t)
{
    Hm__DiskList dl = HM__DISK_LIST__INIT;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_DISK_LIST;
    req.disk_list = &dl;
    Hm__MetaResponse *r = tmu_sm_query(t, &req);
    ck_assert_int_eq(r->err, 0);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_DISKS);
    return r;
}

/* A record is created at version 1 only with expect 0, replaced only with
 * the stored version; a stale writer gets HM_EPRECOND and changes nothing. */
START_TEST(test_cas)
{
    tmu_sm *t = tmu_sm_open();
    uint64_t v = 0;
    Hm__DiskRecord d = record(0, ID_A, HM_DISK_STATE_HEALTHY, "");
    ck_assert_int_eq(disk_set(t, &d, 1, NULL, NULL), HM_EPRECOND);
    ck_assert_int_eq(disk_set(t, &d, 0, NULL, &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(disk_set(t, &d, 0, NULL, NULL), HM_EPRECOND);
    Hm__DiskRecord m = record(0, ID_A, HM_DISK_STATE_MISSING, "missing: gone");
    ck_assert_int_eq(disk_set(t, &m, 1, NULL, &v), 0);
    ck_assert_uint_eq(v, 2);
    /* The writer that read version 1 loses. */
    ck_assert_int_eq(disk_set(t, &d, 1, NULL, NULL), HM_EPRECOND);
    Hm__MetaResponse *r = disk_list(t);
    ck_assert_uint_eq(r->disks->n_disks, 1);
    ck_assert_uint_eq(r->disks->disks[0]->state, HM_DISK_STATE_MISSING);
    ck_assert_str_eq(r->disks->disks[0]->reason, "missing: gone");
    ck_assert_uint_eq(r->disks->disks[0]->version, 2);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* Bad records are refused with HM_EINVAL and leave the registry as it was. */
START_TEST(test_refusals)
{
    tmu_sm *t = tmu_sm_open();
    Hm__DiskRecord d = record(HM_DISK_REGISTRY_SLOTS_MAX, ID_A, HM_DISK_STATE_HEALTHY, "");
    ck_assert_int_eq(disk_set(t, &d, 0, NULL, NULL), HM_EINVAL);
    d = record(0, "ABC", HM_DISK_STATE_HEALTHY, "");
    ck_assert_int_eq(disk_set(t, &d, 0, NULL, NULL), HM_EINVAL);
    d = record(0, ID_A, 9, "");
    ck_assert_int_eq(disk_set(t, &d, 0, NULL, NULL), HM_EINVAL);
    d = record(0, ID_A, HM_DISK_STATE_HEALTHY, "");
    d.path = (char *)"";
    ck_assert_int_eq(disk_set(t, &d, 0, NULL, NULL), HM_EINVAL);
    d = record(0, ID_A, HM_DISK_STATE_REPLACING, "");
    Hm__DiskRebuild rb = HM__DISK_REBUILD__INIT;
    rb.has_slot = true;
    rb.slot = 1; /* not the record's slot */
    rb.new_disk_id = (char *)ID_A;
    ck_assert_int_eq(disk_set(t, &d, 0, &rb, NULL), HM_EINVAL);
    Hm__DiskSet empty = HM__DISK_SET__INIT;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_DISK_SET;
    cmd.disk_set = &empty;
    ck_assert_int_eq(tmu_done(tmu_sm_apply(t, &cmd)), HM_EINVAL);
    Hm__MetaResponse *r = disk_list(t);
    ck_assert_uint_eq(r->disks->n_disks, 0);
    ck_assert_uint_eq(r->disks->n_rebuilds, 0);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* A replace records the new disk and queues its rebuild in one command;
 * the list comes back by slot. */
START_TEST(test_list_and_rebuild)
{
    tmu_sm *t = tmu_sm_open();
    uint64_t v = 0;
    for (uint32_t s = 3; s-- > 0;) {
        Hm__DiskRecord d = record(s, ID_A, HM_DISK_STATE_HEALTHY, "");
        ck_assert_int_eq(disk_set(t, &d, 0, NULL, &v), 0);
    }
    Hm__DiskRecord d = record(1, ID_B, HM_DISK_STATE_REPLACING, "replaces a lost disk");
    Hm__DiskRebuild rb = HM__DISK_REBUILD__INIT;
    rb.has_slot = true;
    rb.slot = 1;
    rb.old_disk_id = (char *)ID_A;
    rb.new_disk_id = (char *)ID_B;
    rb.has_queued_ms = true;
    rb.queued_ms = 5;
    ck_assert_int_eq(disk_set(t, &d, 1, &rb, &v), 0);
    Hm__MetaResponse *r = disk_list(t);
    ck_assert_uint_eq(r->disks->n_disks, 3);
    for (uint32_t s = 0; s < 3; s++) ck_assert_uint_eq(r->disks->disks[s]->slot, s);
    ck_assert_str_eq(r->disks->disks[1]->disk_id, ID_B);
    ck_assert_uint_eq(r->disks->n_rebuilds, 1);
    ck_assert_str_eq(r->disks->rebuilds[0]->old_disk_id, ID_A);
    ck_assert_str_eq(r->disks->rebuilds[0]->new_disk_id, ID_B);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* The version-1 bytes of the registry's records and command are pinned. */
START_TEST(test_golden)
{
    uint8_t buf[1024];
    Hm__DiskRecord d = record(2, ID_A, HM_DISK_STATE_MISSING, "missing: /srv/hamster/disk0");
    d.has_format_version = true;
    d.format_version = 1;
    d.has_version = true;
    d.version = 7;
    size_t n = hm__disk_record__pack(&d, buf);
    golden("meta_disk_record_v1.bin", buf, n);
    Hm__DiskRebuild rb = HM__DISK_REBUILD__INIT;
    rb.has_format_version = true;
    rb.format_version = 1;
    rb.has_slot = true;
    rb.slot = 2;
    rb.old_disk_id = (char *)ID_A;
    rb.new_disk_id = (char *)ID_B;
    rb.has_queued_ms = true;
    rb.queued_ms = 1764892800000;
    n = hm__disk_rebuild__pack(&rb, buf);
    golden("meta_disk_rebuild_v1.bin", buf, n);
    d.has_version = false;
    Hm__DiskSet ds = HM__DISK_SET__INIT;
    ds.disk = &d;
    ds.has_expect_version = true;
    ds.expect_version = 6;
    ds.rebuild = &rb;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.has_format_version = true;
    cmd.format_version = 1;
    cmd.op_case = HM__META_COMMAND__OP_DISK_SET;
    cmd.disk_set = &ds;
    n = hm__meta_command__pack(&cmd, buf);
    golden("meta_command_disk_set_v1.bin", buf, n);
    Hm__MetaCommand *back = hm__meta_command__unpack(NULL, n, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert_int_eq(back->op_case, HM__META_COMMAND__OP_DISK_SET);
    ck_assert_str_eq(back->disk_set->rebuild->new_disk_id, ID_B);
    hm__meta_command__free_unpacked(back, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_disks");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_cas);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_list_and_rebuild);
    tcase_add_test(tc, test_golden);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
