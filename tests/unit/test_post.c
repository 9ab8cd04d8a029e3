/* test_post.c - browser form uploads: the streaming multipart/form-data
 * parser (every split of a body, delimiters inside data, malformed and
 * oversized forms), the POST policy evaluator, the credential and the
 * policy signature (the JSON parser: test_gw_json.c). */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_post.h"

#define CT "multipart/form-data; boundary=XyZ"

/* ---- a collecting sink ----------------------------------------------------------- */

typedef struct collect {
    int begins;
    char filename[256];
    char ctype[256];
    bool has_ctype;
    char *data;
    size_t len;
    size_t cap;
    int fail_at_begin;   /* error to return from file_begin, 0 for none */
    size_t fields_at_begin;
} collect;

static int c_begin(void *ctx, const hm_post_form *f, const char *filename, const char *ct)
{
    collect *c = ctx;
    c->begins++;
    snprintf(c->filename, sizeof(c->filename), "%s", filename);
    c->has_ctype = ct != NULL;
    if (ct != NULL) snprintf(c->ctype, sizeof(c->ctype), "%s", ct);
    c->fields_at_begin = hm_post_form_count(f);
    return c->fail_at_begin;
}

static int c_data(void *ctx, const void *d, size_t n)
{
    collect *c = ctx;
    ck_assert_uint_gt(n, 0);
    if (c->len + n > c->cap) {
        c->cap = (c->len + n) * 2;
        c->data = realloc(c->data, c->cap);
        ck_assert_ptr_nonnull(c->data);
    }
    memcpy(c->data + c->len, d, n);
    c->len += n;
    return 0;
}

/* Feed body in pieces: cuts[] are ascending offsets (ncuts of them). */
static int run_form(const char *ct, const char *body, size_t len, const size_t *cuts,
                    size_t ncuts, collect *c, hm_post_form **out)
{
    hm_post_form *f = NULL;
    int rc = hm_post_form_new(ct, &f);
    if (rc != 0) return rc;
    hm_post_sink sink = {.file_begin = c_begin, .file_data = c_data, .ctx = c};
    size_t at = 0;
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        rc = hm_post_form_feed(f, body + at, end - at, &sink);
        at = end;
    }
    if (rc == 0) rc = hm_post_form_finish(f);
    if (out != NULL) *out = f;
    else hm_post_form_free(f);
    return rc;
}

