/* test_meta_mpu.c - the multipart, tagging and CORS commands of the
 * metadata state machine (hamster-meta/hm_meta_sm.c): UploadCreate,
 * UploadPartPut, UploadComplete, UploadAbort, UploadList, PartList,
 * ObjectSetTags, BucketSetCors, and BucketDelete with uploads in progress. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_keys.h"
#include "hm_meta_sm.h"
#include "test_meta_util.h"

static int bucket_create(tmu_sm *t, const char *name)
{
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)name;
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    c.bucket_create = &bc;
    return tmu_done(tmu_sm_apply(t, &c));
}

static Hm__MetaResponse *bucket_get(tmu_sm *t, const char *name)
{
    Hm__BucketGet g = HM__BUCKET_GET__INIT;
    g.name = (char *)name;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_BUCKET_GET;
    q.bucket_get = &g;
    return tmu_sm_query(t, &q);
}

static int bucket_delete(tmu_sm *t, const char *name)
{
    Hm__BucketDelete bd = HM__BUCKET_DELETE__INIT;
    bd.name = (char *)name;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_DELETE;
    c.bucket_delete = &bd;
    return tmu_done(tmu_sm_apply(t, &c));
}

static int upload_create(tmu_sm *t, const char *bucket, const char *key, const char *uid,
                         int64_t initiated)
{
    Hm__UploadRecord u = HM__UPLOAD_RECORD__INIT;
    u.bucket = (char *)bucket;
    u.key = (char *)key;
    u.upload_id = (char *)uid;
    u.has_initiated_ms = true;
    u.initiated_ms = initiated;
    u.content_type = (char *)"text/plain";
    Hm__UploadCreate uc = HM__UPLOAD_CREATE__INIT;
    uc.upload = &u;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_UPLOAD_CREATE;
    c.upload_create = &uc;
    return tmu_done(tmu_sm_apply(t, &c));
}

/* A blob whose id is 16 copies of seed. */
typedef struct tblob {
    uint8_t id[16];
    Hm__Blob b;
} tblob;

static void tblob_init(tblob *tb, uint8_t seed, uint64_t size)
{
    memset(tb->id, seed, sizeof tb->id);
    hm__blob__init(&tb->b);
    tb->b.has_blob_id = true;
    tb->b.blob_id.data = tb->id;
    tb->b.blob_id.len = 16;
    tb->b.has_size = true;
    tb->b.size = size;
}

static int part_put(tmu_sm *t, const char *bucket, const char *uid, uint32_t pn, uint8_t seed,
                    uint64_t size, int64_t mtime, const char *intent)
{
    tblob tb;
    tblob_init(&tb, seed, size);
    Hm__PartRecord pr = HM__PART_RECORD__INIT;
    pr.has_part_number = true;
    pr.part_number = pn;
    pr.has_size = true;
    pr.size = size;
    pr.etag = (char *)"00112233445566778899aabbccddeeff";
    pr.has_mtime_ms = true;
    pr.mtime_ms = mtime;
    pr.blob = &tb.b;
    Hm__UploadPartPut pp = HM__UPLOAD_PART_PUT__INIT;
    pp.bucket = (char *)bucket;
    pp.upload_id = (char *)uid;
    pp.part = &pr;
    pp.has_gc_grace_ms = true;
    pp.gc_grace_ms = 100;
    if (intent != NULL) {
        pp.has_intent_id = true;
        pp.intent_id.data = (uint8_t *)intent;
        pp.intent_id.len = strlen(intent);
    }
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_UPLOAD_PART_PUT;
    c.upload_part_put = &pp;
    return tmu_done(tmu_sm_apply(t, &c));
}

