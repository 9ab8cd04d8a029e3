/* test_shard_format.c - the shard file format's pure encoders and checks.
 *
 * Files are assembled in memory from the encoders and read back through a
 * reader built from the same checks the store uses, so every corruption can
 * be placed at an exact byte.
 */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hm_crc.h"
#include "hm_err.h"
#include "hm_shard_api.h"
#include "hm_shard_format.h"

#define FMT_BLOCK 512u

static const uint8_t fmt_blob[HM_BLOB_ID_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8,
                                                   9, 10, 11, 12, 13, 14, 15, 16};

static void fmt_header(Hm__ShardHeader *h, uint64_t data_length, uint32_t block_bytes)
{
    hm__shard_header__init(h);
    h->has_format_version = true;
    h->format_version = HM_SHARD_FORMAT_VERSION;
    h->has_blob_id = true;
    h->blob_id.data = (uint8_t *)fmt_blob;
    h->blob_id.len = sizeof fmt_blob;
    h->has_shard_index = true;
    h->shard_index = 3;
    h->has_k = true;
    h->k = 4;
    h->has_m = true;
    h->m = 2;
    h->has_block_bytes = true;
    h->block_bytes = block_bytes;
    h->has_data_length = true;
    h->data_length = data_length;
    h->bucket = "photos";
    h->key = "2024/cat.jpg";
}

/* Assemble a complete file for h (whose data_length is len) and data. */
static uint8_t *fmt_build(const Hm__ShardHeader *h, const uint8_t *data, size_t len,
                          size_t *file_len)
{
    hm_shard_layout lay;
    ck_assert_int_eq(hm_shard_layout_compute_v(h->format_version, len, h->block_bytes, &lay), 0);
    uint8_t *f = calloc(1, lay.file_bytes);
    ck_assert_ptr_nonnull(f);
    hm_shard_preamble pre;
    ck_assert_int_eq(hm_shard_header_encode(h, f + HM_SHARD_PREAMBLE_BYTES,
                                            HM_SHARD_HEADER_BYTES_MAX, &pre), 0);
    hm_shard_preamble_encode(&pre, f);
    memcpy(f + lay.data_offset, data, len);
    for (uint32_t i = 0; i < lay.block_count; i++) {
        size_t off = (size_t)i * h->block_bytes;
        size_t n = len - off < h->block_bytes ? len - off : h->block_bytes;
        hm_shard_le32_put(f + lay.table_offset + 4u * i, hm_crc32c(0, data + off, n));
    }
    hm_shard_footer_encode(lay.block_count,
                           hm_crc32c(0, f + lay.table_offset, 4u * lay.block_count),
                           f + lay.footer_offset);
    *file_len = lay.file_bytes;
    return f;
}

/* The reader's checks in the store's order; 0 and *out when all pass. */
static int fmt_parse(const uint8_t *f, size_t len, Hm__ShardHeader **out)
{
    hm_shard_preamble pre;
    hm_shard_layout lay;
    Hm__ShardHeader *h = NULL;
    uint32_t want = 0;
    int rc = hm_shard_preamble_decode(f, len, &pre);
    if (rc != 0) return rc;
    if (len < HM_SHARD_PREAMBLE_BYTES + (size_t)pre.header_len) return HM_ECORRUPT;
    rc = hm_shard_header_decode(&pre, f + HM_SHARD_PREAMBLE_BYTES, pre.header_len, &h);
    if (rc != 0) return rc;
    rc = hm_shard_layout_check(h, len, &lay);
    if (rc == 0) rc = hm_shard_footer_decode(f + lay.footer_offset, &lay, &want);
    if (rc == 0 && hm_crc32c(0, f + lay.table_offset, 4u * lay.block_count) != want) {
        rc = HM_ECORRUPT;
    }
    for (uint32_t i = 0; rc == 0 && i < lay.block_count; i++) {
        uint64_t off = (uint64_t)i * lay.block_bytes;
        size_t n = lay.data_length - off < lay.block_bytes ? lay.data_length - off
                                                           : lay.block_bytes;
        if (hm_crc32c(0, f + lay.data_offset + off, n) !=
            hm_shard_le32_get(f + lay.table_offset + 4u * i)) {
            rc = HM_ECORRUPT;
        }
    }
    if (rc != 0) {
        hm__shard_header__free_unpacked(h, NULL);
        return rc;
    }
    *out = h;
    return 0;
}

