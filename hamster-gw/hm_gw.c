/* hm_gw.c - the S3 gateway: libmicrohttpd daemon, request life cycle,
 * authentication, routing and the background GC (the helpers every
 * handler shares are in hm_gw_req.c).
 *
 * Shaping decision: libmicrohttpd in thread-per-connection mode.  Handlers
 * block on metadata and shard calls, which gives back-pressure and bounded
 * memory without suspend/resume: a connection cap, small thread stacks and
 * a per-connection memory limit (which also bounds the request headers;
 * libmicrohttpd answers an oversized header section itself) keep it bounded.
 * See hm_gw_int.h for a request's life.
 *
 * References: AWS S3 API Reference, "Common Request Headers", "Common
 * Response Headers", "Error Responses", "Authenticating Requests (AWS
 * Signature Version 4)"; RFC 9110/7231 for the HTTP details.
 */
#include "hm_gw_int.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hm_checksum.h"
#include "hm_gw_body.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_listen.h"
#include "hm_log.h"
#include "hm_sigv2.h"

#define GW_CONNECTION_TIMEOUT_S 120u
/* libmicrohttpd carves a connection's header storage and its read buffer
 * out of one pool of this size, so the pool sets how many body bytes one
 * recv() can bring in: at 32 KiB a large PUT arrived ~14 KiB per read.
 * libmicrohttpd 0.9.75 also zeroes the pool between two requests of a
 * kept-alive connection: at 256 KiB that memset was 8-10% of the server's
 * CPU under 4 KiB GETs.  64 KiB (same run, medians of 3): 4 KiB GETs at 32
 * connections 16,598/s against 13,262/s at 256 KiB, 64 MiB PUTs 299 against
 * 314 MiB/s.  It would let libmicrohttpd admit header sections up to its
 * size: the gateway checks the header section against
 * HM_HTTP_HEADERS_BYTES_MAX itself (gw_header_section_bytes). */
#define GW_CONNECTION_MEMORY_BYTES (64u << 10)
_Static_assert(GW_CONNECTION_MEMORY_BYTES >= 4u * HM_HTTP_HEADERS_BYTES_MAX,
               "the connection pool holds a full header section and a read buffer");
#define GW_TLS_FILE_BYTES_MAX (1u << 20)

static char *gw_strdup(const char *s)
{
    if (s == NULL) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) memcpy(d, s, n);
    return d;
}

/* ---- URI ------------------------------------------------------------------------ */

/* Split the raw target into path and query, decode the query parameters,
 * and find the bucket and key (path style, or virtual-hosted style when the
 * Host header is a sub-domain of the configured domain). */
static enum MHD_Result gw_parse_uri(gw_req *r, bool *ok)
{
    *ok = false;
    const char *uri = r->uri;
    if (uri == NULL || uri[0] != '/')
        return gw_send_error(r, HM_S3_INVALID_REQUEST, "The request target must be a path",
                             NULL, 0);
    const char *q = strchr(uri, '?');
    size_t path_len = q != NULL ? (size_t)(q - uri) : strlen(uri);
    if (path_len > HM_SIGV4_PATH_BYTES_MAX ||
        (q != NULL && strlen(q + 1) > HM_SIGV4_QUERY_BYTES_MAX))
        return gw_send_error(r, HM_S3_INVALID_REQUEST, "The request URI is too long", NULL,
                             0);
    r->path = strndup(uri, path_len);
    if (r->path == NULL) return gw_send_hm_error(r, HM_ENOMEM);
    if (q != NULL) {
        r->query = gw_strdup(q + 1);
        if (r->query == NULL) return gw_send_hm_error(r, HM_ENOMEM);
        const char *s = r->query;
        while (*s != '\0') {
            const char *amp = strchr(s, '&');
            size_t n = amp != NULL ? (size_t)(amp - s) : strlen(s);
            if (n > 0) {
                if (r->param_count == GW_PARAMS_MAX)
                    return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                                         "Too many query parameters", NULL, 0);
                const char *eq = memchr(s, '=', n);
                size_t nl = eq != NULL ? (size_t)(eq - s) : n;
                gw_param *p = &r->params[r->param_count];
                int rc = gw_pct_decode(s, nl, true, &p->name);
                if (rc == 0) {
                    rc = eq != NULL ? gw_pct_decode(eq + 1, n - nl - 1, true, &p->value)
                                    : gw_pct_decode("", 0, true, &p->value);
                    if (rc != 0) {
                        free(p->name);
                        p->name = NULL;
                    }
                }
                if (rc == HM_ENOMEM) return gw_send_hm_error(r, rc);
                if (rc != 0)
                    return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                                         "Malformed query string", NULL, 0);
                r->param_count++;
            }
            if (amp == NULL) break;
            s = amp + 1;
        }
    }

    /* Virtual-hosted style: <bucket>.<domain>[:port]. */
    const char *host = gw_header(r, "Host");
    const char *dom = r->gw->domain;
    const char *path = r->path + 1;
    if (dom != NULL && dom[0] != '\0' && host != NULL) {
        size_t hl = strcspn(host, ":");
        size_t dl = strlen(dom);
        if (hl > dl + 1 && host[hl - dl - 1] == '.' &&
            strncasecmp(host + hl - dl, dom, dl) == 0) {
            r->bucket = strndup(host, hl - dl - 1);
            if (r->bucket == NULL) return gw_send_hm_error(r, HM_ENOMEM);
            r->vhost = true;
            for (char *c = r->bucket; *c != '\0'; c++)
                if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
            if (*path != '\0') {
                int rc = gw_pct_decode(path, strlen(path), false, &r->key);
                if (rc != 0) goto bad_path;
            }
            *ok = true;
            return MHD_YES;
        }
    }
    if (*path != '\0') {
        const char *slash = strchr(path, '/');
        size_t bl = slash != NULL ? (size_t)(slash - path) : strlen(path);
        int rc = gw_pct_decode(path, bl, false, &r->bucket);
        if (rc != 0) goto bad_path;
        if (slash != NULL && slash[1] != '\0') {
            rc = gw_pct_decode(slash + 1, strlen(slash + 1), false, &r->key);
            if (rc != 0) goto bad_path;
        }
    }
    *ok = true;
    return MHD_YES;

