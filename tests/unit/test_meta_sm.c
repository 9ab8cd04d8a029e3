/* test_meta_sm.c - the metadata state machine (hamster-meta/hm_meta_sm.c):
 * S3 semantics of every command and query, every error code, applied_index,
 * the schema record and determinism. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_keys.h"
#include "hm_meta_sm.h"
#include "test_meta_util.h"

/* The committed clock t_apply stamps on a command (as the node does); 0:
 * none. */
static int64_t t_clock_ms;

/* Apply cmd at the next index, which the response must carry. */
static Hm__MetaResponse *t_apply(tmu_sm *t, Hm__MetaCommand *cmd)
{
    if (t_clock_ms != 0) {
        cmd->has_clock_ms = true;
        cmd->clock_ms = t_clock_ms;
    }
    Hm__MetaResponse *r = tmu_sm_apply(t, cmd);
    ck_assert_uint_eq(r->log_index, t->index);
    return r;
}

static Hm__MetaResponse *bucket_create(tmu_sm *t, const char *name)
{
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)name;
    b.has_created_ms = true;
    b.created_ms = 1000;
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    c.bucket_create = &bc;
    return t_apply(t, &c);
}

static Hm__MetaResponse *bucket_delete(tmu_sm *t, const char *name)
{
    Hm__BucketDelete bd = HM__BUCKET_DELETE__INIT;
    bd.name = (char *)name;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_DELETE;
    c.bucket_delete = &bd;
    return t_apply(t, &c);
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

typedef struct put_opts {
    uint8_t oid;          /* object id byte in the command */
    const char *etag;
    uint32_t blobs;       /* number of blobs, ids derived from blob_seed */
    uint8_t blob_seed;
    int64_t mtime_ms;
    int64_t grace_ms;
    bool if_none_match;
    const char *if_match;
    const char *intent;
} put_opts;

static Hm__MetaResponse *object_put(tmu_sm *t, const char *bucket, const char *key,
                                    const put_opts *o)
{
    uint8_t oid[16];
    memset(oid, o->oid, sizeof oid);
    Hm__Blob blob_arr[4];
    Hm__Blob *blob_ptrs[4];
    uint8_t blob_ids[4][16];
    for (uint32_t i = 0; i < o->blobs && i < 4; i++) {
        hm__blob__init(&blob_arr[i]);
        memset(blob_ids[i], o->blob_seed + i, 16);
        blob_arr[i].has_blob_id = true;
        blob_arr[i].blob_id.data = blob_ids[i];
        blob_arr[i].blob_id.len = 16;
        blob_ptrs[i] = &blob_arr[i];
    }
    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_object_id = true;
    v.object_id.data = oid;
    v.object_id.len = 16;
    v.has_size = true;
    v.size = 123;
    v.etag = (char *)(o->etag != NULL ? o->etag : "e0");
    v.has_mtime_ms = true;
    v.mtime_ms = o->mtime_ms;
    v.n_blobs = o->blobs;
    v.blobs = blob_ptrs;
    uint8_t inl[3] = {1, 2, 3};
    v.has_inline_data = true;
    v.inline_data.data = inl;
    v.inline_data.len = sizeof inl;
    Hm__WriteCondition wc = HM__WRITE_CONDITION__INIT;
    wc.has_if_none_match_any = o->if_none_match;
    wc.if_none_match_any = o->if_none_match;
    wc.if_match_etag = (char *)o->if_match;
    Hm__ObjectPut p = HM__OBJECT_PUT__INIT;
    p.bucket = (char *)bucket;
    p.key = (char *)key;
    p.version = &v;
    p.cond = &wc;
    p.has_gc_grace_ms = true;
    p.gc_grace_ms = o->grace_ms;
    if (o->intent != NULL) {
        p.has_intent_id = true;
        p.intent_id.data = (uint8_t *)o->intent;
        p.intent_id.len = strlen(o->intent);
    }
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    c.object_put = &p;
    return t_apply(t, &c);
}

static Hm__MetaResponse *object_delete(tmu_sm *t, const char *bucket, const char *key,
                                       int64_t now, int64_t grace)
{
    Hm__ObjectDelete d = HM__OBJECT_DELETE__INIT;
    d.bucket = (char *)bucket;
    d.key = (char *)key;
    d.has_now_ms = true;
    d.now_ms = now;
    d.has_gc_grace_ms = true;
    d.gc_grace_ms = grace;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_OBJECT_DELETE;
    c.object_delete = &d;
    return t_apply(t, &c);
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

static Hm__MetaResponse *gc_scan(tmu_sm *t, int64_t now)
{
    Hm__GcScan g = HM__GC_SCAN__INIT;
    g.has_now_ms = true;
    g.now_ms = now;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_GC_SCAN;
    q.gc_scan = &g;
    return tmu_sm_query(t, &q);
}

/* GcScan with `all`: every queued item, due or not; no clock is sent. */
static Hm__MetaResponse *gc_scan_all(tmu_sm *t)
{
    Hm__GcScan g = HM__GC_SCAN__INIT;
    g.has_all = true;
    g.all = true;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_GC_SCAN;
    q.gc_scan = &g;
    return tmu_sm_query(t, &q);
}

/* An intent for one blob (all bytes blob_seed) with a deadline when
 * has_deadline. */
static Hm__MetaResponse *intent_put_at(tmu_sm *t, const char *id, uint8_t blob_seed,
                                       bool has_deadline, int64_t deadline_ms)
{
    uint8_t bid[16];
    memset(bid, blob_seed, sizeof bid);
    Hm__Blob b = HM__BLOB__INIT;
    b.has_blob_id = true;
    b.blob_id.data = bid;
    b.blob_id.len = 16;
    Hm__Blob *bp = &b;
    Hm__Intent in = HM__INTENT__INIT;
    in.has_intent_id = true;
    in.intent_id.data = (uint8_t *)id;
    in.intent_id.len = strlen(id);
    in.n_blobs = 1;
    in.blobs = &bp;
    in.has_deadline_ms = has_deadline;
    in.deadline_ms = deadline_ms;
    Hm__IntentPut ip = HM__INTENT_PUT__INIT;
    ip.intent = &in;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_INTENT_PUT;
    c.intent_put = &ip;
    return t_apply(t, &c);
}

static Hm__MetaResponse *intent_put(tmu_sm *t, const char *id, uint8_t blob_seed)
{
    return intent_put_at(t, id, blob_seed, false, 0);
}

static Hm__MetaResponse *intent_scan(tmu_sm *t, int64_t now, uint32_t max)
{
    Hm__IntentScan s = HM__INTENT_SCAN__INIT;
    s.has_now_ms = true;
    s.now_ms = now;
    s.has_max = max > 0;
    s.max = max;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_INTENT_SCAN;
    q.intent_scan = &s;
    Hm__MetaResponse *r = tmu_sm_query(t, &q);
    ck_assert_int_eq(r->err, 0);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_INTENTS);
    return r;
}

/* IntentScan with `all`: every intent with a deadline, due or not. */
static Hm__MetaResponse *intent_scan_all(tmu_sm *t)
{
    Hm__IntentScan s = HM__INTENT_SCAN__INIT;
    s.has_all = true;
    s.all = true;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_INTENT_SCAN;
    q.intent_scan = &s;
    Hm__MetaResponse *r = tmu_sm_query(t, &q);
    ck_assert_int_eq(r->err, 0);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_INTENTS);
    return r;
}

