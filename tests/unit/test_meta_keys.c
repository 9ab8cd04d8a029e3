/* test_meta_keys.c - the metadata key encodings (hamster-meta/hm_meta_keys.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_meta_keys.h"
#include "test_meta_util.h"

static int bytes_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static size_t enc(const uint8_t *k, size_t len, uint8_t *out)
{
    size_t n = 0;
    ck_assert_int_eq(hm_meta_key_encode(k, len, out, HM_META_KEY_ENC_BYTES_MAX, &n), 0);
    return n;
}

/* NUL becomes 00 FF, other bytes stay, and a 00 terminates. */
START_TEST(test_encode_bytes)
{
    const uint8_t k[] = {'a', 0, 'b', 0xFF};
    uint8_t out[HM_META_KEY_ENC_BYTES_MAX];
    size_t n = enc(k, sizeof k, out);
    const uint8_t want[] = {'a', 0, 0xFF, 'b', 0xFF, 0};
    ck_assert_uint_eq(n, sizeof want);
    ck_assert_mem_eq(out, want, sizeof want);
    ck_assert_uint_eq(enc(k, 0, out), 1);
    ck_assert_uint_eq(out[0], 0);
}
END_TEST

/* The memcmp order of encodings equals the byte order of keys, for keys
 * with NUL bytes, shared prefixes, and keys that are prefixes of others. */
START_TEST(test_order_preserved)
{
    enum { N = 400 };
    static uint8_t keys[N][12];
    static size_t lens[N];
    static uint8_t encs[N][HM_META_KEY_ENC_BYTES_MAX];
    static size_t elens[N];
    const uint8_t alphabet[] = {0x00, 0x01, 'a', 0xFE, 0xFF};
    uint64_t seed = 42;
    for (int i = 0; i < N; i++) {
        lens[i] = tmu_rand(&seed) % 12;
        for (size_t j = 0; j < lens[i]; j++)
            keys[i][j] = alphabet[tmu_rand(&seed) % sizeof alphabet];
        elens[i] = enc(keys[i], lens[i], encs[i]);
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            int kc = bytes_cmp(keys[i], lens[i], keys[j], lens[j]);
            int ec = bytes_cmp(encs[i], elens[i], encs[j], elens[j]);
            ck_assert_int_eq(kc, ec);
            /* self-delimiting: where one encoding begins another, the
             * shorter one's terminator is the other's escaped NUL (00 FF),
             * so a reader never takes it for the end of the longer key */
            if (elens[i] < elens[j] && memcmp(encs[i], encs[j], elens[i]) == 0)
                ck_assert_uint_eq(encs[j][elens[i]], 0xFF);
            if (kc != 0)
                ck_assert(elens[i] != elens[j] || memcmp(encs[i], encs[j], elens[i]) != 0);
        }
    }
}
END_TEST

/* A key and the same key followed by NULs keep their order, and the
 * shorter key's end is never read inside the longer one: its terminator
 * continues as an escaped NUL there. */
START_TEST(test_prefix_free_nul)
{
    const uint8_t a[] = {'x'};
    const uint8_t b[] = {'x', 0};
    const uint8_t c[] = {'x', 0, 0};
    uint8_t ea[8], eb[8], ec[8];
    size_t na = 0, nb = 0, nc = 0;
    ck_assert_int_eq(hm_meta_key_encode(a, sizeof a, ea, sizeof ea, &na), 0);
    ck_assert_int_eq(hm_meta_key_encode(b, sizeof b, eb, sizeof eb, &nb), 0);
    ck_assert_int_eq(hm_meta_key_encode(c, sizeof c, ec, sizeof ec, &nc), 0);
    ck_assert_int_lt(bytes_cmp(ea, na, eb, nb), 0);
    ck_assert_int_lt(bytes_cmp(eb, nb, ec, nc), 0);
    ck_assert_uint_eq(eb[na], 0xFF);
    ck_assert_uint_eq(ec[nb], 0xFF);
    ck_assert_uint_eq(eb[nb - 1], 0x00);
}
END_TEST

/* Encoding into a too small buffer fails instead of overflowing. */
START_TEST(test_encode_cap)
{
    const uint8_t k[] = {0, 0};
    uint8_t out[5];
    size_t n = 0;
    ck_assert_int_eq(hm_meta_key_encode(k, sizeof k, out, 4, &n), HM_ETOOBIG);
    ck_assert_int_eq(hm_meta_key_encode(k, sizeof k, out, 5, &n), 0);
    ck_assert_uint_eq(n, 5);
}
END_TEST

