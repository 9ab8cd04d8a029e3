/* test_sigv4.c - SigV4 against the examples AWS publishes ("Signature
 * Calculations for the Authorization Header: Transferring Payload in a
 * Single Chunk", "... in Multiple Chunks", "Authenticating Requests: Using
 * Query Parameters", "Examples of how to derive a signing key"), plus
 * refusals, hostile headers and sign-then-verify round trips. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_sigv4.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EMPTY HM_SIGV4_EMPTY_SHA256
#define T0_MS 1369353600000ll /* 2013-05-24T00:00:00Z */
#define HOST "examplebucket.s3.amazonaws.com"

typedef struct test_keys {
    const char *ak;
    const char *sk;
    int calls;
} test_keys;

static int test_lookup(void *ctx, const char *ak, char *secret, size_t cap)
{
    test_keys *k = ctx;
    k->calls++;
    if (strcmp(ak, k->ak) != 0)
        return HM_ENOENT;
    if (strlen(k->sk) >= cap)
        return HM_EINTERNAL;
    strcpy(secret, k->sk);
    return 0;
}

static test_keys g_keys = {AK, SK, 0};

static hm_sigv4_verify_config cfg_at(int64_t now_ms)
{
    hm_sigv4_verify_config c = {.now_ms = now_ms, .lookup = test_lookup,
                                .lookup_ctx = &g_keys};
    return c;
}

static const hm_sigv4_credentials g_cred = {AK, SK, "us-east-1", "s3"};

/* GET /test.txt of the single-chunk page. */
static const hm_sigv4_header get_headers[] = {
    {"Host", HOST},
    {"Range", "bytes=0-9"},
    {"x-amz-content-sha256", EMPTY},
    {"x-amz-date", "20130524T000000Z"},
};
static const hm_sigv4_request get_req = {"GET", "/test.txt", NULL,
                                         get_headers, 4, NULL};
#define GET_SIGNED "host;range;x-amz-content-sha256;x-amz-date"
#define GET_SIG "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"

static int verify_header(const hm_sigv4_request *req, const char *authz,
                         int64_t now_ms, hm_sigv4_verified *v)
{
    hm_sigv4_auth auth;
    hm_sigv4_reason r;
    int rc = hm_sigv4_parse_auth_header(authz, &auth, &r);
    if (rc != 0) {
        memset(v, 0, sizeof *v);
        v->reason = r;
        return rc;
    }
    hm_sigv4_verify_config c = cfg_at(now_ms);
    return hm_sigv4_verify(req, &auth, &c, v);
}

/* The canonical request of the GET example matches the AWS page byte for
 * byte, and so does its string to sign. */
START_TEST(canonical_request_get_example)
{
    char buf[2048];
    size_t len = 0;
    const char *want =
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
        "range:bytes=0-9\nx-amz-content-sha256:" EMPTY "\n"
        "x-amz-date:20130524T000000Z\n\n" GET_SIGNED "\n" EMPTY;
    ck_assert_int_eq(hm_sigv4_canonical_request(&get_req, GET_SIGNED, EMPTY,
                                                false, buf, sizeof buf, &len),
                     0);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(len, strlen(want));

    char sts[512];
    size_t sts_len = 0;
    ck_assert_int_eq(hm_sigv4_string_to_sign("20130524T000000Z",
                                             "20130524/us-east-1/s3/aws4_request",
                                             buf, len, sts, sizeof sts, &sts_len),
                     0);
    ck_assert_str_eq(sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n"
                          "20130524/us-east-1/s3/aws4_request\n"
                          "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");

    uint8_t key[32];
    char sig[65];
    ck_assert_int_eq(hm_sigv4_signing_key(SK, "20130524", "us-east-1", "s3", key), 0);
    ck_assert_int_eq(hm_sigv4_signature_hex(key, sts, sts_len, sig), 0);
    ck_assert_str_eq(sig, GET_SIG);
}
END_TEST

/* A too-small output buffer is HM_ETOOBIG, never an overflow. */
START_TEST(canonical_request_small_buffer)
{
    char buf[32];
    size_t len = 0;
    ck_assert_int_eq(hm_sigv4_canonical_request(&get_req, GET_SIGNED, EMPTY,
                                                false, buf, sizeof buf, &len),
                     HM_ETOOBIG);
}
END_TEST

/* Signing-key derivation matches AWS's published intermediate values. */
START_TEST(signing_key_vectors)
{
    uint8_t key[32];
    char hex[65];
    ck_assert_int_eq(hm_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                          "20150830", "us-east-1", "iam", key),
                     0);
    ck_assert_int_eq(hm_sigv4_signature_hex(key, "", 0, hex), 0); /* exercise */
    static const char *want =
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9";
    char khex[65];
    for (size_t i = 0; i < 32; i++)
        snprintf(khex + 2 * i, 3, "%02x", key[i]);
    ck_assert_str_eq(khex, want);

    ck_assert_int_eq(hm_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                          "20120215", "us-east-1", "iam", key),
                     0);
    for (size_t i = 0; i < 32; i++)
        snprintf(khex + 2 * i, 3, "%02x", key[i]);
    ck_assert_str_eq(khex,
                     "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    ck_assert_int_eq(hm_sigv4_signing_key(SK, "2013052", "us-east-1", "s3", key),
                     HM_EINVAL);
    ck_assert_int_eq(hm_sigv4_signing_key(SK, "20130524", "", "s3", key),
                     HM_EINVAL);
}
END_TEST

/* The four header-signed examples of the single-chunk page: signing
 * reproduces the published signature and verify accepts it. */
