/* test_gw_cors.c - the bucket CORS configuration parser, renderer and rule
 * matcher (hamster-gw/hm_gw_cors.h), without HTTP. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_gw_cors.h"

static hm_cors_config *parse_ok(const char *xml)
{
    hm_cors_config *c = NULL;
    const char *why = NULL;
    int rc = hm_cors_parse(xml, strlen(xml), &c, &why);
    ck_assert_msg(rc == 0, "parse failed: %s (%s)", hm_err_name(rc), why != NULL ? why : "");
    return c;
}

static int parse_rc(const char *xml, const char **why)
{
    hm_cors_config *c = NULL;
    *why = NULL;
    int rc = hm_cors_parse(xml, strlen(xml), &c, why);
    if (rc == 0) hm_cors_free(c);
    return rc;
}

static const char *const two_rules =
    "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<CORSRule><ID>writers</ID><AllowedOrigin>https://*.example.com</AllowedOrigin>"
    "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod>"
    "<AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>Content-Type</AllowedHeader>"
    "<ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>"
    "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
    "</CORSRule></CORSConfiguration>";

/* A wildcard stands for any run of bytes (empty too), only one is honoured,
 * and case folds only for header names. */
START_TEST(test_wildcard)
{
    ck_assert(hm_cors_wildcard_match("*", "", false));
    ck_assert(hm_cors_wildcard_match("*", "https://a.b", false));
    ck_assert(hm_cors_wildcard_match("https://*.example.com", "https://app.example.com", false));
    ck_assert(!hm_cors_wildcard_match("https://*.example.com", "https://example.com", false));
    ck_assert(!hm_cors_wildcard_match("https://*.example.com", "http://app.example.com", false));
    ck_assert(hm_cors_wildcard_match("x-amz-*", "X-Amz-Date", true));
    ck_assert(!hm_cors_wildcard_match("x-amz-*", "X-Amz-Date", false));
    ck_assert(hm_cors_wildcard_match("abc", "abc", false));
    ck_assert(!hm_cors_wildcard_match("abc", "abcd", false));
    ck_assert(!hm_cors_wildcard_match("ab*cd", "abc", false)); /* head and tail overlap */
    ck_assert(hm_cors_wildcard_match("ab*cd", "abcd", false));
}
END_TEST

/* The first rule whose origin, method and every requested header match is
 * chosen; anything unmatched gives no rule. */
START_TEST(test_match)
{
    hm_cors_config *c = parse_ok(two_rules);
    ck_assert_uint_eq(c->rule_count, 2);
    size_t oi = 99;
    const hm_cors_rule *r = hm_cors_match(c, "https://app.example.com", "PUT",
                                          "content-type, X-Amz-Date,x-amz-content-sha256", &oi);
    ck_assert_ptr_eq(r, &c->rules[0]);
    ck_assert_uint_eq(oi, 0);
    ck_assert_str_eq(r->id, "writers");
    ck_assert(r->has_max_age);
    ck_assert_int_eq(r->max_age_s, 3000);
    /* a header no rule allows */
    ck_assert_ptr_null(hm_cors_match(c, "https://app.example.com", "PUT", "authorization", NULL));
    /* GET falls through to the second rule, for any origin, without headers */
    ck_assert_ptr_eq(hm_cors_match(c, "https://other.org", "GET", NULL, NULL), &c->rules[1]);
    ck_assert_ptr_eq(hm_cors_match(c, "https://other.org", "GET", " ,", NULL), &c->rules[1]);
    ck_assert_ptr_null(hm_cors_match(c, "https://other.org", "GET", "x-custom", NULL));
    /* DELETE is in no rule; methods are exact */
    ck_assert_ptr_null(hm_cors_match(c, "https://app.example.com", "DELETE", NULL, NULL));
    ck_assert_ptr_null(hm_cors_match(c, "https://app.example.com", "put", NULL, NULL));
    ck_assert_ptr_null(hm_cors_match(c, "http://app.example.com", "PUT", NULL, NULL));
    hm_cors_free(c);
}
END_TEST

/* The normal form keeps every element, puts methods in a fixed order and
 * parses back to the same rules. */
