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
#include "hm_objsvc.h"
#include "hm_s3err.h"
#include "hm_sigv4.h"

#define GW_REQ_ID_BYTES 16            /* hex chars */
#define GW_PARAMS_MAX 64u             /* query parameters kept per request */
#define GW_GET_BLOCK_BYTES (256u << 10)
#define GW_GC_INTERVAL_MS 5000
#define GW_OWNER_NAME "hamster"

struct hm_gw {
    hm_gw_config cfg;           /* strings below are our copies */
    char *s3_addr;
    char *domain;
    char *region;
    char *access_key_id;
    char *secret_key;
    char *tls_cert_pem;
    char *tls_key_pem;
    hm_objsvc *svc;
    struct MHD_Daemon *mhd;
    int port;
    /* background GC */
    pthread_t gc_thread;
    bool gc_started;
    bool gc_stop;
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;
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
    bool responded;
    unsigned status;
    int64_t start_mono_ms;
    hm_sigv4_verified auth;
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
} gw_req;

/* ---- hm_gw.c: request helpers ----------------------------------------------- */

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

/* Standard base64 (RFC 4648 §4).  decode: HM_EINVAL on bad input or
 * output over cap. */
int gw_base64_decode(const char *in, uint8_t *out, size_t cap, size_t *len);
void gw_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

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

#endif
