/* test_gw_mpu.c - multipart uploads and copies in the object service
 * (hamster-gw/hm_objsvc_mpu.c) against an in-process metadata node and two
 * in-process shard stores on a temporary directory. */
#include <check.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_checksum.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_node.h"
#include "hm_objsvc.h"
#include "hm_s3err.h"
#include "hm_shard_store.h"
#include "test_gw_objsvc_fixture.h"

#define MIB (1u << 20)

static void setup(void)
{
    objsvc_fixture_setup("/tmp/hm-mpu-XXXXXX");
    ck_assert_int_eq(hm_objsvc_bucket_create(svc, "t", "other", "us-east-1", "AK"), 0);
}

static void md5_raw(const uint8_t *b, size_t n, uint8_t out[16])
{
    unsigned len = 0;
    EVP_Digest(b, n, out, &len, EVP_md5(), NULL);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static char *create(const char *key)
{
    static char id[HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1];
    hm_objsvc_kv meta_kv[1] = {{"color", "red"}};
    hm_objsvc_upload_args a = {
        .bucket = "bkt",
        .key = key,
        .content_type = "video/mp4",
        .user_meta = meta_kv,
        .user_meta_count = 1,
    };
    ck_assert_int_eq(hm_objsvc_mpu_create(svc, "t", &a, id), 0);
    ck_assert_uint_eq(strlen(id), HM_OBJSVC_UPLOAD_ID_HEX_BYTES);
    return strdup(id);
}

/* Upload one part in uneven pieces; returns put_finish's result. */
static int part(const char *key, const char *uid, uint32_t pn, const uint8_t *data, size_t n,
                char etag[33])
{
    hm_objsvc_part_args a = {
        .bucket = "bkt", .key = key, .upload_id = uid, .part_number = pn, .size = n};
    hm_objsvc_put *p = NULL;
    int rc = hm_objsvc_part_begin(svc, "t", &a, &p);
    if (rc != 0) return rc;
    size_t off = 0, step = 70001;
    while (off < n) {
        size_t k = n - off < step ? n - off : step;
        ck_assert_int_eq(hm_objsvc_put_write(p, data + off, k), 0);
        off += k;
    }
    return hm_objsvc_put_finish(p, etag, NULL);
}

/* Read bucket/key whole (or the span when len > 0) into a new buffer. */
static uint8_t *read_all(const char *bucket, const char *key, uint64_t off, uint64_t len,
                         size_t *n_out)
{
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", bucket, key, &g), 0);
    uint64_t size = hm_objsvc_get_version(g)->size;
    if (len > 0) ck_assert_int_eq(hm_objsvc_get_set_span(g, off, len), 0);
    else len = size;
    uint8_t *b = malloc(len > 0 ? len : 1);
    size_t n = 0;
    for (;;) {
        size_t got = 0;
        ck_assert_int_eq(hm_objsvc_get_read(g, b + n, (size_t)len - n > 100000 ? 100000 : (size_t)len - n, &got), 0);
        if (got == 0) break;
        n += got;
    }
    hm_objsvc_get_close(g);
    *n_out = n;
    return b;
}

static void gc_all(void)
{
    size_t n = 0;
    ck_assert_int_eq(hm_objsvc_gc_run(svc, &n), 0);
}

/* Three parts (5 MiB, 5 MiB, 1000 bytes) complete into one object whose
 * bytes are the parts in order, whose ETag is MD5(md5_1||md5_2||md5_3)-3,
 * which keeps the upload's metadata, and whose ranges cross part
 * boundaries; the upload is gone afterwards. */
START_TEST(test_round_trip)
{
    char *uid = create("movie");
    size_t sz[3] = {5 * MIB, 5 * MIB, 1000};
    size_t total = sz[0] + sz[1] + sz[2];
    uint8_t *all = pattern(total, 7);
    char etags[3][33];
    uint8_t cat[48];
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(part("movie", uid, (uint32_t)i + 1, all + off, sz[i], etags[i]), 0);
        md5_raw(all + off, sz[i], cat + 16 * i);
        char want[33];
        hex(cat + 16 * i, 16, want);
        ck_assert_str_eq(etags[i], want);
        off += sz[i];
    }
    uint8_t fin[16];
    md5_raw(cat, sizeof cat, fin);
    char want_etag[40];
    hex(fin, 16, want_etag);
    strcat(want_etag, "-3");
    char quoted[3][128];
    hm_objsvc_part_ref refs[3];
    for (int i = 0; i < 3; i++) {
        snprintf(quoted[i], sizeof quoted[i], "\"%s\"", etags[i]);
        refs[i] = (hm_objsvc_part_ref){.part_number = (uint32_t)i + 1, .etag = quoted[i]};
    }
    hm_objsvc_complete_args ca = {
        .bucket = "bkt", .key = "movie", .upload_id = uid, .parts = refs, .part_count = 3};
    char etag[HM_OBJSVC_MPU_ETAG_BYTES];
    enum hm_objsvc_mpu_fault f;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, etag, &f), 0);
    ck_assert_str_eq(etag, want_etag);
    /* a retried Complete answers the same */
    char etag2[HM_OBJSVC_MPU_ETAG_BYTES];
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, etag2, &f), 0);
    ck_assert_str_eq(etag2, want_etag);

    size_t n = 0;
    uint8_t *got = read_all("bkt", "movie", 0, 0, &n);
    ck_assert_uint_eq(n, total);
    ck_assert(memcmp(got, all, total) == 0);
    free(got);
    got = read_all("bkt", "movie", 5 * MIB - 10, 5 * MIB + 20, &n);
    ck_assert_uint_eq(n, 5 * MIB + 20);
    ck_assert(memcmp(got, all + 5 * MIB - 10, n) == 0);
    free(got);

    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "movie", &g), 0);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    ck_assert_str_eq(v->etag, want_etag);
    ck_assert_str_eq(v->content_type, "video/mp4");
    ck_assert_uint_eq(v->n_user_meta, 1);
    ck_assert_uint_eq(v->n_part_sizes, 3);
    uint64_t po = 0, pl = 0;
    ck_assert_int_eq(hm_objsvc_part_span(v, 3, &po, &pl), 0);
    ck_assert_uint_eq(po, 10 * MIB);
    ck_assert_uint_eq(pl, 1000);
    ck_assert_int_eq(hm_objsvc_part_span(v, 4, &po, &pl), HM_EINVAL);
    hm_objsvc_get_close(g);

    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_objsvc_mpu_list_parts(svc, "t", "bkt", "movie", uid, 0, 10, &r),
                     HM_ENOUPLOAD);
    free(all);
    free(uid);
}
END_TEST

