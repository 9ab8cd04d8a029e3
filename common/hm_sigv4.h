/* hm_sigv4.h - AWS Signature Version 4 for S3: verify (gateway) and sign
 * (clients, benchmark, tests).
 *
 * Reference: AWS S3 API Reference, "Authenticating Requests (AWS Signature
 * Version 4)": "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk", "Authenticating Requests: Using
 * Query Parameters (AWS Signature Version 4)" and "Signature Calculations for
 * the Authorization Header: Transferring Payload in Multiple Chunks".
 *
 * Shaping decisions:
 *  - Nothing here allocates per header: the canonical request is streamed
 *    straight into SHA-256 (or into a caller buffer for tests and logs), so a
 *    request costs one bounded allocation (the decoded query parameters) and
 *    no input-sized buffer is made before its length is checked against the
 *    limits below.
 *  - The clock is the caller's: verify takes now_ms (unix wall clock, ms)
 *    so the simulator drives it; this module never calls time().
 *  - Region: any well-formed region in the credential scope is accepted and
 *    the signature is computed with the region the client used.  Many
 *    clients send "us-east-1" whatever the endpoint says; a self-hosted store
 *    has no region routing to protect, and the scope still binds the
 *    signature to the date, service and key.
 *  - The canonical URI is the path as sent, decoded once and re-encoded with
 *    the S3 rules (RFC 3986 unreserved kept, '/' kept, everything else %XX
 *    upper-case) so "a b", "a%20b" and "a%2fb"-vs-"a%2Fb" forms agree with
 *    what SDKs sign.  No "." / ".." normalization and no double encoding
 *    (S3 differs from the other services there).
 *  - Results are an int (0 or negative HM_E*) plus a reason that names the
 *    S3 error precisely; hm_s3err_from_sigv4() (hamster-gw/hm_s3err.h) turns
 *    the reason into the AWS code, status and message.
 *
 * Thread safety: every function is reentrant; no global state.
 */
#ifndef HM_SIGV4_H
#define HM_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_limits.h"

/* ---- local limits (bounded inputs) -------------------------------------- */
#define HM_SIGV4_AUTH_BYTES_MAX 4096u          /* whole Authorization value */
#define HM_SIGV4_ACCESS_KEY_BYTES_MAX 128u
#define HM_SIGV4_SECRET_BYTES_MAX 128u
#define HM_SIGV4_REGION_BYTES_MAX 64u
#define HM_SIGV4_SERVICE_BYTES_MAX 32u
#define HM_SIGV4_SIGNED_HEADERS_BYTES_MAX 2048u /* "host;range;x-amz-date" */
#define HM_SIGV4_SIGNED_HEADERS_MAX 64u         /* names in SignedHeaders */
#define HM_SIGV4_HEADER_NAME_BYTES_MAX 256u
#define HM_SIGV4_METHOD_BYTES_MAX 32u
#define HM_SIGV4_PATH_BYTES_MAX 8192u           /* raw path as sent */
#define HM_SIGV4_QUERY_BYTES_MAX 16384u         /* raw query as sent */
#define HM_SIGV4_QUERY_PARAMS_MAX 256u
#define HM_SIGV4_PAYLOAD_HASH_BYTES_MAX 64u     /* 64 hex or a keyword */
#define HM_SIGV4_EXPIRES_S_MAX 604800           /* presigned: one week */
/* Longest canonical request: method, path and query each re-encoded (at most
 * three times their raw size), every header, the signed list and the hash. */
#define HM_SIGV4_CANONICAL_BYTES_MAX                                        \
    (HM_SIGV4_METHOD_BYTES_MAX + 3u * HM_SIGV4_PATH_BYTES_MAX +             \
     3u * HM_SIGV4_QUERY_BYTES_MAX + 2u * HM_HTTP_HEADERS_BYTES_MAX +       \
     HM_SIGV4_SIGNED_HEADERS_BYTES_MAX + HM_SIGV4_PAYLOAD_HASH_BYTES_MAX + 16u)

#define HM_SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define HM_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define HM_SIGV4_EMPTY_SHA256                                               \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HM_SIGV4_DATE_BYTES 8u       /* "20130524" */
#define HM_SIGV4_AMZ_DATE_BYTES 16u  /* "20130524T000000Z" */
#define HM_SIGV4_KEY_BYTES 32u       /* signing key, HMAC-SHA256 output */
#define HM_SIGV4_HEX_BYTES 64u       /* signature / SHA-256 in hex */
/* "20130524/" region "/" service "/aws4_request" */
#define HM_SIGV4_SCOPE_BYTES_MAX                                            \
    (HM_SIGV4_DATE_BYTES + HM_SIGV4_REGION_BYTES_MAX +                      \
     HM_SIGV4_SERVICE_BYTES_MAX + 16u)