/* Complete with parts pns[0..n) whose blobs are seeds[i] and sizes sizes[i]. */
static Hm__MetaResponse *complete(tmu_sm *t, const char *bucket, const char *key, const char *uid,
                                  const uint32_t *pns, const uint8_t *seeds,
                                  const uint64_t *sizes, size_t n, const char *etag,
                                  bool if_none_match)
{
    tblob tb[8];
    Hm__Blob *bp[8];
    uint64_t total = 0;
    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        tblob_init(&tb[i], seeds[i], sizes[i]);
        bp[i] = &tb[i].b;
        total += sizes[i];
    }
    uint8_t oid[16];
    memset(oid, 0x77, sizeof oid);
    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_object_id = true;
    v.object_id.data = oid;
    v.object_id.len = 16;
    v.has_size = true;
    v.size = total;
    v.etag = (char *)etag;
    v.has_mtime_ms = true;
    v.mtime_ms = 5000;
    v.n_blobs = n;
    v.blobs = bp;
    v.n_part_sizes = n;
    v.part_sizes = (uint64_t *)sizes;
    Hm__WriteCondition wc = HM__WRITE_CONDITION__INIT;
    wc.has_if_none_match_any = if_none_match;
    wc.if_none_match_any = if_none_match;
    Hm__UploadComplete uc = HM__UPLOAD_COMPLETE__INIT;
    uc.bucket = (char *)bucket;
    uc.key = (char *)key;
    uc.upload_id = (char *)uid;
    uc.version = &v;
    uc.n_part_numbers = n;
    uc.part_numbers = (uint32_t *)pns;
    uc.cond = &wc;
    uc.has_gc_grace_ms = true;
    uc.gc_grace_ms = 100;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_UPLOAD_COMPLETE;
    c.upload_complete = &uc;
    return tmu_sm_apply(t, &c);
}

static int upload_abort(tmu_sm *t, const char *bucket, const char *uid, int64_t now)
{
    Hm__UploadAbort a = HM__UPLOAD_ABORT__INIT;
    a.bucket = (char *)bucket;
    a.upload_id = (char *)uid;
    a.has_now_ms = true;
    a.now_ms = now;
    a.has_gc_grace_ms = true;
    a.gc_grace_ms = 0;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_UPLOAD_ABORT;
    c.upload_abort = &a;
    return tmu_done(tmu_sm_apply(t, &c));
}

static Hm__MetaResponse *part_list(tmu_sm *t, const char *bucket, const char *uid, uint32_t marker,
                                   uint32_t max)
{
    Hm__PartList pl = HM__PART_LIST__INIT;
    pl.bucket = (char *)bucket;
    pl.upload_id = (char *)uid;
    pl.has_part_number_marker = marker > 0;
    pl.part_number_marker = marker;
    pl.has_max_parts = true;
    pl.max_parts = max;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_PART_LIST;
    q.part_list = &pl;
    return tmu_sm_query(t, &q);
}

static Hm__MetaResponse *upload_list(tmu_sm *t, const char *bucket, const char *prefix,
                                     const char *delim, const char *km, const char *um,
                                     uint32_t max)
{
    Hm__UploadList ul = HM__UPLOAD_LIST__INIT;
    ul.bucket = (char *)bucket;
    ul.prefix = (char *)prefix;
    ul.delimiter = (char *)delim;
    ul.key_marker = (char *)km;
    ul.upload_id_marker = (char *)um;
    ul.has_max_uploads = true;
    ul.max_uploads = max;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_UPLOAD_LIST;
    q.upload_list = &ul;
    return tmu_sm_query(t, &q);
}

static Hm__MetaResponse *object_get(tmu_sm *t, const char *bucket, const char *key)
{
    Hm__ObjectGet g = HM__OBJECT_GET__INIT;
    g.bucket = (char *)bucket;
    g.key = (char *)key;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_OBJECT_GET;
    q.object_get = &g;
    return tmu_sm_query(t, &q);
}

/* The blob ids (first byte of each) the gc table holds due by now. */
static size_t gc_seeds(tmu_sm *t, int64_t now, uint8_t *out, size_t cap)
{
    Hm__GcScan g = HM__GC_SCAN__INIT;
    g.has_now_ms = true;
    g.now_ms = now;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_GC_SCAN;
    q.gc_scan = &g;
    Hm__MetaResponse *r = tmu_sm_query(t, &q);
    size_t n = 0;
    for (size_t i = 0; i < r->gc->n_items; i++)
        for (size_t j = 0; j < r->gc->items[i]->n_blobs; j++)
            if (n < cap)
                out[n++] = r->gc->items[i]->blobs[j]->blob_id.data[0];
    tmu_done(r);
    return n;
}

