/* hm_shard_format.h - the bytes of one shard file (format versions 1 and 2).
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
 * first page boundary past the largest header the version accepts, so the
 * header can be rewritten at commit (when data_length, data_crc32c and the
 * sealed fields are known) without moving the data, and the data is
 * page-aligned for sendfile.  The gap is left as a hole by the writer, so it
 * costs no disk space.
 *
 * Version 1: headers of at most 8 KiB, data at 12288; the header names the
 * blob and its owner but not what a metadata rebuild needs.  Version 2 (what
 * we write): headers of at most HM_SHARD_HEADER_BYTES_MAX (60 KiB, room for
 * a key, all request headers, user metadata and tags), data at 65536, and
 * the header carries the object's description (role, content type, user
 * metadata, headers, tags, upload id) plus the fields sealed at commit
 * (ETag, checksums, commit time).  Both are read; only 2 is written.
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
/* Shard file format versions: their own numbers, apart from the metadata
 * records' HM_FORMAT_VERSION. */
#define HM_SHARD_FORMAT_V1 1u
#define HM_SHARD_FORMAT_V2 2u
#define HM_SHARD_FORMAT_MIN HM_SHARD_FORMAT_V1
#define HM_SHARD_FORMAT_MAX HM_SHARD_FORMAT_V2
#define HM_SHARD_FORMAT_VERSION HM_SHARD_FORMAT_V2 /* what writers write */
#define HM_SHARD_HEADER_BYTES_MAX_V1 (8u << 10)
#define HM_SHARD_DATA_OFFSET_V1 12288u
/* Room kept in every header at put_open for the fields sealed at commit
 * (etag, checksums, committed_ms, blob_size), so a put that opened always
 * commits. */
#define HM_SHARD_SEAL_BYTES_MAX 1024u
#define HM_SHARD_SEAL_ETAG_BYTES_MAX 64u
#define HM_SHARD_SEAL_CHECKSUMS_MAX 4u
/* Shard index of a multipart object's manifest, stored beside the shard 0
 * of its first part's blob (and removed with it).  Above any k + m. */
#define HM_SHARD_INDEX_MANIFEST 1000000u
/* A manifest shard's data: a packed ShardManifest of its own version. */
#define HM_SHARD_MANIFEST_VERSION 1u
#define HM_SHARD_MANIFEST_BYTES_MAX (4u << 20)
#define HM_SHARD_DISK_ID_BYTES_MAX 64u
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
_Static_assert(HM_SHARD_DATA_OFFSET_V1 % HM_SHARD_PAGE_BYTES == 0, "v1 data page-aligned");
_Static_assert(HM_SHARD_DATA_OFFSET_V1 >= HM_SHARD_PREAMBLE_BYTES + HM_SHARD_HEADER_BYTES_MAX_V1,
               "v1 header fits before its data");
/* A key, every request header (content type, user metadata, tags and the
 * stored headers all come from them) and the seal fit one header. */
_Static_assert(HM_KEY_BYTES_MAX + HM_HTTP_HEADERS_BYTES_MAX + HM_SHARD_SEAL_BYTES_MAX +
                       HM_TAGS_MAX * (HM_TAG_KEY_BYTES_MAX + HM_TAG_VALUE_BYTES_MAX) +
                       4096u <=
                   HM_SHARD_HEADER_BYTES_MAX,
               "an object's description fits the header");
_Static_assert(HM_SHARD_DATA_OFFSET >= HM_SHARD_PREAMBLE_BYTES + HM_SHARD_HEADER_BYTES_MAX,
               "largest header fits before the data");
_Static_assert(HM_SHARD_BLOCK_BYTES >= HM_SHARD_BLOCK_BYTES_MIN, "writer block accepted");
_Static_assert(HM_PUT_BYTES_MAX <= HM_SHARD_DATA_BYTES_MAX, "a whole PUT fits one shard");
_Static_assert(HM_SHARD_DATA_BYTES_MAX / HM_SHARD_BLOCK_BYTES_MIN < UINT32_MAX,
               "block count fits the footer's u32");

