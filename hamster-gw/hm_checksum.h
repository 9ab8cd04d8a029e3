/* hm_checksum.h - the S3 flexible checksums: CRC32, CRC32C, CRC64NVME,
 * SHA1 and SHA256, streamed, rendered as S3 sends them, and combined for
 * multipart objects.
 *
 * Reference: AWS S3 User Guide, "Checking object integrity in Amazon S3"
 * (flexible checksums, full object and composite checksum types); S3 API
 * Reference, "PutObject" (x-amz-checksum-<algo>, x-amz-sdk-checksum-algorithm,
 * x-amz-checksum-type) and "GetObjectAttributes".
 *
 * Shaping decisions:
 *  - One streaming type (hm_cksum) whatever the algorithm, so the body
 *    pipeline hashes every byte once per algorithm in use and never buffers.
 *  - Values travel as raw bytes (CRCs big-endian, as S3 encodes them) and
 *    are rendered as standard base64 only at the edge.
 *  - CRC32 is ISA-L's crc32_gzip_refl (reflected IEEE, its own pre/post
 *    inversion), CRC32C is common/hm_crc.h, CRC64NVME is ours (ISA-L 2.30
 *    has none): reflected polynomial 0x9A6C9329AC4BC9B5 (0xAD93D23594C93659
 *    normal), init and xorout all ones, slicing-by-8 tables.
 *  - Multipart: COMPOSITE is the checksum of the concatenated raw part
 *    checksums, rendered "<base64>-N".  FULL_OBJECT (CRC algorithms only)
 *    is the CRC of the whole object, obtained from the part CRCs and sizes
 *    with the GF(2) matrix combine (zlib's crc32_combine), so completing an
 *    upload never re-reads its bytes.  SHA1 and SHA256 have no FULL_OBJECT
 *    form (a hash cannot be combined); CRC64NVME has no COMPOSITE form
 *    (S3 refuses it): hm_cksum_type_allowed says which pairs exist.
 *
 * Everything here is a pure function over buffers (fuzz targets call it
 * directly).  Thread safety: reentrant; the CRC64 tables are built once.
 */
#ifndef HM_CHECKSUM_H
#define HM_CHECKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hm_cksum_algo {
    HM_CKSUM_NONE = 0,
    HM_CKSUM_CRC32,
    HM_CKSUM_CRC32C,
    HM_CKSUM_CRC64NVME,
    HM_CKSUM_SHA1,
    HM_CKSUM_SHA256,
    HM_CKSUM_ALGO_COUNT
} hm_cksum_algo;

#define HM_CKSUM_DIGEST_BYTES_MAX 32u  /* SHA256 */
/* base64 of 32 bytes (44) + "-10000" + NUL */
#define HM_CKSUM_TEXT_BYTES_MAX 52u
#define HM_CKSUM_PARTS_MAX 10000u     /* S3's part count limit */

/* One checksum value: what is stored (hm_types.proto Checksum) and sent. */
typedef struct hm_cksum_value {
    hm_cksum_algo algo;
    uint8_t raw[HM_CKSUM_DIGEST_BYTES_MAX];
    size_t len;                 /* hm_cksum_size(algo) */
    bool composite;             /* multipart COMPOSITE: rendered "-N" */
    uint32_t parts;             /* N when composite */
} hm_cksum_value;

/* "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256" (upper case, as stored
 * and as in <ChecksumAlgorithm>); NULL for NONE or out of range. */
const char *hm_cksum_name(hm_cksum_algo algo);

/* The header carrying a value: "x-amz-checksum-crc32", ...; NULL for NONE. */
const char *hm_cksum_header(hm_cksum_algo algo);

/* The XML element of a value: "ChecksumCRC32", ...; NULL for NONE. */
const char *hm_cksum_xml_name(hm_cksum_algo algo);

/* Raw digest size: 4, 4, 8, 20, 32; 0 for NONE. */
size_t hm_cksum_size(hm_cksum_algo algo);

/* Algorithm by name, case-insensitive ("crc32", "CRC64NVME"); len bytes of
 * name (need not be NUL-terminated).  0 or HM_EINVAL. */
int hm_cksum_from_name(const char *name, size_t len, hm_cksum_algo *out);

/* Algorithm of a header name, case-insensitive ("X-Amz-Checksum-CRC32");
 * len bytes of name.  0 or HM_EINVAL (not an x-amz-checksum-<algo> name;
 * "x-amz-checksum-type" and "x-amz-checksum-algorithm" are not values). */
int hm_cksum_from_header(const char *name, size_t len, hm_cksum_algo *out);

/* ---- streaming ------------------------------------------------------------- */

