/* test_sigv2.c - AWS Signature Version 2: the string to sign and signature
 * against the examples of AWS's "Signing and authenticating REST requests"
 * page (example key AKIAIOSFODNN7EXAMPLE), and the verifier's refusals:
 * tampered, expired, skewed, unknown key, wrong secret, malformed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_post.h"
#include "hm_sigv2.h"

#define EX_AK "AKIAIOSFODNN7EXAMPLE"
#define EX_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static int lookup(void *ctx, const char *ak, char *out, size_t cap)
{
    (void)ctx;
    if (strcmp(ak, EX_AK) != 0) return HM_ENOENT;
    if (strlen(EX_SK) >= cap) return HM_EINVAL;
    strcpy(out, EX_SK);
    return 0;
}

static void sts_eq(const hm_sigv4_request *req, const char *vhost, bool presigned,
                   const char *want)
{
    char *buf = malloc(HM_SIGV2_STS_BYTES_MAX + 1);
    size_t len = 0;
    ck_assert_int_eq(hm_sigv2_string_to_sign(req, vhost, presigned, NULL, buf,
                                             HM_SIGV2_STS_BYTES_MAX + 1, &len),
                     0);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq(len, strlen(want));
    free(buf);
}

static void sig_eq(const char *sts, const char *want)
{
    char sig[HM_SIGV2_SIGNATURE_BYTES + 1];
    ck_assert_int_eq(hm_sigv2_signature(EX_SK, sts, strlen(sts), sig), 0);
    ck_assert_str_eq(sig, want);
}

/* AWS example "Object GET" (virtual-hosted: the bucket leads the
 * resource). */
