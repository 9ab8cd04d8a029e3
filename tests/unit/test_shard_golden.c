/* test_shard_golden.c - pins the exact bytes of a version 1 shard file.
 *
 * The store writes a small shard with fixed header fields and 100 bytes of
 * data; the file must equal tests/golden/shard_file_v1.bin byte for byte,
 * and the golden file must read back through the store.  With
 * HM_GOLDEN_UPDATE=1 the test rewrites the golden file instead (only for a
 * deliberate format change, which also needs a new format version).
 */
#include <check.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hm_env.h"
#include "hm_err.h"
#include "hm_shard_format.h"
#include "hm_shard_store.h"

#define GOLDEN_NAME "shard_file_v1.bin"
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

static void golden_path(char *out, size_t cap)
{
    const char *dir = getenv("HM_GOLDEN_DIR");
    ck_assert_msg(dir != NULL, "HM_GOLDEN_DIR is not set (run through ctest)");
    snprintf(out, cap, "%s/%s", dir, GOLDEN_NAME);
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

/* The store writes exactly the pinned bytes for fixed header fields and
 * data. */
START_TEST(test_golden_bytes)
{
    hm_shard_store *s = NULL;
    hm_shard_store_put *p = NULL;
    char path[512], golden[512];
    uint8_t data[GOLDEN_DATA_BYTES];
    ck_assert_int_eq(hm_shard_store_open(&s, env, disk), 0);
    golden_data(data);

    Hm__ShardHeader h = HM__SHARD_HEADER__INIT;
    h.has_blob_id = true;
    h.blob_id.data = (uint8_t *)golden_blob;
    h.blob_id.len = sizeof golden_blob;
    h.has_shard_index = true;
    h.shard_index = 2;
    h.has_k = true;
    h.k = 4;
    h.has_m = true;
    h.m = 2;
    h.has_stripe_bytes = true;
    h.stripe_bytes = 1u << 20;
    h.has_blob_size = true;
    h.blob_size = 400;
    h.has_object_id = true;
    h.object_id.data = (uint8_t *)golden_object;
    h.object_id.len = sizeof golden_object;
    h.version_id = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY";
    h.bucket = "golden";
    h.key = "dir/file.txt";
    h.etag = "\"0123456789abcdef0123456789abcdef\"";
    h.has_part_number = true;
    h.part_number = 0;
    h.has_created_ms = true;
    h.created_ms = 1764063159000;
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), 0);
    ck_assert_int_eq(hm_shard_store_put_write(p, data, 60), 0);
    ck_assert_int_eq(hm_shard_store_put_write(p, data + 60, 40), 0);
    ck_assert_int_eq(hm_shard_store_put_commit(p, NULL, NULL), 0);
    ck_assert_int_eq(hm_shard_store_shard_path(s, golden_blob, 2, path, sizeof path), 0);

    size_t len = 0;
    uint8_t *written = read_all(path, &len);
    ck_assert_uint_eq(len, HM_SHARD_DATA_OFFSET + GOLDEN_DATA_BYTES + 4 + 8);
    golden_path(golden, sizeof golden);
    const char *update = getenv("HM_GOLDEN_UPDATE");
    if (update != NULL && strcmp(update, "1") == 0) {
        FILE *f = fopen(golden, "wb");
        ck_assert_msg(f != NULL, "cannot write %s", golden);
        ck_assert_uint_eq(fwrite(written, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
    size_t glen = 0;
    uint8_t *pinned = read_all(golden, &glen);
    ck_assert_uint_eq(glen, len);
    for (size_t i = 0; i < len; i++) {
        ck_assert_msg(written[i] == pinned[i], "byte %zu: wrote 0x%02x, golden 0x%02x", i,
                      written[i], pinned[i]);
    }
    free(pinned);
    free(written);
    hm_shard_store_close(s);
}
END_TEST

/* The pinned file, placed in a store, reads back with its header and data
 * intact: today's reader accepts version 1 files. */
START_TEST(test_golden_reads_back)
{
    hm_shard_store *s = NULL;
    hm_shard_store_get *g = NULL;
    Hm__ShardHeader *h = NULL;
    char path[512], golden[512], dir[512];
    uint8_t data[GOLDEN_DATA_BYTES], back[GOLDEN_DATA_BYTES + 1];
    uint64_t total = 0;
    size_t got = 0, glen = 0;
    ck_assert_int_eq(hm_shard_store_open(&s, env, disk), 0);
    golden_data(data);
    golden_path(golden, sizeof golden);
    uint8_t *pinned = read_all(golden, &glen);

    ck_assert_int_eq(hm_shard_store_shard_path(s, golden_blob, 2, path, sizeof path), 0);
    snprintf(dir, sizeof dir, "%s/shards/00", disk);
    ck_assert_int_eq(env->ops->mkdir(env, dir), 0);
    snprintf(dir, sizeof dir, "%s/shards/00/11", disk);
    ck_assert_int_eq(env->ops->mkdir(env, dir), 0);
    ck_assert_int_eq(hm_env_write_file_atomic(env, path, pinned, glen), 0);

    ck_assert_int_eq(hm_shard_store_get_open(s, golden_blob, 2, 0, UINT64_MAX, &g, &total,
                                             &h), 0);
    ck_assert_uint_eq(total, GOLDEN_DATA_BYTES);
    ck_assert_int_eq(hm_shard_store_get_read(g, back, sizeof back, &got), 0);
    ck_assert_uint_eq(got, GOLDEN_DATA_BYTES);
    ck_assert(memcmp(back, data, GOLDEN_DATA_BYTES) == 0);
    hm_shard_store_get_close(g);
    ck_assert_uint_eq(h->format_version, 1);
    ck_assert_uint_eq(h->shard_index, 2);
    ck_assert_uint_eq(h->k, 4);
    ck_assert_uint_eq(h->m, 2);
    ck_assert_uint_eq(h->block_bytes, 65536);
    ck_assert_uint_eq(h->data_length, GOLDEN_DATA_BYTES);
    ck_assert_uint_eq(h->data_crc32c, 0x594b1b65u);
    ck_assert_str_eq(h->bucket, "golden");
    ck_assert_str_eq(h->key, "dir/file.txt");
    ck_assert_int_eq(h->created_ms, 1764063159000);
    hm__shard_header__free_unpacked(h, NULL);
    free(pinned);
    hm_shard_store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shard_golden");
    TCase *tc = tcase_create("golden");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_golden_bytes);
    tcase_add_test(tc, test_golden_reads_back);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
