/* hm_sigv2.h - AWS Signature Version 2 for S3: verify (gateway) and the
 * pieces a signer needs (tests, the POST policy form).
 *
 * Reference: AWS S3 Developer Guide, "Signing and authenticating REST
 * requests (AWS signature version 2)": the Authorization header
 * "AWS AccessKeyId:Signature", Signature = Base64(HMAC-SHA1(secret,
 * StringToSign)), where
 *
 *   StringToSign = Method "\n" Content-MD5 "\n" Content-Type "\n" Date "\n"
 *                  CanonicalizedAmzHeaders CanonicalizedResource
 *
 * and the "Query string request authentication alternative" (presigned
 * URLs: AWSAccessKeyId, Expires, Signature; Expires takes Date's place).
 *
 * Why it is here: boto3 1.26's default generate_presigned_url, aws CLI
 * v1's `s3 presign`, s3cmd and ceph's s3-tests still sign this way, and
 * Ceph RGW and MinIO accept it.
 *
 * Shaping decisions:
 *  - The verifier reuses SigV4's request view (hm_sigv4_request), reasons
 *    and result (hm_sigv4_verified), so the gateway has one auth result and
 *    one error mapping (hm_s3err_from_sigv4).  A SigV2 request's payload is
 *    not signed: the result says UNSIGNED-PAYLOAD (Content-MD5, when sent,
 *    is signed and the gateway checks it against the body).
 *  - CanonicalizedResource is "/" bucket path-as-sent for virtual-hosted
 *    requests (the caller passes the bucket it took from Host) and the
 *    path as sent for path-style ones, then the sub-resources S3 and
 *    botocore sign (sorted, values decoded), as botocore's HmacV1Auth does.
 *  - Date line: the Date header.  The AWS page says it is empty when
 *    x-amz-date is sent (s3cmd signs that way) while botocore always signs
 *    its Date header; both forms are tried, each compared in constant time,
 *    and x-amz-date (which the signature covers as an amz header) is the
 *    time checked against the clock either way.
 *  - Presigned: botocore moves Content-Type, Content-MD5 and x-amz-*
 *    headers into the query; they are read from there when present.
 *  - The clock is the caller's (now_ms), as in hm_sigv4.
 *
 * Thread safety: every function is reentrant; no global state.
 */
#ifndef HM_SIGV2_H
#define HM_SIGV2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_sigv4.h"

#define HM_SIGV2_SIGNATURE_BYTES 28u /* base64 of a 20-byte HMAC-SHA1 */
#define HM_SIGV2_ALGORITHM "AWS"
/* Longest string to sign: the fixed lines, every header twice over (amz
 * headers and the three positional ones), the path, bucket and query. */
#define HM_SIGV2_STS_BYTES_MAX                                              \
    (HM_SIGV4_METHOD_BYTES_MAX + 2u * HM_HTTP_HEADERS_BYTES_MAX +           \
     HM_SIGV4_PATH_BYTES_MAX + HM_SIGV4_QUERY_BYTES_MAX + 128u)

/* The parsed Authorization header or presigned query.  Fixed size. */
typedef struct hm_sigv2_auth {
    char access_key_id[HM_SIGV4_ACCESS_KEY_BYTES_MAX + 1];
    char signature[HM_SIGV2_SIGNATURE_BYTES + 1];
    bool presigned;
    char expires[24];          /* presigned: Expires as sent (unix seconds) */
    int64_t expires_s;
} hm_sigv2_auth;

/* Parse "AWS AKID:Base64Signature".  Returns 0; HM_ENOENT when the value
 * does not start with "AWS " (not SigV2: try SigV4); HM_EPROTO with
 * *reason = HM_SIGV4_MALFORMED for a SigV2 header that is malformed (empty
 * or over-long key id, a signature that is not 28 base64 characters).
 * reason may be NULL. */
int hm_sigv2_parse_auth_header(const char *authorization, hm_sigv2_auth *out,
                               hm_sigv4_reason *reason);

