/* hm_ec.h - Reed-Solomon erasure coding through ISA-L, and the stripe layout.
 *
 * A blob of `size` bytes is cut into stripes of k * chunk_bytes data bytes.
 * Stripe s is k data chunks d_0..d_{k-1} (d_i = bytes [i*chunk, (i+1)*chunk)
 * of the stripe) and m parity chunks computed from them with ISA-L's Cauchy
 * matrix (gf_gen_cauchy1_matrix: any k of the k+m rows invert).  Shard i of
 * the blob is chunk i of every stripe, concatenated; a shard index < k holds
 * data, >= k parity.  The last stripe holds the r remaining bytes: its chunks
 * are tail_chunk = ceil(r / k) bytes each, data zero-padded past the blob's
 * end, so every shard of a blob has the same length and a 5 KiB blob at 8+4
 * does not cost twelve full chunks.
 *
 * The coding matrix and this layout are an on-disk format: known-answer
 * vectors (tests/golden/ec/) pin parity bytes for every profile, and
 * hm_ec_selftest() re-derives them at daemon start.
 *
 * Thread-safe: codecs are immutable once made and shared; decode tables are
 * cached per (k, m, erasure pattern) under a lock.
 */
#ifndef HM_EC_H
#define HM_EC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HM_EC_K_MAX 16u
#define HM_EC_M_MAX 4u
#define HM_EC_SHARDS_MAX (HM_EC_K_MAX + HM_EC_M_MAX)

/* A profile: k data + m parity shards per stripe, chunk_bytes per shard per
 * full stripe (a multiple of HM_SHARD_BLOCK_BYTES, so CRC blocks never
 * straddle a chunk), stripe_bytes = k * chunk_bytes. */
typedef struct hm_ec_profile {
    uint32_t k;
    uint32_t m;
    uint32_t chunk_bytes;
    uint32_t stripe_bytes;
} hm_ec_profile;

/* The profile for `domains` failure domains (disks on one node, nodes in a
 * cluster): the table in docs/erasure-coding.md.  domains >= 1. */
hm_ec_profile hm_ec_profile_for_domains(size_t domains);

/* The profile recorded in a manifest or shard header (k, m, stripe_bytes),
 * checked: 1 <= k <= HM_EC_K_MAX, m <= HM_EC_M_MAX, stripe_bytes a positive
 * multiple of k whose chunk is a multiple of HM_SHARD_BLOCK_BYTES and at most
 * HM_EC_CHUNK_BYTES_MAX.  HM_ECORRUPT otherwise: never trust them. */
#define HM_EC_CHUNK_BYTES_MAX (4u << 20)
int hm_ec_profile_check(uint32_t k, uint32_t m, uint32_t stripe_bytes, hm_ec_profile *out);

/* ---- layout (pure arithmetic; every result checked for overflow) -------- */

typedef struct hm_ec_layout {
    hm_ec_profile p;
    uint64_t size;           /* logical bytes of the blob */
    uint64_t stripes;        /* 0 for an empty blob */
    uint32_t tail_chunk;     /* chunk bytes of the last stripe (chunk_bytes
                              * when the last stripe is full) */
    uint64_t shard_bytes;    /* bytes of every shard's data */
} hm_ec_layout;

/* HM_EINVAL on overflow (size beyond what the profile can address). */
int hm_ec_layout_make(const hm_ec_profile *p, uint64_t size, hm_ec_layout *out);

/* Stripe s's chunk length and its offset inside each shard.  For s at or
 * past l->stripes: chunk 0, offset l->shard_bytes. */
uint32_t hm_ec_layout_chunk(const hm_ec_layout *l, uint64_t s);
uint64_t hm_ec_layout_shard_offset(const hm_ec_layout *l, uint64_t s);
/* Logical bytes of blob data stripe s holds (k * chunk, less the padding of
 * the last one); 0 for s at or past l->stripes. */
uint64_t hm_ec_layout_stripe_data(const hm_ec_layout *l, uint64_t s);

/* The stripes [*first, *last] that hold blob bytes [off, off + len);
 * HM_EINVAL when the span is empty or not inside the blob. */
int hm_ec_layout_span(const hm_ec_layout *l, uint64_t off, uint64_t len, uint64_t *first,
                      uint64_t *last);

/* ---- coding ------------------------------------------------------------- */

typedef struct hm_ec_codec hm_ec_codec;

/* The shared codec for (k, m), made on first use.  HM_EINVAL, HM_ENOMEM. */
int hm_ec_codec_get(uint32_t k, uint32_t m, const hm_ec_codec **out);

/* parity[j] (j < m) = parity chunk j of data[0..k-1], each len bytes.
 * m == 0 is a no-op. */
void hm_ec_encode(const hm_ec_codec *c, size_t len, const uint8_t *const *data,
                  uint8_t *const *parity);

/* Data chunk i's share of the parity: parity[j] ^= (coding row k+j,
 * column i) x data, len bytes each (ISA-L's ec_encode_data_update).
 * Parity chunks that start zeroed and take every data chunk's bytes once,
 * in any order and in any slices [off, off + n) of the chunk (the same
 * offsets in data and parity), end byte for byte equal to hm_ec_encode's:
 * a writer can encode each piece of a stripe as it arrives, while it is
 * still in cache.  Zero data contributes nothing, so a short last stripe's
 * padding need not be fed.  i < k; m == 0 is a no-op. */
void hm_ec_encode_update(const hm_ec_codec *c, size_t len, uint32_t i, const uint8_t *data,
                         uint8_t *const *parity);

/* Rebuild the chunks of one stripe that are missing.  chunks[0..k+m-1]
 * point at len-byte buffers; present[i] says chunk i holds good bytes.  The
 * chunks with present[i] false and want[i] true are rebuilt in place from
 * the first k present ones (want NULL: every missing one).  HM_EUNAVAIL with
 * fewer than k present.  Decode tables are cached per erasure pattern. */
int hm_ec_decode(const hm_ec_codec *c, size_t len, uint8_t *const *chunks, const bool *present,
                 const bool *want);

/* Known answers: encode fixed data for every profile the table can give
 * and decode every erasure pattern of up to m chunks, comparing with the
 * vectors compiled in (the same bytes as tests/golden/ec/).  0, or
 * HM_ECORRUPT naming the first disagreement in the log: a daemon whose
 * ISA-L disagrees must refuse to start. */
int hm_ec_selftest(void);

/* Test only, a planted bug the simulator must catch: decode with one row of
 * the inverted matrix taken from the wrong erasure pattern (tables made
 * while it is set are never cached).  It changes the rebuilt bytes of every
 * pattern of every profile with parity but 1+1, a mirror, where every
 * pattern has the same inverse.  Never set outside tests. */
extern bool hm_ec_plant_wrong_row;

#endif
