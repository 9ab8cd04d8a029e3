/* test_shard_store.c - the shard store on the production env, in a
 * temporary directory: put/get of awkward sizes, ranges, corruption,
 * aborts, reopen after a crash, delete, info, and the local api binding.
 */
#include <check.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_disk_util.h"
#include "hm_crc.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_shard_format.h"
#include "hm_shard_store.h"
#include "sim_env.h"

#define B HM_SHARD_BLOCK_BYTES

static hm_env *env;
static char root[256];
static char disk[300];

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
    snprintf(root, sizeof root, "%s/hm_shard_store_XXXXXX", tmp != NULL ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(disk, sizeof disk, "%s/disk0", root);
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
}

static void teardown(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    hm_env_posix_free(env);
}

static void blob_of(uint8_t id[HM_BLOB_ID_BYTES], unsigned n)
{
    for (unsigned i = 0; i < HM_BLOB_ID_BYTES; i++) id[i] = (uint8_t)(n * 37 + i * 11);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len + 1);
    ck_assert_ptr_nonnull(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(x >> 16);
    }
    return p;
}

static void header_of(Hm__ShardHeader *h, uint8_t id[HM_BLOB_ID_BYTES], uint32_t index)
{
    hm__shard_header__init(h);
    h->has_blob_id = true;
    h->blob_id.data = id;
    h->blob_id.len = HM_BLOB_ID_BYTES;
    h->has_shard_index = true;
    h->shard_index = index;
    h->has_k = true;
    h->k = 2;
    h->has_m = true;
    h->m = 1;
    h->bucket = "b";
    h->key = "some/key";
}

/* Put data in writes of chunk bytes (0: one write) and commit. */
static void put_data(hm_shard_store *s, unsigned blob, uint32_t index, const uint8_t *data,
                     size_t len, size_t chunk)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    hm_shard_store_put *p = NULL;
    uint64_t got_len = 0;
    uint32_t got_crc = 0;
    blob_of(id, blob);
    header_of(&h, id, index);
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), 0);
    if (chunk == 0) chunk = len > 0 ? len : 1;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        ck_assert_int_eq(hm_shard_store_put_write(p, data + off, n), 0);
    }
    ck_assert_int_eq(hm_shard_store_put_commit(p, &got_len, &got_crc), 0);
    ck_assert_uint_eq(got_len, len);
    ck_assert_uint_eq(got_crc, hm_crc32c(0, data, len));
}

/* Read [off, off+len) with reads of cap bytes; returns a malloc'd buffer. */
static uint8_t *get_range(hm_shard_store *s, unsigned blob, uint32_t index, uint64_t off,
                          uint64_t len, size_t cap, uint64_t *total)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    hm_shard_store_get *g = NULL;
    blob_of(id, blob);
    ck_assert_int_eq(hm_shard_store_get_open(s, id, index, off, len, &g, total, NULL), 0);
    uint8_t *out = malloc(*total + 1);
    size_t done = 0;
    for (;;) {
        size_t got = 0;
        size_t want = cap;
        if (want > *total + 1 - done) want = *total + 1 - done;
        ck_assert_int_eq(hm_shard_store_get_read(g, out + done, want, &got), 0);
        if (got == 0) break;
        done += got;
        ck_assert_uint_le(done, *total);
    }
    ck_assert_uint_eq(done, *total);
    hm_shard_store_get_close(g);
    return out;
}

static int count_cb(void *arg, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(int *)arg)++;
    return 0;
}

static int tmp_entries(void)
{
    char path[400];
    int n = 0;
    snprintf(path, sizeof path, "%s/tmp", disk);
    ck_assert_int_eq(env->ops->list_dir(env, path, count_cb, &n), 0);
    return n;
}

static uint64_t files_seen;

static int files_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)sb;
    (void)ftw;
    if (flag == FTW_F) files_seen++;
    return 0;
}

/* Shard files on the disk, counted by walking it (the store keeps no
 * count). */
static uint64_t shards_on_disk(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/shards", disk);
    files_seen = 0;
    ck_assert_int_eq(nftw(path, files_cb, 16, FTW_PHYS), 0);
    return files_seen;
}

/* Shards of 0, 1, block-1, block, block+1 and several blocks come back
 * byte for byte, whatever the write sizes. */