bad_path:
    return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Malformed escape in the request path",
                         NULL, 0);
}

/* ---- authentication ------------------------------------------------------------ */

typedef struct gw_hdr_list {
    hm_sigv4_header *h;
    size_t n;
    size_t cap;
} gw_hdr_list;

static enum MHD_Result gw_collect_header(void *cls, enum MHD_ValueKind kind,
                                         const char *key, const char *value)
{
    (void)kind;
    gw_hdr_list *l = cls;
    if (l->n == l->cap) return MHD_NO;
    l->h[l->n].name = key;
    l->h[l->n].value = value != NULL ? value : "";
    l->n++;
    return MHD_YES;
}

/* Authenticate the request (SigV4 header or presigned query).  Answers and
 * sets *ok false on failure. */
static enum MHD_Result gw_authenticate(gw_req *r, bool *ok)
{
    *ok = false;
    int count = MHD_get_connection_values(r->conn, MHD_HEADER_KIND, NULL, NULL);
    if (count < 0) count = 0;
    gw_hdr_list l = {.cap = (size_t)count};
    l.h = calloc(l.cap + 1, sizeof(*l.h));
    if (l.h == NULL) return gw_send_hm_error(r, HM_ENOMEM);
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, gw_collect_header, &l);
    hm_sigv4_request req = {
        .method = r->method,
        .path = r->path,
        .query = r->query,
        .headers = l.h,
        .header_count = l.n,
        .payload_hash = NULL,
    };
    hm_sigv4_verify_config vc = {
        .now_ms = hm_wall_ms(r->gw->cfg.env),
        .skew_ms_max = HM_CLOCK_SKEW_MS_MAX,
        .lookup = gw_key_lookup,
        .lookup_ctx = r,
    };
    /* SigV2 ("AWS AK:sig" or AWSAccessKeyId/Signature in the query) first;
     * everything else is SigV4's to accept or refuse. */
    bool v2 = hm_sigv2_is_v2(&req);
    int rc = v2 ? hm_sigv2_authenticate(&req, r->vhost ? r->bucket : NULL, &vc, &r->auth)
                : hm_sigv4_authenticate(&req, &vc, &r->auth);
    free(l.h);
    if (rc == HM_ENOENT && r->auth.reason == HM_SIGV4_OK) {
        hm_info("gw", r->id, "authentication refused: anonymous request (no signature)");
        return gw_send_error(r, HM_S3_ACCESS_DENIED, NULL, NULL, 0);
    }
    if (rc != 0) {
        const char *msg = NULL;
        hm_s3err s3 = hm_s3err_from_sigv4(r->auth.reason, &msg);
        hm_info("gw", r->id, "authentication refused (%s): %s (%s)", v2 ? "SigV2" : "SigV4",
                hm_sigv4_reason_name(r->auth.reason),
                r->auth.detail != NULL ? r->auth.detail : "");
        return gw_send_error(r, s3, msg, NULL, 0);
    }
    /* aws-chunked bodies go through the object body pipeline (hm_gw_body.h):
     * PutObject and UploadPart, not the small-body sub-resources. */
    if (strncmp(r->auth.payload_hash, "STREAMING-", 10) == 0 &&
        (strcmp(r->method, "PUT") != 0 || r->key == NULL ||
         gw_param_get(r, "tagging") != NULL || gw_param_get(r, "acl") != NULL ||
         gw_param_get(r, "retention") != NULL || gw_param_get(r, "legal-hold") != NULL))
        return gw_send_error(r, HM_S3_NOT_IMPLEMENTED,
                             "aws-chunked bodies (x-amz-content-sha256: STREAMING-*) are "
                             "accepted by PutObject and UploadPart only",
                             NULL, 0);
    *ok = true;
    return MHD_YES;
}