_Static_assert(HM_SIGV4_SIGNED_HEADERS_BYTES_MAX < HM_HTTP_HEADERS_BYTES_MAX,
               "signed header list fits the header section");
_Static_assert(HM_SIGV4_AUTH_BYTES_MAX < HM_HTTP_HEADERS_BYTES_MAX,
               "authorization fits the header section");

/* Why a request was refused; hm_s3err_from_sigv4() gives the S3 error. */
typedef enum hm_sigv4_reason {
    HM_SIGV4_OK = 0,
    HM_SIGV4_MALFORMED,        /* AuthorizationHeaderMalformed 400 */
    HM_SIGV4_BAD_ALGORITHM,    /* InvalidArgument 400 (unsupported type) */
    HM_SIGV4_QUERY_MALFORMED,  /* AuthorizationQueryParametersError 400 */
    HM_SIGV4_BAD_SCOPE,        /* AuthorizationHeaderMalformed 400 */
    HM_SIGV4_MISSING_DATE,     /* AccessDenied 403: no valid date */
    HM_SIGV4_BAD_CONTENT_SHA,  /* InvalidArgument 400: x-amz-content-sha256 */
    HM_SIGV4_MISSING_CONTENT_SHA, /* InvalidRequest 400: header absent */
    HM_SIGV4_UNSIGNED_HEADER,  /* AccessDenied 403: required header unsigned */
    HM_SIGV4_UNKNOWN_KEY,      /* InvalidAccessKeyId 403 */
    HM_SIGV4_SKEWED,           /* RequestTimeTooSkewed 403 */
    HM_SIGV4_EXPIRED,          /* AccessDenied 403 "Request has expired" */
    HM_SIGV4_NOT_YET_VALID,    /* AccessDenied 403 "Request is not valid yet" */
    HM_SIGV4_MISMATCH,         /* SignatureDoesNotMatch 403 */
    HM_SIGV4_MULTIPLE_AUTH,    /* InvalidArgument 400: header and query */
    HM_SIGV4_INTERNAL          /* InternalError 500 (allocation, crypto) */
} hm_sigv4_reason;

/* Stable short name of a reason ("MISMATCH"), for logs. */
const char *hm_sigv4_reason_name(hm_sigv4_reason reason);

/* One request header as received.  Names in any case; a name may repeat
 * (its values are joined with ',' in received order). */
typedef struct hm_sigv4_header {
    const char *name;
    const char *value;
} hm_sigv4_header;

/* A view of the request; nothing is copied, all strings are NUL-terminated
 * and borrowed for the duration of a call. */
typedef struct hm_sigv4_request {
    const char *method;          /* "GET" */
    const char *path;            /* as sent, already URI-encoded; "/" if empty */
    const char *query;           /* as sent without '?'; NULL or "" if none */
    const hm_sigv4_header *headers;
    size_t header_count;
    /* Hash line of the canonical request.  NULL: take x-amz-content-sha256
     * from the headers (header auth) or UNSIGNED-PAYLOAD (presigned). */
    const char *payload_hash;
} hm_sigv4_request;

/* The parsed Authorization header or presigned query.  Fixed size: parsing
 * never allocates. */
typedef struct hm_sigv4_auth {
    char access_key_id[HM_SIGV4_ACCESS_KEY_BYTES_MAX + 1];
    char date[HM_SIGV4_DATE_BYTES + 1];          /* scope date, YYYYMMDD */
    char region[HM_SIGV4_REGION_BYTES_MAX + 1];
    char service[HM_SIGV4_SERVICE_BYTES_MAX + 1];
    char signed_headers[HM_SIGV4_SIGNED_HEADERS_BYTES_MAX + 1];
    size_t signed_header_count;
    char signature[HM_SIGV4_HEX_BYTES + 1];      /* lower-case hex */
    bool presigned;
    /* presigned only: X-Amz-Date and X-Amz-Expires */
    char amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1];
    int64_t expires_s;
} hm_sigv4_auth;

/* ---- parsing ------------------------------------------------------------ */