START_TEST(test_put_get_sizes)
{
    hm_shard_store *s = NULL;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    const size_t sizes[] = {0, 1, B - 1, B, B + 1, 3 * B + 17};
    const size_t chunks[] = {0, 1000, B, 7 * 1024 + 3};
    unsigned blob = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (size_t j = 0; j < sizeof chunks / sizeof chunks[0]; j++) {
            if (chunks[j] == 1000 && sizes[i] > 2 * B) continue;
            uint8_t *data = pattern(sizes[i], blob);
            put_data(s, blob, 1, data, sizes[i], chunks[j]);
            uint64_t total = 0;
            uint8_t *back = get_range(s, blob, 1, 0, UINT64_MAX, 100000, &total);
            ck_assert_uint_eq(total, sizes[i]);
            ck_assert(memcmp(back, data, sizes[i]) == 0);
            free(back);
            free(data);
            blob++;
        }
    }
    ck_assert_uint_eq(shards_on_disk(), blob);
    hm_shard_store_close(s);
}
END_TEST

/* The file on disk has exactly the documented size, its header records the
 * data length and CRC, and the data sits at the page-aligned offset. */
START_TEST(test_file_layout)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    char path[512];
    struct stat st;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    uint8_t *data = pattern(2 * B + 5, 9);
    put_data(s, 9, 4, data, 2 * B + 5, 0);
    blob_of(id, 9);
    ck_assert_int_eq(hm_shard_store_shard_path(s, id, 4, path, sizeof path), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_size, HM_SHARD_DATA_OFFSET + 2 * B + 5 + 3 * 4 + 8);
    struct stat dst;
    ck_assert_int_eq(stat(disk, &dst), 0);
    ck_assert_uint_eq(dst.st_mode & 0777, 0700);
    FILE *f = fopen(path, "rb");
    uint8_t *file = malloc(st.st_size);
    ck_assert_uint_eq(fread(file, 1, st.st_size, f), (size_t)st.st_size);
    fclose(f);
    ck_assert(memcmp(file, HM_SHARD_MAGIC, 8) == 0);
    ck_assert(memcmp(file + HM_SHARD_DATA_OFFSET, data, 2 * B + 5) == 0);
    Hm__ShardHeader *h = NULL;
    ck_assert_int_eq(hm_shard_store_stat(s, id, 4, &h), 0);
    ck_assert_uint_eq(h->data_length, 2 * B + 5);
    ck_assert_uint_eq(h->data_crc32c, hm_crc32c(0, data, 2 * B + 5));
    ck_assert_uint_eq(h->block_bytes, B);
    ck_assert_uint_eq(h->format_version, HM_SHARD_FORMAT_VERSION);
    ck_assert_str_eq(h->key, "some/key");
    hm__shard_header__free_unpacked(h, NULL);
    /* The name comes from the ids: shards/<hex[0:2]>/<hex[2:4]>/<hex>.<index>. */
    char want[512];
    snprintf(want, sizeof want, "%s/shards/%02x/%02x/", disk, id[0], id[1]);
    ck_assert(strncmp(path, want, strlen(want)) == 0);
    ck_assert(strcmp(path + strlen(path) - 2, ".4") == 0);
    free(file);
    free(data);
    hm_shard_store_close(s);
}
END_TEST

/* Ranges starting, ending and straddling block boundaries return exactly
 * those bytes; ranges past the end are cut. */
START_TEST(test_range_reads)
{
    hm_shard_store *s = NULL;
    const size_t len = 3 * B + 100;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    uint8_t *data = pattern(len, 3);
    put_data(s, 3, 0, data, len, 0);
    const struct { uint64_t off, len; } r[] = {
        {0, B},         {B - 1, 2},     {B, B},          {2 * B - 1, B + 2},
        {3 * B, 100},   {3 * B, 1000},  {B + 5, UINT64_MAX}, {len - 1, 1},
        {len, 10},      {len + 10, 10}, {0, 0},          {5, B * 2},
    };
    const size_t caps[] = {7, 4096, B, 3 * B};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        uint64_t want_total = r[i].off >= len ? 0
                              : (r[i].len > len - r[i].off ? len - r[i].off : r[i].len);
        for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) {
            uint64_t total = 0;
            uint8_t *back = get_range(s, 3, 0, r[i].off, r[i].len, caps[c], &total);
            ck_assert_uint_eq(total, want_total);
            if (total > 0) ck_assert(memcmp(back, data + r[i].off, total) == 0);
            free(back);
        }
    }
    free(data);
    hm_shard_store_close(s);
}
END_TEST

