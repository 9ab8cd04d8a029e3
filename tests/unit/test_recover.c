/* test_recover.c - rebuilding the metadata from shard files
 * (hamster-ctl/hm_ctl_recover.c, hm_recover_from_shards).
 *
 * Objects are written through the object service over an in-process
 * metadata node and two shard stores; then the metadata node is closed and
 * its directory removed, a fresh one is rebuilt from the shards alone, and
 * a new object service over it must serve the same objects.  Hostile shard
 * files are planted beside real ones: each must be skipped and counted,
 * none may stop the rebuild.
 */
#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_crc.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_node.h"
#include "hm_objsvc.h"
#include "hm_recover.h"
#include "hm_shard_format.h"
#include "hm_shard_store.h"
#include "test_gw_objsvc_fixture.h"

#define MIB (1u << 20)

static char report_buf[1 << 16];
static FILE *report;

static void setup(void)
{
    objsvc_fixture_setup("/tmp/hm-recover-XXXXXX");
    memset(report_buf, 0, sizeof report_buf);
    report = fmemopen(report_buf, sizeof report_buf - 1, "w");
    ck_assert_ptr_nonnull(report);
}

static void teardown(void)
{
    fclose(report);
    objsvc_fixture_teardown();
}

static void sleep_ms(unsigned ms) { usleep(ms * 1000u); }

/* PUT bucket/key with n bytes of pattern seed and the given attributes. */
static void put(const char *bucket, const char *key, size_t n, unsigned seed, const char *type,
                const hm_objsvc_kv *meta_kv, size_t n_meta, const hm_objsvc_kv *tags,
                size_t n_tags, char etag[HM_OBJSVC_ETAG_HEX_BYTES + 1])
{
    uint8_t *d = pattern(n, seed);
    hm_objsvc_put_args a = {.bucket = bucket, .key = key, .size = n, .content_type = type,
                            .user_meta = meta_kv, .user_meta_count = n_meta, .tags = tags,
                            .tag_count = n_tags};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, d, n), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, etag, NULL), 0);
    free(d);
}

/* A completed two-part upload of key: 5 MiB (seed 11) and 1000 bytes
 * (seed 12); *etag_out gets the object's ETag. */
static void put_multipart(const char *key, char *etag_out)
{
    char uid[HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1];
    hm_objsvc_kv meta_kv[1] = {{"codec", "h264"}};
    hm_objsvc_kv tags[1] = {{"kind", "video"}};
    hm_objsvc_upload_args ua = {.bucket = "bkt", .key = key, .content_type = "video/mp4",
                                .user_meta = meta_kv, .user_meta_count = 1, .tags = tags,
                                .tag_count = 1};
    ck_assert_int_eq(hm_objsvc_mpu_create(svc, "t", &ua, uid), 0);
    char etags[2][HM_OBJSVC_ETAG_HEX_BYTES + 1];
    size_t sz[2] = {5 * MIB, 1000};
    for (uint32_t i = 0; i < 2; i++) {
        uint8_t *d = pattern(sz[i], 11 + i);
        hm_objsvc_part_args pa = {.bucket = "bkt", .key = key, .upload_id = uid,
                                  .part_number = i + 1, .size = sz[i]};
        hm_objsvc_put *p = NULL;
        ck_assert_int_eq(hm_objsvc_part_begin(svc, "t", &pa, &p), 0);
        ck_assert_int_eq(hm_objsvc_put_write(p, d, sz[i]), 0);
        ck_assert_int_eq(hm_objsvc_put_finish(p, etags[i], NULL), 0);
        free(d);
    }
    hm_objsvc_part_ref refs[2] = {{.part_number = 1, .etag = etags[0]},
                                  {.part_number = 2, .etag = etags[1]}};
    hm_objsvc_complete_args ca = {.bucket = "bkt", .key = key, .upload_id = uid, .parts = refs,
                                  .part_count = 2};
    enum hm_objsvc_mpu_fault f;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, etag_out, &f), 0);
}

/* Drop the object service and the metadata (directory included), rebuild
 * from the shards into a new metadata node, and serve from it. */
