/* test_meta_clock.c - the committed clock, the state machine's indexes and
 * the gc lease (hamster-meta/hm_meta_sm.c, hm_meta_node.c).
 *
 * Intent deadlines, gc not-before times, upload expiry and the gc lease
 * are reckoned in the committed clock the meta node stamps on each command,
 * so a jump of a wall clock neither expires an in-flight write early nor
 * keeps it forever.  The scans of due work read only due rows: a kv wrapper
 * counts the cursor steps each query takes.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_node.h"
#include "hm_meta_sm.h"
#include "test_meta_util.h"

/* ---- a posix env with a test-driven clock and counted cursor steps ------ */

static hm_env *inner;
static hm_env fake_env;
static struct hm_env_ops fake_ops;
static _Atomic int64_t fake_mono_ms;
static _Atomic int64_t fake_wall_ms;
static atomic_long cursor_steps;

static int64_t f_mono_ns(hm_env *e)
{
    (void)e;
    return atomic_load(&fake_mono_ms) * 1000000;
}

static int64_t f_wall_ms(hm_env *e)
{
    (void)e;
    return atomic_load(&fake_wall_ms);
}

static int f_cursor_next(hm_kv_cursor *c)
{
    atomic_fetch_add(&cursor_steps, 1);
    return inner->ops->kv_cursor_next(c);
}

static hm_env *fake_env_new(void)
{
    inner = tmu_env();
    fake_ops = *inner->ops;
    fake_ops.mono_ns = f_mono_ns;
    fake_ops.wall_ms = f_wall_ms;
    fake_ops.kv_cursor_next = f_cursor_next;
    fake_env.ops = &fake_ops;
    fake_env.impl = inner->impl;
    atomic_store(&fake_mono_ms, 5000);
    atomic_store(&fake_wall_ms, 1700000000000);
    return &fake_env;
}

/* ---- state machine helpers ------------------------------------------------ */

typedef struct sm {
    char *dir;
    hm_env *env;
    hm_kv *kv;
    uint64_t index;
} sm;

static sm *sm_open(void)
{
    sm *t = calloc(1, sizeof *t);
    t->dir = tmu_mkdtemp();
    t->env = fake_env_new();
    ck_assert_int_eq(t->env->ops->kv_open(t->env, t->dir, &t->kv), 0);
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    ck_assert_int_eq(hm_meta_sm_init(t->env, txn), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    return t;
}

static void sm_close(sm *t)
{
    t->env->ops->kv_close(t->kv);
    hm_env_posix_free(inner);
    tmu_rmdir(t->dir);
    free(t);
}

/* Apply cmd stamped with clock (clock < 0: unstamped). */
static Hm__MetaResponse *sm_apply(sm *t, Hm__MetaCommand *cmd, int64_t clock)
{
    cmd->has_clock_ms = clock >= 0;
    cmd->clock_ms = clock;
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    Hm__MetaResponse *r = tmu_new_resp();
    ck_assert_int_eq(hm_meta_sm_apply(t->env, txn, ++t->index, cmd, r), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    return r;
}

static Hm__MetaResponse *sm_query(sm *t, Hm__MetaRequest *q)
{
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &txn), 0);
    Hm__MetaResponse *r = tmu_new_resp();
    ck_assert_int_eq(hm_meta_sm_query(t->env, txn, q, r), 0);
    t->env->ops->kv_abort(txn);
    return r;
}

static int bucket_create(sm *t, const char *name, int64_t clock)
{
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)name;
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    c.bucket_create = &bc;
    return tmu_done(sm_apply(t, &c, clock));
}