/* ---- routing -------------------------------------------------------------------- */

/* Sub-resources S3 defines that this gateway does not serve yet.  (Bucket
 * tagging is refused in gw_route: ?tagging on an object is served.) */
static const char *const gw_unimplemented_params[] = {
    "accelerate", "acl", "analytics", "encryption",
    "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "logging", "metrics",
    "notification", "object-lock", "ownershipControls", "policy",
    "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore",
    "retention", "select", "torrent", "versioning",
    "versions", "website",
};

static enum MHD_Result gw_route(gw_req *r)
{
    const char *m = r->method;
    bool get = strcmp(m, "GET") == 0, put = strcmp(m, "PUT") == 0;
    bool head = strcmp(m, "HEAD") == 0, del = strcmp(m, "DELETE") == 0;
    bool post = strcmp(m, "POST") == 0, options = strcmp(m, "OPTIONS") == 0;
    if (!get && !put && !head && !del && !post && !options)
        return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
    if (options) return gw_cors_preflight(r);

    enum MHD_Result report;
    if (gw_guard_report(r, &report)) return report;
    for (size_t i = 0; i < sizeof(gw_unimplemented_params) / sizeof(char *); i++) {
        if (gw_param_get(r, gw_unimplemented_params[i]) != NULL) {
            char msg[128];
            snprintf(msg, sizeof(msg), "The '%s' sub-resource is not implemented",
                     gw_unimplemented_params[i]);
            return gw_send_error(r, HM_S3_NOT_IMPLEMENTED, msg, NULL, 0);
        }
    }

    if (r->bucket == NULL) {
        if (get) return gw_list_buckets(r);
        return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
    }
    if (!hm_objsvc_bucket_name_valid(r->bucket)) {
        hm_s3err_extra ex = {"BucketName", r->bucket};
        return gw_send_error(r, HM_S3_INVALID_BUCKET_NAME, NULL, &ex, 1);
    }

    if (r->key == NULL) {
        if (gw_param_get(r, "location") != NULL) {
            if (get) return gw_get_bucket_location(r);
            return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
        }
        if (gw_param_get(r, "cors") != NULL) {
            if (get) return gw_get_bucket_cors(r);
            if (put) return gw_put_bucket_cors_begin(r);
            if (del) return gw_delete_bucket_cors(r);
            return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
        }
        if (gw_param_get(r, "delete") != NULL) {
            if (post) return gw_delete_objects_begin(r);
            return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
        }
        if (gw_param_get(r, "uploads") != NULL) {
            if (get) return gw_list_multipart_uploads(r);
            return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
        }
        if (gw_param_get(r, "tagging") != NULL)
            return gw_send_error(r, HM_S3_NOT_IMPLEMENTED,
                                 "The 'tagging' sub-resource is not implemented for buckets",
                                 NULL, 0);
        if (get) {
            const char *lt = gw_param_get(r, "list-type");
            if (lt != NULL && strcmp(lt, "2") != 0)
                return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Invalid List Type", NULL,
                                     0);
            return gw_list_objects(r, lt != NULL);
        }
        if (put) return gw_create_bucket_begin(r);
        if (head) return gw_head_bucket(r);
        if (del) return gw_delete_bucket(r);
        return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
    }

    size_t klen = strlen(r->key);
    if (klen > HM_KEY_BYTES_MAX) {
        char maxs[16], sizes[24];
        snprintf(maxs, sizeof(maxs), "%u", HM_KEY_BYTES_MAX);
        snprintf(sizes, sizeof(sizes), "%zu", klen);
        hm_s3err_extra ex[2] = {{"Size", sizes}, {"MaxSizeAllowed", maxs}};
        return gw_send_error(r, HM_S3_KEY_TOO_LONG, NULL, ex, 2);
    }
    if (!hm_objsvc_key_valid(r->key, klen))
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Object keys must be valid UTF-8",
                             NULL, 0);
    const char *vid = gw_param_get(r, "versionId");
    if (vid != NULL && strcmp(vid, "null") != 0)
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Invalid version id specified",
                             NULL, 0);
    if (gw_param_get(r, "tagging") != NULL) {
        if (get) return gw_get_object_tagging(r);
        if (put) return gw_put_object_tagging_begin(r);
        if (del) return gw_delete_object_tagging(r);
        return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
    }
    if (gw_param_get(r, "attributes") != NULL) {
        if (get) return gw_get_object_attributes(r);
        return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
    }
    /* multipart (hm_gw_multipart.c) and copy (hm_gw_copy.c) */
    if (gw_param_get(r, "uploads") != NULL) {
        if (post) return gw_create_multipart_upload(r);
        return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
    }
    if (gw_param_get(r, "uploadId") != NULL) {
        if (put && gw_param_get(r, "partNumber") != NULL)
            return gw_header(r, "x-amz-copy-source") != NULL ? gw_upload_part_copy(r)
                                                             : gw_upload_part_begin(r);
        if (post) return gw_complete_multipart_upload_begin(r);
        if (del) return gw_abort_multipart_upload(r);
        if (get) return gw_list_parts(r);
        return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
    }
    if (put && gw_param_get(r, "partNumber") != NULL)
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "partNumber on a PUT needs an uploadId", NULL, 0);
    if (get || head) return gw_get_object(r);
    if (put) {
        if (gw_header(r, "x-amz-copy-source") != NULL) return gw_copy_object(r);
        return gw_put_object_begin(r);
    }
    if (del) return gw_delete_object(r);
    return gw_send_error(r, HM_S3_METHOD_NOT_ALLOWED, NULL, NULL, 0);
}

