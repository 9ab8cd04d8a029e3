/* test_ec.c - erasure coding (hm_ec): the profile table, hostile profile
 * fields, stripe layout arithmetic, encode and decode of every erasure
 * pattern for every profile, the known-answer vectors pinned in
 * tests/golden/ec/, the self-test and the planted wrong-row bug.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_daemon.h"
#include "hm_ec.h"
#include "hm_ec_kat.h"
#include "hm_err.h"
#include "hm_limits.h"

#define KiB (1u << 10)
#define MiB (1u << 20)

static uint64_t rng_state = 0x48414d5354455231ull;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static void rng_fill(uint64_t *state, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        p[i] = (uint8_t)(x >> 32);
    }
}

/* The distinct profiles of the table, in table order. */
static size_t table_profiles(hm_ec_profile *out)
{
    size_t n = 0;
    for (size_t d = 1; d <= 13; d++) {
        hm_ec_profile p = hm_ec_profile_for_domains(d);
        if (n == 0 || out[n - 1].k != p.k || out[n - 1].m != p.m) out[n++] = p;
    }
    return n;
}

/* A stripe of k+m chunks of len bytes: data random, parity encoded. */
typedef struct stripe {
    uint32_t n;
    size_t len;
    uint8_t *good[HM_EC_SHARDS_MAX];
    uint8_t *work[HM_EC_SHARDS_MAX];
} stripe;

static void stripe_make(stripe *s, const hm_ec_codec *c, uint32_t k, uint32_t m, size_t len,
                        uint64_t *seed)
{
    s->n = k + m;
    s->len = len;
    for (uint32_t i = 0; i < s->n; i++) {
        s->good[i] = malloc(len);
        s->work[i] = malloc(len);
        ck_assert_ptr_nonnull(s->good[i]);
        ck_assert_ptr_nonnull(s->work[i]);
    }
    for (uint32_t i = 0; i < k; i++) rng_fill(seed, s->good[i], len);
    hm_ec_encode(c, len, (const uint8_t *const *)s->good, s->good + k);
}

static void stripe_free(stripe *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        free(s->good[i]);
        free(s->work[i]);
    }
}

/* Copy the good chunks to work, wiping those in mask; present[] follows. */
static void stripe_erase(stripe *s, uint32_t mask, bool *present)
{
    for (uint32_t i = 0; i < s->n; i++) {
        present[i] = (mask & (1u << i)) == 0;
        if (present[i])
            memcpy(s->work[i], s->good[i], s->len);
        else
            memset(s->work[i], 0x5a, s->len);
    }
}

static bool stripe_intact(const stripe *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (memcmp(s->work[i], s->good[i], s->len) != 0) return false;
    return true;
}

/* The table gives the documented k+m for every domain count, chunks near
 * 1 MiB / k in whole CRC blocks, and a spare domain from D >= 4. */
START_TEST(test_profiles_table)
{
    static const uint32_t want[][2] = {
        {1, 0}, {1, 1}, {2, 1}, {2, 1}, {2, 2}, {3, 2}, {4, 2},
        {5, 2}, {6, 2}, {6, 3}, {7, 3}, {8, 3}, {8, 4},
    };
    static const uint32_t chunk_for_k[] = {0,        1024 * KiB, 512 * KiB, 384 * KiB,
                                           256 * KiB, 256 * KiB, 192 * KiB, 192 * KiB,
                                           128 * KiB};
    for (size_t d = 1; d <= 40; d++) {
        hm_ec_profile p = hm_ec_profile_for_domains(d);
        size_t row = d <= 13 ? d - 1 : 12;
        ck_assert_uint_eq(p.k, want[row][0]);
        ck_assert_uint_eq(p.m, want[row][1]);
        ck_assert_uint_eq(p.chunk_bytes, chunk_for_k[p.k]);
        ck_assert_uint_eq(p.stripe_bytes, p.k * p.chunk_bytes);
        ck_assert_uint_eq(p.chunk_bytes % HM_SHARD_BLOCK_BYTES, 0);
        ck_assert_uint_ge(p.stripe_bytes, 1 * MiB);
        ck_assert_uint_le(p.k + p.m, d >= 4 ? d - 1 : d);
        hm_ec_profile q;
        ck_assert_int_eq(hm_ec_profile_check(p.k, p.m, p.stripe_bytes, &q), 0);
        ck_assert_mem_eq(&p, &q, sizeof p);
    }
    /* Today's single-disk blobs (1+0, 1 MiB stripes) are the 1-domain profile. */
    hm_ec_profile one = hm_ec_profile_for_domains(1);
    ck_assert_uint_eq(one.stripe_bytes, HM_STRIPE_BYTES);
}
END_TEST

