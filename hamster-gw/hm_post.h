/* hm_post.h - browser form uploads (S3 "POST Object"): a streaming
 * multipart/form-data parser, the policy evaluator (over the JSON of
 * hm_json.h) and the SigV4 policy signature.  Pure: no
 * HTTP, no clock, no allocation sized by the network before its bound is
 * checked; hm_gw_post.c drives it.
 *
 * References: AWS S3 API Reference, "POST Object", "Browser-Based Uploads
 * Using POST (AWS Signature Version 4)", "Creating a POST Policy" and
 * "Calculating a Signature" (the string to sign is the base64 policy);
 * RFC 7578 (multipart/form-data), RFC 2046 §5.1 (multipart syntax),
 * RFC 8259 (JSON).
 *
 * Shaping decisions:
 *  - The form is parsed as it arrives.  Every field before the file is kept
 *    (bounded: HM_POST_FIELDS_MAX fields of at most HM_POST_VALUE_BYTES_MAX
 *    bytes, HM_POST_FORM_BYTES_MAX together); the file's bytes go straight
 *    to a sink and are never held, so the upload is checked (policy,
 *    signature) before its first byte is stored.  As AWS says, the file is
 *    the last field: parts after it are read and ignored.
 *  - The delimiter search is a KMP matcher over "CRLF--boundary", so a
 *    boundary split across any two pieces is found and no byte of the file
 *    is held back longer than a possible delimiter prefix.
 *
 * Errors: 0 or negative HM_E* (hm_err.h).  Thread safety: a form or policy
 * belongs to one thread at a time; nothing is global.
 */
#ifndef HM_POST_H
#define HM_POST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_json.h"
#include "hm_sigv4.h"

/* ---- bounds --------------------------------------------------------------- */
#define HM_POST_BOUNDARY_BYTES_MAX 70u     /* RFC 2046 §5.1.1 */
#define HM_POST_FIELDS_MAX 64u             /* parts before the file */
#define HM_POST_PARTS_AFTER_FILE_MAX 64u   /* ignored parts after it */
#define HM_POST_NAME_BYTES_MAX 256u        /* a field's name */
#define HM_POST_VALUE_BYTES_MAX (8u << 10) /* a field's value */
#define HM_POST_FORM_BYTES_MAX (64u << 10) /* all fields' names and values */
#define HM_POST_HEADER_LINE_BYTES_MAX 1024u /* one part header line */
#define HM_POST_PART_HEADERS_MAX 16u       /* header lines of one part */
#define HM_POST_PADDING_BYTES_MAX 64u      /* transport padding after a delimiter */
#define HM_POST_POLICY_BYTES_MAX HM_POST_VALUE_BYTES_MAX /* base64 policy */
#define HM_POST_CONDITIONS_MAX 128u

_Static_assert(HM_POST_VALUE_BYTES_MAX <= HM_POST_FORM_BYTES_MAX, "a value fits the form");
_Static_assert(HM_POST_POLICY_BYTES_MAX <= HM_JSON_DOC_BYTES_MAX, "a policy fits the parser");
_Static_assert(HM_POST_BOUNDARY_BYTES_MAX + 4u < HM_POST_HEADER_LINE_BYTES_MAX,
               "a delimiter is shorter than a header line");

/* ---- multipart/form-data ------------------------------------------------------ */

typedef struct hm_post_form hm_post_form;

/* What the parser tells its caller.  Each function returns 0 to go on or a
 * negative HM_E* that stops the parser and comes back from feed. */
typedef struct hm_post_sink {
    /* The file part's headers are in; every field before it is in form.
     * filename is the part's filename parameter ("" if none), content_type
     * its Content-Type header (NULL if none); both valid during the call. */
    int (*file_begin)(void *ctx, const hm_post_form *form, const char *filename,
                      const char *content_type);
    /* A piece of the file, in order; len > 0. */
    int (*file_data)(void *ctx, const void *data, size_t len);
    void *ctx;
} hm_post_sink;

/* Take the boundary from a Content-Type value "multipart/form-data;
 * boundary=..." (media type case-insensitive, boundary token or quoted, 1..70
 * bytes) and start a parser.  HM_EINVAL when the value is not that (->
 * the caller's MalformedPOSTRequest), HM_ENOMEM. */
int hm_post_form_new(const char *content_type, hm_post_form **out);

/* NULL-safe. */
void hm_post_form_free(hm_post_form *f);

/* Feed len more bytes of the body.  Calls sink as the file part starts and
 * streams.  Returns 0; HM_EPROTO for a body that is not well-formed
 * multipart/form-data (a part without Content-Disposition form-data and a
 * name, a header line without CRLF, a duplicate field name, NUL in a field,
 * bad bytes after a delimiter); HM_ETOOBIG when a bound above is passed;
 * HM_ENOMEM; or the sink's own error.  After an error the parser is dead
 * and every later call returns the same error. */
int hm_post_form_feed(hm_post_form *f, const void *data, size_t len,
                      const hm_post_sink *sink);

/* The body has ended.  Returns 0 if the closing delimiter was seen after a
 * complete file part; HM_ENOENT if the form had no part named "file"
 * (InvalidArgument "POST requires exactly one file upload per request.");
 * HM_EPROTO if the body stopped early; a dead parser's error. */