/* Bitwise reflected CRC-32 (IEEE), independent of hm_checksum.c. */
static uint32_t crc32_bitwise(const uint8_t *b, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= b[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* A part with a CRC32 checksum stored alongside (as UploadPart with
 * x-amz-checksum-crc32 does); raw gets the big-endian digest. */
static void part_crc32(const char *key, const char *uid, uint32_t pn, const uint8_t *data,
                       size_t n, char etag[33], uint8_t raw[4])
{
    uint32_t c = crc32_bitwise(data, n);
    raw[0] = (uint8_t)(c >> 24);
    raw[1] = (uint8_t)(c >> 16);
    raw[2] = (uint8_t)(c >> 8);
    raw[3] = (uint8_t)c;
    hm_objsvc_part_args a = {
        .bucket = "bkt", .key = key, .upload_id = uid, .part_number = pn, .size = n};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_part_begin(svc, "t", &a, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, data, n), 0);
    ck_assert_int_eq(hm_objsvc_put_set_checksum(p, "CRC32", raw, 4, false), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, etag, NULL), 0);
}

static char *create_crc32(const char *key)
{
    static char id[HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1];
    hm_objsvc_upload_args a = {.bucket = "bkt", .key = key, .checksum_algorithm = "CRC32"};
    ck_assert_int_eq(hm_objsvc_mpu_create(svc, "t", &a, id), 0);
    return strdup(id);
}

