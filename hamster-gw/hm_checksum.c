/* hm_checksum.c - the S3 flexible checksums; see hm_checksum.h.
 *
 * Reference: AWS S3 User Guide, "Checking object integrity in Amazon S3";
 * the CRC combine is zlib's crc32_combine (Mark Adler): the CRC of a
 * zero-extended message is a linear map over GF(2), built for one zero bit
 * from the polynomial and squared to cover 2^k zero bytes.
 */
#include "hm_checksum.h"

#include <isa-l/crc.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "hm_base64.h"
#include "hm_crc.h"
#include "hm_err.h"

#define CKSUM_CRC32_POLY_REFL 0xEDB88320u
#define CKSUM_CRC32C_POLY_REFL 0x82F63B78u
#define CKSUM_CRC64NVME_POLY_REFL 0x9A6C9329AC4BC9B5ull
#define CKSUM_HEADER_PREFIX "x-amz-checksum-"
#define CKSUM_HEADER_PREFIX_BYTES (sizeof(CKSUM_HEADER_PREFIX) - 1)

static const struct {
    const char *name;
    const char *header;
    const char *xml;
    size_t size;
} cksum_algos[HM_CKSUM_ALGO_COUNT] = {
    [HM_CKSUM_NONE] = {NULL, NULL, NULL, 0},
    [HM_CKSUM_CRC32] = {"CRC32", "x-amz-checksum-crc32", "ChecksumCRC32", 4},
    [HM_CKSUM_CRC32C] = {"CRC32C", "x-amz-checksum-crc32c", "ChecksumCRC32C", 4},
    [HM_CKSUM_CRC64NVME] = {"CRC64NVME", "x-amz-checksum-crc64nvme", "ChecksumCRC64NVME", 8},
    [HM_CKSUM_SHA1] = {"SHA1", "x-amz-checksum-sha1", "ChecksumSHA1", 20},
    [HM_CKSUM_SHA256] = {"SHA256", "x-amz-checksum-sha256", "ChecksumSHA256", 32},
};

static bool cksum_valid(hm_cksum_algo algo)
{
    return algo > HM_CKSUM_NONE && algo < HM_CKSUM_ALGO_COUNT;
}

static bool cksum_is_crc(hm_cksum_algo algo)
{
    return algo == HM_CKSUM_CRC32 || algo == HM_CKSUM_CRC32C || algo == HM_CKSUM_CRC64NVME;
}

const char *hm_cksum_name(hm_cksum_algo algo)
{
    return cksum_valid(algo) ? cksum_algos[algo].name : NULL;
}

const char *hm_cksum_header(hm_cksum_algo algo)
{
    return cksum_valid(algo) ? cksum_algos[algo].header : NULL;
}

const char *hm_cksum_xml_name(hm_cksum_algo algo)
{
    return cksum_valid(algo) ? cksum_algos[algo].xml : NULL;
}

size_t hm_cksum_size(hm_cksum_algo algo)
{
    return cksum_valid(algo) ? cksum_algos[algo].size : 0;
}

int hm_cksum_from_name(const char *name, size_t len, hm_cksum_algo *out)
{
    if (name == NULL) return HM_EINVAL;
    for (int a = HM_CKSUM_NONE + 1; a < HM_CKSUM_ALGO_COUNT; a++) {
        const char *n = cksum_algos[a].name;
        if (strlen(n) == len && strncasecmp(n, name, len) == 0) {
            *out = (hm_cksum_algo)a;
            return 0;
        }
    }
    return HM_EINVAL;
}

int hm_cksum_from_header(const char *name, size_t len, hm_cksum_algo *out)
{
    if (name == NULL || len <= CKSUM_HEADER_PREFIX_BYTES ||
        strncasecmp(name, CKSUM_HEADER_PREFIX, CKSUM_HEADER_PREFIX_BYTES) != 0)
        return HM_EINVAL;
    return hm_cksum_from_name(name + CKSUM_HEADER_PREFIX_BYTES,
                              len - CKSUM_HEADER_PREFIX_BYTES, out);
}

/* ---- CRCs ---------------------------------------------------------------------- */

