/* hm_gw_int.h - what the gateway's files share: the gateway, the per-request
 * context and the response helpers.  Not a public interface.
 *
 * A request's life (libmicrohttpd, thread per connection):
 *   uri log callback   -> gw_req allocated, raw URI kept (SigV4 signs it as
 *                         sent, before libmicrohttpd unescapes it)
 *   access handler #1  -> parse, authenticate, route; most operations answer
 *                         here; PutObject and CreateBucket start a body
 *   access handler #n  -> body pieces (PutObject: straight into the object
 *                         service, never buffered whole)
 *   access handler end -> finish the operation, answer
 *   completed callback -> abort anything unfinished (a client that went
 *                         away mid-body leaves nothing visible), log, free.
 */
#ifndef HM_GW_INT_H
#define HM_GW_INT_H

#include <microhttpd.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hm_gw.h"
#include "hm_gw_guard.h"
#include "hm_keyseal.h"
#include "hm_limits.h"
#include "hm_objsvc.h"
#include "hm_s3err.h"
#include "hm_sigv4.h"

#define GW_REQ_ID_BYTES 16            /* hex chars */
#define GW_PARAMS_MAX 64u             /* query parameters kept per request */
#define GW_GET_BLOCK_BYTES (256u << 10)
#define GW_GC_INTERVAL_MS 5000
/* A disk is short of space below either mark; the GC then collects
 * deleted bytes at once instead of after the read grace. */
#define GW_DISK_LOW_FREE_BYTES (512ull << 20)
#define GW_DISK_LOW_FREE_PERCENT 5u
#define GW_OWNER_NAME "hamster"

struct hm_gw {
    hm_gw_config cfg;           /* strings below are our copies */
    char *s3_addr;
    char *domain;
    char *region;
    char *access_key_id;
    char *secret_key;
    uint8_t seal_key[HM_KEYSEAL_KEY_BYTES]; /* opens stored key secrets */
    char *tls_cert_pem;
    char *tls_key_pem;
    hm_objsvc *svc;
    struct MHD_Daemon *mhd;
    int port;
    char bound[80];             /* the S3 address actually bound, "host:port" */
    struct MHD_Daemon *metrics_mhd; /* -metrics listener, or NULL */
    int metrics_port;
    struct gw_stats *stats;     /* hm_gw_ops.c */
    hm_shard_api **shards;      /* counting wrappers around cfg.shards */
    hm_meta_api *meta;          /* wrapper around cfg.meta that names it in logs */
    /* background GC */
    pthread_t gc_thread;
    bool gc_started;
    bool gc_stop;
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;
    bool gc_kick;               /* a PUT was refused for space: run now */
};

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

/* ---- hm_gw.c: request helpers ----------------------------------------------- */

/* A request header's value (case-insensitive name), or NULL. */
const char *gw_header(gw_req *r, const char *name);

/* A query parameter's decoded value ("" when given without '='), or NULL. */
const char *gw_param_get(const gw_req *r, const char *name);

/* Queue resp with status and the common headers (request id, server), then
 * release it.  MHD_NO when libmicrohttpd refused (the connection closes). */
enum MHD_Result gw_send(gw_req *r, unsigned status, struct MHD_Response *resp);
/* GET /_hamster/stats from loopback (hm_gw_stats.c): sync counters. */
bool gw_stats_is(struct MHD_Connection *conn, const char *url, const char *method);
enum MHD_Result gw_stats_send(gw_req *r);

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

/* Standard base64 (RFC 4648 §4).  decode: HM_EINVAL on bad input or
 * output over cap. */
int gw_base64_decode(const char *in, uint8_t *out, size_t cap, size_t *len);
void gw_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

/* ---- hm_gw_keys.c ----------------------------------------------------------- */

/* hm_sigv4_lookup_fn with ctx = the gw_req: the root key, else the key's
 * record from the metadata (kept in r->key_rec for this request) with its
 * secret unsealed.  HM_ENOENT for an unknown key. */
int gw_key_lookup(void *ctx, const char *access_key_id, char *secret_out, size_t secret_cap);

/* The rights (HM_KEY_RIGHT_* bits, owner expanded) the authenticated key
 * holds on bucket; every right for the root key. */
uint32_t gw_key_rights(const gw_req *r, const char *bucket);

