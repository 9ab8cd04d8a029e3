/* hm_ec.c - Reed-Solomon through ISA-L and the stripe layout; see hm_ec.h.
 *
 * The coding matrix is ISA-L's Cauchy matrix (identity over k rows, then
 * 1 / (i ^ j) in GF(2^8)): every k x k submatrix is invertible, which the
 * Vandermonde variant does not promise for all (k, m).  It is part of the
 * on-disk format, so hm_ec_selftest() re-derives known answers made by an
 * independent GF(2^8) implementation (tests/golden/ec/ec_golden_gen.c).
 *
 * Codecs are made once per (k, m) and never freed: they are immutable apart
 * from their decode-table cache, which has its own lock.  Decoding copies
 * the cached tables out under the lock and runs ISA-L outside it, so
 * concurrent decodes of different stripes only contend for the lookup.
 */
#include "hm_ec.h"

#include <isa-l/erasure_code.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

#include "hm_ec_kat.h"

_Static_assert(HM_EC_CHUNK_BYTES_MAX % HM_SHARD_BLOCK_BYTES == 0, "chunks are whole blocks");
_Static_assert((uint64_t)HM_EC_K_MAX * HM_EC_CHUNK_BYTES_MAX <= UINT32_MAX,
               "stripe_bytes fits uint32");
_Static_assert(HM_EC_SHARDS_MAX <= 32, "erasure patterns are uint32 masks");

bool hm_ec_plant_wrong_row = false;

/* ---- profiles ----------------------------------------------------------- */

/* k+m by failure domains D (index D-1); D beyond the table takes the last
 * row.  From D >= 4 the profile leaves a spare domain (k+m <= D-1), so one
 * domain down still takes writes at the full profile. */
static const struct {
    uint8_t k, m;
} ec_table[] = {
    {1, 0}, {1, 1}, {2, 1}, {2, 1}, {2, 2}, {3, 2}, {4, 2},
    {5, 2}, {6, 2}, {6, 3}, {7, 3}, {8, 3}, {8, 4},
};
#define EC_TABLE_ROWS (sizeof(ec_table) / sizeof(ec_table[0]))

/* round_up(ceil(1 MiB / k), 64 KiB): a stripe near 1 MiB of data whose
 * chunks are whole CRC blocks. */
static uint32_t ec_chunk_for(uint32_t k)
{
    uint32_t per = (HM_STRIPE_BYTES + k - 1) / k;
    return (per + HM_SHARD_BLOCK_BYTES - 1) / HM_SHARD_BLOCK_BYTES * HM_SHARD_BLOCK_BYTES;
}

hm_ec_profile hm_ec_profile_for_domains(size_t domains)
{
    size_t row = domains == 0 ? 0 : domains - 1;
    if (row >= EC_TABLE_ROWS) row = EC_TABLE_ROWS - 1;
    hm_ec_profile p;
    p.k = ec_table[row].k;
    p.m = ec_table[row].m;
    p.chunk_bytes = ec_chunk_for(p.k);
    p.stripe_bytes = p.k * p.chunk_bytes;
    return p;
}

int hm_ec_profile_check(uint32_t k, uint32_t m, uint32_t stripe_bytes, hm_ec_profile *out)
{
    if (k < 1 || k > HM_EC_K_MAX || m > HM_EC_M_MAX) return HM_ECORRUPT;
    if (stripe_bytes == 0 || stripe_bytes % k != 0) return HM_ECORRUPT;
    uint32_t chunk = stripe_bytes / k;
    if (chunk % HM_SHARD_BLOCK_BYTES != 0 || chunk > HM_EC_CHUNK_BYTES_MAX) return HM_ECORRUPT;
    if (out != NULL) {
        out->k = k;
        out->m = m;
        out->chunk_bytes = chunk;
        out->stripe_bytes = stripe_bytes;
    }
    return 0;
}

/* ---- layout ------------------------------------------------------------- */

