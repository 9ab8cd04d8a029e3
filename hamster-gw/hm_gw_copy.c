/* hm_gw_copy.c - CopyObject and UploadPartCopy over HTTP.
 *
 * Shaping decision: the copy itself is hm_objsvc_copy (the source's bytes
 * stream into a new blob); this file reads the request: the copy source
 * ("bucket/key" or "/bucket/key", percent-encoded, "?versionId=null"
 * allowed), the metadata and tagging directives, the
 * x-amz-copy-source-if-* conditions and x-amz-copy-source-range, and
 * answers CopyObjectResult / CopyPartResult.  A request without a body is
 * answered from the first access-handler call.
 *
 * References: AWS S3 API Reference, "CopyObject", "UploadPartCopy".
 */
#include "hm_gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_xml.h"


static const char *const gw_copy_stored_headers[] = {
    "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
    "Expires",
};
#define GW_COPY_STORED_HEADERS_COUNT \
    (sizeof(gw_copy_stored_headers) / sizeof(gw_copy_stored_headers[0]))

/* The parsed copy source. */
typedef struct gw_copy_src {
    char *bucket;
    char *key;
} gw_copy_src;

static void gw_copy_src_free(gw_copy_src *s)
{
    free(s->bucket);
    free(s->key);
}

/* Parse x-amz-copy-source; answers on refusal (*ok false). */
static enum MHD_Result gw_copy_source(gw_req *r, gw_copy_src *src, bool *ok)
{
    *ok = false;
    src->bucket = NULL;
    src->key = NULL;
    const char *h = gw_header(r, "x-amz-copy-source");
    size_t n = h != NULL ? strlen(h) : 0;
    if (n > 3 * (HM_BUCKET_NAME_BYTES_MAX + HM_KEY_BYTES_MAX) + 64)
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Copy Source is too long", NULL, 0);
    /* "?versionId=" ends the path part (a '?' in a key is %3F). */
    const char *q = h != NULL ? memchr(h, '?', n) : NULL;
    if (q != NULL) {
        if (strncmp(q, "?versionId=", 11) != 0)
            return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Invalid copy source version id",
                                 NULL, 0);
        if (strcmp(q + 11, "null") != 0)
            return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Invalid version id specified",
                                 NULL, 0);
        n = (size_t)(q - h);
    }
    char *dec = NULL;
    if (h == NULL || gw_pct_decode(h, n, false, &dec) != 0) {
        free(dec);
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "Copy Source must mention the source bucket and key: "
                             "sourcebucket/sourcekey",
                             NULL, 0);
    }
    const char *p = dec[0] == '/' ? dec + 1 : dec;
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash == p || slash[1] == '\0') {
        free(dec);
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "Copy Source must mention the source bucket and key: "
                             "sourcebucket/sourcekey",
                             NULL, 0);
    }
    src->bucket = strndup(p, (size_t)(slash - p));
    src->key = strdup(slash + 1);
    free(dec);
    if (src->bucket == NULL || src->key == NULL) {
        gw_copy_src_free(src);
        return gw_send_hm_error(r, HM_ENOMEM);
    }
    if (!hm_objsvc_bucket_name_valid(src->bucket)) {
        hm_s3err_extra ex = {"BucketName", src->bucket};
        enum MHD_Result ret = gw_send_error(r, HM_S3_INVALID_BUCKET_NAME, NULL, &ex, 1);
        gw_copy_src_free(src);
        return ret;
    }
    if (!hm_objsvc_key_valid(src->key, strlen(src->key))) {
        gw_copy_src_free(src);
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Invalid copy source object key", NULL,
                             0);
    }
    *ok = true;
    return MHD_YES;
}

/* The x-amz-copy-source-if-* headers; unparsable dates are ignored, as S3
 * ignores an unparsable If-Modified-Since. */
static void gw_copy_cond(gw_req *r, hm_objsvc_copy_cond *c)
{
    memset(c, 0, sizeof(*c));
    c->if_match = gw_header(r, "x-amz-copy-source-if-match");
    c->if_none_match = gw_header(r, "x-amz-copy-source-if-none-match");
    const char *ims = gw_header(r, "x-amz-copy-source-if-modified-since");
    const char *ius = gw_header(r, "x-amz-copy-source-if-unmodified-since");
    c->has_if_modified_since =
        ims != NULL && hm_sigv4_parse_http_date(ims, &c->if_modified_since_ms) == 0;
    c->has_if_unmodified_since =
        ius != NULL && hm_sigv4_parse_http_date(ius, &c->if_unmodified_since_ms) == 0;
}