static void intent_cmd(Hm__MetaCommand *c, Hm__IntentPut *ip, Hm__Intent *in, Hm__Blob *b,
                       Hm__Blob **bp, const char *id, uint8_t seed)
{
    static uint8_t bid[256][16];
    memset(bid[seed], seed, 16);
    hm__blob__init(b);
    b->has_blob_id = true;
    b->blob_id.data = bid[seed];
    b->blob_id.len = 16;
    *bp = b;
    hm__intent__init(in);
    in->has_intent_id = true;
    in->intent_id.data = (uint8_t *)id;
    in->intent_id.len = strlen(id);
    in->n_blobs = 1;
    in->blobs = bp;
    hm__intent_put__init(ip);
    ip->intent = in;
    hm__meta_command__init(c);
    c->op_case = HM__META_COMMAND__OP_INTENT_PUT;
    c->intent_put = ip;
}

/* IntentPut with a ttl at committed clock `clock`. */
static int intent_put_ttl(sm *t, const char *id, uint8_t seed, int64_t ttl, int64_t clock)
{
    Hm__MetaCommand c;
    Hm__IntentPut ip;
    Hm__Intent in;
    Hm__Blob b, *bp;
    intent_cmd(&c, &ip, &in, &b, &bp, id, seed);
    in.has_ttl_ms = true;
    in.ttl_ms = ttl;
    in.has_deadline_ms = true;
    in.deadline_ms = 1; /* a gateway's wall-clock guess: ignored */
    return tmu_done(sm_apply(t, &c, clock));
}

static Hm__MetaResponse *intent_scan(sm *t, int64_t now)
{
    Hm__IntentScan s = HM__INTENT_SCAN__INIT;
    s.has_now_ms = true;
    s.now_ms = now;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_INTENT_SCAN;
    q.intent_scan = &s;
    Hm__MetaResponse *r = sm_query(t, &q);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_INTENTS);
    return r;
}

static size_t n_intents_due(sm *t, int64_t now)
{
    Hm__MetaResponse *r = intent_scan(t, now);
    size_t n = r->intents->n_intent_ids;
    tmu_done(r);
    return n;
}

static int upload_create(sm *t, const char *bucket, const char *key, const char *uid,
                         int64_t initiated, int64_t clock)
{
    Hm__UploadRecord u = HM__UPLOAD_RECORD__INIT;
    u.bucket = (char *)bucket;
    u.key = (char *)key;
    u.upload_id = (char *)uid;
    u.has_initiated_ms = true;
    u.initiated_ms = initiated;
    Hm__UploadCreate uc = HM__UPLOAD_CREATE__INIT;
    uc.upload = &u;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_UPLOAD_CREATE;
    c.upload_create = &uc;
    return tmu_done(sm_apply(t, &c, clock));
}

static int upload_abort(sm *t, const char *bucket, const char *uid, int64_t clock)
{
    Hm__UploadAbort a = HM__UPLOAD_ABORT__INIT;
    a.bucket = (char *)bucket;
    a.upload_id = (char *)uid;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_UPLOAD_ABORT;
    c.upload_abort = &a;
    return tmu_done(sm_apply(t, &c, clock));
}

static Hm__MetaResponse *expiry_scan(sm *t, int64_t now, int64_t age, uint32_t max)
{
    Hm__UploadExpiryScan s = HM__UPLOAD_EXPIRY_SCAN__INIT;
    s.has_now_ms = true;
    s.now_ms = now;
    s.has_older_than_ms = true;
    s.older_than_ms = age;
    s.has_max = max > 0;
    s.max = max;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_UPLOAD_EXPIRY_SCAN;
    q.upload_expiry_scan = &s;
    Hm__MetaResponse *r = sm_query(t, &q);
    ck_assert_int_eq(r->err, 0);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_UPLOADS);
    return r;
}

static Hm__MetaResponse *upload_list(sm *t, const char *bucket, const char *prefix,
                                     const char *delim, const char *km, const char *um,
                                     uint32_t max)
{
    Hm__UploadList l = HM__UPLOAD_LIST__INIT;
    l.bucket = (char *)bucket;
    l.prefix = (char *)prefix;
    l.delimiter = (char *)delim;
    l.key_marker = (char *)km;
    l.upload_id_marker = (char *)um;
    l.has_max_uploads = true;
    l.max_uploads = max;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_UPLOAD_LIST;
    q.upload_list = &l;
    Hm__MetaResponse *r = sm_query(t, &q);
    ck_assert_int_eq(r->err, 0);
    return r;
}