int hm_ec_layout_make(const hm_ec_profile *p, uint64_t size, hm_ec_layout *out)
{
    hm_ec_profile q;
    /* The profile may come from a manifest: the same checks as for one read
     * from disk, plus chunk_bytes agreeing with stripe_bytes. */
    if (p == NULL || out == NULL) return HM_EINVAL;
    if (hm_ec_profile_check(p->k, p->m, p->stripe_bytes, &q) != 0 ||
        q.chunk_bytes != p->chunk_bytes)
        return HM_EINVAL;
    hm_ec_layout l;
    memset(&l, 0, sizeof l);
    l.p = q;
    l.size = size;
    if (size > 0) {
        /* Without size + stripe - 1, which could wrap. */
        l.stripes = size / q.stripe_bytes + (size % q.stripe_bytes != 0);
        uint64_t last_data = size - (l.stripes - 1) * q.stripe_bytes; /* 1..stripe_bytes */
        l.tail_chunk = (uint32_t)((last_data + q.k - 1) / q.k);
        /* (stripes - 1) * chunk <= size / k: cannot wrap, but say so. */
        uint64_t full = l.stripes - 1;
        if (full > (UINT64_MAX - l.tail_chunk) / q.chunk_bytes) return HM_EINVAL;
        l.shard_bytes = full * q.chunk_bytes + l.tail_chunk;
    }
    *out = l;
    return 0;
}

uint32_t hm_ec_layout_chunk(const hm_ec_layout *l, uint64_t s)
{
    if (s >= l->stripes) return 0;
    return s + 1 == l->stripes ? l->tail_chunk : l->p.chunk_bytes;
}

uint64_t hm_ec_layout_shard_offset(const hm_ec_layout *l, uint64_t s)
{
    /* Past the end: the shard's length, where stripe s would start. */
    if (s >= l->stripes) return l->shard_bytes;
    return s * l->p.chunk_bytes; /* s < stripes: below shard_bytes, no wrap */
}

uint64_t hm_ec_layout_stripe_data(const hm_ec_layout *l, uint64_t s)
{
    if (s >= l->stripes) return 0;
    if (s + 1 < l->stripes) return l->p.stripe_bytes;
    return l->size - s * l->p.stripe_bytes;
}

int hm_ec_layout_span(const hm_ec_layout *l, uint64_t off, uint64_t len, uint64_t *first,
                      uint64_t *last)
{
    if (len == 0 || off >= l->size || len > l->size - off || l->p.stripe_bytes == 0)
        return HM_EINVAL;
    *first = off / l->p.stripe_bytes;
    *last = (off + len - 1) / l->p.stripe_bytes;
    return 0;
}

/* ---- codecs ------------------------------------------------------------- */

#define EC_TBL_BYTES(k, rows) (32u * (k) * (rows))

typedef struct ec_dec_entry {
    uint32_t src_mask; /* the k chunks decoded from */
    uint32_t out_mask; /* the chunks rebuilt */
    uint64_t used;     /* LRU tick; 0 = empty slot */
    uint8_t tbls[EC_TBL_BYTES(HM_EC_K_MAX, HM_EC_M_MAX)];
} ec_dec_entry;

struct hm_ec_codec {
    uint32_t k, m;
    uint8_t enc[HM_EC_SHARDS_MAX * HM_EC_K_MAX];            /* (k+m) x k */
    uint8_t enc_tbls[EC_TBL_BYTES(HM_EC_K_MAX, HM_EC_M_MAX)]; /* parity rows */
    pthread_mutex_t lock;                                     /* guards the cache */
    uint64_t tick;
    ec_dec_entry cache[HM_EC_DECODE_CACHE_ENTRIES];
};

static pthread_mutex_t ec_codecs_lock = PTHREAD_MUTEX_INITIALIZER;
static hm_ec_codec *ec_codecs[HM_EC_K_MAX + 1][HM_EC_M_MAX + 1];