/* Profile fields from a manifest or shard header are checked, never trusted. */
START_TEST(test_profile_check_hostile)
{
    static const uint32_t bad[][3] = {
        {0, 0, 1 * MiB},
        {0, 2, 0},
        {17, 2, 17 * 64 * KiB},
        {UINT32_MAX, 0, 64 * KiB},
        {4, 5, 4 * 64 * KiB},
        {4, UINT32_MAX, 4 * 64 * KiB},
        {4, 2, 0},
        {3, 2, 1 * MiB},                  /* not a multiple of k */
        {2, 1, 2 * 1000},                 /* chunk not whole blocks */
        {1, 0, 64 * KiB + 1},
        {1, 0, 8 * MiB},                  /* chunk above the maximum */
        {16, 4, 16 * (4 * MiB + 64 * KiB)},
        {1, 0, UINT32_MAX},
        {16, 4, UINT32_MAX},
        {8, 4, UINT32_MAX - (UINT32_MAX % 8)},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hm_ec_profile p = {77, 77, 77, 77};
        ck_assert_msg(hm_ec_profile_check(bad[i][0], bad[i][1], bad[i][2], &p) == HM_ECORRUPT,
                      "accepted k=%u m=%u stripe=%u", bad[i][0], bad[i][1], bad[i][2]);
    }
    hm_ec_profile p;
    ck_assert_int_eq(hm_ec_profile_check(3, 1, 3 * 64 * KiB, &p), 0);
    ck_assert_uint_eq(p.chunk_bytes, 64 * KiB);
    ck_assert_int_eq(hm_ec_profile_check(16, 4, 16 * HM_EC_CHUNK_BYTES_MAX, &p), 0);
    ck_assert_uint_eq(p.chunk_bytes, HM_EC_CHUNK_BYTES_MAX);
    ck_assert_int_eq(hm_ec_profile_check(1, 0, 64 * KiB, NULL), 0);
}
END_TEST

/* Sum of stripe data is the size; offsets follow chunks; shard length is
 * the sum of chunks. */
static void layout_consistent(const hm_ec_layout *l)
{
    uint64_t data = 0, off = 0;
    for (uint64_t s = 0; s < l->stripes; s++) {
        ck_assert_uint_eq(hm_ec_layout_shard_offset(l, s), off);
        uint32_t c = hm_ec_layout_chunk(l, s);
        uint64_t sd = hm_ec_layout_stripe_data(l, s);
        ck_assert_uint_gt(sd, 0);
        ck_assert_uint_le(sd, (uint64_t)l->p.k * c);
        ck_assert_uint_gt(sd, (uint64_t)l->p.k * (c - 1)); /* padding < k bytes */
        off += c;
        data += sd;
    }
    ck_assert_uint_eq(off, l->shard_bytes);
    ck_assert_uint_eq(data, l->size);
    ck_assert_uint_eq(hm_ec_layout_chunk(l, l->stripes), 0);
    ck_assert_uint_eq(hm_ec_layout_stripe_data(l, l->stripes), 0);
}

