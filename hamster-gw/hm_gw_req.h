/* hm_gw_req.h - the gateway's per-request context (gw_req) and the helpers
 * every request handler shares (hm_gw_req.c): headers, parameters,
 * responses and S3 errors, dates, percent-decoding, small bodies and the
 * x-amz-meta-* collector.  Not a public interface. */
#ifndef HM_GW_REQ_H
#define HM_GW_REQ_H

#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "hm_gw.h"
#include "hm_limits.h"
#include "hm_meta.pb-c.h"
#include "hm_objsvc.h"
#include "hm_s3err.h"
#include "hm_sigv4.h"
#include "hm_xml.h"

#define GW_REQ_ID_BYTES 16            /* hex chars */
#define GW_PARAMS_MAX 64u             /* query parameters kept per request */
/* More x-amz-meta-* pairs than could fit HM_USER_META_BYTES_MAX with
 * one-byte names. */
#define GW_META_PAIRS_MAX (HM_USER_META_BYTES_MAX / 2)

typedef struct gw_param {
    char *name;                 /* decoded */
    char *value;                /* decoded; "" when absent */
} gw_param;

/* The operation a request was routed to. */
enum gw_op {
    GW_OP_NONE = 0,
    GW_OP_PUT_OBJECT,
    GW_OP_CREATE_BUCKET,
    GW_OP_DELETE_OBJECTS,       /* small bodies, collected whole: */
    GW_OP_PUT_OBJECT_TAGGING,
    GW_OP_PUT_BUCKET_CORS,
    GW_OP_POST_OBJECT,          /* browser form upload (hm_gw_post.c) */
    GW_OP_COMPLETE_MULTIPART,   /* CompleteMultipartUpload XML (hm_gw_multipart.c) */
};

typedef struct gw_req {
    hm_gw *gw;
    struct MHD_Connection *conn;
    char id[GW_REQ_ID_BYTES + 1];
    char *uri;                  /* raw request target, as sent */
    char *path;                 /* raw path (owned) */
    char *query;                /* raw query without '?', or NULL (owned) */
    gw_param params[GW_PARAMS_MAX];
    size_t param_count;
    char *bucket;               /* decoded; NULL for the service */
    char *key;                  /* decoded; NULL for a bucket */
    const char *method;
    bool is_head;
    bool started;
    bool deferred;   /* bodiless: handled in the final call (keep-alive) */
    bool responded;
    unsigned status;
    int64_t start_mono_ms;
    int64_t start_mono_ns;
    bool health;                /* a health probe (hm_gw_ops.c) */
    hm_sigv4_verified auth;
    bool vhost;                 /* bucket came from the Host header */
    bool key_root;              /* authenticated as the root key */
    Hm__KeyRecord *key_rec;     /* another key's record, this request only */
    /* body of the routed operation */
    enum gw_op op;
    bool body_failed;           /* answer body_err at the end */
    hm_s3err body_err;
    const char *body_msg;
    uint64_t body_seen;
    EVP_MD_CTX *body_sha;       /* CreateBucket: to check a signed payload */
    uint8_t want_sha[32];
    char *body;                 /* CreateBucket configuration, bounded */
    size_t body_len;
    size_t body_cap;
    hm_objsvc_put *put;
    struct gw_post *post;       /* POST Object: form parser and policy state */
    struct gw_body *pipe;       /* PutObject / UploadPart body (hm_gw_body.h) */
    bool put_if_match;          /* PutObject carried If-Match (404 vs 412) */
    uint64_t bytes_in;          /* request body bytes received */
    uint64_t bytes_out;         /* response body bytes queued */
} gw_req;

/* ---- request helpers (hm_gw_req.c) ------------------------------------------- */

/* A request header's value (case-insensitive name), or NULL. */
const char *gw_header(gw_req *r, const char *name);

/* A query parameter's decoded value ("" when given without '='), or NULL. */
const char *gw_param_get(const gw_req *r, const char *name);

/* Queue resp with status and the common headers (request id, server), then
 * release it.  MHD_NO when libmicrohttpd refused (the connection closes). */
enum MHD_Result gw_send(gw_req *r, unsigned status, struct MHD_Response *resp);

/* Answer an S3 error (XML body except on HEAD).  message NULL: the
 * default; extras as for hm_s3err_render. */
enum MHD_Result gw_send_error(gw_req *r, hm_s3err err, const char *message,
                              const hm_s3err_extra *extra, size_t extra_count);

/* As gw_send_error, with one more response header (hdr_name NULL: none),
 * e.g. Content-Range on a 416. */
enum MHD_Result gw_send_error_hdr(gw_req *r, hm_s3err err, const char *message,
                                  const hm_s3err_extra *extra, size_t extra_count,
                                  const char *hdr_name, const char *hdr_value);

/* Answer the S3 error an HM_E* code maps to, naming the bucket/key. */
enum MHD_Result gw_send_hm_error(gw_req *r, int err);

/* Answer a finished XML writer (frees it); InternalError if it failed. */
enum MHD_Result gw_send_xml(gw_req *r, unsigned status, hm_xml_writer *w);

/* Answer status with an empty body. */
enum MHD_Result gw_send_empty(gw_req *r, unsigned status);

/* RFC 7231 IMF-fixdate and ISO 8601 with milliseconds ("...T..:..:..123Z")
 * of unix ms. */
void gw_http_date(int64_t ms, char out[32]);
void gw_iso_date(int64_t ms, char out[32]);

/* Percent-decode n bytes of s into a new NUL-terminated string (free it);
 * plus_space turns '+' into ' ' (query strings).  HM_EINVAL on a bad
 * escape or a decoded NUL, HM_ENOMEM. */
int gw_pct_decode(const char *s, size_t n, bool plus_space, char **out);

/* Small request bodies (XML configurations, DeleteObjects): collected whole,
 * at most HM_HTTP_XML_BODY_BYTES_MAX.  begin sets r->op and starts hashing
 * when the payload hash was signed; answers only on failure (then
 * r->responded). */
enum MHD_Result gw_small_body_begin(gw_req *r, enum gw_op op);

/* At the end of a small body: answer and set *ok false when it was too
 * large, does not match the signed payload hash (XAmzContentSHA256Mismatch),
 * a Content-MD5 (InvalidDigest / BadDigest) or an x-amz-checksum-<algo>
 * header (InvalidRequest / BadDigest).  require_digest: refuse a body with
 * neither Content-MD5 nor a checksum header (DeleteObjects, as AWS). */
enum MHD_Result gw_small_body_check(gw_req *r, bool require_digest, bool *ok);

/* A request's x-amz-meta-* headers: names lower-cased without the prefix
 * (owned), values borrowed from the request. */
typedef struct gw_user_meta {
    hm_objsvc_kv kv[GW_META_PAIRS_MAX];
    size_t n;
    size_t bytes;               /* names and values together */
    bool too_many;
    bool no_mem;
} gw_user_meta;

/* Collect the request's x-amz-meta-* headers into a new *out (free it with
 * gw_user_meta_free whatever the result; *out NULL only when it could not
 * be allocated).  HM_ENOMEM; HM_ETOOBIG when they exceed
 * HM_USER_META_BYTES_MAX ((*out)->bytes says by how much). */
int gw_user_meta_collect(gw_req *r, gw_user_meta **out);
/* Answer MetadataTooLarge with Size and MaxSizeAllowed. */
enum MHD_Result gw_user_meta_too_large(gw_req *r, const gw_user_meta *m);
void gw_user_meta_free(gw_user_meta *m);

#endif