static bool intent_ids_eq(const Hm__IntentScanResult *r, size_t i, const char *id)
{
    return i < r->n_intent_ids && r->intent_ids[i].len == strlen(id) &&
           memcmp(r->intent_ids[i].data, id, strlen(id)) == 0;
}

/* Creating a bucket assigns increasing ids from a counter; a second create
 * of the same name fails with HM_EBUCKETEXISTS; bad names are HM_EINVAL. */
START_TEST(test_bucket_create)
{
    tmu_sm *t = tmu_sm_open();
    Hm__MetaResponse *r = bucket_create(t, "alpha");
    ck_assert_int_eq(r->err, 0);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_BUCKET);
    uint64_t id1 = r->bucket->bucket_id;
    ck_assert_uint_eq(r->bucket->format_version, HM_FORMAT_VERSION);
    tmu_done(r);
    r = bucket_create(t, "beta");
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_gt(r->bucket->bucket_id, id1);
    tmu_done(r);
    ck_assert_int_eq(tmu_done(bucket_create(t, "alpha")), HM_EBUCKETEXISTS);
    ck_assert_int_eq(tmu_done(bucket_create(t, "ab")), HM_EINVAL);
    r = bucket_get(t, "alpha");
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->bucket->bucket_id, id1);
    ck_assert_int_eq(r->bucket->created_ms, 1000);
    tmu_done(r);
    ck_assert_int_eq(tmu_done(bucket_get(t, "gamma")), HM_ENOBUCKET);

    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    Hm__BucketList bl = HM__BUCKET_LIST__INIT;
    q.op_case = HM__META_REQUEST__OP_BUCKET_LIST;
    q.bucket_list = &bl;
    r = tmu_sm_query(t, &q);
    ck_assert_uint_eq(r->buckets->n_buckets, 2);
    ck_assert_str_eq(r->buckets->buckets[0]->name, "alpha");
    ck_assert_str_eq(r->buckets->buckets[1]->name, "beta");
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* Deleting a bucket: HM_ENOBUCKET when absent, HM_ENOTEMPTY while a key
 * exists, success once it is empty, and a deleted bucket is gone. */
