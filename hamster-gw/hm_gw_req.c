/* hm_gw_req.c - what every request handler of the gateway shares: request
 * headers and parameters, percent-decoding, dates, the response helpers
 * (common headers, S3 errors, XML), small bodies and the x-amz-meta-*
 * collector.  The router (hm_gw.c) and each handler file call these; none
 * of them calls back into the router.
 *
 * References: AWS S3 API Reference, "Common Response Headers", "Error
 * Responses"; RFC 9110/7231 (dates), RFC 3986 (percent-encoding).
 */
#include "hm_gw_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hm_checksum.h"
#include "hm_gw_body.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

#define GW_SERVER_NAME "Hamster"

/* ---- small codecs ------------------------------------------------------------ */

static int gw_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int gw_pct_decode(const char *s, size_t n, bool plus_space, char **out)
{
    char *d = malloc(n + 1);
    if (d == NULL) return HM_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3) {
                free(d);
                return HM_EINVAL;
            }
            int hi = gw_hexval(s[i + 1]), lo = gw_hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                free(d);
                return HM_EINVAL;
            }
            c = (char)(hi * 16 + lo);
            if (c == '\0') {
                free(d);
                return HM_EINVAL;
            }
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        d[j++] = c;
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

void gw_http_date(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(out, 32, "%s, %02u %s %04u %02u:%02u:%02u GMT", days[(unsigned)tm.tm_wday % 7u],
             (unsigned)tm.tm_mday % 100u, mons[(unsigned)tm.tm_mon % 12u],
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}

void gw_iso_date(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)((ms % 1000 + 1000) % 1000));
}

/* ---- request helpers ----------------------------------------------------------- */