/* ---- libmicrohttpd callbacks ------------------------------------------------------ */

static void gw_new_request_id(hm_gw *gw, char out[GW_REQ_ID_BYTES + 1])
{
    static const char digits[] = "0123456789ABCDEF";
    uint8_t b[GW_REQ_ID_BYTES / 2];
    hm_random(gw->cfg.env, b, sizeof(b));
    for (size_t i = 0; i < sizeof(b); i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[GW_REQ_ID_BYTES] = '\0';
}

/* First sight of a request: the raw target, before libmicrohttpd unescapes
 * it in place.  The context becomes the request's *con_cls. */
static void *gw_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    hm_gw *gw = cls;
    gw_req *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->gw = gw;
    r->conn = conn;
    r->start_mono_ns = gw->cfg.env->ops->mono_ns(gw->cfg.env);
    r->start_mono_ms = r->start_mono_ns / 1000000;
    gw_new_request_id(gw, r->id);
    r->uri = gw_strdup(uri);
    return r;
}

static void gw_req_free(gw_req *r)
{
    for (size_t i = 0; i < r->param_count; i++) {
        free(r->params[i].name);
        free(r->params[i].value);
    }
    gw_body_free(r->pipe);
    EVP_MD_CTX_free(r->body_sha);
    gw_post_free(r->post);
    gw_key_release(r);
    free(r->body);
    free(r->uri);
    free(r->path);
    free(r->query);
    free(r->bucket);
    free(r->key);
    free(r);
}

static void gw_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    gw_req *r = *con_cls;
    if (r == NULL) return;
    *con_cls = NULL;
    if (r->put != NULL) {
        hm_objsvc_put_abort(r->put);
        r->put = NULL;
        hm_info("gw", r->id, "upload cut short (termination %d): nothing stored", (int)toe);
    }
    gw_stats_request(r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    if (r->responded && r->status == MHD_HTTP_INSUFFICIENT_STORAGE) {
        /* Refused for space: let the GC look at the disks now. */
        hm_gw *gw = r->gw;
        pthread_mutex_lock(&gw->gc_lock);
        gw->gc_kick = true;
        pthread_cond_signal(&gw->gc_cond);
        pthread_mutex_unlock(&gw->gc_lock);
    }
    gw_req_free(r);
}

/* Body bytes of an operation that does not stream into the object service:
 * bounded, hashed when the payload was signed. */