START_TEST(test_aws_example_object_get)
{
    hm_sigv4_header h[] = {
        {"Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com"},
        {"Date", "Tue, 27 Mar 2007 19:36:42 +0000"},
    };
    hm_sigv4_request req = {.method = "GET", .path = "/photos/puppy.jpg", .headers = h,
                            .header_count = 2};
    const char *want = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg";
    sts_eq(&req, "johnsmith", false, want);
    sig_eq(want, "bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
}
END_TEST

/* AWS example "Object PUT": Content-Type is a positional line. */
START_TEST(test_aws_example_object_put)
{
    hm_sigv4_header h[] = {
        {"Content-Type", "image/jpeg"},
        {"Content-Length", "94328"},
        {"Date", "Tue, 27 Mar 2007 21:15:45 +0000"},
    };
    hm_sigv4_request req = {.method = "PUT", .path = "/photos/puppy.jpg", .headers = h,
                            .header_count = 3};
    const char *want =
        "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/johnsmith/photos/puppy.jpg";
    sts_eq(&req, "johnsmith", false, want);
    sig_eq(want, "MyyxeRY7whkBe+bq8fHCL/2kKUg=");
}
END_TEST

/* AWS example "Fetch": the ?acl sub-resource is signed, other query
 * parameters are not. */
START_TEST(test_aws_example_acl)
{
    hm_sigv4_header h[] = {{"Date", "Tue, 27 Mar 2007 19:44:46 +0000"}};
    hm_sigv4_request req = {.method = "GET", .path = "/", .query = "acl", .headers = h,
                            .header_count = 1};
    const char *want = "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl";
    sts_eq(&req, "johnsmith", false, want);
    sig_eq(want, "c2WLPFtWHVgbEmeEG93a4cG37dM=");
}
END_TEST

/* AWS example "Upload": Content-MD5, amz headers lower-cased, sorted,
 * repeated ones joined with ',' and trimmed. */
START_TEST(test_aws_example_upload)
{
    hm_sigv4_header h[] = {
        {"User-Agent", "curl/7.15.5"},
        {"Host", "static.johnsmith.net:8080"},
        {"Date", "Tue, 27 Mar 2007 21:06:08 +0000"},
        {"x-amz-acl", "public-read"},
        {"content-type", "application/x-download"},
        {"Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="},
        {"X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"},
        {"X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"},
        {"X-Amz-Meta-FileChecksum", "0x02661779"},
        {"X-Amz-Meta-ChecksumAlgorithm", "crc32"},
        {"Content-Disposition", "attachment; filename=database.dat"},
        {"Content-Encoding", "gzip"},
        {"Content-Length", "5913339"},
    };
    hm_sigv4_request req = {.method = "PUT", .path = "/db-backup.dat.gz", .headers = h,
                            .header_count = sizeof h / sizeof h[0]};
    const char *want = "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\n"
                       "Tue, 27 Mar 2007 21:06:08 +0000\n"
                       "x-amz-acl:public-read\n"
                       "x-amz-meta-checksumalgorithm:crc32\n"
                       "x-amz-meta-filechecksum:0x02661779\n"
                       "x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n"
                       "/static.johnsmith.net/db-backup.dat.gz";
    sts_eq(&req, "static.johnsmith.net", false, want);
    sig_eq(want, "ilyl83RwaSoYIEdixDQcA4OnAnc=");
}
END_TEST

/* Sub-resources sorted by name with decoded values; parameters S3 does not
 * sign (prefix, max-keys) are left out; path style keeps the path. */
START_TEST(test_subresources)
{
    hm_sigv4_header h[] = {{"Date", "Tue, 27 Mar 2007 19:44:46 GMT"}};
    hm_sigv4_request req = {
        .method = "GET", .path = "/bkt/a%20b",
        .query = "versionId=null&prefix=x&response-content-type=text%2Fplain&uploadId=u1&max-keys=3",
        .headers = h, .header_count = 1};
    sts_eq(&req, NULL, false,
           "GET\n\n\nTue, 27 Mar 2007 19:44:46 GMT\n"
           "/bkt/a%20b?response-content-type=text/plain&uploadId=u1&versionId=null");
}
END_TEST

/* A request signed at now verifies; every tampered part, a wrong secret,
 * an unknown key and a skewed clock are refused for their own reason. */
START_TEST(test_verify_header)
{
    /* 2007-03-27T19:36:42Z */
    const int64_t t = 1175024202000;
    hm_sigv4_header h[] = {
        {"Host", "127.0.0.1:9000"},
        {"Date", "Tue, 27 Mar 2007 19:36:42 GMT"},
        {"Authorization", NULL},
    };
    char sts[512], auth[128], sig[HM_SIGV2_SIGNATURE_BYTES + 1];
    hm_sigv4_request req = {.method = "GET", .path = "/bkt/key.txt", .headers = h,
                            .header_count = 2};
    size_t len = 0;
    ck_assert_int_eq(hm_sigv2_string_to_sign(&req, NULL, false, NULL, sts, sizeof sts, &len), 0);
    ck_assert_int_eq(hm_sigv2_signature(EX_SK, sts, len, sig), 0);
    snprintf(auth, sizeof auth, "AWS %s:%s", EX_AK, sig);
    h[2].value = auth;
    req.header_count = 3;
    hm_sigv4_verify_config cfg = {.now_ms = t + 1000, .lookup = lookup};
    hm_sigv4_verified out;
    ck_assert(hm_sigv2_is_v2(&req));
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), 0);
    ck_assert_int_eq(out.reason, HM_SIGV4_OK);
    ck_assert_str_eq(out.access_key_id, EX_AK);
    ck_assert_str_eq(out.payload_hash, "UNSIGNED-PAYLOAD");

    /* tampered path */
    req.path = "/bkt/key.txu";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_MISMATCH);
    req.path = "/bkt/key.txt";
    /* tampered method */
    req.method = "DELETE";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_MISMATCH);
    req.method = "GET";
    /* a signed sub-resource added */
    req.query = "acl";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_MISMATCH);
    req.query = NULL;
    /* a tampered signature byte */
    char bad[128];
    strcpy(bad, auth);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    h[2].value = bad;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_MISMATCH);
    /* an unknown key */
    snprintf(bad, sizeof bad, "AWS AKIDUNKNOWN:%s", sig);
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_UNKNOWN_KEY);
    /* signed with another secret */
    char other[HM_SIGV2_SIGNATURE_BYTES + 1];
    ck_assert_int_eq(hm_sigv2_signature("not-the-secret", sts, len, other), 0);
    snprintf(bad, sizeof bad, "AWS %s:%s", EX_AK, other);
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_MISMATCH);
    h[2].value = auth;
    /* clock 16 minutes away either way */
    cfg.now_ms = t + 16 * 60 * 1000;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_SKEWED);
    cfg.now_ms = t - 16 * 60 * 1000;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_SKEWED);
    cfg.now_ms = t + 14 * 60 * 1000;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), 0);
    /* no date at all */
    h[1].name = "X-Other";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPROTO);
    ck_assert_int_eq(out.reason, HM_SIGV4_MISSING_DATE);
}
END_TEST

/* x-amz-date: signed with an empty Date line (the AWS page), or with the
 * Date header too (botocore); the amz header is the time checked. */