/* Empty, one byte, whole stripes and a short tail stripe. */
START_TEST(test_layout)
{
    hm_ec_profile p = hm_ec_profile_for_domains(13); /* 8+4, 128 KiB chunks */
    hm_ec_layout l;

    ck_assert_int_eq(hm_ec_layout_make(&p, 0, &l), 0);
    ck_assert_uint_eq(l.stripes, 0);
    ck_assert_uint_eq(l.shard_bytes, 0);
    ck_assert_uint_eq(l.tail_chunk, 0);
    ck_assert_uint_eq(hm_ec_layout_chunk(&l, 0), 0);
    layout_consistent(&l);

    ck_assert_int_eq(hm_ec_layout_make(&p, 1, &l), 0);
    ck_assert_uint_eq(l.stripes, 1);
    ck_assert_uint_eq(l.tail_chunk, 1);
    ck_assert_uint_eq(l.shard_bytes, 1);
    ck_assert_uint_eq(hm_ec_layout_stripe_data(&l, 0), 1);
    layout_consistent(&l);

    /* 5 KiB at 8+4: twelve 640-byte chunks, not twelve full ones. */
    ck_assert_int_eq(hm_ec_layout_make(&p, 5 * KiB, &l), 0);
    ck_assert_uint_eq(l.stripes, 1);
    ck_assert_uint_eq(l.tail_chunk, 640);
    ck_assert_uint_eq(l.shard_bytes, 640);
    layout_consistent(&l);

    ck_assert_int_eq(hm_ec_layout_make(&p, 3ull * p.stripe_bytes, &l), 0);
    ck_assert_uint_eq(l.stripes, 3);
    ck_assert_uint_eq(l.tail_chunk, p.chunk_bytes);
    ck_assert_uint_eq(l.shard_bytes, 3ull * p.chunk_bytes);
    ck_assert_uint_eq(hm_ec_layout_shard_offset(&l, 2), 2ull * p.chunk_bytes);
    layout_consistent(&l);

    ck_assert_int_eq(hm_ec_layout_make(&p, 2ull * p.stripe_bytes + 5001, &l), 0);
    ck_assert_uint_eq(l.stripes, 3);
    ck_assert_uint_eq(l.tail_chunk, 626); /* ceil(5001 / 8) */
    ck_assert_uint_eq(l.shard_bytes, 2ull * p.chunk_bytes + 626);
    ck_assert_uint_eq(hm_ec_layout_stripe_data(&l, 2), 5001);
    ck_assert_uint_eq(hm_ec_layout_chunk(&l, 1), p.chunk_bytes);
    ck_assert_uint_eq(hm_ec_layout_chunk(&l, 2), 626);
    layout_consistent(&l);

    /* 3+2 (384 KiB chunks) with one byte past a stripe. */
    hm_ec_profile q = hm_ec_profile_for_domains(6);
    ck_assert_int_eq(hm_ec_layout_make(&q, (uint64_t)q.stripe_bytes + 1, &l), 0);
    ck_assert_uint_eq(l.stripes, 2);
    ck_assert_uint_eq(l.tail_chunk, 1);
    layout_consistent(&l);

    /* 1+0 is today's layout: the shard is the blob. */
    hm_ec_profile one = hm_ec_profile_for_domains(1);
    ck_assert_int_eq(hm_ec_layout_make(&one, 5 * MiB + 3, &l), 0);
    ck_assert_uint_eq(l.shard_bytes, 5 * MiB + 3);
    layout_consistent(&l);

    /* The largest size addresses without wrapping. */
    ck_assert_int_eq(hm_ec_layout_make(&p, UINT64_MAX, &l), 0);
    ck_assert_uint_eq(l.stripes, UINT64_MAX / p.stripe_bytes + 1);
    ck_assert_uint_le(l.shard_bytes, UINT64_MAX / p.k + p.chunk_bytes);
    uint64_t last = l.stripes - 1;
    ck_assert_uint_eq(hm_ec_layout_shard_offset(&l, last), last * p.chunk_bytes);
    ck_assert_uint_eq(hm_ec_layout_shard_offset(&l, last) + hm_ec_layout_chunk(&l, last),
                      l.shard_bytes);

    /* A profile that does not hold together is refused. */
    hm_ec_profile bad = p;
    bad.chunk_bytes = 64 * KiB;
    ck_assert_int_eq(hm_ec_layout_make(&bad, 100, &l), HM_EINVAL);
    bad = p;
    bad.k = 0;
    ck_assert_int_eq(hm_ec_layout_make(&bad, 100, &l), HM_EINVAL);
    bad = p;
    bad.stripe_bytes = 0;
    ck_assert_int_eq(hm_ec_layout_make(&bad, 100, &l), HM_EINVAL);
}
END_TEST

