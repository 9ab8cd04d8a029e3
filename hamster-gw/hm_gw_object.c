/* hm_gw_object.c - the object operations over HTTP: PutObject, GetObject,
 * HeadObject, DeleteObject.
 *
 * Conditional writes (AWS S3 User Guide, "How to prevent object overwrites
 * with conditional writes"): If-None-Match: * and If-Match: <etag> on a
 * PUT travel to the metadata state machine as a WriteCondition and are
 * checked when the version is committed, atomically with it: of concurrent
 * conditional creates of one key exactly one succeeds.  A refused write is
 * 412 PreconditionFailed, except If-Match on a key that does not exist,
 * which S3 answers 404 NoSuchKey: the gateway tells the two apart with a
 * lookup after the refusal (the answer's code only; the write was refused
 * atomically either way).
 *
 * Shaping decision: the PUT body goes from libmicrohttpd's upload callback
 * straight into hm_objsvc_put_write, and the GET body is pulled by
 * libmicrohttpd from hm_objsvc_get_read in GW_GET_BLOCK_BYTES blocks, so a
 * request holds at most a block or two whatever the object's size.
 *
 * References: AWS S3 API Reference, "PutObject", "GetObject", "HeadObject",
 * "DeleteObject"; RFC 9110 §13 (conditional requests) and §14 (ranges).
 */
#include "hm_gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_checksum.h"
#include "hm_err.h"
#include "hm_gw_body.h"
#include "hm_limits.h"
#include "hm_log.h"

/* Headers kept with the object and sent back on GET and HEAD. */
static const char *const gw_stored_headers[] = {
    "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
    "Expires",
};
#define GW_STORED_HEADERS_COUNT (sizeof(gw_stored_headers) / sizeof(gw_stored_headers[0]))

/* ---- PutObject ---------------------------------------------------------------- */

enum MHD_Result gw_put_object_begin(gw_req *r)
{
    bool guard_ok = false;
    enum MHD_Result guard_ret = gw_guard_headers(r, HM_GUARD_PUT_OBJECT, &guard_ok);
    if (!guard_ok) return guard_ret;
    /* framing, lengths and digests: the body pipeline (hm_gw_body.h) */
    hm_s3err berr = HM_S3_INTERNAL_ERROR;
    const char *bmsg = NULL;
    if (gw_body_begin(r, &r->pipe, &berr, &bmsg) != 0)
        return gw_send_error(r, berr, bmsg, NULL, 0);
    uint64_t size = gw_body_size(r->pipe);
    if (size > HM_PUT_BYTES_MAX) {
        char prop[24], maxs[24];
        snprintf(prop, sizeof(prop), "%llu", (unsigned long long)size);
        snprintf(maxs, sizeof(maxs), "%llu", (unsigned long long)HM_PUT_BYTES_MAX);
        hm_s3err_extra ex[2] = {{"ProposedSize", prop}, {"MaxSizeAllowed", maxs}};
        return gw_send_error(r, HM_S3_ENTITY_TOO_LARGE, NULL, ex, 2);
    }

    /* Conditional write: If-None-Match only as "*", If-Match one ETag. */
    const char *inm = gw_header(r, "If-None-Match");
    const char *im = gw_header(r, "If-Match");
    char im_etag[HM_OBJSVC_ETAG_HEX_BYTES + 16];
    if (inm != NULL && strcmp(inm, "*") != 0)
        return gw_send_error(r, HM_S3_NOT_IMPLEMENTED,
                             "If-None-Match on a write supports only '*'", NULL, 0);
    if (im != NULL) {
        while (*im == ' ') im++;
        size_t n = strlen(im);
        while (n > 0 && im[n - 1] == ' ') n--;
        if (n >= 2 && im[0] == '"' && im[n - 1] == '"') {
            im++;
            n -= 2;
        }
        if (n == 0 || n >= sizeof(im_etag) || memchr(im, '"', n) != NULL ||
            memchr(im, ',', n) != NULL || (n == 1 && im[0] == '*'))
            return gw_send_error(r, HM_S3_NOT_IMPLEMENTED,
                                 "If-Match on a write supports exactly one ETag", NULL, 0);
        memcpy(im_etag, im, n);
        im_etag[n] = '\0';
    }

    gw_tags tags = {0};
    const char *tagging = gw_header(r, "x-amz-tagging");
    if (tagging != NULL) {
        bool tags_ok = false;
        enum MHD_Result tret = gw_tags_from_header(r, tagging, &tags, &tags_ok);
        if (!tags_ok) return tret;
    }