/* Parse the presigned parameters of a raw query (without '?'):
 * AWSAccessKeyId, Expires (decimal unix seconds), Signature; each exactly
 * once, percent-decoded.  Returns 0; HM_ENOENT when none of the three is
 * there (not a SigV2 presigned request); HM_EPROTO with reason
 * HM_SIGV4_QUERY_MALFORMED otherwise. */
int hm_sigv2_parse_presigned_query(const char *query, hm_sigv2_auth *out,
                                   hm_sigv4_reason *reason);

/* Build the string to sign for req into out (cap bytes, NUL-terminated,
 * length in *len_out).  vhost_bucket: the bucket taken from the Host header
 * of a virtual-hosted request, NULL for path style.  date_line: the Date
 * line verbatim ("" allowed); NULL means the Date header's value, or
 * Expires for a presigned request (presigned true: also take Content-Type,
 * Content-MD5 and x-amz-* from the query when present there).
 * Returns 0; HM_EPROTO (over-limit sizes or counts, a bad %XX in a signed
 * sub-resource); HM_ETOOBIG (cap; HM_SIGV2_STS_BYTES_MAX + 1 suffices);
 * HM_ENOMEM. */
int hm_sigv2_string_to_sign(const hm_sigv4_request *req, const char *vhost_bucket,
                            bool presigned, const char *date_line, char *out,
                            size_t cap, size_t *len_out);

/* Base64(HMAC-SHA1(secret, msg)) into sig_out (29 bytes with NUL).
 * Returns 0, HM_EINVAL (secret too long) or HM_EINTERNAL. */
int hm_sigv2_signature(const char *secret, const void *msg, size_t msg_len,
                       char sig_out[HM_SIGV2_SIGNATURE_BYTES + 1]);

/* Compare two signatures in constant time (CRYPTO_memcmp); false when
 * either is not HM_SIGV2_SIGNATURE_BYTES long. */
bool hm_sigv2_signature_equal(const char *a, const char *b);

/* Verify a parsed auth against req.  Checks, each failing with out->reason:
 *   1. time: header form takes x-amz-date, else Date (IMF-fixdate, or the
 *      "+0000" zone the AWS examples use); none valid -> MISSING_DATE;
 *      |now - t| > skew -> SKEWED; presigned: now > Expires -> EXPIRED;
 *   2. access key via cfg->lookup -> UNKNOWN_KEY;
 *   3. signature, in constant time -> MISMATCH.
 * Returns 0 with out filled (access_key_id, payload_hash
 * "UNSIGNED-PAYLOAD"); HM_EPROTO (MISSING_DATE, MALFORMED); HM_EPERM
 * (UNKNOWN_KEY, SKEWED, EXPIRED, MISMATCH); HM_ENOMEM or HM_EINTERNAL
 * (INTERNAL).  The secret never leaves this function. */
int hm_sigv2_verify(const hm_sigv4_request *req, const char *vhost_bucket,
                    const hm_sigv2_auth *auth, const hm_sigv4_verify_config *cfg,
                    hm_sigv4_verified *out);

/* Is req signed with SigV2 (an "AWS " Authorization header, or
 * AWSAccessKeyId / Signature in the query without SigV4's X-Amz-*)?  The
 * gateway asks this first and hands the rest to hm_sigv4_authenticate. */
bool hm_sigv2_is_v2(const hm_sigv4_request *req);

/* Authenticate a SigV2 request (header or presigned).  Returns HM_ENOENT
 * with reason OK when the request is not SigV2; HM_EPROTO with
 * MULTIPLE_AUTH when it carries both header and query auth; otherwise as
 * the parsers and hm_sigv2_verify. */
int hm_sigv2_authenticate(const hm_sigv4_request *req, const char *vhost_bucket,
                          const hm_sigv4_verify_config *cfg, hm_sigv4_verified *out);

#endif