static int gc_lease(sm *t, const char *holder, int64_t ttl, int64_t clock)
{
    Hm__GcLease g = HM__GC_LEASE__INIT;
    g.has_holder = true;
    g.holder.data = (uint8_t *)holder;
    g.holder.len = strlen(holder);
    g.has_ttl_ms = true;
    g.ttl_ms = ttl;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_GC_LEASE;
    c.gc_lease = &g;
    return tmu_done(sm_apply(t, &c, clock));
}

/* ---- tests ------------------------------------------------------------------ */

/* An IntentPut's deadline is the committed clock plus its ttl, whatever
 * deadline the proposer sent; the clock never runs back when a later stamp
 * is lower. */
START_TEST(test_intent_deadline_is_committed_time)
{
    sm *t = sm_open();
    ck_assert_int_eq(intent_put_ttl(t, "i1", 1, 10000, 50000), 0);
    ck_assert_uint_eq(n_intents_due(t, 59999), 0);
    ck_assert_uint_eq(n_intents_due(t, 60000), 1);
    /* a stamp below the clock (a node whose monotonic clock restarted low)
     * counts from the clock, not from the stamp */
    ck_assert_int_eq(intent_put_ttl(t, "i2", 2, 10000, 20000), 0);
    hm_kv_txn *txn = NULL;
    int64_t clock = 0;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &txn), 0);
    ck_assert_int_eq(hm_meta_sm_clock(t->env, txn, &clock), 0);
    t->env->ops->kv_abort(txn);
    ck_assert_int_eq(clock, 50000);
    ck_assert_uint_eq(n_intents_due(t, 59999), 0);
    ck_assert_uint_eq(n_intents_due(t, 60000), 2);
    sm_close(t);
}
END_TEST

/* IntentScan reads only due intents: 3,000 live intents and 2 due ones
 * cost a handful of cursor steps, not 3,000; retiring an intent removes its
 * index row, and a repeated IntentPut of one id leaves one row. */
START_TEST(test_intent_scan_reads_only_due)
{
    sm *t = sm_open();
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "live-%05d", i);
        ck_assert_int_eq(intent_put_ttl(t, id, 3, 1000000, 1000), 0);
    }
    ck_assert_int_eq(intent_put_ttl(t, "due-a", 4, 10, 1000), 0);
    ck_assert_int_eq(intent_put_ttl(t, "due-b", 5, 20, 1000), 0);
    ck_assert_int_eq(intent_put_ttl(t, "due-b", 5, 20, 1000), 0); /* duplicated */
    atomic_store(&cursor_steps, 0);
    Hm__MetaResponse *r = intent_scan(t, 2000);
    ck_assert_uint_eq(r->intents->n_intent_ids, 2);
    ck_assert_int_eq(memcmp(r->intents->intent_ids[0].data, "due-a", 5), 0);
    ck_assert_int_eq(memcmp(r->intents->intent_ids[1].data, "due-b", 5), 0);
    tmu_done(r);
    ck_assert_int_le(atomic_load(&cursor_steps), 5);
    /* IntentDelete of a due one removes its row too */
    Hm__IntentDelete d = HM__INTENT_DELETE__INIT;
    d.has_intent_id = true;
    d.intent_id.data = (uint8_t *)"due-a";
    d.intent_id.len = 5;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_INTENT_DELETE;
    c.intent_delete = &d;
    ck_assert_int_eq(tmu_done(sm_apply(t, &c, 2000)), 0);
    ck_assert_uint_eq(n_intents_due(t, 2000), 1);
    ck_assert_uint_eq(n_intents_due(t, 1001000), HM_LIST_KEYS_MAX); /* one page */
    sm_close(t);
}
END_TEST