static uint8_t *fmt_sample(size_t data_len, size_t *file_len, uint8_t **data_out)
{
    Hm__ShardHeader h;
    uint8_t *data = malloc(data_len + 1);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < data_len; i++) data[i] = (uint8_t)(i * 31 + 7);
    fmt_header(&h, data_len, FMT_BLOCK);
    uint8_t *f = fmt_build(&h, data, data_len, file_len);
    if (data_out != NULL) *data_out = data;
    else free(data);
    return f;
}

/* A file built by the encoders parses back to the same header and data. */
START_TEST(test_round_trip)
{
    size_t len = 0;
    uint8_t *data = NULL;
    uint8_t *f = fmt_sample(3 * FMT_BLOCK + 17, &len, &data);
    Hm__ShardHeader *h = NULL;
    ck_assert_int_eq(fmt_parse(f, len, &h), 0);
    ck_assert_uint_eq(h->data_length, 3 * FMT_BLOCK + 17);
    ck_assert_uint_eq(h->shard_index, 3);
    ck_assert_uint_eq(h->k, 4);
    ck_assert_str_eq(h->key, "2024/cat.jpg");
    ck_assert_mem_eq(h->blob_id.data, fmt_blob, sizeof fmt_blob);
    ck_assert_mem_eq(f + HM_SHARD_DATA_OFFSET, data, 3 * FMT_BLOCK + 17);
    ck_assert_uint_eq(len, HM_SHARD_DATA_OFFSET + 3 * FMT_BLOCK + 17 + 4 * 4 + 8);
    hm__shard_header__free_unpacked(h, NULL);
    free(data);
    free(f);
}
END_TEST

/* The data starts page-aligned and past the largest header. */
START_TEST(test_data_offset_aligned)
{
    ck_assert_uint_eq(HM_SHARD_DATA_OFFSET % 4096, 0);
    ck_assert_uint_ge(HM_SHARD_DATA_OFFSET, HM_SHARD_PREAMBLE_BYTES + HM_SHARD_HEADER_BYTES_MAX);
    ck_assert_uint_lt(HM_SHARD_DATA_OFFSET - 4096, HM_SHARD_PREAMBLE_BYTES + HM_SHARD_HEADER_BYTES_MAX);
}
END_TEST

/* An empty shard has no blocks: only preamble, header, footer. */
START_TEST(test_empty_shard)
{
    size_t len = 0;
    uint8_t *f = fmt_sample(0, &len, NULL);
    Hm__ShardHeader *h = NULL;
    ck_assert_uint_eq(len, HM_SHARD_DATA_OFFSET + HM_SHARD_FOOTER_BYTES);
    ck_assert_int_eq(fmt_parse(f, len, &h), 0);
    ck_assert_uint_eq(h->data_length, 0);
    hm__shard_header__free_unpacked(h, NULL);
    free(f);
}
END_TEST

/* Block counts round up: the last block may be short. */
START_TEST(test_layout_block_counts)
{
    hm_shard_layout lay;
    const uint64_t b = HM_SHARD_BLOCK_BYTES;
    const uint64_t lens[] = {0, 1, b - 1, b, b + 1, 5 * b};
    const uint32_t want[] = {0, 1, 1, 1, 2, 5};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        ck_assert_int_eq(hm_shard_layout_compute(lens[i], HM_SHARD_BLOCK_BYTES, &lay), 0);
        ck_assert_uint_eq(lay.block_count, want[i]);
        ck_assert_uint_eq(lay.table_offset, HM_SHARD_DATA_OFFSET + lens[i]);
        ck_assert_uint_eq(lay.file_bytes, lay.table_offset + 4u * want[i] + 8);
    }
    ck_assert_int_eq(hm_shard_layout_compute(HM_SHARD_DATA_BYTES_MAX + 1,
                                             HM_SHARD_BLOCK_BYTES, &lay), HM_ETOOBIG);
    ck_assert_int_eq(hm_shard_layout_compute(10, 100, &lay), HM_EINVAL);
    ck_assert_int_eq(hm_shard_layout_compute(10, HM_SHARD_BLOCK_BYTES * 2, &lay), HM_EINVAL);
}
END_TEST