START_TEST(test_bucket_delete)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(tmu_done(bucket_delete(t, "alpha")), HM_ENOBUCKET);
    ck_assert_int_eq(tmu_done(bucket_create(t, "alpha")), 0);
    put_opts o = {.oid = 1};
    ck_assert_int_eq(tmu_done(object_put(t, "alpha", "k", &o)), 0);
    ck_assert_int_eq(tmu_done(bucket_delete(t, "alpha")), HM_ENOTEMPTY);
    ck_assert_int_eq(tmu_done(object_delete(t, "alpha", "k", 0, 0)), 0);
    ck_assert_int_eq(tmu_done(bucket_delete(t, "alpha")), 0);
    ck_assert_int_eq(tmu_done(bucket_get(t, "alpha")), HM_ENOBUCKET);
    /* a new bucket of the same name is a new id: no old names leak in */
    ck_assert_int_eq(tmu_done(bucket_create(t, "alpha")), 0);
    ck_assert_int_eq(tmu_done(object_get(t, "alpha", "k")), HM_ENOKEY);
    tmu_sm_close(t);
}
END_TEST

/* Put then get returns the stored version (with inline data, version
 * "null", the full key); get of a missing key is HM_ENOKEY, of a missing
 * bucket HM_ENOBUCKET; put into a missing bucket is HM_ENOBUCKET. */
START_TEST(test_object_put_get)
{
    tmu_sm *t = tmu_sm_open();
    put_opts o = {.oid = 7, .etag = "abc", .mtime_ms = 5};
    ck_assert_int_eq(tmu_done(object_put(t, "nob", "k", &o)), HM_ENOBUCKET);
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);
    Hm__MetaResponse *r = object_put(t, "bkt", "dir/k", &o);
    ck_assert_int_eq(r->err, 0);
    ck_assert_ptr_null(r->replaced);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_VERSION);
    ck_assert(!r->version->has_inline_data); /* replies carry no inline data */
    tmu_done(r);
    r = object_get(t, "bkt", "dir/k");
    ck_assert_int_eq(r->err, 0);
    ck_assert_str_eq(r->version->etag, "abc");
    ck_assert_str_eq(r->version->version_id, "null");
    ck_assert_str_eq(r->version->key, "dir/k");
    ck_assert_uint_eq(r->version->format_version, HM_FORMAT_VERSION);
    ck_assert_uint_eq(r->version->inline_data.len, 3);
    ck_assert_uint_eq(r->version->object_id.data[0], 7);
    tmu_done(r);
    ck_assert_int_eq(tmu_done(object_get(t, "bkt", "dir/x")), HM_ENOKEY);
    ck_assert_int_eq(tmu_done(object_get(t, "nob", "dir/k")), HM_ENOBUCKET);
    /* a key of 0 or over 1024 bytes is refused */
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "", &o)), HM_EINVAL);
    static char big[HM_KEY_BYTES_MAX + 2];
    memset(big, 'x', HM_KEY_BYTES_MAX + 1);
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", big, &o)), HM_EINVAL);
    big[HM_KEY_BYTES_MAX] = '\0';
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", big, &o)), 0);
    r = object_get(t, "bkt", big);
    ck_assert_int_eq(r->err, 0);
    ck_assert_str_eq(r->version->key, big);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* Overwriting a key keeps its object id (ignoring the command's), returns
 * the replaced version, and queues its blobs for GC at mtime + grace. */
START_TEST(test_object_overwrite_gc)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);
    put_opts o1 = {.oid = 1, .etag = "one", .blobs = 2, .blob_seed = 10, .mtime_ms = 100};
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o1)), 0);
    put_opts o2 = {.oid = 2, .etag = "two", .blobs = 1, .blob_seed = 20, .mtime_ms = 200,
                   .grace_ms = 50};
    Hm__MetaResponse *r = object_put(t, "bkt", "k", &o2);
    ck_assert_int_eq(r->err, 0);
    ck_assert_ptr_nonnull(r->replaced);
    ck_assert_str_eq(r->replaced->etag, "one");
    ck_assert(!r->replaced->has_inline_data);
    ck_assert_uint_eq(r->version->object_id.data[0], 1);
    tmu_done(r);
    r = object_get(t, "bkt", "k");
    ck_assert_str_eq(r->version->etag, "two");
    ck_assert_uint_eq(r->version->object_id.data[0], 1);
    tmu_done(r);
    /* not yet due at 249 (though a scan with `all` sees it), due at 250 */
    r = gc_scan(t, 249);
    ck_assert_uint_eq(r->gc->n_items, 0);
    tmu_done(r);
    r = gc_scan_all(t);
    ck_assert_uint_eq(r->gc->n_items, 1);
    ck_assert_int_eq(r->gc->items[0]->not_before_ms, 250);
    tmu_done(r);
    r = gc_scan(t, 250);
    ck_assert_uint_eq(r->gc->n_items, 1);
    ck_assert_uint_eq(r->gc->items[0]->n_blobs, 2);
    ck_assert_uint_eq(r->gc->items[0]->blobs[0]->blob_id.data[0], 10);
    ck_assert_int_eq(r->gc->items[0]->not_before_ms, 250);

    /* gc done removes exactly the scanned items */
    Hm__GcDone gd = HM__GC_DONE__INIT;
    gd.n_gc_keys = r->gc->n_gc_keys;
    gd.gc_keys = r->gc->gc_keys;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_GC_DONE;
    c.gc_done = &gd;
    ck_assert_int_eq(tmu_done(t_apply(t, &c)), 0);
    tmu_done(r);
    r = gc_scan_all(t);
    ck_assert_uint_eq(r->gc->n_items, 0);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* If-None-Match: * fails with HM_EPRECOND when the key exists and succeeds
 * when it does not; a failed put changes nothing. */