/* Flip one bit on disk in one byte of file at off. */
static void flip_bit(const char *path, uint64_t off)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, (long)off, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_ne(c, EOF);
    ck_assert_int_eq(fseek(f, (long)off, SEEK_SET), 0);
    fputc(c ^ 0x04, f);
    fclose(f);
}

/* A flipped bit in a data block gives HM_ECORRUPT and not one byte of that
 * block, while the blocks before it are still served. */
START_TEST(test_flipped_bit)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    char path[512];
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    uint8_t *data = pattern(3 * B, 5);
    put_data(s, 5, 2, data, 3 * B, 0);
    blob_of(id, 5);
    ck_assert_int_eq(hm_shard_store_shard_path(s, id, 2, path, sizeof path), 0);
    flip_bit(path, HM_SHARD_DATA_OFFSET + B + 1234);

    hm_shard_store_get *g = NULL;
    uint64_t total = 0;
    size_t got = 99;
    uint8_t *buf = malloc(3 * B);
    memset(buf, 0xAA, 3 * B);
    ck_assert_int_eq(hm_shard_store_get_open(s, id, 2, 0, UINT64_MAX, &g, &total, NULL), 0);
    ck_assert_int_eq(hm_shard_store_get_read(g, buf, 3 * B, &got), 0);
    ck_assert_uint_eq(got, B);
    ck_assert(memcmp(buf, data, B) == 0);
    for (size_t i = B; i < 3 * B; i++) ck_assert_uint_eq(buf[i], 0xAA);
    ck_assert_int_eq(hm_shard_store_get_read(g, buf, 3 * B, &got), HM_ECORRUPT);
    ck_assert_uint_eq(got, 0);
    ck_assert_int_eq(hm_shard_store_get_read(g, buf, 3 * B, &got), HM_ECORRUPT);
    hm_shard_store_get_close(g);

    /* A range inside the bad block fails without returning anything. */
    ck_assert_int_eq(hm_shard_store_get_open(s, id, 2, B + 10, 20, &g, &total, NULL), 0);
    ck_assert_int_eq(hm_shard_store_get_read(g, buf, 3 * B, &got), HM_ECORRUPT);
    ck_assert_uint_eq(got, 0);
    hm_shard_store_get_close(g);

    /* The block after it is still good. */
    uint8_t *back = get_range(s, 5, 2, 2 * B, B, B, &total);
    ck_assert(memcmp(back, data + 2 * B, B) == 0);
    free(back);
    free(buf);
    free(data);
    hm_shard_store_close(s);
}
END_TEST

/* A damaged header, CRC table or a truncated file is refused at open and
 * by stat. */
START_TEST(test_corrupt_metadata)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    char path[512];
    hm_shard_store_get *g = NULL;
    Hm__ShardHeader *h = NULL;
    uint64_t total = 0;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    uint8_t *data = pattern(2 * B, 6);
    for (unsigned i = 0; i < 3; i++) {
        put_data(s, 6, i, data, 2 * B, 0);
    }
    blob_of(id, 6);
    /* 0: header byte; 1: CRC table entry (of block 0); 2: truncated. */
    ck_assert_int_eq(hm_shard_store_shard_path(s, id, 0, path, sizeof path), 0);
    flip_bit(path, HM_SHARD_PREAMBLE_BYTES + 3);
    ck_assert_int_eq(hm_shard_store_get_open(s, id, 0, 0, UINT64_MAX, &g, &total, NULL),
                     HM_ECORRUPT);
    ck_assert_int_eq(hm_shard_store_stat(s, id, 0, &h), HM_ECORRUPT);
    ck_assert_int_eq(hm_shard_store_shard_path(s, id, 1, path, sizeof path), 0);
    flip_bit(path, HM_SHARD_DATA_OFFSET + 2 * B + 1);
    /* A get reads only the entries its range needs: block 1 reads fine,
     * block 0 fails its check and returns no byte. */
    uint8_t buf[64];
    size_t got = 0;
    ck_assert_int_eq(hm_shard_store_get_open(s, id, 1, B, 10, &g, &total, NULL), 0);
    ck_assert_int_eq(hm_shard_store_get_read(g, buf, sizeof buf, &got), 0);
    ck_assert_uint_eq(got, 10);
    ck_assert(memcmp(buf, data + B, 10) == 0);
    hm_shard_store_get_close(g);
    ck_assert_int_eq(hm_shard_store_get_open(s, id, 1, 0, UINT64_MAX, &g, &total, NULL), 0);
    ck_assert_int_eq(hm_shard_store_get_read(g, buf, sizeof buf, &got), HM_ECORRUPT);
    hm_shard_store_get_close(g);
    ck_assert_int_eq(hm_shard_store_shard_path(s, id, 2, path, sizeof path), 0);
    ck_assert_int_eq(truncate(path, HM_SHARD_DATA_OFFSET + B), 0);
    ck_assert_int_eq(hm_shard_store_get_open(s, id, 2, 0, UINT64_MAX, &g, &total, NULL),
                     HM_ECORRUPT);
    ck_assert_int_eq(hm_shard_store_stat(s, id, 2, &h), HM_ECORRUPT);
    free(data);
    hm_shard_store_close(s);
}
END_TEST