/* Answer a failed hm_objsvc_copy. */
static enum MHD_Result gw_copy_fail(gw_req *r, const gw_copy_src *src, int rc,
                                    enum hm_objsvc_mpu_fault f, uint64_t src_size)
{
    switch (f) {
    case HM_OBJSVC_COPY_TO_SELF:
        return gw_send_error(r, HM_S3_INVALID_REQUEST,
                             "This copy request is illegal because it is trying to copy an "
                             "object to itself without changing the object's metadata, "
                             "storage class, website redirect location or encryption "
                             "attributes.",
                             NULL, 0);
    case HM_OBJSVC_COPY_PRECOND: {
        hm_s3err_extra ex = {"Condition", "x-amz-copy-source-If-*"};
        return gw_send_error(r, HM_S3_PRECONDITION_FAILED, NULL, &ex, 1);
    }
    case HM_OBJSVC_COPY_RANGE: {
        char msg[96];
        snprintf(msg, sizeof(msg), "Range specified is not valid for source object of size: %llu",
                 (unsigned long long)src_size);
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT, msg, NULL, 0);
    }
    case HM_OBJSVC_COPY_TOO_LARGE:
        return gw_send_error(r, HM_S3_INVALID_REQUEST,
                             "The specified copy source is larger than the maximum allowable "
                             "size for a copy source: 5368709120",
                             NULL, 0);
    default: break;
    }
    if (rc == HM_ENOBUCKET) {
        hm_s3err_extra ex = {"BucketName", src->bucket};
        return gw_send_error(r, HM_S3_NO_SUCH_BUCKET, NULL, &ex, 1);
    }
    if (rc == HM_ENOKEY) {
        hm_s3err_extra ex = {"Key", src->key};
        return gw_send_error(r, HM_S3_NO_SUCH_KEY, NULL, &ex, 1);
    }
    if (rc == HM_ETOOBIG) return gw_send_error(r, HM_S3_METADATA_TOO_LARGE, NULL, NULL, 0);
    if (rc == HM_EINVAL) return gw_send_error(r, HM_S3_INVALID_ARGUMENT, NULL, NULL, 0);
    return gw_send_hm_error(r, rc);
}

static enum MHD_Result gw_copy_answer(gw_req *r, const char *root, const char *etag,
                                      int64_t mtime_ms)
{
    char date[32], quoted[HM_OBJSVC_MPU_ETAG_BYTES + 2];
    gw_iso_date(mtime_ms, date);
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, root);
    hm_xml_elem(&w, "LastModified", date);
    hm_xml_elem(&w, "ETag", quoted);
    hm_xml_close(&w);
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}

/* ---- CopyObject ------------------------------------------------------------------- */

/* A directive header: COPY (default) or REPLACE; *bad otherwise. */
static bool gw_copy_directive(gw_req *r, const char *name, bool *bad)
{
    const char *d = gw_header(r, name);
    *bad = false;
    if (d == NULL || strcmp(d, "COPY") == 0) return false;
    if (strcmp(d, "REPLACE") == 0) return true;
    *bad = true;
    return false;
}

enum MHD_Result gw_copy_object(gw_req *r)
{
    bool guard_ok = false;
    enum MHD_Result guard_ret = gw_guard_headers(r, HM_GUARD_COPY_OBJECT, &guard_ok);
    if (!guard_ok) return guard_ret;
    bool bad = false;
    bool replace_meta = gw_copy_directive(r, "x-amz-metadata-directive", &bad);
    if (bad)
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Unknown metadata directive.", NULL, 0);
    bool replace_tags = gw_copy_directive(r, "x-amz-tagging-directive", &bad);
    if (bad)
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Unknown tagging directive.", NULL, 0);
    gw_copy_src src;
    bool ok = false;
    enum MHD_Result ret = gw_copy_source(r, &src, &ok);
    if (!ok) return ret;
    gw_tags tags = {0};
    gw_user_meta *meta = NULL;
    const char *tagging = gw_header(r, "x-amz-tagging");
    if (replace_tags && tagging != NULL) {
        ret = gw_tags_from_header(r, tagging, &tags, &ok);
        if (!ok) goto out;
    }
    hm_objsvc_kv hdrs[GW_COPY_STORED_HEADERS_COUNT];
    size_t nh = 0;
    if (replace_meta) {
        int mrc = gw_user_meta_collect(r, &meta);
        if (mrc == HM_ETOOBIG) {
            ret = gw_send_error(r, HM_S3_METADATA_TOO_LARGE, NULL, NULL, 0);
            goto out;
        }
        if (mrc != 0) {
            ret = gw_send_hm_error(r, mrc);
            goto out;
        }
        for (size_t i = 0; i < GW_COPY_STORED_HEADERS_COUNT; i++) {
            const char *v = gw_header(r, gw_copy_stored_headers[i]);
            if (v != NULL) hdrs[nh++] = (hm_objsvc_kv){gw_copy_stored_headers[i], v};
        }
    }
    hm_objsvc_copy_cond cond;
    gw_copy_cond(r, &cond);
    hm_objsvc_copy_args a = {
        .src_bucket = src.bucket,
        .src_key = src.key,
        .cond = &cond,
        .replace_meta = replace_meta,
        .replace_tags = replace_tags,
        .dst = {
            .bucket = r->bucket,
            .key = r->key,
            .content_type = gw_header(r, "Content-Type"),
            .user_meta = meta != NULL ? meta->kv : NULL,
            .user_meta_count = meta != NULL ? meta->n : 0,
            .headers = hdrs,
            .header_count = nh,
            .tags = tags.kv,
            .tag_count = tags.n,
        },
    };
    char etag[HM_OBJSVC_MPU_ETAG_BYTES];
    int64_t mtime = 0;
    enum hm_objsvc_mpu_fault f = HM_OBJSVC_MPU_NONE;
    int rc = hm_objsvc_copy(r->gw->svc, r->id, &a, etag, &mtime, &f);
    if (rc != 0) {
        ret = gw_copy_fail(r, &src, rc, f, 0);
        goto out;
    }
    ret = gw_copy_answer(r, "CopyObjectResult", etag, mtime);
out:
    gw_user_meta_free(meta);
    gw_tags_free(&tags);
    gw_copy_src_free(&src);
    return ret;
}