static void gw_small_body(gw_req *r, const char *data, size_t len)
{
    if (r->body_failed) return;
    if (len > HM_HTTP_XML_BODY_BYTES_MAX - r->body_len) {
        r->body_failed = true;
        r->body_err = HM_S3_INVALID_REQUEST;
        r->body_msg = "The request body is too large";
        return;
    }
    if (len > r->body_cap - r->body_len) {
        size_t cap = r->body_cap > 0 ? r->body_cap : 4096;
        while (cap - r->body_len < len) cap *= 2;
        if (cap > HM_HTTP_XML_BODY_BYTES_MAX) cap = HM_HTTP_XML_BODY_BYTES_MAX;
        char *nb = realloc(r->body, cap);
        if (nb == NULL) {
            r->body_failed = true;
            r->body_err = HM_S3_SERVICE_UNAVAILABLE;
            return;
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    if (r->body_sha != NULL) EVP_DigestUpdate(r->body_sha, data, len);
}

/* No body: neither Transfer-Encoding nor a Content-Length other than 0. */
static bool gw_bodiless(struct MHD_Connection *conn)
{
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding") != NULL)
        return false;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    return cl == NULL || strcmp(cl, "0") == 0;
}

/* A request's headers are in: parse, authenticate, route. */
static enum MHD_Result gw_begin(gw_req *r)
{
    bool ok = false;
    enum MHD_Result ret = gw_parse_uri(r, &ok);
    if (!ok) return ret;
    ret = gw_health_maybe(r, &ok);
    if (ok) return ret;
    /* A browser form upload is authenticated by its signed policy, in
     * the body (hm_gw_post.c). */
    if (gw_post_object_is(r)) return gw_post_object_begin(r);
    /* A CORS preflight carries no credentials (Fetch standard, CORS
     * protocol): it is answered from the bucket's rules alone. */
    if (strcmp(r->method, "OPTIONS") != 0) {
        ret = gw_authenticate(r, &ok);
        if (!ok) return ret;
        ret = gw_authorize(r, &ok);
        if (!ok) return ret;
    }
    return gw_route(r);
}

typedef struct {
    size_t bytes;
} gw_hdr_sum;

static enum MHD_Result gw_sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    gw_hdr_sum *s = cls;
    /* "name: value\r\n"; saturating, so a count of huge lines cannot wrap. */
    size_t line = strlen(key) + (value != NULL ? strlen(value) : 0) + 4u;
    s->bytes = line > SIZE_MAX - s->bytes ? SIZE_MAX : s->bytes + line;
    return MHD_YES;
}

/* Bytes of the request's header section as sent: the request line and
 * every header line (RFC 9112 section 2.1).  libmicrohttpd admits any
 * section that fits the connection pool (GW_CONNECTION_MEMORY_BYTES); S3's
 * own bound is checked against this. */
static size_t gw_header_section_bytes(struct MHD_Connection *conn, const char *method,
                                      const char *uri, const char *version)
{
    gw_hdr_sum s = {.bytes = strlen(method) + strlen(uri) + strlen(version) + 4u};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, gw_sum_header, &s);
    return s.bytes;
}

static enum MHD_Result gw_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)cls;
    (void)url; /* the raw URI, kept whole by gw_uri_log, is parsed from r->uri */
    gw_req *r = *con_cls;
    if (r == NULL || r->uri == NULL) {
        /* The context could not be allocated: shed load. */
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (resp == NULL) return MHD_NO;
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, resp);
        MHD_destroy_response(resp);
        if (r != NULL) r->responded = true;
        return ret;
    }
    if (!r->started) {
        r->started = true;
        r->conn = conn;
        r->method = method;
        r->is_head = strcmp(method, "HEAD") == 0;
        /* Refused before anything reads the headers.  Answered in this
         * first call, so libmicrohttpd closes the connection after the
         * answer and drops whatever body follows. */
        if (gw_header_section_bytes(conn, method, r->uri, version) > HM_HTTP_HEADERS_BYTES_MAX)
            return gw_send_error(r, HM_S3_REQUEST_HEADER_TOO_LARGE, NULL, NULL, 0);
        /* libmicrohttpd 0.9.75 closes the connection after a response
         * queued in a request's first call; a bodiless request (every GET,
         * HEAD and most DELETEs) is therefore handled in its final call, so
         * clients keep their connections (and their threads) alive. */
        if (gw_bodiless(conn)) {
            r->deferred = true;
            return MHD_YES;
        }
        return gw_begin(r);
    }
    if (r->deferred) {
        r->deferred = false;
        enum MHD_Result ret = gw_begin(r);
        if (r->responded || ret != MHD_YES) return ret;
        /* No body follows: this is also the request's final call. */
    }
    if (r->responded) {
        r->bytes_in += *upload_data_size;
        *upload_data_size = 0; /* already answered: drop the rest */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        r->bytes_in += *upload_data_size;
        if (r->op == GW_OP_PUT_OBJECT) gw_put_object_body(r, upload_data, *upload_data_size);
        else if (r->op == GW_OP_POST_OBJECT)
            gw_post_object_body(r, upload_data, *upload_data_size);
        else gw_small_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (r->op) {
    case GW_OP_PUT_OBJECT: return gw_put_object_finish(r);
    case GW_OP_CREATE_BUCKET: return gw_create_bucket_finish(r);
    case GW_OP_DELETE_OBJECTS: return gw_delete_objects_finish(r);
    case GW_OP_PUT_OBJECT_TAGGING: return gw_put_object_tagging_finish(r);
    case GW_OP_PUT_BUCKET_CORS: return gw_put_bucket_cors_finish(r);
    case GW_OP_POST_OBJECT: return gw_post_object_finish(r);
    case GW_OP_COMPLETE_MULTIPART: return gw_complete_multipart_upload_finish(r);
    case GW_OP_NONE: break;
    }
    return gw_send_hm_error(r, HM_EINTERNAL);
}

