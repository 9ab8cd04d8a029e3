/* test_meta_golden.c - pins the exact bytes of every version-1 metadata
 * record, the version-2 names row and the schema-3 names-table keys
 * (tests/golden/meta_*.bin) and checks that a version-1 reader keeps
 * fields it does not know.
 *
 * With HM_GOLDEN_UPDATE=1 the test writes the files from the fixed values
 * below; otherwise it compares byte for byte.  A change here that alters a
 * file is a format change: it needs a new format version, not an update. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_limits.h"
#include "hm_meta.pb-c.h"
#include "hm_meta_keys.h"
#include "hm_meta_log.h"

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
    uint8_t want[4096];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    ck_assert_msg(n == len, "%s: %zu bytes, golden has %zu", name, len, n);
    ck_assert_msg(memcmp(want, buf, len) == 0, "%s differs from the golden bytes", name);
}

static uint8_t oid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                          0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};
static uint8_t blob_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static uint8_t crc[4] = {0xE3, 0x06, 0x92, 0x83};

/* Build the fixed version-1 ObjectVersion in the caller's storage. */
typedef struct ov_parts {
    Hm__ObjectVersion v;
    Hm__KeyValue meta, hdr, tag;
    Hm__KeyValue *metas[1], *hdrs[1], *tags[1];
    Hm__ShardRef shard;
    Hm__ShardRef *shards[1];
    Hm__Blob blob;
    Hm__Blob *blobs[1];
    Hm__Checksum ck;
    Hm__Checksum *cks[1];
    uint64_t parts[2];
} ov_parts;

static void ov_build(ov_parts *p)
{
    hm__object_version__init(&p->v);
    hm__key_value__init(&p->meta);
    hm__key_value__init(&p->hdr);
    hm__key_value__init(&p->tag);
    hm__shard_ref__init(&p->shard);
    hm__blob__init(&p->blob);
    hm__checksum__init(&p->ck);
    p->meta.key = (char *)"color";
    p->meta.value = (char *)"blue";
    p->hdr.key = (char *)"Cache-Control";
    p->hdr.value = (char *)"no-cache";
    p->tag.key = (char *)"team";
    p->tag.value = (char *)"storage";
    p->shard.has_index = true;
    p->shard.index = 0;
    p->shard.disk_id = (char *)"disk-0";
    p->shard.has_length = true;
    p->shard.length = 11;
    p->shard.has_crc32c = true;
    p->shard.crc32c = 0xE3069283u;
    p->shards[0] = &p->shard;
    p->blob.has_blob_id = true;
    p->blob.blob_id.data = blob_id;
    p->blob.blob_id.len = 16;
    p->blob.has_size = true;
    p->blob.size = 11;
    p->blob.has_k = true;
    p->blob.k = 1;
    p->blob.has_m = true;
    p->blob.m = 0;
    p->blob.has_stripe_bytes = true;
    p->blob.stripe_bytes = HM_STRIPE_BYTES;
    p->blob.n_shards = 1;
    p->blob.shards = p->shards;
    p->blobs[0] = &p->blob;
    p->ck.algorithm = (char *)"CRC32C";
    p->ck.has_value = true;
    p->ck.value.data = crc;
    p->ck.value.len = 4;
    p->cks[0] = &p->ck;
    p->metas[0] = &p->meta;
    p->hdrs[0] = &p->hdr;
    p->tags[0] = &p->tag;
    p->parts[0] = 5;
    p->parts[1] = 6;

    Hm__ObjectVersion *v = &p->v;
    v->has_format_version = true;
    v->format_version = 1;
    v->has_object_id = true;
    v->object_id.data = oid;
    v->object_id.len = 16;
    v->version_id = (char *)"null";
    v->has_size = true;
    v->size = 11;
    v->etag = (char *)"5eb63bbbe01eeed093cb22bb8f5acdc3";
    v->content_type = (char *)"text/plain";
    v->n_user_meta = 1;
    v->user_meta = p->metas;
    v->has_mtime_ms = true;
    v->mtime_ms = 1764063159123;
    v->has_delete_marker = true;
    v->delete_marker = false;
    v->n_blobs = 1;
    v->blobs = p->blobs;
    v->n_headers = 1;
    v->headers = p->hdrs;
    v->n_checksums = 1;
    v->checksums = p->cks;
    v->n_tags = 1;
    v->tags = p->tags;
    v->n_part_sizes = 2;
    v->part_sizes = p->parts;
    v->key = (char *)"photos/2026/cat.jpg";
}

