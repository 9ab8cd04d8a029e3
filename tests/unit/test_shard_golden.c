/* test_shard_golden.c - pins the exact bytes of shard files, one golden
 * file per format version.
 *
 * Version 2 (what the store writes): the store writes a small shard with
 * fixed header fields, a seal and 100 bytes of data; the file must equal
 * tests/golden/shard_file_v2.bin byte for byte.  Version 1 (no longer
 * written): the format encoders assemble the file the version 1 store
 * wrote, which must equal tests/golden/shard_file_v1.bin.  Both golden files
 * must read back through today's store.  With HM_GOLDEN_UPDATE=1 the test
 * rewrites the version 2 file instead (only for a deliberate format change,
 * which also needs a new format version); the version 1 file is never
 * rewritten.
 */
#include <check.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_disk_util.h"
#include "hm_crc.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_shard_format.h"
#include "hm_shard_store.h"

#define GOLDEN_V1 "shard_file_v1.bin"
#define GOLDEN_V2 "shard_file_v2.bin"
#define GOLDEN_DATA_BYTES 100u

static hm_env *env;
static char root[256];
static char disk[300];

static const uint8_t golden_blob[HM_BLOB_ID_BYTES] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t golden_object[16] = {
    0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

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
    snprintf(root, sizeof root, "%s/hm_shard_golden_XXXXXX", tmp != NULL ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(disk, sizeof disk, "%s/disk0", root);
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
}

static void teardown(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    hm_env_posix_free(env);
}

static void golden_path(const char *name, char *out, size_t cap)
{
    const char *dir = getenv("HM_GOLDEN_DIR");
    ck_assert_msg(dir != NULL, "HM_GOLDEN_DIR is not set (run through ctest)");
    snprintf(out, cap, "%s/%s", dir, name);
}

static void golden_data(uint8_t *d)
{
    for (unsigned i = 0; i < GOLDEN_DATA_BYTES; i++) d[i] = (uint8_t)(i * 7 + 3);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The header fields the writer gives in both goldens. */
static void golden_header(Hm__ShardHeader *h)
{
    hm__shard_header__init(h);
    h->has_blob_id = true;
    h->blob_id.data = (uint8_t *)golden_blob;
    h->blob_id.len = sizeof golden_blob;
    h->has_shard_index = true;
    h->shard_index = 2;
    h->has_k = true;
    h->k = 4;
    h->has_m = true;
    h->m = 2;
    h->has_stripe_bytes = true;
    h->stripe_bytes = 1u << 20;
    h->has_blob_size = true;
    h->blob_size = 400;
    h->has_object_id = true;
    h->object_id.data = (uint8_t *)golden_object;
    h->object_id.len = sizeof golden_object;
    h->version_id = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY";
    h->bucket = "golden";
    h->key = "dir/file.txt";
    h->etag = "\"0123456789abcdef0123456789abcdef\"";
    h->has_part_number = true;
    h->part_number = 0;
    h->has_created_ms = true;
    h->created_ms = 1764063159000;
}

static void golden_compare(const uint8_t *written, size_t len, const char *name, bool update)
{
    char golden[512];
    golden_path(name, golden, sizeof golden);
    if (update) {
        FILE *f = fopen(golden, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", golden);
        ck_assert_uint_eq(fwrite(written, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
    size_t glen = 0;
    uint8_t *pinned = read_all(golden, &glen);
    ck_assert_uint_eq(glen, len);
    for (size_t i = 0; i < len; i++) {
        ck_assert_msg(written[i] == pinned[i], "%s byte %zu: wrote 0x%02x, golden 0x%02x", name,
                      i, written[i], pinned[i]);
    }
    free(pinned);
}

/* Place golden file name as shard (golden_blob, 2) of store s. */
static void golden_place(hm_shard_store *s, const char *name)
{
    char path[512], golden[512], dir[512];
    size_t glen = 0;
    golden_path(name, golden, sizeof golden);
    uint8_t *pinned = read_all(golden, &glen);
    ck_assert_int_eq(hm_shard_store_shard_path(s, golden_blob, 2, path, sizeof path), 0);
    snprintf(dir, sizeof dir, "%s/shards/00", disk);
    (void)env->ops->mkdir(env, dir);
    snprintf(dir, sizeof dir, "%s/shards/00/11", disk);
    (void)env->ops->mkdir(env, dir);
    ck_assert_int_eq(hm_env_write_file_atomic(env, path, pinned, glen), 0);
    free(pinned);
}

/* Read shard (golden_blob, 2) whole; it must hold the golden data. */
static Hm__ShardHeader *golden_read(hm_shard_store *s)
{
    hm_shard_store_get *g = NULL;
    Hm__ShardHeader *h = NULL;
    uint8_t data[GOLDEN_DATA_BYTES], back[GOLDEN_DATA_BYTES + 1];
    uint64_t total = 0;
    size_t got = 0;
    golden_data(data);
    ck_assert_int_eq(hm_shard_store_get_open(s, golden_blob, 2, 0, UINT64_MAX, &g, &total,
                                             &h), 0);
    ck_assert_uint_eq(total, GOLDEN_DATA_BYTES);
    ck_assert_int_eq(hm_shard_store_get_read(g, back, sizeof back, &got), 0);
    ck_assert_uint_eq(got, GOLDEN_DATA_BYTES);
    ck_assert(memcmp(back, data, GOLDEN_DATA_BYTES) == 0);
    hm_shard_store_get_close(g);
    ck_assert_uint_eq(h->shard_index, 2);
    ck_assert_uint_eq(h->k, 4);
    ck_assert_uint_eq(h->m, 2);
    ck_assert_uint_eq(h->block_bytes, 65536);
    ck_assert_uint_eq(h->data_length, GOLDEN_DATA_BYTES);
    ck_assert_uint_eq(h->data_crc32c, 0x594b1b65u);
    ck_assert_str_eq(h->bucket, "golden");
    ck_assert_str_eq(h->key, "dir/file.txt");
    ck_assert_int_eq(h->created_ms, 1764063159000);
    return h;
}

/* The format encoders still produce the version 1 file byte for byte (the
 * version 1 store wrote the header, zeros, the data at 12288, the table and
 * the footer). */
START_TEST(test_golden_v1_bytes)
{
    uint8_t data[GOLDEN_DATA_BYTES];
    golden_data(data);
    Hm__ShardHeader h;
    golden_header(&h);
    h.has_format_version = true;
    h.format_version = HM_SHARD_FORMAT_V1;
    h.has_block_bytes = true;
    h.block_bytes = HM_SHARD_BLOCK_BYTES;
    h.has_data_length = true;
    h.data_length = GOLDEN_DATA_BYTES;
    h.has_data_crc32c = true;
    h.data_crc32c = hm_crc32c(0, data, sizeof data);
    hm_shard_layout lay;
    ck_assert_int_eq(hm_shard_layout_compute_v(HM_SHARD_FORMAT_V1, GOLDEN_DATA_BYTES,
                                               HM_SHARD_BLOCK_BYTES, &lay), 0);
    ck_assert_uint_eq(lay.data_offset, 12288);
    uint8_t *f = calloc(1, lay.file_bytes);
    hm_shard_preamble pre;
    ck_assert_int_eq(hm_shard_header_encode(&h, f + HM_SHARD_PREAMBLE_BYTES,
                                            HM_SHARD_HEADER_BYTES_MAX_V1, &pre), 0);
    ck_assert_uint_eq(pre.version, 1);
    hm_shard_preamble_encode(&pre, f);
    memcpy(f + lay.data_offset, data, sizeof data);
    hm_shard_le32_put(f + lay.table_offset, hm_crc32c(0, data, sizeof data));
    hm_shard_footer_encode(1, hm_crc32c(0, f + lay.table_offset, 4), f + lay.footer_offset);
    golden_compare(f, lay.file_bytes, GOLDEN_V1, false);
    free(f);
}
END_TEST

/* The pinned version 1 file, placed in a store, reads back with its header
 * and data intact: today's reader accepts version 1 files. */
START_TEST(test_golden_v1_reads_back)
{
    hm_shard_store *s = NULL;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    golden_place(s, GOLDEN_V1);
    Hm__ShardHeader *h = golden_read(s);
    ck_assert_uint_eq(h->format_version, 1);
    ck_assert(!h->has_role);
    ck_assert_ptr_null(h->content_type);
    hm__shard_header__free_unpacked(h, NULL);
    hm_shard_store_close(s);
}
END_TEST

static Hm__KeyValue golden_kv[4] = {
    {PROTOBUF_C_MESSAGE_INIT(&hm__key_value__descriptor), "color", "blue"},
    {PROTOBUF_C_MESSAGE_INIT(&hm__key_value__descriptor), "Cache-Control", "no-cache"},
    {PROTOBUF_C_MESSAGE_INIT(&hm__key_value__descriptor), "team", "storage"},
    {PROTOBUF_C_MESSAGE_INIT(&hm__key_value__descriptor), "env", "prod"},
};

/* The store writes exactly the pinned version 2 bytes for fixed header
 * fields (every field a rebuild reads), a seal and data. */
START_TEST(test_golden_v2_bytes)
{
    hm_shard_store *s = NULL;
    hm_shard_store_put *p = NULL;
    char path[512];
    uint8_t data[GOLDEN_DATA_BYTES];
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    golden_data(data);

    Hm__ShardHeader h;
    golden_header(&h);
    h.etag = NULL; /* sealed below */
    h.has_role = true;
    h.role = HM__SHARD_ROLE__SHARD_ROLE_OBJECT;
    h.content_type = "text/plain";
    Hm__KeyValue *meta[1] = {&golden_kv[0]};
    Hm__KeyValue *hdrs[1] = {&golden_kv[1]};
    Hm__KeyValue *tags[2] = {&golden_kv[2], &golden_kv[3]};
    h.n_user_meta = 1;
    h.user_meta = meta;
    h.n_headers = 1;
    h.headers = hdrs;
    h.n_tags = 2;
    h.tags = tags;
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), 0);
    ck_assert_int_eq(hm_shard_store_put_write(p, data, 60), 0);
    ck_assert_int_eq(hm_shard_store_put_write(p, data + 60, 40), 0);
    Hm__ShardHeader seal = HM__SHARD_HEADER__INIT;
    seal.etag = "0123456789abcdef0123456789abcdef";
    Hm__Checksum ck = HM__CHECKSUM__INIT;
    uint8_t ckv[4] = {0xde, 0xad, 0xbe, 0xef};
    ck.algorithm = "CRC32C";
    ck.has_value = true;
    ck.value.data = ckv;
    ck.value.len = sizeof ckv;
    Hm__Checksum *cks[1] = {&ck};
    seal.n_checksums = 1;
    seal.checksums = cks;
    seal.has_committed_ms = true;
    seal.committed_ms = 1764063160000;
    seal.has_blob_size = true;
    seal.blob_size = 400;
    seal.key = "ignored: not a sealed field";
    ck_assert_int_eq(hm_shard_store_put_seal(p, &seal), 0);
    ck_assert_int_eq(hm_shard_store_put_commit(p, NULL, NULL), 0);
    ck_assert_int_eq(hm_shard_store_shard_path(s, golden_blob, 2, path, sizeof path), 0);

    size_t len = 0;
    uint8_t *written = read_all(path, &len);
    ck_assert_uint_eq(len, 65536 + GOLDEN_DATA_BYTES + 4 + 8);
    const char *update = getenv("HM_GOLDEN_UPDATE");
    golden_compare(written, len, GOLDEN_V2, update != NULL && strcmp(update, "1") == 0);
    free(written);
    hm_shard_store_close(s);
}
END_TEST

/* The pinned version 2 file reads back with every field a rebuild needs. */
START_TEST(test_golden_v2_reads_back)
{
    hm_shard_store *s = NULL;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    golden_place(s, GOLDEN_V2);
    Hm__ShardHeader *h = golden_read(s);
    ck_assert_uint_eq(h->format_version, 2);
    ck_assert_uint_eq(h->role, HM__SHARD_ROLE__SHARD_ROLE_OBJECT);
    ck_assert_str_eq(h->etag, "0123456789abcdef0123456789abcdef");
    ck_assert_str_eq(h->content_type, "text/plain");
    ck_assert_uint_eq(h->n_user_meta, 1);
    ck_assert_str_eq(h->user_meta[0]->key, "color");
    ck_assert_str_eq(h->user_meta[0]->value, "blue");
    ck_assert_uint_eq(h->n_headers, 1);
    ck_assert_str_eq(h->headers[0]->key, "Cache-Control");
    ck_assert_uint_eq(h->n_tags, 2);
    ck_assert_str_eq(h->tags[1]->value, "prod");
    ck_assert_uint_eq(h->n_checksums, 1);
    ck_assert_str_eq(h->checksums[0]->algorithm, "CRC32C");
    ck_assert_int_eq(h->committed_ms, 1764063160000);
    ck_assert_str_eq(h->version_id, "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY");
    ck_assert_uint_eq(h->object_id.len, 16);
    hm__shard_header__free_unpacked(h, NULL);
    hm_shard_store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shard_golden");
    TCase *tc = tcase_create("golden");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_golden_v1_bytes);
    tcase_add_test(tc, test_golden_v1_reads_back);
    tcase_add_test(tc, test_golden_v2_bytes);
    tcase_add_test(tc, test_golden_v2_reads_back);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
