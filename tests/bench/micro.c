/* micro.c - hamster-micro: raw single-thread throughput of the per-byte work
 * on the data path, so end-to-end figures can be read against their floors.
 *
 *   hamster-micro [-runs 7] [-ms 300] [-rs K+M]
 *
 * Each kernel runs over 1 MiB buffers (a stripe, HM_STRIPE_BYTES) for about
 * -ms milliseconds per run; the median of -runs runs is printed in GB/s
 * (10^9 bytes of input per second), with the slowest and fastest run.  The
 * kernels: MD5 (the ETag), SHA-256 (signed payloads), CRC32C (shard blocks,
 * common/hm_crc.h), AES-256-GCM encryption (SSE-S3), and Reed-Solomon for
 * every profile of the table with parity (common/hm_ec.h), over one stripe
 * of that profile (input = its stripe_bytes of data):
 *   RS k+m raw       ec_encode_data straight from ISA-L, the floor a PUT's
 *                    encode is held against;
 *   RS k+m encode    hm_ec_encode, what the data path calls;
 *   RS k+m decode    hm_ec_decode rebuilding m data chunks (the worst read:
 *                    m data shards lost) from the rest, tables cached.
 * -rs K+M runs only the three Reed-Solomon lines of that profile of the
 * table, for a benchmark that holds one profile's encode in a PUT
 * against its raw figure (tests/bench/ec-bench.sh).
 * No figure is judged: this is a ruler.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <isa-l/erasure_code.h>
#include <openssl/evp.h>

#include "hm_crc.h"
#include "hm_ec.h"
#include "hm_flags.h"
#include "hm_limits.h"

#define MICRO_BUF_BYTES HM_STRIPE_BYTES
#define MICRO_RUNS_MAX 101
#define MICRO_MS_MAX 10000
#define MICRO_ITERS_MAX 1000000 /* per run, whatever the clock says */

static uint64_t micro_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One kernel: processes MICRO_BUF_BYTES of input once.  Returns 0, or -1 on
 * a library failure (which stops the benchmark). */
typedef int (*micro_fn)(void *ctx);

typedef struct micro_ctx {
    unsigned char *in;
    unsigned char *out;
    uint32_t crc;
    /* erasure coding: one stripe of the profile */
    hm_ec_profile p;
    const hm_ec_codec *codec;
    unsigned char *ec_buf; /* (k + m) * chunk_bytes */
    unsigned char *ec_matrix;
    unsigned char *ec_tables;
    unsigned char *ec_chunks[HM_EC_SHARDS_MAX];
    bool ec_present[HM_EC_SHARDS_MAX];
    /* AES-GCM */
    EVP_CIPHER_CTX *aes;
    unsigned char key[32];
    unsigned char iv[12];
} micro_ctx;

static int micro_digest(const EVP_MD *md, const unsigned char *in)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    return EVP_Digest(in, MICRO_BUF_BYTES, out, &n, md, NULL) == 1 ? 0 : -1;
}

static int micro_md5(void *arg) { return micro_digest(EVP_md5(), ((micro_ctx *)arg)->in); }

static int micro_sha256(void *arg)
{
    return micro_digest(EVP_sha256(), ((micro_ctx *)arg)->in);
}

static int micro_crc32c(void *arg)
{
    micro_ctx *c = arg;
    c->crc = hm_crc32c(c->crc, c->in, MICRO_BUF_BYTES);
    return 0;
}

static int micro_ec_raw(void *arg)
{
    micro_ctx *c = arg;
    int k = (int)c->p.k;
    ec_encode_data((int)c->p.chunk_bytes, k, (int)c->p.m, c->ec_tables, c->ec_chunks,
                   c->ec_chunks + k);
    return 0;
}

static int micro_ec_encode(void *arg)
{
    micro_ctx *c = arg;
    hm_ec_encode(c->codec, c->p.chunk_bytes, (const uint8_t *const *)c->ec_chunks,
                 c->ec_chunks + c->p.k);
    return 0;
}

static int micro_ec_decode(void *arg)
{
    micro_ctx *c = arg;
    return hm_ec_decode(c->codec, c->p.chunk_bytes, c->ec_chunks, c->ec_present, NULL) == 0
               ? 0
               : -1;
}

