/* test_gw_objsvc.c - the object service against an in-process metadata
 * node and two in-process shard stores on a temporary directory. */
#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_disk_util.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_node.h"
#include "hm_objsvc.h"
#include "hm_s3err.h"
#include "hm_shard_store.h"
#include "test_gw_objsvc_fixture.h"

static void setup(void)
{
    objsvc_fixture_setup("/tmp/hm-objsvc-XXXXXX");
}

static void md5_hex(const uint8_t *b, size_t n, char out[33])
{
    uint8_t md[16];
    unsigned len = 0;
    EVP_Digest(b, n, md, &len, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++) sprintf(out + 2 * i, "%02x", md[i]);
}

/* Put data in uneven pieces; returns put_finish's result. */
static int put_bytes(const char *key, const uint8_t *data, size_t n, char etag[33],
                     enum hm_objsvc_fault *fault)
{
    hm_objsvc_put_args a = {.bucket = "bkt", .key = key, .size = n,
                            .content_type = "text/plain"};
    hm_objsvc_put *p = NULL;
    int rc = hm_objsvc_put_begin(svc, "t", &a, &p);
    if (rc != 0) return rc;
    size_t off = 0, step = 7777;
    while (off < n) {
        size_t k = n - off < step ? n - off : step;
        rc = hm_objsvc_put_write(p, data + off, k);
        if (rc != 0) {
            hm_objsvc_put_abort(p);
            return rc;
        }
        off += k;
        step = step * 3 % 65521 + 1;
    }
    return hm_objsvc_put_finish(p, etag, fault);
}

/* Read [off, off+len) (len UINT64_MAX: whole object) into a new buffer. */
static int get_bytes(const char *key, uint64_t off, uint64_t len, uint8_t **out,
                     size_t *n_out)
{
    hm_objsvc_get *g = NULL;
    int rc = hm_objsvc_get_open(svc, "t", "bkt", key, &g);
    if (rc != 0) return rc;
    uint64_t size = hm_objsvc_get_version(g)->size;
    if (len != UINT64_MAX) {
        rc = hm_objsvc_get_set_span(g, off, len);
        if (rc != 0) {
            hm_objsvc_get_close(g);
            return rc;
        }
    } else {
        len = size;
    }
    uint8_t *buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    size_t have = 0;
    for (;;) {
        size_t got = 0;
        rc = hm_objsvc_get_read(g, buf + have, 100000, &got);
        if (rc != 0 || got == 0) break;
        have += got;
        ck_assert_uint_le(have, len);
    }
    hm_objsvc_get_close(g);
    *out = buf;
    *n_out = have;
    return rc;
}

static void check_roundtrip(size_t n)
{
    uint8_t *data = pattern(n, (unsigned)n);
    char key[64], etag[33], want[33];
    snprintf(key, sizeof(key), "obj-%zu", n);
    ck_assert_int_eq(put_bytes(key, data, n, etag, NULL), 0);
    md5_hex(data, n, want);
    ck_assert_str_eq(etag, want);
    uint8_t *back = NULL;
    size_t got = 0;
    ck_assert_int_eq(get_bytes(key, 0, UINT64_MAX, &back, &got), 0);
    ck_assert_uint_eq(got, n);
    ck_assert(n == 0 || memcmp(back, data, n) == 0);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", key, &g), 0);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    ck_assert_str_eq(v->etag, want);
    ck_assert_uint_eq(v->size, n);
    ck_assert_str_eq(v->content_type, "text/plain");
    /* Inline up to the limit, one blob above it. */
    ck_assert_uint_eq(v->n_blobs, n <= HM_INLINE_BYTES_MAX ? 0 : 1);
    hm_objsvc_get_close(g);
    free(back);
    free(data);
}

/* Objects of 0 B, 1 B, the inline limit, one past it and 3 MiB come back
 * byte for byte with the MD5 of their body as ETag. */
START_TEST(test_roundtrip_sizes)
{
    size_t sizes[] = {0, 1, HM_INLINE_BYTES_MAX, HM_INLINE_BYTES_MAX + 1, 3u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) check_roundtrip(sizes[i]);
    ck_assert_int_eq(shard_files(), 2 * SHARDS_PER_BLOB);
}
END_TEST

/* An aborted put leaves nothing listed and no shard file behind. */
START_TEST(test_abort_leaves_nothing)
{
    size_t n = 1u << 20;
    uint8_t *data = pattern(n, 5);
    hm_objsvc_put_args a = {.bucket = "bkt", .key = "gone", .size = n};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, data, n / 2), 0);
    hm_objsvc_put_abort(p);
    Hm__MetaResponse *r = NULL;
    hm_objsvc_list_args la = {.bucket = "bkt", .max_keys = 1000};
    ck_assert_int_eq(hm_objsvc_list(svc, "t", &la, &r), 0);
    ck_assert_uint_eq(r->list->n_entries, 0);
    hm__meta_response__free_unpacked(r, NULL);
    ck_assert_int_eq(shard_files(), 0);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "gone", &g), HM_ENOKEY);
    /* The deleted intent's blob is garbage; collecting it is harmless. */
    ck_assert_int_eq(hm_objsvc_gc_run(svc, NULL), 0);
    free(data);
}
END_TEST

/* A write that crashed after its IntentPut and shard commit: the intent,
 * past its deadline, names a shard nothing else does.  gc_run expires it
 * and deletes the shard; an intent still within its deadline is kept. */