/* A wrong magic is refused. */
START_TEST(test_bad_magic)
{
    size_t len = 0;
    uint8_t *f = fmt_sample(100, &len, NULL);
    Hm__ShardHeader *h = NULL;
    f[0] ^= 0x20;
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    f[0] ^= 0x20;
    f[7] = '2';
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    free(f);
}
END_TEST

/* A preamble version outside MIN..MAX is refused as a version error. */
START_TEST(test_bad_version)
{
    size_t len = 0;
    uint8_t *f = fmt_sample(100, &len, NULL);
    Hm__ShardHeader *h = NULL;
    hm_shard_le32_put(f + 8, HM_SHARD_FORMAT_MAX + 1);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_EVERSION);
    hm_shard_le32_put(f + 8, HM_SHARD_FORMAT_MIN - 1);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_EVERSION);
    free(f);
}
END_TEST

/* A header whose own format_version is too new is refused even with a good
 * CRC. */
START_TEST(test_bad_header_version)
{
    Hm__ShardHeader hdr;
    uint8_t data[10] = {0};
    size_t len = 0;
    fmt_header(&hdr, sizeof data, FMT_BLOCK);
    uint8_t *f = fmt_build(&hdr, data, sizeof data, &len);
    /* The encoder refuses an unknown version, so pack this one by hand. */
    hdr.format_version = HM_SHARD_FORMAT_MAX + 1;
    hm_shard_preamble pre = {HM_SHARD_FORMAT_VERSION,
                             (uint32_t)hm__shard_header__get_packed_size(&hdr), 0};
    hm__shard_header__pack(&hdr, f + HM_SHARD_PREAMBLE_BYTES);
    pre.header_crc32c = hm_crc32c(0, f + HM_SHARD_PREAMBLE_BYTES, pre.header_len);
    hm_shard_preamble_encode(&pre, f);
    Hm__ShardHeader *h = NULL;
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_EVERSION);
    ck_assert_int_eq(hm_shard_header_encode(&hdr, f + HM_SHARD_PREAMBLE_BYTES,
                                            HM_SHARD_HEADER_BYTES_MAX, &pre), HM_EVERSION);
    free(f);
}
END_TEST

/* A flipped header byte, or a flipped header CRC, fails the header CRC. */
START_TEST(test_bad_header_crc)
{
    size_t len = 0;
    uint8_t *f = fmt_sample(100, &len, NULL);
    Hm__ShardHeader *h = NULL;
    f[HM_SHARD_PREAMBLE_BYTES + 5] ^= 1;
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    f[HM_SHARD_PREAMBLE_BYTES + 5] ^= 1;
    ck_assert_int_eq(fmt_parse(f, len, &h), 0);
    hm__shard_header__free_unpacked(h, NULL);
    f[16] ^= 0x80;
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    free(f);
}
END_TEST

/* A file cut short anywhere (or padded) no longer matches its header. */
START_TEST(test_truncated)
{
    size_t len = 0;
    uint8_t *f = fmt_sample(3 * FMT_BLOCK, &len, NULL);
    Hm__ShardHeader *h = NULL;
    ck_assert_int_eq(fmt_parse(f, len - 1, &h), HM_ECORRUPT);
    ck_assert_int_eq(fmt_parse(f, len - 8, &h), HM_ECORRUPT);
    ck_assert_int_eq(fmt_parse(f, HM_SHARD_DATA_OFFSET + 10, &h), HM_ECORRUPT);
    ck_assert_int_eq(fmt_parse(f, HM_SHARD_PREAMBLE_BYTES + 3, &h), HM_ECORRUPT);
    ck_assert_int_eq(fmt_parse(f, HM_SHARD_PREAMBLE_BYTES - 1, &h), HM_ECORRUPT);
    ck_assert_int_eq(fmt_parse(f, 0, &h), HM_ECORRUPT);
    uint8_t *big = calloc(1, len + 4);
    memcpy(big, f, len);
    ck_assert_int_eq(fmt_parse(big, len + 4, &h), HM_ECORRUPT);
    free(big);
    free(f);
}
END_TEST