/* An upload created with CRC32 whose parts carry CRC32s completes into an
 * object with the COMPOSITE checksum CRC32(crc_1||crc_2||crc_3) "-3",
 * stored in the version; a client part checksum that differs is
 * InvalidPart; a part without a checksum leaves the object without one.
 * Part spans follow the part sizes. */
START_TEST(test_composite_checksum)
{
    char *uid = create_crc32("ck");
    size_t sz[3] = {5 * MIB, 5 * MIB, 777};
    size_t total = sz[0] + sz[1] + sz[2];
    uint8_t *all = pattern(total, 11);
    char etags[3][33], texts[3][HM_CKSUM_TEXT_BYTES_MAX];
    uint8_t cat[12];
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        part_crc32("ck", uid, (uint32_t)i + 1, all + off, sz[i], etags[i], cat + 4 * i);
        hm_cksum_value pv = {.algo = HM_CKSUM_CRC32, .len = 4};
        memcpy(pv.raw, cat + 4 * i, 4);
        ck_assert_int_eq(hm_cksum_render(&pv, texts[i]), 0);
        off += sz[i];
    }
    uint32_t want = crc32_bitwise(cat, sizeof cat);
    uint8_t want_raw[4] = {(uint8_t)(want >> 24), (uint8_t)(want >> 16), (uint8_t)(want >> 8),
                           (uint8_t)want};

    /* a wrong client checksum for part 2 */
    hm_objsvc_part_ref refs[3];
    for (int i = 0; i < 3; i++)
        refs[i] = (hm_objsvc_part_ref){.part_number = (uint32_t)i + 1, .etag = etags[i],
                                       .checksum_algo = HM_CKSUM_CRC32, .checksum = texts[i]};
    refs[1].checksum = texts[2];
    hm_cksum_value ck;
    hm_objsvc_complete_args ca = {.bucket = "bkt", .key = "ck", .upload_id = uid,
                                  .parts = refs, .part_count = 3, .checksum_out = &ck};
    enum hm_objsvc_mpu_fault f;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_MPU_INVALID_PART);
    /* a client checksum of another algorithm than the part's */
    refs[1].checksum = texts[1];
    refs[1].checksum_algo = HM_CKSUM_CRC32C;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_MPU_INVALID_PART);
    refs[1].checksum_algo = HM_CKSUM_CRC32;
    /* the right ones (part 3 sends none: it is optional) */
    refs[2].checksum = NULL;
    refs[2].checksum_algo = HM_CKSUM_NONE;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), 0);
    ck_assert_int_eq(ck.algo, HM_CKSUM_CRC32);
    ck_assert(ck.composite);
    ck_assert_uint_eq(ck.parts, 3);
    ck_assert_uint_eq(ck.len, 4);
    ck_assert(memcmp(ck.raw, want_raw, 4) == 0);
    char text[HM_CKSUM_TEXT_BYTES_MAX];
    ck_assert_int_eq(hm_cksum_render(&ck, text), 0);
    size_t tl = strlen(text);
    ck_assert(tl > 2 && strcmp(text + tl - 2, "-3") == 0);

    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "ck", &g), 0);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    ck_assert_uint_eq(v->n_checksums, 1);
    ck_assert_str_eq(v->checksums[0]->algorithm, "CRC32");
    ck_assert(v->checksums[0]->has_composite && v->checksums[0]->composite);
    ck_assert_uint_eq(v->checksums[0]->value.len, 4);
    ck_assert(memcmp(v->checksums[0]->value.data, want_raw, 4) == 0);
    uint64_t po = 0, pl = 0;
    ck_assert_int_eq(hm_objsvc_part_span(v, 1, &po, &pl), 0);
    ck_assert_uint_eq(po, 0);
    ck_assert_uint_eq(pl, 5 * MIB);
    ck_assert_int_eq(hm_objsvc_part_span(v, 2, &po, &pl), 0);
    ck_assert_uint_eq(po, 5 * MIB);
    ck_assert_uint_eq(pl, 5 * MIB);
    ck_assert_int_eq(hm_objsvc_part_span(v, 0, &po, &pl), HM_EINVAL);
    hm_objsvc_get_close(g);
    size_t n = 0;
    uint8_t *got = read_all("bkt", "ck", 5 * MIB, 5 * MIB, &n);
    ck_assert_uint_eq(n, 5 * MIB);
    ck_assert(memcmp(got, all + 5 * MIB, n) == 0);
    free(got);
    /* a retried Complete reports the same checksum */
    memset(&ck, 0, sizeof ck);
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), 0);
    ck_assert(ck.composite && ck.parts == 3 && memcmp(ck.raw, want_raw, 4) == 0);
    free(uid);

    /* a part without a checksum: no object checksum */
    uid = create_crc32("nock");
    char e1[33], e2[33];
    uint8_t raw1[4];
    part_crc32("nock", uid, 1, all, 5 * MIB, e1, raw1);
    ck_assert_int_eq(part("nock", uid, 2, all, 100, e2), 0);
    hm_objsvc_part_ref r2[2] = {{.part_number = 1, .etag = e1},
                                {.part_number = 2, .etag = e2}};
    ca.key = "nock";
    ca.upload_id = uid;
    ca.parts = r2;
    ca.part_count = 2;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), 0);
    ck_assert_int_eq(ck.algo, HM_CKSUM_NONE);
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "nock", &g), 0);
    ck_assert_uint_eq(hm_objsvc_get_version(g)->n_checksums, 0);
    hm_objsvc_get_close(g);
    free(uid);
    free(all);
}
END_TEST