/* The stripes holding a byte range; empty or out-of-blob ranges refused. */
START_TEST(test_layout_span)
{
    hm_ec_profile p = hm_ec_profile_for_domains(7); /* 4+2, 1 MiB stripes */
    hm_ec_layout l;
    uint64_t first = 99, last = 99;
    uint64_t sb = p.stripe_bytes;
    ck_assert_int_eq(hm_ec_layout_make(&p, 3 * sb + 10, &l), 0);
    ck_assert_int_eq(hm_ec_layout_span(&l, 0, 1, &first, &last), 0);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(last, 0);
    ck_assert_int_eq(hm_ec_layout_span(&l, sb - 1, 2, &first, &last), 0);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(last, 1);
    ck_assert_int_eq(hm_ec_layout_span(&l, sb, sb, &first, &last), 0);
    ck_assert_uint_eq(first, 1);
    ck_assert_uint_eq(last, 1);
    ck_assert_int_eq(hm_ec_layout_span(&l, 0, 3 * sb + 10, &first, &last), 0);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(last, 3);
    ck_assert_int_eq(hm_ec_layout_span(&l, 3 * sb + 9, 1, &first, &last), 0);
    ck_assert_uint_eq(first, 3);
    ck_assert_uint_eq(last, 3);

    ck_assert_int_eq(hm_ec_layout_span(&l, 0, 0, &first, &last), HM_EINVAL);
    ck_assert_int_eq(hm_ec_layout_span(&l, 3 * sb + 10, 1, &first, &last), HM_EINVAL);
    ck_assert_int_eq(hm_ec_layout_span(&l, 3 * sb + 9, 2, &first, &last), HM_EINVAL);
    ck_assert_int_eq(hm_ec_layout_span(&l, 1, UINT64_MAX, &first, &last), HM_EINVAL);
    ck_assert_int_eq(hm_ec_layout_span(&l, UINT64_MAX, 1, &first, &last), HM_EINVAL);
    ck_assert_int_eq(hm_ec_layout_span(&l, UINT64_MAX, UINT64_MAX, &first, &last), HM_EINVAL);

    ck_assert_int_eq(hm_ec_layout_make(&p, 0, &l), 0);
    ck_assert_int_eq(hm_ec_layout_span(&l, 0, 1, &first, &last), HM_EINVAL);

    ck_assert_int_eq(hm_ec_layout_make(&p, UINT64_MAX, &l), 0);
    ck_assert_int_eq(hm_ec_layout_span(&l, UINT64_MAX - 1, 1, &first, &last), 0);
    ck_assert_uint_eq(first, (UINT64_MAX - 1) / sb);
    ck_assert_uint_eq(last, first);
}
END_TEST

/* Codecs exist for every valid (k, m), one per pair; others are refused. */
START_TEST(test_codec_get)
{
    const hm_ec_codec *a, *b;
    ck_assert_int_eq(hm_ec_codec_get(0, 0, &a), HM_EINVAL);
    ck_assert_int_eq(hm_ec_codec_get(HM_EC_K_MAX + 1, 0, &a), HM_EINVAL);
    ck_assert_int_eq(hm_ec_codec_get(4, HM_EC_M_MAX + 1, &a), HM_EINVAL);
    ck_assert_int_eq(hm_ec_codec_get(UINT32_MAX, UINT32_MAX, &a), HM_EINVAL);
    ck_assert_int_eq(hm_ec_codec_get(8, 4, &a), 0);
    ck_assert_int_eq(hm_ec_codec_get(8, 4, &b), 0);
    ck_assert_ptr_eq(a, b);
    ck_assert_int_eq(hm_ec_codec_get(8, 3, &b), 0);
    ck_assert_ptr_ne(a, b);
    ck_assert_int_eq(hm_ec_codec_get(HM_EC_K_MAX, HM_EC_M_MAX, &b), 0);
}
END_TEST

/* Every erasure pattern of up to m chunks rebuilds byte-identical chunks,
 * for every profile of the table and a few others, at a length that is not
 * a multiple of the vector width. */
