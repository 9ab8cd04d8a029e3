/* test_s3err.c - the S3 error table, the HM_E* and SigV4 mappings, and the
 * AWS error document. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_s3err.h"
#include "hm_xml.h"

/* Spot checks of codes, statuses and messages against the AWS list. */
START_TEST(table_values)
{
    static const struct {
        hm_s3err e;
        const char *code;
        int status;
    } want[] = {
        {HM_S3_ACCESS_DENIED, "AccessDenied", 403},
        {HM_S3_AUTH_HEADER_MALFORMED, "AuthorizationHeaderMalformed", 400},
        {HM_S3_BAD_DIGEST, "BadDigest", 400},
        {HM_S3_BUCKET_ALREADY_EXISTS, "BucketAlreadyExists", 409},
        {HM_S3_BUCKET_ALREADY_OWNED, "BucketAlreadyOwnedByYou", 409},
        {HM_S3_BUCKET_NOT_EMPTY, "BucketNotEmpty", 409},
        {HM_S3_ENTITY_TOO_LARGE, "EntityTooLarge", 400},
        {HM_S3_ENTITY_TOO_SMALL, "EntityTooSmall", 400},
        {HM_S3_INCOMPLETE_BODY, "IncompleteBody", 400},
        {HM_S3_INTERNAL_ERROR, "InternalError", 500},
        {HM_S3_INVALID_ACCESS_KEY_ID, "InvalidAccessKeyId", 403},
        {HM_S3_INVALID_ARGUMENT, "InvalidArgument", 400},
        {HM_S3_INVALID_BUCKET_NAME, "InvalidBucketName", 400},
        {HM_S3_INVALID_DIGEST, "InvalidDigest", 400},
        {HM_S3_INVALID_PART, "InvalidPart", 400},
        {HM_S3_INVALID_PART_ORDER, "InvalidPartOrder", 400},
        {HM_S3_INVALID_RANGE, "InvalidRange", 416},
        {HM_S3_INVALID_REQUEST, "InvalidRequest", 400},
        {HM_S3_KEY_TOO_LONG, "KeyTooLongError", 400},
        {HM_S3_MALFORMED_XML, "MalformedXML", 400},
        {HM_S3_METADATA_TOO_LARGE, "MetadataTooLarge", 400},
        {HM_S3_METHOD_NOT_ALLOWED, "MethodNotAllowed", 405},
        {HM_S3_MISSING_CONTENT_LENGTH, "MissingContentLength", 411},
        {HM_S3_NO_SUCH_BUCKET, "NoSuchBucket", 404},
        {HM_S3_NO_SUCH_KEY, "NoSuchKey", 404},
        {HM_S3_NO_SUCH_UPLOAD, "NoSuchUpload", 404},
        {HM_S3_NOT_IMPLEMENTED, "NotImplemented", 501},
        {HM_S3_PRECONDITION_FAILED, "PreconditionFailed", 412},
        {HM_S3_REQUEST_TIME_TOO_SKEWED, "RequestTimeTooSkewed", 403},
        {HM_S3_REQUEST_TIMEOUT, "RequestTimeout", 400},
        {HM_S3_SIGNATURE_DOES_NOT_MATCH, "SignatureDoesNotMatch", 403},
        {HM_S3_SLOW_DOWN, "SlowDown", 503},
        {HM_S3_SERVICE_UNAVAILABLE, "ServiceUnavailable", 503},
        {HM_S3_INSUFFICIENT_STORAGE, "InsufficientStorage", 507},
        {HM_S3_CONTENT_SHA256_MISMATCH, "XAmzContentSHA256Mismatch", 400},
        {HM_S3_INVALID_OBJECT_STATE, "InvalidObjectState", 403},
        {HM_S3_NO_SUCH_CORS, "NoSuchCORSConfiguration", 404},
        {HM_S3_NO_SUCH_TAG_SET, "NoSuchTagSet", 404},
        {HM_S3_REQUEST_HEADER_TOO_LARGE, "RequestHeaderSectionTooLarge", 400},
        {HM_S3_INVALID_TAG, "InvalidTag", 400},
        {HM_S3_EXPIRED_TOKEN, "ExpiredToken", 400},
        {HM_S3_AUTH_QUERY_ERROR, "AuthorizationQueryParametersError", 400},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_str_eq(hm_s3err_code(want[i].e), want[i].code);
        ck_assert_int_eq(hm_s3err_status(want[i].e), want[i].status);
    }
    ck_assert_str_eq(hm_s3err_message(HM_S3_NO_SUCH_KEY),
                     "The specified key does not exist.");
    ck_assert_str_eq(hm_s3err_message(HM_S3_ACCESS_DENIED), "Access Denied");
}
END_TEST

/* Every row is complete, codes are unique, statuses are 4xx/5xx, and the
 * reverse lookup finds each; out-of-range values fall back to
 * InternalError. */