/* Uploading a part number again replaces it: Complete needs the new ETag
 * and the object holds the new bytes. */
START_TEST(test_part_replaced)
{
    char *uid = create("k");
    uint8_t *a = pattern(10000, 1), *b = pattern(12000, 2);
    char ea[33], eb[33];
    ck_assert_int_eq(part("k", uid, 1, a, 10000, ea), 0);
    ck_assert_int_eq(part("k", uid, 1, b, 12000, eb), 0);
    hm_objsvc_part_ref old[1] = {{.part_number = 1, .etag = ea}};
    hm_objsvc_complete_args ca = {
        .bucket = "bkt", .key = "k", .upload_id = uid, .parts = old, .part_count = 1};
    enum hm_objsvc_mpu_fault f;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_MPU_INVALID_PART);
    hm_objsvc_part_ref cur[1] = {{.part_number = 1, .etag = eb}};
    ca.parts = cur;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), 0);
    size_t n = 0;
    uint8_t *got = read_all("bkt", "k", 0, 0, &n);
    ck_assert_uint_eq(n, 12000);
    ck_assert(memcmp(got, b, n) == 0);
    free(got);
    free(a);
    free(b);
    free(uid);
}
END_TEST

/* Complete refuses descending part numbers (InvalidPartOrder), an unknown
 * part or a wrong ETag (InvalidPart), a small part before the last
 * (EntityTooSmall), an empty list, and an unknown upload. */