static void gw_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    /* libmicrohttpd 0.9.75 says this even when the logger is the first
     * option; it is noise. */
    if (strstr(buf, "EXTERNAL_LOGGER is not the first option") != NULL) return;
    hm_info("gw", NULL, "http: %s", buf);
}

/* ---- background GC ---------------------------------------------------------------- */

struct timespec gw_deadline_after_ms(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* True when some disk is short of space (below GW_DISK_LOW_FREE_BYTES or
 * GW_DISK_LOW_FREE_PERCENT free). */
static bool gw_disk_short(hm_gw *gw)
{
    bool low = false;
    for (size_t i = 0; i < gw->cfg.shard_count && !low; i++) {
        Hm__ShardInfoResp *info = NULL;
        if (gw->cfg.shards[i]->ops->info(gw->cfg.shards[i], &info) == 0 && info != NULL) {
            uint64_t total = info->bytes_total, free_b = info->bytes_free;
            low = free_b < GW_DISK_LOW_FREE_BYTES ||
                  free_b < total / 100u * GW_DISK_LOW_FREE_PERCENT;
        }
        if (info != NULL) hm__shard_info_resp__free_unpacked(info, NULL);
    }
    return low;
}

/* Every GW_GC_INTERVAL_MS, or at once when a PUT was refused for space.
 * While a disk is short of space the run ignores the read grace: a GET
 * still reading a deleted shard holds it open, so on Linux its bytes stay
 * readable until it closes, and the space comes back when it does. */
static void *gw_gc_main(void *arg)
{
    hm_gw *gw = arg;
    pthread_mutex_lock(&gw->gc_lock);
    while (!gw->gc_stop) {
        struct timespec ts = gw_deadline_after_ms(GW_GC_INTERVAL_MS);
        while (!gw->gc_stop && !gw->gc_kick &&
               pthread_cond_timedwait(&gw->gc_cond, &gw->gc_lock, &ts) != ETIMEDOUT) {
        }
        if (gw->gc_stop) break;
        gw->gc_kick = false;
        pthread_mutex_unlock(&gw->gc_lock);
        size_t n = 0;
        bool urgent = gw_disk_short(gw);
        int rc = urgent ? hm_objsvc_gc_run_urgent(gw->svc, &n) : hm_objsvc_gc_run(gw->svc, &n);
        gw_stats_gc(gw, n, urgent);
        if (rc != 0) hm_warn("gw", NULL, "gc run failed: %s", hm_err_name(rc));
        else if (n > 0)
            hm_info("gw", NULL, "gc: %zu blobs deleted%s", n,
                    urgent ? " at once (a disk is short of space)" : "");
        pthread_mutex_lock(&gw->gc_lock);
    }
    pthread_mutex_unlock(&gw->gc_lock);
    return NULL;
}

/* ---- start / stop ------------------------------------------------------------------ */

/* Stop the background threads (the GC's, and the disk watch's when it
 * runs) and wait for them. */
static void gw_stop_threads(hm_gw *gw)
{
    pthread_mutex_lock(&gw->gc_lock);
    gw->gc_stop = true;
    pthread_cond_signal(&gw->gc_cond);
    pthread_cond_signal(&gw->disks_cond);
    pthread_mutex_unlock(&gw->gc_lock);
    pthread_join(gw->gc_thread, NULL);
    if (gw->disks_started) pthread_join(gw->disks_thread, NULL);
    gw->disks_started = false;
}

static void gw_free(hm_gw *gw)
{
    hm_objsvc_free(gw->svc);
    gw_stats_free(gw);
    free(gw->s3_addr);
    free(gw->domain);
    free(gw->region);
    free(gw->access_key_id);
    free(gw->secret_key);
    OPENSSL_cleanse(gw->seal_key, sizeof gw->seal_key);
    free(gw->tls_cert_pem);
    free(gw->tls_key_pem);
    free(gw);
}

static int gw_read_pem(hm_env *env, const char *path, char **out)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = hm_env_read_file(env, path, GW_TLS_FILE_BYTES_MAX, &buf, &len);
    if (rc != 0) return rc;
    char *s = malloc(len + 1);
    if (s == NULL) {
        free(buf);
        return HM_ENOMEM;
    }
    memcpy(s, buf, len);
    s[len] = '\0';
    free(buf);
    *out = s;
    return 0;
}

