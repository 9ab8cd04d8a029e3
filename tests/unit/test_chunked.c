/* test_chunked.c - the aws-chunked decoder (hm_chunked.h) against the AWS
 * example ("Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks": 66560 bytes of 'a' in chunks of
 * 65536 and 1024), fed in odd slices, plus tampering, truncation, oversize
 * and garbage input, and the two trailer forms with good and bad
 * checksums and signatures. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_checksum.h"
#include "hm_chunked.h"
#include "hm_err.h"
#include "hm_sigv4.h"

#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define AMZ_DATE "20130524T000000Z"
#define SCOPE "20130524/us-east-1/s3/aws4_request"
#define SEED "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define SIG1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define SIG2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define SIG3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
#define EXAMPLE_BYTES 66560u
#define EXAMPLE_BODY_BYTES 66824u

static uint8_t g_key[HM_SIGV4_KEY_BYTES];

static void setup(void)
{
    ck_assert_int_eq(hm_sigv4_signing_key(SK, "20130524", "us-east-1", "s3", g_key), 0);
}

/* A growable byte buffer for building bodies. */
typedef struct buf {
    char *p;
    size_t n;
    size_t cap;
} buf;

static void buf_add(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* The AWS example body, exactly as the page shows it (66824 bytes). */
static buf example_body(void)
{
    buf b = {0};
    char *a = malloc(65536);
    ck_assert_ptr_nonnull(a);
    memset(a, 'a', 65536);
    buf_str(&b, "10000;chunk-signature=" SIG1 "\r\n");
    buf_add(&b, a, 65536);
    buf_str(&b, "\r\n400;chunk-signature=" SIG2 "\r\n");
    buf_add(&b, a, 1024);
    buf_str(&b, "\r\n0;chunk-signature=" SIG3 "\r\n\r\n");
    free(a);
    ck_assert_uint_eq(b.n, EXAMPLE_BODY_BYTES);
    return b;
}

static hm_chunked_config signed_cfg(hm_chunked_mode mode, uint64_t decoded,
                                    hm_cksum_algo algo)
{
    hm_chunked_config c = {
        .mode = mode,
        .decoded_length = decoded,
        .trailer_algo = algo,
        .signing_key = g_key,
        .amz_date = AMZ_DATE,
        .scope = SCOPE,
        .seed_signature = SEED,
    };
    return c;
}

/* The sink of the tests: counts bytes and remembers whether all were 'a'. */
typedef struct sink_state {
    uint64_t bytes;
    bool only_a;
    int fail_after;   /* > 0: fail the call that passes this many calls */
    int calls;
} sink_state;

static int test_sink(void *ctx, const void *data, size_t len)
{
    sink_state *s = ctx;
    s->calls++;
    if (s->fail_after > 0 && s->calls >= s->fail_after) return HM_EIO;
    const char *c = data;
    for (size_t i = 0; i < len; i++)
        if (c[i] != 'a') s->only_a = false;
    s->bytes += len;
    return 0;
}

/* Decode body with cfg, feeding slices of `slice` bytes (0: all at once).
 * Returns the first error of feed or finish. */
static int decode(const hm_chunked_config *cfg, const char *body, size_t n, size_t slice,
                  sink_state *ss, hm_chunked_reason *reason, hm_cksum_value *ck)
{
    hm_chunked *d = NULL;
    ck_assert_int_eq(hm_chunked_new(&d, cfg), 0);
    int rc = 0;
    size_t off = 0;
    while (rc == 0 && off < n) {
        size_t k = slice == 0 || n - off < slice ? n - off : slice;
        rc = hm_chunked_feed(d, body + off, k, test_sink, ss);
        off += k;
    }
    if (rc == 0) rc = hm_chunked_finish(d);
    if (reason != NULL) *reason = hm_chunked_reason_of(d);
    if (rc == 0 && ck != NULL && hm_chunked_trailer_checksum(d, ck) != 0)
        memset(ck, 0, sizeof(*ck));
    if (rc != 0) ck_assert_int_eq(hm_chunked_feed(d, "x", 1, test_sink, ss), rc); /* sticky */
    hm_chunked_free(d);
    return rc;
}

/* The published example decodes to 66560 'a's, whatever the slicing. */
START_TEST(aws_example_odd_slices)
{
    buf b = example_body();
    hm_chunked_config cfg = signed_cfg(HM_CHUNKED_SIGNED, EXAMPLE_BYTES, HM_CKSUM_NONE);
    static const size_t slices[] = {0, 1, 2, 3, 7, 13, 85, 86, 87, 88, 89, 1000, 65535, 65537};
    for (size_t i = 0; i < sizeof(slices) / sizeof(slices[0]); i++) {
        sink_state ss = {.only_a = true};
        hm_chunked_reason why;
        ck_assert_msg(decode(&cfg, b.p, b.n, slices[i], &ss, &why, NULL) == 0,
                      "slice %zu: %s", slices[i], hm_chunked_reason_name(why));
        ck_assert_uint_eq(ss.bytes, EXAMPLE_BYTES);
        ck_assert(ss.only_a);
    }
    free(b.p);
}
END_TEST

/* One changed data byte, or one changed signature digit, in any chunk is
 * refused as a signature failure. */
START_TEST(aws_example_tampered)
{
    buf b = example_body();
    hm_chunked_config cfg = signed_cfg(HM_CHUNKED_SIGNED, EXAMPLE_BYTES, HM_CKSUM_NONE);
    static const size_t spots[] = {88, 88 + 40000, 88 + 65535, 88 + 65538 + 86 + 1023};
    for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
        b.p[spots[i]] = 'b';
        sink_state ss = {.only_a = true};
        hm_chunked_reason why;
        ck_assert_int_eq(decode(&cfg, b.p, b.n, 4096, &ss, &why, NULL), HM_EPERM);
        ck_assert_int_eq(why, HM_CHUNKED_SIGNATURE);
        b.p[spots[i]] = 'a';
    }
    /* the last digit of each chunk signature, the final one included */
    static const size_t sigs[] = {22 + 63, 88 + 65538 + 20 + 63, EXAMPLE_BODY_BYTES - 5};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        char was = b.p[sigs[i]];
        b.p[sigs[i]] = was == '0' ? '1' : '0';
        sink_state ss = {.only_a = true};
        hm_chunked_reason why;
        ck_assert_int_eq(decode(&cfg, b.p, b.n, 0, &ss, &why, NULL), HM_EPERM);
        ck_assert_int_eq(why, HM_CHUNKED_SIGNATURE);
        b.p[sigs[i]] = was;
    }
    /* a different seed breaks the whole chain */
    hm_chunked_config other = cfg;
    other.seed_signature = SIG1;
    sink_state ss = {.only_a = true};
    ck_assert_int_eq(decode(&other, b.p, b.n, 0, &ss, NULL, NULL), HM_EPERM);
    free(b.p);
}
END_TEST