uint32_t hm_crc32(uint32_t crc, const void *buf, size_t len)
{
    /* crc32_gzip_refl inverts on entry and exit itself: it takes and
     * returns finished CRCs. */
    return crc32_gzip_refl(crc, (const unsigned char *)buf, (uint64_t)len);
}

/* Slicing-by-8 tables for the reflected CRC64NVME polynomial. */
static uint64_t cksum_crc64_table[8][256];
static pthread_once_t cksum_crc64_once = PTHREAD_ONCE_INIT;

static void cksum_crc64_init(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CKSUM_CRC64NVME_POLY_REFL : c >> 1;
        cksum_crc64_table[0][i] = c;
    }
    for (unsigned i = 0; i < 256; i++) {
        uint64_t c = cksum_crc64_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = cksum_crc64_table[0][c & 0xff] ^ (c >> 8);
            cksum_crc64_table[t][i] = c;
        }
    }
}

uint64_t hm_crc64nvme(uint64_t crc, const void *buf, size_t len)
{
    pthread_once(&cksum_crc64_once, cksum_crc64_init);
    const unsigned char *p = buf;
    uint64_t c = ~crc;
    while (len >= 8) {
        /* little-endian load, byte by byte so alignment does not matter */
        uint64_t w = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
                     (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
                     (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
        c ^= w;
        c = cksum_crc64_table[7][c & 0xff] ^ cksum_crc64_table[6][(c >> 8) & 0xff] ^
            cksum_crc64_table[5][(c >> 16) & 0xff] ^ cksum_crc64_table[4][(c >> 24) & 0xff] ^
            cksum_crc64_table[3][(c >> 32) & 0xff] ^ cksum_crc64_table[2][(c >> 40) & 0xff] ^
            cksum_crc64_table[1][(c >> 48) & 0xff] ^ cksum_crc64_table[0][c >> 56];
        p += 8;
        len -= 8;
    }
    while (len-- > 0) c = cksum_crc64_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* mat (width rows of a GF(2) matrix) times vec. */
static uint64_t cksum_gf2_times(const uint64_t *mat, uint64_t vec)
{
    uint64_t sum = 0;
    for (; vec != 0; vec >>= 1, mat++)
        if (vec & 1) sum ^= *mat;
    return sum;
}

static void cksum_gf2_square(uint64_t *square, const uint64_t *mat, unsigned width)
{
    for (unsigned n = 0; n < width; n++) square[n] = cksum_gf2_times(mat, mat[n]);
}

/* CRC of a || b for any reflected CRC whose init equals its xorout (the
 * conditioning cancels out): shift crc_a through len_b zero bytes, then
 * add crc_b. */
static uint64_t cksum_crc_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b,
                                  uint64_t poly, unsigned width)
{
    if (len_b == 0) return crc_a;
    uint64_t even[64], odd[64];
    odd[0] = poly; /* the operator for one zero bit */
    uint64_t row = 1;
    for (unsigned n = 1; n < width; n++, row <<= 1) odd[n] = row;
    cksum_gf2_square(even, odd, width); /* two zero bits */
    cksum_gf2_square(odd, even, width); /* four zero bits */
    do {
        cksum_gf2_square(even, odd, width); /* first pass: one zero byte */
        if (len_b & 1) crc_a = cksum_gf2_times(even, crc_a);
        len_b >>= 1;
        if (len_b == 0) break;
        cksum_gf2_square(odd, even, width);
        if (len_b & 1) crc_a = cksum_gf2_times(odd, crc_a);
        len_b >>= 1;
    } while (len_b != 0);
    return crc_a ^ crc_b;
}

uint32_t hm_crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return (uint32_t)cksum_crc_combine(crc_a, crc_b, len_b, CKSUM_CRC32_POLY_REFL, 32);
}

uint32_t hm_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    return (uint32_t)cksum_crc_combine(crc_a, crc_b, len_b, CKSUM_CRC32C_POLY_REFL, 32);
}

uint64_t hm_crc64nvme_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b)
{
    return cksum_crc_combine(crc_a, crc_b, len_b, CKSUM_CRC64NVME_POLY_REFL, 64);
}

