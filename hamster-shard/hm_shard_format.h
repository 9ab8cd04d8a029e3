/* hm_shard_format.h - the bytes of one shard file (format version 1).
 *
 *   offset                 size          content
 *   0                      24            preamble (below)
 *   24                     header_len    packed hm.ShardHeader
 *   24 + header_len        ...           zero (or a hole) up to data_offset
 *   HM_SHARD_DATA_OFFSET   data_length   the shard data, contiguous
 *   table_offset           4 * blocks    CRC32C of each block_bytes block of
 *                                        data (the last block may be short)
 *   footer_offset          8             footer: u32 block count, u32 CRC32C
 *                                        of the CRC table
 *
 *   preamble: 8 bytes magic "HMSHARD1", u32 format version, u32 header
 *   length, u32 CRC32C of the packed header, u32 reserved (zero).
 *
 * Every integer is little-endian.  The data starts at a fixed offset, the
 * first page boundary past the largest header we accept, so the header can
 * be rewritten at commit (when data_length and data_crc32c are known)
 * without moving the data, and the data is page-aligned for sendfile.  The
 * gap is left as a hole by the writer, so it costs no disk space.
 *
 * Everything here is pure: no I/O, safe on hostile bytes.  A parse function
 * bounds every length before it uses it.
 */
#ifndef HM_SHARD_FORMAT_H
#define HM_SHARD_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "hm_limits.h"
#include "hm_shard.pb-c.h"

#define HM_SHARD_MAGIC "HMSHARD1" /* 8 bytes, no terminator on disk */
#define HM_SHARD_MAGIC_BYTES 8u
#define HM_SHARD_PREAMBLE_BYTES 24u
#define HM_SHARD_PAGE_BYTES 4096u
#define HM_SHARD_DATA_OFFSET                                                  \
    ((HM_SHARD_PREAMBLE_BYTES + HM_SHARD_HEADER_BYTES_MAX + HM_SHARD_PAGE_BYTES - 1) / \
     HM_SHARD_PAGE_BYTES * HM_SHARD_PAGE_BYTES)
#define HM_SHARD_CRC_BYTES 4u
#define HM_SHARD_FOOTER_BYTES 8u
/* Smallest block size a reader accepts: bounds the CRC table to 1/128 of
 * the data. */
#define HM_SHARD_BLOCK_BYTES_MIN 512u
/* Largest shard: the blob of one PUT or one multipart part, stored whole
 * on a single disk (a 1+0 profile). */
#define HM_SHARD_DATA_BYTES_MAX HM_PART_BYTES_MAX

_Static_assert(HM_SHARD_DATA_OFFSET % HM_SHARD_PAGE_BYTES == 0, "data page-aligned");
_Static_assert(HM_SHARD_DATA_OFFSET >= HM_SHARD_PREAMBLE_BYTES + HM_SHARD_HEADER_BYTES_MAX,
               "largest header fits before the data");
_Static_assert(HM_SHARD_BLOCK_BYTES >= HM_SHARD_BLOCK_BYTES_MIN, "writer block accepted");
_Static_assert(HM_PUT_BYTES_MAX <= HM_SHARD_DATA_BYTES_MAX, "a whole PUT fits one shard");
_Static_assert(HM_SHARD_DATA_BYTES_MAX / HM_SHARD_BLOCK_BYTES_MIN < UINT32_MAX,
               "block count fits the footer's u32");

/* The fixed-size start of a shard file, decoded. */
typedef struct hm_shard_preamble {
    uint32_t version;       /* file format version */
    uint32_t header_len;    /* bytes of packed ShardHeader after the preamble */
    uint32_t header_crc32c; /* CRC32C of those bytes */
} hm_shard_preamble;