/* Header lengths of 0, past the limit, or not the real length are refused,
 * as is a non-zero reserved word. */
START_TEST(test_bad_lengths)
{
    size_t len = 0;
    uint8_t *f = fmt_sample(100, &len, NULL);
    Hm__ShardHeader *h = NULL;
    uint32_t real = hm_shard_le32_get(f + 12);
    hm_shard_le32_put(f + 12, 0);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    hm_shard_le32_put(f + 12, HM_SHARD_HEADER_BYTES_MAX + 1);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    hm_shard_le32_put(f + 12, UINT32_MAX);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    hm_shard_le32_put(f + 12, real - 1);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    hm_shard_le32_put(f + 12, real);
    hm_shard_le32_put(f + 20, 1);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    free(f);
}
END_TEST

/* A header (with a valid CRC) whose data_length disagrees with the file
 * size is refused. */
START_TEST(test_data_length_mismatch)
{
    Hm__ShardHeader hdr;
    uint8_t data[100] = {0};
    size_t len = 0;
    fmt_header(&hdr, sizeof data, FMT_BLOCK);
    uint8_t *f = fmt_build(&hdr, data, sizeof data, &len);
    Hm__ShardHeader *h = NULL;
    hdr.data_length = sizeof data + 1;
    hm_shard_preamble pre;
    memset(f + HM_SHARD_PREAMBLE_BYTES, 0, HM_SHARD_HEADER_BYTES_MAX);
    ck_assert_int_eq(hm_shard_header_encode(&hdr, f + HM_SHARD_PREAMBLE_BYTES,
                                            HM_SHARD_HEADER_BYTES_MAX, &pre), 0);
    hm_shard_preamble_encode(&pre, f);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    hdr.data_length = HM_SHARD_DATA_BYTES_MAX + 1;
    ck_assert_int_eq(hm_shard_header_encode(&hdr, f + HM_SHARD_PREAMBLE_BYTES,
                                            HM_SHARD_HEADER_BYTES_MAX, &pre), 0);
    hm_shard_preamble_encode(&pre, f);
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    free(f);
}
END_TEST

/* A flipped CRC table entry fails the table CRC; a wrong footer count or
 * footer CRC is refused. */
START_TEST(test_bad_trailer)
{
    size_t len = 0;
    uint8_t *f = fmt_sample(2 * FMT_BLOCK + 1, &len, NULL);
    Hm__ShardHeader *h = NULL;
    size_t table = HM_SHARD_DATA_OFFSET + 2 * FMT_BLOCK + 1;
    f[table + 5] ^= 4;
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    f[table + 5] ^= 4;
    f[len - 8] += 1; /* block count */
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    f[len - 8] -= 1;
    f[len - 1] ^= 0x10; /* table CRC */
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    f[len - 1] ^= 0x10;
    ck_assert_int_eq(fmt_parse(f, len, &h), 0);
    hm__shard_header__free_unpacked(h, NULL);
    free(f);
}
END_TEST

/* A flipped data bit fails that block's CRC. */
START_TEST(test_bad_data_block)
{
    size_t len = 0;
    uint8_t *f = fmt_sample(2 * FMT_BLOCK, &len, NULL);
    Hm__ShardHeader *h = NULL;
    f[HM_SHARD_DATA_OFFSET + FMT_BLOCK + 9] ^= 0x01;
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    free(f);
}
END_TEST