START_TEST(header_examples)
{
    static const hm_sigv4_header put_h[] = {
        {"Host", HOST},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256",
         "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
    };
    static const hm_sigv4_header list_h[] = {
        {"Host", HOST},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-content-sha256", EMPTY},
    };
    struct {
        hm_sigv4_request req;
        const char *signed_headers;
        const char *sig;
    } ex[] = {
        {get_req, GET_SIGNED, GET_SIG},
        {{"PUT", "/test$file.text", NULL, put_h, 5, NULL},
         "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
         "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
        {{"GET", "/", "lifecycle", list_h, 3, NULL},
         "host;x-amz-content-sha256;x-amz-date",
         "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
        {{"GET", "/", "max-keys=2&prefix=J", list_h, 3, NULL},
         "host;x-amz-content-sha256;x-amz-date",
         "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char authz[HM_SIGV4_AUTH_BYTES_MAX + 1];
        char sig[65];
        ck_assert_int_eq(hm_sigv4_sign_headers(&ex[i].req, ex[i].signed_headers,
                                               &g_cred, "20130524T000000Z",
                                               authz, sizeof authz, sig),
                         0);
        ck_assert_str_eq(sig, ex[i].sig);
        /* NULL signed list = every header: same set in these examples */
        ck_assert_int_eq(hm_sigv4_sign_headers(&ex[i].req, NULL, &g_cred,
                                               "20130524T000000Z", authz,
                                               sizeof authz, sig),
                         0);
        ck_assert_str_eq(sig, ex[i].sig);

        hm_sigv4_verified v;
        ck_assert_int_eq(verify_header(&ex[i].req, authz, T0_MS, &v), 0);
        ck_assert_int_eq(v.reason, HM_SIGV4_OK);
        ck_assert_str_eq(v.signature, ex[i].sig);
        ck_assert_str_eq(v.access_key_id, AK);
        ck_assert_str_eq(v.scope, "20130524/us-east-1/s3/aws4_request");
        ck_assert_str_eq(v.amz_date, "20130524T000000Z");
    }
}
END_TEST

/* The published Authorization header (no spaces after commas) parses and
 * verifies; the AWS page's form with spaces does too. */
START_TEST(published_authorization_verifies)
{
    hm_sigv4_verified v;
    const char *forms[] = {
        "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=" GET_SIGNED ",Signature=" GET_SIG,
        "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=" GET_SIGNED ", Signature=" GET_SIG,
        "AWS4-HMAC-SHA256 Signature=" GET_SIG ",SignedHeaders=" GET_SIGNED
        ",Credential=" AK "/20130524/us-east-1/s3/aws4_request",
    };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(verify_header(&get_req, forms[i], T0_MS, &v), 0);
        ck_assert_int_eq(v.reason, HM_SIGV4_OK);
    }
}
END_TEST

/* Wrong secret, tampered header, tampered path, unknown key: refused with
 * the precise reason. */
START_TEST(refusals)
{
    char authz[HM_SIGV4_AUTH_BYTES_MAX + 1];
    hm_sigv4_verified v;
    hm_sigv4_credentials bad = g_cred;
    bad.secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ";
    ck_assert_int_eq(hm_sigv4_sign_headers(&get_req, GET_SIGNED, &bad,
                                           "20130524T000000Z", authz,
                                           sizeof authz, NULL),
                     0);
    ck_assert_int_eq(verify_header(&get_req, authz, T0_MS, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISMATCH);

    ck_assert_int_eq(hm_sigv4_sign_headers(&get_req, GET_SIGNED, &g_cred,
                                           "20130524T000000Z", authz,
                                           sizeof authz, NULL),
                     0);
    hm_sigv4_header h[4];
    memcpy(h, get_headers, sizeof h);
    h[1].value = "bytes=0-10";
    hm_sigv4_request r = get_req;
    r.headers = h;
    ck_assert_int_eq(verify_header(&r, authz, T0_MS, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISMATCH);

    r = get_req;
    r.path = "/test.txu";
    ck_assert_int_eq(verify_header(&r, authz, T0_MS, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISMATCH);

    /* a signed header that is not in the request */
    r = get_req;
    r.header_count = 3;
    h[1].value = "bytes=0-9";
    hm_sigv4_header no_range[3] = {get_headers[0], get_headers[2], get_headers[3]};
    r.headers = no_range;
    ck_assert_int_eq(verify_header(&r, authz, T0_MS, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISMATCH);

    hm_sigv4_credentials other = g_cred;
    other.access_key_id = "AKIDUNKNOWN";
    ck_assert_int_eq(hm_sigv4_sign_headers(&get_req, GET_SIGNED, &other,
                                           "20130524T000000Z", authz,
                                           sizeof authz, NULL),
                     0);
    ck_assert_int_eq(verify_header(&get_req, authz, T0_MS, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_UNKNOWN_KEY);
}
END_TEST

/* A request more than 15 minutes from the server clock, either way, is
 * RequestTimeTooSkewed; within the window it passes. */
START_TEST(clock_skew)
{
    char authz[HM_SIGV4_AUTH_BYTES_MAX + 1];
    hm_sigv4_verified v;
    ck_assert_int_eq(hm_sigv4_sign_headers(&get_req, GET_SIGNED, &g_cred,
                                           "20130524T000000Z", authz,
                                           sizeof authz, NULL),
                     0);
    ck_assert_int_eq(verify_header(&get_req, authz, T0_MS + HM_CLOCK_SKEW_MS_MAX, &v), 0);
    ck_assert_int_eq(verify_header(&get_req, authz, T0_MS - HM_CLOCK_SKEW_MS_MAX, &v), 0);
    ck_assert_int_eq(verify_header(&get_req, authz,
                                   T0_MS + HM_CLOCK_SKEW_MS_MAX + 1000, &v),
                     HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_SKEWED);
    ck_assert_int_eq(verify_header(&get_req, authz,
                                   T0_MS - HM_CLOCK_SKEW_MS_MAX - 1000, &v),
                     HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_SKEWED);
}
END_TEST

/* Scope, date and required-signed-header checks. */
START_TEST(scope_and_required_headers)
{
    hm_sigv4_verified v;
    /* scope date differs from x-amz-date */
    ck_assert_int_eq(verify_header(&get_req,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130525/us-east-1/s3/aws4_request,"
                                   "SignedHeaders=" GET_SIGNED ",Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPROTO);
    ck_assert_int_eq(v.reason, HM_SIGV4_BAD_SCOPE);
    /* service other than s3 */
    ck_assert_int_eq(verify_header(&get_req,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130524/us-east-1/iam/aws4_request,"
                                   "SignedHeaders=" GET_SIGNED ",Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPROTO);
    ck_assert_int_eq(v.reason, HM_SIGV4_BAD_SCOPE);
    /* host not signed */
    ck_assert_int_eq(verify_header(&get_req,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130524/us-east-1/s3/aws4_request,"
                                   "SignedHeaders=range;x-amz-content-sha256;x-amz-date,"
                                   "Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_UNSIGNED_HEADER);
    /* x-amz-date present but unsigned */
    ck_assert_int_eq(verify_header(&get_req,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130524/us-east-1/s3/aws4_request,"
                                   "SignedHeaders=host;range;x-amz-content-sha256,"
                                   "Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_UNSIGNED_HEADER);
    /* x-amz-content-sha256 present but unsigned */
    ck_assert_int_eq(verify_header(&get_req,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130524/us-east-1/s3/aws4_request,"
                                   "SignedHeaders=host;range;x-amz-date,"
                                   "Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_UNSIGNED_HEADER);

    /* no date at all; a malformed x-amz-date */
    hm_sigv4_header h[3] = {get_headers[0], get_headers[1], get_headers[2]};
    hm_sigv4_request r = get_req;
    r.headers = h;
    r.header_count = 3;
    ck_assert_int_eq(verify_header(&r,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130524/us-east-1/s3/aws4_request,"
                                   "SignedHeaders=host;range;x-amz-content-sha256,"
                                   "Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPROTO);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISSING_DATE);
    hm_sigv4_header h4[4];
    memcpy(h4, get_headers, sizeof h4);
    h4[3].value = "2013-05-24T00:00:00Z";
    r.headers = h4;
    r.header_count = 4;
    ck_assert_int_eq(verify_header(&r,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130524/us-east-1/s3/aws4_request,"
                                   "SignedHeaders=" GET_SIGNED ",Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPROTO);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISSING_DATE);

    /* missing and invalid x-amz-content-sha256 */
    hm_sigv4_header nosha[3] = {get_headers[0], get_headers[1], get_headers[3]};
    r.headers = nosha;
    r.header_count = 3;
    ck_assert_int_eq(verify_header(&r,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130524/us-east-1/s3/aws4_request,"
                                   "SignedHeaders=host;range;x-amz-date,"
                                   "Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPROTO);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISSING_CONTENT_SHA);
    memcpy(h4, get_headers, sizeof h4);
    h4[2].value = "not-a-hash";
    r.headers = h4;
    r.header_count = 4;
    ck_assert_int_eq(verify_header(&r,
                                   "AWS4-HMAC-SHA256 Credential=" AK
                                   "/20130524/us-east-1/s3/aws4_request,"
                                   "SignedHeaders=" GET_SIGNED ",Signature=" GET_SIG,
                                   T0_MS, &v),
                     HM_EPROTO);
    ck_assert_int_eq(v.reason, HM_SIGV4_BAD_CONTENT_SHA);
}
END_TEST

/* Any region in the scope is accepted and signed with; the signature binds
 * it (the region the client used). */
START_TEST(any_region_accepted)
{
    char authz[HM_SIGV4_AUTH_BYTES_MAX + 1];
    hm_sigv4_verified v;
    hm_sigv4_credentials c = g_cred;
    c.region = "garage-1";
    ck_assert_int_eq(hm_sigv4_sign_headers(&get_req, GET_SIGNED, &c,
                                           "20130524T000000Z", authz,
                                           sizeof authz, NULL),
                     0);
    ck_assert_int_eq(verify_header(&get_req, authz, T0_MS, &v), 0);
    ck_assert_str_eq(v.region, "garage-1");
    /* the region is bound into the signature: swapping it fails */
    char *p = strstr(authz, "garage-1");
    ck_assert_ptr_nonnull(p);
    memcpy(p, "garage-2", 8);
    ck_assert_int_eq(verify_header(&get_req, authz, T0_MS, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISMATCH);
}
END_TEST

/* Malformed Authorization headers are refused as MALFORMED (or
 * BAD_ALGORITHM for another scheme) without crashing. */
START_TEST(malformed_auth_headers)
{
#define CRED "Credential=" AK "/20130524/us-east-1/s3/aws4_request"
#define SH "SignedHeaders=" GET_SIGNED
#define SG "Signature=" GET_SIG
    static const char *malformed[] = {
        "",
        " ",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 ",
        "AWS4-HMAC-SHA256 " CRED,
        "AWS4-HMAC-SHA256 " CRED "," SH,
        "AWS4-HMAC-SHA256 " SH "," SG,
        "AWS4-HMAC-SHA256 " CRED "," CRED "," SH "," SG,
        "AWS4-HMAC-SHA256 " CRED "," SH "," SH "," SG,
        "AWS4-HMAC-SHA256 " CRED "," SH "," SG "," SG,
        "AWS4-HMAC-SHA256 " CRED "," SH "," SG ",",
        "AWS4-HMAC-SHA256 " CRED "," SH "," SG ",Extra=1",
        "AWS4-HMAC-SHA256 " CRED " " SH " " SG,
        "AWS4-HMAC-SHA256 ," CRED "," SH "," SG,
        "AWS4-HMAC-SHA256 " CRED ",," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_reques," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=" AK "/2013052/us-east-1/s3/aws4_request," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=" AK "/2013052x/us-east-1/s3/aws4_request," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=" AK "/20130524//s3/aws4_request," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request/x," SH "," SG,
        "AWS4-HMAC-SHA256 " CRED ",SignedHeaders=," SG,
        "AWS4-HMAC-SHA256 " CRED ",SignedHeaders=range;host," SG,
        "AWS4-HMAC-SHA256 " CRED ",SignedHeaders=Host;range," SG,
        "AWS4-HMAC-SHA256 " CRED ",SignedHeaders=host;host," SG,
        "AWS4-HMAC-SHA256 " CRED ",SignedHeaders=host;;range," SG,
        "AWS4-HMAC-SHA256 " CRED ",SignedHeaders=host;," SG,
        "AWS4-HMAC-SHA256 " CRED "," SH ",Signature=",
        "AWS4-HMAC-SHA256 " CRED "," SH ",Signature=F0E8BDB87C964420E857BD35B5D6ED310BD44F0170ABA48DD91039C6036BDB41",
        "AWS4-HMAC-SHA256 " CRED "," SH ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb4",
        "AWS4-HMAC-SHA256 " CRED "," SH ",Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb411",
        "AWS4-HMAC-SHA256 " CRED "," SH ",Signature=g0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        "AWS4-HMAC-SHA256 " CRED "\t," SH "," SG,
        "AWS4-HMAC-SHA256 " CRED "\r\n," SH "," SG,
        "AWS4-HMAC-SHA256 credential=" AK "/20130524/us-east-1/s3/aws4_request," SH "," SG,
        "AWS4-HMAC-SHA256 Credential=AK\xc3\xa9/20130524/us-east-1/s3/aws4_request," SH "," SG,
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        hm_sigv4_auth a;
        hm_sigv4_reason r = HM_SIGV4_OK;
        ck_assert_msg(hm_sigv4_parse_auth_header(malformed[i], &a, &r) == HM_EPROTO,
                      "accepted: %s", malformed[i]);
        ck_assert_msg(r == HM_SIGV4_MALFORMED, "reason %d for %s", r, malformed[i]);
    }
    static const char *other_algorithm[] = {
        "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
        "AWS4-ECDSA-P256-SHA256 " CRED "," SH "," SG,
        "Bearer abc",
        "aws4-hmac-sha256 " CRED "," SH "," SG,
    };
    for (size_t i = 0; i < 4; i++) {
        hm_sigv4_auth a;
        hm_sigv4_reason r = HM_SIGV4_OK;
        ck_assert_int_eq(hm_sigv4_parse_auth_header(other_algorithm[i], &a, &r),
                         HM_EPROTO);
        ck_assert_int_eq(r, HM_SIGV4_BAD_ALGORITHM);
    }
    /* the well-formed one parses, fields in place */
    hm_sigv4_auth a;
    ck_assert_int_eq(hm_sigv4_parse_auth_header("AWS4-HMAC-SHA256 " CRED "," SH "," SG,
                                                &a, NULL),
                     0);
    ck_assert_str_eq(a.access_key_id, AK);
    ck_assert_str_eq(a.date, "20130524");
    ck_assert_str_eq(a.region, "us-east-1");
    ck_assert_str_eq(a.service, "s3");
    ck_assert_str_eq(a.signed_headers, GET_SIGNED);
    ck_assert_uint_eq(a.signed_header_count, 4);
    ck_assert_str_eq(a.signature, GET_SIG);
#undef CRED
#undef SH
#undef SG
}
END_TEST

/* Huge inputs: an over-long header, a huge access key, a huge signed list,
 * a path and query over their limits, all refused cleanly. */
START_TEST(huge_inputs)
{
    size_t big = 1u << 20;
    char *s = malloc(big + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, 'A', big);
    s[big] = '\0';
    memcpy(s, "AWS4-HMAC-SHA256 Credential=", 28);
    hm_sigv4_auth a;
    hm_sigv4_reason r;
    ck_assert_int_eq(hm_sigv4_parse_auth_header(s, &a, &r), HM_EPROTO);
    ck_assert_int_eq(r, HM_SIGV4_MALFORMED);

    /* access key just over its bound inside an otherwise valid header */
    char hdr[HM_SIGV4_AUTH_BYTES_MAX + 1];
    char ak[HM_SIGV4_ACCESS_KEY_BYTES_MAX + 2];
    memset(ak, 'K', sizeof ak - 1);
    ak[sizeof ak - 1] = '\0';
    snprintf(hdr, sizeof hdr,
             "AWS4-HMAC-SHA256 Credential=%s/20130524/us-east-1/s3/aws4_request,"
             "SignedHeaders=host,Signature=" GET_SIG, ak);
    ck_assert_int_eq(hm_sigv4_parse_auth_header(hdr, &a, &r), HM_EPROTO);

    /* more signed header names than allowed */
    size_t o = (size_t)snprintf(hdr, sizeof hdr,
                                "AWS4-HMAC-SHA256 Credential=" AK
                                "/20130524/us-east-1/s3/aws4_request,SignedHeaders=");
    for (unsigned i = 0; i < HM_SIGV4_SIGNED_HEADERS_MAX + 1; i++)
        o += (size_t)snprintf(hdr + o, sizeof hdr - o, "%sh%03u", i ? ";" : "", i);
    snprintf(hdr + o, sizeof hdr - o, ",Signature=" GET_SIG);
    ck_assert_int_eq(hm_sigv4_parse_auth_header(hdr, &a, &r), HM_EPROTO);

    /* a path over HM_SIGV4_PATH_BYTES_MAX cannot be canonicalized */
    char *canon = malloc(HM_SIGV4_CANONICAL_BYTES_MAX);
    ck_assert_ptr_nonnull(canon);
    memset(s, 'a', big);
    s[0] = '/';
    s[HM_SIGV4_PATH_BYTES_MAX + 1] = '\0';
    hm_sigv4_request req = get_req;
    req.path = s;
    size_t len;
    ck_assert_int_eq(hm_sigv4_canonical_request(&req, GET_SIGNED, EMPTY, false,
                                                canon, HM_SIGV4_CANONICAL_BYTES_MAX,
                                                &len),
                     HM_EPROTO);
    s[HM_SIGV4_PATH_BYTES_MAX] = '\0'; /* at the limit: fine */
    ck_assert_int_eq(hm_sigv4_canonical_request(&req, GET_SIGNED, EMPTY, false,
                                                canon, HM_SIGV4_CANONICAL_BYTES_MAX,
                                                &len),
                     0);
    /* a query at the limit made of bytes that each encode to three */
    memset(s, ' ', HM_SIGV4_QUERY_BYTES_MAX);
    s[0] = 'q';
    s[1] = '=';
    s[HM_SIGV4_QUERY_BYTES_MAX] = '\0';
    req = get_req;
    req.path = "/";
    req.query = s;
    ck_assert_int_eq(hm_sigv4_canonical_request(&req, GET_SIGNED, EMPTY, false,
                                                canon, HM_SIGV4_CANONICAL_BYTES_MAX,
                                                &len),
                     0);
    s[HM_SIGV4_QUERY_BYTES_MAX] = ' ';
    s[HM_SIGV4_QUERY_BYTES_MAX + 1] = '\0';
    ck_assert_int_eq(hm_sigv4_canonical_request(&req, GET_SIGNED, EMPTY, false,
                                                canon, HM_SIGV4_CANONICAL_BYTES_MAX,
                                                &len),
                     HM_EPROTO);
    /* too many query parameters */
    o = 0;
    for (unsigned i = 0; i < HM_SIGV4_QUERY_PARAMS_MAX + 1; i++)
        o += (size_t)sprintf(s + o, "%sp%u", i ? "&" : "", i);
    ck_assert_int_eq(hm_sigv4_canonical_request(&req, GET_SIGNED, EMPTY, false,
                                                canon, HM_SIGV4_CANONICAL_BYTES_MAX,
                                                &len),
                     HM_EPROTO);
    free(canon);
    free(s);
}
END_TEST

/* Path and query canonicalization follow the S3 rules: "a b" and "a%20b"
 * agree, %2F stays distinct from '/', unreserved escapes are decoded,
 * lower-case escapes are upper-cased, bad escapes are refused, query
 * parameters are sorted by name then value and valueless ones get '='. */
START_TEST(uri_canonicalization)
{
    static const struct {
        const char *path, *query, *want_uri, *want_query;
    } cases[] = {
        {"/b/a b", NULL, "/b/a%20b", ""},
        {"/b/a%20b", NULL, "/b/a%20b", ""},
        {"/b/a%2fb", NULL, "/b/a%2Fb", ""},
        {"/b/a/b", NULL, "/b/a/b", ""},
        {"/b/%7e%41+$", NULL, "/b/~A%2B%24", ""},
        {"/b/\xe2\x98\x83", NULL, "/b/%E2%98%83", ""},
        {"/b/%e2%98%83", NULL, "/b/%E2%98%83", ""},
        {"/b//x/./..", NULL, "/b//x/./..", ""},
        {"", NULL, "/", ""},
        {"/", "b=2&a=1&a=0&c", "/", "a=0&a=1&b=2&c="},
        {"/", "prefix=a%20b&delimiter=%2F", "/", "delimiter=%2F&prefix=a%20b"},
        {"/", "prefix=a b+c", "/", "prefix=a%20b%2Bc"},
        {"/", "x=%7e&&y=", "/", "x=~&y="},
        {"/", "uploads", "/", "uploads="},
        {"/", "a=b=c", "/", "a=b%3Dc"},
        {"/", "B=1&a=1", "/", "B=1&a=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        static const hm_sigv4_header h[] = {{"host", "h"}};
        hm_sigv4_request req = {"GET", cases[i].path, cases[i].query, h, 1, NULL};
        char buf[1024], want[1024];
        size_t len;
        ck_assert_int_eq(hm_sigv4_canonical_request(&req, "host", EMPTY, false,
                                                    buf, sizeof buf, &len),
                         0);
        snprintf(want, sizeof want, "GET\n%s\n%s\nhost:h\n\nhost\n" EMPTY,
                 cases[i].want_uri, cases[i].want_query);
        ck_assert_str_eq(buf, want);
    }
    static const struct {
        const char *path, *query;
    } bad[] = {
        {"/a%2", NULL}, {"/a%", NULL}, {"/a%zz", NULL}, {"/a\x01", NULL},
        {"/", "a=%"}, {"/", "a=%g1"}, {"/", "%=1"}, {"/", "a=\x7f"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static const hm_sigv4_header h[] = {{"host", "h"}};
        hm_sigv4_request req = {"GET", bad[i].path, bad[i].query, h, 1, NULL};
        char buf[1024];
        size_t len;
        ck_assert_int_eq(hm_sigv4_canonical_request(&req, "host", EMPTY, false,
                                                    buf, sizeof buf, &len),
                         HM_EPROTO);
    }
}
END_TEST

/* Header values are trimmed and inner runs collapsed; repeated headers are
 * joined with ',' in order; names match case-insensitively; control
 * characters are refused. */
START_TEST(header_canonicalization)
{
    static const hm_sigv4_header h[] = {
        {"Host", "h"},
        {"X-Amz-Meta-A", "  one   two \t three  "},
        {"x-amz-meta-a", "four"},
        {"X-AMZ-META-B", ""},
    };
    hm_sigv4_request req = {"PUT", "/", NULL, h, 4, NULL};
    char buf[1024];
    size_t len;
    ck_assert_int_eq(hm_sigv4_canonical_request(&req, "host;x-amz-meta-a;x-amz-meta-b",
                                                EMPTY, false, buf, sizeof buf, &len),
                     0);
    ck_assert_str_eq(buf, "PUT\n/\n\nhost:h\nx-amz-meta-a:one two three,four\n"
                          "x-amz-meta-b:\n\nhost;x-amz-meta-a;x-amz-meta-b\n" EMPTY);
    static const hm_sigv4_header bad[] = {{"host", "h\r\nx: y"}};
    req.headers = bad;
    req.header_count = 1;
    ck_assert_int_eq(hm_sigv4_canonical_request(&req, "host", EMPTY, false, buf,
                                                sizeof buf, &len),
                     HM_EPROTO);
    req.headers = h;
    req.header_count = 4;
    ck_assert_int_eq(hm_sigv4_canonical_request(&req, "host;x-missing", EMPTY,
                                                false, buf, sizeof buf, &len),
                     HM_ENOENT);
}
END_TEST

/* Sign then verify round-trips keys with spaces, '+', '%', unicode and
 * control characters, and queries with awkward values; the raw and
 * encoded spellings of a path verify alike. */
START_TEST(sign_verify_round_trips)
{
    static const char *paths[] = {
        "/bucket/a%20b",
        "/bucket/a b",
        "/bucket/a%2Bb%25c",
        "/bucket/%E2%98%83/%F0%9F%90%B9.txt",
        "/bucket/dir/%01%1F%7F",
        "/bucket/a%2Fb",
        "/bucket/~._-",
    };
    static const char *queries[] = {
        NULL, "", "list-type=2&prefix=a%20b%2Bc&delimiter=%2F",
        "uploadId=abc%3D%3D&partNumber=3", "versioning", "tagging&versionId=x",
    };
    hm_sigv4_header h[4] = {
        {"host", "localhost:9000"},
        {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-meta-note", "  spaced   value "},
    };
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
            hm_sigv4_request req = {"PUT", paths[p], queries[q], h, 4, NULL};
            char authz[HM_SIGV4_AUTH_BYTES_MAX + 1];
            hm_sigv4_verified v;
            ck_assert_int_eq(hm_sigv4_sign_headers(&req, NULL, &g_cred,
                                                   "20130524T000000Z", authz,
                                                   sizeof authz, NULL),
                             0);
            ck_assert_msg(verify_header(&req, authz, T0_MS, &v) == 0,
                          "path %s query %s: %s", paths[p],
                          queries[q] ? queries[q] : "(null)",
                          hm_sigv4_reason_name(v.reason));
        }
    }
    /* "a b" signed, "a%20b" sent: the same canonical URI */
    hm_sigv4_request a = {"GET", "/bucket/a b", NULL, h, 3, NULL};
    hm_sigv4_request b = {"GET", "/bucket/a%20b", NULL, h, 3, NULL};
    char authz[HM_SIGV4_AUTH_BYTES_MAX + 1];
    hm_sigv4_verified v;
    ck_assert_int_eq(hm_sigv4_sign_headers(&a, NULL, &g_cred, "20130524T000000Z",
                                           authz, sizeof authz, NULL),
                     0);
    ck_assert_int_eq(verify_header(&b, authz, T0_MS, &v), 0);
    /* but "a/b" and "a%2Fb" are different keys */
    hm_sigv4_request c = {"GET", "/bucket/a/b", NULL, h, 3, NULL};
    hm_sigv4_request d = {"GET", "/bucket/a%2Fb", NULL, h, 3, NULL};
    ck_assert_int_eq(hm_sigv4_sign_headers(&c, NULL, &g_cred, "20130524T000000Z",
                                           authz, sizeof authz, NULL),
                     0);
    ck_assert_int_eq(verify_header(&d, authz, T0_MS, &v), HM_EPERM);

    /* secrets with spaces, '+', '%' and UTF-8 */
    static const char *secrets[] = {"with space+plus%pct", "\xc3\xa9t\xc3\xa9/\xe2\x98\x83"};
    for (size_t i = 0; i < 2; i++) {
        test_keys k = {"AKSPECIAL", secrets[i], 0};
        hm_sigv4_credentials cr = {"AKSPECIAL", secrets[i], "us-east-1", NULL};
        hm_sigv4_request r = {"GET", "/bucket/k", NULL, h, 3, NULL};
        hm_sigv4_auth au;
        ck_assert_int_eq(hm_sigv4_sign_headers(&r, NULL, &cr, "20130524T000000Z",
                                               authz, sizeof authz, NULL),
                         0);
        ck_assert_int_eq(hm_sigv4_parse_auth_header(authz, &au, NULL), 0);
        hm_sigv4_verify_config cf = {.now_ms = T0_MS, .lookup = test_lookup,
                                     .lookup_ctx = &k};
        ck_assert_int_eq(hm_sigv4_verify(&r, &au, &cf, &v), 0);
        ck_assert_int_eq(k.calls, 1);
    }
}
END_TEST

#define PRESIGN_Q                                                              \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"   \
    "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z" \
    "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
#define PRESIGN_SIG "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

/* The presigned GET example: presigning reproduces the published query and
 * signature, verify accepts it until it expires, and not before its time. */
START_TEST(presigned_example)
{
    static const hm_sigv4_header h[] = {{"Host", HOST}};
    hm_sigv4_request req = {"GET", "/test.txt", NULL, h, 1, NULL};
    char q[1024];
    ck_assert_int_eq(hm_sigv4_presign_query(&req, "host", &g_cred,
                                            "20130524T000000Z", 86400, q, sizeof q),
                     0);
    ck_assert_str_eq(q, PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG);

    req.query = q;
    hm_sigv4_verify_config c = cfg_at(T0_MS + 3600 * 1000);
    hm_sigv4_verified v;
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), 0);
    ck_assert_int_eq(v.reason, HM_SIGV4_OK);
    ck_assert_str_eq(v.signature, PRESIGN_SIG);
    ck_assert_str_eq(v.payload_hash, "UNSIGNED-PAYLOAD");

    /* parameter order does not matter, nor where the signature sits */
    req.query = "X-Amz-Signature=" PRESIGN_SIG "&" PRESIGN_Q;
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), 0);

    c.now_ms = T0_MS + 86401ll * 1000;
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_EXPIRED);
    c.now_ms = T0_MS - HM_CLOCK_SKEW_MS_MAX - 1000;
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_NOT_YET_VALID);

    /* tampering with any signed parameter breaks it */
    c.now_ms = T0_MS;
    req.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
                "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
                "&X-Amz-Expires=86401&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG;
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISMATCH);
    req.query = PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG "&extra=1";
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_MISMATCH);
}
END_TEST

/* Malformed presigned queries are AuthorizationQueryParametersError (or
 * BAD_ALGORITHM); a query without them is not presigned at all. */
START_TEST(presigned_malformed)
{
    static const char *bad[] = {
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        PRESIGN_Q,
        "X-Amz-Signature=" PRESIGN_SIG,
        PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG "&X-Amz-Signature=" PRESIGN_SIG,
        PRESIGN_Q "&X-Amz-Expires=86400&X-Amz-Signature=" PRESIGN_SIG,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
        "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
        "&X-Amz-Expires=0&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
        "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
        "&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
        "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
        "&X-Amz-Expires=-1&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
        "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=2013-05-24"
        "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
        "%2F20130524%2Fus-east-1%2Fs3&X-Amz-Date=20130524T000000Z"
        "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" PRESIGN_SIG,
        PRESIGN_Q "&X-Amz-Signature=%zz",
        PRESIGN_Q "&X-Amz-Signature",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hm_sigv4_auth a;
        hm_sigv4_reason r = HM_SIGV4_OK;
        ck_assert_msg(hm_sigv4_parse_presigned_query(bad[i], &a, &r) == HM_EPROTO,
                      "accepted %s", bad[i]);
        ck_assert_int_eq(r, HM_SIGV4_QUERY_MALFORMED);
    }
    hm_sigv4_auth a;
    hm_sigv4_reason r;
    ck_assert_int_eq(hm_sigv4_parse_presigned_query(
                         "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Signature=1",
                         &a, &r),
                     HM_EPROTO);
    ck_assert_int_eq(r, HM_SIGV4_BAD_ALGORITHM);
    ck_assert_int_eq(hm_sigv4_parse_presigned_query("list-type=2&prefix=x", &a, &r),
                     HM_ENOENT);
    ck_assert_int_eq(hm_sigv4_parse_presigned_query(NULL, &a, &r), HM_ENOENT);
}
END_TEST

/* authenticate: no credentials is anonymous (HM_ENOENT); header and query
 * together are refused. */
START_TEST(authenticate_dispatch)
{
    hm_sigv4_verify_config c = cfg_at(T0_MS);
    hm_sigv4_verified v;
    static const hm_sigv4_header anon[] = {{"Host", HOST}};
    hm_sigv4_request req = {"GET", "/test.txt", NULL, anon, 1, NULL};
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), HM_ENOENT);
    ck_assert_int_eq(v.reason, HM_SIGV4_OK);

    hm_sigv4_header h[5];
    memcpy(h, get_headers, sizeof get_headers);
    h[4].name = "Authorization";
    h[4].value = "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,"
                 "SignedHeaders=" GET_SIGNED ",Signature=" GET_SIG;
    req.headers = h;
    req.header_count = 5;
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), 0);
    req.query = PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG;
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), HM_EPROTO);
    ck_assert_int_eq(v.reason, HM_SIGV4_MULTIPLE_AUTH);
    req.query = NULL;
    h[4].value = "AWS AKIAIOSFODNN7EXAMPLE:abc";
    ck_assert_int_eq(hm_sigv4_authenticate(&req, &c, &v), HM_EPROTO);
    ck_assert_int_eq(v.reason, HM_SIGV4_BAD_ALGORITHM);
}
END_TEST

/* The multiple-chunks example: the seed signature of the aws-chunked PUT
 * and the chain of chunk signatures match the AWS page. */
START_TEST(chunked_example)
{
    static const hm_sigv4_header h[] = {
        {"Host", "s3.amazonaws.com"},
        {"x-amz-date", "20130524T000000Z"},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
        {"Content-Encoding", "aws-chunked"},
        {"x-amz-decoded-content-length", "66560"},
        {"Content-Length", "66824"},
    };
    hm_sigv4_request req = {"PUT", "/examplebucket/chunkObject.txt", NULL, h, 7, NULL};
    char authz[HM_SIGV4_AUTH_BYTES_MAX + 1];
    char seed[65];
    ck_assert_int_eq(hm_sigv4_sign_headers(&req, NULL, &g_cred, "20130524T000000Z",
                                           authz, sizeof authz, seed),
                     0);
    ck_assert_str_eq(seed, "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    hm_sigv4_verified v;
    ck_assert_int_eq(verify_header(&req, authz, T0_MS, &v), 0);
    ck_assert_str_eq(v.payload_hash, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");

    char *data = malloc(65536);
    ck_assert_ptr_nonnull(data);
    memset(data, 'a', 65536);
    char hash[65], sig1[65], sig2[65], sig3[65];
    ck_assert_int_eq(hm_sigv4_sha256_hex(data, 65536, hash), 0);
    ck_assert_int_eq(hm_sigv4_chunk_signature(v.signing_key, v.amz_date, v.scope,
                                              v.signature, hash, sig1),
                     0);
    ck_assert_str_eq(sig1, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
    ck_assert_int_eq(hm_sigv4_sha256_hex(data, 1024, hash), 0);
    ck_assert_int_eq(hm_sigv4_chunk_signature(v.signing_key, v.amz_date, v.scope,
                                              sig1, hash, sig2),
                     0);
    ck_assert_str_eq(sig2, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497");
    ck_assert_int_eq(hm_sigv4_chunk_signature(v.signing_key, v.amz_date, v.scope,
                                              sig2, EMPTY, sig3),
                     0);
    ck_assert_str_eq(sig3, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9");

    /* the trailer signature is HMAC over its own string to sign */
    char trailer_hash[65], tsig[65], want[65];
    static const char trailer[] = "x-amz-checksum-crc32c:sOO8/Q==\n";
    ck_assert_int_eq(hm_sigv4_sha256_hex(trailer, sizeof trailer - 1, trailer_hash), 0);
    ck_assert_int_eq(hm_sigv4_trailer_signature(v.signing_key, v.amz_date, v.scope,
                                                sig3, trailer_hash, tsig),
                     0);
    char sts[512];
    int n = snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s",
                     v.amz_date, v.scope, sig3, trailer_hash);
    ck_assert_int_eq(hm_sigv4_signature_hex(v.signing_key, sts, (size_t)n, want), 0);
    ck_assert_str_eq(tsig, want);
    ck_assert_int_eq(hm_sigv4_trailer_signature(v.signing_key, v.amz_date, v.scope,
                                                "short", trailer_hash, tsig),
                     HM_EINVAL);
    ck_assert_int_eq(hm_sigv4_chunk_signature(v.signing_key, "2013", v.scope, sig3,
                                              trailer_hash, tsig),
                     HM_EINVAL);
    free(data);
}
END_TEST

/* Date parsing: the two accepted forms, round trips and invalid fields. */
START_TEST(dates)
{
    int64_t t;
    char s[17];
    ck_assert_int_eq(hm_sigv4_parse_amz_date("20130524T000000Z", &t), 0);
    ck_assert_int_eq(t, T0_MS);
    ck_assert_int_eq(hm_sigv4_parse_http_date("Fri, 24 May 2013 00:00:00 GMT", &t), 0);
    ck_assert_int_eq(t, T0_MS);
    ck_assert_int_eq(hm_sigv4_format_amz_date(T0_MS + 1, s), 0);
    ck_assert_str_eq(s, "20130524T000000Z");
    ck_assert_int_eq(hm_sigv4_parse_amz_date("20000229T235959Z", &t), 0);
    ck_assert_int_eq(hm_sigv4_format_amz_date(t, s), 0);
    ck_assert_str_eq(s, "20000229T235959Z");
    static const char *bad_amz[] = {
        "", "20130524", "20130524T000000", "20130524T000000ZZ",
        "20130524t000000Z", "20130532T000000Z", "20130229T000000Z",
        "20131324T000000Z", "20130524T240000Z", "20130524T006000Z",
        "20130524T000060Z", "19690101T000000Z", "2013O524T000000Z",
        "21000229T000000Z",
    };
    for (size_t i = 0; i < sizeof bad_amz / sizeof bad_amz[0]; i++)
        ck_assert_msg(hm_sigv4_parse_amz_date(bad_amz[i], &t) == HM_EINVAL,
                      "accepted %s", bad_amz[i]);
    static const char *bad_http[] = {
        "Fri, 24 May 2013 00:00:00 UTC", "Fri, 24 Mai 2013 00:00:00 GMT",
        "Fri 24 May 2013 00:00:00 GMT", "Fry, 24 May 2013 00:00:00 GMT",
        "Fri, 24 May 2013 00:00:00 GMT ", "Friday, 24-May-13 00:00:00 GMT",
    };
    for (size_t i = 0; i < sizeof bad_http / sizeof bad_http[0]; i++)
        ck_assert_int_eq(hm_sigv4_parse_http_date(bad_http[i], &t), HM_EINVAL);
    ck_assert_int_eq(hm_sigv4_format_amz_date(-1, s), HM_EINVAL);
}
END_TEST

/* With only a Date header (no x-amz-date) the Date is the timestamp and
 * must be signed. */
START_TEST(date_header_only)
{
    static const hm_sigv4_header h[] = {
        {"Host", HOST},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-content-sha256", EMPTY},
    };
    hm_sigv4_request req = {"GET", "/test.txt", NULL, h, 3, NULL};
    char authz[HM_SIGV4_AUTH_BYTES_MAX + 1];
    hm_sigv4_verified v;
    ck_assert_int_eq(hm_sigv4_sign_headers(&req, NULL, &g_cred, "20130524T000000Z",
                                           authz, sizeof authz, NULL),
                     0);
    ck_assert_int_eq(verify_header(&req, authz, T0_MS, &v), 0);
    ck_assert_int_eq(hm_sigv4_sign_headers(&req, "host;x-amz-content-sha256", &g_cred,
                                           "20130524T000000Z", authz, sizeof authz,
                                           NULL),
                     0);
    ck_assert_int_eq(verify_header(&req, authz, T0_MS, &v), HM_EPERM);
    ck_assert_int_eq(v.reason, HM_SIGV4_UNSIGNED_HEADER);
}
END_TEST

static Suite *sigv4_suite(void)
{
    Suite *s = suite_create("sigv4");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, canonical_request_get_example);
    tcase_add_test(tc, canonical_request_small_buffer);
    tcase_add_test(tc, signing_key_vectors);
    tcase_add_test(tc, header_examples);
    tcase_add_test(tc, published_authorization_verifies);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, clock_skew);
    tcase_add_test(tc, scope_and_required_headers);
    tcase_add_test(tc, any_region_accepted);
    tcase_add_test(tc, malformed_auth_headers);
    tcase_add_test(tc, huge_inputs);
    tcase_add_test(tc, uri_canonicalization);
    tcase_add_test(tc, header_canonicalization);
    tcase_add_test(tc, sign_verify_round_trips);
    tcase_add_test(tc, presigned_example);
    tcase_add_test(tc, presigned_malformed);
    tcase_add_test(tc, authenticate_dispatch);
    tcase_add_test(tc, chunked_example);
    tcase_add_test(tc, dates);
    tcase_add_test(tc, date_header_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sigv4_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
