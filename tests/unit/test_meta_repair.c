/* test_meta_repair.c - repair items of degraded writes in the metadata
 * state machine: recorded by the ObjectPut / UploadPartPut that commits
 * the blob, counted per disk in DiskList, listed by RepairList in pages,
 * removed when gc deletes the blob; hostile items are refused without a
 * change.  The RepairItem bytes are pinned by
 * tests/golden/meta_repair_item_v1.bin (HM_GOLDEN_UPDATE=1 writes it). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
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
    uint8_t want[1024];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    ck_assert_msg(n == len, "%s: %zu bytes, golden has %zu", name, len, n);
    ck_assert_msg(memcmp(want, buf, len) == 0, "%s differs from the golden bytes", name);
}

static void bucket(tmu_sm *t)
{
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)"bkt";
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    cmd.bucket_create = &bc;
    ck_assert_int_eq(tmu_done(tmu_sm_apply(t, &cmd)), 0);
}

/* A 2+1 blob whose id starts with seed. */
typedef struct wr {
    uint8_t id[16];
    Hm__Blob blob;
    Hm__Blob *blobs[1];
    Hm__RepairItem items[4];
    Hm__RepairItem *ptrs[4];
} wr;

static void wr_init(wr *w, uint8_t seed, size_t n_items, const char *disk)
{
    memset(w, 0, sizeof *w);
    for (int i = 0; i < 16; i++) w->id[i] = (uint8_t)(seed + i);
    hm__blob__init(&w->blob);
    w->blob.has_blob_id = true;
    w->blob.blob_id.data = w->id;
    w->blob.blob_id.len = 16;
    w->blob.has_k = w->blob.has_m = true;
    w->blob.k = 2;
    w->blob.m = 1;
    w->blob.has_stripe_bytes = true;
    w->blob.stripe_bytes = 1u << 20;
    w->blob.has_size = true;
    w->blob.size = 5000;
    w->blobs[0] = &w->blob;
    for (size_t i = 0; i < n_items; i++) {
        hm__repair_item__init(&w->items[i]);
        w->items[i].has_blob_id = true;
        w->items[i].blob_id = w->blob.blob_id;
        w->items[i].has_shard_index = true;
        w->items[i].shard_index = (uint32_t)i;
        w->items[i].disk_id = (char *)disk;
        w->ptrs[i] = &w->items[i];
    }
}

/* ObjectPut of key with w's blob and n repair items; the response error. */
static int put(tmu_sm *t, const char *key, wr *w, size_t n)
{
    uint8_t oid[16];
    for (int i = 0; i < 16; i++) oid[i] = (uint8_t)key[0];
    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_object_id = true;
    v.object_id.data = oid;
    v.object_id.len = 16;
    v.has_size = true;
    v.size = 5000;
    v.etag = (char *)"e";
    v.n_blobs = 1;
    v.blobs = w->blobs;
    Hm__ObjectPut op = HM__OBJECT_PUT__INIT;
    op.bucket = (char *)"bkt";
    op.key = (char *)key;
    op.version = &v;
    op.has_gc_grace_ms = true;
    op.gc_grace_ms = 0;
    op.n_repairs = n;
    op.repairs = w->ptrs;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    cmd.object_put = &op;
    return tmu_done(tmu_sm_apply(t, &cmd));
}

static Hm__MetaResponse *repair_list(tmu_sm *t, const uint8_t *after, size_t alen,
                                     uint32_t max)
{
    Hm__RepairList rl = HM__REPAIR_LIST__INIT;
    if (after != NULL) {
        rl.has_start_after = true;
        rl.start_after.data = (uint8_t *)after;
        rl.start_after.len = alen;
    }
    rl.has_max = max > 0;
    rl.max = max;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_REPAIR_LIST;
    req.repair_list = &rl;
    return tmu_sm_query(t, &req);
}

