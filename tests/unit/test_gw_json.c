/* test_gw_json.c - the gateway's strict JSON parser (hamster-gw/hm_json.h)
 * and the UTF-8 and base64 helpers its callers share (hm_utf8.h,
 * hm_base64.h). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_base64.h"
#include "hm_err.h"
#include "hm_json.h"
#include "hm_utf8.h"

static int json(const char *s, hm_json_doc **d)
{
    return hm_json_parse(s, strlen(s), d, NULL);
}

/* Objects, arrays, literals, integers at the int64 limits and every
 * escape decode as RFC 8259 says. */
START_TEST(json_good)
{
    hm_json_doc *d = NULL;
    ck_assert_int_eq(json(" {\"a\": [1, -9223372036854775808, 9223372036854775807, true, "
                          "false, null, {}], \"s\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t"
                          "\\u00e9\\u20AC\\ud83d\\udc39\xc3\xa9\"} ",
                          &d),
                     0);
    const hm_json_node *r = hm_json_root(d);
    ck_assert_int_eq(r->type, HM_JSON_OBJECT);
    const hm_json_node *a = hm_json_get(r, "a");
    ck_assert_uint_eq(a->child_count, 7);
    ck_assert_int_eq(a->first_child->num, 1);
    ck_assert(a->first_child->next_sibling->num == INT64_MIN);
    ck_assert(a->first_child->next_sibling->next_sibling->num == INT64_MAX);
    const hm_json_node *s = hm_json_get(r, "s");
    ck_assert_str_eq(s->str, "q\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb9\xc3\xa9");
    ck_assert_uint_eq(s->str_len, strlen(s->str));
    ck_assert_ptr_null(hm_json_get(r, "missing"));
    hm_json_free(d);
}
END_TEST

/* Everything outside the strict subset is refused with HM_EPROTO. */
START_TEST(json_bad)
{
    static const char *bad[] = {
        "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "01", "1.5", "1e3",
        "-", "9223372036854775808", "-9223372036854775809", "\"\\ud800\"", "\"\\udc00\"",
        "\"\\ud800\\u0041\"", "\"\\u0000\"", "\"\\x\"", "\"\\u12g4\"", "\"a\nb\"",
        "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
        "{\"a\":1,\"a\":2}", "[1] x", "tru", "nul", "[[[[[[[[[1]]]]]]]]]", "'a'",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hm_json_doc *d = NULL;
        const char *why = NULL;
        int rc = hm_json_parse(bad[i], strlen(bad[i]), &d, &why);
        ck_assert_msg(rc == HM_EPROTO, "'%s' gave %d", bad[i], rc);
        ck_assert_ptr_nonnull(why);
    }
    /* HM_JSON_DEPTH_MAX (8) is the limit: 8 nested arrays parse */
    hm_json_doc *d = NULL;
    ck_assert_int_eq(json("[[[[[[[[1]]]]]]]]", &d), 0);
    hm_json_free(d);
    /* over the size bound */
    char *big = malloc(HM_JSON_DOC_BYTES_MAX + 2);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', HM_JSON_DOC_BYTES_MAX + 1);
    big[0] = '1';
    ck_assert_int_eq(hm_json_parse(big, HM_JSON_DOC_BYTES_MAX + 1, &d, NULL), HM_ETOOBIG);
    free(big);
}
END_TEST

/* Each node count up to the bound parses; one past it is refused, not
 * written past the node array. */