static void left_behind(const char *intent_id, uint8_t blob_byte, int64_t deadline_ms)
{
    uint8_t bid[HM_BLOB_ID_BYTES];
    memset(bid, blob_byte, sizeof(bid));
    Hm__ShardHeader h = HM__SHARD_HEADER__INIT;
    h.has_format_version = true;
    h.format_version = HM_FORMAT_VERSION;
    h.has_blob_id = true;
    h.blob_id.data = bid;
    h.blob_id.len = sizeof(bid);
    h.has_shard_index = true;
    h.has_k = true;
    h.k = 1;
    h.has_m = true;
    h.has_stripe_bytes = true;
    h.stripe_bytes = HM_STRIPE_BYTES;
    h.has_block_bytes = true;
    h.block_bytes = HM_SHARD_BLOCK_BYTES;
    h.has_blob_size = true;
    h.blob_size = 5000;
    hm_shard_put *sp = NULL;
    ck_assert_int_eq(shards[0]->ops->put_open(shards[0], &h, &sp), 0);
    uint8_t *data = pattern(5000, blob_byte);
    ck_assert_int_eq(shards[0]->ops->put_write(sp, data, 5000), 0);
    free(data);
    uint64_t length = 0;
    uint32_t crc = 0;
    ck_assert_int_eq(shards[0]->ops->put_commit(sp, &length, &crc), 0);

    Hm__ShardInfoResp *info = NULL;
    ck_assert_int_eq(shards[0]->ops->info(shards[0], &info), 0);
    Hm__ShardRef ref = HM__SHARD_REF__INIT;
    ref.has_index = true;
    ref.disk_id = info->disk_id;
    Hm__ShardRef *refs[1] = {&ref};
    Hm__Blob blob = HM__BLOB__INIT;
    blob.has_blob_id = true;
    blob.blob_id.data = bid;
    blob.blob_id.len = sizeof(bid);
    blob.has_size = true;
    blob.size = 5000;
    blob.n_shards = 1;
    blob.shards = refs;
    Hm__Blob *blobs[1] = {&blob};
    Hm__Intent in = HM__INTENT__INIT;
    in.has_format_version = true;
    in.format_version = HM_FORMAT_VERSION;
    in.has_intent_id = true;
    in.intent_id.data = (uint8_t *)intent_id;
    in.intent_id.len = strlen(intent_id);
    in.n_blobs = 1;
    in.blobs = blobs;
    in.has_deadline_ms = true;
    in.deadline_ms = deadline_ms;
    Hm__IntentPut ip = HM__INTENT_PUT__INIT;
    ip.intent = &in;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.has_format_version = true;
    cmd.format_version = HM_FORMAT_VERSION;
    cmd.op_case = HM__META_COMMAND__OP_INTENT_PUT;
    cmd.intent_put = &ip;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.has_format_version = true;
    req.format_version = HM_FORMAT_VERSION;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = &cmd;
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_meta_call(meta, &req, &r), 0);
    ck_assert_int_eq(r->err, 0);
    hm__meta_response__free_unpacked(r, NULL);
    hm__shard_info_resp__free_unpacked(info, NULL);
}

static bool shard_exists(uint8_t blob_byte)
{
    uint8_t bid[HM_BLOB_ID_BYTES];
    memset(bid, blob_byte, sizeof(bid));
    Hm__ShardHeader *h = NULL;
    int rc = shards[0]->ops->stat(shards[0], bid, 0, &h);
    if (rc == 0) hm__shard_header__free_unpacked(h, NULL);
    ck_assert(rc == 0 || rc == HM_ENOENT);
    return rc == 0;
}

START_TEST(test_gc_expires_left_intents)
{
    int64_t now = hm_wall_ms(env);
    left_behind("crashed-put", 0xa1, now - 1);
    left_behind("slow-put", 0xa2, now + HM_INTENT_TTL_MS);
    ck_assert_int_eq(shard_files(), 2);
    size_t deleted = 0;
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 1);
    ck_assert(!shard_exists(0xa1));
    ck_assert(shard_exists(0xa2));
    ck_assert_int_eq(shard_files(), 1);
    /* Nothing is left to expire: a second run deletes nothing. */
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 0);
    ck_assert(shard_exists(0xa2));
}
END_TEST

/* A put outliving its intent: gc expires the intent while the body is still
 * arriving and before its shard is committed, so gc has nothing to delete
 * yet; put_finish then fails with HM_EINTENT, stores no version and deletes
 * the shard itself. */
START_TEST(test_put_outliving_intent)
{
    hm_objsvc *fast = NULL;
    hm_objsvc_config cfg = {
        .env = env,
        .meta = meta,
        .shards = shards,
        .shard_count = DISKS,
        .gc_grace_ms = 0,
        .intent_ttl_ms = 1,
    };
    ck_assert_int_eq(hm_objsvc_new(&fast, &cfg), 0);
    size_t n = 100000;
    uint8_t *data = pattern(n, 9);
    hm_objsvc_put_args a = {.bucket = "bkt", .key = "slow", .size = n};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_put_begin(fast, "t", &a, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, data, n / 2), 0);
    usleep(5000);
    size_t deleted = 0;
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0); /* finds no shard yet */
    ck_assert_int_eq(hm_objsvc_put_write(p, data + n / 2, n - n / 2), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, NULL), HM_EINTENT);
    ck_assert_int_eq(shard_files(), 0);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "slow", &g), HM_ENOKEY);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 0);
    free(data);
    hm_objsvc_free(fast);
}
END_TEST

/* Overwriting returns the new bytes; the old blob is collected by gc_run
 * once its grace (0 here) has passed. */
START_TEST(test_overwrite_collects_old_blob)
{
    size_t n = 200000;
    uint8_t *a = pattern(n, 1), *b = pattern(n, 2);
    ck_assert_int_eq(put_bytes("k", a, n, NULL, NULL), 0);
    ck_assert_int_eq(put_bytes("k", b, n, NULL, NULL), 0);
    uint8_t *back = NULL;
    size_t got = 0;
    ck_assert_int_eq(get_bytes("k", 0, UINT64_MAX, &back, &got), 0);
    ck_assert_uint_eq(got, n);
    ck_assert(memcmp(back, b, n) == 0);
    free(back);
    ck_assert_int_eq(shard_files(), 2 * SHARDS_PER_BLOB);
    size_t deleted = 0;
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 1);
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB);
    ck_assert_int_eq(get_bytes("k", 0, UINT64_MAX, &back, &got), 0);
    ck_assert(memcmp(back, b, n) == 0);
    free(back);
    /* Deleting collects the last blob too. */
    ck_assert_int_eq(hm_objsvc_delete(svc, "t", "bkt", "k"), 0);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 1);
    ck_assert_int_eq(shard_files(), 0);
    free(a);
    free(b);
}
END_TEST