static bool has_seed(const uint8_t *s, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == seed)
            return true;
    return false;
}

/* An upload needs its bucket; parts need their upload and a number in
 * 1..10000; a duplicate upload id is refused. */
START_TEST(test_upload_create_and_part_errors)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(upload_create(t, "nobucket", "k", "u1", 1), HM_ENOBUCKET);
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "k", "u1", 1), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "k", "u1", 2), HM_EEXIST);
    ck_assert_int_eq(upload_create(t, "bkt", "k", "", 2), HM_EINVAL);
    ck_assert_int_eq(part_put(t, "bkt", "nope", 1, 1, 10, 100, NULL), HM_ENOUPLOAD);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 0, 1, 10, 100, NULL), HM_EINVAL);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 10001, 1, 10, 100, NULL), HM_EINVAL);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 10000, 1, 10, 100, NULL), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 2, 1, 10, 100, "no-such-intent"), HM_EINTENT);
    tmu_sm_close(t);
}
END_TEST

/* Re-uploading a part number replaces it and sends the old blob to gc
 * after the new part's mtime plus the grace. */
START_TEST(test_part_replace_gc)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "k", "u1", 1), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x11, 10, 1000, NULL), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x12, 20, 2000, NULL), 0);
    uint8_t s[16];
    ck_assert_uint_eq(gc_seeds(t, 2099, s, 16), 0);
    size_t n = gc_seeds(t, 2100, s, 16);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(s[0], 0x11);
    Hm__MetaResponse *r = part_list(t, "bkt", "u1", 0, 1000);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->parts->n_parts, 1);
    ck_assert_uint_eq(r->parts->parts[0]->size, 20);
    ck_assert_uint_eq(r->parts->parts[0]->blob->blob_id.data[0], 0x12);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* Complete writes the version with the parts' blobs in order, deletes the
 * upload and its parts, sends unused parts to gc, and a retry of the same
 * Complete succeeds while a different one is NoSuchUpload. */
START_TEST(test_complete)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x21, 100, 1000, NULL), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 2, 0x22, 200, 1000, NULL), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 3, 0x23, 300, 1000, NULL), 0);
    uint32_t pns[2] = {1, 3};
    uint8_t seeds[2] = {0x21, 0x23};
    uint64_t sizes[2] = {100, 300};
    Hm__MetaResponse *r = complete(t, "bkt", "obj", "u1", pns, seeds, sizes, 2, "abc-2", false);
    ck_assert_int_eq(r->err, 0);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_VERSION);
    tmu_done(r);
    r = object_get(t, "bkt", "obj");
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->version->size, 400);
    ck_assert_str_eq(r->version->etag, "abc-2");
    ck_assert_uint_eq(r->version->n_blobs, 2);
    ck_assert_uint_eq(r->version->blobs[1]->blob_id.data[0], 0x23);
    ck_assert_uint_eq(r->version->n_part_sizes, 2);
    tmu_done(r);
    uint8_t s[16];
    size_t n = gc_seeds(t, 5100, s, 16);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(s[0], 0x22);
    ck_assert_int_eq(tmu_done(part_list(t, "bkt", "u1", 0, 10)), HM_ENOUPLOAD);
    /* the same Complete again: S3 answers a retry with success */
    r = complete(t, "bkt", "obj", "u1", pns, seeds, sizes, 2, "abc-2", false);
    ck_assert_int_eq(r->err, 0);
    ck_assert_str_eq(r->version->etag, "abc-2");
    tmu_done(r);
    seeds[1] = 0x22;
    ck_assert_int_eq(
        tmu_done(complete(t, "bkt", "obj", "u1", pns, seeds, sizes, 2, "abc-2", false)),
        HM_ENOUPLOAD);
    tmu_sm_close(t);
}
END_TEST