/* gc not-before counts from the committed clock: an IntentDelete at clock
 * 7,000 queues its blobs at 7,000 even when it says now_ms = 10^12. */
START_TEST(test_gc_not_before_is_committed_time)
{
    sm *t = sm_open();
    ck_assert_int_eq(intent_put_ttl(t, "ix", 9, 10, 5000), 0);
    Hm__IntentDelete d = HM__INTENT_DELETE__INIT;
    d.has_intent_id = true;
    d.intent_id.data = (uint8_t *)"ix";
    d.intent_id.len = 2;
    d.has_now_ms = true;
    d.now_ms = 1000000000000;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_INTENT_DELETE;
    c.intent_delete = &d;
    ck_assert_int_eq(tmu_done(sm_apply(t, &c, 7000)), 0);
    Hm__GcScan g = HM__GC_SCAN__INIT;
    g.has_now_ms = true;
    g.now_ms = 7000;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_GC_SCAN;
    q.gc_scan = &g;
    Hm__MetaResponse *r = sm_query(t, &q);
    ck_assert_uint_eq(r->gc->n_items, 1);
    tmu_done(r);
    sm_close(t);
}
END_TEST

/* The gc lease: granted when free, refused (HM_EBUSY) to another holder
 * while live, renewed by its holder, free again once it ran out in
 * committed time; refused without the clock. */
START_TEST(test_gc_lease)
{
    sm *t = sm_open();
    ck_assert_int_eq(gc_lease(t, "gw-a", 30000, 1000), 0);
    ck_assert_int_eq(gc_lease(t, "gw-b", 30000, 2000), HM_EBUSY);
    ck_assert_int_eq(gc_lease(t, "gw-a", 30000, 20000), 0); /* renew: until 50,000 */
    ck_assert_int_eq(gc_lease(t, "gw-b", 30000, 40000), HM_EBUSY);
    ck_assert_int_eq(gc_lease(t, "gw-b", 30000, 50000), 0);
    ck_assert_int_eq(gc_lease(t, "gw-a", 30000, 50001), HM_EBUSY);
    ck_assert_int_eq(gc_lease(t, "gw-a", 30000, -1), HM_EINVAL);
    ck_assert_int_eq(gc_lease(t, "", 30000, 90000), HM_EINVAL);
    sm_close(t);
}
END_TEST

/* UploadExpiryScan lists the uploads created at least older_than_ms ago in
 * committed time, oldest first, reading no younger rows; an abort removes
 * the upload from it. */
START_TEST(test_upload_expiry_scan)
{
    sm *t = sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt", 100), 0);
    /* initiated_ms is the gateway's wall clock: far in the future, unused */
    ck_assert_int_eq(upload_create(t, "bkt", "old", "u-old", 9000000000000, 1000), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "mid", "u-mid", 9000000000000, 5000), 0);
    char uid[32];
    for (int i = 0; i < 500; i++) {
        snprintf(uid, sizeof uid, "young-%d", i);
        ck_assert_int_eq(upload_create(t, "bkt", "new", uid, 1, 100000), 0);
    }
    atomic_store(&cursor_steps, 0);
    Hm__MetaResponse *r = expiry_scan(t, 10000, 5000, 0);
    ck_assert_int_le(atomic_load(&cursor_steps), 4);
    ck_assert_uint_eq(r->uploads->n_uploads, 2);
    ck_assert_str_eq(r->uploads->uploads[0]->upload_id, "u-old");
    ck_assert_str_eq(r->uploads->uploads[1]->upload_id, "u-mid");
    ck_assert_str_eq(r->uploads->uploads[0]->bucket, "bkt");
    tmu_done(r);
    r = expiry_scan(t, 10000, 5000, 1);
    ck_assert_uint_eq(r->uploads->n_uploads, 1);
    ck_assert(r->uploads->truncated);
    tmu_done(r);
    ck_assert_int_eq(upload_abort(t, "bkt", "u-old", 10000), 0);
    r = expiry_scan(t, 10000, 5000, 0);
    ck_assert_uint_eq(r->uploads->n_uploads, 1);
    ck_assert_str_eq(r->uploads->uploads[0]->upload_id, "u-mid");
    tmu_done(r);
    sm_close(t);
}
END_TEST