    gw_user_meta *meta = NULL;
    int mrc = gw_user_meta_collect(r, &meta);
    enum MHD_Result ret;
    if (mrc == HM_ETOOBIG) {
        ret = gw_user_meta_too_large(r, meta);
        goto out;
    }
    if (mrc != 0) {
        ret = gw_send_hm_error(r, mrc);
        goto out;
    }
    hm_objsvc_kv hdrs[GW_STORED_HEADERS_COUNT];
    size_t nh = 0;
    for (size_t i = 0; i < GW_STORED_HEADERS_COUNT; i++) {
        const char *v = gw_header(r, gw_stored_headers[i]);
        /* aws-chunked is the transfer framing, not the object's encoding */
        if (strcmp(gw_stored_headers[i], "Content-Encoding") == 0)
            v = gw_body_content_encoding(r->pipe);
        if (v != NULL) hdrs[nh++] = (hm_objsvc_kv){gw_stored_headers[i], v};
    }
    hm_objsvc_put_args args = {
        .bucket = r->bucket,
        .key = r->key,
        .size = size,
        .content_type = gw_header(r, "Content-Type"),
        .user_meta = meta->kv,
        .user_meta_count = meta->n,
        .headers = hdrs,
        .header_count = nh,
        .content_md5 = gw_body_content_md5(r->pipe),
        .sha256 = gw_body_sha256(r->pipe),
        .tags = tags.kv,
        .tag_count = tags.n,
        .if_none_match_any = inm != NULL,
        .if_match_etag = im != NULL ? im_etag : NULL,
    };
    int rc = hm_objsvc_put_begin(r->gw->svc, r->id, &args, &r->put);
    if (rc == HM_ETOOBIG) {
        ret = gw_send_error(r, HM_S3_METADATA_TOO_LARGE, NULL, NULL, 0);
        goto out;
    }
    if (rc == HM_EINVAL) {
        ret = gw_send_error(r, HM_S3_INVALID_ARGUMENT, NULL, NULL, 0);
        goto out;
    }
    if (rc != 0) {
        ret = gw_send_hm_error(r, rc);
        goto out;
    }
    r->op = GW_OP_PUT_OBJECT;
    r->put_if_match = im != NULL;
    ret = MHD_YES;
out:
    gw_user_meta_free(meta);
    gw_tags_free(&tags);
    return ret;
}

void gw_put_object_body(gw_req *r, const char *data, size_t len)
{
    if (r->body_failed || r->put == NULL) return;
    r->body_seen += len;
    int rc = gw_body_feed(r->pipe, data, len, gw_body_sink_put, r->put);
    if (rc == 0) return;
    r->body_failed = true;
    r->body_err = gw_body_error(r->pipe, &r->body_msg);
    if (r->body_err == HM_S3_SERVICE_UNAVAILABLE || r->body_err == HM_S3_INTERNAL_ERROR)
        hm_warn("gw", r->id, "put of %s/%s failed mid-body: %s", r->bucket, r->key,
                hm_err_name(rc));
}