/* An aborted put leaves nothing: tmp/ is empty and no shard is visible. */
START_TEST(test_abort_leaves_nothing)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    hm_shard_store_put *p = NULL;
    Hm__ShardHeader *st = NULL;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    blob_of(id, 7);
    header_of(&h, id, 0);
    uint8_t *data = pattern(B + 3, 7);
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), 0);
    ck_assert_int_eq(hm_shard_store_put_write(p, data, B + 3), 0);
    ck_assert_int_eq(tmp_entries(), 1);
    hm_shard_store_put_abort(p);
    ck_assert_int_eq(tmp_entries(), 0);
    ck_assert_int_eq(hm_shard_store_stat(s, id, 0, &st), HM_ENOENT);
    ck_assert_uint_eq(shards_on_disk(), 0);
    free(data);
    hm_shard_store_close(s);
}
END_TEST

/* A header without a 16-byte blob id or a shard index is refused. */
START_TEST(test_put_bad_header)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    hm_shard_store_put *p = NULL;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    blob_of(id, 1);
    header_of(&h, id, 0);
    h.blob_id.len = 8;
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), HM_EINVAL);
    header_of(&h, id, 0);
    h.has_shard_index = false;
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), HM_EINVAL);
    header_of(&h, id, 0);
    char *key = malloc(HM_SHARD_HEADER_BYTES_MAX + 1);
    memset(key, 'x', HM_SHARD_HEADER_BYTES_MAX);
    key[HM_SHARD_HEADER_BYTES_MAX] = '\0';
    h.key = key;
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), HM_ETOOBIG);
    free(key);
    ck_assert_int_eq(tmp_entries(), 0);
    hm_shard_store_close(s);
}
END_TEST

/* Reopening removes tmp/ leftovers of a crash and keeps committed shards,
 * the shard count and the disk id. */
START_TEST(test_reopen)
{
    hm_shard_store *s = NULL;
    char id1[64], path[512];
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    snprintf(id1, sizeof id1, "%s", hm_shard_store_disk_id(s));
    ck_assert_uint_eq(strlen(id1), 32);
    uint8_t *data = pattern(B + 1, 8);
    put_data(s, 8, 0, data, B + 1, 0);
    put_data(s, 8, 1, data, 10, 0);
    hm_shard_store_close(s);

    /* A crash mid-put leaves a temporary file behind. */
    snprintf(path, sizeof path, "%s/tmp/0123456789abcdef0123456789abcdef.part", disk);
    FILE *f = fopen(path, "wb");
    fputs("half a shard", f);
    fclose(f);
    ck_assert_int_eq(tmp_entries(), 1);

    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    ck_assert_int_eq(tmp_entries(), 0);
    ck_assert_str_eq(hm_shard_store_disk_id(s), id1);
    ck_assert_uint_eq(shards_on_disk(), 2);
    uint64_t total = 0;
    uint8_t *back = get_range(s, 8, 0, 0, UINT64_MAX, B, &total);
    ck_assert_uint_eq(total, B + 1);
    ck_assert(memcmp(back, data, B + 1) == 0);
    free(back);
    free(data);
    hm_shard_store_close(s);
}
END_TEST

/* Two stores on two disks get different ids; a damaged identity file stops
 * the open. */