/* Every truncation of the body fails (at the feed or at finish), except
 * the one that drops only the final empty line. */
START_TEST(truncated_bodies)
{
    buf b = example_body();
    hm_chunked_config cfg = signed_cfg(HM_CHUNKED_SIGNED, EXAMPLE_BYTES, HM_CKSUM_NONE);
    for (size_t cut = 0; cut < b.n; cut += (cut < 200 || b.n - cut < 200) ? 1 : 997) {
        sink_state ss = {.only_a = true};
        int rc = decode(&cfg, b.p, cut, 0, &ss, NULL, NULL);
        if (cut == b.n - 2) ck_assert_int_eq(rc, 0);
        else ck_assert_msg(rc != 0, "cut at %zu accepted", cut);
    }
    /* an empty body */
    sink_state ss = {.only_a = true};
    hm_chunked_reason why;
    ck_assert_int_eq(decode(&cfg, "", 0, 0, &ss, &why, NULL), HM_EPROTO);
    ck_assert_int_eq(why, HM_CHUNKED_INCOMPLETE);
    free(b.p);
}
END_TEST

/* The decoded total must be exactly x-amz-decoded-content-length. */
START_TEST(decoded_length_mismatch)
{
    buf b = example_body();
    sink_state ss = {.only_a = true};
    hm_chunked_reason why;
    hm_chunked_config cfg = signed_cfg(HM_CHUNKED_SIGNED, EXAMPLE_BYTES - 1, HM_CKSUM_NONE);
    ck_assert_int_eq(decode(&cfg, b.p, b.n, 0, &ss, &why, NULL), HM_ETOOBIG);
    ck_assert_int_eq(why, HM_CHUNKED_TOO_LONG);
    cfg.decoded_length = EXAMPLE_BYTES + 1;
    ck_assert_int_eq(decode(&cfg, b.p, b.n, 0, &ss, &why, NULL), HM_EPROTO);
    ck_assert_int_eq(why, HM_CHUNKED_INCOMPLETE);
    free(b.p);
}
END_TEST