static int rebuild(hm_recover_stats *st)
{
    char p[512];
    hm_objsvc_free(svc);
    meta->ops->free(meta);
    hm_meta_node_close(node);
    snprintf(p, sizeof p, "%s/meta", tmpdir);
    rm_rf(p);
    snprintf(p, sizeof p, "%s/meta2", tmpdir);
    ck_assert_int_eq(hm_meta_node_open(&node, env, p), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&meta, node), 0);
    int rc = hm_recover_from_shards(env, stores, DISKS, meta, "AK", "us-east-1", report, st);
    fflush(report);
    hm_objsvc_config cfg = {.env = env, .meta = meta, .shards = shards, .shard_count = DISKS,
                            .gc_grace_ms = 0, .intent_ttl_ms = HM_INTENT_TTL_MS};
    ck_assert_int_eq(hm_objsvc_new(&svc, &cfg), 0);
    return rc;
}

/* The version of bucket/key, and its bytes, through the new service. */
static const Hm__ObjectVersion *get(const char *bucket, const char *key, hm_objsvc_get **g,
                                    uint8_t **bytes)
{
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", bucket, key, g), 0);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(*g);
    uint8_t *b = malloc(v->size + 1);
    size_t n = 0;
    for (;;) {
        size_t got = 0;
        ck_assert_int_eq(hm_objsvc_get_read(*g, b + n, (size_t)v->size + 1 - n, &got), 0);
        if (got == 0) break;
        n += got;
    }
    ck_assert_uint_eq(n, v->size);
    *bytes = b;
    return v;
}

static const char *kv_find(Hm__KeyValue **kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i]->key, key) == 0) return kv[i]->value;
    return NULL;
}

/* Simple and multipart objects come back with their bytes, size, ETag,
 * content type, user metadata and tags; the bucket is recreated; an
 * inline object (metadata only) does not come back. */
START_TEST(test_rebuild_objects)
{
    char e_small[33], e_inline[33], e_multi[HM_OBJSVC_MPU_ETAG_BYTES];
    hm_objsvc_kv meta_kv[2] = {{"camera", "leica"}, {"iso", "400"}};
    hm_objsvc_kv tags[2] = {{"team", "storage"}, {"tier", "hot"}};
    put("bkt", "photos/a.jpg", 10000, 3, "image/jpeg", meta_kv, 2, tags, 2, e_small);
    put("bkt", "tiny", 100, 4, "text/plain", NULL, 0, NULL, 0, e_inline);
    put_multipart("movie.mp4", e_multi);
    ck_assert_int_eq(shard_files(), 4 * SHARDS_PER_BLOB); /* a blob, two parts, a manifest */

    hm_recover_stats st;
    ck_assert_int_eq(rebuild(&st), 0);
    ck_assert_uint_eq(st.buckets, 1);
    ck_assert_uint_eq(st.objects, 2);
    ck_assert_uint_eq(st.multipart, 1);
    ck_assert_uint_eq(st.corrupt, 0);
    ck_assert_uint_eq(st.shards, 4 * SHARDS_PER_BLOB); /* a blob, two parts, a manifest */
    ck_assert_uint_eq(st.bytes, 10000 + 5 * MIB + 1000);

    hm_objsvc_get *g = NULL;
    uint8_t *b = NULL;
    const Hm__ObjectVersion *v = get("bkt", "photos/a.jpg", &g, &b);
    uint8_t *want = pattern(10000, 3);
    ck_assert(memcmp(b, want, 10000) == 0);
    ck_assert_str_eq(v->etag, e_small);
    ck_assert_str_eq(v->content_type, "image/jpeg");
    ck_assert_str_eq(kv_find(v->user_meta, v->n_user_meta, "iso"), "400");
    ck_assert_str_eq(kv_find(v->tags, v->n_tags, "tier"), "hot");
    ck_assert_uint_eq(v->n_tags, 2);
    free(want);
    free(b);
    hm_objsvc_get_close(g);

    v = get("bkt", "movie.mp4", &g, &b);
    ck_assert_uint_eq(v->size, 5 * MIB + 1000);
    ck_assert_str_eq(v->etag, e_multi);
    ck_assert_str_eq(v->content_type, "video/mp4");
    ck_assert_str_eq(kv_find(v->user_meta, v->n_user_meta, "codec"), "h264");
    ck_assert_str_eq(kv_find(v->tags, v->n_tags, "kind"), "video");
    ck_assert_uint_eq(v->n_part_sizes, 2);
    ck_assert_uint_eq(v->part_sizes[1], 1000);
    want = pattern(5 * MIB, 11);
    ck_assert(memcmp(b, want, 5 * MIB) == 0);
    free(want);
    want = pattern(1000, 12);
    ck_assert(memcmp(b + 5 * MIB, want, 1000) == 0);
    free(want);
    free(b);
    hm_objsvc_get_close(g);

    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "tiny", &g), HM_ENOKEY);
}
END_TEST