START_TEST(test_complete_faults)
{
    char *uid = create("k");
    uint8_t *d = pattern(2000, 3);
    char e1[33], e2[33];
    ck_assert_int_eq(part("k", uid, 1, d, 1000, e1), 0);
    ck_assert_int_eq(part("k", uid, 2, d + 1000, 1000, e2), 0);
    enum hm_objsvc_mpu_fault f;
    hm_objsvc_part_ref desc[2] = {{.part_number = 2, .etag = e2}, {.part_number = 1, .etag = e1}};
    hm_objsvc_complete_args ca = {
        .bucket = "bkt", .key = "k", .upload_id = uid, .parts = desc, .part_count = 2};
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_MPU_PART_ORDER);
    hm_objsvc_part_ref missing[2] = {{.part_number = 1, .etag = e1},
                                     {.part_number = 3, .etag = e2}};
    ca.parts = missing;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_MPU_INVALID_PART);
    hm_objsvc_part_ref wrong[2] = {{.part_number = 1, .etag = e2}, {.part_number = 2, .etag = e2}};
    ca.parts = wrong;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_MPU_INVALID_PART);
    hm_objsvc_part_ref small[2] = {{.part_number = 1, .etag = e1}, {.part_number = 2, .etag = e2}};
    ca.parts = small;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_MPU_TOO_SMALL);
    ca.part_count = 0;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_MPU_NO_PARTS);
    ca.part_count = 1;
    ca.upload_id = "0123456789abcdef0123456789abcdef";
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), HM_ENOUPLOAD);
    /* the upload is still there and a single part completes */
    ca.upload_id = uid;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), 0);
    /* part numbers outside 1..10000 and unknown uploads are refused up front */
    char e[33];
    ck_assert_int_eq(part("k", uid, 1, d, 10, e), HM_ENOUPLOAD);
    char *uid2 = create("k");
    ck_assert_int_eq(part("k", uid2, 0, d, 10, e), HM_EINVAL);
    ck_assert_int_eq(part("k", uid2, 10001, d, 10, e), HM_EINVAL);
    ck_assert_int_eq(part("other-key", uid2, 1, d, 10, e), HM_ENOUPLOAD);
    free(uid2);
    free(d);
    free(uid);
}
END_TEST

/* A Complete whose manifest shard cannot reach the write-ack floor (the
 * disk of one of the first part's two shards lost its contents while the
 * node runs, so its copy fails with HM_ENOENT) is refused as a PUT below
 * the floor is, 503, not with the copy's own error (InternalError), and
 * the upload is still there.  (hamster-sim at 5+2 with two disks emptied.) */
START_TEST(test_complete_below_floor)
{
    char *uid = create("k");
    uint8_t *d = pattern(1000, 5);
    char e1[33];
    ck_assert_int_eq(part("k", uid, 1, d, 1000, e1), 0);
    char p[512];
    snprintf(p, sizeof(p), "%s/disk1", tmpdir);
    rm_rf(p);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    hm_objsvc_part_ref refs[1] = {{.part_number = 1, .etag = e1}};
    hm_objsvc_complete_args ca = {
        .bucket = "bkt", .key = "k", .upload_id = uid, .parts = refs, .part_count = 1};
    enum hm_objsvc_mpu_fault f;
    int rc = hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f);
    ck_assert_msg(rc == HM_EUNAVAIL, "complete: %s", hm_err_name(rc));
    ck_assert_int_eq(hm_s3err_from_hm(rc), HM_S3_SERVICE_UNAVAILABLE);
    /* not applied: the upload and its part are still listed, the key absent,
     * and the manifest copy that did land was taken back */
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_objsvc_mpu_list_parts(svc, "t", "bkt", "k", uid, 0, 0, &r), 0);
    hm__meta_response__free_unpacked(r, NULL);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "k", &g), HM_ENOKEY);
    ck_assert_int_eq(shard_files(), 1); /* the part's shard on disk0 alone */
    free(d);
    free(uid);
}
END_TEST

/* Aborting an upload and completing another with an unused part leave no
 * shard file behind once gc has run; the manifest goes with the object. */