/* The fixed-size start of a shard file, decoded. */
typedef struct hm_shard_preamble {
    uint32_t version;       /* file format version, HM_SHARD_FORMAT_* */
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

/* Largest header and data offset of a format version (which must be in
 * HM_SHARD_FORMAT_MIN..MAX). */
uint32_t hm_shard_header_bytes_max(uint32_t version);
uint64_t hm_shard_data_offset(uint32_t version);

/* Encode p (with the magic and a zero reserved word) into out. */
void hm_shard_preamble_encode(const hm_shard_preamble *p,
                              uint8_t out[HM_SHARD_PREAMBLE_BYTES]);

/* Decode the first HM_SHARD_PREAMBLE_BYTES of a file.  len is how many bytes
 * in holds.  HM_ECORRUPT on a short buffer, a wrong magic, a non-zero
 * reserved word, or a header length of 0 or above the version's bound;
 * HM_EVERSION on a version outside HM_SHARD_FORMAT_MIN..MAX. */
int hm_shard_preamble_decode(const uint8_t *in, size_t len, hm_shard_preamble *out);

/* Check a header's fields as a reader needs them: format_version in range,
 * blob_id of HM_BLOB_ID_BYTES, shard_index, block_bytes within
 * HM_SHARD_BLOCK_BYTES_MIN..HM_SHARD_BLOCK_BYTES, data_length present and at
 * most HM_SHARD_DATA_BYTES_MAX; no format 2 field in a format 1 header, a
 * known role.  HM_EVERSION or HM_ECORRUPT. */
int hm_shard_header_check(const Hm__ShardHeader *h);

/* Pack h into out (cap bytes, at least HM_SHARD_HEADER_BYTES_MAX is always
 * enough) and fill *pre for it (version h->format_version, which must be a
 * known shard format; length, CRC).  h is not otherwise checked here (see
 * hm_shard_header_check).  HM_ETOOBIG if the packed header exceeds the
 * version's bound or cap, HM_EVERSION on an unknown version. */
int hm_shard_header_encode(const Hm__ShardHeader *h, uint8_t *out, size_t cap,
                           hm_shard_preamble *pre);

/* Decode the header bytes that follow a decoded preamble: len must equal
 * pre->header_len, the CRC must match, the protobuf must parse, pass
 * hm_shard_header_check and carry the preamble's version.
 * HM_ECORRUPT / HM_EVERSION / HM_ENOMEM.  *out is
 * freed with hm__shard_header__free_unpacked(*out, NULL). */
int hm_shard_header_decode(const hm_shard_preamble *pre, const uint8_t *buf,
                           size_t len, Hm__ShardHeader **out);

/* Layout of a file (format HM_SHARD_FORMAT_VERSION) with data_length bytes
 * in blocks of block_bytes.  HM_ETOOBIG above HM_SHARD_DATA_BYTES_MAX,
 * HM_EINVAL on a block size out of range. */
int hm_shard_layout_compute(uint64_t data_length, uint32_t block_bytes,
                            hm_shard_layout *out);
/* The same for a file of format version (HM_EVERSION if unknown). */
int hm_shard_layout_compute_v(uint32_t version, uint64_t data_length, uint32_t block_bytes,
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

/* Copy into h the fields a writer seals at commit, taken from seal:
 * etag, checksums, committed_ms and (when present) blob_size; every other
 * field of seal is ignored.  h must have come from
 * hm__shard_header__unpack (its fields are replaced and freed by
 * protobuf-c's allocator).  HM_ETOOBIG if the sealed fields exceed their
 * bounds (HM_SHARD_SEAL_*), HM_ENOMEM. */
int hm_shard_header_seal(Hm__ShardHeader **h, const Hm__ShardHeader *seal);

/* Decode a manifest shard's data (len <= HM_SHARD_MANIFEST_BYTES_MAX) and
 * check it as hostile input: version HM_SHARD_MANIFEST_VERSION; 1 to
 * HM_PARTS_MAX parts with part numbers 1..HM_PARTS_MAX strictly rising;
 * each part's size at most HM_PART_BYTES_MAX, ETag 32 hex characters, a
 * blob of 16-byte id and the part's size naming 1 to 255 shards, each with
 * an index and a disk id of 1 to HM_SHARD_DISK_ID_BYTES_MAX bytes.
 * HM_ECORRUPT / HM_EVERSION / HM_ENOMEM; *out freed with
 * hm__shard_manifest__free_unpacked(*out, NULL). */
int hm_shard_manifest_decode(const uint8_t *buf, size_t len, Hm__ShardManifest **out);

#endif
