/* frame.c - the 32-byte RPC frame header: encode and validate.
 *
 * Pure functions, no I/O, so they can be fuzzed and pinned by a golden file.
 * The header carries its own CRC32C: a corrupted length must be caught
 * before anything is sized by it, and TLS alone would not catch our own
 * framing bugs.  Every field is little-endian, written byte by byte so the
 * code does not depend on the host's byte order or alignment.
 */
#include "hm_rpc.h"

#include "hm_crc.h"
#include "hm_err.h"
#include "hm_limits.h"

_Static_assert(HM_RPC_FRAME_HDR_BYTES == 32, "the header layout is 32 bytes");

/* Every flag bit this wire version defines. */
#define FRAME_FLAGS_KNOWN ((uint32_t)HM_FRAME_F_MORE)

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* See hm_rpc.h.  The caller guarantees the lengths are within limits (a
 * header that breaks them is still encoded, and refused by the decoder). */
void hm_frame_hdr_encode(const hm_frame_hdr *h, uint8_t out[32])
{
    put_le32(out + 0, HM_FRAME_MAGIC);
    put_le16(out + 4, (uint16_t)HM_WIRE_VERSION);
    put_le16(out + 6, h->type);
    put_le64(out + 8, h->req_id);
    put_le32(out + 16, h->flags);
    put_le32(out + 20, h->proto_len);
    put_le32(out + 24, h->bulk_len);
    put_le32(out + 28, hm_crc32c(0, out, 28));
}

/* See hm_rpc.h.  Checks run from the cheapest to the most specific; the
 * CRC is checked before the version so that a corrupted version field
 * reads as corruption, not as a peer from the future. */
int hm_frame_hdr_decode(const uint8_t in[32], hm_frame_hdr *out)
{
    if (get_le32(in + 0) != HM_FRAME_MAGIC) return HM_EPROTO;
    if (get_le32(in + 28) != hm_crc32c(0, in, 28)) return HM_EPROTO;
    if (get_le16(in + 4) != HM_WIRE_VERSION) return HM_EVERSION;

    hm_frame_hdr h;
    h.type = get_le16(in + 6);
    h.req_id = get_le64(in + 8);
    h.flags = get_le32(in + 16);
    h.proto_len = get_le32(in + 20);
    h.bulk_len = get_le32(in + 24);
    if ((h.flags & ~FRAME_FLAGS_KNOWN) != 0) return HM_EPROTO;
    if (h.proto_len > HM_RPC_PROTO_BYTES_MAX) return HM_EPROTO;
    if (h.bulk_len > HM_RPC_BULK_BYTES_MAX) return HM_EPROTO;
    *out = h;
    return 0;
}