/* Remove shard index `index` of every blob of bucket/key's version from
 * whichever disk holds it; how many were removed. */
static int drop_shards(const char *key, uint32_t index)
{
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", key, &g), 0);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    int dropped = 0;
    for (size_t i = 0; i < v->n_blobs; i++)
        for (int d = 0; d < DISKS; d++) {
            /* only where it is: a delete also takes the disk's manifest copy */
            Hm__ShardHeader *h = NULL;
            if (shards[d]->ops->stat(shards[d], v->blobs[i]->blob_id.data, index, &h) != 0)
                continue;
            hm__shard_header__free_unpacked(h, NULL);
            ck_assert_int_eq(shards[d]->ops->del(shards[d], v->blobs[i]->blob_id.data, index), 0);
            dropped++;
        }
    hm_objsvc_get_close(g);
    return dropped;
}

/* The repair items the metadata holds, in RepairList order. */
static Hm__MetaResponse *repairs_now(void)
{
    Hm__RepairList rl = HM__REPAIR_LIST__INIT;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_REPAIR_LIST;
    req.repair_list = &rl;
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_meta_call(meta, &req, &r), 0);
    ck_assert_int_eq(r->err, 0);
    return r;
}

/* A blob that lost shards (a dead disk before the metadata was lost) comes
 * back readable from the others, and every shard no disk holds is queued
 * as a repair item with the version, for a simple object and for each part
 * of a multipart one. */
START_TEST(test_lost_shards_queued)
{
    char e_small[33], e_multi[HM_OBJSVC_MPU_ETAG_BYTES];
    put("bkt", "photo", 10000, 5, "image/jpeg", NULL, 0, NULL, 0, e_small);
    put_multipart("movie.mp4", e_multi);
    ck_assert_int_eq(drop_shards("photo", 1), 1);
    ck_assert_int_eq(drop_shards("movie.mp4", 0), 2); /* both parts */
    ck_assert_int_eq(shard_files(), 4); /* the manifest copy went with part 1's shard */

    hm_recover_stats st;
    ck_assert_int_eq(rebuild(&st), 0);
    ck_assert_msg(st.objects == 2, "objects %llu; report: %s", (unsigned long long)st.objects,
                  report_buf);
    ck_assert_uint_eq(st.repairs, 3);
    Hm__MetaResponse *r = repairs_now();
    ck_assert_uint_eq(r->repairs->n_items, 3);
    size_t idx0 = 0, idx1 = 0;
    for (size_t i = 0; i < r->repairs->n_items; i++) {
        const Hm__RepairItem *it = r->repairs->items[i];
        ck_assert_uint_eq(it->k + it->m, SHARDS_PER_BLOB);
        ck_assert_str_eq(it->disk_id, "");
        idx0 += it->shard_index == 0;
        idx1 += it->shard_index == 1;
    }
    ck_assert_uint_eq(idx0, 2);
    ck_assert_uint_eq(idx1, 1);
    hm__meta_response__free_unpacked(r, NULL);

    hm_objsvc_get *g = NULL;
    uint8_t *b = NULL;
    const Hm__ObjectVersion *v = get("bkt", "photo", &g, &b);
    ck_assert_str_eq(v->etag, e_small);
    uint8_t *want = pattern(10000, 5);
    ck_assert(memcmp(b, want, 10000) == 0);
    free(want);
    free(b);
    hm_objsvc_get_close(g);
    v = get("bkt", "movie.mp4", &g, &b);
    ck_assert_str_eq(v->etag, e_multi);
    want = pattern(1000, 12);
    ck_assert(memcmp(b + 5 * MIB, want, 1000) == 0);
    free(want);
    free(b);
    hm_objsvc_get_close(g);
}
END_TEST