enum MHD_Result gw_put_object_finish(gw_req *r)
{
    hm_objsvc_put *p = r->put;
    r->put = NULL;
    if (r->body_failed) {
        hm_objsvc_put_abort(p);
        return gw_send_error(r, r->body_err, r->body_msg, NULL, 0);
    }
    /* every body check passes before anything is committed */
    hm_cksum_value ck;
    bool has_ck = false;
    if (gw_body_finish(r->pipe, &ck, &has_ck) != 0) {
        hm_objsvc_put_abort(p);
        const char *msg = NULL;
        hm_s3err e = gw_body_error(r->pipe, &msg);
        return gw_send_error(r, e, msg, NULL, 0);
    }
    if (has_ck &&
        hm_objsvc_put_set_checksum(p, hm_cksum_name(ck.algo), ck.raw, ck.len, false) != 0) {
        hm_objsvc_put_abort(p);
        return gw_send_hm_error(r, HM_EINTERNAL);
    }
    char etag[HM_OBJSVC_ETAG_HEX_BYTES + 1];
    enum hm_objsvc_fault fault = HM_OBJSVC_FAULT_NONE;
    int rc = hm_objsvc_put_finish(p, etag, &fault);
    switch (fault) {
    case HM_OBJSVC_FAULT_BAD_DIGEST:
        return gw_send_error(r, HM_S3_BAD_DIGEST, NULL, NULL, 0);
    case HM_OBJSVC_FAULT_SHA256_MISMATCH:
        return gw_send_error(r, HM_S3_CONTENT_SHA256_MISMATCH, NULL, NULL, 0);
    case HM_OBJSVC_FAULT_INCOMPLETE_BODY:
        return gw_send_error(r, HM_S3_INCOMPLETE_BODY, NULL, NULL, 0);
    case HM_OBJSVC_FAULT_NONE: break;
    }
    if (rc == HM_EPRECOND && r->put_if_match) {
        hm_objsvc_get *g = NULL;
        int grc = hm_objsvc_get_open(r->gw->svc, r->id, r->bucket, r->key, &g);
        if (grc == 0) hm_objsvc_get_close(g);
        if (grc == HM_ENOKEY) return gw_send_hm_error(r, grc);
    }
    if (rc != 0) return gw_send_hm_error(r, rc);
    char quoted[HM_OBJSVC_ETAG_HEX_BYTES + 3];
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) return MHD_NO;
    MHD_add_response_header(resp, "ETag", quoted);
    char ck_text[HM_CKSUM_TEXT_BYTES_MAX];
    if (has_ck && hm_cksum_render(&ck, ck_text) == 0) {
        MHD_add_response_header(resp, hm_cksum_header(ck.algo), ck_text);
        MHD_add_response_header(resp, "x-amz-checksum-type", "FULL_OBJECT");
    }
    return gw_send(r, MHD_HTTP_OK, resp);
}

/* ---- GetObject / HeadObject -------------------------------------------------- */

typedef struct gw_get_ctx {
    hm_objsvc_get *g;
    uint64_t sent;
    uint64_t *bytes_out;        /* the request's counter: read only until it completes */
    char id[GW_REQ_ID_BYTES + 1];
} gw_get_ctx;

static ssize_t gw_get_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    gw_get_ctx *c = cls;
    if (pos != c->sent) return MHD_CONTENT_READER_END_WITH_ERROR; /* never rewinds */
    size_t got = 0;
    int rc = hm_objsvc_get_read(c->g, buf, max, &got);
    if (rc != 0) {
        hm_error("gw", c->id, "object read failed after %llu bytes: %s; cutting the response",
                 (unsigned long long)c->sent, hm_err_name(rc));
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (got == 0) return MHD_CONTENT_READER_END_OF_STREAM;
    c->sent += got;
    *c->bytes_out += got;
    return (ssize_t)got;
}

static void gw_get_free(void *cls)
{
    gw_get_ctx *c = cls;
    hm_objsvc_get_close(c->g);
    free(c);
}

/* Compare an If-Match / If-None-Match list with the object's ETag
 * (RFC 9110 §13.1.1: weak comparison is fine for GET; "*" matches all). */
static bool gw_etag_matches(const char *list, const char *etag)
{
    const char *s = list;
    size_t el = strlen(etag);
    while (*s != '\0') {
        while (*s == ' ' || *s == ',' || *s == '\t') s++;
        if (*s == '\0') break;
        if (*s == '*') return true;
        if (strncmp(s, "W/", 2) == 0) s += 2;
        const char *t = s;
        if (*t == '"') t++;
        if (strncmp(t, etag, el) == 0 && (t[el] == '"' || t[el] == ',' || t[el] == '\0' ||
                                           t[el] == ' '))
            return true;
        while (*s != '\0' && *s != ',') s++;
    }
    return false;
}

/* RFC 9110 §13.2.2 order.  Returns 0 to go on, else the status to answer
 * (304 or 412). */
static unsigned gw_conditions(gw_req *r, const Hm__ObjectVersion *v)
{
    const char *etag = v->etag != NULL ? v->etag : "";
    int64_t mtime_s = v->mtime_ms / 1000;
    int64_t t = 0;
    const char *im = gw_header(r, "If-Match");
    const char *ius = gw_header(r, "If-Unmodified-Since");
    const char *inm = gw_header(r, "If-None-Match");
    const char *ims = gw_header(r, "If-Modified-Since");
    if (im != NULL) {
        if (!gw_etag_matches(im, etag)) return MHD_HTTP_PRECONDITION_FAILED;
    } else if (ius != NULL && hm_sigv4_parse_http_date(ius, &t) == 0 && mtime_s > t / 1000) {
        return MHD_HTTP_PRECONDITION_FAILED;
    }
    if (inm != NULL) {
        if (gw_etag_matches(inm, etag)) return MHD_HTTP_NOT_MODIFIED;
    } else if (ims != NULL && hm_sigv4_parse_http_date(ims, &t) == 0 && mtime_s <= t / 1000) {
        return MHD_HTTP_NOT_MODIFIED;
    }
    return 0;
}

