/* hm_shard_format.c - encode and validate shard file bytes; see
 * hm_shard_format.h.
 *
 * Pure functions over buffers, so the reader's checks can be tested (and
 * fuzzed) without a disk.  Every length read from a file is compared with
 * its bound before anything is sized or indexed by it.
 */
#include "hm_shard_format.h"

#include <stdbool.h>

#include <stdlib.h>
#include <string.h>

#include "hm_crc.h"
#include "hm_pb.h"
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

uint32_t hm_shard_header_bytes_max(uint32_t version)
{
    return version == HM_SHARD_FORMAT_V1 ? HM_SHARD_HEADER_BYTES_MAX_V1
                                         : HM_SHARD_HEADER_BYTES_MAX;
}

uint64_t hm_shard_data_offset(uint32_t version)
{
    return version == HM_SHARD_FORMAT_V1 ? HM_SHARD_DATA_OFFSET_V1 : HM_SHARD_DATA_OFFSET;
}

static bool shard_version_ok(uint32_t version)
{
    return version >= HM_SHARD_FORMAT_MIN && version <= HM_SHARD_FORMAT_MAX;
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
    if (!shard_version_ok(version)) return HM_EVERSION;
    if (reserved != 0) return HM_ECORRUPT;
    if (header_len == 0 || header_len > hm_shard_header_bytes_max(version)) return HM_ECORRUPT;
    out->version = version;
    out->header_len = header_len;
    out->header_crc32c = header_crc;
    return 0;
}

int hm_shard_header_check(const Hm__ShardHeader *h)
{
    if (!h->has_format_version) return HM_ECORRUPT;
    if (!shard_version_ok(h->format_version)) return HM_EVERSION;
    if (!h->has_blob_id || h->blob_id.len != HM_BLOB_ID_BYTES) return HM_ECORRUPT;
    if (!h->has_shard_index) return HM_ECORRUPT;
    if (!h->has_block_bytes || h->block_bytes < HM_SHARD_BLOCK_BYTES_MIN ||
        h->block_bytes > HM_SHARD_BLOCK_BYTES) {
        return HM_ECORRUPT;
    }
    if (!h->has_data_length || h->data_length > HM_SHARD_DATA_BYTES_MAX) {
        return HM_ECORRUPT;
    }
    bool v2_fields = h->has_role || h->content_type != NULL || h->n_user_meta > 0 ||
                     h->n_headers > 0 || h->n_tags > 0 || h->n_checksums > 0 ||
                     h->upload_id != NULL || h->has_committed_ms || h->has_object_size ||
                     h->has_part_count;
    if (h->format_version == HM_SHARD_FORMAT_V1 && v2_fields) return HM_ECORRUPT;
    if (h->has_role && h->role > HM__SHARD_ROLE__SHARD_ROLE_MANIFEST) return HM_ECORRUPT;
    return 0;
}

int hm_shard_header_encode(const Hm__ShardHeader *h, uint8_t *out, size_t cap,
                           hm_shard_preamble *pre)
{
    if (!h->has_format_version || !shard_version_ok(h->format_version)) return HM_EVERSION;
    size_t n = hm__shard_header__get_packed_size(h);
    if (n > hm_shard_header_bytes_max(h->format_version) || n > cap) return HM_ETOOBIG;
    size_t packed = hm__shard_header__pack(h, out);
    if (packed != n) return HM_EINTERNAL;
    pre->version = h->format_version;
    pre->header_len = (uint32_t)n;
    pre->header_crc32c = hm_crc32c(0, out, n);
    return 0;
}

int hm_shard_header_decode(const hm_shard_preamble *pre, const uint8_t *buf,
                           size_t len, Hm__ShardHeader **out)
{
    if (!shard_version_ok(pre->version)) return HM_EVERSION;
    if (pre->header_len == 0 || pre->header_len > hm_shard_header_bytes_max(pre->version) ||
        len != pre->header_len) {
        return HM_ECORRUPT;
    }
    if (hm_crc32c(0, buf, len) != pre->header_crc32c) return HM_ECORRUPT;
    Hm__ShardHeader *h = hm__shard_header__unpack(NULL, len, buf);
    /* The CRC matched, so a failed unpack is bytes we never wrote (or no
     * memory; protobuf-c does not tell the two apart). */
    if (h == NULL) return HM_ECORRUPT;
    /* An unknown field numbered 0 (sent as an over-long varint), here or in
     * a checksum inside, unpacks but packs back into bytes protobuf-c
     * refuses: not a header we wrote. */
    if (!hm_pb_tags_valid(&h->base)) {
        hm__shard_header__free_unpacked(h, NULL);
        return HM_ECORRUPT;
    }
    int rc = hm_shard_header_check(h);
    /* The preamble and the header it guards name one version. */
    if (rc == 0 && h->format_version != pre->version) rc = HM_ECORRUPT;
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
    return hm_shard_layout_compute_v(HM_SHARD_FORMAT_VERSION, data_length, block_bytes, out);
}