/* ---- streaming ------------------------------------------------------------------ */

int hm_cksum_init(hm_cksum *c, hm_cksum_algo algo)
{
    memset(c, 0, sizeof(*c));
    if (!cksum_valid(algo)) return HM_EINVAL;
    c->algo = algo;
    if (cksum_is_crc(algo)) return 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL) return HM_ENOMEM;
    if (EVP_DigestInit_ex(md, algo == HM_CKSUM_SHA1 ? EVP_sha1() : EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return HM_EINTERNAL;
    }
    c->md = md;
    return 0;
}

int hm_cksum_update(hm_cksum *c, const void *buf, size_t len)
{
    switch (c->algo) {
    case HM_CKSUM_CRC32: c->crc = hm_crc32((uint32_t)c->crc, buf, len); return 0;
    case HM_CKSUM_CRC32C: c->crc = hm_crc32c((uint32_t)c->crc, buf, len); return 0;
    case HM_CKSUM_CRC64NVME: c->crc = hm_crc64nvme(c->crc, buf, len); return 0;
    case HM_CKSUM_SHA1:
    case HM_CKSUM_SHA256:
        if (c->md == NULL || EVP_DigestUpdate(c->md, buf, len) != 1) return HM_EINTERNAL;
        return 0;
    case HM_CKSUM_NONE:
    case HM_CKSUM_ALGO_COUNT: break;
    }
    return HM_EINTERNAL;
}

/* The big-endian bytes of a CRC of size bytes. */
static void cksum_put_be(uint64_t v, size_t size, uint8_t *out)
{
    for (size_t i = 0; i < size; i++) out[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
}

static uint64_t cksum_get_be(const uint8_t *in, size_t size)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++) v = (v << 8) | in[i];
    return v;
}

int hm_cksum_final(hm_cksum *c, hm_cksum_value *out)
{
    memset(out, 0, sizeof(*out));
    if (!cksum_valid(c->algo)) return HM_EINTERNAL;
    out->algo = c->algo;
    out->len = cksum_algos[c->algo].size;
    if (cksum_is_crc(c->algo)) {
        cksum_put_be(c->crc, out->len, out->raw);
        return 0;
    }
    unsigned n = 0;
    if (c->md == NULL || EVP_DigestFinal_ex(c->md, out->raw, &n) != 1 || n != out->len)
        return HM_EINTERNAL;
    return 0;
}

void hm_cksum_free(hm_cksum *c)
{
    if (c == NULL) return;
    EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

int hm_cksum_buf(hm_cksum_algo algo, const void *buf, size_t len, hm_cksum_value *out)
{
    hm_cksum c;
    int rc = hm_cksum_init(&c, algo);
    if (rc != 0) return rc;
    rc = hm_cksum_update(&c, buf, len);
    if (rc == 0) rc = hm_cksum_final(&c, out);
    hm_cksum_free(&c);
    return rc;
}

/* ---- text ---------------------------------------------------------------------- */

int hm_cksum_parse(hm_cksum_algo algo, const char *text, size_t len, hm_cksum_value *out)
{
    if (!cksum_valid(algo) || text == NULL) return HM_EINVAL;
    size_t size = cksum_algos[algo].size;
    size_t want = (size + 2) / 3 * 4;
    if (len != want) return HM_EINVAL;
    size_t pad = (3 - size % 3) % 3;
    hm_cksum_value v = {.algo = algo, .len = size};
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t acc = 0;
        bool last = i + 4 == len;
        for (size_t k = 0; k < 4; k++) {
            int d;
            if (last && k >= 4 - pad) {
                if (text[i + k] != '=') return HM_EINVAL;
                d = 0;
            } else {
                d = hm_base64_val(text[i + k]);
                if (d < 0) return HM_EINVAL;
            }
            acc = (acc << 6) | (uint32_t)d;
        }
        size_t n = last ? 3 - pad : 3;
        /* canonical: the bits under the padding are zero */
        if (last && pad > 0 && (acc & ((1u << (8 * pad)) - 1u)) != 0) return HM_EINVAL;
        for (size_t k = 0; k < n; k++) v.raw[o++] = (uint8_t)(acc >> (16 - 8 * k));
    }
    *out = v;
    return 0;
}