/* Over-long lines, oversize or overflowing sizes, bad extensions, bare LF,
 * control bytes and bytes after the end are all refused. */
START_TEST(malformed_input)
{
    hm_chunked_config sc = signed_cfg(HM_CHUNKED_SIGNED, 1u << 30, HM_CKSUM_NONE);
    hm_chunked_config uc = {.mode = HM_CHUNKED_UNSIGNED_TRAILER, .decoded_length = 1u << 30};
    struct {
        const hm_chunked_config *cfg;
        const char *body;
        hm_chunked_reason why;
    } cases[] = {
        {&uc, "ffffffffffffffffffff\r\n", HM_CHUNKED_CHUNK_TOO_BIG},
        {&uc, "1000001\r\n", HM_CHUNKED_CHUNK_TOO_BIG},
        {&uc, "\r\n", HM_CHUNKED_MALFORMED},
        {&uc, "g\r\n", HM_CHUNKED_MALFORMED},
        {&uc, "-1\r\n", HM_CHUNKED_MALFORMED},
        {&uc, "10 \r\n", HM_CHUNKED_MALFORMED},
        {&uc, "10\n", HM_CHUNKED_MALFORMED},
        {&uc, "10\r\r", HM_CHUNKED_MALFORMED},
        {&uc, "1\r\naX\n", HM_CHUNKED_MALFORMED},
        {&uc, "1\r\na\r\r", HM_CHUNKED_MALFORMED},
        {&uc, "1;chunk-signature=" SIG1 "\r\n", HM_CHUNKED_MALFORMED},
        {&uc, "1\x01\r\n", HM_CHUNKED_MALFORMED},
        {&sc, "1\r\n", HM_CHUNKED_MALFORMED},
        {&sc, "1;chunk-signature=abc\r\n", HM_CHUNKED_MALFORMED},
        {&sc, "1;chunk-signature=" "AD80C730A21E5B8D04586A2213DD63B9A0E99E0E2307B0ADE35A65485A288648"
              "\r\n", HM_CHUNKED_MALFORMED},
        {&sc, "1;chunk-sig=" SIG1 "\r\n", HM_CHUNKED_MALFORMED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sink_state ss = {.only_a = true};
        hm_chunked_reason why;
        int rc = decode(cases[i].cfg, cases[i].body, strlen(cases[i].body), 1, &ss, &why, NULL);
        ck_assert_msg(rc != 0 && why == cases[i].why, "case %zu: rc %d reason %s", i, rc,
                      hm_chunked_reason_name(why));
    }
    /* a line longer than the bound fails before its end arrives */
    char *line = malloc(HM_CHUNKED_LINE_BYTES_MAX + 10);
    ck_assert_ptr_nonnull(line);
    memset(line, '0', HM_CHUNKED_LINE_BYTES_MAX + 10);
    hm_chunked *d = NULL;
    ck_assert_int_eq(hm_chunked_new(&d, &uc), 0);
    ck_assert_int_eq(hm_chunked_feed(d, line, HM_CHUNKED_LINE_BYTES_MAX, NULL, NULL), 0);
    ck_assert_int_eq(hm_chunked_feed(d, line, 1, NULL, NULL), HM_EPROTO);
    ck_assert_int_eq(hm_chunked_reason_of(d), HM_CHUNKED_MALFORMED);
    hm_chunked_free(d);
    free(line);
    /* bytes after a complete encoding */
    hm_chunked_config zc = {.mode = HM_CHUNKED_UNSIGNED_TRAILER, .decoded_length = 0};
    sink_state ss = {.only_a = true};
    hm_chunked_reason why;
    ck_assert_int_eq(decode(&zc, "0\r\n\r\n", 5, 0, &ss, &why, NULL), 0);
    ck_assert_int_eq(decode(&zc, "0\r\n\r\nx", 6, 0, &ss, &why, NULL), HM_EPROTO);
    ck_assert_int_eq(why, HM_CHUNKED_MALFORMED);
}
END_TEST

/* Pseudo-random garbage never decodes and never crashes. */
START_TEST(garbage)
{
    hm_chunked_config sc = signed_cfg(HM_CHUNKED_SIGNED_TRAILER, 1u << 20, HM_CKSUM_CRC32);
    hm_chunked_config uc = {.mode = HM_CHUNKED_UNSIGNED_TRAILER, .decoded_length = 1u << 20,
                            .trailer_algo = HM_CKSUM_CRC64NVME};
    uint32_t x = 99;
    char g[512];
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + (size_t)(round % (int)sizeof(g));
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            /* mostly hex digits and line ends, to get past the first line */
            static const char alphabet[] = "0123456789abcdef;=\r\n:x-";
            g[i] = (round & 1) ? alphabet[(x >> 24) % (sizeof(alphabet) - 1)] : (char)(x >> 24);
        }
        sink_state ss = {.only_a = true};
        ck_assert_int_ne(decode(round & 2 ? &sc : &uc, g, n, 1 + (size_t)(round % 17), &ss, NULL,
                                NULL),
                         0);
    }
}
END_TEST