START_TEST(test_cond_if_none_match)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);
    put_opts o = {.oid = 1, .etag = "a", .if_none_match = true};
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), 0);
    o.etag = "b";
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), HM_EPRECOND);
    Hm__MetaResponse *r = object_get(t, "bkt", "k");
    ck_assert_str_eq(r->version->etag, "a");
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* If-Match fails with HM_EPRECOND when the key is absent or its ETag
 * differs, and succeeds when the ETag matches. */
START_TEST(test_cond_if_match)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);
    put_opts o = {.oid = 1, .etag = "a", .if_match = "a"};
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), HM_EPRECOND);
    o.if_match = NULL;
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), 0);
    o.if_match = "zzz";
    o.etag = "b";
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), HM_EPRECOND);
    o.if_match = "a";
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), 0);
    Hm__MetaResponse *r = object_get(t, "bkt", "k");
    ck_assert_str_eq(r->version->etag, "b");
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* A put naming an intent needs it live (else HM_EINTENT) and retires it in
 * the same transaction, so a second put with it fails; deleting an intent
 * sends its blobs to GC at now, and deleting it again is a no-op. */
START_TEST(test_intents)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);
    put_opts o = {.oid = 1, .intent = "i1"};
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), HM_EINTENT);
    ck_assert_int_eq(tmu_done(object_get(t, "bkt", "k")), HM_ENOKEY);
    ck_assert_int_eq(tmu_done(intent_put(t, "i1", 0x33)), 0);
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), 0);
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), HM_EINTENT);

    ck_assert_int_eq(tmu_done(intent_put(t, "i2", 0x44)), 0);
    Hm__IntentDelete d = HM__INTENT_DELETE__INIT;
    d.has_intent_id = true;
    d.intent_id.data = (uint8_t *)"i2";
    d.intent_id.len = 2;
    d.has_now_ms = true;
    d.now_ms = 777;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_INTENT_DELETE;
    c.intent_delete = &d;
    ck_assert_int_eq(tmu_done(t_apply(t, &c)), 0);
    ck_assert_int_eq(tmu_done(t_apply(t, &c)), 0);
    Hm__MetaResponse *r = gc_scan(t, 776);
    ck_assert_uint_eq(r->gc->n_items, 0);
    tmu_done(r);
    r = gc_scan(t, 777);
    ck_assert_uint_eq(r->gc->n_items, 1);
    ck_assert_uint_eq(r->gc->items[0]->blobs[0]->blob_id.data[0], 0x44);
    tmu_done(r);
    o.intent = "i2";
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k2", &o)), HM_EINTENT);
    tmu_sm_close(t);
}
END_TEST

