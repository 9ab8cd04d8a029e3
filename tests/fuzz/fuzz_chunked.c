/* fuzz_chunked.c - the aws-chunked decoder fed hostile bodies in random
 * slices, in each of the three modes, with a fixed signing key and seed.
 * The slicing must not change the outcome: the body fed whole gives the
 * same result and, on success, the same decoded bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_chunked.h"
#include "hm_err.h"

#define FUZZ_BODY_BYTES_MAX (256u << 10)

static const uint8_t fuzz_key[HM_SIGV4_KEY_BYTES] = {
    0x4c, 0x5a, 0x31, 0x9d, 0x2e, 0x01, 0x77, 0x8b, 0x10, 0x42, 0xaa, 0x5f, 0x03, 0x9e, 0x61, 0x2c,
    0xd4, 0x88, 0x17, 0x6b, 0x90, 0x3a, 0xee, 0x25, 0x49, 0xc1, 0x0f, 0x73, 0xb6, 0x58, 0x0d, 0xfa,
};

typedef struct fuzz_out {
    uint64_t bytes;
    uint32_t hash;
} fuzz_out;

static int fuzz_sink(void *ctx, const void *d, size_t n)
{
    fuzz_out *o = ctx;
    const uint8_t *p = d;
    for (size_t i = 0; i < n; i++) o->hash = (o->hash ^ p[i]) * 16777619u;
    o->bytes += n;
    return 0;
}

static int fuzz_run(const hm_chunked_config *cfg, const uint8_t *body, size_t len,
                    const uint8_t *cuts, size_t ncuts, fuzz_out *o, hm_chunked_reason *why)
{
    hm_chunked *d = NULL;
    int rc = hm_chunked_new(&d, cfg);
    if (rc != 0) abort();
    o->hash = 2166136261u;
    size_t at = 0;
    for (size_t i = 0; rc == 0 && at < len; i++) {
        size_t n = i < ncuts ? (size_t)cuts[i] : len - at;
        if (n > len - at) n = len - at;
        rc = hm_chunked_feed(d, body + at, n, fuzz_sink, o);
        at += n;
    }
    if (rc == 0) rc = hm_chunked_finish(d);
    if (rc == 0) {
        if (hm_chunked_decoded(d) != cfg->decoded_length || o->bytes != cfg->decoded_length)
            abort();
        hm_cksum_value v;
        int tr = hm_chunked_trailer_checksum(d, &v);
        if (tr != 0 && tr != HM_ENOENT) abort();
    }
    *why = hm_chunked_reason_of(d);
    if ((rc == 0) != (*why == HM_CHUNKED_OK)) abort();
    hm_chunked_free(d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* mode byte, 2 bytes of decoded length, slice count, slices, body */
    if (size < 4) return 0;
    uint8_t mode = data[0];
    uint64_t decoded = (uint64_t)data[1] | (uint64_t)data[2] << 8;
    size_t ncuts = data[3];
    data += 4;
    size -= 4;
    if (size < ncuts) return 0;
    const uint8_t *cuts = data;
    const uint8_t *body = data + ncuts;
    size_t len = size - ncuts;
    if (len > FUZZ_BODY_BYTES_MAX) return 0;

    hm_chunked_config cfg = {
        .mode = (hm_chunked_mode)(1 + mode % 3),
        .decoded_length = decoded,
        .trailer_algo = (hm_cksum_algo)((mode / 3) % HM_CKSUM_ALGO_COUNT),
        .signing_key = fuzz_key,
        .amz_date = "20130524T000000Z",
        .scope = "20130524/us-east-1/s3/aws4_request",
        .seed_signature = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    };
    if (cfg.mode == HM_CHUNKED_SIGNED) cfg.trailer_algo = HM_CKSUM_NONE;
    fuzz_out a = {0}, b = {0};
    hm_chunked_reason wa, wb;
    int ra = fuzz_run(&cfg, body, len, cuts, ncuts, &a, &wa);
    int rb = fuzz_run(&cfg, body, len, NULL, 0, &b, &wb);
    if (ra != rb || wa != wb) abort();
    if (ra == 0 && (a.bytes != b.bytes || a.hash != b.hash)) abort();
    return 0;
}