static size_t pack(const ProtobufCMessage *m, uint8_t *buf, size_t cap)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    ck_assert_uint_le(len, cap);
    return protobuf_c_message_pack(m, buf);
}

/* Version-1 BucketRecord bytes are pinned and read back. */
START_TEST(test_golden_bucket_record)
{
    Hm__KeyValue tag = HM__KEY_VALUE__INIT;
    tag.key = (char *)"env";
    tag.value = (char *)"prod";
    Hm__KeyValue *tags[1] = {&tag};
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.has_format_version = true;
    b.format_version = 1;
    b.name = (char *)"my-bucket";
    b.has_bucket_id = true;
    b.bucket_id = 42;
    b.has_created_ms = true;
    b.created_ms = 1764063159123;
    b.owner = (char *)"AKIAEXAMPLE";
    b.has_versioning = true;
    b.versioning = 0;
    b.region = (char *)"us-east-1";
    b.cors_xml = (char *)"<CORSConfiguration/>";
    b.n_tags = 1;
    b.tags = tags;
    uint8_t buf[1024];
    size_t len = pack(&b.base, buf, sizeof buf);
    golden("meta_bucket_record_v1.bin", buf, len);
    Hm__BucketRecord *r = hm__bucket_record__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->bucket_id, 42);
    ck_assert_str_eq(r->name, "my-bucket");
    hm__bucket_record__free_unpacked(r, NULL);
}
END_TEST

/* Version-1 ObjectVersion bytes (every field set) are pinned. */
START_TEST(test_golden_object_version)
{
    static ov_parts p;
    ov_build(&p);
    uint8_t buf[2048];
    size_t len = pack(&p.v.base, buf, sizeof buf);
    golden("meta_object_version_v1.bin", buf, len);
    Hm__ObjectVersion *r = hm__object_version__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->key, "photos/2026/cat.jpg");
    ck_assert_uint_eq(r->blobs[0]->shards[0]->crc32c, 0xE3069283u);
    hm__object_version__free_unpacked(r, NULL);
}
END_TEST

/* Version-1 UploadRecord bytes (every field set) are pinned and read back. */
START_TEST(test_golden_upload_record)
{
    static ov_parts p;
    ov_build(&p);
    Hm__UploadRecord u = HM__UPLOAD_RECORD__INIT;
    u.has_format_version = true;
    u.format_version = 1;
    u.upload_id = (char *)"0123456789abcdef0123456789abcdef";
    u.bucket = (char *)"my-bucket";
    u.key = (char *)"videos/big.mp4";
    u.has_initiated_ms = true;
    u.initiated_ms = 1764063159123;
    u.content_type = (char *)"video/mp4";
    u.n_user_meta = 1;
    u.user_meta = p.metas;
    u.n_headers = 1;
    u.headers = p.hdrs;
    u.n_tags = 1;
    u.tags = p.tags;
    u.checksum_algorithm = (char *)"CRC32C";
    uint8_t buf[1024];
    size_t len = pack(&u.base, buf, sizeof buf);
    golden("meta_upload_record_v1.bin", buf, len);
    Hm__UploadRecord *r = hm__upload_record__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->upload_id, "0123456789abcdef0123456789abcdef");
    ck_assert_str_eq(r->key, "videos/big.mp4");
    ck_assert_str_eq(r->checksum_algorithm, "CRC32C");
    hm__upload_record__free_unpacked(r, NULL);
}
END_TEST