/* Build an unsigned-trailer body of data in chunks of `chunk` bytes with
 * the given trailer lines (each without CRLF; NULL ends) and final CRLF. */
static buf unsigned_body(const char *data, size_t n, size_t chunk, const char *const *trailers,
                         bool final_crlf)
{
    buf b = {0};
    char hdr[32];
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        snprintf(hdr, sizeof(hdr), "%zx\r\n", k);
        buf_str(&b, hdr);
        buf_add(&b, data + off, k);
        buf_str(&b, "\r\n");
    }
    buf_str(&b, "0\r\n");
    for (size_t i = 0; trailers != NULL && trailers[i] != NULL; i++) {
        buf_str(&b, trailers[i]);
        buf_str(&b, "\r\n");
    }
    if (final_crlf) buf_str(&b, "\r\n");
    return b;
}

/* STREAMING-UNSIGNED-PAYLOAD-TRAILER: a good CRC32 trailer is accepted and
 * returned; a wrong one is BAD_DIGEST; a missing, undeclared, repeated,
 * malformed or signature trailer is BAD_TRAILER. */
START_TEST(unsigned_trailer)
{
    static const char data[] = "Hello world";
    hm_chunked_config c = {.mode = HM_CHUNKED_UNSIGNED_TRAILER, .decoded_length = 11,
                           .trailer_algo = HM_CKSUM_CRC32};
    const char *good[] = {"x-amz-checksum-crc32:i9aeUg==", NULL};
    const char *spaced[] = {"X-Amz-Checksum-CRC32: i9aeUg== ", NULL};
    const char *bad[] = {"x-amz-checksum-crc32:AAAAAA==", NULL};
    const char *other[] = {"x-amz-checksum-crc32c:crUfeA==", NULL};
    const char *twice[] = {"x-amz-checksum-crc32:i9aeUg==", "x-amz-checksum-crc32:i9aeUg==",
                           NULL};
    const char *junk[] = {"x-amz-checksum-crc32:i9aeUg", NULL};
    const char *noval[] = {"x-amz-checksum-crc32", NULL};
    const char *sig[] = {"x-amz-checksum-crc32:i9aeUg==", "x-amz-trailer-signature:" SIG1, NULL};
    struct {
        const char *const *tr;
        bool crlf;
        int rc;
        hm_chunked_reason why;
    } cases[] = {
        {good, true, 0, HM_CHUNKED_OK},
        {good, false, 0, HM_CHUNKED_OK},
        {spaced, true, 0, HM_CHUNKED_OK},
        {bad, true, HM_ECORRUPT, HM_CHUNKED_BAD_DIGEST},
        {NULL, true, HM_EPROTO, HM_CHUNKED_BAD_TRAILER},
        {other, true, HM_EPROTO, HM_CHUNKED_BAD_TRAILER},
        {twice, true, HM_EPROTO, HM_CHUNKED_BAD_TRAILER},
        {junk, true, HM_EPROTO, HM_CHUNKED_BAD_TRAILER},
        {noval, true, HM_EPROTO, HM_CHUNKED_BAD_TRAILER},
        {sig, true, HM_EPROTO, HM_CHUNKED_BAD_TRAILER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t chunk = 1; chunk <= 11; chunk += 5) {
            buf b = unsigned_body(data, 11, chunk, cases[i].tr, cases[i].crlf);
            sink_state ss = {0};
            hm_chunked_reason why;
            hm_cksum_value ck;
            int rc = decode(&c, b.p, b.n, 3, &ss, &why, &ck);
            ck_assert_msg(rc == cases[i].rc && why == cases[i].why, "case %zu: %d %s", i, rc,
                          hm_chunked_reason_name(why));
            if (rc == 0) {
                ck_assert_uint_eq(ss.bytes, 11);
                char text[HM_CKSUM_TEXT_BYTES_MAX];
                ck_assert_int_eq(hm_cksum_render(&ck, text), 0);
                ck_assert_str_eq(text, "i9aeUg==");
            }
            free(b.p);
        }
    }
    /* no trailer declared: none may come, and the empty body works */
    hm_chunked_config none = {.mode = HM_CHUNKED_UNSIGNED_TRAILER, .decoded_length = 0};
    sink_state ss = {0};
    ck_assert_int_eq(decode(&none, "0\r\n\r\n", 5, 1, &ss, NULL, NULL), 0);
    hm_chunked_reason why;
    ck_assert_int_eq(decode(&none, "0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", 36, 1, &ss,
                            &why, NULL),
                     HM_EPROTO);
    ck_assert_int_eq(why, HM_CHUNKED_BAD_TRAILER);
}
END_TEST