START_TEST(table_integrity)
{
    for (int i = 0; i < HM_S3ERR_COUNT; i++) {
        const char *c = hm_s3err_code((hm_s3err)i);
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_gt(strlen(c), 0);
        ck_assert_uint_gt(strlen(hm_s3err_message((hm_s3err)i)), 0);
        int st = hm_s3err_status((hm_s3err)i);
        ck_assert_msg(st >= 400 && st <= 599, "%s status %d", c, st);
        hm_s3err back;
        ck_assert_int_eq(hm_s3err_by_code(c, &back), 0);
        ck_assert_int_eq(back, i);
        for (int j = i + 1; j < HM_S3ERR_COUNT; j++)
            ck_assert_str_ne(c, hm_s3err_code((hm_s3err)j));
    }
    hm_s3err e;
    ck_assert_int_eq(hm_s3err_by_code("NoSuchThing", &e), HM_ENOENT);
    ck_assert_int_eq(hm_s3err_by_code(NULL, &e), HM_ENOENT);
    ck_assert_str_eq(hm_s3err_code(HM_S3ERR_COUNT), "InternalError");
    ck_assert_int_eq(hm_s3err_status((hm_s3err)-1), 500);
}
END_TEST

/* HM_E* codes map once, as documented. */
START_TEST(from_hm)
{
    ck_assert_int_eq(hm_s3err_from_hm(HM_ENOBUCKET), HM_S3_NO_SUCH_BUCKET);
    ck_assert_int_eq(hm_s3err_from_hm(HM_ENOKEY), HM_S3_NO_SUCH_KEY);
    ck_assert_int_eq(hm_s3err_from_hm(HM_ENOTEMPTY), HM_S3_BUCKET_NOT_EMPTY);
    ck_assert_int_eq(hm_s3err_from_hm(HM_EBUCKETEXISTS), HM_S3_BUCKET_ALREADY_OWNED);
    ck_assert_int_eq(hm_s3err_from_hm(HM_EPRECOND), HM_S3_PRECONDITION_FAILED);
    ck_assert_int_eq(hm_s3err_from_hm(HM_ENOUPLOAD), HM_S3_NO_SUCH_UPLOAD);
    ck_assert_int_eq(hm_s3err_from_hm(HM_EPERM), HM_S3_ACCESS_DENIED);
    ck_assert_int_eq(hm_s3err_from_hm(HM_EBUSY), HM_S3_SLOW_DOWN);
    ck_assert_int_eq(hm_s3err_from_hm(HM_EFLOOR), HM_S3_SLOW_DOWN);
    ck_assert_int_eq(hm_s3err_from_hm(HM_ENOSPC), HM_S3_INSUFFICIENT_STORAGE);
    ck_assert_int_eq(hm_s3err_from_hm(HM_EUNAVAIL), HM_S3_SERVICE_UNAVAILABLE);
    /* A full disk is never a 500: 507, which clients retry later. */
    ck_assert_int_eq(hm_s3err_from_hm(HM_ENOSPC), HM_S3_INSUFFICIENT_STORAGE);
    ck_assert_int_eq(hm_s3err_from_hm(HM_ENOMEM), HM_S3_SERVICE_UNAVAILABLE);
    ck_assert_int_eq(hm_s3err_from_hm(HM_ETIMEDOUT), HM_S3_SERVICE_UNAVAILABLE);
    ck_assert_int_eq(hm_s3err_from_hm(HM_ECONN), HM_S3_SERVICE_UNAVAILABLE);
    ck_assert_int_eq(hm_s3err_from_hm(HM_EIO), HM_S3_INTERNAL_ERROR);
    ck_assert_int_eq(hm_s3err_from_hm(HM_ECORRUPT), HM_S3_INTERNAL_ERROR);
    ck_assert_int_eq(hm_s3err_from_hm(0), HM_S3_INTERNAL_ERROR);
    ck_assert_int_eq(hm_s3err_from_hm(-1000), HM_S3_INTERNAL_ERROR);
}
END_TEST