START_TEST(test_render_round_trip)
{
    hm_cors_config *c = parse_ok(two_rules);
    hm_xml_writer w;
    hm_xml_writer_init(&w, 1u << 20);
    ck_assert_int_eq(hm_cors_render(c, &w), 0);
    const char *xml = NULL;
    size_t len = 0;
    ck_assert_int_eq(hm_xml_writer_finish(&w, &xml, &len), 0);
    ck_assert_ptr_nonnull(strstr(xml, "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/"
                                      "doc/2006-03-01/\"><CORSRule><ID>writers</ID>"));
    ck_assert_ptr_nonnull(strstr(xml, "<AllowedMethod>PUT</AllowedMethod>"
                                      "<AllowedMethod>POST</AllowedMethod>"));
    ck_assert_ptr_nonnull(strstr(xml, "<ExposeHeader>ETag</ExposeHeader>"
                                      "<MaxAgeSeconds>3000</MaxAgeSeconds>"));
    hm_cors_config *back = NULL;
    const char *why = NULL;
    ck_assert_int_eq(hm_cors_parse(xml, len, &back, &why), 0);
    ck_assert_uint_eq(back->rule_count, 2);
    ck_assert_uint_eq(back->rules[0].methods, HM_CORS_PUT | HM_CORS_POST);
    ck_assert_uint_eq(back->rules[0].header_count, 2);
    ck_assert_str_eq(back->rules[0].headers[1], "Content-Type");
    ck_assert_uint_eq(back->rules[1].methods, HM_CORS_GET);
    ck_assert(!back->rules[1].has_max_age);
    hm_cors_free(back);
    hm_xml_writer_free(&w);
    hm_cors_free(c);
}
END_TEST

/* Structural problems are MalformedXML (HM_EPROTO); S3's semantic refusals
 * are InvalidRequest (HM_EINVAL) with AWS's message. */
START_TEST(test_refusals)
{
    const char *why = NULL;
    ck_assert_int_eq(parse_rc("<CORSConfiguration/>", &why), HM_EPROTO);
    ck_assert_int_eq(parse_rc("<Other><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                              "<AllowedMethod>GET</AllowedMethod></CORSRule></Other>", &why),
                     HM_EPROTO);
    ck_assert_int_eq(parse_rc("<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod>"
                              "</CORSRule></CORSConfiguration>", &why),
                     HM_EPROTO);
    ck_assert_int_eq(parse_rc("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                              "</CORSRule></CORSConfiguration>", &why),
                     HM_EPROTO);
    ck_assert_int_eq(parse_rc("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                              "<AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>-1"
                              "</MaxAgeSeconds></CORSRule></CORSConfiguration>", &why),
                     HM_EPROTO);
    ck_assert_int_eq(parse_rc("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                              "<AllowedMethod>PATCH</AllowedMethod></CORSRule>"
                              "</CORSConfiguration>", &why),
                     HM_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "unsupported HTTP method"));
    ck_assert_int_eq(parse_rc("<CORSConfiguration><CORSRule><AllowedOrigin>*.*</AllowedOrigin>"
                              "<AllowedMethod>GET</AllowedMethod></CORSRule>"
                              "</CORSConfiguration>", &why),
                     HM_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "AllowedOrigin"));
    ck_assert_int_eq(parse_rc("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                              "<AllowedMethod>GET</AllowedMethod><AllowedHeader>**"
                              "</AllowedHeader></CORSRule></CORSConfiguration>", &why),
                     HM_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "AllowedHeader"));
    ck_assert_int_eq(parse_rc("<CORSConfiguration><CORSRule", &why), HM_EPROTO);
}
END_TEST

/* 100 rules are accepted and the 101st refused. */
START_TEST(test_rule_limit)
{
    static const char rule[] = "<CORSRule><AllowedOrigin>*</AllowedOrigin>"
                               "<AllowedMethod>GET</AllowedMethod></CORSRule>";
    size_t cap = 64 + 101 * sizeof(rule);
    char *xml = malloc(cap);
    for (int n = 100; n <= 101; n++) {
        size_t o = (size_t)snprintf(xml, cap, "<CORSConfiguration>");
        for (int i = 0; i < n; i++) o += (size_t)snprintf(xml + o, cap - o, "%s", rule);
        snprintf(xml + o, cap - o, "</CORSConfiguration>");
        const char *why = NULL;
        ck_assert_int_eq(parse_rc(xml, &why), n == 100 ? 0 : HM_EINVAL);
    }
    free(xml);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_cors");
    TCase *tc = tcase_create("cors");
    tcase_add_test(tc, test_wildcard);
    tcase_add_test(tc, test_match);
    tcase_add_test(tc, test_render_round_trip);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_rule_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