const char *gw_header(gw_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *gw_param_get(const gw_req *r, const char *name)
{
    for (size_t i = 0; i < r->param_count; i++)
        if (strcmp(r->params[i].name, name) == 0) return r->params[i].value;
    return NULL;
}

enum MHD_Result gw_send(gw_req *r, unsigned status, struct MHD_Response *resp)
{
    if (resp == NULL) return MHD_NO;
    /* A browser's actual request (not the preflight, which answers its own
     * Access-Control-* headers) gets them from the bucket's CORS rules. */
    if (r->bucket != NULL && r->method != NULL && strcmp(r->method, "OPTIONS") != 0)
        gw_cors_response_headers(r, resp);
    MHD_add_response_header(resp, "x-amz-request-id", r->id);
    MHD_add_response_header(resp, "x-amz-id-2", r->id);
    MHD_add_response_header(resp, "Server", GW_SERVER_NAME);
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->responded = true;
    r->status = status;
    return ret;
}

enum MHD_Result gw_send_empty(gw_req *r, unsigned status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    return gw_send(r, status, resp);
}

enum MHD_Result gw_send_error(gw_req *r, hm_s3err err, const char *message,
                              const hm_s3err_extra *extra, size_t extra_count)
{
    return gw_send_error_hdr(r, err, message, extra, extra_count, NULL, NULL);
}

enum MHD_Result gw_send_error_hdr(gw_req *r, hm_s3err err, const char *message,
                                  const hm_s3err_extra *extra, size_t extra_count,
                                  const char *hdr_name, const char *hdr_value)
{
    unsigned status = (unsigned)hm_s3err_status(err);
    hm_info("gw", r->id, "%s %s -> %u %s%s%s", r->method != NULL ? r->method : "?",
            r->path != NULL ? r->path : "?", status, hm_s3err_code(err),
            message != NULL ? ": " : "", message != NULL ? message : "");
    if (r->is_head) {
        struct MHD_Response *empty =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (empty != NULL && hdr_name != NULL)
            MHD_add_response_header(empty, hdr_name, hdr_value);
        return gw_send(r, status, empty);
    }
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_s3err_body body = {
        .err = err,
        .message = message,
        .resource = r->path,
        .request_id = r->id,
        .host_id = r->id,
        .extra = extra,
        .extra_count = extra_count,
    };
    const char *data = NULL;
    size_t len = 0;
    struct MHD_Response *resp = NULL;
    if (hm_s3err_render(&body, &w) == 0 && hm_xml_writer_finish(&w, &data, &len) == 0)
        resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (resp != NULL) r->bytes_out += len;
    hm_xml_writer_free(&w);
    if (resp == NULL) return gw_send_empty(r, status);
    MHD_add_response_header(resp, "Content-Type", "application/xml");
    if (hdr_name != NULL) MHD_add_response_header(resp, hdr_name, hdr_value);
    return gw_send(r, status, resp);
}

enum MHD_Result gw_send_hm_error(gw_req *r, int err)
{
    hm_s3err s3 = hm_s3err_from_hm(err);
    hm_s3err_extra extra[1];
    size_t n = 0;
    if (s3 == HM_S3_NO_SUCH_BUCKET && r->bucket != NULL) {
        extra[n++] = (hm_s3err_extra){"BucketName", r->bucket};
    } else if (s3 == HM_S3_NO_SUCH_KEY && r->key != NULL) {
        extra[n++] = (hm_s3err_extra){"Key", r->key};
    }
    if (s3 == HM_S3_INTERNAL_ERROR || s3 == HM_S3_SERVICE_UNAVAILABLE)
        hm_warn("gw", r->id, "%s %s failed: %s", r->method, r->path, hm_err_name(err));
    return gw_send_error(r, s3, NULL, extra, n);
}

enum MHD_Result gw_send_xml(gw_req *r, unsigned status, hm_xml_writer *w)
{
    const char *data = NULL;
    size_t len = 0;
    int rc = hm_xml_writer_finish(w, &data, &len);
    if (rc != 0) {
        hm_xml_writer_free(w);
        hm_warn("gw", r->id, "response XML failed: %s", hm_err_name(rc));
        return gw_send_hm_error(r, rc == HM_ENOMEM ? HM_ENOMEM : HM_EINTERNAL);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    hm_xml_writer_free(w);
    if (resp == NULL) return gw_send_hm_error(r, HM_ENOMEM);
    r->bytes_out += len;
    MHD_add_response_header(resp, "Content-Type", "application/xml");
    return gw_send(r, status, resp);
}

/* ---- small bodies ------------------------------------------------------------------ */

static bool gw_hex_sha256(const char *s, uint8_t out[32])
{
    if (s == NULL || strlen(s) != 64) return false;
    for (size_t i = 0; i < 32; i++) {
        int hi = gw_hexval(s[2 * i]), lo = gw_hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    return true;
}

enum MHD_Result gw_small_body_begin(gw_req *r, enum gw_op op)
{
    if (gw_hex_sha256(r->auth.payload_hash, r->want_sha)) {
        r->body_sha = EVP_MD_CTX_new();
        if (r->body_sha == NULL || EVP_DigestInit_ex(r->body_sha, EVP_sha256(), NULL) != 1)
            return gw_send_hm_error(r, HM_ENOMEM);
    }
    r->op = op;
    return MHD_YES;
}

enum MHD_Result gw_small_body_check(gw_req *r, bool require_digest, bool *ok)
{
    *ok = false;
    if (r->body_failed) return gw_send_error(r, r->body_err, r->body_msg, NULL, 0);
    const char *body = r->body != NULL ? r->body : "";
    if (r->body_sha != NULL) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        if (EVP_DigestFinal_ex(r->body_sha, md, &mdlen) != 1 || mdlen != 32)
            return gw_send_hm_error(r, HM_EINTERNAL);
        if (memcmp(md, r->want_sha, 32) != 0)
            return gw_send_error(r, HM_S3_CONTENT_SHA256_MISMATCH, NULL, NULL, 0);
    }
    bool digest = false;
    const char *cmd5 = gw_header(r, "Content-MD5");
    if (cmd5 != NULL) {
        uint8_t want[16], md[EVP_MAX_MD_SIZE];
        size_t n = 0;
        unsigned mdlen = 0;
        if (hm_base64_decode(cmd5, want, sizeof(want), &n) != 0 || n != sizeof(want))
            return gw_send_error(r, HM_S3_INVALID_DIGEST, NULL, NULL, 0);
        if (EVP_Digest(body, r->body_len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16)
            return gw_send_hm_error(r, HM_EINTERNAL);
        if (memcmp(md, want, sizeof(want)) != 0)
            return gw_send_error(r, HM_S3_BAD_DIGEST, NULL, NULL, 0);
        digest = true;
    }
    /* Flexible checksums (AWS "Checking object integrity"): any of them,
     * each verified. */
    for (int a = HM_CKSUM_CRC32; a < HM_CKSUM_ALGO_COUNT; a++) {
        hm_cksum_algo algo = (hm_cksum_algo)a;
        const char *v = gw_header(r, hm_cksum_header(algo));
        if (v == NULL) continue;
        char msg[96];
        hm_cksum_value want, got;
        if (hm_cksum_parse(algo, v, strlen(v), &want) != 0) {
            snprintf(msg, sizeof(msg), "Value for %s header is invalid.",
                     hm_cksum_header(algo));
            return gw_send_error(r, HM_S3_INVALID_REQUEST, msg, NULL, 0);
        }
        if (hm_cksum_buf(algo, body, r->body_len, &got) != 0)
            return gw_send_hm_error(r, HM_EINTERNAL);
        if (!hm_cksum_equal(&want, &got)) {
            snprintf(msg, sizeof(msg), "The %s you specified did not match the calculated "
                     "checksum.", hm_cksum_name(algo));
            return gw_send_error(r, HM_S3_BAD_DIGEST, msg, NULL, 0);
        }
        digest = true;
    }
    if (require_digest && !digest)
        return gw_send_error(r, HM_S3_INVALID_REQUEST,
                             "Missing required header for this request: Content-MD5", NULL,
                             0);
    *ok = true;
    return MHD_YES;
}

/* ---- x-amz-meta-* ----------------------------------------------------------------- */

#define GW_META_PREFIX "x-amz-meta-"
#define GW_META_PREFIX_BYTES (sizeof(GW_META_PREFIX) - 1)

static enum MHD_Result gw_collect_meta(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    gw_user_meta *l = cls;
    if (strncasecmp(key, GW_META_PREFIX, GW_META_PREFIX_BYTES) != 0) return MHD_YES;
    const char *name = key + GW_META_PREFIX_BYTES;
    if (value == NULL) value = "";
    l->bytes += strlen(name) + strlen(value);
    if (l->n == GW_META_PAIRS_MAX) {
        l->too_many = true;
        return MHD_NO;
    }
    char *lower = strdup(name);
    if (lower == NULL) {
        l->no_mem = true;
        return MHD_NO;
    }
    for (char *c = lower; *c != '\0'; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    l->kv[l->n].key = lower;
    l->kv[l->n].value = value;
    l->n++;
    return MHD_YES;
}

int gw_user_meta_collect(gw_req *r, gw_user_meta **out)
{
    gw_user_meta *m = calloc(1, sizeof(*m));
    *out = m;
    if (m == NULL) return HM_ENOMEM;
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, gw_collect_meta, m);
    if (m->no_mem) return HM_ENOMEM;
    if (m->too_many || m->bytes > HM_USER_META_BYTES_MAX) return HM_ETOOBIG;
    return 0;
}

enum MHD_Result gw_user_meta_too_large(gw_req *r, const gw_user_meta *m)
{
    char sizes[24], maxs[24];
    snprintf(sizes, sizeof(sizes), "%zu", m->bytes);
    snprintf(maxs, sizeof(maxs), "%u", HM_USER_META_BYTES_MAX);
    hm_s3err_extra ex[2] = {{"Size", sizes}, {"MaxSizeAllowed", maxs}};
    return gw_send_error(r, HM_S3_METADATA_TOO_LARGE, NULL, ex, 2);
}

void gw_user_meta_free(gw_user_meta *m)
{
    if (m == NULL) return;
    for (size_t i = 0; i < m->n; i++) free((char *)m->kv[i].key);
    free(m);
}