/* When several shards claim a key, the newest commit wins, whatever disk
 * or order the walk finds them in; the older one is counted superseded. */
START_TEST(test_newest_wins)
{
    char e1[33], e2[33], e3[33];
    hm_objsvc_kv m1[1] = {{"gen", "1"}}, m2[1] = {{"gen", "2"}}, m3[1] = {{"gen", "3"}};
    put("bkt", "k", 9000, 1, "text/one", m1, 1, NULL, 0, e1);
    sleep_ms(3);
    put("bkt", "k", 9000, 2, "text/two", m2, 1, NULL, 0, e2);
    sleep_ms(3);
    put("bkt", "k", 9000, 3, "text/three", m3, 1, NULL, 0, e3);
    hm_recover_stats st;
    ck_assert_int_eq(rebuild(&st), 0);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert_uint_eq(st.superseded, 2);
    hm_objsvc_get *g = NULL;
    uint8_t *b = NULL;
    const Hm__ObjectVersion *v = get("bkt", "k", &g, &b);
    ck_assert_str_eq(v->etag, e3);
    ck_assert_str_eq(v->content_type, "text/three");
    free(b);
    hm_objsvc_get_close(g);
}
END_TEST

/* Write a shard through store 0 with header h and data; seal with etag. */
static void plant(const Hm__ShardHeader *h, const uint8_t *data, size_t n, const char *etag,
                  int64_t committed_ms)
{
    hm_shard_store_put *p = NULL;
    ck_assert_int_eq(hm_shard_store_put_open(stores[0], h, &p), 0);
    ck_assert_int_eq(hm_shard_store_put_write(p, data, n), 0);
    Hm__ShardHeader seal = HM__SHARD_HEADER__INIT;
    seal.etag = (char *)etag;
    seal.has_committed_ms = true;
    seal.committed_ms = committed_ms;
    ck_assert_int_eq(hm_shard_store_put_seal(p, &seal), 0);
    ck_assert_int_eq(hm_shard_store_put_commit(p, NULL, NULL), 0);
}