int hm_ec_codec_get(uint32_t k, uint32_t m, const hm_ec_codec **out)
{
    if (k < 1 || k > HM_EC_K_MAX || m > HM_EC_M_MAX || out == NULL) return HM_EINVAL;
    hm_ec_codec *c = __atomic_load_n(&ec_codecs[k][m], __ATOMIC_ACQUIRE);
    if (c != NULL) {
        *out = c;
        return 0;
    }
    pthread_mutex_lock(&ec_codecs_lock);
    c = ec_codecs[k][m];
    if (c == NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL) {
            pthread_mutex_unlock(&ec_codecs_lock);
            return HM_ENOMEM;
        }
        c->k = k;
        c->m = m;
        gf_gen_cauchy1_matrix(c->enc, (int)(k + m), (int)k);
        if (m > 0) ec_init_tables((int)k, (int)m, c->enc + k * k, c->enc_tbls);
        pthread_mutex_init(&c->lock, NULL);
        __atomic_store_n(&ec_codecs[k][m], c, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&ec_codecs_lock);
    *out = c;
    return 0;
}

/* ISA-L takes an int length: feed at most 1 GiB at a time. */
#define EC_SLICE_BYTES ((size_t)1 << 30)

static void ec_run(size_t len, uint32_t k, uint32_t rows, uint8_t *tbls, uint8_t **src,
                   uint8_t **dst)
{
    uint8_t *s[HM_EC_K_MAX], *d[HM_EC_SHARDS_MAX];
    for (size_t off = 0; off < len; off += EC_SLICE_BYTES) {
        size_t n = len - off < EC_SLICE_BYTES ? len - off : EC_SLICE_BYTES;
        for (uint32_t i = 0; i < k; i++) s[i] = src[i] + off;
        for (uint32_t i = 0; i < rows; i++) d[i] = dst[i] + off;
        ec_encode_data((int)n, (int)k, (int)rows, tbls, s, d);
    }
}

void hm_ec_encode(const hm_ec_codec *c, size_t len, const uint8_t *const *data,
                  uint8_t *const *parity)
{
    if (c->m == 0 || len == 0) return;
    /* ISA-L's prototypes are not const-correct; it only reads data. */
    ec_run(len, c->k, c->m, (uint8_t *)c->enc_tbls, (uint8_t **)data, (uint8_t **)parity);
}

void hm_ec_encode_update(const hm_ec_codec *c, size_t len, uint32_t i, const uint8_t *data,
                         uint8_t *const *parity)
{
    if (c->m == 0 || len == 0) return;
    uint8_t *d[HM_EC_M_MAX];
    for (size_t off = 0; off < len; off += EC_SLICE_BYTES) {
        size_t n = len - off < EC_SLICE_BYTES ? len - off : EC_SLICE_BYTES;
        for (uint32_t j = 0; j < c->m; j++) d[j] = parity[j] + off;
        /* ISA-L's prototype is not const-correct; it only reads data. */
        ec_encode_data_update((int)n, (int)c->k, (int)c->m, (int)i, (uint8_t *)c->enc_tbls,
                              (uint8_t *)data + off, d);
    }
}

/* The k x k inverse of the encode rows named by src. */
static int ec_invert(const hm_ec_codec *c, const uint32_t *src, uint8_t *inv)
{
    uint8_t b[HM_EC_K_MAX * HM_EC_K_MAX];
    uint32_t k = c->k;
    for (uint32_t r = 0; r < k; r++) memcpy(b + r * k, c->enc + src[r] * k, k);
    return gf_invert_matrix(b, inv, (int)k) == 0 ? 0 : HM_EINTERNAL;
}