/* ETag, Last-Modified and the stored headers, shared by 200/206/304. */
static void gw_object_headers(gw_req *r, struct MHD_Response *resp,
                              const Hm__ObjectVersion *v, bool full)
{
    char quoted[HM_OBJSVC_ETAG_HEX_BYTES + 48];
    snprintf(quoted, sizeof(quoted), "\"%s\"", v->etag != NULL ? v->etag : "");
    MHD_add_response_header(resp, "ETag", quoted);
    char date[32];
    gw_http_date(v->mtime_ms, date);
    MHD_add_response_header(resp, "Last-Modified", date);
    if (!full) return;
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (v->n_tags > 0) {
        char count[24];
        snprintf(count, sizeof(count), "%zu", v->n_tags);
        MHD_add_response_header(resp, "x-amz-tagging-count", count);
    }
    const char *ct = v->content_type != NULL && v->content_type[0] != '\0'
                         ? v->content_type : "binary/octet-stream";
    const char *override = gw_param_get(r, "response-content-type");
    MHD_add_response_header(resp, "Content-Type", override != NULL ? override : ct);
    for (size_t i = 0; i < v->n_user_meta; i++) {
        const Hm__KeyValue *kv = v->user_meta[i];
        if (kv->key == NULL || kv->value == NULL) continue;
        char name[HM_USER_META_BYTES_MAX + sizeof("x-amz-meta-")];
        snprintf(name, sizeof(name), "x-amz-meta-%s", kv->key);
        MHD_add_response_header(resp, name, kv->value);
    }
    static const struct { const char *header, *param; } overrides[] = {
        {"Cache-Control", "response-cache-control"},
        {"Content-Disposition", "response-content-disposition"},
        {"Content-Encoding", "response-content-encoding"},
        {"Content-Language", "response-content-language"},
        {"Expires", "response-expires"},
    };
    for (size_t i = 0; i < sizeof(overrides) / sizeof(overrides[0]); i++) {
        const char *val = gw_param_get(r, overrides[i].param);
        for (size_t k = 0; val == NULL && k < v->n_headers; k++) {
            const Hm__KeyValue *kv = v->headers[k];
            if (kv->key != NULL && kv->value != NULL &&
                strcasecmp(kv->key, overrides[i].header) == 0)
                val = kv->value;
        }
        if (val != NULL) MHD_add_response_header(resp, overrides[i].header, val);
    }
}

enum MHD_Result gw_get_object(gw_req *r)
{
    bool guard_ok = false;
    enum MHD_Result guard_ret = gw_guard_headers(r, HM_GUARD_GET_OBJECT, &guard_ok);
    if (!guard_ok) return guard_ret;
    hm_objsvc_get *g = NULL;
    int rc = hm_objsvc_get_open(r->gw->svc, r->id, r->bucket, r->key, &g);
    if (rc != 0) return gw_send_hm_error(r, rc);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    enum MHD_Result ret;