static const char good_body2[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"key\"\r\n"
    "\r\n"
    "user/${filename}\r\n"
    "--XyZ\r\n"
    "content-disposition: form-data; name=\"Content-Type\"\r\n"
    "\r\n"
    "image/png\r\n"
    "--XyZ \t\r\n"
    "Content-Disposition: form-data; name=empty\r\n"
    "\r\n"
    "\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".png\"\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "\r\n--XyY-not-quite\r\r\n--Xy\r\n-\r\n--\r\n--X\x00\xff data\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"after\"\r\n"
    "\r\n"
    "ignored\r\n"
    "--XyZ--\r\n"
    "epilogue";
static const char good_file2[] = "\r\n--XyY-not-quite\r\r\n--Xy\r\n-\r\n--\r\n--X\x00\xff data";

static void check_good2(const hm_post_form *f, const collect *c)
{
    ck_assert_int_eq(c->begins, 1);
    ck_assert_str_eq(c->filename, "a \"b\".png");
    ck_assert(c->has_ctype);
    ck_assert_str_eq(c->ctype, "image/png");
    ck_assert_uint_eq(c->fields_at_begin, 3);
    ck_assert_uint_eq(c->len, sizeof(good_file2) - 1);
    ck_assert_mem_eq(c->data, good_file2, c->len);
    ck_assert_uint_eq(hm_post_form_count(f), 3);
    ck_assert_str_eq(hm_post_form_get(f, "KEY"), "user/${filename}");
    ck_assert_str_eq(hm_post_form_get(f, "content-type"), "image/png");
    ck_assert_str_eq(hm_post_form_get(f, "empty"), "");
    ck_assert_ptr_null(hm_post_form_get(f, "after"));
    ck_assert(hm_post_form_file_seen(f));
}

/* The boundary inside the file followed by bytes that are not "--",
 * padding or CRLF is a delimiter RFC 2046 does not allow: refused. */
START_TEST(form_delimiter_then_junk)
{
    static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\n"
                               "ab\r\n--XyZ-more\r\n--XyZ--";
    collect c = {0};
    ck_assert_int_eq(run_form(CT, body, sizeof(body) - 1, NULL, 0, &c, NULL), HM_EPROTO);
    ck_assert_uint_eq(c.len, 2);
    free(c.data);
}
END_TEST

/* A well-formed form parses to its fields and the exact file bytes, even
 * with delimiter look-alikes (prefixes, a different boundary) inside the
 * file; parts after the file are ignored; padding after a delimiter is
 * allowed. */
START_TEST(form_good)
{
    collect c = {0};
    hm_post_form *f = NULL;
    ck_assert_int_eq(run_form(CT, good_body2, sizeof(good_body2) - 1, NULL, 0, &c, &f), 0);
    check_good2(f, &c);
    hm_post_form_free(f);
    free(c.data);
}
END_TEST

/* The same body split into two pieces at every offset, and into three at
 * every pair of offsets near the file, parses identically. */
START_TEST(form_every_split)
{
    size_t len = sizeof(good_body2) - 1;
    for (size_t i = 0; i <= len; i++) {
        collect c = {0};
        hm_post_form *f = NULL;
        size_t cut[1] = {i};
        ck_assert_int_eq(run_form(CT, good_body2, len, cut, 1, &c, &f), 0);
        check_good2(f, &c);
        hm_post_form_free(f);
        free(c.data);
    }
    const char *file = strstr(good_body2, "\r\n\r\n\r\n--XyY");
    size_t from = (size_t)(file - good_body2);
    for (size_t i = from; i < from + 60; i++) {
        for (size_t j = i; j < from + 70; j++) {
            collect c = {0};
            hm_post_form *f = NULL;
            size_t cut[2] = {i, j};
            ck_assert_int_eq(run_form(CT, good_body2, len, cut, 2, &c, &f), 0);
            check_good2(f, &c);
            hm_post_form_free(f);
            free(c.data);
        }
    }
}
END_TEST

/* One byte at a time parses identically too. */
START_TEST(form_bytewise)
{
    size_t len = sizeof(good_body2) - 1;
    size_t *cuts = malloc(len * sizeof(*cuts));
    ck_assert_ptr_nonnull(cuts);
    for (size_t i = 0; i < len; i++) cuts[i] = i;
    collect c = {0};
    hm_post_form *f = NULL;
    ck_assert_int_eq(run_form(CT, good_body2, len, cuts, len, &c, &f), 0);
    check_good2(f, &c);
    hm_post_form_free(f);
    free(c.data);
    free(cuts);
}
END_TEST

/* A preamble before the first delimiter is skipped, and a CR before the
 * first delimiter does not confuse the matcher. */
START_TEST(form_preamble)
{
    static const char body[] = "preamble\r\r\n--XyZ\r\n"
                               "Content-Disposition: form-data; name=file\r\n\r\n"
                               "abc\r\n--XyZ--";
    collect c = {0};
    ck_assert_int_eq(run_form(CT, body, sizeof(body) - 1, NULL, 0, &c, NULL), 0);
    ck_assert_uint_eq(c.len, 3);
    ck_assert_mem_eq(c.data, "abc", 3);
    free(c.data);
}
END_TEST

/* Content-Type: the boundary may be quoted; other media types, a missing,
 * empty, over-long or badly-charactered boundary are refused. */
START_TEST(form_content_type)
{
    hm_post_form *f = NULL;
    ck_assert_int_eq(hm_post_form_new("Multipart/Form-Data; charset=x; boundary=\"a b'c\"", &f),
                     0);
    hm_post_form_free(f);
    ck_assert_int_eq(hm_post_form_new("multipart/mixed; boundary=x", &f), HM_EINVAL);
    ck_assert_int_eq(hm_post_form_new("multipart/form-data", &f), HM_EINVAL);
    ck_assert_int_eq(hm_post_form_new("multipart/form-data; boundary=", &f), HM_EINVAL);
    ck_assert_int_eq(hm_post_form_new("multipart/form-data; boundary=a\"b", &f), HM_EINVAL);
    ck_assert_int_eq(hm_post_form_new("multipart/form-data; boundary=x; boundary=y", &f),
                     HM_EINVAL);
    char ct[200];
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%071d", 0);
    ck_assert_int_eq(hm_post_form_new(ct, &f), HM_EINVAL);
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%070d", 0);
    ck_assert_int_eq(hm_post_form_new(ct, &f), 0);
    hm_post_form_free(f);
    ck_assert_int_eq(hm_post_form_new(NULL, &f), HM_EINVAL);
}
END_TEST

/* Malformed forms are refused with HM_EPROTO (or HM_ENOENT without a file
 * part), whole or split. */
START_TEST(form_malformed)
{
#define CASE(b, r) {b, sizeof(b) - 1, r}
    static const struct {
        const char *body;
        size_t len;
        int rc;
    } cases[] = {
        /* no file part */
        CASE("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--", HM_ENOENT),
        /* body ends before the closing delimiter */
        CASE("--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nabc", HM_EPROTO),
        CASE("--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nabc\r\n--XyZ", HM_EPROTO),
        CASE("", HM_EPROTO),
        /* no Content-Disposition */
        CASE("--XyZ\r\nContent-Type: a/b\r\n\r\nv\r\n--XyZ--", HM_EPROTO),
        /* not form-data, no name, empty name */
        CASE("--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ--", HM_EPROTO),
        CASE("--XyZ\r\nContent-Disposition: form-data; filename=a\r\n\r\nv\r\n--XyZ--", HM_EPROTO),
        CASE("--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nv\r\n--XyZ--", HM_EPROTO),
        CASE("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--", HM_EPROTO),
        /* bare LF in headers, folded header, header without a colon */
        CASE("--XyZ\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n--XyZ--", HM_EPROTO),
        CASE("--XyZ\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nv\r\n--XyZ--", HM_EPROTO),
        CASE("--XyZ\r\nnonsense\r\n\r\nv\r\n--XyZ--", HM_EPROTO),
        /* duplicate field, duplicate disposition */
        CASE("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
         "--XyZ\r\nContent-Disposition: form-data; name=A\r\n\r\n2\r\n--XyZ--", HM_EPROTO),
        CASE("--XyZ\r\nContent-Disposition: form-data; name=a\r\n"
         "Content-Disposition: form-data; name=b\r\n\r\n1\r\n--XyZ--", HM_EPROTO),
        /* NUL in a field value */
        CASE("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\0002\r\n--XyZ--", HM_EPROTO),
        /* junk after a delimiter; a lone '-' */
        CASE("--XyZx\r\n", HM_EPROTO),
        CASE("--XyZ-x", HM_EPROTO),
        CASE("--XyZ \r\r", HM_EPROTO),
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len;
        collect c = {0};
        int rc = run_form(CT, cases[i].body, len, NULL, 0, &c, NULL);
        ck_assert_msg(rc == cases[i].rc, "case %zu: %d", i, rc);
        free(c.data);
        for (size_t cut = 0; cut <= len; cut++) {
            collect c2 = {0};
            size_t cuts[1] = {cut};
            rc = run_form(CT, cases[i].body, len, cuts, 1, &c2, NULL);
            ck_assert_msg(rc == cases[i].rc, "case %zu cut %zu: %d", i, cut, rc);
            free(c2.data);
        }
    }
}
END_TEST

/* Bounds: a value over HM_POST_VALUE_BYTES_MAX, a header line over
 * HM_POST_HEADER_LINE_BYTES_MAX and more than HM_POST_FIELDS_MAX fields
 * are HM_ETOOBIG; the largest value allowed is fine. */
START_TEST(form_bounds)
{
    size_t cap = 2 * HM_POST_VALUE_BYTES_MAX + 100 * HM_POST_FIELDS_MAX + 4096;
    char *b = malloc(cap);
    ck_assert_ptr_nonnull(b);
    for (int over = 0; over <= 1; over++) {
        size_t n = (size_t)snprintf(b, cap, "--XyZ\r\nContent-Disposition: form-data; name=v\r\n\r\n");
        size_t vl = HM_POST_VALUE_BYTES_MAX + (size_t)over;
        memset(b + n, 'v', vl);
        n += vl;
        n += (size_t)snprintf(b + n, cap - n,
                              "\r\n--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nx\r\n--XyZ--");
        collect c = {0};
        hm_post_form *f = NULL;
        ck_assert_int_eq(run_form(CT, b, n, NULL, 0, &c, &f), over ? HM_ETOOBIG : 0);
        if (!over) ck_assert_uint_eq(strlen(hm_post_form_get(f, "v")), vl);
        hm_post_form_free(f);
        free(c.data);
    }
    size_t n = (size_t)snprintf(b, cap, "--XyZ\r\nContent-Disposition: form-data; name=v; x=");
    memset(b + n, 'h', HM_POST_HEADER_LINE_BYTES_MAX);
    n += HM_POST_HEADER_LINE_BYTES_MAX;
    n += (size_t)snprintf(b + n, cap - n, "\r\n\r\n--XyZ--");
    collect c = {0};
    ck_assert_int_eq(run_form(CT, b, n, NULL, 0, &c, NULL), HM_ETOOBIG);
    n = 0;
    for (unsigned i = 0; i <= HM_POST_FIELDS_MAX; i++)
        n += (size_t)snprintf(b + n, cap - n,
                              "--XyZ\r\nContent-Disposition: form-data; name=f%u\r\n\r\nv\r\n", i);
    n += (size_t)snprintf(b + n, cap - n, "--XyZ--");
    ck_assert_int_eq(run_form(CT, b, n, NULL, 0, &c, NULL), HM_ETOOBIG);
    free(b);
}
END_TEST

/* A sink error stops the parser and sticks: later feeds return it. */
START_TEST(form_sink_error)
{
    hm_post_form *f = NULL;
    ck_assert_int_eq(hm_post_form_new(CT, &f), 0);
    collect c = {.fail_at_begin = HM_ECANCELED};
    hm_post_sink sink = {.file_begin = c_begin, .file_data = c_data, .ctx = &c};
    static const char body[] = "--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\nabc";
    ck_assert_int_eq(hm_post_form_feed(f, body, sizeof(body) - 1, &sink), HM_ECANCELED);
    ck_assert_int_eq(hm_post_form_feed(f, "x", 1, &sink), HM_ECANCELED);
    ck_assert_int_eq(hm_post_form_finish(f), HM_ECANCELED);
    ck_assert_uint_eq(c.len, 0);
    hm_post_form_free(f);
}
END_TEST

/* ---- policy ---------------------------------------------------------------------------- */

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    ck_assert_ptr_nonnull(out);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static const char policy_json[] =
    "{\"expiration\": \"2030-01-01T12:00:00.000Z\", \"conditions\": ["
    "{\"bucket\": \"b1\"}, [\"starts-with\", \"$key\", \"user/\"], "
    "[\"eq\", \"$Content-Type\", \"image/png\"], [\"content-length-range\", 1, 10485760], "
    "[\"content-length-range\", \"0\", \"2000000\"], "
    "{\"success_action_status\": \"201\"}, {\"x-amz-credential\": \"AK/20291231/us-east-1/s3/aws4_request\"}, "
    "{\"x-amz-algorithm\": \"AWS4-HMAC-SHA256\"}, {\"x-amz-date\": \"20291231T000000Z\"}, "
    "[\"starts-with\", \"$x-amz-meta-tag\", \"\"]]}";

/* Build a form from name/value pairs plus an empty file part. */
static hm_post_form *form_of(const char *const *kv, size_t n)
{
    char body[8192];
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        o += (size_t)snprintf(body + o, sizeof(body) - o,
                              "--XyZ\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n",
                              kv[i], kv[i + 1]);
    o += (size_t)snprintf(body + o, sizeof(body) - o,
                          "--XyZ\r\nContent-Disposition: form-data; name=file\r\n\r\n\r\n--XyZ--");
    collect c = {0};
    hm_post_form *f = NULL;
    ck_assert_int_eq(run_form(CT, body, o, NULL, 0, &c, &f), 0);
    free(c.data);
    return f;
}

static const char *const base_fields[] = {
    "key", "user/a.png", "Content-Type", "image/png", "success_action_status", "201",
    "x-amz-credential", "AK/20291231/us-east-1/s3/aws4_request", "x-amz-algorithm",
    "AWS4-HMAC-SHA256", "x-amz-date", "20291231T000000Z", "policy", "ignored-by-check",
    "x-amz-signature", "ignored", "x-ignore-me", "anything", "X-Amz-Meta-Tag", "t",
};
#define BASE_N (sizeof(base_fields) / sizeof(base_fields[0]))

static int check(const hm_post_policy *p, const char *const *kv, size_t n, const char *bucket,
                 const char *key, int64_t now_ms, int64_t *mn, int64_t *mx, char *msg)
{
    hm_post_form *f = form_of(kv, n);
    hm_post_check_args a = {.form = f, .bucket = bucket, .key = key, .now_ms = now_ms};
    int rc = hm_post_policy_check(p, &a, mn, mx, msg, 256);
    hm_post_form_free(f);
    return rc;
}

#define NOW_MS 1893456000000LL /* 2030-01-01T00:00:00Z */

/* A form meeting every condition passes and the tightest length range is
 * reported; exempt fields (signature, policy, file, x-ignore-*) need no
 * condition. */
START_TEST(policy_pass)
{
    char *enc = b64(policy_json);
    hm_post_policy p;
    ck_assert_int_eq(hm_post_policy_parse(enc, &p, NULL), 0);
    free(enc);
    ck_assert_int_eq(p.expiration_ms, NOW_MS + 12 * 3600 * 1000);
    ck_assert_uint_eq(p.cond_count, 10);
    int64_t mn = -1, mx = -1;
    char msg[256] = "";
    ck_assert_int_eq(check(&p, base_fields, BASE_N, "b1", "user/a.png", NOW_MS, &mn, &mx, msg), 0);
    ck_assert_int_eq(mn, 1);
    ck_assert_int_eq(mx, 2000000);
    hm_post_policy_free(&p);
}
END_TEST

/* Each condition kind fails on its own: eq bucket, starts-with key, eq
 * Content-Type; an extra field; an expired policy. */
START_TEST(policy_fail)
{
    char *enc = b64(policy_json);
    hm_post_policy p;
    ck_assert_int_eq(hm_post_policy_parse(enc, &p, NULL), 0);
    free(enc);
    int64_t mn, mx;
    char msg[256];
    ck_assert_int_eq(check(&p, base_fields, BASE_N, "b2", "user/a.png", NOW_MS, &mn, &mx, msg),
                     HM_EPERM);
    ck_assert_str_eq(msg, "Invalid according to Policy: Policy Condition failed: "
                          "[\"eq\", \"$bucket\", \"b1\"]");
    ck_assert_int_eq(check(&p, base_fields, BASE_N, "b1", "other/a.png", NOW_MS, &mn, &mx, msg),
                     HM_EPERM);
    ck_assert_str_eq(msg, "Invalid according to Policy: Policy Condition failed: "
                          "[\"starts-with\", \"$key\", \"user/\"]");
    const char *kv[BASE_N + 2];
    memcpy(kv, base_fields, sizeof(base_fields));
    kv[3] = "image/jpeg";
    ck_assert_int_eq(check(&p, kv, BASE_N, "b1", "user/a.png", NOW_MS, &mn, &mx, msg), HM_EPERM);
    ck_assert(strstr(msg, "$Content-Type") != NULL);
    memcpy(kv, base_fields, sizeof(base_fields));
    kv[BASE_N] = "acl";
    kv[BASE_N + 1] = "public-read";
    ck_assert_int_eq(check(&p, kv, BASE_N + 2, "b1", "user/a.png", NOW_MS, &mn, &mx, msg),
                     HM_EPERM);
    ck_assert_str_eq(msg, "Invalid according to Policy: Extra input fields: acl");
    ck_assert_int_eq(check(&p, base_fields, BASE_N, "b1", "user/a.png", NOW_MS + 13 * 3600 * 1000,
                           &mn, &mx, msg),
                     HM_EPERM);
    ck_assert_str_eq(msg, "Invalid according to Policy: Policy expired.");
    hm_post_policy_free(&p);
}
END_TEST

/* starts-with on Content-Type checks every comma-separated value;
 * starts-with "" accepts anything. */
START_TEST(policy_content_type_list)
{
    char *enc = b64("{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":["
                    "[\"starts-with\",\"$Content-Type\",\"image/\"],[\"starts-with\",\"$key\",\"\"]]}");
    hm_post_policy p;
    ck_assert_int_eq(hm_post_policy_parse(enc, &p, NULL), 0);
    free(enc);
    int64_t mn, mx;
    char msg[256];
    const char *ok[] = {"key", "x", "content-type", "image/png, image/jpeg"};
    ck_assert_int_eq(check(&p, ok, 4, "b", "x", NOW_MS, &mn, &mx, msg), 0);
    ck_assert_int_eq(mn, 0);
    ck_assert(mx == INT64_MAX);
    const char *bad[] = {"key", "x", "content-type", "image/png,text/html"};
    ck_assert_int_eq(check(&p, bad, 4, "b", "x", NOW_MS, &mn, &mx, msg), HM_EPERM);
    hm_post_policy_free(&p);
}
END_TEST

/* Documents that are not policies are refused; bad base64 is HM_EINVAL. */
START_TEST(policy_bad)
{
    static const char *bad[] = {
        "[]",
        "{\"conditions\":[]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\"}",
        "{\"expiration\":\"2030-13-01T12:00:00Z\",\"conditions\":[]}",
        "{\"expiration\":\"2030-02-30T12:00:00Z\",\"conditions\":[]}",
        "{\"expiration\":\"2030-01-01 12:00:00Z\",\"conditions\":[]}",
        "{\"expiration\":\"2030-01-01T12:00:00.Z\",\"conditions\":[]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":{}}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[],\"x\":1}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[{\"a\":\"1\",\"b\":\"2\"}]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[{\"a\":1}]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[[\"eq\",\"key\",\"v\"]]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[[\"eq\",\"$key\"]]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[[\"lt\",\"$key\",\"v\"]]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[[\"content-length-range\",5,1]]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[[\"content-length-range\",-1,1]]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[[\"content-length-range\",\"x\",1]]}",
        "{\"expiration\":\"2030-01-01T12:00:00Z\",\"conditions\":[\"eq\"]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *enc = b64(bad[i]);
        hm_post_policy p;
        const char *why = NULL;
        ck_assert_msg(hm_post_policy_parse(enc, &p, &why) == HM_EPROTO, "%s", bad[i]);
        ck_assert_ptr_nonnull(why);
        free(enc);
    }
    hm_post_policy p;
    ck_assert_int_eq(hm_post_policy_parse("e30", &p, NULL), HM_EINVAL);
    ck_assert_int_eq(hm_post_policy_parse("e3=0", &p, NULL), HM_EINVAL);
    ck_assert_int_eq(hm_post_policy_parse("!!!!", &p, NULL), HM_EINVAL);
}
END_TEST

/* ---- credential, signature, key ------------------------------------------------------- */

/* The credential needs five parts, an 8-digit date, s3 and aws4_request. */
START_TEST(credential_parse)
{
    hm_post_credential c;
    ck_assert_int_eq(hm_post_credential_parse("AK/20291231/eu-west-1/s3/aws4_request", &c), 0);
    ck_assert_str_eq(c.access_key_id, "AK");
    ck_assert_str_eq(c.date, "20291231");
    ck_assert_str_eq(c.region, "eu-west-1");
    static const char *bad[] = {
        "AK/20291231/eu-west-1/s3", "AK/20291231/eu-west-1/s3/aws4_request/x",
        "/20291231/eu-west-1/s3/aws4_request", "AK/2029123/eu-west-1/s3/aws4_request",
        "AK/2029123x/eu-west-1/s3/aws4_request", "AK/20291231/EU/s3/aws4_request",
        "AK/20291231/eu-west-1/ec2/aws4_request", "AK/20291231/eu-west-1/s3/aws4_requests",
        "A K/20291231/eu-west-1/s3/aws4_request", "AK/20291231//s3/aws4_request",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(hm_post_credential_parse(bad[i], &c) == HM_EINVAL, "%s", bad[i]);
}
END_TEST

static void hmac(const void *key, size_t kl, const char *msg, uint8_t out[32])
{
    unsigned ol = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)kl, (const unsigned char *)msg,
                               strlen(msg), out, &ol));
    ck_assert_uint_eq(ol, 32);
}