START_TEST(test_verify_amz_date)
{
    const int64_t t = 1175024202000;
    hm_sigv4_header h[] = {
        {"x-amz-date", "Tue, 27 Mar 2007 19:36:42 GMT"},
        {"Date", "Mon, 01 Jan 2001 00:00:00 GMT"},
        {"Authorization", NULL},
    };
    const char *sts = "PUT\n\n\n\nx-amz-date:Tue, 27 Mar 2007 19:36:42 GMT\n/bkt/k";
    char sig[HM_SIGV2_SIGNATURE_BYTES + 1], auth[128];
    ck_assert_int_eq(hm_sigv2_signature(EX_SK, sts, strlen(sts), sig), 0);
    snprintf(auth, sizeof auth, "AWS %s:%s", EX_AK, sig);
    h[2].value = auth;
    hm_sigv4_request req = {.method = "PUT", .path = "/bkt/k", .headers = h, .header_count = 3};
    hm_sigv4_verify_config cfg = {.now_ms = t, .lookup = lookup};
    hm_sigv4_verified out;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), 0);
    /* the old Date header is not the time checked */
    cfg.now_ms = t + 20 * 60 * 1000;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_SKEWED);
}
END_TEST

/* A path-style bucket request "/bkt" is accepted when signed as "/bkt/"
 * (botocore's auth_path), and as sent. */
START_TEST(test_verify_bucket_trailing_slash)
{
    const int64_t t = 1175024202000;
    hm_sigv4_header h[] = {{"Date", "Tue, 27 Mar 2007 19:36:42 GMT"}, {"Authorization", NULL}};
    const char *sts = "PUT\n\n\nTue, 27 Mar 2007 19:36:42 GMT\n/bkt/";
    char sig[HM_SIGV2_SIGNATURE_BYTES + 1], auth[128];
    ck_assert_int_eq(hm_sigv2_signature(EX_SK, sts, strlen(sts), sig), 0);
    snprintf(auth, sizeof auth, "AWS %s:%s", EX_AK, sig);
    h[1].value = auth;
    hm_sigv4_request req = {.method = "PUT", .path = "/bkt", .headers = h, .header_count = 2};
    hm_sigv4_verify_config cfg = {.now_ms = t, .lookup = lookup};
    hm_sigv4_verified out;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), 0);
    req.path = "/bkt/";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), 0);
    req.path = "/bkx";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
}
END_TEST

/* Presigned: Expires takes Date's line; a URL past Expires, a tampered
 * Expires and an encoded or raw '+' in the signature behave. */
START_TEST(test_verify_presigned)
{
    const char *sts = "GET\n\n\n1141889120\n/johnsmith/photos/puppy.jpg";
    char sig[HM_SIGV2_SIGNATURE_BYTES + 1];
    ck_assert_int_eq(hm_sigv2_signature(EX_SK, sts, strlen(sts), sig), 0);
    /* The example secret over the AWS page's string to sign (computed
     * independently with Python's hmac). */
    ck_assert_str_eq(sig, "fScKGHCDI0NY5E7CYp9Vc8VKMbY=");
    hm_sigv4_header h[] = {{"Host", "johnsmith.s3.amazonaws.com"}};
    hm_sigv4_request req = {
        .method = "GET", .path = "/photos/puppy.jpg",
        .query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature="
                 "fScKGHCDI0NY5E7CYp9Vc8VKMbY%3D",
        .headers = h, .header_count = 1};
    sts_eq(&req, "johnsmith", true, sts);
    hm_sigv4_verify_config cfg = {.now_ms = 1141889000000, .lookup = lookup};
    hm_sigv4_verified out;
    ck_assert(hm_sigv2_is_v2(&req));
    ck_assert_int_eq(hm_sigv2_authenticate(&req, "johnsmith", &cfg, &out), 0);
    ck_assert_str_eq(out.access_key_id, EX_AK);
    /* expired */
    cfg.now_ms = 1141889121000;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, "johnsmith", &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_EXPIRED);
    cfg.now_ms = 1141889000000;
    /* Expires moved later: the signature no longer matches */
    req.query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889999&Signature="
                "fScKGHCDI0NY5E7CYp9Vc8VKMbY%3D";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, "johnsmith", &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_MISMATCH);
    /* wrong key id */
    req.query = "AWSAccessKeyId=AKIDOTHER&Expires=1141889120&Signature="
                "fScKGHCDI0NY5E7CYp9Vc8VKMbY%3D";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, "johnsmith", &cfg, &out), HM_EPERM);
    ck_assert_int_eq(out.reason, HM_SIGV4_UNKNOWN_KEY);
    /* missing Expires, bad Expires, duplicate: malformed */
    req.query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=fScKGHCDI0NY5E7CYp9Vc8VKMbY%3D";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, "johnsmith", &cfg, &out), HM_EPROTO);
    ck_assert_int_eq(out.reason, HM_SIGV4_QUERY_MALFORMED);
    req.query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=12a&Signature="
                "fScKGHCDI0NY5E7CYp9Vc8VKMbY%3D";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, "johnsmith", &cfg, &out), HM_EPROTO);
    req.query = "AWSAccessKeyId=A&AWSAccessKeyId=B&Expires=1&Signature=x";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, "johnsmith", &cfg, &out), HM_EPROTO);
    /* header and query together */
    hm_sigv4_header both[] = {{"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:fScKGHCDI0NY5E7CYp9Vc8VKMbY="}};
    req.headers = both;
    req.query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature="
                "fScKGHCDI0NY5E7CYp9Vc8VKMbY%3D";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, "johnsmith", &cfg, &out), HM_EPROTO);
    ck_assert_int_eq(out.reason, HM_SIGV4_MULTIPLE_AUTH);
}
END_TEST