/* ---- reads that outlive an overwrite or delete ----------------------------- */

/* Read up to n bytes of an open get (n exactly, unless it ends first). */
static size_t read_some(hm_objsvc_get *g, uint8_t *buf, size_t n)
{
    size_t have = 0;
    while (have < n) {
        size_t got = 0;
        size_t want = n - have < 65536 ? n - have : 65536;
        ck_assert_int_eq(hm_objsvc_get_read(g, buf + have, want, &got), 0);
        if (got == 0) break;
        have += got;
    }
    return have;
}

/* A three-part object (5 MiB, 5 MiB, 1000 B) made of data; three blobs. */
static void put_multipart(const char *key, const uint8_t *data, size_t sizes[3])
{
    char uid[HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1];
    hm_objsvc_upload_args ua = {.bucket = "bkt", .key = key};
    ck_assert_int_eq(hm_objsvc_mpu_create(svc, "t", &ua, uid), 0);
    char etags[3][HM_OBJSVC_ETAG_HEX_BYTES + 1], quoted[3][128];
    hm_objsvc_part_ref refs[3];
    size_t off = 0;
    for (uint32_t i = 0; i < 3; i++) {
        hm_objsvc_part_args pa = {.bucket = "bkt", .key = key, .upload_id = uid,
                                  .part_number = i + 1, .size = sizes[i]};
        hm_objsvc_put *p = NULL;
        ck_assert_int_eq(hm_objsvc_part_begin(svc, "t", &pa, &p), 0);
        ck_assert_int_eq(hm_objsvc_put_write(p, data + off, sizes[i]), 0);
        ck_assert_int_eq(hm_objsvc_put_finish(p, etags[i], NULL), 0);
        snprintf(quoted[i], sizeof(quoted[i]), "\"%s\"", etags[i]);
        refs[i] = (hm_objsvc_part_ref){.part_number = i + 1, .etag = quoted[i]};
        off += sizes[i];
    }
    hm_objsvc_complete_args ca = {
        .bucket = "bkt", .key = key, .upload_id = uid, .parts = refs, .part_count = 3};
    enum hm_objsvc_mpu_fault f;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), 0);
}

/* A GET that started before an overwrite keeps every byte of the version
 * it began with, although the collector runs (grace 0) mid-read: the
 * single-part object's blob and all three blobs of a multipart object are
 * leased until the get closes, then collected.  A range read that spans
 * two parts is protected alike. */
START_TEST(test_read_outlives_overwrite)
{
    size_t deleted = 0;
    /* single part */
    size_t n = 300000;
    uint8_t *a = pattern(n, 11), *b = pattern(n, 12);
    ck_assert_int_eq(put_bytes("one", a, n, NULL, NULL), 0);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "one", &g), 0);
    ck_assert_uint_eq(hm_objsvc_leases(svc), 1);
    uint8_t *back = malloc(n);
    ck_assert_uint_eq(read_some(g, back, 1000), 1000);
    ck_assert_int_eq(put_bytes("one", b, n, NULL, NULL), 0);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(shard_files(), 2 * SHARDS_PER_BLOB);
    ck_assert_uint_eq(read_some(g, back + 1000, n), n - 1000);
    ck_assert(memcmp(back, a, n) == 0);
    hm_objsvc_get_close(g);
    ck_assert_uint_eq(hm_objsvc_leases(svc), 0);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 1);
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB);
    free(back);

    /* multipart: a whole read and a range across parts 1-2, both open
     * while the object is deleted and the collector runs */
    size_t sizes[3] = {5u << 20, 5u << 20, 1000};
    size_t total = sizes[0] + sizes[1] + sizes[2];
    uint8_t *m = pattern(total, 13);
    put_multipart("multi", m, sizes);
    hm_objsvc_get *whole = NULL, *range = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "multi", &whole), 0);
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "multi", &range), 0);
    ck_assert_uint_eq(hm_objsvc_leases(svc), 3); /* one entry per blob */
    uint64_t roff = sizes[0] - 100, rlen = 200;
    ck_assert_int_eq(hm_objsvc_get_set_span(range, roff, rlen), 0);
    back = malloc(total);
    ck_assert_uint_eq(read_some(whole, back, 4096), 4096);
    ck_assert_int_eq(hm_objsvc_delete(svc, "t", "bkt", "multi"), 0);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 0);
    uint8_t rbuf[256];
    ck_assert_uint_eq(read_some(range, rbuf, sizeof rbuf), rlen);
    ck_assert(memcmp(rbuf, m + roff, rlen) == 0);
    hm_objsvc_get_close(range);
    ck_assert_uint_eq(hm_objsvc_leases(svc), 3); /* still held by `whole` */
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_uint_eq(read_some(whole, back + 4096, total), total - 4096);
    ck_assert(memcmp(back, m, total) == 0);
    hm_objsvc_get_close(whole);
    ck_assert_uint_eq(hm_objsvc_leases(svc), 0);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 3);
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB); /* only "one"'s current blob */
    free(back);
    free(m);
    free(a);
    free(b);
}
END_TEST

/* The lease table holds many blobs at once and gives every one back:
 * 100 objects open together (growing the table past its first size), the
 * collector deletes none of their overwritten blobs, and all are freed,
 * in an order unlike the one they were taken in, when the gets close. */