/* ListMultipartUploads seeks: a page after a key marker in a bucket of
 * 3,000 uploads reads about a page of rows; keys sharing their first 400
 * encoded bytes still list in key order, then upload id order. */
START_TEST(test_upload_list_seeks)
{
    sm *t = sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt", 100), 0);
    char key[64], uid[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "k%05d", i);
        snprintf(uid, sizeof uid, "u%05d", i);
        ck_assert_int_eq(upload_create(t, "bkt", key, uid, 1000, 1000), 0);
    }
    atomic_store(&cursor_steps, 0);
    Hm__MetaResponse *r = upload_list(t, "bkt", NULL, NULL, "k02500", NULL, 10);
    ck_assert_int_le(atomic_load(&cursor_steps), 30);
    ck_assert_uint_eq(r->uploads->n_uploads, 10);
    ck_assert_str_eq(r->uploads->uploads[0]->key, "k02501");
    ck_assert_str_eq(r->uploads->uploads[9]->key, "k02510");
    ck_assert(r->uploads->truncated);
    tmu_done(r);
    atomic_store(&cursor_steps, 0);
    r = upload_list(t, "bkt", "k029", NULL, NULL, NULL, 1000);
    ck_assert_int_le(atomic_load(&cursor_steps), 120);
    ck_assert_uint_eq(r->uploads->n_uploads, 100);
    ck_assert(!r->uploads->truncated);
    tmu_done(r);

    /* long keys: a group sharing 400 encoded bytes, created out of order */
    char lk[4][700];
    for (int i = 0; i < 4; i++) {
        memset(lk[i], 'x', 600);
        lk[i][600] = '\0';
    }
    strcat(lk[0], "d");
    strcat(lk[1], "b");
    strcat(lk[2], "c");
    strcat(lk[3], "a");
    ck_assert_int_eq(upload_create(t, "bkt", lk[0], "z1", 1000, 2000), 0);
    ck_assert_int_eq(upload_create(t, "bkt", lk[1], "a9", 1000, 2000), 0);
    ck_assert_int_eq(upload_create(t, "bkt", lk[2], "m5", 1000, 2000), 0);
    ck_assert_int_eq(upload_create(t, "bkt", lk[3], "b2", 1000, 2000), 0);
    ck_assert_int_eq(upload_create(t, "bkt", lk[3], "a1", 1000, 2000), 0);
    r = upload_list(t, "bkt", "xxx", NULL, NULL, NULL, 3);
    ck_assert_uint_eq(r->uploads->n_uploads, 3);
    ck_assert_str_eq(r->uploads->uploads[0]->upload_id, "a1");
    ck_assert_str_eq(r->uploads->uploads[1]->upload_id, "b2");
    ck_assert_str_eq(r->uploads->uploads[2]->upload_id, "a9");
    ck_assert(r->uploads->truncated);
    ck_assert_str_eq(r->uploads->next_upload_id_marker, "a9");
    char *nk = strdup(r->uploads->next_key_marker);
    tmu_done(r);
    r = upload_list(t, "bkt", "xxx", NULL, nk, "a9", 3);
    free(nk);
    ck_assert_uint_eq(r->uploads->n_uploads, 2);
    ck_assert_str_eq(r->uploads->uploads[0]->upload_id, "m5");
    ck_assert_str_eq(r->uploads->uploads[1]->upload_id, "z1");
    ck_assert(!r->uploads->truncated);
    tmu_done(r);
    /* a delimiter rolls the 3,000 short keys into one prefix, read past by
     * a seek, not row by row */
    atomic_store(&cursor_steps, 0);
    r = upload_list(t, "bkt", NULL, "0", NULL, NULL, 10);
    ck_assert_int_le(atomic_load(&cursor_steps), 20);
    ck_assert_uint_eq(r->uploads->n_common_prefixes, 1);
    ck_assert_str_eq(r->uploads->common_prefixes[0], "k0");
    ck_assert_uint_eq(r->uploads->n_uploads, 5);
    tmu_done(r);
    sm_close(t);
}
END_TEST