/* Which requests are SigV2's, and malformed SigV2 headers. */
START_TEST(test_detect_and_parse)
{
    hm_sigv4_header v4[] = {{"Authorization", "AWS4-HMAC-SHA256 Credential=a/b/c/s3/aws4_request"}};
    hm_sigv4_request req = {.method = "GET", .path = "/", .headers = v4, .header_count = 1};
    ck_assert(!hm_sigv2_is_v2(&req));
    hm_sigv4_verified out;
    hm_sigv4_verify_config cfg = {.now_ms = 0, .lookup = lookup};
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_ENOENT);
    req.header_count = 0;
    req.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab";
    ck_assert(!hm_sigv2_is_v2(&req));
    req.query = "list-type=2";
    ck_assert(!hm_sigv2_is_v2(&req));
    req.query = "Signature=abc";
    ck_assert(hm_sigv2_is_v2(&req));

    hm_sigv2_auth a;
    hm_sigv4_reason why;
    ck_assert_int_eq(hm_sigv2_parse_auth_header("AWS4-HMAC-SHA256 x", &a, &why), HM_ENOENT);
    ck_assert_int_eq(hm_sigv2_parse_auth_header("AWS AK:fScKGHCDI0NY5E7CYp9Vc8VKMbY=", &a, &why), 0);
    ck_assert_str_eq(a.access_key_id, "AK");
    ck_assert_int_eq(hm_sigv2_parse_auth_header("AWS AK", &a, &why), HM_EPROTO);
    ck_assert_int_eq(why, HM_SIGV4_MALFORMED);
    ck_assert_int_eq(hm_sigv2_parse_auth_header("AWS :fScKGHCDI0NY5E7CYp9Vc8VKMbY=", &a, &why),
                     HM_EPROTO);
    ck_assert_int_eq(hm_sigv2_parse_auth_header("AWS AK:short=", &a, &why), HM_EPROTO);
    ck_assert_int_eq(hm_sigv2_parse_auth_header("AWS AK:fScKGHCDI0NY5E7CYp9Vc8VK!bY=", &a, &why),
                     HM_EPROTO);
    char longak[300];
    memset(longak, 'A', sizeof longak);
    memcpy(longak, "AWS ", 4);
    strcpy(longak + 200, ":fScKGHCDI0NY5E7CYp9Vc8VKMbY=");
    ck_assert_int_eq(hm_sigv2_parse_auth_header(longak, &a, &why), HM_EPROTO);

    ck_assert(hm_sigv2_signature_equal("fScKGHCDI0NY5E7CYp9Vc8VKMbY=", "fScKGHCDI0NY5E7CYp9Vc8VKMbY="));
    ck_assert(!hm_sigv2_signature_equal("fScKGHCDI0NY5E7CYp9Vc8VKMbY=", "fScKGHCDI0NY5E7CYp9Vc8VKMbZ="));
    ck_assert(!hm_sigv2_signature_equal("fScKGHCDI0NY5E7CYp9Vc8VKMbY=", "fScKGHCDI0NY5E7CYp9Vc8VKMbY"));
}
END_TEST