START_TEST(test_encode_decode_all_patterns)
{
    hm_ec_profile tab[16];
    size_t n = table_profiles(tab);
    static const uint32_t extra[][2] = {{3, 1}, {4, 4}, {16, 4}, {10, 4}};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        tab[n].k = extra[i][0];
        tab[n].m = extra[i][1];
        n++;
    }
    uint64_t seed = 0x1234567;
    for (size_t t = 0; t < n; t++) {
        uint32_t k = tab[t].k, m = tab[t].m;
        const hm_ec_codec *c;
        ck_assert_int_eq(hm_ec_codec_get(k, m, &c), 0);
        stripe s;
        stripe_make(&s, c, k, m, 4096 + 37, &seed);
        bool present[HM_EC_SHARDS_MAX];
        size_t patterns = 0;
        for (uint32_t mask = 0; mask < (1u << s.n); mask++) {
            if ((uint32_t)__builtin_popcount(mask) > m) continue;
            /* Skip most wide patterns at 16+4 to keep the run short. */
            if (k + m > 14 && (rng_next() % 64) != 0 && mask != 0) continue;
            stripe_erase(&s, mask, present);
            ck_assert_int_eq(hm_ec_decode(c, s.len, s.work, present, NULL), 0);
            ck_assert_msg(stripe_intact(&s), "%u+%u pattern 0x%x rebuilt wrong", k, m, mask);
            patterns++;
        }
        ck_assert_uint_gt(patterns, 0);
        stripe_free(&s);
    }
}
END_TEST

/* Only wanted chunks are rebuilt; present chunks beyond the first k are not
 * read (corrupting one changes nothing). */
START_TEST(test_decode_want_and_first_k)
{
    const hm_ec_codec *c;
    ck_assert_int_eq(hm_ec_codec_get(4, 2, &c), 0);
    uint64_t seed = 99;
    stripe s;
    stripe_make(&s, c, 4, 2, 1000, &seed);
    bool present[HM_EC_SHARDS_MAX];
    bool want[HM_EC_SHARDS_MAX] = {false};
    stripe_erase(&s, (1u << 1) | (1u << 4), present);
    want[1] = true;
    ck_assert_int_eq(hm_ec_decode(c, s.len, s.work, present, want), 0);
    ck_assert_mem_eq(s.work[1], s.good[1], s.len);
    for (size_t b = 0; b < s.len; b++) ck_assert_uint_eq(s.work[4][b], 0x5a);

    /* Chunk 1 missing: sources are 0, 2, 3, 4; chunk 5 is spare. */
    stripe_erase(&s, 1u << 1, present);
    memset(s.work[5], 0xff, s.len);
    ck_assert_int_eq(hm_ec_decode(c, s.len, s.work, present, NULL), 0);
    ck_assert_mem_eq(s.work[1], s.good[1], s.len);

    /* Nothing missing, or nothing wanted: nothing changes. */
    stripe_erase(&s, 0, present);
    ck_assert_int_eq(hm_ec_decode(c, s.len, s.work, present, NULL), 0);
    ck_assert(stripe_intact(&s));
    stripe_erase(&s, 1u << 2, present);
    memset(want, 0, sizeof want);
    ck_assert_int_eq(hm_ec_decode(c, s.len, s.work, present, want), 0);
    for (size_t b = 0; b < s.len; b++) ck_assert_uint_eq(s.work[2][b], 0x5a);
    stripe_free(&s);
}
END_TEST

/* More than m missing is HM_EUNAVAIL and touches no chunk. */
START_TEST(test_decode_unavailable)
{
    hm_ec_profile tab[16];
    size_t n = table_profiles(tab);
    uint64_t seed = 7;
    for (size_t t = 0; t < n; t++) {
        uint32_t k = tab[t].k, m = tab[t].m;
        const hm_ec_codec *c;
        ck_assert_int_eq(hm_ec_codec_get(k, m, &c), 0);
        stripe s;
        stripe_make(&s, c, k, m, 257, &seed);
        bool present[HM_EC_SHARDS_MAX];
        for (uint32_t mask = 0; mask < (1u << s.n); mask++) {
            if ((uint32_t)__builtin_popcount(mask) != m + 1) continue;
            if (k + m > 10 && (rng_next() % 16) != 0) continue;
            stripe_erase(&s, mask, present);
            ck_assert_int_eq(hm_ec_decode(c, s.len, s.work, present, NULL), HM_EUNAVAIL);
            for (uint32_t i = 0; i < s.n; i++) {
                if (present[i])
                    ck_assert_mem_eq(s.work[i], s.good[i], s.len);
                else
                    for (size_t b = 0; b < s.len; b++) ck_assert_uint_eq(s.work[i][b], 0x5a);
            }
        }
        stripe_free(&s);
    }
}
END_TEST