/* After authentication: refuse (AccessDenied, logged with the key, right
 * and bucket) a request whose key lacks the right its operation needs;
 * *ok false then. */
enum MHD_Result gw_authorize(gw_req *r, bool *ok);

/* Free the request's key record (NULL-safe). */
void gw_key_release(gw_req *r);

/* ---- hm_gw_bucket.c ---------------------------------------------------------- */

enum MHD_Result gw_list_buckets(gw_req *r);
/* PUT /bucket: validates here; the answer comes from gw_create_bucket_finish
 * once the (optional) configuration body is in. */
enum MHD_Result gw_create_bucket_begin(gw_req *r);
enum MHD_Result gw_create_bucket_finish(gw_req *r);
enum MHD_Result gw_head_bucket(gw_req *r);
enum MHD_Result gw_delete_bucket(gw_req *r);
enum MHD_Result gw_get_bucket_location(gw_req *r);
enum MHD_Result gw_list_objects(gw_req *r, bool v2);

/* ---- hm_gw_object.c ---------------------------------------------------------- */

enum MHD_Result gw_put_object_begin(gw_req *r);
/* A piece of the body; records a failure for the end instead of answering. */
void gw_put_object_body(gw_req *r, const char *data, size_t len);
enum MHD_Result gw_put_object_finish(gw_req *r);
enum MHD_Result gw_get_object(gw_req *r);
enum MHD_Result gw_delete_object(gw_req *r);

/* ---- hm_gw_attrs.c ----------------------------------------------------------- */

/* GET /bucket/key?attributes (GetObjectAttributes). */
enum MHD_Result gw_get_object_attributes(gw_req *r);

/* GetObject / HeadObject with x-amz-checksum-mode: ENABLED: add the stored
 * x-amz-checksum-<algo> (composite "-N") and x-amz-checksum-type. */
void gw_checksum_response_headers(gw_req *r, struct MHD_Response *resp,
                                  const Hm__ObjectVersion *v);

/* ---- hm_gw_post.c ------------------------------------------------------------ */

/* POST /bucket with a multipart/form-data body and no sub-resource: a
 * browser form upload, authenticated by its signed policy (in the body),
 * not by SigV4 headers, so it is routed before gw_authenticate. */
bool gw_post_object_is(gw_req *r);
/* Answers only on a refusal; the body then streams into gw_post_object_body
 * and gw_post_object_finish answers. */
enum MHD_Result gw_post_object_begin(gw_req *r);
void gw_post_object_body(gw_req *r, const char *data, size_t len);
enum MHD_Result gw_post_object_finish(gw_req *r);
/* Free r->post (NULL-safe); r->put is the caller's. */
void gw_post_free(struct gw_post *post);

/* ---- hm_gw_batch.c ----------------------------------------------------------- */

/* POST /bucket?delete (DeleteObjects). */
enum MHD_Result gw_delete_objects_begin(gw_req *r);
enum MHD_Result gw_delete_objects_finish(gw_req *r);

/* ---- hm_gw_multipart.c ------------------------------------------------------- */

/* POST /bucket/key?uploads */
enum MHD_Result gw_create_multipart_upload(gw_req *r);
/* PUT /bucket/key?partNumber=N&uploadId=X: once begun, the body and the
 * answer are PutObject's (r->op = GW_OP_PUT_OBJECT). */
enum MHD_Result gw_upload_part_begin(gw_req *r);
/* POST /bucket/key?uploadId=X: a small XML body, then _finish answers. */
enum MHD_Result gw_complete_multipart_upload_begin(gw_req *r);
enum MHD_Result gw_complete_multipart_upload_finish(gw_req *r);
/* DELETE /bucket/key?uploadId=X */
enum MHD_Result gw_abort_multipart_upload(gw_req *r);
/* GET /bucket/key?uploadId=X */
enum MHD_Result gw_list_parts(gw_req *r);
/* GET /bucket?uploads */
enum MHD_Result gw_list_multipart_uploads(gw_req *r);

/* ---- hm_gw_copy.c ------------------------------------------------------------- */

/* PUT /bucket/key with x-amz-copy-source (CopyObject). */
enum MHD_Result gw_copy_object(gw_req *r);
/* PUT /bucket/key?partNumber=N&uploadId=X with x-amz-copy-source. */
enum MHD_Result gw_upload_part_copy(gw_req *r);

