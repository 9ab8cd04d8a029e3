/* hm_gw_int.h - what the gateway's files share: the gateway and each
 * handler file's entry points (the per-request context and the helpers
 * every handler uses are in hm_gw_req.h).  Not a public interface.
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
#include <time.h>

#include "hm_base64.h"
#include "hm_gw.h"
#include "hm_gw_req.h"
#include "hm_metrics.h"
#include "hm_gw_guard.h"
#include "hm_keyseal.h"
#include "hm_limits.h"
#include "hm_objsvc.h"
#include "hm_s3err.h"
#include "hm_sigv4.h"

#define GW_GET_BLOCK_BYTES (256u << 10)
#define GW_GC_INTERVAL_MS 5000
#define GW_DISK_WATCH_MS 1000
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
    struct hm_metrics_server *metrics; /* -metrics listener, or NULL */
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
    /* disk watch (hm_gw_disks.c): stopped by gc_stop under gc_lock */
    pthread_t disks_thread;
    bool disks_started;
    pthread_cond_t disks_cond;
};


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

/* CLOCK_MONOTONIC now + ms, for pthread_cond_timedwait on the gateway's
 * background conditions (created on that clock). */
struct timespec gw_deadline_after_ms(int64_t ms);

/* ---- hm_gw_disks.c ------------------------------------------------------------ */

/* The disk watch thread: records each disk's state in the registry when
 * it changes (hm_gw_disks.c says when and why). */
void *gw_disks_main(void *arg);

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

/* "healthy", "missing" or "failed" for what a disk's info answered (0,
 * HM_ENOENT, anything else): hm_shard_api.h. */
const char *gw_disk_state_name(int info_rc);

/* Disk i's id into out: its failed api's, else the last one its info
 * answered ("" when none yet). */
void gw_shard_disk_id(hm_gw *gw, size_t i, char *out, size_t cap);

/* The gateway's families for its -metrics listener (an hm_metrics_render_fn
 * over the hm_gw), and its readiness for the listener's /health/ready. */
int gw_metrics_render(void *arg, hm_metrics_buf *b);
bool gw_metrics_ready(void *arg);

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