/* Complete refuses a missing part, a part whose blob changed, part numbers
 * not ascending, the wrong key and a failed If-None-Match, and leaves the
 * upload in place each time. */
START_TEST(test_complete_rejects)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x31, 10, 1000, NULL), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 2, 0x32, 10, 1000, NULL), 0);
    uint64_t sizes[2] = {10, 10};
    uint32_t missing[2] = {1, 4};
    uint8_t seeds[2] = {0x31, 0x32};
    ck_assert_int_eq(
        tmu_done(complete(t, "bkt", "obj", "u1", missing, seeds, sizes, 2, "e", false)),
        HM_EINVAL);
    uint32_t pns[2] = {1, 2};
    uint8_t stale[2] = {0x31, 0x99};
    ck_assert_int_eq(tmu_done(complete(t, "bkt", "obj", "u1", pns, stale, sizes, 2, "e", false)),
                     HM_EINVAL);
    uint32_t desc[2] = {2, 1};
    uint8_t dseeds[2] = {0x32, 0x31};
    ck_assert_int_eq(tmu_done(complete(t, "bkt", "obj", "u1", desc, dseeds, sizes, 2, "e", false)),
                     HM_EINVAL);
    ck_assert_int_eq(tmu_done(complete(t, "bkt", "other", "u1", pns, seeds, sizes, 2, "e", false)),
                     HM_ENOUPLOAD);
    ck_assert_int_eq(tmu_done(complete(t, "nob", "obj", "u1", pns, seeds, sizes, 2, "e", false)),
                     HM_ENOBUCKET);
    /* a first completion, then a second upload of the same key with If-None-Match */
    ck_assert_int_eq(
        tmu_done(complete(t, "bkt", "obj", "u1", pns, seeds, sizes, 2, "e", false)), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u2", 2), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u2", 1, 0x41, 10, 1000, NULL), 0);
    uint32_t one[1] = {1};
    uint8_t s41[1] = {0x41};
    ck_assert_int_eq(tmu_done(complete(t, "bkt", "obj", "u2", one, s41, sizes, 1, "f", true)),
                     HM_EPRECOND);
    Hm__MetaResponse *r = part_list(t, "bkt", "u2", 0, 10);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->parts->n_parts, 1);
    tmu_done(r);
    /* without the condition it replaces the object; the old blobs go to gc */
    ck_assert_int_eq(tmu_done(complete(t, "bkt", "obj", "u2", one, s41, sizes, 1, "f", false)), 0);
    uint8_t s[16];
    size_t n = gc_seeds(t, 5100, s, 16);
    ck_assert(has_seed(s, n, 0x31) && has_seed(s, n, 0x32) && !has_seed(s, n, 0x41));
    tmu_sm_close(t);
}
END_TEST

/* Abort removes the upload and sends every part's blob to gc; a second
 * abort is NoSuchUpload. */
START_TEST(test_abort)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x51, 10, 1000, NULL), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 7, 0x57, 10, 1000, NULL), 0);
    ck_assert_int_eq(upload_abort(t, "bkt", "u1", 3000), 0);
    ck_assert_int_eq(upload_abort(t, "bkt", "u1", 3000), HM_ENOUPLOAD);
    ck_assert_int_eq(tmu_done(part_list(t, "bkt", "u1", 0, 10)), HM_ENOUPLOAD);
    uint8_t s[16];
    size_t n = gc_seeds(t, 3000, s, 16);
    ck_assert_uint_eq(n, 2);
    ck_assert(has_seed(s, n, 0x51) && has_seed(s, n, 0x57));
    tmu_sm_close(t);
}
END_TEST