/* Parse an Authorization header value:
 *   "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,
 *    SignedHeaders=host;range;x-amz-date, Signature=<64 lower hex>"
 * Strict: each of the three parts exactly once (any order, separated by ','
 * with optional spaces), bounded lengths, no control characters, scope of
 * exactly five '/'-separated parts with an 8-digit date and the terminator
 * "aws4_request", SignedHeaders lower-case, sorted, unique and non-empty,
 * signature 64 lower-case hex.
 * Returns 0 and fills *out; HM_EPROTO with *reason = HM_SIGV4_BAD_ALGORITHM
 * when the scheme is not AWS4-HMAC-SHA256 (e.g. SigV2 "AWS AK:sig"), or
 * HM_EPROTO with HM_SIGV4_MALFORMED for anything else wrong.  The scope's
 * service is checked by verify, not here.  *out is undefined on failure.
 * reason may be NULL. */
int hm_sigv4_parse_auth_header(const char *authorization, hm_sigv4_auth *out,
                               hm_sigv4_reason *reason);

/* Parse the presigned parameters of a raw query string (without '?'):
 * X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires (1..604800),
 * X-Amz-SignedHeaders, X-Amz-Signature; values percent-decoded.  Each must
 * appear exactly once.  Returns 0 and fills *out (presigned = true);
 * HM_ENOENT when the query carries no X-Amz-Algorithm and no X-Amz-Signature
 * (not a presigned request: try header auth); HM_EPROTO with *reason =
 * HM_SIGV4_BAD_ALGORITHM or HM_SIGV4_QUERY_MALFORMED otherwise. */
int hm_sigv4_parse_presigned_query(const char *query, hm_sigv4_auth *out,
                                   hm_sigv4_reason *reason);

/* Parse an ISO 8601 basic UTC timestamp "20130524T000000Z" into unix ms.
 * Returns 0 or HM_EINVAL (wrong shape, out-of-range field, year < 1970). */
int hm_sigv4_parse_amz_date(const char *s, int64_t *unix_ms_out);

/* Parse an RFC 7231 IMF-fixdate "Fri, 24 May 2013 00:00:00 GMT" into unix
 * ms.  The weekday is checked for shape only.  Returns 0 or HM_EINVAL. */
int hm_sigv4_parse_http_date(const char *s, int64_t *unix_ms_out);

/* Format unix ms as "20130524T000000Z" into out (17 bytes with NUL).
 * Returns 0 or HM_EINVAL (negative time or year > 9999). */
int hm_sigv4_format_amz_date(int64_t unix_ms, char out[HM_SIGV4_AMZ_DATE_BYTES + 1]);

/* ---- the pieces of the calculation -------------------------------------- */

/* Write the canonical request into out (cap bytes, NUL-terminated, length
 * without NUL in *len_out):
 *   method \n canonical URI \n canonical query \n canonical headers \n
 *   signed headers \n payload hash
 * signed_headers is the ';'-separated lower-case sorted list; every listed
 * header that the request lacks is an error (HM_ENOENT): the client signed
 * it, so it must be there (verify reports MISMATCH).  payload_hash is the
 * last line verbatim.  With presigned, X-Amz-Signature is left out of the
 * canonical query.
 * Returns 0; HM_EPROTO for an input that cannot be canonicalized (bad %XX,
 * control characters in names, over-limit sizes or counts); HM_ETOOBIG if
 * cap is too small (HM_SIGV4_CANONICAL_BYTES_MAX always suffices);
 * HM_ENOMEM. */
int hm_sigv4_canonical_request(const hm_sigv4_request *req,
                               const char *signed_headers,
                               const char *payload_hash, bool presigned,
                               char *out, size_t cap, size_t *len_out);

/* Derive the signing key:
 *   HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service),
 *        "aws4_request")
 * Depends only on (secret, date, region, service): callers may cache it for
 * the day.  Returns 0, HM_EINVAL (over-long inputs) or HM_EINTERNAL (crypto
 * failure). */
int hm_sigv4_signing_key(const char *secret, const char *date8,
                         const char *region, const char *service,
                         uint8_t key_out[HM_SIGV4_KEY_BYTES]);

/* Build the credential scope "date/region/service/aws4_request" into out.
 * Returns 0 or HM_EINVAL (a part is empty, over-long or contains '/'). */
int hm_sigv4_scope(const char *date8, const char *region, const char *service,
                   char out[HM_SIGV4_SCOPE_BYTES_MAX + 1]);

/* Build the string to sign:
 *   "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n" hex(SHA256(canonical))
 * into out (cap bytes, NUL-terminated, length in *len_out).
 * Returns 0, HM_ETOOBIG (cap too small; 256 + scope suffices) or
 * HM_EINTERNAL. */