typedef struct hm_cksum {
    hm_cksum_algo algo;
    uint64_t crc;               /* CRC algorithms: the finished CRC so far */
    void *md;                   /* SHA algorithms: EVP_MD_CTX */
} hm_cksum;

/* Start a checksum.  0, HM_EINVAL (NONE or out of range), HM_ENOMEM or
 * HM_EINTERNAL.  On success the caller must hm_cksum_free it. */
int hm_cksum_init(hm_cksum *c, hm_cksum_algo algo);

/* Add len bytes.  0 or HM_EINTERNAL (crypto failure). */
int hm_cksum_update(hm_cksum *c, const void *buf, size_t len);

/* Finish into out (algo set, len = hm_cksum_size, not composite).  The
 * checksum cannot be updated afterwards (free it).  0 or HM_EINTERNAL. */
int hm_cksum_final(hm_cksum *c, hm_cksum_value *out);

/* Release; safe on a zeroed or finished checksum. */
void hm_cksum_free(hm_cksum *c);

/* One-shot convenience: checksum of buf. */
int hm_cksum_buf(hm_cksum_algo algo, const void *buf, size_t len, hm_cksum_value *out);

/* ---- the CRCs themselves ---------------------------------------------------- */

/* Finished CRCs that chain: f(f(0, a), b) == f(0, a || b).
 * hm_crc32(0, "123456789", 9) == 0xCBF43926,
 * hm_crc64nvme(0, "123456789", 9) == 0xAE8B14860A799888. */
uint32_t hm_crc32(uint32_t crc, const void *buf, size_t len);
uint64_t hm_crc64nvme(uint64_t crc, const void *buf, size_t len);

/* CRC of a || b from crc(a), crc(b) and len(b) (zlib's crc32_combine). */
uint32_t hm_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
uint32_t hm_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
uint64_t hm_crc64nvme_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b);

/* ---- text ------------------------------------------------------------------- */

/* Parse the base64 text of a value of algo as S3 sends it in a header or
 * trailer: exactly hm_cksum_size(algo) bytes, canonical padding, nothing
 * else.  0 or HM_EINVAL.  Pure: any bytes in, no allocation. */
int hm_cksum_parse(hm_cksum_algo algo, const char *text, size_t len, hm_cksum_value *out);

/* Render v as S3 does: base64, then "-N" when composite.  out holds
 * HM_CKSUM_TEXT_BYTES_MAX.  0 or HM_EINVAL (bad value). */
int hm_cksum_render(const hm_cksum_value *v, char out[HM_CKSUM_TEXT_BYTES_MAX]);

/* Constant-time-agnostic equality of two values (algorithm and bytes;
 * composite and parts ignored). */
bool hm_cksum_equal(const hm_cksum_value *a, const hm_cksum_value *b);

/* ---- multipart -------------------------------------------------------------- */

/* Whether S3 allows algo with this checksum type for a multipart upload:
 * COMPOSITE: CRC32, CRC32C, SHA1, SHA256; FULL_OBJECT: CRC32, CRC32C,
 * CRC64NVME. */
bool hm_cksum_type_allowed(hm_cksum_algo algo, bool full_object);

/* The type S3 uses when the client names none: FULL_OBJECT for CRC64NVME,
 * COMPOSITE otherwise. */
bool hm_cksum_default_full_object(hm_cksum_algo algo);

typedef struct hm_cksum_multi {
    hm_cksum_algo algo;
    bool full_object;
    uint32_t parts;
    uint64_t crc;               /* FULL_OBJECT: CRC of the parts so far */
    hm_cksum inner;             /* COMPOSITE: checksum of the raw part values */
} hm_cksum_multi;

/* Start combining the part checksums of one upload.  HM_EINVAL when the
 * pair is not allowed (see hm_cksum_type_allowed), HM_ENOMEM,
 * HM_EINTERNAL.  On success the caller must hm_cksum_multi_free it. */
int hm_cksum_multi_init(hm_cksum_multi *m, hm_cksum_algo algo, bool full_object);

/* Add the next part (in part-number order): its checksum and byte size.
 * HM_EINVAL when part is of another algorithm or composite, or past
 * HM_CKSUM_PARTS_MAX parts. */
int hm_cksum_multi_add(hm_cksum_multi *m, const hm_cksum_value *part, uint64_t part_size);

/* The object's checksum: COMPOSITE (composite true, parts N) or
 * FULL_OBJECT (a plain value).  HM_EINVAL when no part was added. */
int hm_cksum_multi_final(hm_cksum_multi *m, hm_cksum_value *out);

void hm_cksum_multi_free(hm_cksum_multi *m);

#endif