/* 1024-byte keys (all NUL, the worst case) fit the names key, truncated to
 * bucket id + HM_NAMES_PREFIX_BYTES; longer keys are refused; keys sharing
 * the first 440 encoded bytes share a names key; names keys keep order. */
START_TEST(test_names_key_long)
{
    static uint8_t k[HM_KEY_BYTES_MAX + 1];
    uint8_t nk[HM_META_NAMES_KEY_BYTES_MAX], nk2[HM_META_NAMES_KEY_BYTES_MAX];
    size_t n = 0, n2 = 0;
    memset(k, 0, sizeof k);
    ck_assert_int_eq(hm_meta_names_key(7, k, HM_KEY_BYTES_MAX, nk, &n), 0);
    ck_assert_uint_eq(n, HM_META_NAMES_HEAD_KEY_BYTES_MAX);
    ck_assert_uint_le(n, HM_KV_KEY_BYTES_MAX);
    ck_assert_int_eq(hm_meta_names_key(7, k, HM_KEY_BYTES_MAX + 1, nk, &n), HM_EINVAL);

    memset(k, 'a', sizeof k);
    ck_assert_int_eq(hm_meta_names_key(7, k, 1000, nk, &n), 0);
    k[999] = 'b';
    ck_assert_int_eq(hm_meta_names_key(7, k, 1000, nk2, &n2), 0);
    ck_assert_uint_eq(n, n2);
    ck_assert_mem_eq(nk, nk2, n); /* same list row */
    k[100] = 'b';
    ck_assert_int_eq(hm_meta_names_key(7, k, 1000, nk2, &n2), 0);
    ck_assert_int_lt(bytes_cmp(nk, n, nk2, n2), 0);
    /* the bucket id leads, big-endian */
    ck_assert_uint_eq(nk[0], 0);
    ck_assert_uint_eq(nk[7], 7);
    ck_assert_int_eq(hm_meta_names_key(256, k, 1, nk2, &n2), 0);
    ck_assert_int_lt(bytes_cmp(nk, n, nk2, n2), 0);
}
END_TEST

/* Versions keys sort newest (highest stamp) first and parse back. */
START_TEST(test_versions_key)
{
    uint8_t oid[HM_META_OBJECT_ID_BYTES];
    memset(oid, 0xAB, sizeof oid);
    uint8_t a[HM_META_VERSIONS_KEY_BYTES], b[HM_META_VERSIONS_KEY_BYTES];
    hm_meta_versions_key(oid, 5, a);
    hm_meta_versions_key(oid, 6, b);
    ck_assert_int_gt(memcmp(a, b, sizeof a), 0);
    uint8_t got[HM_META_OBJECT_ID_BYTES];
    uint64_t stamp = 0;
    ck_assert_int_eq(hm_meta_versions_key_parse(b, sizeof b, got, &stamp), 0);
    ck_assert_uint_eq(stamp, 6);
    ck_assert_mem_eq(got, oid, sizeof oid);
    ck_assert_int_eq(hm_meta_versions_key_parse(b, sizeof b - 1, got, &stamp), HM_EPROTO);
}
END_TEST

/* The prefix successor is above every extension of the prefix and below
 * the next prefix; an all-FF prefix has none. */
START_TEST(test_prefix_successor)
{
    uint8_t out[8];
    size_t n = 0;
    ck_assert(hm_meta_prefix_successor((const uint8_t *)"a/", 2, out, &n));
    ck_assert_uint_eq(n, 2);
    ck_assert_mem_eq(out, "a0", 2);
    const uint8_t ff[] = {'a', 0xFF, 0xFF};
    ck_assert(hm_meta_prefix_successor(ff, sizeof ff, out, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(out[0], 'b');
    const uint8_t all[] = {0xFF, 0xFF};
    ck_assert(!hm_meta_prefix_successor(all, sizeof all, out, &n));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_keys");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_encode_bytes);
    tcase_add_test(tc, test_order_preserved);
    tcase_add_test(tc, test_prefix_free_nul);
    tcase_add_test(tc, test_encode_cap);
    tcase_add_test(tc, test_names_key_long);
    tcase_add_test(tc, test_versions_key);
    tcase_add_test(tc, test_prefix_successor);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