/* Version-1 PartRecord bytes (every field set) are pinned and read back. */
START_TEST(test_golden_part_record)
{
    static ov_parts p;
    ov_build(&p);
    uint8_t inl[3] = {'a', 'b', 'c'};
    Hm__PartRecord pr = HM__PART_RECORD__INIT;
    pr.has_format_version = true;
    pr.format_version = 1;
    pr.has_part_number = true;
    pr.part_number = 10000;
    pr.has_size = true;
    pr.size = 11;
    pr.etag = (char *)"5eb63bbbe01eeed093cb22bb8f5acdc3";
    pr.has_mtime_ms = true;
    pr.mtime_ms = 1764063159123;
    pr.has_inline_data = true;
    pr.inline_data.data = inl;
    pr.inline_data.len = sizeof inl;
    pr.blob = &p.blob;
    pr.n_checksums = 1;
    pr.checksums = p.cks;
    uint8_t buf[1024];
    size_t len = pack(&pr.base, buf, sizeof buf);
    golden("meta_part_record_v1.bin", buf, len);
    Hm__PartRecord *r = hm__part_record__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->part_number, 10000);
    ck_assert_uint_eq(r->blob->shards[0]->crc32c, 0xE3069283u);
    hm__part_record__free_unpacked(r, NULL);
}
END_TEST

/* A version-1 Intent record that is a retired intent's tombstone (id,
 * retired_ms, collection deadline, no blobs) is pinned and read back. */
START_TEST(test_golden_intent_retired)
{
    Hm__Intent in = HM__INTENT__INIT;
    in.has_format_version = true;
    in.format_version = 1;
    in.has_intent_id = true;
    in.intent_id.data = blob_id;
    in.intent_id.len = sizeof blob_id;
    in.has_retired_ms = true;
    in.retired_ms = 1764063159123;
    in.has_deadline_ms = true;
    in.deadline_ms = 1764063159123 + HM_INTENT_RETIRED_MS;
    uint8_t buf[256];
    size_t len = pack(&in.base, buf, sizeof buf);
    golden("meta_intent_retired_v1.bin", buf, len);
    Hm__Intent *back = hm__intent__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert(back->has_retired_ms);
    ck_assert_int_eq(back->retired_ms, 1764063159123);
    ck_assert_int_eq(back->deadline_ms, 1764063159123 + 300000);
    ck_assert_uint_eq(back->n_blobs, 0);
    ck_assert_mem_eq(back->intent_id.data, blob_id, sizeof blob_id);
    hm__intent__free_unpacked(back, NULL);
}
END_TEST

/* Version-1 NameList bytes are pinned. */
START_TEST(test_golden_name_list)
{
    Hm__NameEntry e1 = HM__NAME_ENTRY__INIT, e2 = HM__NAME_ENTRY__INIT;
    e1.key = (char *)"a/b";
    e1.has_object_id = true;
    e1.object_id.data = oid;
    e1.object_id.len = 16;
    e2.key = (char *)"a/c";
    e2.has_object_id = true;
    e2.object_id.data = blob_id;
    e2.object_id.len = 16;
    Hm__NameEntry *es[2] = {&e1, &e2};
    Hm__NameList nl = HM__NAME_LIST__INIT;
    nl.has_format_version = true;
    nl.format_version = 1;
    nl.n_entries = 2;
    nl.entries = es;
    uint8_t buf[256];
    size_t len = pack(&nl.base, buf, sizeof buf);
    golden("meta_name_list_v1.bin", buf, len);
}
END_TEST

/* Version-2 NameList bytes (a row of a bounded chain, ADR 13) are pinned;
 * the same fields as version 1, only the version differs. */
START_TEST(test_golden_name_list_v2)
{
    Hm__NameEntry e1 = HM__NAME_ENTRY__INIT, e2 = HM__NAME_ENTRY__INIT;
    e1.key = (char *)"a/b";
    e1.has_object_id = true;
    e1.object_id.data = oid;
    e1.object_id.len = 16;
    e2.key = (char *)"a/c";
    e2.has_object_id = true;
    e2.object_id.data = blob_id;
    e2.object_id.len = 16;
    Hm__NameEntry *es[2] = {&e1, &e2};
    Hm__NameList nl = HM__NAME_LIST__INIT;
    nl.has_format_version = true;
    nl.format_version = HM_META_NAME_LIST_VERSION;
    nl.n_entries = 2;
    nl.entries = es;
    uint8_t buf[256];
    size_t len = pack(&nl.base, buf, sizeof buf);
    golden("meta_name_list_v2.bin", buf, len);
}
END_TEST