/* Total and per-disk count of disk_id (0 when absent) from DiskList. */
static uint64_t counts(tmu_sm *t, const char *disk_id, uint64_t *per_disk)
{
    Hm__DiskList dl = HM__DISK_LIST__INIT;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_DISK_LIST;
    req.disk_list = &dl;
    Hm__MetaResponse *r = tmu_sm_query(t, &req);
    ck_assert_int_eq(r->err, 0);
    uint64_t total = r->disks->repair_total;
    *per_disk = 0;
    for (size_t i = 0; i < r->disks->n_repair_counts; i++)
        if (strcmp(r->disks->repair_counts[i]->disk_id, disk_id) == 0)
            *per_disk = r->disks->repair_counts[i]->count;
    tmu_done(r);
    return total;
}

/* A degraded put records its missing shards with the version, with the
 * blob's profile filled in; DiskList counts them per disk; RepairList
 * pages through them with its marker and never repeats or skips one. */
START_TEST(test_commit_and_page)
{
    tmu_sm *t = tmu_sm_open();
    bucket(t);
    wr a, b, c;
    wr_init(&a, 10, 1, ID_A);
    wr_init(&b, 20, 2, ID_B);
    wr_init(&c, 30, 0, ID_A);
    ck_assert_int_eq(put(t, "a", &a, 1), 0);
    ck_assert_int_eq(put(t, "b", &b, 2), 0);
    ck_assert_int_eq(put(t, "c", &c, 0), 0);
    uint64_t pa = 0, pb = 0;
    ck_assert_uint_eq(counts(t, ID_A, &pa), 3);
    ck_assert_uint_eq(pa, 1);
    counts(t, ID_B, &pb);
    ck_assert_uint_eq(pb, 2);

    uint8_t marker[32];
    size_t mlen = 0, seen = 0;
    for (int page = 0; page < 5; page++) {
        Hm__MetaResponse *r = repair_list(t, mlen ? marker : NULL, mlen, 2);
        ck_assert_int_eq(r->err, 0);
        ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_REPAIRS);
        for (size_t i = 0; i < r->repairs->n_items; i++) {
            const Hm__RepairItem *it = r->repairs->items[i];
            ck_assert_uint_eq(it->format_version, 1);
            ck_assert_uint_eq(it->k, 2);
            ck_assert_uint_eq(it->m, 1);
            ck_assert_uint_eq(it->blob_id.len, 16);
            const wr *w = seen == 0 ? &a : &b;
            ck_assert_mem_eq(it->blob_id.data, w->id, 16);
            ck_assert_uint_eq(it->shard_index, seen == 0 ? 0 : seen - 1);
            ck_assert_str_eq(it->disk_id, seen == 0 ? ID_A : ID_B);
            seen++;
        }
        bool more = r->repairs->truncated;
        if (more) {
            ck_assert_uint_eq(r->repairs->next_start_after.len, 20);
            memcpy(marker, r->repairs->next_start_after.data, 20);
            mlen = 20;
        }
        tmu_done(r);
        if (!more) break;
    }
    ck_assert_uint_eq(seen, 3);
    tmu_sm_close(t);
}
END_TEST

/* When gc deletes a replaced blob (GcDone), its repair items go and the
 * counts drop; a repeated GcDone changes nothing. */