int hm_post_form_finish(hm_post_form *f);

/* A field's value by name (ASCII case-insensitive, as S3 treats form
 * field names), or NULL.  Valid until the form is freed. */
const char *hm_post_form_get(const hm_post_form *f, const char *name);

/* Fields in the order sent: i < hm_post_form_count(f). */
size_t hm_post_form_count(const hm_post_form *f);
const char *hm_post_form_name(const hm_post_form *f, size_t i);
const char *hm_post_form_value(const hm_post_form *f, size_t i);

/* True once the file part has started (its headers were read). */
bool hm_post_form_file_seen(const hm_post_form *f);

/* ---- the POST policy ------------------------------------------------------------ */

typedef enum hm_post_cond_kind {
    HM_POST_COND_EQ = 0,         /* {"f": "v"} or ["eq", "$f", "v"] */
    HM_POST_COND_STARTS_WITH,    /* ["starts-with", "$f", "prefix"] */
    HM_POST_COND_LENGTH_RANGE,   /* ["content-length-range", min, max] */
} hm_post_cond_kind;

typedef struct hm_post_cond {
    hm_post_cond_kind kind;
    const char *field;           /* without '$', as written (compared
                                  * case-insensitively); NULL for a range */
    const char *value;
    int64_t min;                 /* range: 0 <= min <= max */
    int64_t max;
} hm_post_cond;

typedef struct hm_post_policy {
    int64_t expiration_ms;       /* unix ms */
    hm_post_cond conds[HM_POST_CONDITIONS_MAX];
    size_t cond_count;
    hm_json_doc *doc;            /* owns the strings above */
} hm_post_policy;

/* Decode the base64 policy field (RFC 4648 §4) and parse the document:
 * an object with "expiration" (ISO 8601 "2030-01-01T00:00:00Z", optional
 * fraction) and "conditions" (an array of the forms above, at most
 * HM_POST_CONDITIONS_MAX); unknown top-level members are refused.  Returns
 * 0 (free with hm_post_policy_free); HM_EINVAL for bad base64; HM_EPROTO
 * for a document that is not a policy (*why a static reason); HM_ETOOBIG;
 * HM_ENOMEM. */
int hm_post_policy_parse(const char *b64, hm_post_policy *out, const char **why);
void hm_post_policy_free(hm_post_policy *p);

/* The values the policy is checked against: the form, with "bucket" from
 * the request target and "key" after ${filename} substitution. */
typedef struct hm_post_check_args {
    const hm_post_form *form;
    const char *bucket;
    const char *key;
    int64_t now_ms;
    bool sigv2;                  /* a SigV2 form: AWSAccessKeyId and
                                  * signature need no condition */
} hm_post_check_args;

/* Evaluate the policy (AWS "Creating a POST Policy"): not expired; every
 * eq / starts-with condition holds (a starts-with on Content-Type holds for
 * each comma-separated value); every form field except x-amz-signature,
 * file, policy and x-ignore-* is named by a condition.  The content length
 * range is only reported: *len_min / *len_max (0 / INT64_MAX without one;
 * with several, the tightest).  Returns 0; HM_EPERM with msg (cap bytes) set
 * to AWS's "Invalid according to Policy: ..." text. */
int hm_post_policy_check(const hm_post_policy *p, const hm_post_check_args *a,
                         int64_t *len_min, int64_t *len_max, char *msg, size_t cap);

/* ---- credential and signature ------------------------------------------------------ */

typedef struct hm_post_credential {
    char access_key_id[HM_SIGV4_ACCESS_KEY_BYTES_MAX + 1];
    char date[HM_SIGV4_DATE_BYTES + 1];
    char region[HM_SIGV4_REGION_BYTES_MAX + 1];
} hm_post_credential;

/* Parse x-amz-credential "AK/20130524/us-east-1/s3/aws4_request": five
 * parts, an 8-digit date, service "s3", the aws4_request terminator.
 * Returns 0 or HM_EINVAL. */
int hm_post_credential_parse(const char *s, hm_post_credential *out);

/* Check x-amz-signature: hex HMAC-SHA256(signing key(secret, cred date,
 * cred region, "s3"), policy_b64), compared in constant time.  Returns 0,
 * HM_EPERM on a mismatch (or a signature that is not 64 hex), HM_EINVAL,
 * HM_EINTERNAL. */
int hm_post_signature_check(const char *secret, const hm_post_credential *cred,
                            const char *policy_b64, const char *signature);

/* Check a SigV2 form's signature field: Base64(HMAC-SHA1(secret,
 * policy_b64)) ("Browser-based uploads using POST (AWS signature version
 * 2)"), compared in constant time.  Returns 0, HM_EPERM on a mismatch (or a
 * signature that is not 28 base64 characters), HM_EINVAL, HM_EINTERNAL. */
int hm_post_signature_check_v2(const char *secret, const char *policy_b64,
                               const char *signature);

/* Replace every "${filename}" in key with filename into a new string (free
 * it).  HM_ETOOBIG past HM_KEY_BYTES_MAX, HM_ENOMEM. */
int hm_post_key_substitute(const char *key, const char *filename, char **out);

#endif