START_TEST(test_lease_table)
{
    enum { N = 100 };
    size_t n = HM_INLINE_BYTES_MAX + 1;
    uint8_t *data = pattern(n, 5);
    static hm_objsvc_get *gets[N];
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "l%03d", i);
        ck_assert_int_eq(put_bytes(key, data, n, NULL, NULL), 0);
        ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", key, &gets[i]), 0);
    }
    ck_assert_uint_eq(hm_objsvc_leases(svc), N);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "l%03d", i);
        ck_assert_int_eq(hm_objsvc_delete(svc, "t", "bkt", key), 0);
    }
    size_t deleted = 0;
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, 0);
    for (int i = 0; i < N; i += 2) hm_objsvc_get_close(gets[i]);
    ck_assert_uint_eq(hm_objsvc_leases(svc), N / 2);
    for (int i = 1; i < N; i += 2) {
        uint8_t *back = malloc(n);
        ck_assert_uint_eq(read_some(gets[i], back, n), n);
        ck_assert(memcmp(back, data, n) == 0);
        free(back);
    }
    for (int i = N - 1; i > 0; i -= 2) hm_objsvc_get_close(gets[i]);
    ck_assert_uint_eq(hm_objsvc_leases(svc), 0);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &deleted), 0);
    ck_assert_uint_eq(deleted, N);
    ck_assert_int_eq(shard_files(), 0);
    free(data);
}
END_TEST

/* ---- a failed disk ---------------------------------------------------------- */

/* The stores' env for test_failed_disk: the posix env whose sync and
 * sync_dir fail while sync_fails is set. */
static bool sync_fails;
static hm_env sync_env;
static struct hm_env_ops sync_ops;

static int sf_sync(hm_file *f) { return sync_fails ? HM_EIO : env->ops->sync(f); }

static int sf_sync_dir(hm_env *e, const char *path)
{
    (void)e;
    return sync_fails ? HM_EIO : env->ops->sync_dir(env, path);
}

/* A put whose shard fsyncs fail below the write-ack floor is a 503
 * (SlowDown, HM_EFLOOR), never a 500, and so is every later put to those
 * disks although their syncs work
 * again; objects already stored are still read.  A restart (reopening the
 * store) takes writes again. */
START_TEST(test_failed_disk)
{
    size_t n = HM_INLINE_BYTES_MAX + 100;
    uint8_t *data = pattern(n, 3);
    ck_assert_int_eq(put_bytes("keep", data, n, NULL, NULL), 0);
    /* Restart the stores and the service over the faulting env. */
    sync_ops = *env->ops;
    sync_ops.sync = sf_sync;
    sync_ops.sync_dir = sf_sync_dir;
    sync_env.ops = &sync_ops;
    sync_env.impl = env->impl;
    hm_objsvc_free(svc);
    char p[512];
    for (int i = 0; i < DISKS; i++) {
        shards[i]->ops->free(shards[i]);
        hm_shard_store_close(stores[i]);
        snprintf(p, sizeof(p), "%s/disk%d", tmpdir, i);
        ck_assert_int_eq(test_store_open(&stores[i], &sync_env, p), 0);
        ck_assert_int_eq(hm_shard_api_local_new(&shards[i], stores[i]), 0);
    }
    hm_objsvc_config cfg = {.env = env, .meta = meta, .shards = shards,
                            .shard_count = DISKS, .gc_grace_ms = 0,
                            .intent_ttl_ms = HM_INTENT_TTL_MS};
    ck_assert_int_eq(hm_objsvc_new(&svc, &cfg), 0);

    /* Puts while syncs fail, until every disk has taken one. */
    sync_fails = true;
    char key[32];
    int tries = 0;
    bool all_failed = false;
    while (!all_failed) {
        ck_assert_int_lt(tries, 200);
        snprintf(key, sizeof key, "f%d", tries++);
        int rc = put_bytes(key, data, n, NULL, NULL);
        ck_assert_msg(rc == HM_EFLOOR, "put: %s", hm_err_name(rc));
        ck_assert_int_eq(hm_s3err_from_hm(rc), HM_S3_SLOW_DOWN);
        all_failed = true;
        for (int i = 0; i < DISKS; i++) all_failed = all_failed && hm_shard_store_failed(stores[i]);
    }
    sync_fails = false;
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "g%d", i);
        int rc = put_bytes(key, data, n, NULL, NULL);
        ck_assert_msg(rc == HM_EFLOOR, "put after the failure: %s", hm_err_name(rc));
        ck_assert_int_eq(hm_s3err_from_hm(rc), HM_S3_SLOW_DOWN);
    }
    ck_assert_int_eq(shard_files(), SHARDS_PER_BLOB); /* nothing partial left behind */
    uint8_t *back = NULL;
    size_t got = 0;
    ck_assert_int_eq(get_bytes("keep", 0, UINT64_MAX, &back, &got), 0);
    ck_assert_uint_eq(got, n);
    ck_assert(memcmp(back, data, n) == 0);
    free(back);
    /* A restart takes writes again. */
    for (int i = 0; i < DISKS; i++) {
        shards[i]->ops->free(shards[i]);
        hm_shard_store_close(stores[i]);
        snprintf(p, sizeof(p), "%s/disk%d", tmpdir, i);
        ck_assert_int_eq(test_store_open(&stores[i], &sync_env, p), 0);
        ck_assert_int_eq(hm_shard_api_local_new(&shards[i], stores[i]), 0); /* same slot */
    }
    ck_assert_int_eq(put_bytes("after", data, n, NULL, NULL), 0);
    free(data);
}
END_TEST

/* ---- placement around a dropped disk ----------------------------------------- */

#define AVOID_DISKS 4 /* the 2+1 profile: three shards, one spare disk */