/* ---- UploadPartCopy ---------------------------------------------------------------- */

/* x-amz-copy-source-range: exactly "bytes=first-last", first <= last. */
static bool gw_copy_range(const char *s, uint64_t *first, uint64_t *last)
{
    if (strncmp(s, "bytes=", 6) != 0) return false;
    s += 6;
    uint64_t v[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        if (*s < '0' || *s > '9') return false;
        for (; *s >= '0' && *s <= '9'; s++) {
            unsigned d = (unsigned)(*s - '0');
            if (v[i] > (UINT64_MAX - d) / 10) return false;
            v[i] = v[i] * 10 + d;
        }
        if (i == 0 && *s++ != '-') return false;
    }
    if (*s != '\0' || v[0] > v[1]) return false;
    *first = v[0];
    *last = v[1];
    return true;
}

enum MHD_Result gw_upload_part_copy(gw_req *r)
{
    bool guard_ok = false;
    enum MHD_Result guard_ret = gw_guard_headers(r, HM_GUARD_UPLOAD_PART_COPY, &guard_ok);
    if (!guard_ok) return guard_ret;
    const char *pns = gw_param_get(r, "partNumber");
    uint64_t pn = 0;
    bool num = pns != NULL && *pns != '\0';
    for (const char *c = pns; num && *c != '\0'; c++) {
        num = *c >= '0' && *c <= '9' && pn <= HM_PARTS_MAX;
        pn = pn * 10 + (uint64_t)(*c - '0');
    }
    if (!num || pn < 1 || pn > HM_PARTS_MAX)
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "Part number must be an integer between 1 and 10000, inclusive",
                             NULL, 0);
    hm_objsvc_copy_args a = {
        .upload_id = gw_param_get(r, "uploadId"),
        .part_number = (uint32_t)pn,
        .dst = {.bucket = r->bucket, .key = r->key},
    };
    const char *range = gw_header(r, "x-amz-copy-source-range");
    if (range != NULL) {
        if (!gw_copy_range(range, &a.range_first, &a.range_last))
            return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                                 "The x-amz-copy-source-range value must be of the form "
                                 "bytes=first-last where first and last are the zero-based "
                                 "offsets of the first and last bytes to copy",
                                 NULL, 0);
        a.has_range = true;
    }
    gw_copy_src src;
    bool ok = false;
    enum MHD_Result ret = gw_copy_source(r, &src, &ok);
    if (!ok) return ret;
    hm_objsvc_copy_cond cond;
    gw_copy_cond(r, &cond);
    a.src_bucket = src.bucket;
    a.src_key = src.key;
    a.cond = &cond;
    char etag[HM_OBJSVC_MPU_ETAG_BYTES];
    int64_t mtime = 0;
    enum hm_objsvc_mpu_fault f = HM_OBJSVC_MPU_NONE;
    int rc = hm_objsvc_copy(r->gw->svc, r->id, &a, etag, &mtime, &f);
    if (rc != 0) {
        uint64_t size = 0;
        if (f == HM_OBJSVC_COPY_RANGE) {
            hm_objsvc_get *g = NULL;
            if (hm_objsvc_get_open(r->gw->svc, r->id, src.bucket, src.key, &g) == 0) {
                size = hm_objsvc_get_version(g)->size;
                hm_objsvc_get_close(g);
            }
        }
        ret = gw_copy_fail(r, &src, rc, f, size);
    } else {
        ret = gw_copy_answer(r, "CopyPartResult", etag, mtime);
    }
    gw_copy_src_free(&src);
    return ret;
}