START_TEST(test_gc_removes)
{
    tmu_sm *t = tmu_sm_open();
    bucket(t);
    wr a, b;
    wr_init(&a, 10, 2, ID_A);
    wr_init(&b, 20, 0, ID_A);
    ck_assert_int_eq(put(t, "k", &a, 2), 0);
    uint64_t pa = 0;
    ck_assert_uint_eq(counts(t, ID_A, &pa), 2);
    ck_assert_int_eq(put(t, "k", &b, 0), 0); /* a's blob to gc */
    ck_assert_uint_eq(counts(t, ID_A, &pa), 2); /* not deleted yet */

    Hm__GcScan gs = HM__GC_SCAN__INIT;
    gs.has_all = true;
    gs.all = true;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_GC_SCAN;
    req.gc_scan = &gs;
    Hm__MetaResponse *r = tmu_sm_query(t, &req);
    ck_assert_uint_eq(r->gc->n_gc_keys, 1);
    Hm__GcDone gd = HM__GC_DONE__INIT;
    gd.n_gc_keys = 1;
    gd.gc_keys = r->gc->gc_keys;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_GC_DONE;
    cmd.gc_done = &gd;
    ck_assert_int_eq(tmu_done(tmu_sm_apply(t, &cmd)), 0);
    ck_assert_uint_eq(counts(t, ID_A, &pa), 0);
    ck_assert_uint_eq(pa, 0);
    ck_assert_int_eq(tmu_done(tmu_sm_apply(t, &cmd)), 0);
    tmu_done(r);
    r = repair_list(t, NULL, 0, 0);
    ck_assert_uint_eq(r->repairs->n_items, 0);
    ck_assert(!r->repairs->truncated);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* Hostile items are refused (HM_EINVAL) and nothing is written: a blob not
 * of the write, an index past k+m, a shard twice, a bad disk id, too many
 * items, another profile; a RepairList marker longer than a key suffix is
 * refused and a huge max is capped. */
START_TEST(test_hostile)
{
    tmu_sm *t = tmu_sm_open();
    bucket(t);
    wr a;
    wr_init(&a, 10, 2, ID_A);
    uint8_t other[16] = {0};
    a.items[0].blob_id.data = other;
    ck_assert_int_eq(put(t, "k", &a, 2), HM_EINVAL);
    wr_init(&a, 10, 2, ID_A);
    a.items[1].shard_index = 3;
    ck_assert_int_eq(put(t, "k", &a, 2), HM_EINVAL);
    wr_init(&a, 10, 2, ID_A);
    a.items[1].shard_index = 0;
    ck_assert_int_eq(put(t, "k", &a, 2), HM_EINVAL);
    wr_init(&a, 10, 1, "bad id\n");
    ck_assert_int_eq(put(t, "k", &a, 1), HM_EINVAL);
    wr_init(&a, 10, 1, ID_A);
    a.items[0].has_k = true;
    a.items[0].k = 5;
    ck_assert_int_eq(put(t, "k", &a, 1), HM_EINVAL);
    wr_init(&a, 10, 1, ID_A);
    a.items[0].blob_id.len = 3;
    ck_assert_int_eq(put(t, "k", &a, 1), HM_EINVAL);
    wr_init(&a, 10, 1, ID_A);
    Hm__RepairItem *many[HM_REPAIR_ITEMS_PER_WRITE_MAX + 1];
    for (size_t i = 0; i <= HM_REPAIR_ITEMS_PER_WRITE_MAX; i++) many[i] = &a.items[0];
    uint8_t oid[16] = {7};
    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_object_id = true;
    v.object_id.data = oid;
    v.object_id.len = 16;
    v.n_blobs = 1;
    v.blobs = a.blobs;
    Hm__ObjectPut op = HM__OBJECT_PUT__INIT;
    op.bucket = (char *)"bkt";
    op.key = (char *)"k";
    op.version = &v;
    op.n_repairs = HM_REPAIR_ITEMS_PER_WRITE_MAX + 1;
    op.repairs = many;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    cmd.object_put = &op;
    ck_assert_int_eq(tmu_done(tmu_sm_apply(t, &cmd)), HM_EINVAL);

    /* nothing of the refused writes is there */
    Hm__ObjectGet og = HM__OBJECT_GET__INIT;
    og.bucket = (char *)"bkt";
    og.key = (char *)"k";
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_OBJECT_GET;
    req.object_get = &og;
    ck_assert_int_eq(tmu_done(tmu_sm_query(t, &req)), HM_ENOKEY);
    uint64_t pa = 0;
    ck_assert_uint_eq(counts(t, ID_A, &pa), 0);

    uint8_t longm[21] = {0};
    ck_assert_int_eq(tmu_done(repair_list(t, longm, sizeof longm, 0)), HM_EINVAL);
    Hm__MetaResponse *r = repair_list(t, longm, 5, UINT32_MAX);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->repairs->n_items, 0);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* A version rebuilt from shard files names every part's blob and may
 * queue more than HM_REPAIR_ITEMS_PER_WRITE_MAX items in one ObjectPut:
 * the cap is per blob of the write.  30 parts of 2+1 with two lost shards
 * each: 60 items commit and count; one shard named twice among them, or
 * an item naming a blob of no part, refuses the whole write. */
START_TEST(test_many_blobs)
{
    enum { PARTS = 30, PER = 2 };
    tmu_sm *t = tmu_sm_open();
    bucket(t);
    static wr parts[PARTS];
    Hm__Blob *blobs[PARTS];
    Hm__RepairItem *items[PARTS * PER];
    for (size_t i = 0; i < PARTS; i++) {
        wr_init(&parts[i], (uint8_t)(40 + 3 * i), PER, ID_B);
        blobs[i] = &parts[i].blob;
        for (size_t j = 0; j < PER; j++) items[j * PARTS + i] = &parts[i].items[j];
    }
    uint8_t oid[16] = {9};
    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_object_id = true;
    v.object_id.data = oid;
    v.object_id.len = 16;
    v.has_size = true;
    v.size = 5000u * PARTS;
    v.etag = (char *)"e-30";
    v.n_blobs = PARTS;
    v.blobs = blobs;
    Hm__ObjectPut op = HM__OBJECT_PUT__INIT;
    op.bucket = (char *)"bkt";
    op.key = (char *)"rebuilt";
    op.version = &v;
    op.repairs = items;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    cmd.object_put = &op;

    /* the same shard twice, far apart in the list */
    Hm__RepairItem *keep = items[PARTS * PER - 1];
    items[PARTS * PER - 1] = items[0];
    op.n_repairs = PARTS * PER;
    ck_assert_int_eq(tmu_done(tmu_sm_apply(t, &cmd)), HM_EINVAL);
    items[PARTS * PER - 1] = keep;
    /* a blob that is no part of the version */
    uint8_t stray[16] = {1, 2, 3};
    Hm__RepairItem other = *items[5];
    other.blob_id.data = stray;
    items[5] = &other;
    ck_assert_int_eq(tmu_done(tmu_sm_apply(t, &cmd)), HM_EINVAL);
    items[5] = &parts[5].items[0];
    uint64_t pd = 0;
    ck_assert_uint_eq(counts(t, ID_B, &pd), 0);

    ck_assert_int_eq(tmu_done(tmu_sm_apply(t, &cmd)), 0);
    ck_assert_uint_eq(counts(t, ID_B, &pd), PARTS * PER);
    ck_assert_uint_eq(pd, PARTS * PER);
    Hm__MetaResponse *r = repair_list(t, NULL, 0, 1000);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->repairs->n_items, PARTS * PER);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* The planted bug drops the items: the version commits without them. */
START_TEST(test_plant_drops)
{
    tmu_sm *t = tmu_sm_open();
    bucket(t);
    wr a;
    wr_init(&a, 10, 1, ID_A);
    hm_meta_sm_plant_repair_lost = true;
    ck_assert_int_eq(put(t, "k", &a, 1), 0);
    hm_meta_sm_plant_repair_lost = false;
    uint64_t pa = 0;
    ck_assert_uint_eq(counts(t, ID_A, &pa), 0);
    tmu_sm_close(t);
}
END_TEST

/* The version-1 RepairItem bytes. */
START_TEST(test_golden_repair_item)
{
    uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Hm__RepairItem it = HM__REPAIR_ITEM__INIT;
    it.has_format_version = true;
    it.format_version = 1;
    it.has_blob_id = true;
    it.blob_id.data = id;
    it.blob_id.len = 16;
    it.has_shard_index = true;
    it.shard_index = 2;
    it.disk_id = (char *)ID_A;
    it.has_k = it.has_m = it.has_stripe_bytes = it.has_queued_ms = true;
    it.k = 2;
    it.m = 1;
    it.stripe_bytes = 1u << 20;
    it.queued_ms = 1764892800000;
    uint8_t buf[256];
    size_t n = hm__repair_item__get_packed_size(&it);
    ck_assert_uint_le(n, sizeof buf);
    hm__repair_item__pack(&it, buf);
    golden("meta_repair_item_v1.bin", buf, n);
    Hm__RepairItem *back = hm__repair_item__unpack(NULL, n, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back->shard_index, 2);
    ck_assert_str_eq(back->disk_id, ID_A);
    hm__repair_item__free_unpacked(back, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_repair");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_commit_and_page);
    tcase_add_test(tc, test_gc_removes);
    tcase_add_test(tc, test_hostile);
    tcase_add_test(tc, test_many_blobs);
    tcase_add_test(tc, test_plant_drops);
    tcase_add_test(tc, test_golden_repair_item);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