START_TEST(test_no_orphans)
{
    int before = shard_files();
    char *uid = create("k");
    uint8_t *d = pattern(6 * MIB, 4);
    char e1[33], e2[33], e3[33];
    ck_assert_int_eq(part("k", uid, 1, d, 6 * MIB, e1), 0);
    ck_assert_int_eq(part("k", uid, 2, d, 100, e2), 0);
    ck_assert_int_eq(part("k", uid, 2, d, 200, e2), 0); /* replaces */
    ck_assert_int_eq(shard_files(), before + 3 * SHARDS_PER_BLOB);
    ck_assert_int_eq(hm_objsvc_mpu_abort(svc, "t", "bkt", "k", uid), 0);
    ck_assert_int_eq(hm_objsvc_mpu_abort(svc, "t", "bkt", "k", uid), HM_ENOUPLOAD);
    gc_all();
    ck_assert_int_eq(shard_files(), before);

    char *uid2 = create("k");
    ck_assert_int_eq(part("k", uid2, 1, d, 6 * MIB, e1), 0);
    ck_assert_int_eq(part("k", uid2, 2, d, 100, e2), 0);
    ck_assert_int_eq(part("k", uid2, 3, d, 100, e3), 0);
    hm_objsvc_part_ref refs[2] = {{.part_number = 1, .etag = e1}, {.part_number = 3, .etag = e3}};
    hm_objsvc_complete_args ca = {
        .bucket = "bkt", .key = "k", .upload_id = uid2, .parts = refs, .part_count = 2};
    enum hm_objsvc_mpu_fault f;
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &ca, NULL, &f), 0);
    gc_all();
    /* the two parts and the object's manifest beside part 1 */
    ck_assert_int_eq(shard_files(), before + 3 * SHARDS_PER_BLOB);
    ck_assert_int_eq(hm_objsvc_delete(svc, "t", "bkt", "k"), 0);
    gc_all();
    ck_assert_int_eq(shard_files(), before);
    free(uid2);
    free(d);
    free(uid);
}
END_TEST

/* ListParts and ListMultipartUploads page with their markers. */
START_TEST(test_list_pagination)
{
    char *uid = create("k");
    uint8_t *d = pattern(100, 5);
    char e[33];
    for (uint32_t pn = 1; pn <= 5; pn++) ck_assert_int_eq(part("k", uid, pn, d, 100, e), 0);
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_objsvc_mpu_list_parts(svc, "t", "bkt", "k", uid, 0, 2, &r), 0);
    ck_assert_uint_eq(r->parts->n_parts, 2);
    ck_assert(r->parts->truncated);
    uint32_t next = r->parts->next_part_number_marker;
    ck_assert_uint_eq(next, 2);
    hm__meta_response__free_unpacked(r, NULL);
    ck_assert_int_eq(hm_objsvc_mpu_list_parts(svc, "t", "bkt", "k", uid, next, 2, &r), 0);
    ck_assert_uint_eq(r->parts->parts[0]->part_number, 3);
    hm__meta_response__free_unpacked(r, NULL);
    ck_assert_int_eq(hm_objsvc_mpu_list_parts(svc, "t", "bkt", "other", uid, 0, 2, &r),
                     HM_ENOUPLOAD);

    char *u2 = create("a/1"), *u3 = create("a/2"), *u4 = create("b");
    hm_objsvc_upload_list_args la = {.bucket = "bkt", .max_uploads = 2};
    ck_assert_int_eq(hm_objsvc_mpu_list_uploads(svc, "t", &la, &r), 0);
    ck_assert_uint_eq(r->uploads->n_uploads, 2);
    ck_assert(r->uploads->truncated);
    ck_assert_str_eq(r->uploads->uploads[0]->key, "a/1");
    char km[32], um[40];
    snprintf(km, sizeof km, "%s", r->uploads->next_key_marker);
    snprintf(um, sizeof um, "%s", r->uploads->next_upload_id_marker);
    hm__meta_response__free_unpacked(r, NULL);
    la.key_marker = km;
    la.upload_id_marker = um;
    ck_assert_int_eq(hm_objsvc_mpu_list_uploads(svc, "t", &la, &r), 0);
    ck_assert_uint_eq(r->uploads->n_uploads, 2);
    ck_assert_str_eq(r->uploads->uploads[0]->key, "b");
    ck_assert_str_eq(r->uploads->uploads[1]->key, "k");
    ck_assert(!r->uploads->truncated);
    hm__meta_response__free_unpacked(r, NULL);
    hm_objsvc_upload_list_args ld = {.bucket = "bkt", .delimiter = "/", .max_uploads = 1000};
    ck_assert_int_eq(hm_objsvc_mpu_list_uploads(svc, "t", &ld, &r), 0);
    ck_assert_uint_eq(r->uploads->n_uploads, 2);
    ck_assert_uint_eq(r->uploads->n_common_prefixes, 1);
    ck_assert_str_eq(r->uploads->common_prefixes[0], "a/");
    hm__meta_response__free_unpacked(r, NULL);
    free(u2);
    free(u3);
    free(u4);
    free(d);
    free(uid);
}
END_TEST