int hm_sigv4_string_to_sign(const char *amz_date, const char *scope,
                            const char *canonical, size_t canonical_len,
                            char *out, size_t cap, size_t *len_out);

/* hex(HMAC-SHA256(key, msg)), lower case, into sig_out (65 bytes with NUL).
 * Returns 0 or HM_EINTERNAL. */
int hm_sigv4_signature_hex(const uint8_t key[HM_SIGV4_KEY_BYTES],
                           const char *msg, size_t msg_len,
                           char sig_out[HM_SIGV4_HEX_BYTES + 1]);

/* hex(SHA-256(data)), lower case, into hex_out (65 bytes with NUL).
 * Returns 0 or HM_EINTERNAL. */
int hm_sigv4_sha256_hex(const void *data, size_t len,
                        char hex_out[HM_SIGV4_HEX_BYTES + 1]);

/* Signature of one aws-chunked chunk ("Transferring Payload in Multiple
 * Chunks"):
 *   string to sign = "AWS4-HMAC-SHA256-PAYLOAD\n" amz_date "\n" scope "\n"
 *                    prev_signature "\n" hex(SHA256("")) "\n" chunk_sha256_hex
 * signed with key.  The first chunk's prev_signature is the seed signature
 * (hm_sigv4_verified.signature).  Returns 0, HM_EINVAL or HM_EINTERNAL. */
int hm_sigv4_chunk_signature(const uint8_t key[HM_SIGV4_KEY_BYTES],
                             const char *amz_date, const char *scope,
                             const char *prev_signature,
                             const char *chunk_sha256_hex,
                             char sig_out[HM_SIGV4_HEX_BYTES + 1]);

/* Signature of the trailing headers of a signed-trailer upload
 * (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER):
 *   string to sign = "AWS4-HMAC-SHA256-TRAILER\n" amz_date "\n" scope "\n"
 *                    prev_signature "\n" trailer_sha256_hex
 * where prev_signature is the final (empty) chunk's signature and the hash
 * covers the trailer lines as sent ("name:value\n" each).  Returns 0,
 * HM_EINVAL or HM_EINTERNAL. */
int hm_sigv4_trailer_signature(const uint8_t key[HM_SIGV4_KEY_BYTES],
                               const char *amz_date, const char *scope,
                               const char *prev_signature,
                               const char *trailer_sha256_hex,
                               char sig_out[HM_SIGV4_HEX_BYTES + 1]);

/* ---- verify (server) ---------------------------------------------------- */

/* Find the secret of an access key id.  Writes the NUL-terminated secret
 * into secret_out (secret_cap = HM_SIGV4_SECRET_BYTES_MAX + 1 bytes) and
 * returns 0; HM_ENOENT for an unknown key (-> InvalidAccessKeyId); any other
 * HM_E* is passed through as an internal failure.  Called at most once per
 * verify, from the verifying thread. */
typedef int (*hm_sigv4_lookup_fn)(void *ctx, const char *access_key_id,
                                  char *secret_out, size_t secret_cap);

typedef struct hm_sigv4_verify_config {
    int64_t now_ms;            /* caller's wall clock, unix ms */
    int64_t skew_ms_max;       /* 0 means HM_CLOCK_SKEW_MS_MAX */
    hm_sigv4_lookup_fn lookup; /* required */
    void *lookup_ctx;
} hm_sigv4_verify_config;

/* What a verified request proved; the pieces aws-chunked needs. */
typedef struct hm_sigv4_verified {
    hm_sigv4_reason reason;                       /* HM_SIGV4_OK on success */
    const char *detail;                           /* static text for logs */
    char access_key_id[HM_SIGV4_ACCESS_KEY_BYTES_MAX + 1];
    char amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1];   /* the signed timestamp */
    char scope[HM_SIGV4_SCOPE_BYTES_MAX + 1];
    char region[HM_SIGV4_REGION_BYTES_MAX + 1];   /* the client's region */
    uint8_t signing_key[HM_SIGV4_KEY_BYTES];
    char signature[HM_SIGV4_HEX_BYTES + 1];       /* seed signature */
    char payload_hash[HM_SIGV4_PAYLOAD_HASH_BYTES_MAX + 1]; /* as signed */
} hm_sigv4_verified;