/* IntentScan lists exactly the intents with deadline_ms <= now_ms, in id
 * order and at most max; expiring one with IntentDelete queues its blob for
 * gc at the delete's now_ms, and a write naming it then gets HM_EINTENT. */
START_TEST(test_intent_scan)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);
    Hm__MetaResponse *r = intent_scan_all(t);
    ck_assert_uint_eq(r->intents->n_intent_ids, 0);
    tmu_done(r);
    ck_assert_int_eq(tmu_done(intent_put_at(t, "ia", 0x51, true, 1000)), 0);
    ck_assert_int_eq(tmu_done(intent_put_at(t, "ib", 0x52, true, 5000)), 0);
    ck_assert_int_eq(tmu_done(intent_put_at(t, "ic", 0x53, true, 2000)), 0);

    r = intent_scan(t, 999, 0);
    ck_assert_uint_eq(r->intents->n_intent_ids, 0);
    tmu_done(r);
    /* `all` lists every one whatever its deadline, earliest first. */
    r = intent_scan_all(t);
    ck_assert_uint_eq(r->intents->n_intent_ids, 3);
    ck_assert(intent_ids_eq(r->intents, 0, "ia"));
    ck_assert(intent_ids_eq(r->intents, 1, "ic"));
    ck_assert(intent_ids_eq(r->intents, 2, "ib"));
    tmu_done(r);
    r = intent_scan(t, 1000, 0);
    ck_assert_uint_eq(r->intents->n_intent_ids, 1);
    ck_assert(intent_ids_eq(r->intents, 0, "ia"));
    tmu_done(r);
    r = intent_scan(t, 2500, 0);
    ck_assert_uint_eq(r->intents->n_intent_ids, 2);
    ck_assert(intent_ids_eq(r->intents, 0, "ia"));
    ck_assert(intent_ids_eq(r->intents, 1, "ic"));
    tmu_done(r);
    r = intent_scan(t, 2500, 1);
    ck_assert_uint_eq(r->intents->n_intent_ids, 1);
    ck_assert(intent_ids_eq(r->intents, 0, "ia"));
    tmu_done(r);

    /* Expire ic as gc would: its blob goes to gc at now, ia and ib stay. */
    Hm__IntentDelete d = HM__INTENT_DELETE__INIT;
    d.has_intent_id = true;
    d.intent_id.data = (uint8_t *)"ic";
    d.intent_id.len = 2;
    d.has_now_ms = true;
    d.now_ms = 2500;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_INTENT_DELETE;
    c.intent_delete = &d;
    ck_assert_int_eq(tmu_done(t_apply(t, &c)), 0);
    ck_assert_int_eq(tmu_done(t_apply(t, &c)), 0); /* a lost reply's retry */
    r = intent_scan(t, 2500, 0);
    ck_assert_uint_eq(r->intents->n_intent_ids, 1);
    ck_assert(intent_ids_eq(r->intents, 0, "ia"));
    tmu_done(r);
    r = gc_scan(t, 2499);
    ck_assert_uint_eq(r->gc->n_items, 0);
    tmu_done(r);
    r = gc_scan(t, 2500);
    ck_assert_uint_eq(r->gc->n_items, 1);
    ck_assert_uint_eq(r->gc->items[0]->n_blobs, 1);
    ck_assert_uint_eq(r->gc->items[0]->blobs[0]->blob_id.data[0], 0x53);
    tmu_done(r);
    put_opts o = {.oid = 1, .intent = "ic"};
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), HM_EINTENT);
    ck_assert_int_eq(tmu_done(object_get(t, "bkt", "k")), HM_ENOKEY);

    /* The live one is retired by its write and never listed. */
    o.intent = "ib";
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), 0);
    r = intent_scan_all(t);
    ck_assert_uint_eq(r->intents->n_intent_ids, 1);
    ck_assert(intent_ids_eq(r->intents, 0, "ia"));
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* IntentDelete of id at now (an abort, an expiry, or the collection of a
 * due tombstone). */