static void put_plain(const char *bucket, const char *key, const uint8_t *d, size_t n,
                      const char *ctype, char etag[33])
{
    hm_objsvc_kv meta_kv[1] = {{"origin", "src"}};
    hm_objsvc_put_args a = {.bucket = bucket, .key = key, .size = n, .content_type = ctype,
                            .user_meta = meta_kv, .user_meta_count = 1};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_put_begin(svc, "t", &a, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, d, n), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, etag, NULL), 0);
}

/* CopyObject copies bytes, content type and metadata within and across
 * buckets; REPLACE takes the request's metadata; a copy onto itself needs
 * REPLACE; source conditions fail with a precondition fault. */
START_TEST(test_copy)
{
    uint8_t *d = pattern(300000, 6);
    char se[33];
    put_plain("bkt", "src", d, 300000, "text/plain", se);
    char etag[HM_OBJSVC_MPU_ETAG_BYTES];
    enum hm_objsvc_mpu_fault f;
    hm_objsvc_copy_args ca = {.src_bucket = "bkt", .src_key = "src",
                              .dst = {.bucket = "other", .key = "dst"}};
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), 0);
    ck_assert_str_eq(etag, se);
    size_t n = 0;
    uint8_t *got = read_all("other", "dst", 0, 0, &n);
    ck_assert_uint_eq(n, 300000);
    ck_assert(memcmp(got, d, n) == 0);
    free(got);
    hm_objsvc_get *g = NULL;
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "other", "dst", &g), 0);
    ck_assert_str_eq(hm_objsvc_get_version(g)->content_type, "text/plain");
    ck_assert_str_eq(hm_objsvc_get_version(g)->user_meta[0]->value, "src");
    hm_objsvc_get_close(g);

    /* onto itself: refused with COPY, allowed with REPLACE */
    hm_objsvc_copy_args self = {.src_bucket = "bkt", .src_key = "src",
                                .dst = {.bucket = "bkt", .key = "src"}};
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &self, etag, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_COPY_TO_SELF);
    self.replace_meta = true;
    self.dst.content_type = "application/json";
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &self, etag, NULL, &f), 0);
    ck_assert_int_eq(hm_objsvc_get_open(svc, "t", "bkt", "src", &g), 0);
    ck_assert_str_eq(hm_objsvc_get_version(g)->content_type, "application/json");
    ck_assert_uint_eq(hm_objsvc_get_version(g)->n_user_meta, 0);
    hm_objsvc_get_close(g);
    got = read_all("bkt", "src", 0, 0, &n);
    ck_assert(n == 300000 && memcmp(got, d, n) == 0);
    free(got);

    /* conditions on the source */
    hm_objsvc_copy_cond c = {.if_match = "\"0000\""};
    ca.cond = &c;
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), HM_EPRECOND);
    ck_assert_int_eq(f, HM_OBJSVC_COPY_PRECOND);
    c = (hm_objsvc_copy_cond){.if_none_match = se};
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), HM_EPRECOND);
    c = (hm_objsvc_copy_cond){.has_if_unmodified_since = true, .if_unmodified_since_ms = 1000};
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), HM_EPRECOND);
    c = (hm_objsvc_copy_cond){.if_match = se, .has_if_unmodified_since = true,
                              .if_unmodified_since_ms = 1000};
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), 0);
    c = (hm_objsvc_copy_cond){.has_if_modified_since = true,
                              .if_modified_since_ms = INT64_MAX / 2};
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), HM_EPRECOND);
    ca.cond = NULL;
    ca.src_key = "missing";
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), HM_ENOKEY);
    free(d);
}
END_TEST

/* UploadPartCopy copies a byte range of an object into a part, and a
 * range outside the source is refused. */