static enum MHD_Result gw_notify_connection(void *cls, struct MHD_Connection *conn,
                                            void **socket_context,
                                            enum MHD_ConnectionNotificationCode toe)
{
    (void)conn;
    (void)socket_context;
    gw_stats_connection(cls, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
    return MHD_YES;
}

int hm_gw_start(hm_gw **out, const hm_gw_config *cfg)
{
    /* Sockets handed over are ours from here on, whatever happens. */
    int s3_fd = cfg != NULL && cfg->s3_listen_fd_set ? cfg->s3_listen_fd : -1;
    int metrics_fd = cfg != NULL && cfg->metrics_listen_fd_set ? cfg->metrics_listen_fd : -1;
    char why[256];
    if (cfg == NULL || cfg->s3_addr == NULL || cfg->env == NULL || cfg->meta == NULL ||
        cfg->shards == NULL || cfg->shard_count == 0 || cfg->access_key_id == NULL ||
        cfg->secret_key == NULL || cfg->access_key_id[0] == '\0' ||
        cfg->secret_key[0] == '\0' || strlen(cfg->secret_key) > HM_SIGV4_SECRET_BYTES_MAX ||
        strlen(cfg->access_key_id) > HM_SIGV4_ACCESS_KEY_BYTES_MAX ||
        (cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        if (s3_fd >= 0) close(s3_fd);
        if (metrics_fd >= 0) close(metrics_fd);
        return HM_EINVAL;
    }
    hm_gw *gw = calloc(1, sizeof(*gw));
    if (gw == NULL) {
        if (s3_fd >= 0) close(s3_fd);
        if (metrics_fd >= 0) close(metrics_fd);
        return HM_ENOMEM;
    }
    int rc = HM_ENOMEM;
    gw->cfg = *cfg;
    gw->s3_addr = gw_strdup(cfg->s3_addr);
    gw->domain = gw_strdup(cfg->domain);
    gw->region = gw_strdup(cfg->region != NULL ? cfg->region : "us-east-1");
    gw->access_key_id = gw_strdup(cfg->access_key_id);
    gw->secret_key = gw_strdup(cfg->secret_key);
    if (gw->s3_addr == NULL || gw->region == NULL || gw->access_key_id == NULL ||
        gw->secret_key == NULL || (cfg->domain != NULL && gw->domain == NULL))
        goto err_free;
    rc = hm_keyseal_derive(gw->secret_key, gw->seal_key);
    if (rc != 0) goto err_free;
    rc = HM_ENOMEM;
    gw->cfg.s3_addr = gw->s3_addr;
    gw->cfg.domain = gw->domain;
    gw->cfg.region = gw->region;
    gw->cfg.access_key_id = gw->access_key_id;
    gw->cfg.secret_key = gw->secret_key;
    gw->cfg.tls_cert = NULL;
    gw->cfg.tls_key = NULL;
    gw->cfg.metrics_addr = NULL;
    if (cfg->tls_cert != NULL) {
        rc = gw_read_pem(cfg->env, cfg->tls_cert, &gw->tls_cert_pem);
        if (rc == 0) rc = gw_read_pem(cfg->env, cfg->tls_key, &gw->tls_key_pem);
        if (rc != 0) {
            hm_error("gw", NULL, "cannot read the TLS certificate %s or key %s: %s",
                     cfg->tls_cert, cfg->tls_key, hm_err_msg(rc));
            goto err_free;
        }
    }
    rc = gw_stats_new(gw);
    if (rc != 0) goto err_free;

    hm_objsvc_config oc = {
        .env = cfg->env,
        .meta = gw->meta,
        .shards = gw->shards,
        .shard_count = cfg->shard_count,
        .gc_grace_ms = cfg->gc_grace_ms > 0 ? cfg->gc_grace_ms : HM_GC_GRACE_MS,
        .intent_ttl_ms = HM_INTENT_TTL_MS,
        .mpu_expiry_ms = cfg->mpu_expiry_ms,
    };
    rc = hm_objsvc_new(&gw->svc, &oc);
    if (rc != 0) goto err_free;

    if (s3_fd < 0) {
        rc = hm_listen(cfg->s3_addr, &s3_fd, gw->bound, sizeof gw->bound, why, sizeof why);
        if (rc != 0) {
            hm_error("gw", NULL, "%s", why);
            goto err_free;
        }
    } else {
        hm_listen_bound(s3_fd, gw->bound, sizeof gw->bound);
    }
    if (metrics_fd < 0 && cfg->metrics_addr != NULL && cfg->metrics_addr[0] != '\0') {
        char mb[80];
        rc = hm_listen(cfg->metrics_addr, &metrics_fd, mb, sizeof mb, why, sizeof why);
        if (rc != 0) {
            hm_error("gw", NULL, "metrics: %s", why);
            goto err_free;
        }
    }

    pthread_mutex_init(&gw->gc_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&gw->gc_cond, &ca);
    pthread_cond_init(&gw->disks_cond, &ca);
    pthread_condattr_destroy(&ca);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG;
    if (strchr(gw->bound, '[') != NULL) flags |= MHD_USE_IPv6;
    if (gw->tls_cert_pem != NULL) flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, gw->tls_key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, gw->tls_cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};
    gw->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, gw_access, gw,
        MHD_OPTION_EXTERNAL_LOGGER, gw_mhd_log, gw, /* first, to catch every message */
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s3_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HM_HTTP_CONNECTIONS_MAX,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)HM_HTTP_THREAD_STACK_BYTES,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GW_CONNECTION_MEMORY_BYTES,
        MHD_OPTION_CONNECTION_TIMEOUT, GW_CONNECTION_TIMEOUT_S,
        MHD_OPTION_URI_LOG_CALLBACK, gw_uri_log, gw,
        MHD_OPTION_NOTIFY_COMPLETED, gw_completed, gw,
        MHD_OPTION_NOTIFY_CONNECTION, gw_notify_connection, gw,
        MHD_OPTION_ARRAY, gw->tls_cert_pem != NULL ? tls_opts : no_opts,
        MHD_OPTION_END);
    if (gw->mhd == NULL) {
        hm_error("gw", NULL, "cannot serve S3 on %s (the HTTP server did not start%s)",
                 gw->bound, gw->tls_cert_pem != NULL ? "; check the TLS certificate and key" : "");
        close(s3_fd);
        s3_fd = -1;
        rc = HM_EIO;
        goto err_sync;
    }
    s3_fd = -1; /* libmicrohttpd closes it at stop */
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(gw->mhd, MHD_DAEMON_INFO_BIND_PORT);
    gw->port = di != NULL ? (int)di->port : 0;

    if (metrics_fd >= 0) {
        rc = hm_metrics_server_start(&gw->metrics, metrics_fd, "gw", gw_metrics_render,
                                     gw_metrics_ready, gw);
        metrics_fd = -1; /* taken over, closed on failure too */
        if (rc != 0) goto err_mhd;
    }

    if (pthread_create(&gw->gc_thread, NULL, gw_gc_main, gw) != 0) {
        hm_error("gw", NULL, "cannot start the gc thread");
        rc = HM_ENOMEM;
        goto err_mhd;
    }
    gw->gc_started = true;
    if (gw->cfg.disk_watch_ms >= 0) {
        if (pthread_create(&gw->disks_thread, NULL, gw_disks_main, gw) != 0) {
            hm_error("gw", NULL, "cannot start the disk watch thread");
            gw_stop_threads(gw);
            rc = HM_ENOMEM;
            goto err_mhd;
        }
        gw->disks_started = true;
    }
    *out = gw;
    return 0;

err_mhd:
    hm_metrics_server_stop(gw->metrics);
    MHD_stop_daemon(gw->mhd);
err_sync:
    pthread_cond_destroy(&gw->disks_cond);
    pthread_cond_destroy(&gw->gc_cond);
    pthread_mutex_destroy(&gw->gc_lock);
err_free:
    if (s3_fd >= 0) close(s3_fd);
    if (metrics_fd >= 0) close(metrics_fd);
    gw_free(gw);
    return rc;
}

int hm_gw_bound_port(const hm_gw *gw) { return gw->port; }

const char *hm_gw_bound_address(const hm_gw *gw) { return gw->bound; }

int hm_gw_metrics_port(const hm_gw *gw) { return hm_metrics_server_port(gw->metrics); }

void hm_gw_stop(hm_gw *gw)
{
    if (gw == NULL) return;
    hm_metrics_server_stop(gw->metrics);
    MHD_stop_daemon(gw->mhd);
    if (gw->gc_started) {
        gw_stop_threads(gw);
        pthread_cond_destroy(&gw->disks_cond);
        pthread_cond_destroy(&gw->gc_cond);
        pthread_mutex_destroy(&gw->gc_lock);
    }
    gw_free(gw);
}