/* Header checks: blob id size, shard index, block size and data length. */
START_TEST(test_header_check)
{
    Hm__ShardHeader h;
    fmt_header(&h, 10, FMT_BLOCK);
    ck_assert_int_eq(hm_shard_header_check(&h), 0);
    h.blob_id.len = 15;
    ck_assert_int_eq(hm_shard_header_check(&h), HM_ECORRUPT);
    fmt_header(&h, 10, FMT_BLOCK);
    h.has_shard_index = false;
    ck_assert_int_eq(hm_shard_header_check(&h), HM_ECORRUPT);
    fmt_header(&h, 10, HM_SHARD_BLOCK_BYTES_MIN - 1);
    ck_assert_int_eq(hm_shard_header_check(&h), HM_ECORRUPT);
    fmt_header(&h, 10, HM_SHARD_BLOCK_BYTES + 1);
    ck_assert_int_eq(hm_shard_header_check(&h), HM_ECORRUPT);
    fmt_header(&h, HM_SHARD_DATA_BYTES_MAX + 1, FMT_BLOCK);
    ck_assert_int_eq(hm_shard_header_check(&h), HM_ECORRUPT);
    fmt_header(&h, 10, FMT_BLOCK);
    h.has_data_length = false;
    ck_assert_int_eq(hm_shard_header_check(&h), HM_ECORRUPT);
    fmt_header(&h, 10, FMT_BLOCK);
    h.has_format_version = false;
    ck_assert_int_eq(hm_shard_header_check(&h), HM_ECORRUPT);
}
END_TEST

/* A header that packs past HM_SHARD_HEADER_BYTES_MAX is refused at encode. */
START_TEST(test_header_too_big)
{
    Hm__ShardHeader h;
    hm_shard_preamble pre;
    char *key = malloc(HM_SHARD_HEADER_BYTES_MAX + 1);
    uint8_t *out = malloc(2 * HM_SHARD_HEADER_BYTES_MAX);
    memset(key, 'k', HM_SHARD_HEADER_BYTES_MAX);
    key[HM_SHARD_HEADER_BYTES_MAX] = '\0';
    fmt_header(&h, 10, FMT_BLOCK);
    h.key = key;
    ck_assert_int_eq(hm_shard_header_encode(&h, out, 2 * HM_SHARD_HEADER_BYTES_MAX, &pre),
                     HM_ETOOBIG);
    key[100] = '\0';
    ck_assert_int_eq(hm_shard_header_encode(&h, out, 50, &pre), HM_ETOOBIG);
    ck_assert_int_eq(hm_shard_header_encode(&h, out, 2 * HM_SHARD_HEADER_BYTES_MAX, &pre), 0);
    ck_assert_uint_eq(pre.version, HM_SHARD_FORMAT_VERSION);
    ck_assert_uint_eq(pre.header_crc32c, hm_crc32c(0, out, pre.header_len));
    free(key);
    free(out);
}
END_TEST

/* Garbage after a valid preamble with a matching CRC is refused, not
 * crashed on. */
START_TEST(test_garbage_header)
{
    uint8_t f[HM_SHARD_PREAMBLE_BYTES + 8];
    const uint8_t junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    hm_shard_preamble pre = {HM_SHARD_FORMAT_VERSION, sizeof junk, hm_crc32c(0, junk, sizeof junk)};
    hm_shard_preamble_encode(&pre, f);
    memcpy(f + HM_SHARD_PREAMBLE_BYTES, junk, sizeof junk);
    Hm__ShardHeader *h = NULL;
    ck_assert_int_eq(fmt_parse(f, sizeof f, &h), HM_ECORRUPT);
}
END_TEST

/* Version 1 files keep their layout (8 KiB headers, data at 12288) and
 * parse; a version 1 header may not carry a version 2 field. */