static uint8_t plant_blob[HM_BLOB_ID_BYTES];
static uint8_t plant_oid[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

/* A well-formed object header for a new random blob. */
static void plant_header(Hm__ShardHeader *h, const char *key)
{
    hm__shard_header__init(h);
    hm_random(env, plant_blob, sizeof plant_blob);
    h->has_blob_id = true;
    h->blob_id.data = plant_blob;
    h->blob_id.len = sizeof plant_blob;
    h->has_shard_index = true;
    h->shard_index = 0;
    h->has_k = true;
    h->k = 1;
    h->has_m = true;
    h->m = 0;
    h->has_object_id = true;
    h->object_id.data = plant_oid;
    h->object_id.len = sizeof plant_oid;
    h->version_id = "null";
    h->bucket = "bkt";
    h->key = (char *)key;
    h->has_role = true;
    h->role = HM__SHARD_ROLE__SHARD_ROLE_OBJECT;
}

/* Write raw bytes under a shard name of disk 0. */
static void plant_raw(const char *name, const uint8_t *b, size_t n)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/disk0/shards/ee", tmpdir);
    mkdir(dir, 0700);
    snprintf(dir, sizeof dir, "%s/disk0/shards/ee/ee", tmpdir);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Every kind of hostile shard file is skipped, reported with its path and
 * counted; the good objects beside them still come back. */
START_TEST(test_hostile_shards)
{
    char e_good[33];
    put("bkt", "good", 20000, 5, "text/good", NULL, 0, NULL, 0, e_good);
    uint8_t *d = pattern(5000, 6);
    uint8_t junk[70000];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 7919u >> 3);
    Hm__ShardHeader h;

    /* 1. garbage under a shard name; 2. a real shard cut short; 3. an
     * empty file. */
    plant_raw("eeee0000000000000000000000000001.0", junk, sizeof junk);
    plant_raw("eeee0000000000000000000000000002.0", junk, HM_SHARD_PREAMBLE_BYTES - 1);
    plant_raw("eeee0000000000000000000000000003.0", junk, 0);
    /* 4. a sealed ETag the data does not match. */
    plant_header(&h, "bad-md5");
    plant(&h, d, 5000, "00000000000000000000000000000000", 1);
    /* 5. a bucket name no client could have made. */
    plant_header(&h, "x");
    h.bucket = "Bad_Bucket!";
    plant(&h, d, 5000, NULL, 1);
    /* 6. a CR LF in user metadata, which would split a response header. */
    plant_header(&h, "crlf");
    Hm__KeyValue kv = HM__KEY_VALUE__INIT;
    Hm__KeyValue *kvp[1] = {&kv};
    kv.key = "x";
    kv.value = "a\r\nSet-Cookie: evil";
    h.n_user_meta = 1;
    h.user_meta = kvp;
    plant(&h, d, 5000, NULL, 1);
    /* 7. a key that is not valid UTF-8. */
    plant_header(&h, "\xff\xfe");
    plant(&h, d, 5000, NULL, 1);
    /* 8. an erasure-coded shard that does not say how big its blob is. */
    plant_header(&h, "ec");
    h.k = 4;
    h.m = 2;
    plant(&h, d, 5000, NULL, 1);
    /* 9. a manifest whose data is not a manifest. */
    plant_header(&h, "mf-junk");
    h.role = HM__SHARD_ROLE__SHARD_ROLE_MANIFEST;
    h.shard_index = HM_SHARD_INDEX_MANIFEST;
    h.has_object_size = true;
    h.object_size = 10;
    plant(&h, junk, 300, "0123456789abcdef0123456789abcdef-2", 1);
    /* 10. a whole manifest naming a part no disk holds: incomplete. */
    Hm__ManifestPart mp = HM__MANIFEST_PART__INIT;
    Hm__ManifestPart *mpp[1] = {&mp};
    Hm__Blob mb = HM__BLOB__INIT;
    Hm__ShardRef mr = HM__SHARD_REF__INIT;
    Hm__ShardRef *mrp[1] = {&mr};
    uint8_t missing[HM_BLOB_ID_BYTES] = {0xee, 0xee, 1};
    mp.has_part_number = true;
    mp.part_number = 1;
    mp.has_size = true;
    mp.size = 5 * MIB;
    mp.etag = "0123456789abcdef0123456789abcdef";
    mb.has_blob_id = true;
    mb.blob_id.data = missing;
    mb.blob_id.len = sizeof missing;
    mb.has_size = true;
    mb.size = 5 * MIB;
    mr.has_index = true;
    mr.disk_id = "0123456789abcdef0123456789abcdef";
    mb.n_shards = 1;
    mb.shards = mrp;
    mp.blob = &mb;
    Hm__ShardManifest m = HM__SHARD_MANIFEST__INIT;
    m.has_format_version = true;
    m.format_version = HM_SHARD_MANIFEST_VERSION;
    m.n_parts = 1;
    m.parts = mpp;
    uint8_t mbuf[512];
    size_t mlen = hm__shard_manifest__pack(&m, mbuf);
    plant_header(&h, "mf-missing");
    h.role = HM__SHARD_ROLE__SHARD_ROLE_MANIFEST;
    h.shard_index = HM_SHARD_INDEX_MANIFEST;
    h.has_object_size = true;
    h.object_size = 5 * MIB;
    plant(&h, mbuf, mlen, "0123456789abcdef0123456789abcdef-1", 1);
    /* 11. a data bit flipped after the fact (block CRC). */
    plant_header(&h, "flipped");
    plant(&h, d, 5000, NULL, 1);
    char path[600];
    ck_assert_int_eq(hm_shard_store_shard_path(stores[0], plant_blob, 0, path, sizeof path), 0);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, HM_SHARD_DATA_OFFSET + 100, SEEK_SET);
    fputc(0x5a ^ d[100], f);
    fclose(f);

    hm_recover_stats st;
    ck_assert_int_eq(rebuild(&st), 0);
    ck_assert_uint_eq(st.objects, 1);
    ck_assert_uint_eq(st.corrupt, 10);
    ck_assert_uint_eq(st.incomplete, 1);
    ck_assert_ptr_nonnull(strstr(report_buf, "eeee0000000000000000000000000001.0"));
    ck_assert_ptr_nonnull(strstr(report_buf, "data MD5 differs from the sealed ETag"));
    ck_assert_ptr_nonnull(strstr(report_buf, "bad bucket name"));
    ck_assert_ptr_nonnull(strstr(report_buf, "bad user metadata"));
    ck_assert_ptr_nonnull(strstr(report_buf, "bad key"));
    ck_assert_ptr_nonnull(strstr(report_buf, "erasure-coded shard without a blob size"));
    ck_assert_ptr_nonnull(strstr(report_buf, "manifest data does not decode"));
    ck_assert_ptr_nonnull(strstr(report_buf, "a part's shard is missing"));
    ck_assert_ptr_nonnull(strstr(report_buf, "fails its CRC32C"));
    hm_objsvc_get *g = NULL;
    uint8_t *b = NULL;
    const Hm__ObjectVersion *v = get("bkt", "good", &g, &b);
    ck_assert_str_eq(v->etag, e_good);
    free(b);
    hm_objsvc_get_close(g);
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "crlf", &g), HM_ENOKEY);
    free(d);
}
END_TEST