/* Encode of an empty chunk and of a 1+0 profile do nothing. */
START_TEST(test_encode_trivial)
{
    const hm_ec_codec *c;
    ck_assert_int_eq(hm_ec_codec_get(1, 0, &c), 0);
    uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint8_t *data[1] = {d};
    hm_ec_encode(c, sizeof d, data, NULL);
    bool present[1] = {false};
    uint8_t *chunks[1] = {d};
    ck_assert_int_eq(hm_ec_decode(c, sizeof d, chunks, present, NULL), HM_EUNAVAIL);
    present[0] = true;
    ck_assert_int_eq(hm_ec_decode(c, sizeof d, chunks, present, NULL), 0);

    ck_assert_int_eq(hm_ec_codec_get(2, 1, &c), 0);
    uint8_t p[4] = {9, 9, 9, 9};
    const uint8_t *data2[2] = {d, d + 4};
    uint8_t *par[1] = {p};
    hm_ec_encode(c, 0, data2, par);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(p[i], 9);
    /* Short chunks (below ISA-L's vector width) still code correctly. */
    for (size_t len = 1; len <= 70; len++) {
        uint64_t seed = len;
        stripe s;
        stripe_make(&s, c, 2, 1, len, &seed);
        bool pr[3];
        for (uint32_t mask = 1; mask < 8; mask <<= 1) {
            stripe_erase(&s, mask, pr);
            ck_assert_int_eq(hm_ec_decode(c, len, s.work, pr, NULL), 0);
            ck_assert(stripe_intact(&s));
        }
        stripe_free(&s);
    }
}
END_TEST

/* Parity built by hm_ec_encode_update (zeroed parity, every data chunk fed
 * once in uneven slices and a scrambled chunk order) is byte for byte the
 * one-shot hm_ec_encode's, for every profile of the table with parity, at
 * a full chunk and at the short chunk lengths of last stripes (below, at
 * and past ISA-L's vector widths); the 1+0 profile's update is a no-op. */
START_TEST(test_encode_update_matches)
{
    hm_ec_profile ps[16];
    size_t np = table_profiles(ps);
    uint64_t seed = 77;
    for (size_t pi = 0; pi < np; pi++) {
        uint32_t k = ps[pi].k, m = ps[pi].m;
        const hm_ec_codec *c;
        ck_assert_int_eq(hm_ec_codec_get(k, m, &c), 0);
        if (m == 0) {
            uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
            hm_ec_encode_update(c, sizeof d, 0, d, NULL);
            continue;
        }
        size_t lens[] = {1, 15, 31, 32, 33, 63, 64, 65, 127, 4115, 64 * KiB + 1,
                         ps[pi].chunk_bytes - 1, ps[pi].chunk_bytes};
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t len = lens[li];
            stripe st;
            stripe_make(&st, c, k, m, len, &seed);
            uint8_t *par[HM_EC_M_MAX];
            for (uint32_t j = 0; j < m; j++) {
                par[j] = st.work[k + j];
                memset(par[j], 0, len);
            }
            /* chunks in the order 1, 3, 5, ..., 0, 2, 4, ...: the order
             * must not matter */
            for (uint32_t t = 0; t < k; t++) {
                uint32_t i = t < k / 2 ? 2 * t + 1 : 2 * (t - k / 2);
                size_t off = 0, piece = 1 + (size_t)(rng_next() % 97);
                uint8_t *pp[HM_EC_M_MAX];
                while (off < len) {
                    size_t n = len - off < piece ? len - off : piece;
                    for (uint32_t j = 0; j < m; j++) pp[j] = par[j] + off;
                    hm_ec_encode_update(c, n, i, st.good[i] + off, pp);
                    off += n;
                    piece = piece * 5 + 3;
                }
            }
            for (uint32_t j = 0; j < m; j++)
                ck_assert_msg(memcmp(par[j], st.good[k + j], len) == 0,
                              "%u+%u len %zu: parity %u differs from the one-shot encode", k, m,
                              len, j);
            stripe_free(&st);
        }
    }
}
END_TEST