/* ListMultipartUploads agrees with a brute-force listing, page by page
 * (key and upload id markers), for random keys, prefixes and delimiters,
 * including keys that share more than 400 encoded bytes. */
typedef struct bf_up {
    char key[700];
    char uid[16];
} bf_up;

static int bf_cmp(const void *a, const void *b)
{
    const bf_up *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c != 0 ? c : strcmp(x->uid, y->uid);
}

START_TEST(test_upload_list_matches_brute_force)
{
    sm *t = sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt", 100), 0);
    enum { N = 160 };
    static bf_up ups[N];
    uint64_t rs = 12345;
    char longp[500];
    memset(longp, 'q', 450);
    longp[450] = '\0';
    for (int i = 0; i < N; i++) {
        char k[700];
        size_t n = 0;
        if (tmu_rand(&rs) % 4 == 0)
            n = (size_t)snprintf(k, sizeof k, "%s", longp);
        int parts = 1 + (int)(tmu_rand(&rs) % 3);
        for (int j = 0; j < parts; j++) {
            k[n++] = "abc"[tmu_rand(&rs) % 3];
            if (tmu_rand(&rs) % 2)
                k[n++] = '/';
        }
        k[n] = '\0';
        snprintf(ups[i].key, sizeof ups[i].key, "%s", k);
        snprintf(ups[i].uid, sizeof ups[i].uid, "u%03d", (int)(tmu_rand(&rs) % 1000));
        if (upload_create(t, "bkt", ups[i].key, ups[i].uid, 1000, 1000) != 0)
            ups[i].key[0] = '\0'; /* a repeated upload id: not created */
    }
    qsort(ups, N, sizeof ups[0], bf_cmp);
    const char *prefixes[] = {"", "a", "a/", "b/c", longp, "z"};
    const char *delims[] = {"", "/"};
    for (size_t pi = 0; pi < sizeof prefixes / sizeof prefixes[0]; pi++) {
        for (size_t di = 0; di < 2; di++) {
            const char *pf = prefixes[pi], *dl = delims[di];
            /* expected: uploads, or their common prefix once */
            static char want[N][800];
            size_t nw = 0;
            for (int i = 0; i < N; i++) {
                const char *k = ups[i].key;
                if (k[0] == '\0' || strncmp(k, pf, strlen(pf)) != 0)
                    continue;
                const char *d = dl[0] != '\0' ? strstr(k + strlen(pf), dl) : NULL;
                char item[800];
                if (d != NULL)
                    snprintf(item, sizeof item, "P:%.*s", (int)(d - k + 1), k);
                else
                    snprintf(item, sizeof item, "U:%.690s|%.15s", k, ups[i].uid);
                if (nw > 0 && strcmp(want[nw - 1], item) == 0)
                    continue;
                memcpy(want[nw++], item, sizeof item);
            }
            for (uint32_t page = 1; page <= 7; page += 3) {
                char km[700] = "", um[32] = "";
                size_t got = 0;
                for (int guard = 0; guard < N + 2; guard++) {
                    Hm__MetaResponse *r = upload_list(t, "bkt", pf, dl, km[0] ? km : NULL,
                                                      um[0] ? um : NULL, page);
                    const Hm__UploadListResult *u = r->uploads;
                    /* rebuild the page's order: uploads and prefixes merged */
                    size_t iu = 0, ic = 0;
                    while (iu < u->n_uploads || ic < u->n_common_prefixes) {
                        char item[800];
                        bool take_u = ic >= u->n_common_prefixes ||
                                      (iu < u->n_uploads &&
                                       strcmp(u->uploads[iu]->key, u->common_prefixes[ic]) < 0);
                        if (take_u) {
                            snprintf(item, sizeof item, "U:%.690s|%.64s", u->uploads[iu]->key,
                                     u->uploads[iu]->upload_id);
                            iu++;
                        } else {
                            snprintf(item, sizeof item, "P:%.700s", u->common_prefixes[ic++]);
                        }
                        ck_assert_msg(got < nw && strcmp(item, want[got]) == 0,
                                      "prefix '%.20s' delim '%s' page %u: item %zu is %.60s, "
                                      "want %.60s", pf, dl, page, got, item,
                                      got < nw ? want[got] : "(end)");
                        got++;
                    }
                    bool more = u->truncated;
                    if (more) {
                        snprintf(km, sizeof km, "%.699s", u->next_key_marker);
                        snprintf(um, sizeof um, "%.31s", u->next_upload_id_marker);
                    }
                    tmu_done(r);
                    if (!more)
                        break;
                }
                ck_assert_uint_eq(got, nw);
            }
        }
    }
    sm_close(t);
}
END_TEST