START_TEST(test_disk_identity)
{
    hm_shard_store *a = NULL, *b = NULL;
    char other[400], path[512];
    snprintf(other, sizeof other, "%s/disk1", root);
    ck_assert_int_eq(test_store_open(&a, env, disk), 0);
    ck_assert_int_eq(test_store_open(&b, env, other), 0);
    ck_assert_str_ne(hm_shard_store_disk_id(a), hm_shard_store_disk_id(b));
    hm_shard_store_close(a);
    hm_shard_store_close(b);
    snprintf(path, sizeof path, "%s/hamster-disk", other);
    FILE *f = fopen(path, "wb");
    fputs("\xff\xff\xff", f);
    fclose(f);
    ck_assert_int_eq(test_store_open(&b, env, other), HM_ECORRUPT);
}
END_TEST

/* Delete removes the shard durably; a second delete is HM_ENOENT.  On the
 * simulator's disk, where a crash loses every change not yet synced
 * (directory entries included), a power cut right after the delete
 * returns, with no clean close, leaves the deleted shard deleted and the
 * other one whole. */
START_TEST(test_delete)
{
    sim_world *w = NULL;
    ck_assert_int_eq(sim_world_new(&w, 7), 0);
    hm_env *senv = sim_world_env(w);
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader *h = NULL;
    hm_shard_store_get *g = NULL;
    uint64_t total = 0;
    ck_assert_int_eq(test_store_open(&s, senv, "/disk0"), 0);
    uint8_t *data = pattern(100, 4);
    put_data(s, 4, 0, data, 100, 0);
    put_data(s, 4, 1, data, 100, 0);
    blob_of(id, 4);
    ck_assert_int_eq(hm_shard_store_delete(s, id, 0), 0);
    ck_assert_int_eq(hm_shard_store_stat(s, id, 0, &h), HM_ENOENT);
    ck_assert_int_eq(hm_shard_store_get_open(s, id, 0, 0, UINT64_MAX, &g, &total, NULL),
                     HM_ENOENT);
    ck_assert_int_eq(hm_shard_store_delete(s, id, 0), HM_ENOENT);

    /* Power cut: the process is gone (its handles die), unsynced state is
     * lost; then a restart. */
    sim_world_freeze(w);
    hm_shard_store_close(s);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(test_store_open(&s, senv, "/disk0"), 0);
    ck_assert_int_eq(hm_shard_store_stat(s, id, 0, &h), HM_ENOENT);
    ck_assert_int_eq(hm_shard_store_stat(s, id, 1, &h), 0);
    ck_assert_uint_eq(h->data_length, 100);
    hm__shard_header__free_unpacked(h, NULL);
    uint8_t *back = get_range(s, 4, 1, 0, UINT64_MAX, 1000, &total);
    ck_assert_uint_eq(total, 100);
    ck_assert(memcmp(back, data, 100) == 0);
    free(back);
    free(data);
    hm_shard_store_close(s);
    sim_world_free(w);
}
END_TEST

/* A replacement leaves one file, a delete removes it, a reopen finds the
 * same; info reports the disk's id and size, and no shard count (keeping
 * one would mean walking every shard at open). */
START_TEST(test_info_counts)
{
    hm_shard_store *s = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardInfoResp *r = NULL;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    uint8_t *data = pattern(300, 2);
    for (unsigned i = 0; i < 3; i++) put_data(s, 20 + i, 0, data, 100 + i, 0);
    ck_assert_uint_eq(shards_on_disk(), 3);
    put_data(s, 21, 0, data, 300, 0); /* replaces */
    ck_assert_uint_eq(shards_on_disk(), 3);
    uint64_t total = 0;
    uint8_t *back = get_range(s, 21, 0, 0, UINT64_MAX, B, &total);
    ck_assert_uint_eq(total, 300);
    free(back);
    blob_of(id, 20);
    ck_assert_int_eq(hm_shard_store_delete(s, id, 0), 0);
    ck_assert_uint_eq(shards_on_disk(), 2);
    ck_assert_int_eq(hm_shard_store_info(s, &r), 0);
    ck_assert_uint_eq(r->format_version, HM_FORMAT_VERSION);
    ck_assert_str_eq(r->disk_id, hm_shard_store_disk_id(s));
    ck_assert_uint_gt(r->bytes_total, 0);
    ck_assert_uint_le(r->bytes_free, r->bytes_total);
    ck_assert(!r->has_shard_count);
    hm__shard_info_resp__free_unpacked(r, NULL);
    hm_shard_store_close(s);
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    ck_assert_uint_eq(shards_on_disk(), 2);
    free(data);
    hm_shard_store_close(s);
}
END_TEST

