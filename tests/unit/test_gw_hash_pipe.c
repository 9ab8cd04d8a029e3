/* test_gw_hash_pipe.c - the body digest pipeline (hm_hash_pipe.h): the
 * digests and the sink's bytes equal one-shot MD5 / SHA-256 and the input
 * for odd write splits, buffer sizes and 0 bytes; a failing sink sticks;
 * an abandoned pipe releases everything (the sanitizer build checks the
 * leaks). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "hm_err.h"
#include "hm_hash_pipe.h"

#define BODY_BYTES (3u << 20)

static uint8_t *body;

typedef struct {
    uint8_t *out;   /* what the sink received, in order */
    size_t len;
    size_t calls;
    size_t max_piece;
    size_t fail_at; /* fail the call with this number (1-based); 0: never */
} sink_rec;

static int rec_sink(void *ctx, const void *buf, size_t len)
{
    sink_rec *r = ctx;
    r->calls++;
    ck_assert_uint_gt(len, 0);
    if (r->fail_at != 0 && r->calls == r->fail_at) return HM_EIO;
    memcpy(r->out + r->len, buf, len);
    r->len += len;
    if (len > r->max_piece) r->max_piece = len;
    return 0;
}

static void setup(void)
{
    body = malloc(BODY_BYTES);
    ck_assert_ptr_nonnull(body);
    uint32_t x = 0x9e3779b9u;
    for (size_t i = 0; i < BODY_BYTES; i++) {
        x = x * 1664525u + 1013904223u;
        body[i] = (uint8_t)(x >> 24);
    }
}

static void teardown(void) { free(body); }

static EVP_MD_CTX *md_new(const EVP_MD *type)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(EVP_DigestInit_ex(c, type, NULL), 1);
    return c;
}

static void md_final(EVP_MD_CTX *c, uint8_t *out, unsigned want)
{
    unsigned n = 0;
    ck_assert_int_eq(EVP_DigestFinal_ex(c, out, &n), 1);
    ck_assert_uint_eq(n, want);
    EVP_MD_CTX_free(c);
}

/* Pipe len bytes of body in writes of the sizes in steps (cycled), with
 * buffers of buf_bytes; check both digests and the sink's copy. */
static void run_split(size_t len, size_t buf_bytes, const size_t *steps, size_t n_steps)
{
    uint8_t want_md5[16], want_sha[32], got_md5[16], got_sha[32];
    ck_assert_int_eq(EVP_Digest(body, len, want_md5, NULL, EVP_md5(), NULL), 1);
    ck_assert_int_eq(EVP_Digest(body, len, want_sha, NULL, EVP_sha256(), NULL), 1);

    EVP_MD_CTX *mds[2] = {md_new(EVP_md5()), md_new(EVP_sha256())};
    sink_rec rec = {.out = malloc(len + 1)};
    ck_assert_ptr_nonnull(rec.out);
    hm_hash_pipe *hp = NULL;
    ck_assert_int_eq(hm_hash_pipe_new(&hp, mds, 2, buf_bytes, rec_sink, &rec), 0);
    size_t off = 0, k = 0;
    while (off < len) {
        size_t n = steps[k++ % n_steps];
        if (n > len - off) n = len - off;
        ck_assert_int_eq(hm_hash_pipe_write(hp, body + off, n), 0);
        off += n;
    }
    ck_assert_int_eq(hm_hash_pipe_write(hp, body, 0), 0);
    ck_assert_int_eq(hm_hash_pipe_finish(hp), 0);
    hm_hash_pipe_free(hp);

    md_final(mds[0], got_md5, 16);
    md_final(mds[1], got_sha, 32);
    ck_assert_msg(memcmp(got_md5, want_md5, 16) == 0, "MD5 of %zu bytes, buffers %zu", len,
                  buf_bytes);
    ck_assert_msg(memcmp(got_sha, want_sha, 32) == 0, "SHA-256 of %zu bytes", len);
    ck_assert_uint_eq(rec.len, len);
    ck_assert(len == 0 || memcmp(rec.out, body, len) == 0);
    ck_assert_uint_le(rec.max_piece, buf_bytes);
    ck_assert_uint_eq(rec.calls, (len + buf_bytes - 1) / buf_bytes);
    free(rec.out);
}

START_TEST(zero_bytes)
{
    static const size_t one[] = {1};
    run_split(0, 4096, one, 1);
}
END_TEST