/* The golden stripes in tests/golden/ec/ hold the known-answer data and the
 * parity our code makes from it, byte for byte, for every profile of the
 * table; the vectors compiled into the self-test are the same bytes. */
START_TEST(test_goldens)
{
    const char *dir = getenv("HM_GOLDEN_DIR");
    ck_assert_msg(dir != NULL, "HM_GOLDEN_DIR is not set (run through ctest)");
    hm_ec_profile tab[16];
    size_t n = table_profiles(tab);
    ck_assert_uint_eq(n, sizeof hm_ec_kats / sizeof hm_ec_kats[0]);
    const uint32_t L = HM_EC_KAT_CHUNK_BYTES;
    for (size_t t = 0; t < n; t++) {
        uint32_t k = tab[t].k, m = tab[t].m;
        char path[512];
        snprintf(path, sizeof path, "%s/ec/rs_%u_%u.bin", dir, k, m);
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        size_t want = (size_t)(k + m) * L;
        uint8_t *gold = malloc(want + 1);
        ck_assert_ptr_nonnull(gold);
        size_t got = fread(gold, 1, want + 1, f);
        fclose(f);
        ck_assert_msg(got == want, "%s: %zu bytes, want %zu", path, got, want);
        for (uint32_t i = 0; i < k; i++)
            for (uint32_t b = 0; b < L; b++)
                ck_assert_uint_eq(gold[(size_t)i * L + b], hm_ec_kat_byte(k, m, i, b));

        const hm_ec_codec *c;
        ck_assert_int_eq(hm_ec_codec_get(k, m, &c), 0);
        uint8_t *chunks[HM_EC_SHARDS_MAX];
        uint8_t *mine = malloc(want);
        ck_assert_ptr_nonnull(mine);
        memcpy(mine, gold, (size_t)k * L);
        memset(mine + (size_t)k * L, 0, (size_t)m * L);
        for (uint32_t i = 0; i < k + m; i++) chunks[i] = mine + (size_t)i * L;
        hm_ec_encode(c, L, (const uint8_t *const *)chunks, chunks + k);
        ck_assert_msg(memcmp(mine, gold, want) == 0, "%u+%u parity differs from %s", k, m,
                      path);

        size_t j = 0;
        while (j < n && !(hm_ec_kats[j].k == k && hm_ec_kats[j].m == m)) j++;
        ck_assert_uint_lt(j, n);
        if (m > 0)
            ck_assert_mem_eq(hm_ec_kats[j].parity, gold + (size_t)k * L, (size_t)m * L);
        free(mine);
        free(gold);
    }
}
END_TEST

/* The start-up self-test passes on this build. */
START_TEST(test_selftest)
{
    ck_assert_int_eq(hm_ec_selftest(), 0);
    ck_assert_int_eq(hm_ec_selftest(), 0); /* again, with warm caches */
}
END_TEST

/* The planted wrong-row bug makes decode return wrong bytes for every
 * profile with parity, the self-test catches it, and turning it off leaves
 * no wrong table behind in the cache. */