/* Where everything lives in a shard file of data_length bytes of data. */
typedef struct hm_shard_layout {
    uint64_t data_offset;   /* HM_SHARD_DATA_OFFSET */
    uint64_t data_length;
    uint32_t block_bytes;
    uint32_t block_count;   /* ceil(data_length / block_bytes) */
    uint64_t table_offset;  /* data_offset + data_length */
    uint64_t footer_offset; /* table_offset + 4 * block_count */
    uint64_t file_bytes;    /* footer_offset + HM_SHARD_FOOTER_BYTES */
} hm_shard_layout;

/* Little-endian helpers shared by the writer and the reader. */
void hm_shard_le32_put(uint8_t out[4], uint32_t v);
uint32_t hm_shard_le32_get(const uint8_t in[4]);

/* Encode p (with the magic and a zero reserved word) into out. */
void hm_shard_preamble_encode(const hm_shard_preamble *p,
                              uint8_t out[HM_SHARD_PREAMBLE_BYTES]);

/* Decode the first HM_SHARD_PREAMBLE_BYTES of a file.  len is how many bytes
 * in holds.  HM_ECORRUPT on a short buffer, a wrong magic, a non-zero
 * reserved word, or a header length of 0 or above HM_SHARD_HEADER_BYTES_MAX;
 * HM_EVERSION on a version outside HM_FORMAT_VERSION_MIN..MAX. */
int hm_shard_preamble_decode(const uint8_t *in, size_t len, hm_shard_preamble *out);

/* Check a header's fields as a reader needs them: format_version in range,
 * blob_id of HM_BLOB_ID_BYTES, shard_index, block_bytes within
 * HM_SHARD_BLOCK_BYTES_MIN..HM_SHARD_BLOCK_BYTES, data_length present and at
 * most HM_SHARD_DATA_BYTES_MAX.  HM_EVERSION or HM_ECORRUPT. */
int hm_shard_header_check(const Hm__ShardHeader *h);

/* Pack h into out (cap bytes, at least HM_SHARD_HEADER_BYTES_MAX is always
 * enough) and fill *pre for it (version HM_FORMAT_VERSION, length, CRC).
 * h is not checked here (see hm_shard_header_check).  HM_ETOOBIG if the
 * packed header exceeds HM_SHARD_HEADER_BYTES_MAX or cap. */
int hm_shard_header_encode(const Hm__ShardHeader *h, uint8_t *out, size_t cap,
                           hm_shard_preamble *pre);

/* Decode the header bytes that follow a decoded preamble: len must equal
 * pre->header_len, the CRC must match, the protobuf must parse and pass
 * hm_shard_header_check.  HM_ECORRUPT / HM_EVERSION / HM_ENOMEM.  *out is
 * freed with hm__shard_header__free_unpacked(*out, NULL). */
int hm_shard_header_decode(const hm_shard_preamble *pre, const uint8_t *buf,
                           size_t len, Hm__ShardHeader **out);

/* Layout of a file with data_length bytes in blocks of block_bytes.
 * HM_ETOOBIG above HM_SHARD_DATA_BYTES_MAX, HM_EINVAL on a block size out of
 * range. */
int hm_shard_layout_compute(uint64_t data_length, uint32_t block_bytes,
                            hm_shard_layout *out);

/* Layout of a file whose (checked) header is h and whose size on disk is
 * file_bytes.  HM_ECORRUPT unless the size is exactly what h implies. */
int hm_shard_layout_check(const Hm__ShardHeader *h, uint64_t file_bytes,
                          hm_shard_layout *out);

/* Encode the footer for a table of block_count entries whose CRC32C is
 * table_crc32c. */
void hm_shard_footer_encode(uint32_t block_count, uint32_t table_crc32c,
                            uint8_t out[HM_SHARD_FOOTER_BYTES]);

/* Decode a footer and check its block count against lay.  HM_ECORRUPT on a
 * mismatch; *table_crc32c gets the CRC the table must have. */
int hm_shard_footer_decode(const uint8_t in[HM_SHARD_FOOTER_BYTES],
                           const hm_shard_layout *lay, uint32_t *table_crc32c);

#endif