/* ListParts pages by part number with a marker and reports truncation. */
START_TEST(test_part_list_pages)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u10", 1), 0);
    for (uint32_t pn = 1; pn <= 5; pn++)
        ck_assert_int_eq(part_put(t, "bkt", "u1", pn, (uint8_t)pn, 10, 1000, NULL), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u10", 9, 9, 10, 1000, NULL), 0);
    Hm__MetaResponse *r = part_list(t, "bkt", "u1", 0, 2);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->parts->n_parts, 2);
    ck_assert(r->parts->truncated);
    ck_assert_uint_eq(r->parts->next_part_number_marker, 2);
    ck_assert_str_eq(r->parts->upload->key, "obj");
    tmu_done(r);
    r = part_list(t, "bkt", "u1", 2, 3);
    ck_assert_uint_eq(r->parts->n_parts, 3);
    ck_assert_uint_eq(r->parts->parts[0]->part_number, 3);
    ck_assert(!r->parts->truncated);
    tmu_done(r);
    r = part_list(t, "bkt", "u10", 0, 10);
    ck_assert_uint_eq(r->parts->n_parts, 1);
    ck_assert_uint_eq(r->parts->parts[0]->part_number, 9);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* ListMultipartUploads orders by key then initiation, rolls keys up into
 * common prefixes at the delimiter, and pages with key and upload-id
 * markers. */
START_TEST(test_upload_list)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "b", "z1", 10), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "b", "a2", 20), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "a", "m3", 30), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "dir/x", "q4", 40), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "dir/y", "q5", 50), 0);
    Hm__MetaResponse *r = upload_list(t, "bkt", NULL, NULL, NULL, NULL, 1000);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->uploads->n_uploads, 5);
    ck_assert_str_eq(r->uploads->uploads[0]->upload_id, "m3");
    ck_assert_str_eq(r->uploads->uploads[1]->upload_id, "z1"); /* b, initiated first */
    ck_assert_str_eq(r->uploads->uploads[2]->upload_id, "a2");
    ck_assert(!r->uploads->truncated);
    tmu_done(r);
    r = upload_list(t, "bkt", NULL, "/", NULL, NULL, 1000);
    ck_assert_uint_eq(r->uploads->n_uploads, 3);
    ck_assert_uint_eq(r->uploads->n_common_prefixes, 1);
    ck_assert_str_eq(r->uploads->common_prefixes[0], "dir/");
    tmu_done(r);
    r = upload_list(t, "bkt", NULL, NULL, NULL, NULL, 2);
    ck_assert_uint_eq(r->uploads->n_uploads, 2);
    ck_assert(r->uploads->truncated);
    ck_assert_str_eq(r->uploads->next_key_marker, "b");
    ck_assert_str_eq(r->uploads->next_upload_id_marker, "z1");
    tmu_done(r);
    r = upload_list(t, "bkt", NULL, NULL, "b", "z1", 2);
    ck_assert_uint_eq(r->uploads->n_uploads, 2);
    ck_assert_str_eq(r->uploads->uploads[0]->upload_id, "a2");
    ck_assert_str_eq(r->uploads->uploads[1]->upload_id, "q4");
    ck_assert(r->uploads->truncated);
    tmu_done(r);
    r = upload_list(t, "bkt", "dir/", NULL, NULL, NULL, 1000);
    ck_assert_uint_eq(r->uploads->n_uploads, 2);
    tmu_done(r);
    r = upload_list(t, "bkt", NULL, NULL, NULL, NULL, 0);
    ck_assert_uint_eq(r->uploads->n_uploads, 0);
    ck_assert(!r->uploads->truncated);
    tmu_done(r);
    ck_assert_int_eq(tmu_done(upload_list(t, "nob", NULL, NULL, NULL, NULL, 10)), HM_ENOBUCKET);
    tmu_sm_close(t);
}
END_TEST

/* Deleting a bucket with only uploads in progress succeeds and sends the
 * parts' blobs to gc at once. */
START_TEST(test_bucket_delete_aborts_uploads)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x61, 10, 1000, NULL), 0);
    ck_assert_int_eq(bucket_delete(t, "bkt"), 0);
    uint8_t s[4];
    size_t n = gc_seeds(t, 0, s, 4);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(s[0], 0x61);
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    Hm__MetaResponse *r = upload_list(t, "bkt", NULL, NULL, NULL, NULL, 10);
    ck_assert_uint_eq(r->uploads->n_uploads, 0);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

