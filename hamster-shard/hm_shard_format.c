/* hm_shard_format.c - encode and validate shard file bytes; see
 * hm_shard_format.h.
 *
 * Pure functions over buffers, so the reader's checks can be tested (and
 * fuzzed) without a disk.  Every length read from a file is compared with
 * its bound before anything is sized or indexed by it.
 */
#include "hm_shard_format.h"

#include <string.h>

#include "hm_crc.h"
#include "hm_err.h"
#include "hm_shard_api.h"

void hm_shard_le32_put(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)v;
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)(v >> 16);
    out[3] = (uint8_t)(v >> 24);
}

uint32_t hm_shard_le32_get(const uint8_t in[4])
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
           (uint32_t)in[3] << 24;
}

void hm_shard_preamble_encode(const hm_shard_preamble *p,
                              uint8_t out[HM_SHARD_PREAMBLE_BYTES])
{
    memcpy(out, HM_SHARD_MAGIC, HM_SHARD_MAGIC_BYTES);
    hm_shard_le32_put(out + 8, p->version);
    hm_shard_le32_put(out + 12, p->header_len);
    hm_shard_le32_put(out + 16, p->header_crc32c);
    hm_shard_le32_put(out + 20, 0);
}

int hm_shard_preamble_decode(const uint8_t *in, size_t len, hm_shard_preamble *out)
{
    if (len < HM_SHARD_PREAMBLE_BYTES) return HM_ECORRUPT;
    if (memcmp(in, HM_SHARD_MAGIC, HM_SHARD_MAGIC_BYTES) != 0) return HM_ECORRUPT;
    uint32_t version = hm_shard_le32_get(in + 8);
    uint32_t header_len = hm_shard_le32_get(in + 12);
    uint32_t header_crc = hm_shard_le32_get(in + 16);
    uint32_t reserved = hm_shard_le32_get(in + 20);
    if (version < HM_FORMAT_VERSION_MIN || version > HM_FORMAT_VERSION_MAX) {
        return HM_EVERSION;
    }
    if (reserved != 0) return HM_ECORRUPT;
    if (header_len == 0 || header_len > HM_SHARD_HEADER_BYTES_MAX) return HM_ECORRUPT;
    out->version = version;
    out->header_len = header_len;
    out->header_crc32c = header_crc;
    return 0;
}

int hm_shard_header_check(const Hm__ShardHeader *h)
{
    if (!h->has_format_version) return HM_ECORRUPT;
    if (h->format_version < HM_FORMAT_VERSION_MIN ||
        h->format_version > HM_FORMAT_VERSION_MAX) {
        return HM_EVERSION;
    }
    if (!h->has_blob_id || h->blob_id.len != HM_BLOB_ID_BYTES) return HM_ECORRUPT;
    if (!h->has_shard_index) return HM_ECORRUPT;
    if (!h->has_block_bytes || h->block_bytes < HM_SHARD_BLOCK_BYTES_MIN ||
        h->block_bytes > HM_SHARD_BLOCK_BYTES) {
        return HM_ECORRUPT;
    }
    if (!h->has_data_length || h->data_length > HM_SHARD_DATA_BYTES_MAX) {
        return HM_ECORRUPT;
    }
    return 0;
}

int hm_shard_header_encode(const Hm__ShardHeader *h, uint8_t *out, size_t cap,
                           hm_shard_preamble *pre)
{
    size_t n = hm__shard_header__get_packed_size(h);
    if (n > HM_SHARD_HEADER_BYTES_MAX || n > cap) return HM_ETOOBIG;
    size_t packed = hm__shard_header__pack(h, out);
    if (packed != n) return HM_EINTERNAL;
    pre->version = HM_FORMAT_VERSION;
    pre->header_len = (uint32_t)n;
    pre->header_crc32c = hm_crc32c(0, out, n);
    return 0;
}

int hm_shard_header_decode(const hm_shard_preamble *pre, const uint8_t *buf,
                           size_t len, Hm__ShardHeader **out)
{
    if (pre->header_len == 0 || pre->header_len > HM_SHARD_HEADER_BYTES_MAX ||
        len != pre->header_len) {
        return HM_ECORRUPT;
    }
    if (hm_crc32c(0, buf, len) != pre->header_crc32c) return HM_ECORRUPT;
    Hm__ShardHeader *h = hm__shard_header__unpack(NULL, len, buf);
    /* The CRC matched, so a failed unpack is bytes we never wrote (or no
     * memory; protobuf-c does not tell the two apart). */
    if (h == NULL) return HM_ECORRUPT;
    /* An unknown field numbered 0 (sent as an over-long varint) unpacks but
     * packs back into bytes protobuf-c refuses: not a header we wrote. */
    for (unsigned i = 0; i < h->base.n_unknown_fields; i++) {
        if (h->base.unknown_fields[i].tag == 0) {
            hm__shard_header__free_unpacked(h, NULL);
            return HM_ECORRUPT;
        }
    }
    int rc = hm_shard_header_check(h);
    if (rc != 0) {
        hm__shard_header__free_unpacked(h, NULL);
        return rc;
    }
    *out = h;
    return 0;
}

int hm_shard_layout_compute(uint64_t data_length, uint32_t block_bytes,
                            hm_shard_layout *out)
{
    if (block_bytes < HM_SHARD_BLOCK_BYTES_MIN || block_bytes > HM_SHARD_BLOCK_BYTES) {
        return HM_EINVAL;
    }
    if (data_length > HM_SHARD_DATA_BYTES_MAX) return HM_ETOOBIG;
    /* Bounded above: no sum below can overflow. */
    uint64_t blocks = data_length / block_bytes + (data_length % block_bytes != 0);
    out->data_offset = HM_SHARD_DATA_OFFSET;
    out->data_length = data_length;
    out->block_bytes = block_bytes;
    out->block_count = (uint32_t)blocks;
    out->table_offset = out->data_offset + data_length;
    out->footer_offset = out->table_offset + blocks * HM_SHARD_CRC_BYTES;
    out->file_bytes = out->footer_offset + HM_SHARD_FOOTER_BYTES;
    return 0;
}

int hm_shard_layout_check(const Hm__ShardHeader *h, uint64_t file_bytes,
                          hm_shard_layout *out)
{
    hm_shard_layout lay;
    if (hm_shard_header_check(h) != 0) return HM_ECORRUPT;
    if (hm_shard_layout_compute(h->data_length, h->block_bytes, &lay) != 0) {
        return HM_ECORRUPT;
    }
    if (lay.file_bytes != file_bytes) return HM_ECORRUPT;
    *out = lay;
    return 0;
}

void hm_shard_footer_encode(uint32_t block_count, uint32_t table_crc32c,
                            uint8_t out[HM_SHARD_FOOTER_BYTES])
{
    hm_shard_le32_put(out, block_count);
    hm_shard_le32_put(out + 4, table_crc32c);
}

int hm_shard_footer_decode(const uint8_t in[HM_SHARD_FOOTER_BYTES],
                           const hm_shard_layout *lay, uint32_t *table_crc32c)
{
    if (hm_shard_le32_get(in) != lay->block_count) return HM_ECORRUPT;
    *table_crc32c = hm_shard_le32_get(in + 4);
    return 0;
}