/* A format 1 shard (no role, no seal) still comes back: its ETag is the
 * MD5 of its bytes, its stamp its created_ms. */
START_TEST(test_format_v1_shard)
{
    uint8_t *d = pattern(6000, 8);
    Hm__ShardHeader h;
    plant_header(&h, "old/object");
    h.has_role = false;
    h.has_format_version = true;
    h.format_version = HM_SHARD_FORMAT_V1;
    h.has_block_bytes = true;
    h.block_bytes = HM_SHARD_BLOCK_BYTES;
    h.has_data_length = true;
    h.data_length = 6000;
    h.has_data_crc32c = true;
    h.data_crc32c = hm_crc32c(0, d, 6000);
    h.has_created_ms = true;
    h.created_ms = 1700000000000;
    hm_shard_layout lay;
    ck_assert_int_eq(hm_shard_layout_compute_v(HM_SHARD_FORMAT_V1, 6000, HM_SHARD_BLOCK_BYTES,
                                               &lay), 0);
    uint8_t *f = calloc(1, lay.file_bytes);
    hm_shard_preamble pre;
    ck_assert_int_eq(hm_shard_header_encode(&h, f + HM_SHARD_PREAMBLE_BYTES,
                                            HM_SHARD_HEADER_BYTES_MAX_V1, &pre), 0);
    hm_shard_preamble_encode(&pre, f);
    memcpy(f + lay.data_offset, d, 6000);
    hm_shard_le32_put(f + lay.table_offset, h.data_crc32c);
    hm_shard_footer_encode(1, hm_crc32c(0, f + lay.table_offset, 4), f + lay.footer_offset);
    char name[64];
    for (size_t i = 0; i < HM_BLOB_ID_BYTES; i++) sprintf(name + 2 * i, "%02x", plant_blob[i]);
    strcat(name, ".0");
    char dir[512], path[700];
    snprintf(dir, sizeof dir, "%s/disk0/shards/%.2s", tmpdir, name);
    mkdir(dir, 0700);
    snprintf(dir, sizeof dir, "%s/disk0/shards/%.2s/%.2s", tmpdir, name, name + 2);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *out = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(f, 1, lay.file_bytes, out), lay.file_bytes);
    fclose(out);

    hm_recover_stats st;
    ck_assert_int_eq(rebuild(&st), 0);
    ck_assert_uint_eq(st.objects, 1);
    hm_objsvc_get *g = NULL;
    uint8_t *b = NULL;
    const Hm__ObjectVersion *v = get("bkt", "old/object", &g, &b);
    uint8_t md[16];
    unsigned ml = 0;
    char hex[33];
    EVP_Digest(d, 6000, md, &ml, EVP_md5(), NULL);
    for (int i = 0; i < 16; i++) sprintf(hex + 2 * i, "%02x", md[i]);
    ck_assert_str_eq(v->etag, hex);
    ck_assert_int_eq(v->mtime_ms, 1700000000000);
    ck_assert(memcmp(b, d, 6000) == 0);
    free(b);
    hm_objsvc_get_close(g);
    free(f);
    free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("recover");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rebuild_objects);
    tcase_add_test(tc, test_newest_wins);
    tcase_add_test(tc, test_lost_shards_queued);
    tcase_add_test(tc, test_hostile_shards);
    tcase_add_test(tc, test_format_v1_shard);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