static int set_tags(tmu_sm *t, const char *bucket, const char *key, size_t n)
{
    Hm__KeyValue kv[2];
    Hm__KeyValue *kvp[2] = {&kv[0], &kv[1]};
    hm__key_value__init(&kv[0]);
    hm__key_value__init(&kv[1]);
    kv[0].key = (char *)"team";
    kv[0].value = (char *)"storage";
    kv[1].key = (char *)"env";
    kv[1].value = (char *)"prod";
    Hm__ObjectSetTags st = HM__OBJECT_SET_TAGS__INIT;
    st.bucket = (char *)bucket;
    st.key = (char *)key;
    st.version_id = (char *)"null";
    st.n_tags = n;
    st.tags = kvp;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_OBJECT_SET_TAGS;
    c.object_set_tags = &st;
    return tmu_done(tmu_sm_apply(t, &c));
}

/* ObjectSetTags replaces the tag set in place (ETag and mtime unchanged),
 * an empty set deletes it, and a missing key is HM_ENOKEY. */
START_TEST(test_set_tags)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(set_tags(t, "bkt", "obj", 1), HM_ENOKEY);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x71, 10, 1000, NULL), 0);
    uint32_t one[1] = {1};
    uint8_t s71[1] = {0x71};
    uint64_t sz[1] = {10};
    ck_assert_int_eq(tmu_done(complete(t, "bkt", "obj", "u1", one, s71, sz, 1, "tag-1", false)), 0);
    ck_assert_int_eq(set_tags(t, "bkt", "obj", 2), 0);
    Hm__MetaResponse *r = object_get(t, "bkt", "obj");
    ck_assert_uint_eq(r->version->n_tags, 2);
    ck_assert_str_eq(r->version->tags[1]->value, "prod");
    ck_assert_str_eq(r->version->etag, "tag-1");
    ck_assert_int_eq(r->version->mtime_ms, 5000);
    tmu_done(r);
    ck_assert_int_eq(set_tags(t, "bkt", "obj", 0), 0);
    r = object_get(t, "bkt", "obj");
    ck_assert_uint_eq(r->version->n_tags, 0);
    tmu_done(r);
    ck_assert_int_eq(set_tags(t, "nob", "obj", 0), HM_ENOBUCKET);
    uint8_t s[4];
    ck_assert_uint_eq(gc_seeds(t, INT64_MAX, s, 4), 0); /* tagging frees no blob */
    tmu_sm_close(t);
}
END_TEST

/* A retried Complete (its first answer lost) after a PutObjectTagging
 * answers with the object as it is now: the tags set since survive, the
 * version is not rewritten (same mtime, no gc item), and the answer carries
 * the new tag set (hamster-sim seed 900108 held the key to the tags given
 * at create instead). */
START_TEST(test_complete_retry_after_tagging)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
    ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x61, 10, 1000, NULL), 0);
    uint32_t one[1] = {1};
    uint8_t s61[1] = {0x61};
    uint64_t sz[1] = {10};
    ck_assert_int_eq(tmu_done(complete(t, "bkt", "obj", "u1", one, s61, sz, 1, "rt-1", false)), 0);
    ck_assert_int_eq(set_tags(t, "bkt", "obj", 2), 0);
    Hm__MetaResponse *r = complete(t, "bkt", "obj", "u1", one, s61, sz, 1, "rt-1", false);
    ck_assert_int_eq(r->err, 0);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_VERSION);
    ck_assert_uint_eq(r->version->n_tags, 2);
    ck_assert_ptr_null(r->replaced);
    tmu_done(r);
    r = object_get(t, "bkt", "obj");
    ck_assert_uint_eq(r->version->n_tags, 2);
    ck_assert_str_eq(r->version->tags[0]->value, "storage");
    ck_assert_str_eq(r->version->etag, "rt-1");
    tmu_done(r);
    uint8_t s[4];
    ck_assert_uint_eq(gc_seeds(t, INT64_MAX, s, 4), 0); /* the retry replaced nothing */
    tmu_sm_close(t);
}
END_TEST