static Hm__MetaResponse *intent_delete(tmu_sm *t, const char *id, int64_t now)
{
    Hm__IntentDelete d = HM__INTENT_DELETE__INIT;
    d.has_intent_id = true;
    d.intent_id.data = (uint8_t *)id;
    d.intent_id.len = strlen(id);
    d.has_now_ms = true;
    d.now_ms = now;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_INTENT_DELETE;
    c.intent_delete = &d;
    return t_apply(t, &c);
}

/* Once an intent is retired (its write committed, or it was aborted or
 * expired), a late duplicate IntentPut of its id is refused for
 * HM_INTENT_RETIRED_MS of committed time, so it cannot bring back blobs a
 * committed write names; the tombstone holds no blobs, is not counted as a
 * live intent, survives a late duplicate IntentDelete, and is collected by
 * the collector's IntentDelete once due. */
START_TEST(test_late_intent_put_refused)
{
    tmu_sm *t = tmu_sm_open();
    const int64_t t0 = 1764063159000;
    t_clock_ms = t0;
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);

    /* Committed: the PUT's intent is retired by its ObjectPut. */
    ck_assert_int_eq(tmu_done(intent_put(t, "i1", 0x61)), 0);
    put_opts o = {.oid = 1, .blobs = 1, .blob_seed = 0x61, .intent = "i1"};
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), 0);
    t_clock_ms = t0 + 1000;
    ck_assert_int_eq(tmu_done(intent_put(t, "i1", 0x61)), HM_EINTENT);
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), HM_EINTENT);

    /* Aborted: the intent's blob goes to gc, the id stays refused, and a
     * late copy of the abort changes nothing. */
    ck_assert_int_eq(tmu_done(intent_put(t, "i2", 0x62)), 0);
    ck_assert_int_eq(tmu_done(intent_delete(t, "i2", t0 + 1000)), 0);
    ck_assert_int_eq(tmu_done(intent_delete(t, "i2", t0 + 1000)), 0);
    ck_assert_int_eq(tmu_done(intent_put(t, "i2", 0x62)), HM_EINTENT);
    Hm__MetaResponse *r = gc_scan_all(t);
    ck_assert_uint_eq(r->gc->n_items, 1);
    ck_assert_uint_eq(r->gc->items[0]->blobs[0]->blob_id.data[0], 0x62);
    tmu_done(r);

    /* Tombstones are no writes in flight, and not due before their time. */
    r = intent_scan_all(t);
    ck_assert_uint_eq(r->intents->n_intent_ids, 0);
    tmu_done(r);
    r = intent_scan(t, t0 + 1000 + HM_INTENT_RETIRED_MS - 1, 0);
    ck_assert_uint_eq(r->intents->n_intent_ids, 1);
    ck_assert(intent_ids_eq(r->intents, 0, "i1"));
    tmu_done(r);
    t_clock_ms = t0 + HM_INTENT_RETIRED_MS - 1;
    ck_assert_int_eq(tmu_done(intent_delete(t, "i2", t_clock_ms)), 0);
    ck_assert_int_eq(tmu_done(intent_put(t, "i2", 0x62)), HM_EINTENT);

    /* Due: the collector's scan lists both, its IntentDelete collects
     * them, and only then is the id free again. */
    t_clock_ms = t0 + 1000 + HM_INTENT_RETIRED_MS;
    r = intent_scan(t, t_clock_ms, 0);
    ck_assert_uint_eq(r->intents->n_intent_ids, 2);
    ck_assert(intent_ids_eq(r->intents, 0, "i1"));
    ck_assert(intent_ids_eq(r->intents, 1, "i2"));
    tmu_done(r);
    ck_assert_int_eq(tmu_done(intent_delete(t, "i1", t_clock_ms)), 0);
    ck_assert_int_eq(tmu_done(intent_delete(t, "i2", t_clock_ms)), 0);
    r = intent_scan(t, t_clock_ms, 0);
    ck_assert_uint_eq(r->intents->n_intent_ids, 0);
    tmu_done(r);
    r = gc_scan_all(t);
    ck_assert_uint_eq(r->gc->n_items, 1); /* collecting a tombstone frees nothing */
    tmu_done(r);
    ck_assert_int_eq(tmu_done(intent_put(t, "i1", 0x61)), 0);

    /* The planted bug lets the late duplicate through. */
    ck_assert_int_eq(tmu_done(intent_put(t, "i3", 0x63)), 0);
    o.intent = "i3";
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k3", &o)), 0);
    hm_meta_sm_plant_revive_retired_intent(true);
    ck_assert_int_eq(tmu_done(intent_put(t, "i3", 0x63)), 0);
    hm_meta_sm_plant_revive_retired_intent(false);
    r = intent_scan_all(t);
    ck_assert_uint_eq(r->intents->n_intent_ids, 2);
    tmu_done(r);
    t_clock_ms = 0;
    tmu_sm_close(t);
}
END_TEST