/* Build a signed-trailer body with real chunk signatures chained from the
 * example seed, a checksum trailer line, and a trailer signature (tamper:
 * flip its last digit). */
static buf signed_trailer_body(const char *data, size_t n, size_t chunk, const char *trailer,
                               bool tamper_sig)
{
    buf b = {0};
    char prev[65] = SEED, hash[65], sig[65], hdr[128];
    for (size_t off = 0;; off += chunk) {
        size_t k = off >= n ? 0 : (n - off < chunk ? n - off : chunk);
        ck_assert_int_eq(hm_sigv4_sha256_hex(data + off, k, hash), 0);
        ck_assert_int_eq(hm_sigv4_chunk_signature(g_key, AMZ_DATE, SCOPE, prev, hash, sig), 0);
        snprintf(hdr, sizeof(hdr), "%zx;chunk-signature=%s\r\n", k, sig);
        buf_str(&b, hdr);
        memcpy(prev, sig, sizeof(sig));
        if (k == 0) break;
        buf_add(&b, data + off, k);
        buf_str(&b, "\r\n");
    }
    char line[256];
    snprintf(line, sizeof(line), "%s\n", trailer);
    ck_assert_int_eq(hm_sigv4_sha256_hex(line, strlen(line), hash), 0);
    ck_assert_int_eq(hm_sigv4_trailer_signature(g_key, AMZ_DATE, SCOPE, prev, hash, sig), 0);
    if (tamper_sig) sig[63] = sig[63] == '0' ? '1' : '0';
    buf_str(&b, trailer);
    buf_str(&b, "\r\nx-amz-trailer-signature:");
    buf_str(&b, sig);
    buf_str(&b, "\r\n\r\n");
    return b;
}

/* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: chunk signatures and the
 * trailer signature verify; a wrong trailer signature, a trailer changed
 * after signing, or a missing signature line are refused. */
