/* hb_util.c - hamster-bench helpers: size and duration parsing, the seeded
 * PRNG (xoshiro256**), and the cyclic random payload every object is cut
 * from.  Cutting objects from one buffer keeps PUT bodies free of per-op
 * generation cost and lets any object's MD5 be recomputed from (offset, size).
 */
#include "hb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

const char *hb_op_name(enum hb_op op)
{
    switch (op) {
    case HB_OP_PUT: return "PUT";
    case HB_OP_GET: return "GET";
    case HB_OP_STAT: return "STAT";
    case HB_OP_LIST: return "LIST";
    case HB_OP_DELETE: return "DELETE";
    case HB_OP_COUNT: break;
    }
    return "?";
}

/* ---- parsing ------------------------------------------------------------ */

static const struct {
    const char *suffix;
    uint64_t mult;
} util_units[] = {
    {"", 1},           {"B", 1},
    {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
    {"K", 1ull << 10},   {"M", 1ull << 20},   {"G", 1ull << 30},
    {"k", 1ull << 10},   {"m", 1ull << 20},   {"g", 1ull << 30},
    {"KB", 1000ull},     {"MB", 1000000ull},  {"GB", 1000000000ull},
    {"kB", 1000ull},
};

int hb_parse_bytes(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s) return -1;
    for (size_t i = 0; i < sizeof util_units / sizeof util_units[0]; i++) {
        if (strcmp(end, util_units[i].suffix) != 0) continue;
        /* Overflow is checked before the multiply. */
        if (v > HB_OBJECT_BYTES_MAX / util_units[i].mult) return -1;
        *out = (uint64_t)v * util_units[i].mult;
        return 0;
    }
    return -1;
}

int hb_parse_size_range(const char *s, uint64_t *min, uint64_t *max)
{
    const char *dash = strchr(s, '-');
    if (dash == NULL) {
        if (hb_parse_bytes(s, min) != 0) return -1;
        *max = *min;
        return 0;
    }
    char first[64];
    size_t n = (size_t)(dash - s);
    if (n == 0 || n >= sizeof first) return -1;
    memcpy(first, s, n);
    first[n] = '\0';
    if (hb_parse_bytes(first, min) != 0 || hb_parse_bytes(dash + 1, max) != 0) return -1;
    return *min <= *max ? 0 : -1;
}

int hb_parse_duration_ms(const char *s, int64_t *out_ms)
{
    if (s == NULL || *s < '0' || *s > '9') return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || v < 0) return -1;
    long long mult;
    if (strcmp(end, "ms") == 0) mult = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0') mult = 1000;
    else if (strcmp(end, "m") == 0) mult = 60 * 1000;
    else if (strcmp(end, "h") == 0) mult = 3600 * 1000;
    else return -1;
    if (v > HB_DURATION_MS_MAX / mult) return -1;
    *out_ms = (int64_t)(v * mult);
    return 0;
}

void hb_format_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    double v = (double)n;
    while (v >= 1024.0 && u + 1 < sizeof names / sizeof names[0]) {
        v /= 1024.0;
        u++;
    }
    if (v == (double)(uint64_t)v)
        snprintf(buf, cap, "%" PRIu64 " %s", (uint64_t)v, names[u]);
    else
        snprintf(buf, cap, "%.1f %s", v, names[u]);
}

/* ---- PRNG: xoshiro256** seeded by splitmix64 ----------------------------- */

static uint64_t util_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void hb_rng_seed(hb_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = util_splitmix(&seed);
}

static uint64_t util_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t hb_rng_next(hb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = util_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = util_rotl(s[3], 45);
    return result;
}

uint64_t hb_rng_below(hb_rng *r, uint64_t n)
{
    /* Rejection keeps the draw unbiased; expected iterations < 2, and the
     * bound makes the loop finite even for a broken generator. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (int i = 0; i < 64; i++) {
        uint64_t v = hb_rng_next(r);
        if (v < limit) return v % n;
    }
    return hb_rng_next(r) % n;
}

/* ---- payload ------------------------------------------------------------ */

int hb_payload_init(hb_payload *p, uint64_t seed)
{
    p->len = HB_PAYLOAD_BYTES;
    p->buf = malloc(p->len);
    if (p->buf == NULL) return -1;
    hb_rng r;
    hb_rng_seed(&r, seed ^ 0x68616D7374657221ull);
    size_t i = 0;
    for (; i + 8 <= p->len; i += 8) {
        uint64_t v = hb_rng_next(&r);
        memcpy(p->buf + i, &v, 8);
    }
    uint64_t v = hb_rng_next(&r);
    memcpy(p->buf + i, &v, p->len - i);
    return 0;
}

void hb_payload_free(hb_payload *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = 0;
}

size_t hb_payload_read(const hb_payload *p, uint64_t offset, uint64_t size,
                       uint64_t pos, void *dst, size_t cap)
{
    if (pos >= size) return 0;
    uint64_t left = size - pos;
    size_t want = left < cap ? (size_t)left : cap;
    size_t done = 0;
    unsigned char *out = dst;
    while (done < want) {
        size_t at = (size_t)((offset + pos + done) % p->len);
        size_t run = p->len - at;
        if (run > want - done) run = want - done;
        memcpy(out + done, p->buf + at, run);
        done += run;
    }
    return done;
}

int hb_payload_md5(const hb_payload *p, uint64_t offset, uint64_t size,
                   unsigned char md5[16])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) return -1;
    int ok = EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    uint64_t pos = 0;
    while (ok && pos < size) {
        size_t at = (size_t)((offset + pos) % p->len);
        uint64_t run = p->len - at;
        if (run > size - pos) run = size - pos;
        ok = EVP_DigestUpdate(ctx, p->buf + at, (size_t)run);
        pos += run;
    }
    unsigned int n = 0;
    if (ok) ok = EVP_DigestFinal_ex(ctx, md5, &n);
    EVP_MD_CTX_free(ctx);
    return ok && n == 16 ? 0 : -1;
}
