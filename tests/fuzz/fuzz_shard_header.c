/* fuzz_shard_header.c - a shard file's start and end from a hostile disk:
 * preamble, header (CRC, protobuf, field checks), the layout against a
 * fuzzed file size, and the footer against that layout.
 *
 * Input: one mode byte, 8 bytes of file size, 8 bytes of footer, then the
 * file's start.  Mode odd: the rest is the raw start (preamble and header
 * as on disk).  Mode even: the rest is the header's protobuf, framed here
 * with a correct preamble and CRC (format 1 when mode & 2, else 2) so the
 * fuzzer reaches the decoder.  Mode & 4 (even modes): the rest is also fed
 * to the manifest decoder.  Every header that decodes is sealed with its own
 * sealed fields and must still encode and decode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_crc.h"
#include "hm_err.h"
#include "hm_shard_format.h"

#define FUZZ_FIXED_BYTES (1u + 8u + HM_SHARD_FOOTER_BYTES)

static void fuzz_header(const Hm__ShardHeader *h, uint64_t file_bytes, const uint8_t *footer)
{
    if (hm_shard_header_check(h) != 0) abort();
    hm_shard_layout lay;
    int rc = hm_shard_layout_check(h, file_bytes, &lay);
    if (rc == 0) {
        if (lay.file_bytes != file_bytes ||
            lay.footer_offset + HM_SHARD_FOOTER_BYTES != file_bytes ||
            lay.table_offset != lay.data_offset + lay.data_length)
            abort();
        uint32_t crc = 0;
        rc = hm_shard_footer_decode(footer, &lay, &crc);
        if (rc != 0 && rc != HM_ECORRUPT) abort();
    } else if (rc != HM_ECORRUPT) {
        abort();
    }
    /* A checked header re-encodes into one that decodes again. */
    static uint8_t buf[HM_SHARD_HEADER_BYTES_MAX];
    hm_shard_preamble pre;
    if (hm_shard_header_encode(h, buf, sizeof(buf), &pre) == 0) {
        Hm__ShardHeader *h2 = NULL;
        if (hm_shard_header_decode(&pre, buf, pre.header_len, &h2) != 0) abort();
        /* Sealing with its own sealed fields changes none of them. */
        rc = hm_shard_header_seal(&h2, h);
        if (rc == 0) {
            if ((h->etag == NULL) != (h2->etag == NULL) ||
                (h->etag != NULL && strcmp(h->etag, h2->etag) != 0) ||
                h->n_checksums != h2->n_checksums ||
                h->has_committed_ms != h2->has_committed_ms)
                abort();
        } else if (rc != HM_ETOOBIG && rc != HM_ENOMEM) {
            abort();
        }
        hm__shard_header__free_unpacked(h2, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_FIXED_BYTES) return 0;
    uint8_t mode = data[0];
    uint64_t file_bytes = 0;
    memcpy(&file_bytes, data + 1, 8);
    const uint8_t *footer = data + 9;
    data += FUZZ_FIXED_BYTES;
    size -= FUZZ_FIXED_BYTES;

    hm_shard_preamble pre;
    const uint8_t *hdr;
    size_t hl;
    if (mode & 1) {
        int rc = hm_shard_preamble_decode(data, size, &pre);
        if (rc != 0) {
            if (rc != HM_ECORRUPT && rc != HM_EVERSION) abort();
            return 0;
        }
        if (pre.header_len == 0 || pre.header_len > hm_shard_header_bytes_max(pre.version))
            abort();
        hdr = data + HM_SHARD_PREAMBLE_BYTES;
        hl = size - HM_SHARD_PREAMBLE_BYTES;
    } else {
        if (mode & 4) {
            Hm__ShardManifest *m = NULL;
            int mrc = hm_shard_manifest_decode(data, size, &m);
            if (mrc == 0) {
                for (size_t i = 0; i < m->n_parts; i++) {
                    if (i > 0 && m->parts[i]->part_number <= m->parts[i - 1]->part_number)
                        abort();
                }
                hm__shard_manifest__free_unpacked(m, NULL);
            } else if (mrc != HM_ECORRUPT && mrc != HM_EVERSION && mrc != HM_ENOMEM) {
                abort();
            }
        }
        uint32_t version = (mode & 2) ? HM_SHARD_FORMAT_V1 : HM_SHARD_FORMAT_V2;
        if (size == 0 || size > hm_shard_header_bytes_max(version)) return 0;
        uint8_t raw[HM_SHARD_PREAMBLE_BYTES];
        hm_shard_preamble mine = {.version = version,
                                  .header_len = (uint32_t)size,
                                  .header_crc32c = hm_crc32c(0, data, size)};
        hm_shard_preamble_encode(&mine, raw);
        if (hm_shard_preamble_decode(raw, sizeof(raw), &pre) != 0) abort();
        if (memcmp(&pre, &mine, sizeof(pre)) != 0) abort();
        hdr = data;
        hl = size;
    }
    Hm__ShardHeader *h = NULL;
    int rc = hm_shard_header_decode(&pre, hdr, hl, &h);
    if (rc != 0) {
        if (rc != HM_ECORRUPT && rc != HM_EVERSION && rc != HM_ENOMEM) abort();
        return 0;
    }
    fuzz_header(h, file_bytes, footer);
    hm__shard_header__free_unpacked(h, NULL);
    return 0;
}