static int micro_aes_gcm(void *arg)
{
    micro_ctx *c = arg;
    int n = 0, f = 0;
    unsigned char tag[16];
    /* A new IV per call, as each SSE segment would have. */
    c->iv[0]++;
    if (EVP_EncryptInit_ex(c->aes, NULL, NULL, c->key, c->iv) != 1 ||
        EVP_EncryptUpdate(c->aes, c->out, &n, c->in, MICRO_BUF_BYTES) != 1 ||
        EVP_EncryptFinal_ex(c->aes, c->out + n, &f) != 1 ||
        EVP_CIPHER_CTX_ctrl(c->aes, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
        return -1;
    return 0;
}

static int micro_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Run fn (bytes of input per call) for `runs` runs of about ms
 * milliseconds; print the median GB/s. */
static int micro_measure_bytes(const char *name, micro_fn fn, void *ctx, size_t bytes, int runs,
                               int ms)
{
    double gbs[MICRO_RUNS_MAX];
    if (fn(ctx) != 0) return -1; /* warm caches and lazy init */
    for (int r = 0; r < runs; r++) {
        uint64_t t0 = micro_now_ns(), end = t0 + (uint64_t)ms * 1000000ull, t = t0;
        uint64_t iters = 0;
        while (t < end && iters < MICRO_ITERS_MAX) {
            if (fn(ctx) != 0) return -1;
            iters++;
            t = micro_now_ns();
        }
        gbs[r] = (double)(iters * bytes) / (double)(t - t0);
    }
    qsort(gbs, (size_t)runs, sizeof gbs[0], micro_cmp_double);
    printf("  %-22s %8.2f GB/s   (runs %.2f .. %.2f)\n", name, gbs[runs / 2], gbs[0],
           gbs[runs - 1]);
    fflush(stdout);
    return 0;
}

static int micro_measure(const char *name, micro_fn fn, void *ctx, int runs, int ms)
{
    return micro_measure_bytes(name, fn, ctx, MICRO_BUF_BYTES, runs, ms);
}

/* One stripe of profile p: random data, and ISA-L's own Cauchy encode
 * tables for the raw kernel (any k of the k+m rows invert). */
static int micro_ec_setup(micro_ctx *c, hm_ec_profile p)
{
    uint32_t k = p.k, m = p.m;
    c->p = p;
    free(c->ec_matrix);
    free(c->ec_tables);
    free(c->ec_buf);
    c->ec_matrix = malloc((size_t)(k + m) * k);
    c->ec_tables = malloc((size_t)k * m * 32);
    c->ec_buf = malloc((size_t)(k + m) * p.chunk_bytes);
    if (c->ec_matrix == NULL || c->ec_tables == NULL || c->ec_buf == NULL) return -1;
    if (hm_ec_codec_get(k, m, &c->codec) != 0) return -1;
    gf_gen_cauchy1_matrix(c->ec_matrix, (int)(k + m), (int)k);
    ec_init_tables((int)k, (int)m, &c->ec_matrix[k * k], c->ec_tables);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < (size_t)k * p.chunk_bytes; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c->ec_buf[i] = (unsigned char)x;
    }
    for (uint32_t i = 0; i < k + m; i++) {
        c->ec_chunks[i] = c->ec_buf + (size_t)i * p.chunk_bytes;
        /* The decode kernel: the first m data chunks lost. */
        c->ec_present[i] = i >= m;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int64_t runs = 7, ms = 300;
    bool help = false;
    const char *rs = NULL;
    hm_flag flags[] = {
        {"runs", HM_FLAG_INT, &runs, "runs per kernel; the median is printed"},
        {"ms", HM_FLAG_INT, &ms, "milliseconds per run"},
        {"rs", HM_FLAG_STR, &rs, "only Reed-Solomon of this profile, K+M (e.g. 3+2)"},
        {"h", HM_FLAG_BOOL, &help, "print this help"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    int rest = 0;
    if (hm_flags_parse(flags, nflags, argc, argv, 1, &rest) != 0 || rest != argc) return 2;
    if (help) {
        hm_flags_usage(stdout, "hamster-micro [flags]: single-thread GB/s of data-path kernels",
                       flags, nflags);
        return 0;
    }
    if (runs < 1 || runs > MICRO_RUNS_MAX || ms < 1 || ms > MICRO_MS_MAX) {
        fprintf(stderr, "hamster-micro: -runs 1..%d, -ms 1..%d\n", MICRO_RUNS_MAX, MICRO_MS_MAX);
        return 2;
    }
    hm_ec_profile only = {0, 0, 0, 0};
    if (rs != NULL) {
        unsigned k = 0, m = 0;
        char tail = 0;
        if (sscanf(rs, "%u+%u%c", &k, &m, &tail) == 2) {
            for (size_t d = 2; d <= 13; d++) {
                hm_ec_profile p = hm_ec_profile_for_domains(d);
                if (p.k == k && p.m == m) only = p;
            }
        }
        if (only.k == 0) {
            fprintf(stderr, "hamster-micro: -rs takes a profile of the table with parity "
                            "(docs/erasure-coding.md), e.g. 3+2\n");
            return 2;
        }
    }

    micro_ctx c;
    memset(&c, 0, sizeof c);
    /* Output room for the largest parity (m/k of the input) or GCM output. */
    c.in = malloc(MICRO_BUF_BYTES);
    c.out = malloc(MICRO_BUF_BYTES + 64);
    c.aes = EVP_CIPHER_CTX_new();
    if (c.in == NULL || c.out == NULL || c.aes == NULL) {
        fprintf(stderr, "hamster-micro: out of memory\n");
        return 1;
    }
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < MICRO_BUF_BYTES; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c.in[i] = (unsigned char)x;
    }
    memset(c.key, 0x42, sizeof c.key);
    if (EVP_EncryptInit_ex(c.aes, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c.aes, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1) {
        fprintf(stderr, "hamster-micro: AES-256-GCM unavailable\n");
        return 1;
    }

    printf("hamster-micro: 1 MiB buffers, single thread, median of %" PRId64 " runs x %" PRId64
           " ms\n", runs, ms);
    int rc = 0;
    if (rs == NULL) {
        rc |= micro_measure("MD5", micro_md5, &c, (int)runs, (int)ms);
        rc |= micro_measure("SHA-256", micro_sha256, &c, (int)runs, (int)ms);
        rc |= micro_measure("CRC32C", micro_crc32c, &c, (int)runs, (int)ms);
        rc |= micro_measure("AES-256-GCM encrypt", micro_aes_gcm, &c, (int)runs, (int)ms);
    }
    /* Every profile of the table with parity (D = 2..13), once each; or
     * the one -rs names. */
    hm_ec_profile last = {0, 0, 0, 0};
    for (size_t d = 2; d <= 13 && rc == 0; d++) {
        hm_ec_profile p = rs != NULL ? only : hm_ec_profile_for_domains(d);
        if (p.k == last.k && p.m == last.m) continue;
        last = p;
        if (micro_ec_setup(&c, p) != 0) {
            fprintf(stderr, "hamster-micro: out of memory\n");
            return 1;
        }
        char name[48];
        printf("  RS %u+%u: stripe %u KiB (%u x %u KiB chunks)\n", p.k, p.m,
               p.stripe_bytes >> 10, p.k, p.chunk_bytes >> 10);
        snprintf(name, sizeof name, "RS %u+%u raw", p.k, p.m);
        rc |= micro_measure_bytes(name, micro_ec_raw, &c, p.stripe_bytes, (int)runs, (int)ms);
        snprintf(name, sizeof name, "RS %u+%u encode", p.k, p.m);
        rc |= micro_measure_bytes(name, micro_ec_encode, &c, p.stripe_bytes, (int)runs, (int)ms);
        snprintf(name, sizeof name, "RS %u+%u decode -%u", p.k, p.m, p.m);
        rc |= micro_measure_bytes(name, micro_ec_decode, &c, p.stripe_bytes, (int)runs, (int)ms);
    }
    if (rc != 0) fprintf(stderr, "hamster-micro: a kernel failed\n");
    EVP_CIPHER_CTX_free(c.aes);
    free(c.ec_matrix);
    free(c.ec_tables);
    free(c.ec_buf);
    free(c.in);
    free(c.out);
    return rc != 0;
}