START_TEST(test_v1_layout_and_fields)
{
    hm_shard_layout lay;
    ck_assert_int_eq(hm_shard_layout_compute_v(HM_SHARD_FORMAT_V1, 100, FMT_BLOCK, &lay), 0);
    ck_assert_uint_eq(lay.data_offset, 12288);
    ck_assert_int_eq(hm_shard_layout_compute_v(HM_SHARD_FORMAT_V2, 100, FMT_BLOCK, &lay), 0);
    ck_assert_uint_eq(lay.data_offset, 65536);
    ck_assert_int_eq(hm_shard_layout_compute_v(3, 100, FMT_BLOCK, &lay), HM_EVERSION);

    Hm__ShardHeader hdr;
    uint8_t data[100];
    memset(data, 0x5a, sizeof data);
    fmt_header(&hdr, sizeof data, FMT_BLOCK);
    hdr.format_version = HM_SHARD_FORMAT_V1;
    size_t len = 0;
    uint8_t *f = fmt_build(&hdr, data, sizeof data, &len);
    ck_assert_uint_eq(len, 12288 + 100 + 4 + 8);
    ck_assert_uint_eq(hm_shard_le32_get(f + 8), 1);
    Hm__ShardHeader *h = NULL;
    ck_assert_int_eq(fmt_parse(f, len, &h), 0);
    ck_assert_uint_eq(h->format_version, 1);
    hm__shard_header__free_unpacked(h, NULL);
    free(f);

    /* A version 1 header past 8 KiB is refused by the preamble. */
    uint8_t pb[HM_SHARD_PREAMBLE_BYTES];
    hm_shard_preamble pre = {HM_SHARD_FORMAT_V1, HM_SHARD_HEADER_BYTES_MAX_V1 + 1, 0};
    hm_shard_preamble_encode(&pre, pb);
    ck_assert_int_eq(hm_shard_preamble_decode(pb, sizeof pb, &pre), HM_ECORRUPT);
    pre = (hm_shard_preamble){HM_SHARD_FORMAT_V2, HM_SHARD_HEADER_BYTES_MAX_V1 + 1, 0};
    hm_shard_preamble_encode(&pre, pb);
    ck_assert_int_eq(hm_shard_preamble_decode(pb, sizeof pb, &pre), 0);

    /* Version 2 fields in a version 1 header: not a file we wrote. */
    fmt_header(&hdr, 10, FMT_BLOCK);
    hdr.format_version = HM_SHARD_FORMAT_V1;
    hdr.content_type = "text/plain";
    ck_assert_int_eq(hm_shard_header_check(&hdr), HM_ECORRUPT);
    hdr.content_type = NULL;
    hdr.has_committed_ms = true;
    ck_assert_int_eq(hm_shard_header_check(&hdr), HM_ECORRUPT);
    hdr.format_version = HM_SHARD_FORMAT_V2;
    ck_assert_int_eq(hm_shard_header_check(&hdr), 0);
    hdr.has_role = true;
    hdr.role = HM__SHARD_ROLE__SHARD_ROLE_MANIFEST + 1;
    ck_assert_int_eq(hm_shard_header_check(&hdr), HM_ECORRUPT);
}
END_TEST

/* A header whose version differs from its preamble's is refused. */
START_TEST(test_version_mismatch)
{
    Hm__ShardHeader hdr;
    uint8_t data[10] = {0};
    size_t len = 0;
    fmt_header(&hdr, sizeof data, FMT_BLOCK);
    uint8_t *f = fmt_build(&hdr, data, sizeof data, &len);
    hm_shard_le32_put(f + 8, HM_SHARD_FORMAT_V1);
    Hm__ShardHeader *h = NULL;
    ck_assert_int_eq(fmt_parse(f, len, &h), HM_ECORRUPT);
    free(f);
}
END_TEST

/* Sealing replaces exactly etag, checksums, committed_ms and blob_size,
 * ignores every other field of the seal, and bounds what it takes. */