/* The names-table keys of schema 3 are pinned: the head key of a key whose
 * encoding is cut at HM_NAMES_PREFIX_BYTES (bucket id 7; 1,000 bytes, a NUL
 * escaped as 00 FF at byte 10) and the continuation key of its chain at
 * sequence 0x00010000, then a short key's whole-encoding head key. */
START_TEST(test_golden_names_keys)
{
    char key[1000];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (char)('a' + i % 26);
    key[10] = '\0';
    uint8_t head[HM_META_NAMES_KEY_BYTES_MAX];
    size_t hl = 0;
    ck_assert_int_eq(hm_meta_names_key(7, key, sizeof key, head, &hl), 0);
    ck_assert_uint_eq(hl, HM_META_NAMES_HEAD_KEY_BYTES_MAX);
    uint8_t buf[HM_META_NAMES_CONT_KEY_BYTES + HM_META_NAMES_HEAD_KEY_BYTES_MAX + 16];
    hm_meta_names_cont_key(head, 0x00010000u, buf);
    uint32_t seq = 0;
    ck_assert(hm_meta_names_key_is_cont(buf, HM_META_NAMES_CONT_KEY_BYTES, head, hl, &seq));
    ck_assert_uint_eq(seq, 0x00010000u);
    ck_assert(!hm_meta_names_key_is_cont(head, hl, head, hl, &seq));
    size_t sl = 0;
    ck_assert_int_eq(hm_meta_names_key(7, "a/b", 3, buf + HM_META_NAMES_CONT_KEY_BYTES, &sl), 0);
    ck_assert_uint_eq(sl, 8 + 4);
    golden("meta_names_keys_v3.bin", buf, HM_META_NAMES_CONT_KEY_BYTES + sl);
}
END_TEST

/* The fixed MetaCommand: an ObjectPut with condition, intent and grace. */
typedef struct cmd_parts {
    ov_parts ov;
    Hm__WriteCondition wc;
    Hm__ObjectPut put;
    Hm__MetaCommand c;
} cmd_parts;

static void cmd_build(cmd_parts *p)
{
    ov_build(&p->ov);
    hm__write_condition__init(&p->wc);
    p->wc.has_if_none_match_any = true;
    p->wc.if_none_match_any = true;
    hm__object_put__init(&p->put);
    p->put.bucket = (char *)"my-bucket";
    p->put.key = (char *)"photos/2026/cat.jpg";
    p->put.version = &p->ov.v;
    p->put.has_intent_id = true;
    p->put.intent_id.data = blob_id;
    p->put.intent_id.len = 16;
    p->put.cond = &p->wc;
    p->put.has_gc_grace_ms = true;
    p->put.gc_grace_ms = HM_GC_GRACE_MS;
    hm__meta_command__init(&p->c);
    p->c.has_format_version = true;
    p->c.format_version = 1;
    p->c.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    p->c.object_put = &p->put;
}

/* Version-1 MetaCommand bytes are pinned. */
START_TEST(test_golden_meta_command)
{
    static cmd_parts p;
    cmd_build(&p);
    uint8_t buf[2048];
    size_t len = pack(&p.c.base, buf, sizeof buf);
    golden("meta_command_v1.bin", buf, len);
}
END_TEST

/* The scan requests' bytes are pinned, `all` (field 3) included: a GcScan
 * and an IntentScan of everything queued, and a GcScan of what is due. */
START_TEST(test_golden_meta_scans)
{
    Hm__GcScan gs = HM__GC_SCAN__INIT;
    gs.has_max = true;
    gs.max = 1000;
    gs.has_all = true;
    gs.all = true;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.has_format_version = true;
    q.format_version = 1;
    q.op_case = HM__META_REQUEST__OP_GC_SCAN;
    q.gc_scan = &gs;
    uint8_t buf[256];
    size_t len = pack(&q.base, buf, sizeof buf);
    golden("meta_request_gc_scan_all_v1.bin", buf, len);
    Hm__MetaRequest *back = hm__meta_request__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(back);
    ck_assert(back->gc_scan->has_all && back->gc_scan->all);
    hm__meta_request__free_unpacked(back, NULL);

    gs.has_all = false;
    gs.all = false;
    gs.has_now_ms = true;
    gs.now_ms = 1700000000000;
    len = pack(&q.base, buf, sizeof buf);
    golden("meta_request_gc_scan_due_v1.bin", buf, len);

    Hm__IntentScan is = HM__INTENT_SCAN__INIT;
    is.has_max = true;
    is.max = 1000;
    is.has_all = true;
    is.all = true;
    q.op_case = HM__META_REQUEST__OP_INTENT_SCAN;
    q.intent_scan = &is;
    len = pack(&q.base, buf, sizeof buf);
    golden("meta_request_intent_scan_all_v1.bin", buf, len);
}
END_TEST