typedef struct put_job {
    hm_shard_store *s;
    unsigned base;
} put_job;

static void *put_thread(void *arg)
{
    put_job *j = arg;
    uint8_t *data = pattern(B + 7, j->base);
    for (unsigned i = 0; i < 8; i++) put_data(j->s, j->base + i, i, data, B + 7, 4000);
    free(data);
    return NULL;
}

/* Puts from several threads at once all land and are all counted. */
START_TEST(test_concurrent_puts)
{
    hm_shard_store *s = NULL;
    pthread_t t[4];
    put_job jobs[4];
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    for (unsigned i = 0; i < 4; i++) {
        jobs[i] = (put_job){s, 100 + 8 * i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, put_thread, &jobs[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) pthread_join(t[i], NULL);
    ck_assert_uint_eq(shards_on_disk(), 32);
    ck_assert_int_eq(tmp_entries(), 0);
    hm_shard_store_close(s);
}
END_TEST

/* ---- work that must not grow with the store ---------------------------- */

/* The posix env with pread bytes and list_dir calls counted. */
static hm_env count_env;
static struct hm_env_ops count_ops;
static uint64_t pread_bytes;
static unsigned list_dirs;

static int c_pread(hm_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    int rc = env->ops->pread(f, buf, len, off, got);
    if (rc == 0) pread_bytes += *got;
    return rc;
}

static int c_list_dir(hm_env *e, const char *path, hm_dir_fn fn, void *arg)
{
    (void)e;
    list_dirs++;
    return env->ops->list_dir(env, path, fn, arg);
}

static hm_env *counting_env(void)
{
    count_ops = *env->ops;
    count_ops.pread = c_pread;
    count_ops.list_dir = c_list_dir;
    count_env.ops = &count_ops;
    count_env.impl = env->impl;
    return &count_env;
}

/* A 1-byte range of a many-block shard reads the preamble, header, footer,
 * one CRC entry and one block: nothing else of the CRC table.  A range of
 * three blocks reads three entries. */
START_TEST(test_range_reads_only_its_crcs)
{
    hm_shard_store *s = NULL;
    char path[512];
    uint8_t id[HM_BLOB_ID_BYTES];
    const unsigned blocks = 300;
    size_t len = (size_t)blocks * B;
    ck_assert_int_eq(test_store_open(&s, counting_env(), disk), 0);
    uint8_t *data = pattern(len, 21);
    put_data(s, 21, 0, data, len, 0);
    blob_of(id, 21);
    /* The header's length, from the preamble (u32 at byte 12). */
    ck_assert_int_eq(hm_shard_store_shard_path(s, id, 0, path, sizeof path), 0);
    FILE *f = fopen(path, "rb");
    uint8_t pre[HM_SHARD_PREAMBLE_BYTES];
    ck_assert_uint_eq(fread(pre, 1, sizeof pre, f), sizeof pre);
    fclose(f);
    uint64_t header_len = hm_shard_le32_get(pre + 12);
    uint64_t fixed = HM_SHARD_PREAMBLE_BYTES + header_len + HM_SHARD_FOOTER_BYTES;

    pread_bytes = 0;
    uint64_t total = 0;
    uint8_t *back = get_range(s, 21, 0, 150 * (uint64_t)B + 7, 1, 16, &total);
    ck_assert_uint_eq(total, 1);
    ck_assert_uint_eq(back[0], data[150 * (size_t)B + 7]);
    free(back);
    ck_assert_uint_eq(pread_bytes, fixed + HM_SHARD_CRC_BYTES + B);

    pread_bytes = 0;
    back = get_range(s, 21, 0, 10 * (uint64_t)B + 5, 2 * (uint64_t)B, 100000, &total);
    ck_assert_uint_eq(total, 2 * B);
    ck_assert(memcmp(back, data + 10 * (size_t)B + 5, 2 * B) == 0);
    free(back);
    ck_assert_uint_eq(pread_bytes, fixed + 3 * (HM_SHARD_CRC_BYTES + B));
    free(data);
    hm_shard_store_close(s);
}
END_TEST

/* Opening a store lists tmp/ and nothing else: a store holding shards in
 * 40 fan-out directories opens with the same directory listings as an
 * empty one. */
START_TEST(test_open_cost_flat)
{
    hm_shard_store *s = NULL;
    ck_assert_int_eq(test_store_open(&s, counting_env(), disk), 0);
    hm_shard_store_close(s);
    list_dirs = 0;
    ck_assert_int_eq(test_store_open(&s, counting_env(), disk), 0);
    unsigned empty = list_dirs;
    uint8_t *data = pattern(10, 1);
    for (unsigned i = 0; i < 40; i++) put_data(s, 400 + i, 0, data, 10, 0);
    hm_shard_store_close(s);
    ck_assert_uint_eq(shards_on_disk(), 40);
    list_dirs = 0;
    ck_assert_int_eq(test_store_open(&s, counting_env(), disk), 0);
    ck_assert_uint_eq(list_dirs, empty);
    ck_assert_uint_le(list_dirs, 1);
    free(data);
    hm_shard_store_close(s);
}
END_TEST

/* The local api binding is the store: a put, get, stat and delete through
 * it behave as the store's own calls. */
START_TEST(test_local_api)
{
    hm_shard_store *s = NULL;
    hm_shard_api *api = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    Hm__ShardHeader *got_hdr = NULL;
    hm_shard_put *p = NULL;
    hm_shard_get *g = NULL;
    uint64_t len = 0, total = 0;
    uint32_t crc = 0;
    size_t got = 0;
    ck_assert_int_eq(test_store_open(&s, env, disk), 0);
    ck_assert_int_eq(hm_shard_api_local_new(&api, s), 0);
    blob_of(id, 30);
    header_of(&h, id, 5);
    uint8_t *data = pattern(B + 9, 30);
    ck_assert_int_eq(api->ops->put_open(api, &h, &p), 0);
    ck_assert_int_eq(api->ops->put_write(p, data, B + 9), 0);
    ck_assert_int_eq(api->ops->put_commit(p, &len, &crc), 0);
    ck_assert_uint_eq(len, B + 9);
    ck_assert_uint_eq(crc, hm_crc32c(0, data, B + 9));
    ck_assert_int_eq(api->ops->get_open(api, id, 5, 3, 10, &g, &total, &got_hdr), 0);
    ck_assert_uint_eq(total, 10);
    ck_assert_uint_eq(got_hdr->shard_index, 5);
    uint8_t buf[32];
    ck_assert_int_eq(api->ops->get_read(g, buf, sizeof buf, &got), 0);
    ck_assert_uint_eq(got, 10);
    ck_assert(memcmp(buf, data + 3, 10) == 0);
    ck_assert_int_eq(api->ops->get_read(g, buf, sizeof buf, &got), 0);
    ck_assert_uint_eq(got, 0);
    api->ops->get_close(g);
    hm__shard_header__free_unpacked(got_hdr, NULL);
    ck_assert_int_eq(api->ops->stat(api, id, 5, &got_hdr), 0);
    ck_assert_uint_eq(got_hdr->data_length, B + 9);
    hm__shard_header__free_unpacked(got_hdr, NULL);
    Hm__ShardInfoResp *r = NULL;
    ck_assert_int_eq(api->ops->info(api, &r), 0);
    ck_assert(!r->has_shard_count); /* not counted: see hm_shard_store_info */
    hm__shard_info_resp__free_unpacked(r, NULL);
    ck_assert_int_eq(api->ops->del(api, id, 5), 0);
    ck_assert_int_eq(api->ops->del(api, id, 5), HM_ENOENT);
    ck_assert_int_eq(api->ops->put_open(api, &h, &p), 0);
    api->ops->put_abort(p);
    ck_assert_int_eq(tmp_entries(), 0);
    api->ops->free(api);
    free(data);
    hm_shard_store_close(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shard_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_put_get_sizes);
    tcase_add_test(tc, test_file_layout);
    tcase_add_test(tc, test_range_reads);
    tcase_add_test(tc, test_flipped_bit);
    tcase_add_test(tc, test_corrupt_metadata);
    tcase_add_test(tc, test_abort_leaves_nothing);
    tcase_add_test(tc, test_put_bad_header);
    tcase_add_test(tc, test_reopen);
    tcase_add_test(tc, test_disk_identity);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_info_counts);
    tcase_add_test(tc, test_concurrent_puts);
    tcase_add_test(tc, test_local_api);
    tcase_add_test(tc, test_range_reads_only_its_crcs);
    tcase_add_test(tc, test_open_cost_flat);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