START_TEST(test_planted_wrong_row)
{
    hm_ec_profile tab[16];
    size_t n = table_profiles(tab);
    uint64_t seed = 4242;
    hm_ec_plant_wrong_row = true;
    ck_assert_int_eq(hm_ec_selftest(), HM_ECORRUPT);
    for (size_t t = 0; t < n; t++) {
        uint32_t k = tab[t].k, m = tab[t].m;
        /* 1+1 is a mirror: every erasure pattern has the same one-by-one
         * inverse, so there is no wrong row to take. */
        if (m == 0 || (k == 1 && m == 1)) continue;
        const hm_ec_codec *c;
        ck_assert_int_eq(hm_ec_codec_get(k, m, &c), 0);
        stripe s;
        stripe_make(&s, c, k, m, 512, &seed);
        bool present[HM_EC_SHARDS_MAX];
        size_t wrong = 0, tried = 0;
        for (uint32_t mask = 1; mask < (1u << s.n); mask++) {
            if ((uint32_t)__builtin_popcount(mask) > m) continue;
            stripe_erase(&s, mask, present);
            ck_assert_int_eq(hm_ec_decode(c, s.len, s.work, present, NULL), 0);
            tried++;
            wrong += !stripe_intact(&s);
        }
        ck_assert_msg(wrong == tried, "%u+%u: planted bug went unseen in %zu of %zu patterns",
                      k, m, tried - wrong, tried);
        hm_ec_plant_wrong_row = false;
        for (uint32_t mask = 1; mask < (1u << s.n); mask++) {
            if ((uint32_t)__builtin_popcount(mask) > m) continue;
            stripe_erase(&s, mask, present);
            ck_assert_int_eq(hm_ec_decode(c, s.len, s.work, present, NULL), 0);
            ck_assert(stripe_intact(&s));
        }
        hm_ec_plant_wrong_row = true;
        stripe_free(&s);
    }
    hm_ec_plant_wrong_row = false;
    ck_assert_int_eq(hm_ec_selftest(), 0);
}
END_TEST

/* The start-up check every encoding daemon runs (hamster-gw, hamster serve)
 * passes on this build and refuses when decode is wrong. */
START_TEST(test_daemon_refuses_bad_coding)
{
    ck_assert_int_eq(hm_daemon_ec_selftest("test_ec", "test"), 0);
    hm_ec_plant_wrong_row = true;
    int rc = hm_daemon_ec_selftest("test_ec", "test");
    hm_ec_plant_wrong_row = false;
    ck_assert_int_ne(rc, 0);
    ck_assert_int_eq(hm_daemon_ec_selftest("test_ec", "test"), 0);
}
END_TEST

/* Many threads getting codecs and decoding random patterns at once (more
 * patterns than the cache holds) all get correct bytes. */
#define SMOKE_THREADS 6
#define SMOKE_ROUNDS 400

static void *smoke_thread(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    const hm_ec_codec *c;
    uint32_t k = 8, m = 4;
    if (hm_ec_codec_get(k, m, &c) != 0) return (void *)1;
    stripe s;
    stripe_make(&s, c, k, m, 777, &seed);
    bool present[HM_EC_SHARDS_MAX];
    uintptr_t bad = 0;
    for (int r = 0; r < SMOKE_ROUNDS; r++) {
        uint32_t mask = 0;
        uint32_t nmiss = 1 + (uint32_t)(seed % m);
        while ((uint32_t)__builtin_popcount(mask) < nmiss) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            mask |= 1u << (seed % (k + m));
        }
        stripe_erase(&s, mask, present);
        if (hm_ec_decode(c, s.len, s.work, present, NULL) != 0 || !stripe_intact(&s)) bad++;
    }
    stripe_free(&s);
    return (void *)bad;
}

START_TEST(test_thread_smoke)
{
    pthread_t th[SMOKE_THREADS];
    for (uintptr_t i = 0; i < SMOKE_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, smoke_thread, (void *)(i + 1)), 0);
    for (int i = 0; i < SMOKE_THREADS; i++) {
        void *bad;
        ck_assert_int_eq(pthread_join(th[i], &bad), 0);
        ck_assert_ptr_null(bad);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ec");
    TCase *tc = tcase_create("ec");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_profiles_table);
    tcase_add_test(tc, test_profile_check_hostile);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_layout_span);
    tcase_add_test(tc, test_codec_get);
    tcase_add_test(tc, test_encode_decode_all_patterns);
    tcase_add_test(tc, test_decode_want_and_first_k);
    tcase_add_test(tc, test_decode_unavailable);
    tcase_add_test(tc, test_encode_trivial);
    tcase_add_test(tc, test_encode_update_matches);
    tcase_add_test(tc, test_goldens);
    tcase_add_test(tc, test_selftest);
    tcase_add_test(tc, test_planted_wrong_row);
    tcase_add_test(tc, test_daemon_refuses_bad_coding);
    tcase_add_test(tc, test_thread_smoke);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