START_TEST(test_upload_part_copy)
{
    uint8_t *d = pattern(6 * MIB, 8);
    char se[33];
    put_plain("other", "big", d, 6 * MIB, NULL, se);
    char *uid = create("assembled");
    char etag[HM_OBJSVC_MPU_ETAG_BYTES];
    enum hm_objsvc_mpu_fault f;
    hm_objsvc_copy_args ca = {.src_bucket = "other", .src_key = "big",
                              .dst = {.bucket = "bkt", .key = "assembled"},
                              .upload_id = uid, .part_number = 1};
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), 0);
    ck_assert_str_eq(etag, se);
    char e1[HM_OBJSVC_MPU_ETAG_BYTES];
    memcpy(e1, etag, sizeof e1);
    ca.part_number = 2;
    ca.has_range = true;
    ca.range_first = 100;
    ca.range_last = 1099;
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), 0);
    uint8_t md[16];
    char want[33];
    md5_raw(d + 100, 1000, md);
    hex(md, 16, want);
    ck_assert_str_eq(etag, want);
    ca.part_number = 3;
    ca.range_first = 10;
    ca.range_last = 6 * MIB;
    ck_assert_int_eq(hm_objsvc_copy(svc, "t", &ca, etag, NULL, &f), HM_EINVAL);
    ck_assert_int_eq(f, HM_OBJSVC_COPY_RANGE);
    hm_objsvc_part_ref refs[2] = {{.part_number = 1, .etag = e1}, {.part_number = 2, .etag = want}};
    hm_objsvc_complete_args cc = {.bucket = "bkt", .key = "assembled", .upload_id = uid,
                                  .parts = refs, .part_count = 2};
    ck_assert_int_eq(hm_objsvc_mpu_complete(svc, "t", &cc, etag, &f), 0);
    size_t n = 0;
    uint8_t *got = read_all("bkt", "assembled", 0, 0, &n);
    ck_assert_uint_eq(n, 6 * MIB + 1000);
    ck_assert(memcmp(got, d, 6 * MIB) == 0);
    ck_assert(memcmp(got + 6 * MIB, d + 100, 1000) == 0);
    free(got);
    free(uid);
    free(d);
}
END_TEST

/* Deleting a bucket that holds only an upload in progress succeeds and
 * its parts' shard files are collected. */
START_TEST(test_bucket_delete_with_upload)
{
    ck_assert_int_eq(hm_objsvc_bucket_create(svc, "t", "tmpb", "us-east-1", "AK"), 0);
    int before = shard_files();
    char id[HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1];
    hm_objsvc_upload_args a = {.bucket = "tmpb", .key = "k"};
    ck_assert_int_eq(hm_objsvc_mpu_create(svc, "t", &a, id), 0);
    uint8_t *d = pattern(5000, 9);
    hm_objsvc_part_args pa = {
        .bucket = "tmpb", .key = "k", .upload_id = id, .part_number = 1, .size = 5000};
    hm_objsvc_put *p = NULL;
    ck_assert_int_eq(hm_objsvc_part_begin(svc, "t", &pa, &p), 0);
    ck_assert_int_eq(hm_objsvc_put_write(p, d, 5000), 0);
    ck_assert_int_eq(hm_objsvc_put_finish(p, NULL, NULL), 0);
    ck_assert_int_eq(shard_files(), before + SHARDS_PER_BLOB);
    ck_assert_int_eq(hm_objsvc_bucket_delete(svc, "t", "tmpb"), 0);
    gc_all();
    ck_assert_int_eq(shard_files(), before);
    free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_mpu");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, objsvc_fixture_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_part_replaced);
    tcase_add_test(tc, test_composite_checksum);
    tcase_add_test(tc, test_complete_faults);
    tcase_add_test(tc, test_complete_below_floor);
    tcase_add_test(tc, test_no_orphans);
    tcase_add_test(tc, test_list_pagination);
    tcase_add_test(tc, test_copy);
    tcase_add_test(tc, test_upload_part_copy);
    tcase_add_test(tc, test_bucket_delete_with_upload);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