static int set_cors(tmu_sm *t, const char *bucket, const char *xml)
{
    Hm__BucketSetCors sc = HM__BUCKET_SET_CORS__INIT;
    sc.name = (char *)bucket;
    sc.cors_xml = (char *)xml;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_SET_CORS;
    c.bucket_set_cors = &sc;
    return tmu_done(tmu_sm_apply(t, &c));
}

/* BucketSetCors stores the configuration and an empty one clears it. */
START_TEST(test_set_cors)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(set_cors(t, "nob", "<x/>"), HM_ENOBUCKET);
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(set_cors(t, "bkt", "<CORSConfiguration/>"), 0);
    Hm__MetaResponse *r = bucket_get(t, "bkt");
    ck_assert_str_eq(r->bucket->cors_xml, "<CORSConfiguration/>");
    tmu_done(r);
    ck_assert_int_eq(set_cors(t, "bkt", ""), 0);
    r = bucket_get(t, "bkt");
    ck_assert_ptr_null(r->bucket->cors_xml);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* Applying the same multipart commands on two stores writes the same
 * responses (determinism: no clock, no randomness in apply). */
START_TEST(test_deterministic)
{
    uint8_t packed[2][4096];
    size_t plen[2];
    for (int run = 0; run < 2; run++) {
        tmu_sm *t = tmu_sm_open();
        ck_assert_int_eq(bucket_create(t, "bkt"), 0);
        ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
        ck_assert_int_eq(part_put(t, "bkt", "u1", 1, 0x11, 10, 1000, NULL), 0);
        ck_assert_int_eq(part_put(t, "bkt", "u1", 2, 0x12, 10, 1000, NULL), 0);
        uint32_t pns[2] = {1, 2};
        uint8_t seeds[2] = {0x11, 0x12};
        uint64_t sizes[2] = {10, 10};
        Hm__MetaResponse *r = complete(t, "bkt", "obj", "u1", pns, seeds, sizes, 2, "d-2", false);
        plen[run] = hm__meta_response__get_packed_size(r);
        ck_assert_uint_le(plen[run], sizeof packed[run]);
        hm__meta_response__pack(r, packed[run]);
        tmu_done(r);
        tmu_sm_close(t);
    }
    ck_assert_uint_eq(plen[0], plen[1]);
    ck_assert(memcmp(packed[0], packed[1], plen[0]) == 0);
}
END_TEST

/* An upload of many parts retired at once is split into gc items of a
 * bounded size, so a GcScan answer stays small. */
START_TEST(test_abort_many_parts_gc_items)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt"), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "u1", 1), 0);
    for (uint32_t pn = 1; pn <= 100; pn++)
        ck_assert_int_eq(part_put(t, "bkt", "u1", pn, (uint8_t)pn, 1, 1000, NULL), 0);
    ck_assert_int_eq(upload_abort(t, "bkt", "u1", 10), 0);
    Hm__GcScan g = HM__GC_SCAN__INIT;
    g.has_now_ms = true;
    g.now_ms = 10;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_GC_SCAN;
    q.gc_scan = &g;
    Hm__MetaResponse *r = tmu_sm_query(t, &q);
    size_t total = 0;
    for (size_t i = 0; i < r->gc->n_items; i++) {
        ck_assert_uint_le(r->gc->items[i]->n_blobs, 32);
        total += r->gc->items[i]->n_blobs;
    }
    ck_assert_uint_eq(total, 100);
    ck_assert_uint_ge(r->gc->n_items, 4);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_mpu");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_upload_create_and_part_errors);
    tcase_add_test(tc, test_part_replace_gc);
    tcase_add_test(tc, test_complete);
    tcase_add_test(tc, test_complete_rejects);
    tcase_add_test(tc, test_abort);
    tcase_add_test(tc, test_part_list_pages);
    tcase_add_test(tc, test_upload_list);
    tcase_add_test(tc, test_bucket_delete_aborts_uploads);
    tcase_add_test(tc, test_set_tags);
    tcase_add_test(tc, test_complete_retry_after_tagging);
    tcase_add_test(tc, test_set_cors);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_abort_many_parts_gc_items);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