int hm_cksum_render(const hm_cksum_value *v, char out[HM_CKSUM_TEXT_BYTES_MAX])
{
    if (v == NULL || !cksum_valid(v->algo) || v->len != cksum_algos[v->algo].size ||
        (v->composite && (v->parts == 0 || v->parts > HM_CKSUM_PARTS_MAX)))
        return HM_EINVAL;
    hm_base64_encode(v->raw, v->len, out, HM_CKSUM_TEXT_BYTES_MAX);
    size_t o = strlen(out);
    if (v->composite) {
        /* o <= 44 and "-10000" is 6 bytes: fits HM_CKSUM_TEXT_BYTES_MAX */
        char digits[8];
        size_t nd = 0;
        for (uint32_t p = v->parts; p > 0; p /= 10) digits[nd++] = (char)('0' + p % 10);
        out[o++] = '-';
        while (nd > 0) out[o++] = digits[--nd];
        out[o] = '\0';
    }
    return 0;
}

bool hm_cksum_equal(const hm_cksum_value *a, const hm_cksum_value *b)
{
    return a->algo == b->algo && a->len == b->len && a->len <= HM_CKSUM_DIGEST_BYTES_MAX &&
           memcmp(a->raw, b->raw, a->len) == 0;
}

/* ---- multipart ------------------------------------------------------------------ */

bool hm_cksum_type_allowed(hm_cksum_algo algo, bool full_object)
{
    if (!cksum_valid(algo)) return false;
    if (full_object) return cksum_is_crc(algo);
    return algo != HM_CKSUM_CRC64NVME;
}

bool hm_cksum_default_full_object(hm_cksum_algo algo)
{
    return algo == HM_CKSUM_CRC64NVME;
}

int hm_cksum_multi_init(hm_cksum_multi *m, hm_cksum_algo algo, bool full_object)
{
    memset(m, 0, sizeof(*m));
    if (!hm_cksum_type_allowed(algo, full_object)) return HM_EINVAL;
    m->algo = algo;
    m->full_object = full_object;
    if (full_object) return 0;
    return hm_cksum_init(&m->inner, algo);
}

int hm_cksum_multi_add(hm_cksum_multi *m, const hm_cksum_value *part, uint64_t part_size)
{
    if (part == NULL || part->algo != m->algo || part->composite ||
        part->len != cksum_algos[m->algo].size || m->parts >= HM_CKSUM_PARTS_MAX)
        return HM_EINVAL;
    if (!m->full_object) {
        int rc = hm_cksum_update(&m->inner, part->raw, part->len);
        if (rc != 0) return rc;
        m->parts++;
        return 0;
    }
    uint64_t crc = cksum_get_be(part->raw, part->len);
    if (m->parts == 0) {
        m->crc = crc;
    } else {
        switch (m->algo) {
        case HM_CKSUM_CRC32:
            m->crc = hm_crc32_combine((uint32_t)m->crc, (uint32_t)crc, part_size);
            break;
        case HM_CKSUM_CRC32C:
            m->crc = hm_crc32c_combine((uint32_t)m->crc, (uint32_t)crc, part_size);
            break;
        default: m->crc = hm_crc64nvme_combine(m->crc, crc, part_size); break;
        }
    }
    m->parts++;
    return 0;
}

int hm_cksum_multi_final(hm_cksum_multi *m, hm_cksum_value *out)
{
    if (m->parts == 0) return HM_EINVAL;
    if (m->full_object) {
        memset(out, 0, sizeof(*out));
        out->algo = m->algo;
        out->len = cksum_algos[m->algo].size;
        cksum_put_be(m->crc, out->len, out->raw);
        return 0;
    }
    int rc = hm_cksum_final(&m->inner, out);
    if (rc != 0) return rc;
    out->composite = true;
    out->parts = m->parts;
    return 0;
}

void hm_cksum_multi_free(hm_cksum_multi *m)
{
    if (m == NULL) return;
    hm_cksum_free(&m->inner);
}