/* A schema-1 store (no index rows) opens at the current schema with its intents and
 * uploads indexed: the scans and the listing find them. */
START_TEST(test_schema_1_migrates)
{
    sm *t = sm_open();
    ck_assert_int_eq(bucket_create(t, "bkt", 100), 0);
    ck_assert_int_eq(intent_put_ttl(t, "old-intent", 6, 10, 1000), 0);
    ck_assert_int_eq(upload_create(t, "bkt", "obj", "old-up", 1000, 1000), 0);
    /* make it schema 1: drop every index row */
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    for (;;) {
        hm_kv_cursor *cur = NULL;
        ck_assert_int_eq(t->env->ops->kv_cursor_open(txn, HM_KV_INDEX, &cur), 0);
        int rc = t->env->ops->kv_cursor_seek(cur, NULL, 0);
        uint8_t k[HM_KV_KEY_BYTES_MAX];
        size_t kl = 0;
        if (rc == 0) {
            const void *kp = NULL, *vp = NULL;
            size_t vl = 0;
            ck_assert_int_eq(t->env->ops->kv_cursor_get(cur, &kp, &kl, &vp, &vl), 0);
            memcpy(k, kp, kl);
        }
        t->env->ops->kv_cursor_close(cur);
        if (rc == HM_ENOENT)
            break;
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(t->env->ops->kv_del(txn, HM_KV_INDEX, k, kl), 0);
    }
    uint8_t one[4] = {0, 0, 0, 1};
    ck_assert_int_eq(t->env->ops->kv_put(txn, HM_KV_SYS, "schema", 6, one, 4), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    ck_assert_uint_eq(n_intents_due(t, 5000), 0); /* lost without the index */

    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    ck_assert_int_eq(hm_meta_sm_init(t->env, txn), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    ck_assert_uint_eq(n_intents_due(t, 5000), 1);
    Hm__MetaResponse *r = upload_list(t, "bkt", NULL, NULL, NULL, NULL, 10);
    ck_assert_uint_eq(r->uploads->n_uploads, 1);
    tmu_done(r);
    r = expiry_scan(t, 5000, 1000, 0);
    ck_assert_uint_eq(r->uploads->n_uploads, 1);
    tmu_done(r);
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &txn), 0);
    const void *v = NULL;
    size_t vl = 0;
    ck_assert_int_eq(t->env->ops->kv_get(txn, HM_KV_SYS, "schema", 6, &v, &vl), 0);
    ck_assert_uint_eq(((const uint8_t *)v)[3], HM_META_SCHEMA_VERSION);
    t->env->ops->kv_abort(txn);
    sm_close(t);
}
END_TEST

/* ---- through the meta node: wall clock jumps ------------------------------- */