/* Presigned by botocore: Content-Type and x-amz-* moved into the query are
 * read from there. */
START_TEST(test_presigned_query_headers)
{
    hm_sigv4_request req = {
        .method = "PUT", .path = "/bkt/p.txt",
        .query = "AWSAccessKeyId=AK&Signature=x&content-type=text%2Fplain&"
                 "x-amz-meta-a=1&Expires=1796397767"};
    sts_eq(&req, NULL, true, "PUT\n\ntext/plain\n1796397767\nx-amz-meta-a:1\n/bkt/p.txt");
}
END_TEST

/* boto3 1.26 (botocore 1.29) signs an operation URI's literal query twice
 * ("/b/k?uploads?uploads"); that form verifies, and moving the request to
 * another key or sub-resource still fails. */
START_TEST(test_verify_botocore_129_form)
{
    const int64_t t = 1175024202000;
    hm_sigv4_header h[] = {{"Date", "Tue, 27 Mar 2007 19:36:42 GMT"}, {"Authorization", NULL}};
    const char *sts = "POST\n\n\nTue, 27 Mar 2007 19:36:42 GMT\n/bkt/mp?uploads?uploads";
    char sig[HM_SIGV2_SIGNATURE_BYTES + 1], auth[128];
    ck_assert_int_eq(hm_sigv2_signature(EX_SK, sts, strlen(sts), sig), 0);
    snprintf(auth, sizeof auth, "AWS %s:%s", EX_AK, sig);
    h[1].value = auth;
    hm_sigv4_request req = {.method = "POST", .path = "/bkt/mp", .query = "uploads",
                            .headers = h, .header_count = 2};
    hm_sigv4_verify_config cfg = {.now_ms = t, .lookup = lookup};
    hm_sigv4_verified out;
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), 0);
    req.path = "/bkt/other";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
    req.path = "/bkt/mp";
    req.query = "delete";
    ck_assert_int_eq(hm_sigv2_authenticate(&req, NULL, &cfg, &out), HM_EPERM);
}
END_TEST

/* A SigV2 POST form's signature: Base64(HMAC-SHA1(secret, the base64
 * policy)), computed independently with Python's hmac; any other policy,
 * secret or signature is refused. */
START_TEST(test_post_policy_v2)
{
    const char *policy =
        "eyJleHBpcmF0aW9uIjogIjIwMzAtMDEtMDFUMDA6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbeyJidWNrZXQi"
        "OiAiam9obnNtaXRoIn0sIFsic3RhcnRzLXdpdGgiLCAiJGtleSIsICJ1c2VyL2VyaWMvIl1dfQ==";
    ck_assert_int_eq(hm_post_signature_check_v2(EX_SK, policy, "Zvkhzy+GiuTWnsQyDMMIiRgQB/w="), 0);
    ck_assert_int_eq(hm_post_signature_check_v2(EX_SK, policy, "Zvkhzy+GiuTWnsQyDMMIiRgQB/x="),
                     HM_EPERM);
    ck_assert_int_eq(hm_post_signature_check_v2("other-secret", policy,
                                                "Zvkhzy+GiuTWnsQyDMMIiRgQB/w="),
                     HM_EPERM);
    ck_assert_int_eq(hm_post_signature_check_v2(EX_SK, "e30=", "Zvkhzy+GiuTWnsQyDMMIiRgQB/w="),
                     HM_EPERM);
    ck_assert_int_eq(hm_post_signature_check_v2(EX_SK, policy, ""), HM_EPERM);
    ck_assert_int_eq(hm_post_signature_check_v2(EX_SK, policy, "Zvkhzy+GiuTWnsQyDMMIiRgQB/w=="),
                     HM_EPERM);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sigv2");
    TCase *tc = tcase_create("sigv2");
    tcase_add_test(tc, test_aws_example_object_get);
    tcase_add_test(tc, test_aws_example_object_put);
    tcase_add_test(tc, test_aws_example_acl);
    tcase_add_test(tc, test_aws_example_upload);
    tcase_add_test(tc, test_subresources);
    tcase_add_test(tc, test_verify_header);
    tcase_add_test(tc, test_verify_amz_date);
    tcase_add_test(tc, test_verify_bucket_trailing_slash);
    tcase_add_test(tc, test_verify_presigned);
    tcase_add_test(tc, test_detect_and_parse);
    tcase_add_test(tc, test_presigned_query_headers);
    tcase_add_test(tc, test_verify_botocore_129_form);
    tcase_add_test(tc, test_post_policy_v2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