START_TEST(signed_trailer)
{
    char data[20000];
    for (size_t i = 0; i < sizeof(data); i++) data[i] = (char)('a' + i % 26);
    hm_cksum_value want;
    ck_assert_int_eq(hm_cksum_buf(HM_CKSUM_CRC64NVME, data, sizeof(data), &want), 0);
    char text[HM_CKSUM_TEXT_BYTES_MAX], trailer[128];
    ck_assert_int_eq(hm_cksum_render(&want, text), 0);
    snprintf(trailer, sizeof(trailer), "x-amz-checksum-crc64nvme:%s", text);
    hm_chunked_config c =
        signed_cfg(HM_CHUNKED_SIGNED_TRAILER, sizeof(data), HM_CKSUM_CRC64NVME);

    buf b = signed_trailer_body(data, sizeof(data), 8192, trailer, false);
    sink_state ss = {0};
    hm_chunked_reason why;
    hm_cksum_value got;
    ck_assert_int_eq(decode(&c, b.p, b.n, 777, &ss, &why, &got), 0);
    ck_assert(hm_cksum_equal(&got, &want));
    ck_assert_uint_eq(ss.bytes, sizeof(data));
    free(b.p);

    b = signed_trailer_body(data, sizeof(data), 8192, trailer, true);
    ck_assert_int_eq(decode(&c, b.p, b.n, 0, &ss, &why, NULL), HM_EPERM);
    ck_assert_int_eq(why, HM_CHUNKED_SIGNATURE);
    /* the checksum changed after signing: the signature catches it first */
    char *pos = memmem(b.p, b.n, text, strlen(text));
    ck_assert_ptr_nonnull(pos);
    free(b.p);
    b = signed_trailer_body(data, sizeof(data), 8192, trailer, false);
    pos = memmem(b.p, b.n, text, strlen(text));
    pos[0] = pos[0] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(decode(&c, b.p, b.n, 0, &ss, &why, NULL), HM_EPERM);
    ck_assert_int_eq(why, HM_CHUNKED_SIGNATURE);
    free(b.p);

    /* a signed body whose checksum is wrong but properly signed */
    hm_cksum_value wrong = want;
    wrong.raw[0] ^= 1;
    ck_assert_int_eq(hm_cksum_render(&wrong, text), 0);
    snprintf(trailer, sizeof(trailer), "x-amz-checksum-crc64nvme:%s", text);
    b = signed_trailer_body(data, sizeof(data), 8192, trailer, false);
    ck_assert_int_eq(decode(&c, b.p, b.n, 0, &ss, &why, NULL), HM_ECORRUPT);
    ck_assert_int_eq(why, HM_CHUNKED_BAD_DIGEST);
    /* the signature line dropped */
    char *sigline = memmem(b.p, b.n, "x-amz-trailer-signature", 23);
    ck_assert_ptr_nonnull(sigline);
    size_t keep = (size_t)(sigline - b.p);
    memcpy(sigline, "\r\n", 2);
    ck_assert_int_eq(decode(&c, b.p, keep + 2, 0, &ss, &why, NULL), HM_EPROTO);
    ck_assert_int_eq(why, HM_CHUNKED_BAD_TRAILER);
    free(b.p);
}
END_TEST

/* A failing sink stops decoding with its own code. */
START_TEST(sink_failure)
{
    buf b = example_body();
    hm_chunked_config cfg = signed_cfg(HM_CHUNKED_SIGNED, EXAMPLE_BYTES, HM_CKSUM_NONE);
    sink_state ss = {.only_a = true, .fail_after = 3};
    hm_chunked_reason why;
    ck_assert_int_eq(decode(&cfg, b.p, b.n, 1000, &ss, &why, NULL), HM_EIO);
    ck_assert_int_eq(why, HM_CHUNKED_SINK);
    free(b.p);
}
END_TEST

/* Configurations that cannot work are refused up front. */
START_TEST(bad_config)
{
    hm_chunked *d = NULL;
    hm_chunked_config c = signed_cfg(HM_CHUNKED_SIGNED, 1, HM_CKSUM_NONE);
    c.seed_signature = "abc";
    ck_assert_int_eq(hm_chunked_new(&d, &c), HM_EINVAL);
    c = signed_cfg(HM_CHUNKED_SIGNED, 1, HM_CKSUM_CRC32);
    ck_assert_int_eq(hm_chunked_new(&d, &c), HM_EINVAL);
    c = signed_cfg(HM_CHUNKED_SIGNED_TRAILER, 1, HM_CKSUM_NONE);
    c.signing_key = NULL;
    ck_assert_int_eq(hm_chunked_new(&d, &c), HM_EINVAL);
    hm_chunked_mode m;
    ck_assert_int_eq(hm_chunked_mode_parse("STREAMING-UNSIGNED-PAYLOAD-TRAILER", &m), 0);
    ck_assert_int_eq(m, HM_CHUNKED_UNSIGNED_TRAILER);
    ck_assert_int_eq(hm_chunked_mode_parse("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", &m),
                     HM_EINVAL);
    ck_assert_int_eq(hm_chunked_mode_parse("UNSIGNED-PAYLOAD", &m), HM_EINVAL);
}
END_TEST

static Suite *chunked_suite(void)
{
    Suite *s = suite_create("chunked");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, aws_example_odd_slices);
    tcase_add_test(tc, aws_example_tampered);
    tcase_add_test(tc, truncated_bodies);
    tcase_add_test(tc, decoded_length_mismatch);
    tcase_add_test(tc, malformed_input);
    tcase_add_test(tc, garbage);
    tcase_add_test(tc, unsigned_trailer);
    tcase_add_test(tc, signed_trailer);
    tcase_add_test(tc, sink_failure);
    tcase_add_test(tc, bad_config);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(chunked_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