/* A disk lost while serving costs one write its shard: the write that finds
 * it gone marks it avoided, and later writes are placed on the others (with
 * one spare, whole).  Without that, each write placed on it (three in four)
 * would fall below the floor, k+1 = 3 of 3 shards, and answer SlowDown.
 * (test_failed_disk shows an avoided disk is still written when there is no
 * spare.) */
START_TEST(test_placement_avoids_dropped_disk)
{
    hm_shard_store *st[AVOID_DISKS];
    hm_shard_api *api[AVOID_DISKS];
    char p[512];
    for (int i = 0; i < AVOID_DISKS; i++) {
        snprintf(p, sizeof(p), "%s/avoid%d", tmpdir, i);
        ck_assert_int_eq(test_store_open(&st[i], env, p), 0);
        ck_assert_int_eq(hm_shard_api_local_new(&api[i], st[i]), 0);
    }
    hm_objsvc_config cfg = {.env = env, .meta = meta, .shards = api,
                            .shard_count = AVOID_DISKS, .gc_grace_ms = 0,
                            .intent_ttl_ms = HM_INTENT_TTL_MS,
                            .disk_avoid_ms = 3600 * 1000}; /* the whole test */
    hm_objsvc *mine = NULL;
    ck_assert_int_eq(hm_objsvc_new(&mine, &cfg), 0);
    hm_objsvc *fixture_svc = svc;
    svc = mine;
    size_t n = HM_INLINE_BYTES_MAX + 100;
    uint8_t *data = pattern(n, 11);
    char key[32];
    ck_assert_int_eq(put_bytes("before", data, n, NULL, NULL), 0);
    snprintf(p, sizeof(p), "%s/avoid2", tmpdir);
    rm_rf(p); /* the disk is gone */
    int refused = 0;
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof key, "a%d", i);
        int rc = put_bytes(key, data, n, NULL, NULL);
        if (rc != 0) {
            ck_assert_msg(rc == HM_EFLOOR, "put: %s", hm_err_name(rc));
            refused++;
        }
    }
    ck_assert_int_le(refused, 1);
    for (int i = 0; i < 16; i++) {
        snprintf(key, sizeof key, "a%d", i);
        uint8_t *back = NULL;
        size_t got = 0;
        int rc = get_bytes(key, 0, UINT64_MAX, &back, &got);
        if (rc == HM_ENOKEY) continue; /* the refused one */
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(got, n);
        ck_assert(memcmp(back, data, n) == 0);
        free(back);
    }
    svc = fixture_svc;
    hm_objsvc_free(mine);
    for (int i = 0; i < AVOID_DISKS; i++) {
        api[i]->ops->free(api[i]);
        hm_shard_store_close(st[i]);
    }
    free(data);
}
END_TEST

/* Range headers parse as RFC 7233 single byte ranges and resolve against
 * the size, with unsatisfiable ones refused. */
START_TEST(test_range_parse_resolve)
{
    hm_objsvc_range r;
    uint64_t off = 0, len = 0;
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=0-9", &r), 0);
    ck_assert_int_eq(hm_objsvc_range_resolve(&r, 100, &off, &len), 0);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=90-", &r), 0);
    ck_assert_int_eq(hm_objsvc_range_resolve(&r, 100, &off, &len), 0);
    ck_assert_uint_eq(off, 90);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=-30", &r), 0);
    ck_assert_int_eq(hm_objsvc_range_resolve(&r, 100, &off, &len), 0);
    ck_assert_uint_eq(off, 70);
    ck_assert_uint_eq(len, 30);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=-300", &r), 0);
    ck_assert_int_eq(hm_objsvc_range_resolve(&r, 100, &off, &len), 0);
    ck_assert_uint_eq(off, 0);
    ck_assert_uint_eq(len, 100);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=50-1000", &r), 0);
    ck_assert_int_eq(hm_objsvc_range_resolve(&r, 100, &off, &len), 0);
    ck_assert_uint_eq(len, 50);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=100-", &r), 0);
    ck_assert_int_eq(hm_objsvc_range_resolve(&r, 100, &off, &len), HM_EINVAL);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=-0", &r), 0);
    ck_assert_int_eq(hm_objsvc_range_resolve(&r, 100, &off, &len), HM_EINVAL);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=0-0", &r), 0);
    ck_assert_int_eq(hm_objsvc_range_resolve(&r, 0, &off, &len), HM_EINVAL);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=5-4", &r), HM_EINVAL);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=0-1,3-4", &r), HM_EINVAL);
    ck_assert_int_eq(hm_objsvc_range_parse("items=0-1", &r), HM_EINVAL);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=-", &r), HM_EINVAL);
    ck_assert_int_eq(hm_objsvc_range_parse("bytes=99999999999999999999-", &r), HM_EINVAL);
}
END_TEST

/* A span read returns exactly those bytes, for inline objects and for a
 * blob across shard block boundaries. */