static size_t log_entry_bytes(uint8_t *buf, size_t cap)
{
    static cmd_parts p;
    cmd_build(&p);
    Hm__LogEntry e = HM__LOG_ENTRY__INIT;
    e.has_format_version = true;
    e.format_version = 1;
    e.has_term = true;
    e.term = 3;
    e.has_index = true;
    e.index = 12345;
    e.command = &p.c;
    return pack(&e.base, buf, cap);
}

/* Version-1 LogEntry bytes are pinned. */
START_TEST(test_golden_log_entry)
{
    uint8_t buf[2048];
    size_t len = log_entry_bytes(buf, sizeof buf);
    golden("meta_log_entry_v1.bin", buf, len);
}
END_TEST

/* A log record frame (length, CRC32C, term, index, LogEntry) is pinned. */
START_TEST(test_golden_log_record)
{
    uint8_t pl[2048];
    size_t len = log_entry_bytes(pl, sizeof pl);
    uint8_t frame[2048 + HM_META_LOG_REC_HDR_BYTES];
    hm_meta_log_rec r = {.term = 3, .index = 12345, .payload = pl, .len = len};
    hm_meta_log_record_encode(&r, frame);
    golden("meta_log_record_v1.bin", frame, HM_META_LOG_REC_HDR_BYTES + len);
    /* the length field is little-endian and counts the payload only */
    ck_assert_uint_eq(frame[0] | frame[1] << 8, len);
}
END_TEST

/* A version-1 reader keeps a field it does not know: an ObjectVersion with
 * field 999 appended, unpacked, its size changed and repacked, still
 * carries field 999 byte for byte. */
START_TEST(test_unknown_field_survives)
{
    static ov_parts p;
    ov_build(&p);
    uint8_t buf[2048];
    size_t len = pack(&p.v.base, buf, sizeof buf);
    /* field 999, wire type 2: tag varint (999 << 3 | 2) = 7994 = BA 3E */
    const uint8_t extra[] = {0xBA, 0x3E, 0x05, 'n', 'e', 'w', 'e', 'r'};
    memcpy(buf + len, extra, sizeof extra);
    Hm__ObjectVersion *v = hm__object_version__unpack(NULL, len + sizeof extra, buf);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->base.n_unknown_fields, 1);
    v->size = 12345;
    uint8_t out[2048];
    size_t olen = pack(&v->base, out, sizeof out);
    hm__object_version__free_unpacked(v, NULL);
    ck_assert_uint_ge(olen, sizeof extra);
    ck_assert_mem_eq(out + olen - sizeof extra, extra, sizeof extra);
    Hm__ObjectVersion *back = hm__object_version__unpack(NULL, olen, out);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back->size, 12345);
    ck_assert_uint_eq(back->base.n_unknown_fields, 1);
    ck_assert_uint_eq(back->base.unknown_fields[0].tag, 999);
    hm__object_version__free_unpacked(back, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_golden");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_golden_bucket_record);
    tcase_add_test(tc, test_golden_object_version);
    tcase_add_test(tc, test_golden_name_list);
    tcase_add_test(tc, test_golden_name_list_v2);
    tcase_add_test(tc, test_golden_names_keys);
    tcase_add_test(tc, test_golden_upload_record);
    tcase_add_test(tc, test_golden_part_record);
    tcase_add_test(tc, test_golden_intent_retired);
    tcase_add_test(tc, test_golden_meta_command);
    tcase_add_test(tc, test_golden_meta_scans);
    tcase_add_test(tc, test_golden_log_entry);
    tcase_add_test(tc, test_golden_log_record);
    tcase_add_test(tc, test_unknown_field_survives);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