START_TEST(test_seal)
{
    Hm__ShardHeader hdr;
    fmt_header(&hdr, 10, FMT_BLOCK);
    hdr.etag = "placeholder";
    hdr.content_type = "image/jpeg";
    uint8_t buf[4096];
    size_t n = hm__shard_header__pack(&hdr, buf);
    Hm__ShardHeader *h = hm__shard_header__unpack(NULL, n, buf);
    ck_assert_ptr_nonnull(h);

    Hm__ShardHeader seal = HM__SHARD_HEADER__INIT;
    seal.etag = "0123456789abcdef0123456789abcdef";
    Hm__Checksum ck = HM__CHECKSUM__INIT;
    ck.algorithm = "SHA256";
    Hm__Checksum *cks[2] = {&ck, &ck};
    seal.n_checksums = 1;
    seal.checksums = cks;
    seal.has_committed_ms = true;
    seal.committed_ms = 42;
    seal.key = "not/sealed";
    seal.has_shard_index = true;
    seal.shard_index = 9;
    ck_assert_int_eq(hm_shard_header_seal(&h, &seal), 0);
    ck_assert_str_eq(h->etag, "0123456789abcdef0123456789abcdef");
    ck_assert_uint_eq(h->n_checksums, 1);
    ck_assert_str_eq(h->checksums[0]->algorithm, "SHA256");
    ck_assert_int_eq(h->committed_ms, 42);
    ck_assert_str_eq(h->key, "2024/cat.jpg");
    ck_assert_uint_eq(h->shard_index, 3);
    ck_assert_str_eq(h->content_type, "image/jpeg");
    /* A second seal replaces, it does not append. */
    seal.n_checksums = 2;
    ck_assert_int_eq(hm_shard_header_seal(&h, &seal), 0);
    ck_assert_uint_eq(h->n_checksums, 2);
    seal.n_checksums = 1;
    ck_assert_int_eq(hm_shard_header_seal(&h, &seal), 0);
    ck_assert_uint_eq(h->n_checksums, 1);

    char long_etag[HM_SHARD_SEAL_ETAG_BYTES_MAX + 2];
    memset(long_etag, 'a', sizeof long_etag - 1);
    long_etag[sizeof long_etag - 1] = '\0';
    seal.etag = long_etag;
    ck_assert_int_eq(hm_shard_header_seal(&h, &seal), HM_ETOOBIG);
    seal.etag = "e";
    Hm__Checksum *many[HM_SHARD_SEAL_CHECKSUMS_MAX + 1];
    for (size_t i = 0; i <= HM_SHARD_SEAL_CHECKSUMS_MAX; i++) many[i] = &ck;
    seal.checksums = many;
    seal.n_checksums = HM_SHARD_SEAL_CHECKSUMS_MAX + 1;
    ck_assert_int_eq(hm_shard_header_seal(&h, &seal), HM_ETOOBIG);
    ck_assert_str_eq(h->etag, "0123456789abcdef0123456789abcdef");
    hm__shard_header__free_unpacked(h, NULL);
}
END_TEST

static const uint8_t fmt_blob2[HM_BLOB_ID_BYTES] = {7, 7, 7, 7, 7, 7, 7, 7,
                                                    7, 7, 7, 7, 7, 7, 7, 7};

/* Pack a manifest of n parts (numbers 1, 3, 5, ...); *len gets its size. */
static uint8_t *fmt_manifest(size_t n, void (*spoil)(Hm__ManifestPart *, size_t), size_t *len)
{
    Hm__ShardManifest m = HM__SHARD_MANIFEST__INIT;
    m.has_format_version = true;
    m.format_version = HM_SHARD_MANIFEST_VERSION;
    Hm__ManifestPart *ps = calloc(n, sizeof *ps);
    Hm__ManifestPart **pp = calloc(n, sizeof *pp);
    Hm__Blob *bs = calloc(n, sizeof *bs);
    Hm__ShardRef *rs = calloc(n, sizeof *rs);
    Hm__ShardRef **rp = calloc(n, sizeof *rp);
    for (size_t i = 0; i < n; i++) {
        hm__manifest_part__init(&ps[i]);
        hm__blob__init(&bs[i]);
        hm__shard_ref__init(&rs[i]);
        ps[i].has_part_number = true;
        ps[i].part_number = (uint32_t)(2 * i + 1);
        ps[i].has_size = true;
        ps[i].size = 5u << 20;
        ps[i].etag = "00112233445566778899aabbccddeeff";
        bs[i].has_blob_id = true;
        bs[i].blob_id.data = (uint8_t *)fmt_blob2;
        bs[i].blob_id.len = sizeof fmt_blob2;
        bs[i].has_size = true;
        bs[i].size = 5u << 20;
        rs[i].has_index = true;
        rs[i].disk_id = "0123456789abcdef0123456789abcdef";
        rp[i] = &rs[i];
        bs[i].n_shards = 1;
        bs[i].shards = &rp[i];
        ps[i].blob = &bs[i];
        pp[i] = &ps[i];
        if (spoil != NULL) spoil(&ps[i], i);
    }
    m.n_parts = n;
    m.parts = pp;
    *len = hm__shard_manifest__get_packed_size(&m);
    uint8_t *out = malloc(*len + 1);
    hm__shard_manifest__pack(&m, out);
    free(ps);
    free(pp);
    free(bs);
    free(rs);
    free(rp);
    return out;
}