static Hm__MetaResponse *node_do(hm_meta_node *n, Hm__MetaRequest *q)
{
    q->has_format_version = true;
    q->format_version = HM_FORMAT_VERSION;
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_meta_node_handle(n, q, &r), 0);
    return r;
}

static int node_intent_put(hm_meta_node *n, const char *id, int64_t ttl)
{
    Hm__MetaCommand c;
    Hm__IntentPut ip;
    Hm__Intent in;
    Hm__Blob b, *bp;
    intent_cmd(&c, &ip, &in, &b, &bp, id, 7);
    in.has_ttl_ms = true;
    in.ttl_ms = ttl;
    in.has_deadline_ms = true;
    in.deadline_ms = f_wall_ms(NULL) + ttl; /* what the gateway believes */
    c.has_clock_ms = true;
    c.clock_ms = 1; /* a client's stamp is ignored */
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_COMMAND;
    q.command = &c;
    return tmu_done(node_do(n, &q));
}

static size_t node_due(hm_meta_node *n)
{
    Hm__IntentScan s = HM__INTENT_SCAN__INIT;
    s.has_now_ms = true;
    s.now_ms = f_wall_ms(NULL); /* the gateway's clock: the node uses its own */
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_INTENT_SCAN;
    q.intent_scan = &s;
    Hm__MetaResponse *r = node_do(n, &q);
    size_t k = r->intents != NULL ? r->intents->n_intent_ids : 0;
    tmu_done(r);
    return k;
}

/* A wall clock jumping a day forward expires no in-flight intent, and one
 * jumping a day back keeps none alive past its ttl: only the monotonic time
 * the node lived through counts, and it resumes across a restart. */
START_TEST(test_node_wall_clock_jumps)
{
    char *dir = tmu_mkdtemp();
    hm_env *env = fake_env_new();
    hm_meta_node *n = NULL;
    ck_assert_int_eq(hm_meta_node_open(&n, env, dir), 0);
    ck_assert_int_eq(node_intent_put(n, "put-1", 10000), 0);
    atomic_fetch_add(&fake_wall_ms, 24ll * 3600 * 1000); /* NTP step forward */
    ck_assert_uint_eq(node_due(n), 0);
    atomic_fetch_add(&fake_mono_ms, 9999);
    ck_assert_uint_eq(node_due(n), 0);
    atomic_fetch_add(&fake_mono_ms, 1);
    ck_assert_uint_eq(node_due(n), 1);

    atomic_fetch_sub(&fake_wall_ms, 48ll * 3600 * 1000); /* and a day back */
    ck_assert_int_eq(node_intent_put(n, "put-2", 10000), 0);
    atomic_fetch_add(&fake_mono_ms, 10000);
    ck_assert_uint_eq(node_due(n), 2);
    ck_assert_int_eq(node_intent_put(n, "put-3", 5000), 0);
    hm_meta_node_close(n);

    /* restart: the monotonic clock starts over lower; the committed clock
     * resumes where it was, so put-3 still has its 5 s */
    atomic_store(&fake_mono_ms, 10);
    ck_assert_int_eq(hm_meta_node_open(&n, env, dir), 0);
    ck_assert_uint_eq(node_due(n), 2);
    atomic_fetch_add(&fake_mono_ms, 5000);
    ck_assert_uint_eq(node_due(n), 3);
    hm_meta_node_close(n);
    hm_env_posix_free(inner);
    tmu_rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_clock");
    TCase *tc = tcase_create("clock");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_intent_deadline_is_committed_time);
    tcase_add_test(tc, test_intent_scan_reads_only_due);
    tcase_add_test(tc, test_gc_not_before_is_committed_time);
    tcase_add_test(tc, test_gc_lease);
    tcase_add_test(tc, test_upload_expiry_scan);
    tcase_add_test(tc, test_upload_list_seeks);
    tcase_add_test(tc, test_upload_list_matches_brute_force);
    tcase_add_test(tc, test_schema_1_migrates);
    tcase_add_test(tc, test_node_wall_clock_jumps);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