/* Verify a parsed auth (header or presigned) against the request.
 * Checks, in this order, each failing with out->reason set:
 *   1. scope: service "s3" (terminator and region shape were checked by
 *      the parser; any region accepted, see top) -> BAD_SCOPE (for a
 *      presigned request every scope or date problem is QUERY_MALFORMED);
 *   2. timestamp: header form uses x-amz-date, else Date (IMF-fixdate);
 *      none valid -> MISSING_DATE; scope date != timestamp's date ->
 *      BAD_SCOPE;
 *   3. payload hash (header form): x-amz-content-sha256 required
 *      (MISSING_CONTENT_SHA) and must be 64 lower hex, UNSIGNED-PAYLOAD or
 *      a STREAMING-* keyword (BAD_CONTENT_SHA);
 *   4. host must be signed; x-amz-date and x-amz-content-sha256 must be
 *      signed when present (header form) -> UNSIGNED_HEADER;
 *   5. access key via cfg->lookup -> UNKNOWN_KEY;
 *   6. time: header form |now - t| > skew -> SKEWED; presigned t - skew >
 *      now -> NOT_YET_VALID, now > t + expires -> EXPIRED;
 *   7. signature, compared in constant time (CRYPTO_memcmp) -> MISMATCH.
 * Returns 0 with out filled (the secret never leaves this function; the
 * derived signing key does, for aws-chunked); HM_EPROTO for a malformed
 * request (reasons MALFORMED, BAD_SCOPE, QUERY_MALFORMED, MISSING_DATE,
 * BAD_CONTENT_SHA, MISSING_CONTENT_SHA); HM_EPERM for a refused one (UNSIGNED_HEADER,
 * UNKNOWN_KEY, SKEWED, EXPIRED, NOT_YET_VALID, MISMATCH); HM_ENOMEM or
 * HM_EINTERNAL (reason INTERNAL). */
int hm_sigv4_verify(const hm_sigv4_request *req, const hm_sigv4_auth *auth,
                    const hm_sigv4_verify_config *cfg, hm_sigv4_verified *out);

/* Convenience for the gateway: authenticate a request by its Authorization
 * header, or else by presigned query parameters.  Returns HM_ENOENT with
 * reason OK when the request carries neither (anonymous); otherwise as
 * hm_sigv4_parse_* then hm_sigv4_verify.  A request carrying both is
 * refused (HM_EPROTO, reason MULTIPLE_AUTH), as S3 does. */
int hm_sigv4_authenticate(const hm_sigv4_request *req,
                          const hm_sigv4_verify_config *cfg,
                          hm_sigv4_verified *out);

/* ---- sign (clients) ----------------------------------------------------- */

typedef struct hm_sigv4_credentials {
    const char *access_key_id;
    const char *secret;
    const char *region;   /* "us-east-1" */
    const char *service;  /* NULL means "s3" */
} hm_sigv4_credentials;

/* Produce the Authorization header value for req, signed at amz_date
 * ("20130524T000000Z").  The caller has already put host, x-amz-date and
 * x-amz-content-sha256 (and any other headers to sign) into req->headers;
 * req->payload_hash NULL means take x-amz-content-sha256 from them.
 * signed_headers: the ';' list to sign, or NULL to sign every header in
 * req->headers (lower-cased, sorted, deduplicated).  Writes the value into
 * out (cap bytes; HM_SIGV4_AUTH_BYTES_MAX + 1 suffices) and, if
 * signature_out is not NULL, the bare signature (the seed for aws-chunked).
 * Returns 0, HM_EINVAL (bad credentials or date), HM_EPROTO (request
 * cannot be canonicalized), HM_ETOOBIG (cap), HM_ENOMEM, HM_EINTERNAL. */
int hm_sigv4_sign_headers(const hm_sigv4_request *req,
                          const char *signed_headers,
                          const hm_sigv4_credentials *cred,
                          const char *amz_date, char *out, size_t cap,
                          char signature_out[HM_SIGV4_HEX_BYTES + 1]);

/* Produce a presigned query string: req->query (the caller's own
 * parameters, may be NULL) followed by X-Amz-Algorithm, X-Amz-Credential,
 * X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature, for
 * a request signed at amz_date valid for expires_s (1..604800) seconds.
 * signed_headers as for hm_sigv4_sign_headers (NULL: every header; at
 * least host).  The payload is UNSIGNED-PAYLOAD.  Writes into out (cap
 * bytes).  Returns as hm_sigv4_sign_headers. */
int hm_sigv4_presign_query(const hm_sigv4_request *req,
                           const char *signed_headers,
                           const hm_sigv4_credentials *cred,
                           const char *amz_date, int64_t expires_s,
                           char *out, size_t cap);

#endif