START_TEST(test_range_reads)
{
    size_t n = 300000;
    uint8_t *data = pattern(n, 9);
    ck_assert_int_eq(put_bytes("big", data, n, NULL, NULL), 0);
    ck_assert_int_eq(put_bytes("small", data, 1000, NULL, NULL), 0);
    struct { const char *key; uint64_t off, len; } cases[] = {
        {"big", 0, 1}, {"big", 65535, 2}, {"big", 100000, 150000}, {"big", n - 1, 1},
        {"small", 10, 20}, {"small", 999, 1}, {"big", 5, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *back = NULL;
        size_t got = 0;
        ck_assert_int_eq(get_bytes(cases[i].key, cases[i].off, cases[i].len, &back, &got), 0);
        ck_assert_uint_eq(got, cases[i].len);
        ck_assert(memcmp(back, data + cases[i].off, got) == 0);
        free(back);
    }
    uint8_t *back = NULL;
    size_t got = 0;
    ck_assert_int_eq(get_bytes("small", 999, 2, &back, &got), HM_EINVAL);
    free(data);
}
END_TEST

/* Listing returns keys in order, rolls up common prefixes under a delimiter
 * and truncates at max_keys with a place to continue from. */
START_TEST(test_list)
{
    const char *keys[] = {"a/1", "a/2", "b", "c", "d/x/y"};
    for (size_t i = 0; i < 5; i++) ck_assert_int_eq(put_bytes(keys[i], (const uint8_t *)"x", 1, NULL, NULL), 0);
    Hm__MetaResponse *r = NULL;
    hm_objsvc_list_args la = {.bucket = "bkt", .delimiter = "/", .max_keys = 1000};
    ck_assert_int_eq(hm_objsvc_list(svc, "t", &la, &r), 0);
    ck_assert_uint_eq(r->list->n_entries, 4);
    ck_assert_str_eq(r->list->entries[0]->key, "a/");
    ck_assert(r->list->entries[0]->is_prefix);
    ck_assert_str_eq(r->list->entries[1]->key, "b");
    ck_assert_uint_eq(r->list->entries[1]->version->size, 1);
    ck_assert_str_eq(r->list->entries[3]->key, "d/");
    ck_assert(!r->list->truncated);
    hm__meta_response__free_unpacked(r, NULL);

    hm_objsvc_list_args lb = {.bucket = "bkt", .max_keys = 2};
    ck_assert_int_eq(hm_objsvc_list(svc, "t", &lb, &r), 0);
    ck_assert_uint_eq(r->list->n_entries, 2);
    ck_assert(r->list->truncated);
    ck_assert_str_eq(r->list->next_start_after, "a/2");
    hm__meta_response__free_unpacked(r, NULL);

    hm_objsvc_list_args lc = {.bucket = "bkt", .prefix = "a/", .start_after = "a/1",
                              .max_keys = 10};
    ck_assert_int_eq(hm_objsvc_list(svc, "t", &lc, &r), 0);
    ck_assert_uint_eq(r->list->n_entries, 1);
    ck_assert_str_eq(r->list->entries[0]->key, "a/2");
    hm__meta_response__free_unpacked(r, NULL);

    hm_objsvc_list_args ld = {.bucket = "nope", .max_keys = 10};
    ck_assert_int_eq(hm_objsvc_list(svc, "t", &ld, &r), HM_ENOBUCKET);
}
END_TEST

/* A wrong Content-MD5 or SHA-256, or a short body, fails the put and
 * stores nothing, inline or blob. */
START_TEST(test_digest_mismatch_stores_nothing)
{
    size_t sizes[] = {100, 100000};
    for (size_t i = 0; i < 2; i++) {
        size_t n = sizes[i];
        uint8_t *data = pattern(n, 3);
        uint8_t bad_md5[16] = {1}, bad_sha[32] = {2};
        enum hm_objsvc_fault fault = HM_OBJSVC_FAULT_NONE;

        hm_objsvc_put_args a = {.bucket = "bkt", .key = "d", .size = n,
                                .content_md5 = bad_md5};
        hm_objsvc_put *p = NULL;
        ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), 0);
        ck_assert_int_eq(hm_objsvc_put_write(p, data, n), 0);
        ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, &fault), HM_ECORRUPT);
        ck_assert_int_eq(fault, HM_OBJSVC_FAULT_BAD_DIGEST);

        hm_objsvc_put_args b = {.bucket = "bkt", .key = "d", .size = n, .sha256 = bad_sha};
        ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &b, &p), 0);
        ck_assert_int_eq(hm_objsvc_put_write(p, data, n), 0);
        ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, &fault), HM_ECORRUPT);
        ck_assert_int_eq(fault, HM_OBJSVC_FAULT_SHA256_MISMATCH);

        hm_objsvc_put_args c = {.bucket = "bkt", .key = "d", .size = n};
        ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &c, &p), 0);
        ck_assert_int_eq(hm_objsvc_put_write(p, data, n - 1), 0);
        ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, &fault), HM_EPROTO);
        ck_assert_int_eq(fault, HM_OBJSVC_FAULT_INCOMPLETE_BODY);

        ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &c, &p), 0);
        ck_assert_int_eq(hm_objsvc_put_write(p, data, n), 0);
        ck_assert_int_eq(hm_objsvc_put_write(p, data, 1), HM_ETOOBIG);
        hm_objsvc_put_abort(p);

        hm_objsvc_get *g = NULL;
        ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "d", &g), HM_ENOKEY);
        ck_assert_int_eq(shard_files(), 0);
        free(data);
    }
}
END_TEST

/* The right SHA-256 and Content-MD5 are accepted. */
START_TEST(test_digest_match_accepted)
{
    size_t n = 50000;
    uint8_t *data = pattern(n, 4);
    uint8_t md5[16], sha[32];
    unsigned l = 0;
    EVP_Digest(data, n, md5, &l, EVP_md5(), NULL);
    EVP_Digest(data, n, sha, &l, EVP_sha256(), NULL);
    hm_objsvc_put_args a = {.bucket = "bkt", .key = "ok", .size = n, .content_md5 = md5,
                            .sha256 = sha};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, data, n), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, NULL), 0);
    free(data);
}
END_TEST

/* User metadata and stored headers come back with the version; metadata
 * over HM_USER_META_BYTES_MAX is refused. */