/* Each SigV4 refusal gets the AWS code and message. */
START_TEST(from_sigv4)
{
    static const struct {
        hm_sigv4_reason r;
        hm_s3err e;
        const char *msg; /* NULL: the default message */
    } want[] = {
        {HM_SIGV4_MALFORMED, HM_S3_AUTH_HEADER_MALFORMED, NULL},
        {HM_SIGV4_BAD_ALGORITHM, HM_S3_INVALID_ARGUMENT, "Unsupported Authorization Type"},
        {HM_SIGV4_QUERY_MALFORMED, HM_S3_AUTH_QUERY_ERROR, NULL},
        {HM_SIGV4_BAD_SCOPE, HM_S3_AUTH_HEADER_MALFORMED, NULL},
        {HM_SIGV4_MISSING_DATE, HM_S3_ACCESS_DENIED,
         "AWS authentication requires a valid Date or x-amz-date header"},
        {HM_SIGV4_BAD_CONTENT_SHA, HM_S3_INVALID_ARGUMENT, NULL},
        {HM_SIGV4_MISSING_CONTENT_SHA, HM_S3_INVALID_REQUEST, NULL},
        {HM_SIGV4_UNSIGNED_HEADER, HM_S3_ACCESS_DENIED,
         "There were headers present in the request which were not signed"},
        {HM_SIGV4_UNKNOWN_KEY, HM_S3_INVALID_ACCESS_KEY_ID, NULL},
        {HM_SIGV4_SKEWED, HM_S3_REQUEST_TIME_TOO_SKEWED, NULL},
        {HM_SIGV4_EXPIRED, HM_S3_ACCESS_DENIED, "Request has expired"},
        {HM_SIGV4_NOT_YET_VALID, HM_S3_ACCESS_DENIED, "Request is not valid yet"},
        {HM_SIGV4_MISMATCH, HM_S3_SIGNATURE_DOES_NOT_MATCH, NULL},
        {HM_SIGV4_MULTIPLE_AUTH, HM_S3_INVALID_ARGUMENT, NULL},
        {HM_SIGV4_INTERNAL, HM_S3_INTERNAL_ERROR, NULL},
        {HM_SIGV4_OK, HM_S3_INTERNAL_ERROR, NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *m = NULL;
        ck_assert_int_eq(hm_s3err_from_sigv4(want[i].r, &m), want[i].e);
        ck_assert_ptr_nonnull(m);
        if (want[i].msg != NULL)
            ck_assert_str_eq(m, want[i].msg);
        ck_assert_int_eq(hm_s3err_from_sigv4(want[i].r, NULL), want[i].e);
    }
    const char *m;
    hm_s3err_from_sigv4(HM_SIGV4_MISMATCH, &m);
    ck_assert_str_eq(m, hm_s3err_message(HM_S3_SIGNATURE_DOES_NOT_MATCH));
}
END_TEST

/* The rendered document is AWS's shape, escapes its text, carries the
 * extras and parses back. */
START_TEST(render)
{
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_s3err_extra extra[] = {{"BucketName", "b"}, {"Key", "a<&>b"}};
    hm_s3err_body body = {.err = HM_S3_NO_SUCH_KEY,
                          .resource = "/b/a<&>b",
                          .request_id = "4F1C2D",
                          .host_id = "node-1",
                          .extra = extra,
                          .extra_count = 2};
    ck_assert_int_eq(hm_s3err_render(&body, &w), 0);
    const char *d;
    size_t n;
    ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), 0);
    ck_assert_str_eq(d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<Error><Code>NoSuchKey</Code>"
                        "<Message>The specified key does not exist.</Message>"
                        "<BucketName>b</BucketName><Key>a&lt;&amp;&gt;b</Key>"
                        "<Resource>/b/a&lt;&amp;&gt;b</Resource>"
                        "<RequestId>4F1C2D</RequestId><HostId>node-1</HostId></Error>");
    hm_xml_doc *doc;
    ck_assert_int_eq(hm_xml_parse(d, n, &doc, NULL, NULL), 0);
    ck_assert_str_eq(hm_xml_child_text(hm_xml_root(doc), "Key", NULL), "a<&>b");
    hm_xml_doc_free(doc);
    hm_xml_writer_free(&w);

    /* custom message, optional parts omitted */
    hm_xml_writer_init(&w, 0);
    hm_s3err_body b2 = {.err = HM_S3_ACCESS_DENIED, .message = "Request has expired"};
    ck_assert_int_eq(hm_s3err_render(&b2, &w), 0);
    ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), 0);
    ck_assert_str_eq(d, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<Error><Code>AccessDenied</Code>"
                        "<Message>Request has expired</Message></Error>");
    hm_xml_writer_free(&w);
}
END_TEST

/* Bad arguments are refused: out-of-range error, too many extras, a bad
 * extra name, a writer over its cap. */
START_TEST(render_errors)
{
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_s3err_body b = {.err = HM_S3ERR_COUNT};
    ck_assert_int_eq(hm_s3err_render(&b, &w), HM_EINVAL);
    hm_s3err_extra extra[HM_S3ERR_EXTRA_MAX + 1];
    for (size_t i = 0; i <= HM_S3ERR_EXTRA_MAX; i++)
        extra[i] = (hm_s3err_extra){"X", "v"};
    b.err = HM_S3_INTERNAL_ERROR;
    b.extra = extra;
    b.extra_count = HM_S3ERR_EXTRA_MAX + 1;
    ck_assert_int_eq(hm_s3err_render(&b, &w), HM_EINVAL);
    b.extra_count = 1;
    extra[0].name = "bad name";
    ck_assert_int_eq(hm_s3err_render(&b, &w), HM_EINVAL);
    hm_xml_writer_free(&w);

    hm_xml_writer_init(&w, 64);
    hm_s3err_body big = {.err = HM_S3_INTERNAL_ERROR};
    ck_assert_int_eq(hm_s3err_render(&big, &w), HM_ETOOBIG);
    hm_xml_writer_free(&w);
}
END_TEST

static Suite *s3err_suite(void)
{
    Suite *s = suite_create("s3err");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, table_values);
    tcase_add_test(tc, table_integrity);
    tcase_add_test(tc, from_hm);
    tcase_add_test(tc, from_sigv4);
    tcase_add_test(tc, render);
    tcase_add_test(tc, render_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(s3err_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