/* Decode tables rebuilding chunks out[0..nout-1] from chunks src[0..k-1]. */
static int ec_decode_tables(const hm_ec_codec *c, const uint32_t *src, const uint32_t *out,
                            uint32_t nout, uint8_t *tbls)
{
    uint32_t k = c->k;
    uint8_t inv[HM_EC_K_MAX * HM_EC_K_MAX];
    uint8_t rows[HM_EC_M_MAX * HM_EC_K_MAX];
    int rc = ec_invert(c, src, inv);
    if (rc != 0) return rc;
    if (hm_ec_plant_wrong_row) {
        /* Planted bug: one row of the inverse from another erasure pattern
         * (the last source swapped for the first chunk not among them). */
        uint32_t alt[HM_EC_K_MAX], used = 0;
        for (uint32_t i = 0; i < k; i++) used |= 1u << src[i];
        memcpy(alt, src, k * sizeof *alt);
        for (uint32_t i = 0; i < c->k + c->m; i++) {
            if ((used & (1u << i)) == 0) {
                alt[k - 1] = i;
                break;
            }
        }
        /* The row used for the first rebuilt chunk: its own for a data
         * chunk; for parity, the row of a data chunk not among the sources
         * both patterns share (every parity row mixes all of them). */
        uint32_t r = out[0];
        if (r >= k) {
            uint32_t common = used & ~(1u << src[k - 1]);
            for (r = 0; r < k && (common & (1u << r)) != 0; r++) {
            }
        }
        uint8_t alt_inv[HM_EC_K_MAX * HM_EC_K_MAX];
        if (r < k && ec_invert(c, alt, alt_inv) == 0) memcpy(inv + r * k, alt_inv + r * k, k);
    }
    for (uint32_t o = 0; o < nout; o++) {
        uint8_t *row = rows + o * k;
        if (out[o] < k) {
            /* A data chunk: its row of the inverse. */
            memcpy(row, inv + out[o] * k, k);
        } else {
            /* A parity chunk: its encode row times the inverse. */
            const uint8_t *e = c->enc + out[o] * k;
            for (uint32_t j = 0; j < k; j++) {
                uint8_t v = 0;
                for (uint32_t t = 0; t < k; t++) v ^= gf_mul(e[t], inv[t * k + j]);
                row[j] = v;
            }
        }
    }
    ec_init_tables((int)k, (int)nout, rows, tbls);
    return 0;
}

int hm_ec_decode(const hm_ec_codec *c, size_t len, uint8_t *const *chunks, const bool *present,
                 const bool *want)
{
    uint32_t k = c->k, n = c->k + c->m;
    uint32_t src[HM_EC_K_MAX], out[HM_EC_SHARDS_MAX];
    uint32_t nsrc = 0, nout = 0, src_mask = 0, out_mask = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (present[i]) {
            if (nsrc < k) {
                src[nsrc++] = i;
                src_mask |= 1u << i;
            }
        } else if (want == NULL || want[i]) {
            out[nout++] = i;
            out_mask |= 1u << i;
        }
    }
    if (nsrc < k) return HM_EUNAVAIL;
    if (nout == 0 || len == 0) return 0;
    /* nsrc == k present leaves at most m missing. */

    uint8_t tbls[EC_TBL_BYTES(HM_EC_K_MAX, HM_EC_M_MAX)];
    size_t tbl_bytes = EC_TBL_BYTES(k, nout);
    hm_ec_codec *mc = (hm_ec_codec *)c; /* the cache is the mutable part */
    bool planted = __atomic_load_n(&hm_ec_plant_wrong_row, __ATOMIC_RELAXED);
    if (planted) {
        /* Never cache what the planted bug makes. */
        int rc = ec_decode_tables(c, src, out, nout, tbls);
        if (rc != 0) return rc;
    } else {
        pthread_mutex_lock(&mc->lock);
        ec_dec_entry *hit = NULL, *victim = &mc->cache[0];
        for (size_t i = 0; i < HM_EC_DECODE_CACHE_ENTRIES; i++) {
            ec_dec_entry *e = &mc->cache[i];
            if (e->used != 0 && e->src_mask == src_mask && e->out_mask == out_mask) {
                hit = e;
                break;
            }
            if (e->used < victim->used) victim = e;
        }
        if (hit == NULL) {
            int rc = ec_decode_tables(c, src, out, nout, victim->tbls);
            if (rc != 0) {
                victim->used = 0;
                pthread_mutex_unlock(&mc->lock);
                return rc;
            }
            victim->src_mask = src_mask;
            victim->out_mask = out_mask;
            hit = victim;
        }
        hit->used = ++mc->tick;
        memcpy(tbls, hit->tbls, tbl_bytes);
        pthread_mutex_unlock(&mc->lock);
    }

    uint8_t *s[HM_EC_K_MAX], *d[HM_EC_SHARDS_MAX];
    for (uint32_t i = 0; i < k; i++) s[i] = chunks[src[i]];
    for (uint32_t i = 0; i < nout; i++) d[i] = chunks[out[i]];
    ec_run(len, k, nout, tbls, s, d);
    return 0;
}