/* ---- hm_gw_tagging.c ----------------------------------------------------------- */

/* A validated tag set: at most HM_TAGS_MAX pairs, strings owned. */
typedef struct gw_tags {
    hm_objsvc_kv kv[HM_TAGS_MAX];
    size_t n;
} gw_tags;

void gw_tags_free(gw_tags *t);

/* Parse an x-amz-tagging header (URL query form "k1=v1&k2=v2") into t
 * (zeroed by the caller).  On refusal answers (InvalidArgument or
 * InvalidTag) and sets *ok false; gw_tags_free either way. */
enum MHD_Result gw_tags_from_header(gw_req *r, const char *value, gw_tags *t, bool *ok);

enum MHD_Result gw_get_object_tagging(gw_req *r);
enum MHD_Result gw_put_object_tagging_begin(gw_req *r);
enum MHD_Result gw_put_object_tagging_finish(gw_req *r);
enum MHD_Result gw_delete_object_tagging(gw_req *r);

/* ---- hm_gw_cors.c ---------------------------------------------------------------- */

enum MHD_Result gw_get_bucket_cors(gw_req *r);
enum MHD_Result gw_put_bucket_cors_begin(gw_req *r);
enum MHD_Result gw_put_bucket_cors_finish(gw_req *r);
enum MHD_Result gw_delete_bucket_cors(gw_req *r);
/* OPTIONS /bucket[/key]: the unauthenticated browser preflight. */
enum MHD_Result gw_cors_preflight(gw_req *r);
/* A request with an Origin header on a bucket with a CORS rule matching
 * (origin, method): add the Access-Control-* headers to resp.  Costs one
 * metadata query; does nothing without an Origin header. */
void gw_cors_response_headers(gw_req *r, struct MHD_Response *resp);

/* ---- hm_gw_ops.c: operation names, health, metrics, access log ------------- */

/* Set up / free gw->stats and gw->shards (counting wrappers around
 * cfg.shards that note shard read errors and corruptions). */
int gw_stats_new(hm_gw *gw);
void gw_stats_free(hm_gw *gw);

/* The S3 operation name of a request ("PutObject", "ListObjectsV2", ...),
 * from its method, bucket, key and sub-resources. */
const char *gw_op_name(const gw_req *r);

/* Count a finished request and write its access log line.  cut: the
 * connection ended before the response was sent in full. */
void gw_stats_request(gw_req *r, bool cut);

/* New connection (delta 1) or closed one (-1). */
void gw_stats_connection(hm_gw *gw, int delta);

/* A GC run deleted `blobs` blobs; urgent: it ignored the read grace. */
void gw_stats_gc(hm_gw *gw, size_t blobs, bool urgent);

/* A health probe: GET or HEAD of /health/live, /health/ready or the MinIO
 * paths, with no credentials.  Answers it and sets *handled. */
enum MHD_Result gw_health_maybe(gw_req *r, bool *handled);

/* True when every disk answers (the readiness rule). */
bool gw_ready(hm_gw *gw);

/* Readiness with its explanation: ready while at least k disks (k of the
 * erasure-coding profile for the configured disk count) answer, so the
 * node can read; body (cap bytes, optional) gets one line per disk that
 * does not, naming its slot, path, id and reason, and stays empty when
 * every disk answers. */
bool gw_ready_report(hm_gw *gw, char *body, size_t cap, size_t *len);

/* The -metrics listener's request handler (libmicrohttpd access callback). */
enum MHD_Result gw_metrics_access(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls);

/* ---- hm_gw_guard.c --------------------------------------------------------------- */

/* Refuse the request when a header asks for a protection Hamster does not
 * provide (the table in hm_gw_guard.c); op is one HM_GUARD_* bit.  Call it
 * before reading a body byte or creating anything.  Answers and sets *ok
 * false on refusal. */
enum MHD_Result gw_guard_headers(gw_req *r, unsigned op, bool *ok);
/* GET /bucket?encryption or ?object-lock: answer (404 for an existing
 * bucket: no such configuration), set *ret and return true; false for
 * any other request. */
bool gw_guard_report(gw_req *r, enum MHD_Result *ret);

#endif