START_TEST(json_node_bound)
{
    /* "[0,0,...,0]": the array plus n integers */
    size_t n = HM_JSON_NODES_MAX - 1;
    char *s = malloc(2 * n + 4);
    ck_assert_ptr_nonnull(s);
    size_t o = 0;
    s[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        s[o++] = '0';
        s[o++] = i + 1 < n ? ',' : ']';
    }
    hm_json_doc *d = NULL;
    ck_assert_uint_le(o, HM_JSON_DOC_BYTES_MAX);
    ck_assert_int_eq(hm_json_parse(s, o, &d, NULL), 0);
    ck_assert_uint_eq(hm_json_root(d)->child_count, n);
    hm_json_free(d);
    /* one more element: over the node bound */
    s[o - 1] = ',';
    s[o++] = '0';
    s[o++] = ']';
    int rc = hm_json_parse(s, o, &d, NULL);
    ck_assert_msg(rc == HM_ETOOBIG || rc == HM_EPROTO, "got %d", rc);
    free(s);
}
END_TEST

/* UTF-8: every sequence length round-trips; overlongs, surrogates, values
 * over U+10FFFF, truncated and stray continuation bytes are refused. */
START_TEST(utf8_strict)
{
    static const uint32_t cps[] = {0x0, 0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff,
                                   0xe000, 0xfffd, 0x10000, 0x1f439, 0x10ffff};
    for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
        char buf[HM_UTF8_SEQ_BYTES_MAX];
        size_t n = hm_utf8_encode(cps[i], buf);
        ck_assert_uint_ge(n, 1);
        ck_assert_uint_le(n, HM_UTF8_SEQ_BYTES_MAX);
        uint32_t cp = 0xffffffffu;
        ck_assert_uint_eq(hm_utf8_decode((const unsigned char *)buf, n, &cp), n);
        ck_assert_uint_eq(cp, cps[i]);
        if (n > 1) /* truncated */
            ck_assert_uint_eq(hm_utf8_decode((const unsigned char *)buf, n - 1, &cp), 0);
    }
    static const char *bad[] = {"\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80",
                                "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                                "\x80", "\xbf", "\xc3\x28", "\xff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t cp = 0;
        ck_assert_msg(hm_utf8_decode((const unsigned char *)bad[i], strlen(bad[i]), &cp) == 0,
                      "bad sequence %zu accepted", i);
    }
    uint32_t cp = 0;
    ck_assert_uint_eq(hm_utf8_decode((const unsigned char *)"", 0, &cp), 0);
}
END_TEST

/* base64: the RFC 4648 §10 test vectors both ways; bad characters,
 * misplaced padding, lengths not a multiple of 4 and output over the cap
 * are refused. */
START_TEST(base64_vectors)
{
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        hm_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof(out));
        ck_assert_str_eq(out, enc[i]);
        uint8_t dec[16];
        size_t n = 99;
        ck_assert_int_eq(hm_base64_decode(enc[i], dec, sizeof(dec), &n), 0);
        ck_assert_uint_eq(n, strlen(plain[i]));
        ck_assert(memcmp(dec, plain[i], n) == 0);
        ck_assert_int_eq(hm_base64_decode_n(enc[i], strlen(enc[i]), dec, sizeof(dec), &n), 0);
        ck_assert_uint_eq(n, strlen(plain[i]));
    }
    static const char *bad[] = {"Zg=", "Z===", "=Zg=", "Zg=a", "Zm9v!A==", "Zm 9", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t dec[16];
        size_t n = 0;
        ck_assert_msg(hm_base64_decode(bad[i], dec, sizeof(dec), &n) == HM_EINVAL, "'%s'", bad[i]);
    }
    uint8_t small[5];
    size_t n = 0;
    ck_assert_int_eq(hm_base64_decode("Zm9vYmFy", small, sizeof(small), &n), HM_EINVAL);
    ck_assert_int_eq(hm_base64_val('='), -1);
    ck_assert_int_eq(hm_base64_val('/'), 63);
    /* encode leaves off a group that does not fit */
    char out[6];
    hm_base64_encode((const uint8_t *)"foobar", 6, out, sizeof(out));
    ck_assert_str_eq(out, "Zm9v");
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("gw_json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, json_good);
    tcase_add_test(tc, json_bad);
    tcase_add_test(tc, json_node_bound);
    tcase_add_test(tc, utf8_strict);
    tcase_add_test(tc, base64_vectors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