/* ---- self-test ---------------------------------------------------------- */

/* Decode every pattern of 1..m missing chunks of one stripe and compare
 * with the encoded bytes; 0 or HM_ECORRUPT. */
static int ec_selftest_patterns(const hm_ec_codec *c, uint8_t *const *good, uint8_t *const *work,
                                size_t len)
{
    uint32_t n = c->k + c->m;
    bool present[HM_EC_SHARDS_MAX];
    for (uint32_t mask = 1; mask < (1u << n); mask++) {
        if ((uint32_t)__builtin_popcount(mask) > c->m) continue;
        for (uint32_t i = 0; i < n; i++) {
            present[i] = (mask & (1u << i)) == 0;
            if (present[i])
                memcpy(work[i], good[i], len);
            else
                memset(work[i], 0xa5, len);
        }
        int rc = hm_ec_decode(c, len, work, present, NULL);
        if (rc != 0) {
            hm_error("ec", NULL, "self-test: %u+%u decode of erasure pattern 0x%x failed: %s",
                     c->k, c->m, mask, hm_err_name(rc));
            return HM_ECORRUPT;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (memcmp(work[i], good[i], len) != 0) {
                hm_error("ec", NULL,
                         "self-test: %u+%u decode of erasure pattern 0x%x rebuilt chunk %u wrong",
                         c->k, c->m, mask, i);
                return HM_ECORRUPT;
            }
        }
    }
    return 0;
}

int hm_ec_selftest(void)
{
    enum { L = HM_EC_KAT_CHUNK_BYTES };
    static const size_t nkat = sizeof(hm_ec_kats) / sizeof(hm_ec_kats[0]);
    uint8_t *buf = malloc((size_t)2 * HM_EC_SHARDS_MAX * L);
    if (buf == NULL) return HM_ENOMEM;
    uint8_t *good[HM_EC_SHARDS_MAX], *work[HM_EC_SHARDS_MAX];
    for (uint32_t i = 0; i < HM_EC_SHARDS_MAX; i++) {
        good[i] = buf + (size_t)i * L;
        work[i] = buf + (size_t)(HM_EC_SHARDS_MAX + i) * L;
    }
    int ret = 0;
    /* Every profile the table can give must have a vector. */
    for (size_t d = 1; d <= EC_TABLE_ROWS && ret == 0; d++) {
        hm_ec_profile p = hm_ec_profile_for_domains(d);
        size_t j = 0;
        while (j < nkat && !(hm_ec_kats[j].k == p.k && hm_ec_kats[j].m == p.m)) j++;
        if (j == nkat) {
            hm_error("ec", NULL, "self-test: no known answer for profile %u+%u", p.k, p.m);
            ret = HM_ECORRUPT;
        }
    }
    for (size_t j = 0; j < nkat && ret == 0; j++) {
        uint32_t k = hm_ec_kats[j].k, m = hm_ec_kats[j].m;
        const hm_ec_codec *c;
        int rc = hm_ec_codec_get(k, m, &c);
        if (rc != 0) {
            ret = rc == HM_ENOMEM ? rc : HM_ECORRUPT;
            break;
        }
        for (uint32_t i = 0; i < k; i++)
            for (uint32_t b = 0; b < L; b++) good[i][b] = hm_ec_kat_byte(k, m, i, b);
        hm_ec_encode(c, L, (const uint8_t *const *)good, good + k);
        for (uint32_t i = 0; i < m && ret == 0; i++) {
            if (memcmp(good[k + i], hm_ec_kats[j].parity + (size_t)i * L, L) != 0) {
                uint32_t b = 0;
                while (good[k + i][b] == hm_ec_kats[j].parity[(size_t)i * L + b]) b++;
                hm_error("ec", NULL,
                         "self-test: %u+%u parity chunk %u differs from the known answer "
                         "at byte %u (0x%02x, expected 0x%02x)",
                         k, m, i, b, good[k + i][b], hm_ec_kats[j].parity[(size_t)i * L + b]);
                ret = HM_ECORRUPT;
            }
        }
        if (ret == 0) ret = ec_selftest_patterns(c, good, work, L);
    }
    free(buf);
    return ret;
}