static void spoil_order(Hm__ManifestPart *p, size_t i) { if (i == 2) p->part_number = 3; }
static void spoil_etag(Hm__ManifestPart *p, size_t i) { if (i == 1) p->etag = "00112233"; }
static void spoil_size(Hm__ManifestPart *p, size_t i) { if (i == 1) p->blob->size = 1; }
static void spoil_big(Hm__ManifestPart *p, size_t i)
{
    if (i == 0) p->size = p->blob->size = HM_PART_BYTES_MAX + 1;
}
static void spoil_disk(Hm__ManifestPart *p, size_t i)
{
    if (i == 0) p->blob->shards[0]->disk_id = "";
}
static void spoil_blob(Hm__ManifestPart *p, size_t i) { if (i == 0) p->blob->blob_id.len = 3; }
static void spoil_number(Hm__ManifestPart *p, size_t i)
{
    if (i == 0) p->part_number = 0;
}

/* A manifest decodes when well formed; every hostile variant is refused,
 * never crashed on. */
START_TEST(test_manifest_decode)
{
    size_t len = 0;
    Hm__ShardManifest *m = NULL;
    uint8_t *b = fmt_manifest(3, NULL, &len);
    ck_assert_int_eq(hm_shard_manifest_decode(b, len, &m), 0);
    ck_assert_uint_eq(m->n_parts, 3);
    ck_assert_uint_eq(m->parts[2]->part_number, 5);
    hm__shard_manifest__free_unpacked(m, NULL);
    ck_assert_int_eq(hm_shard_manifest_decode(b, len - 1, &m), HM_ECORRUPT);
    ck_assert_int_eq(hm_shard_manifest_decode(b, 0, &m), HM_ECORRUPT);
    ck_assert_int_eq(hm_shard_manifest_decode(b, HM_SHARD_MANIFEST_BYTES_MAX + 1, &m),
                     HM_ECORRUPT);
    free(b);
    void (*spoils[])(Hm__ManifestPart *, size_t) = {spoil_order, spoil_etag, spoil_size,
                                                    spoil_big, spoil_disk, spoil_blob,
                                                    spoil_number};
    for (size_t i = 0; i < sizeof spoils / sizeof spoils[0]; i++) {
        b = fmt_manifest(3, spoils[i], &len);
        ck_assert_msg(hm_shard_manifest_decode(b, len, &m) == HM_ECORRUPT, "spoil %zu", i);
        free(b);
    }
    /* No parts, or no version, or another version. */
    Hm__ShardManifest e = HM__SHARD_MANIFEST__INIT;
    uint8_t eb[16];
    e.has_format_version = true;
    e.format_version = HM_SHARD_MANIFEST_VERSION;
    len = hm__shard_manifest__pack(&e, eb);
    ck_assert_int_eq(hm_shard_manifest_decode(eb, len, &m), HM_ECORRUPT);
    e.format_version = 9;
    len = hm__shard_manifest__pack(&e, eb);
    ck_assert_int_eq(hm_shard_manifest_decode(eb, len, &m), HM_EVERSION);
    const uint8_t junk[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(hm_shard_manifest_decode(junk, sizeof junk, &m), HM_ECORRUPT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shard_format");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_v1_layout_and_fields);
    tcase_add_test(tc, test_version_mismatch);
    tcase_add_test(tc, test_seal);
    tcase_add_test(tc, test_manifest_decode);
    tcase_add_test(tc, test_data_offset_aligned);
    tcase_add_test(tc, test_empty_shard);
    tcase_add_test(tc, test_layout_block_counts);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_bad_version);
    tcase_add_test(tc, test_bad_header_version);
    tcase_add_test(tc, test_bad_header_crc);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_bad_lengths);
    tcase_add_test(tc, test_data_length_mismatch);
    tcase_add_test(tc, test_bad_trailer);
    tcase_add_test(tc, test_bad_data_block);
    tcase_add_test(tc, test_header_check);
    tcase_add_test(tc, test_header_too_big);
    tcase_add_test(tc, test_garbage_header);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