START_TEST(test_metadata)
{
    hm_objsvc_kv um[] = {{"color", "blue"}, {"n", "1"}};
    hm_objsvc_kv hd[] = {{"Cache-Control", "no-cache"}};
    hm_objsvc_put_args a = {.bucket = "bkt", .key = "m", .size = 2, .user_meta = um,
                            .user_meta_count = 2, .headers = hd, .header_count = 1};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, "hi", 2), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, NULL), 0);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "m", &g), 0);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    ck_assert_uint_eq(v->n_user_meta, 2);
    ck_assert_str_eq(v->user_meta[0]->key, "color");
    ck_assert_str_eq(v->user_meta[0]->value, "blue");
    ck_assert_uint_eq(v->n_headers, 1);
    ck_assert_str_eq(v->headers[0]->value, "no-cache");
    hm_objsvc_get_close(g);

    static char big[HM_USER_META_BYTES_MAX + 2];
    memset(big, 'v', sizeof(big) - 1);
    hm_objsvc_kv bm[] = {{"big", big}};
    hm_objsvc_put_args b = {.bucket = "bkt", .key = "m2", .size = 0, .user_meta = bm,
                            .user_meta_count = 1};
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &b, &p), HM_ETOOBIG);
}
END_TEST

/* Deleting makes an object unreadable; deleting an absent key succeeds;
 * a missing bucket is reported before any body is read. */
START_TEST(test_delete_and_missing)
{
    ck_assert_int_eq(put_bytes("x", (const uint8_t *)"abc", 3, NULL, NULL), 0);
    ck_assert_int_eq(hm_objsvc_delete(svc, "t", "bkt", "x"), 0);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "x", &g), HM_ENOKEY);
    ck_assert_int_eq(hm_objsvc_delete(svc, "t", "bkt", "x"), 0);
    ck_assert_int_eq(hm_objsvc_delete(svc, "t", "nobkt", "x"), HM_ENOBUCKET);
    hm_objsvc_put_args a = {.bucket = "nobkt", .key = "k", .size = 1u << 20};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), HM_ENOBUCKET);
    ck_assert_int_eq(shard_files(), 0);
    hm_objsvc_put_args b = {.bucket = "nobkt", .key = "k", .size = 1};
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &b, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, "z", 1), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, NULL), HM_ENOBUCKET);
}
END_TEST

/* Buckets: create, duplicate, list, delete only when empty. */
START_TEST(test_buckets)
{
    ck_assert_int_eq(hm_objsvc_bucket_create(svc, "t", "bkt", "us-east-1", "AK"),
                     HM_EBUCKETEXISTS);
    ck_assert_int_eq(hm_objsvc_bucket_create(svc, "t", "Bad_Name", "us-east-1", "AK"),
                     HM_EINVAL);
    ck_assert_int_eq(hm_objsvc_bucket_create(svc, "t", "other", "us-east-1", "AK"), 0);
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_objsvc_bucket_list(svc, "t", &r), 0);
    ck_assert_uint_eq(r->buckets->n_buckets, 2);
    hm__meta_response__free_unpacked(r, NULL);
    ck_assert_int_eq(hm_objsvc_bucket_get(svc, "t", "other", &r), 0);
    ck_assert_str_eq(r->bucket->name, "other");
    hm__meta_response__free_unpacked(r, NULL);
    ck_assert_int_eq(put_bytes("k", (const uint8_t *)"1", 1, NULL, NULL), 0);
    ck_assert_int_eq(hm_objsvc_bucket_delete(svc, "t", "bkt"), HM_ENOTEMPTY);
    ck_assert_int_eq(hm_objsvc_bucket_delete(svc, "t", "other"), 0);
    ck_assert_int_eq(hm_objsvc_bucket_get(svc, "t", "other", &r), HM_ENOBUCKET);
}
END_TEST