int hm_shard_layout_compute_v(uint32_t version, uint64_t data_length, uint32_t block_bytes,
                              hm_shard_layout *out)
{
    if (!shard_version_ok(version)) return HM_EVERSION;
    if (block_bytes < HM_SHARD_BLOCK_BYTES_MIN || block_bytes > HM_SHARD_BLOCK_BYTES) {
        return HM_EINVAL;
    }
    if (data_length > HM_SHARD_DATA_BYTES_MAX) return HM_ETOOBIG;
    /* Bounded above: no sum below can overflow. */
    uint64_t blocks = data_length / block_bytes + (data_length % block_bytes != 0);
    out->data_offset = hm_shard_data_offset(version);
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
    if (hm_shard_layout_compute_v(h->format_version, h->data_length, h->block_bytes, &lay) !=
        0) {
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

int hm_shard_header_seal(Hm__ShardHeader **hp, const Hm__ShardHeader *seal)
{
    Hm__ShardHeader *h = *hp;
    Hm__ShardHeader only = HM__SHARD_HEADER__INIT;
    if (seal->etag != NULL) {
        if (strlen(seal->etag) > HM_SHARD_SEAL_ETAG_BYTES_MAX) return HM_ETOOBIG;
        only.etag = seal->etag;
    }
    if (seal->n_checksums > HM_SHARD_SEAL_CHECKSUMS_MAX) return HM_ETOOBIG;
    only.n_checksums = seal->n_checksums;
    only.checksums = seal->checksums;
    only.has_committed_ms = seal->has_committed_ms;
    only.committed_ms = seal->committed_ms;
    only.has_blob_size = seal->has_blob_size;
    only.blob_size = seal->blob_size;
    size_t sn = hm__shard_header__get_packed_size(&only);
    if (sn > HM_SHARD_SEAL_BYTES_MAX) return HM_ETOOBIG;

    /* Drop h's sealed fields, then let protobuf merge the two encodings
     * (later scalars win, repeated fields append): the result is h with
     * exactly the seal's values. */
    free(h->etag);
    h->etag = NULL;
    for (size_t i = 0; i < h->n_checksums; i++) hm__checksum__free_unpacked(h->checksums[i], NULL);
    free(h->checksums);
    h->checksums = NULL;
    h->n_checksums = 0;
    size_t hn = hm__shard_header__get_packed_size(h);
    uint8_t *buf = malloc(hn + sn);
    if (buf == NULL) return HM_ENOMEM;
    hm__shard_header__pack(h, buf);
    hm__shard_header__pack(&only, buf + hn);
    Hm__ShardHeader *m = hm__shard_header__unpack(NULL, hn + sn, buf);
    free(buf);
    if (m == NULL) return HM_ENOMEM;
    hm__shard_header__free_unpacked(h, NULL);
    *hp = m;
    return 0;
}

static bool shard_is_hex32(const char *s)
{
    if (s == NULL || strlen(s) != 32) return false;
    for (size_t i = 0; i < 32; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

static bool shard_manifest_part_ok(const Hm__ManifestPart *p)
{
    if (!p->has_part_number || p->part_number < 1 || p->part_number > HM_PARTS_MAX) return false;
    if (!p->has_size || p->size > HM_PART_BYTES_MAX) return false;
    if (!shard_is_hex32(p->etag)) return false;
    const Hm__Blob *b = p->blob;
    if (b == NULL || !b->has_blob_id || b->blob_id.len != HM_BLOB_ID_BYTES) return false;
    if (!b->has_size || b->size != p->size) return false;
    if (b->n_shards < 1 || b->n_shards > 255) return false;
    for (size_t i = 0; i < b->n_shards; i++) {
        const Hm__ShardRef *r = b->shards[i];
        if (!r->has_index || r->disk_id == NULL) return false;
        size_t n = strlen(r->disk_id);
        if (n == 0 || n > HM_SHARD_DISK_ID_BYTES_MAX) return false;
    }
    return true;
}

int hm_shard_manifest_decode(const uint8_t *buf, size_t len, Hm__ShardManifest **out)
{
    if (len == 0 || len > HM_SHARD_MANIFEST_BYTES_MAX) return HM_ECORRUPT;
    Hm__ShardManifest *m = hm__shard_manifest__unpack(NULL, len, buf);
    if (m == NULL) return HM_ECORRUPT;
    int rc = 0;
    if (!hm_pb_tags_valid(&m->base)) rc = HM_ECORRUPT;
    else if (!m->has_format_version) rc = HM_ECORRUPT;
    else if (m->format_version != HM_SHARD_MANIFEST_VERSION) rc = HM_EVERSION;
    else if (m->n_parts < 1 || m->n_parts > HM_PARTS_MAX) rc = HM_ECORRUPT;
    for (size_t i = 0; rc == 0 && i < m->n_parts; i++) {
        if (!shard_manifest_part_ok(m->parts[i]) ||
            (i > 0 && m->parts[i]->part_number <= m->parts[i - 1]->part_number)) {
            rc = HM_ECORRUPT;
        }
    }
    if (rc != 0) {
        hm__shard_manifest__free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return 0;
}