    unsigned cond = gw_conditions(r, v);
    if (cond == MHD_HTTP_PRECONDITION_FAILED) {
        hm_objsvc_get_close(g);
        return gw_send_error(r, HM_S3_PRECONDITION_FAILED, NULL, NULL, 0);
    }
    if (cond == MHD_HTTP_NOT_MODIFIED) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (resp != NULL) gw_object_headers(r, resp, v, false);
        hm_objsvc_get_close(g);
        return gw_send(r, MHD_HTTP_NOT_MODIFIED, resp);
    }

    uint64_t off = 0, len = v->size;
    unsigned status = MHD_HTTP_OK;
    const char *range = gw_header(r, "Range");
    hm_objsvc_range rg;
    /* ?partNumber=N (AWS "GetObject", "HeadObject"): part N of a multipart
     * object as a 206; a simple object is one part. */
    const char *pns = gw_param_get(r, "partNumber");
    bool mp_part = false;
    if (pns != NULL) {
        uint32_t pn = 0;
        bool num = *pns != '\0';
        for (const char *c = pns; num && *c != '\0'; c++) {
            num = *c >= '0' && *c <= '9' && pn <= HM_PARTS_MAX;
            pn = pn * 10 + (uint32_t)(*c - '0');
        }
        if (!num || pn < 1 || pn > HM_PARTS_MAX) {
            hm_objsvc_get_close(g);
            hm_s3err_extra ex[2] = {{"ArgumentName", "partNumber"}, {"ArgumentValue", pns}};
            return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                                 "Part number must be an integer between 1 and 10000, inclusive",
                                 ex, 2);
        }
        if (range != NULL) {
            hm_objsvc_get_close(g);
            return gw_send_error(r, HM_S3_INVALID_REQUEST,
                                 "Cannot specify both Range header and partNumber query "
                                 "parameter",
                                 NULL, 0);
        }
        if (hm_objsvc_part_span(v, pn, &off, &len) != 0) {
            char counts[24];
            snprintf(counts, sizeof(counts), "%zu",
                     v->n_part_sizes > 0 ? v->n_part_sizes : (size_t)1);
            hm_s3err_extra ex[2] = {{"PartNumberRequested", pns}, {"ActualPartCount", counts}};
            hm_objsvc_get_close(g);
            return gw_send_error(r, HM_S3_INVALID_PART_NUMBER, NULL, ex, 2);
        }
        if (v->n_part_sizes > 0) {
            rc = hm_objsvc_get_set_span(g, off, len);
            if (rc != 0) {
                hm_objsvc_get_close(g);
                return gw_send_hm_error(r, rc);
            }
            status = MHD_HTTP_PARTIAL_CONTENT;
            mp_part = true;
        }
    } else if (range != NULL && hm_objsvc_range_parse(range, &rg) == 0) {
        if (hm_objsvc_range_resolve(&rg, v->size, &off, &len) != 0) {
            char sizes[24], cr[40];
            snprintf(sizes, sizeof(sizes), "%llu", (unsigned long long)v->size);
            snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)v->size);
            hm_s3err_extra ex[2] = {{"RangeRequested", range}, {"ActualObjectSize", sizes}};
            hm_objsvc_get_close(g);
            return gw_send_error_hdr(r, HM_S3_INVALID_RANGE, NULL, ex, 2, "Content-Range", cr);
        }
        rc = hm_objsvc_get_set_span(g, off, len);
        if (rc != 0) {
            hm_objsvc_get_close(g);
            return gw_send_hm_error(r, rc);
        }
        status = MHD_HTTP_PARTIAL_CONTENT;
    }

    /* Reach the first shard now: a lost disk or shard is an S3 error with
     * a status, not a 200 whose body stops short.  HEAD reads no body. */
    rc = strcmp(r->method, "HEAD") == 0 ? 0 : hm_objsvc_get_prepare(g);
    if (rc != 0) {
        hm_objsvc_get_close(g);
        return gw_send_hm_error(r, rc);
    }

    gw_get_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        hm_objsvc_get_close(g);
        return gw_send_hm_error(r, HM_ENOMEM);
    }
    c->g = g;
    c->bytes_out = &r->bytes_out;
    memcpy(c->id, r->id, sizeof(c->id));
    size_t block = len < GW_GET_BLOCK_BYTES ? (size_t)(len > 0 ? len : 1) : GW_GET_BLOCK_BYTES;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(len, block, gw_get_reader, c, gw_get_free);
    if (resp == NULL) {
        gw_get_free(c);
        return gw_send_hm_error(r, HM_ENOMEM);
    }
    gw_object_headers(r, resp, v, true);
    if (status == MHD_HTTP_PARTIAL_CONTENT) {
        char cr[80];
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)off,
                 (unsigned long long)(off + len - 1), (unsigned long long)v->size);
        MHD_add_response_header(resp, "Content-Range", cr);
        if (mp_part) {
            char count[24];
            snprintf(count, sizeof(count), "%zu", v->n_part_sizes);
            MHD_add_response_header(resp, "x-amz-mp-parts-count", count);
        }
    } else {
        /* a checksum covers the whole object: not sent with a range */
        gw_checksum_response_headers(r, resp, v);
    }
    ret = gw_send(r, status, resp);
    return ret;
}

/* ---- DeleteObject -------------------------------------------------------------- */

enum MHD_Result gw_delete_object(gw_req *r)
{
    int rc = hm_objsvc_delete(r->gw->svc, r->id, r->bucket, r->key);
    if (rc != 0) return gw_send_hm_error(r, rc);
    return gw_send_empty(r, MHD_HTTP_NO_CONTENT);
}