/* Bucket names follow the S3 rules. */
START_TEST(test_bucket_names)
{
    const char *good[] = {"abc", "my-bucket.1", "a.b-c", "123",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    const char *bad[] = {"ab", "-abc", "abc-", "a..b", "ABC", "a_b", "192.168.1.1", "",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                         ".abc", "abc."};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(hm_objsvc_bucket_name_valid(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!hm_objsvc_bucket_name_valid(bad[i]), "%s", bad[i]);
}
END_TEST

/* Keys are 1..1024 bytes of valid UTF-8. */
START_TEST(test_key_rules)
{
    ck_assert(hm_objsvc_key_valid("a", 1));
    ck_assert(hm_objsvc_key_valid("\xc3\xa9t\xc3\xa9", 5));
    ck_assert(hm_objsvc_key_valid("\xf0\x9f\x90\xb9", 4));
    ck_assert(!hm_objsvc_key_valid("", 0));
    ck_assert(!hm_objsvc_key_valid("\xc3", 1));
    ck_assert(!hm_objsvc_key_valid("\xc0\xaf", 2));         /* overlong */
    ck_assert(!hm_objsvc_key_valid("\xed\xa0\x80", 3));     /* surrogate */
    ck_assert(!hm_objsvc_key_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    static char k[HM_KEY_BYTES_MAX + 2];
    memset(k, 'k', HM_KEY_BYTES_MAX);
    ck_assert(hm_objsvc_key_valid(k, HM_KEY_BYTES_MAX));
    k[HM_KEY_BYTES_MAX] = 'k';
    ck_assert(!hm_objsvc_key_valid(k, HM_KEY_BYTES_MAX + 1));
}
END_TEST

/* Put small or blob-sized bytes under write conditions. */
static int put_cond(const char *key, size_t n, bool none_match, const char *if_match)
{
    uint8_t *data = pattern(n, 3);
    hm_objsvc_put_args a = {.bucket = "bkt", .key = key, .size = n,
                            .if_none_match_any = none_match, .if_match_etag = if_match};
    hm_objsvc_put *p = NULL;
    int rc = hm_objsvc_put_begin(svc, "t", &a, &p);
    if (rc == 0) rc = hm_objsvc_put_write(p, data, n);
    if (rc == 0) rc = hm_objsvc_put_finish(p, NULL, NULL);
    else hm_objsvc_put_abort(p);
    free(data);
    return rc;
}

/* Write conditions are enforced at commit: If-None-Match: * refuses an
 * existing key, If-Match a different ETag or a missing key; a refused
 * blob-sized put leaves no shard behind. */
START_TEST(test_write_conditions)
{
    size_t big = HM_INLINE_BYTES_MAX + 1000;
    ck_assert_int_eq(put_cond("c", 10, true, NULL), 0);
    ck_assert_int_eq(put_cond("c", 10, true, NULL), HM_EPRECOND);
    ck_assert_int_eq(put_cond("c", big, true, NULL), HM_EPRECOND);
    ck_assert_int_eq(put_cond("c", 10, false, "00000000000000000000000000000000"),
                     HM_EPRECOND);
    ck_assert_int_eq(put_cond("missing", 10, false, "00000000000000000000000000000000"),
                     HM_EPRECOND);
    char etag[33];
    uint8_t *data = pattern(10, 3);
    md5_hex(data, 10, etag);
    free(data);
    ck_assert_int_eq(put_cond("c", big, false, etag), 0);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, NULL), 0);
    int files = shard_files();
    ck_assert_int_eq(put_cond("c", big, true, NULL), HM_EPRECOND);
    ck_assert_int_eq(hm_objsvc_gc_run(svc, NULL), 0);
    ck_assert_int_eq(shard_files(), files);
}
END_TEST

/* Tags given at put are stored with the version; set_tags replaces them in
 * place (same ETag and mtime) and an empty set removes them. */
START_TEST(test_tags)
{
    hm_objsvc_kv tags[] = {{"a", "1"}, {"b", ""}};
    hm_objsvc_put_args a = {.bucket = "bkt", .key = "tg", .size = 1, .tags = tags,
                            .tag_count = 2};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, "x", 1), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, NULL), 0);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "tg", &g), 0);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    ck_assert_uint_eq(v->n_tags, 2);
    ck_assert_str_eq(v->tags[1]->key, "b");
    int64_t mtime = v->mtime_ms;
    hm_objsvc_get_close(g);

    hm_objsvc_kv repl[] = {{"k", "v"}};
    ck_assert_int_eq(hm_objsvc_set_tags(svc, "t", "bkt", "tg", repl, 1), 0);
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "tg", &g), 0);
    v = hm_objsvc_get_version(g);
    ck_assert_uint_eq(v->n_tags, 1);
    ck_assert_str_eq(v->tags[0]->value, "v");
    ck_assert_int_eq(v->mtime_ms, mtime);
    ck_assert_str_eq(v->etag, "9dd4e461268c8034f5c8564e155c67a6");
    hm_objsvc_get_close(g);
    ck_assert_int_eq(hm_objsvc_set_tags(svc, "t", "bkt", "tg", NULL, 0), 0);
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "tg", &g), 0);
    ck_assert_uint_eq(hm_objsvc_get_version(g)->n_tags, 0);
    hm_objsvc_get_close(g);
    ck_assert_int_eq(hm_objsvc_set_tags(svc, "t", "bkt", "nope", repl, 1), HM_ENOKEY);
    ck_assert_int_eq(hm_objsvc_set_tags(svc, "t", "nobkt", "tg", repl, 1), HM_ENOBUCKET);
    hm_objsvc_kv eleven[11];
    for (size_t i = 0; i < 11; i++) eleven[i] = (hm_objsvc_kv){"k", "v"};
    ck_assert_int_eq(hm_objsvc_set_tags(svc, "t", "bkt", "tg", eleven, 11), HM_EINVAL);
    a.tags = eleven;
    a.tag_count = 11;
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), HM_EINVAL);
}
END_TEST

/* A bucket's CORS document is stored as given and removed by NULL. */
START_TEST(test_bucket_cors_storage)
{
    ck_assert_int_eq(hm_objsvc_bucket_set_cors(svc, "t", "bkt", "<CORSConfiguration/>"), 0);
    Hm__MetaResponse *resp = NULL;
    ck_assert_int_eq(hm_objsvc_bucket_get(svc, "t", "bkt", &resp), 0);
    ck_assert_str_eq(resp->bucket->cors_xml, "<CORSConfiguration/>");
    hm__meta_response__free_unpacked(resp, NULL);
    ck_assert_int_eq(hm_objsvc_bucket_set_cors(svc, "t", "bkt", NULL), 0);
    ck_assert_int_eq(hm_objsvc_bucket_get(svc, "t", "bkt", &resp), 0);
    ck_assert(resp->bucket->cors_xml == NULL || resp->bucket->cors_xml[0] == '\0');
    hm__meta_response__free_unpacked(resp, NULL);
    ck_assert_int_eq(hm_objsvc_bucket_set_cors(svc, "t", "nobkt", "<x/>"), HM_ENOBUCKET);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_objsvc");
    TCase *tc = tcase_create("objsvc");
    tcase_add_checked_fixture(tc, setup, objsvc_fixture_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip_sizes);
    tcase_add_test(tc, test_abort_leaves_nothing);
    tcase_add_test(tc, test_gc_expires_left_intents);
    tcase_add_test(tc, test_put_outliving_intent);
    tcase_add_test(tc, test_overwrite_collects_old_blob);
    tcase_add_test(tc, test_read_outlives_overwrite);
    tcase_add_test(tc, test_lease_table);
    tcase_add_test(tc, test_failed_disk);
    tcase_add_test(tc, test_placement_avoids_dropped_disk);
    tcase_add_test(tc, test_range_parse_resolve);
    tcase_add_test(tc, test_range_reads);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_digest_mismatch_stores_nothing);
    tcase_add_test(tc, test_digest_match_accepted);
    tcase_add_test(tc, test_metadata);
    tcase_add_test(tc, test_delete_and_missing);
    tcase_add_test(tc, test_buckets);
    tcase_add_test(tc, test_bucket_names);
    tcase_add_test(tc, test_key_rules);
    tcase_add_test(tc, test_write_conditions);
    tcase_add_test(tc, test_tags);
    tcase_add_test(tc, test_bucket_cors_storage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