/* The signature is hex HMAC over the base64 policy with the SigV4 signing
 * key (computed here independently with OpenSSL); any other is refused. */
START_TEST(signature_check)
{
    const char *secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const char *policy = "eyJleHBpcmF0aW9uIjoiMjAzMC0wMS0wMVQxMjowMDowMFoiLCJjb25kaXRpb25zIjpbXX0=";
    uint8_t k1[32], k2[32], k3[32], k4[32], sig[32];
    char ks[64];
    snprintf(ks, sizeof(ks), "AWS4%s", secret);
    hmac(ks, strlen(ks), "20291231", k1);
    hmac(k1, 32, "us-east-1", k2);
    hmac(k2, 32, "s3", k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, policy, sig);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", sig[i]);
    hm_post_credential c;
    ck_assert_int_eq(hm_post_credential_parse("AK/20291231/us-east-1/s3/aws4_request", &c), 0);
    ck_assert_int_eq(hm_post_signature_check(secret, &c, policy, hex), 0);
    hex[0] = hex[0] == '0' ? '1' : '0';
    ck_assert_int_eq(hm_post_signature_check(secret, &c, policy, hex), HM_EPERM);
    hex[0] = hex[0] == '0' ? '1' : '0';
    ck_assert_int_eq(hm_post_signature_check("other", &c, policy, hex), HM_EPERM);
    ck_assert_int_eq(hm_post_signature_check(secret, &c, "e30=", hex), HM_EPERM);
    ck_assert_int_eq(hm_post_signature_check(secret, &c, policy, "abc"), HM_EPERM);
}
END_TEST