/* Deleting a key removes it (name and version) and queues its blobs for GC
 * at now + grace; deleting an absent key succeeds; a missing bucket is
 * HM_ENOBUCKET. */
START_TEST(test_object_delete)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(tmu_done(object_delete(t, "bkt", "k", 0, 0)), HM_ENOBUCKET);
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);
    ck_assert_int_eq(tmu_done(object_delete(t, "bkt", "k", 0, 0)), 0);
    put_opts o = {.oid = 1, .etag = "x", .blobs = 1, .blob_seed = 9};
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), 0);
    Hm__MetaResponse *r = object_delete(t, "bkt", "k", 1000, 10);
    ck_assert_int_eq(r->err, 0);
    ck_assert_ptr_nonnull(r->replaced);
    ck_assert_str_eq(r->replaced->etag, "x");
    tmu_done(r);
    ck_assert_int_eq(tmu_done(object_get(t, "bkt", "k")), HM_ENOKEY);
    r = gc_scan(t, 1009);
    ck_assert_uint_eq(r->gc->n_items, 0);
    tmu_done(r);
    r = gc_scan(t, 1010);
    ck_assert_uint_eq(r->gc->n_items, 1);
    ck_assert_uint_eq(r->gc->items[0]->blobs[0]->blob_id.data[0], 9);
    tmu_done(r);
    /* a put after delete starts a fresh object (the command's id) */
    o.oid = 5;
    ck_assert_int_eq(tmu_done(object_put(t, "bkt", "k", &o)), 0);
    r = object_get(t, "bkt", "k");
    ck_assert_uint_eq(r->version->object_id.data[0], 5);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* applied_index advances with every command, rejected ones included, and
 * an index at or below it is refused as a store failure. */
START_TEST(test_applied_index)
{
    tmu_sm *t = tmu_sm_open();
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), 0);
    ck_assert_int_eq(tmu_done(bucket_create(t, "bkt")), HM_EBUCKETEXISTS);
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    uint64_t applied = 0;
    ck_assert_int_eq(hm_meta_sm_applied_index(t->env, txn, &applied), 0);
    ck_assert_uint_eq(applied, 2);
    Hm__BucketDelete bd = HM__BUCKET_DELETE__INIT;
    bd.name = (char *)"bkt";
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_DELETE;
    c.bucket_delete = &bd;
    Hm__MetaResponse *r = tmu_new_resp();
    ck_assert_int_eq(hm_meta_sm_apply(t->env, txn, 2, &c, r), HM_EINTERNAL);
    hm__meta_response__free_unpacked(r, NULL);
    t->env->ops->kv_abort(txn);
    /* an unknown command kind is rejected deterministically */
    Hm__MetaCommand empty = HM__META_COMMAND__INIT;
    ck_assert_int_eq(tmu_done(t_apply(t, &empty)), HM_EINVAL);
    tmu_sm_close(t);
}
END_TEST

/* The schema record is written on a fresh store and an unknown schema
 * version is refused with HM_EVERSION. */
START_TEST(test_schema_version)
{
    tmu_sm *t = tmu_sm_open();
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    const void *v = NULL;
    size_t vl = 0;
    ck_assert_int_eq(t->env->ops->kv_get(txn, HM_KV_SYS, "schema", 6, &v, &vl), 0);
    ck_assert_uint_eq(vl, 4);
    ck_assert_uint_eq(((const uint8_t *)v)[3], HM_META_SCHEMA_VERSION);
    uint8_t newer[4] = {0, 0, 0, HM_META_SCHEMA_VERSION + 1};
    ck_assert_int_eq(t->env->ops->kv_put(txn, HM_KV_SYS, "schema", 6, newer, 4), 0);
    ck_assert_int_eq(hm_meta_sm_init(t->env, txn), HM_EVERSION);
    t->env->ops->kv_abort(txn);
    tmu_sm_close(t);
}
END_TEST

/* A stored record with an unsupported format_version or bytes that do not
 * parse is an error, not a crash. */
