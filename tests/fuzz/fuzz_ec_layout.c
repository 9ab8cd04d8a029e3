/* fuzz_ec_layout.c - erasure-coding profile and stripe layout fields from
 * a hostile manifest or shard header: hm_ec_profile_check on (k, m,
 * stripe_bytes), hm_ec_layout_make on the checked profile and on the raw
 * one, the per-stripe arithmetic and hm_ec_layout_span on any size, offset
 * and length, then a short stripe of a valid profile encoded, erased by a
 * hostile pattern and decoded.  Every answer is checked against what the
 * contract in hm_ec.h promises; a wrong one aborts.
 *
 * Input: k, m, stripe_bytes, chunk_bytes (u32 each, little-endian), size,
 * off, len, stripe (u64 each), erasure mask (u32), chunk length (u8), then
 * data bytes for the stripe.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_ec.h"
#include "hm_err.h"
#include "hm_limits.h"

#define FUZZ_FIXED_BYTES (4 * 4 + 4 * 8 + 4 + 1)
#define FUZZ_CHUNK_MAX 64u

static uint64_t fuzz_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void fuzz_layout(const hm_ec_layout *l, uint64_t s, uint64_t off, uint64_t len)
{
    const hm_ec_profile *p = &l->p;
    if (l->size == 0) {
        if (l->stripes != 0 || l->shard_bytes != 0) abort();
    } else {
        if (l->stripes == 0 || l->tail_chunk == 0 || l->tail_chunk > p->chunk_bytes) abort();
        if (l->shard_bytes != (l->stripes - 1) * p->chunk_bytes + l->tail_chunk) abort();
        uint64_t last = l->stripes - 1;
        uint64_t tail_data = hm_ec_layout_stripe_data(l, last);
        if (last * p->stripe_bytes + tail_data != l->size) abort();
        /* Padding of the last stripe is under k bytes. */
        if (tail_data > (uint64_t)p->k * l->tail_chunk ||
            tail_data <= (uint64_t)p->k * (l->tail_chunk - 1))
            abort();
    }
    uint32_t c = hm_ec_layout_chunk(l, s);
    uint64_t o = hm_ec_layout_shard_offset(l, s);
    uint64_t d = hm_ec_layout_stripe_data(l, s);
    if (s >= l->stripes) {
        if (c != 0 || d != 0 || o != l->shard_bytes) abort();
    } else {
        if (c == 0 || c > p->chunk_bytes || o != s * p->chunk_bytes) abort();
        if (o + c > l->shard_bytes || d == 0 || d > (uint64_t)p->k * c) abort();
    }
    uint64_t first = 0, lastsp = 0;
    int rc = hm_ec_layout_span(l, off, len, &first, &lastsp);
    bool inside = len > 0 && off < l->size && len <= l->size - off;
    if (rc == 0) {
        if (!inside) abort();
        if (first > lastsp || lastsp >= l->stripes) abort();
        if (first * p->stripe_bytes > off || off - first * p->stripe_bytes >= p->stripe_bytes)
            abort();
        uint64_t end = off + len - 1;
        if (lastsp * p->stripe_bytes > end || end - lastsp * p->stripe_bytes >= p->stripe_bytes)
            abort();
    } else if (rc != HM_EINVAL || inside) {
        abort();
    }
}

static void fuzz_decode(const hm_ec_profile *p, uint32_t mask, size_t len, const uint8_t *data,
                        size_t n)
{
    const hm_ec_codec *c;
    if (hm_ec_codec_get(p->k, p->m, &c) != 0) abort();
    uint32_t total = p->k + p->m;
    static uint8_t good[HM_EC_SHARDS_MAX][FUZZ_CHUNK_MAX], work[HM_EC_SHARDS_MAX][FUZZ_CHUNK_MAX];
    uint8_t *g[HM_EC_SHARDS_MAX], *w[HM_EC_SHARDS_MAX];
    bool present[HM_EC_SHARDS_MAX];
    uint32_t missing = 0;
    for (uint32_t i = 0; i < total; i++) {
        g[i] = good[i];
        w[i] = work[i];
        for (size_t b = 0; b < len; b++) good[i][b] = n > 0 ? data[(i * len + b) % n] : (uint8_t)b;
    }
    hm_ec_encode(c, len, (const uint8_t *const *)g, g + p->k);
    for (uint32_t i = 0; i < total; i++) {
        present[i] = (mask & (1u << i)) == 0;
        missing += !present[i];
        if (present[i])
            memcpy(work[i], good[i], len);
        else
            memset(work[i], 0xee, len);
    }
    int rc = hm_ec_decode(c, len, w, present, NULL);
    if (missing > p->m) {
        if (rc != HM_EUNAVAIL) abort();
        return;
    }
    if (rc != 0) abort();
    for (uint32_t i = 0; i < total; i++)
        if (memcmp(work[i], good[i], len) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_FIXED_BYTES) return 0;
    uint32_t k = (uint32_t)fuzz_le(data, 4), m = (uint32_t)fuzz_le(data + 4, 4);
    uint32_t stripe = (uint32_t)fuzz_le(data + 8, 4), chunk = (uint32_t)fuzz_le(data + 12, 4);
    uint64_t blob = fuzz_le(data + 16, 8), off = fuzz_le(data + 24, 8);
    uint64_t len = fuzz_le(data + 32, 8), s = fuzz_le(data + 40, 8);
    uint32_t mask = (uint32_t)fuzz_le(data + 48, 4);
    size_t clen = data[52] % (FUZZ_CHUNK_MAX + 1);
    data += FUZZ_FIXED_BYTES;
    size -= FUZZ_FIXED_BYTES;

    hm_ec_profile p;
    int rc = hm_ec_profile_check(k, m, stripe, &p);
    hm_ec_layout l;
    if (rc == 0) {
        if (p.k != k || p.m != m || p.stripe_bytes != stripe || p.k < 1 || p.k > HM_EC_K_MAX ||
            p.m > HM_EC_M_MAX || (uint64_t)p.k * p.chunk_bytes != stripe ||
            p.chunk_bytes % HM_SHARD_BLOCK_BYTES != 0 || p.chunk_bytes == 0 ||
            p.chunk_bytes > HM_EC_CHUNK_BYTES_MAX)
            abort();
        if (hm_ec_layout_make(&p, blob, &l) != 0) abort();
        fuzz_layout(&l, s, off, len);
        fuzz_decode(&p, mask, clen, data, size);
    } else if (rc != HM_ECORRUPT) {
        abort();
    }
    /* The raw fields as a profile struct: refused unless they hold together. */
    hm_ec_profile raw = {k, m, chunk, stripe};
    rc = hm_ec_layout_make(&raw, blob, &l);
    if (rc == 0) {
        if (hm_ec_profile_check(k, m, stripe, &p) != 0 || p.chunk_bytes != chunk) abort();
        fuzz_layout(&l, s, off, len);
    } else if (rc != HM_EINVAL) {
        abort();
    }
    /* The table's profile for a hostile domain count is always valid. */
    hm_ec_profile t = hm_ec_profile_for_domains((size_t)blob);
    if (hm_ec_profile_check(t.k, t.m, t.stripe_bytes, &p) != 0 || p.chunk_bytes != t.chunk_bytes)
        abort();
    return 0;
}