/* ${filename} is replaced everywhere; the result is bounded by the key
 * limit. */
START_TEST(key_substitute)
{
    char *k = NULL;
    ck_assert_int_eq(hm_post_key_substitute("u/${filename}/${filename}x", "a.png", &k), 0);
    ck_assert_str_eq(k, "u/a.png/a.pngx");
    free(k);
    ck_assert_int_eq(hm_post_key_substitute("${filenam}", "a", &k), 0);
    ck_assert_str_eq(k, "${filenam}");
    free(k);
    char name[600];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    ck_assert_int_eq(hm_post_key_substitute("${filename}${filename}", name, &k), HM_ETOOBIG);
}
END_TEST

static Suite *post_suite(void)
{
    Suite *s = suite_create("post");
    TCase *tc = tcase_create("form");
    tcase_add_test(tc, form_delimiter_then_junk);
    tcase_add_test(tc, form_good);
    tcase_add_test(tc, form_every_split);
    tcase_add_test(tc, form_bytewise);
    tcase_add_test(tc, form_preamble);
    tcase_add_test(tc, form_content_type);
    tcase_add_test(tc, form_malformed);
    tcase_add_test(tc, form_bounds);
    tcase_add_test(tc, form_sink_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("policy");
    tcase_add_test(tc, policy_pass);
    tcase_add_test(tc, policy_fail);
    tcase_add_test(tc, policy_content_type_list);
    tcase_add_test(tc, policy_bad);
    tcase_add_test(tc, credential_parse);
    tcase_add_test(tc, signature_check);
    tcase_add_test(tc, key_substitute);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(post_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