START_TEST(test_bad_records)
{
    tmu_sm *t = tmu_sm_open();
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.has_format_version = true;
    b.format_version = HM_FORMAT_VERSION_MAX + 1;
    b.name = (char *)"newer";
    uint8_t buf[64];
    size_t n = hm__bucket_record__pack(&b, buf);
    ck_assert_int_eq(t->env->ops->kv_put(txn, HM_KV_BUCKETS, "newer", 5, buf, n), 0);
    const uint8_t junk[] = {0xFF, 0xFF, 0xFF};
    ck_assert_int_eq(t->env->ops->kv_put(txn, HM_KV_BUCKETS, "junky", 5, junk, 3), 0);
    Hm__BucketGet g = HM__BUCKET_GET__INIT;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_BUCKET_GET;
    q.bucket_get = &g;
    Hm__MetaResponse *r = tmu_new_resp();
    g.name = (char *)"newer";
    ck_assert_int_eq(hm_meta_sm_query(t->env, txn, &q, r), HM_EVERSION);
    hm__meta_response__free_unpacked(r, NULL);
    r = tmu_new_resp();
    g.name = (char *)"junky";
    ck_assert_int_eq(hm_meta_sm_query(t->env, txn, &q, r), HM_ECORRUPT);
    hm__meta_response__free_unpacked(r, NULL);
    t->env->ops->kv_abort(txn);
    tmu_sm_close(t);
}
END_TEST

/* Dump every table of a store as one byte string, for comparisons. */
static size_t dump_store(tmu_sm *t, uint8_t **out)
{
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &txn), 0);
    for (int tb = 0; tb < HM_KV_TABLE_COUNT; tb++) {
        hm_kv_cursor *c = NULL;
        ck_assert_int_eq(t->env->ops->kv_cursor_open(txn, tb, &c), 0);
        for (int rc = t->env->ops->kv_cursor_seek(c, NULL, 0); rc == 0;
             rc = t->env->ops->kv_cursor_next(c)) {
            const void *k, *v;
            size_t kl, vl;
            ck_assert_int_eq(t->env->ops->kv_cursor_get(c, &k, &kl, &v, &vl), 0);
            while (len + kl + vl + 16 > cap)
                buf = realloc(buf, cap *= 2);
            memcpy(buf + len, &kl, sizeof kl);
            len += sizeof kl;
            memcpy(buf + len, k, kl);
            len += kl;
            memcpy(buf + len, v, vl);
            len += vl;
        }
        t->env->ops->kv_cursor_close(c);
    }
    t->env->ops->kv_abort(txn);
    *out = buf;
    return len;
}

static void run_workload(tmu_sm *t)
{
    tmu_done(bucket_create(t, "bkt"));
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i % 7);
        put_opts o = {.oid = (uint8_t)i, .blobs = 1, .blob_seed = (uint8_t)i,
                      .mtime_ms = i, .grace_ms = 5};
        tmu_done(object_put(t, "bkt", key, &o));
        if (i % 5 == 0)
            tmu_done(object_delete(t, "bkt", key, i, 5));
    }
}

/* Apply is deterministic: the same commands give byte-identical tables. */
START_TEST(test_deterministic)
{
    tmu_sm *a = tmu_sm_open(), *b = tmu_sm_open();
    run_workload(a);
    run_workload(b);
    uint8_t *da = NULL, *db = NULL;
    size_t la = dump_store(a, &da), lb = dump_store(b, &db);
    ck_assert_uint_gt(la, 0);
    ck_assert_uint_eq(la, lb);
    ck_assert_mem_eq(da, db, la);
    free(da);
    free(db);
    tmu_sm_close(a);
    tmu_sm_close(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_sm");
    TCase *tc = tcase_create("sm");
    tcase_add_test(tc, test_bucket_create);
    tcase_add_test(tc, test_bucket_delete);
    tcase_add_test(tc, test_object_put_get);
    tcase_add_test(tc, test_object_overwrite_gc);
    tcase_add_test(tc, test_cond_if_none_match);
    tcase_add_test(tc, test_cond_if_match);
    tcase_add_test(tc, test_intents);
    tcase_add_test(tc, test_intent_scan);
    tcase_add_test(tc, test_object_delete);
    tcase_add_test(tc, test_applied_index);
    tcase_add_test(tc, test_schema_version);
    tcase_add_test(tc, test_bad_records);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_late_intent_put_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