START_TEST(odd_splits)
{
    static const size_t odd[] = {1, 7, 4095, 65537, 3, 131071, 12345};
    static const size_t whole[] = {BODY_BYTES};
    static const size_t exact[] = {512u << 10};
    run_split(BODY_BYTES, 512u << 10, odd, 7);
    run_split(BODY_BYTES, 512u << 10, whole, 1);
    run_split(BODY_BYTES, 512u << 10, exact, 1);
    run_split(BODY_BYTES - 1, 4093, odd, 7);
    run_split(1, 1, odd, 1);
    run_split(100000, 1, odd + 2, 1);
}
END_TEST

/* MD5 alone, and no sink. */
START_TEST(one_digest_no_sink)
{
    uint8_t want[16], got[16];
    ck_assert_int_eq(EVP_Digest(body, BODY_BYTES, want, NULL, EVP_md5(), NULL), 1);
    EVP_MD_CTX *md = md_new(EVP_md5());
    hm_hash_pipe *hp = NULL;
    ck_assert_int_eq(hm_hash_pipe_new(&hp, &md, 1, 100003, NULL, NULL), 0);
    ck_assert_int_eq(hm_hash_pipe_write(hp, body, BODY_BYTES), 0);
    ck_assert_int_eq(hm_hash_pipe_finish(hp), 0);
    hm_hash_pipe_free(hp);
    md_final(md, got, 16);
    ck_assert(memcmp(got, want, 16) == 0);
}
END_TEST

START_TEST(bad_args)
{
    EVP_MD_CTX *md = md_new(EVP_md5());
    EVP_MD_CTX *none[1] = {NULL};
    hm_hash_pipe *hp = NULL;
    ck_assert_int_eq(hm_hash_pipe_new(&hp, &md, 0, 4096, NULL, NULL), HM_EINVAL);
    ck_assert_int_eq(hm_hash_pipe_new(&hp, &md, 1, 0, NULL, NULL), HM_EINVAL);
    ck_assert_int_eq(hm_hash_pipe_new(&hp, none, 1, 4096, NULL, NULL), HM_EINVAL);
    ck_assert_int_eq(hm_hash_pipe_new(&hp, &md, HM_HASH_PIPE_DIGESTS_MAX + 1, 4096, NULL, NULL),
                     HM_EINVAL);
    hm_hash_pipe_free(NULL);
    EVP_MD_CTX_free(md);
}
END_TEST

/* The sink's failure is returned and sticks; later writes and finish
 * fail the same way and the sink is not called again. */
START_TEST(sink_failure_sticks)
{
    EVP_MD_CTX *md = md_new(EVP_md5());
    sink_rec rec = {.out = malloc(BODY_BYTES), .fail_at = 2};
    hm_hash_pipe *hp = NULL;
    ck_assert_int_eq(hm_hash_pipe_new(&hp, &md, 1, 65536, rec_sink, &rec), 0);
    ck_assert_int_eq(hm_hash_pipe_write(hp, body, 65536), 0);
    ck_assert_int_eq(hm_hash_pipe_write(hp, body, 70000), HM_EIO);
    ck_assert_int_eq(hm_hash_pipe_write(hp, body, 200000), HM_EIO);
    ck_assert_int_eq(hm_hash_pipe_finish(hp), HM_EIO);
    ck_assert_uint_eq(rec.calls, 2);
    ck_assert_uint_eq(rec.len, 65536);
    hm_hash_pipe_free(hp);
    EVP_MD_CTX_free(md);
    free(rec.out);
}
END_TEST

/* Abandoned mid-body, with full buffers queued and a partial one: free
 * alone releases the worker and the buffers, and the digest stays usable. */
START_TEST(abort_frees)
{
    for (int round = 0; round < 50; round++) {
        EVP_MD_CTX *mds[2] = {md_new(EVP_md5()), md_new(EVP_sha256())};
        hm_hash_pipe *hp = NULL;
        ck_assert_int_eq(hm_hash_pipe_new(&hp, mds, 2, 256u << 10, NULL, NULL), 0);
        size_t n = (size_t)round * 37117u % BODY_BYTES;
        ck_assert_int_eq(hm_hash_pipe_write(hp, body, n), 0);
        hm_hash_pipe_free(hp);
        uint8_t out[32];
        md_final(mds[0], out, 16);
        md_final(mds[1], out, 32);
    }
    /* never written at all */
    EVP_MD_CTX *md = md_new(EVP_md5());
    hm_hash_pipe *hp = NULL;
    ck_assert_int_eq(hm_hash_pipe_new(&hp, &md, 1, 4096, NULL, NULL), 0);
    hm_hash_pipe_free(hp);
    EVP_MD_CTX_free(md);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hash_pipe");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, zero_bytes);
    tcase_add_test(tc, odd_splits);
    tcase_add_test(tc, one_digest_no_sink);
    tcase_add_test(tc, bad_args);
    tcase_add_test(tc, sink_failure_sticks);
    tcase_add_test(tc, abort_frees);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
