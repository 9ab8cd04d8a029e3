/* hm_gw_multipart.c - multipart uploads over HTTP: CreateMultipartUpload,
 * UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
 * ListMultipartUploads.
 *
 * Shaping decision: UploadPart is a PutObject whose store is a part
 * (hm_objsvc_part_begin): once begun, its body goes through the same body
 * pipeline and the same finish as PutObject (r->op = GW_OP_PUT_OBJECT), so
 * aws-chunked framing, payload signatures and flexible checksums behave
 * identically for both.  CompleteMultipartUpload's XML is a small body,
 * bounded by HM_HTTP_XML_BODY_BYTES_MAX and parsed with hm_xml.h.
 *
 * References: AWS S3 API Reference, "CreateMultipartUpload", "UploadPart",
 * "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
 * "ListMultipartUploads"; S3 User Guide, "Uploading and copying objects
 * using multipart upload".
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
#include "hm_xml.h"


static const char *const gw_mpu_stored_headers[] = {
    "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
    "Expires",
};
#define GW_MPU_STORED_HEADERS_COUNT \
    (sizeof(gw_mpu_stored_headers) / sizeof(gw_mpu_stored_headers[0]))

/* ---- shared helpers ------------------------------------------------------------ */

/* A decimal query parameter in [lo, hi]; *present false when absent.
 * false when present but not such a number. */
static bool gw_mpu_uint_param(const gw_req *r, const char *name, uint32_t lo, uint32_t hi,
                              uint32_t *out, bool *present)
{
    const char *s = gw_param_get(r, name);
    *present = s != NULL;
    if (s == NULL) return true;
    if (*s == '\0') return false;
    uint64_t v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > hi) return false;
    }
    if (v < lo) return false;
    *out = (uint32_t)v;
    return true;
}

/* The part number of an UploadPart / UploadPartCopy; answers on refusal. */
static enum MHD_Result gw_mpu_part_number(gw_req *r, uint32_t *pn, bool *ok)
{
    bool present = false;
    *ok = gw_mpu_uint_param(r, "partNumber", 1, HM_PARTS_MAX, pn, &present) && present;
    if (*ok) return MHD_YES;
    hm_s3err_extra ex[3] = {{"ArgumentName", "partNumber"},
                            {"ArgumentValue", gw_param_get(r, "partNumber")},
                            {"MaxPartNumber", "10000"}};
    return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                         "Part number must be an integer between 1 and 10000, inclusive", ex,
                         3);
}

/* Percent-encode s for encoding-type=url (RFC 3986 unreserved and '/'
 * stay); a new string or NULL on allocation failure. */
static char *gw_mpu_url_encode(const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1);
    if (o == NULL) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            o[j++] = (char)c;
        } else {
            o[j++] = '%';
            o[j++] = digits[c >> 4];
            o[j++] = digits[c & 15];
        }
    }
    o[j] = '\0';
    return o;
}

/* <name>s</name>, percent-encoded when url is set. */
static void gw_mpu_elem_key(hm_xml_writer *w, const char *name, const char *s, bool url)
{
    if (!url) {
        hm_xml_elem(w, name, s);
        return;
    }
    char *e = gw_mpu_url_encode(s != NULL ? s : "");
    if (e == NULL) {
        w->err = HM_ENOMEM; /* sticky: the answer becomes ServiceUnavailable */
        return;
    }
    hm_xml_elem(w, name, e);
    free(e);
}

static void gw_mpu_owner(hm_xml_writer *w, const char *elem)
{
    hm_xml_open(w, elem);
    hm_xml_elem(w, "ID", GW_OWNER_NAME);
    hm_xml_elem(w, "DisplayName", GW_OWNER_NAME);
    hm_xml_close(w);
}

/* ---- CreateMultipartUpload ---------------------------------------------------- */

enum MHD_Result gw_create_multipart_upload(gw_req *r)
{
    bool guard_ok = false;
    enum MHD_Result guard_ret = gw_guard_headers(r, HM_GUARD_CREATE_MPU, &guard_ok);
    if (!guard_ok) return guard_ret;
    gw_tags tags = {0};
    const char *tagging = gw_header(r, "x-amz-tagging");
    bool ok = false;
    if (tagging != NULL) {
        enum MHD_Result tret = gw_tags_from_header(r, tagging, &tags, &ok);
        if (!ok) return tret;
    }
    const char *algo = gw_header(r, "x-amz-checksum-algorithm");
    if (algo != NULL && strcasecmp(algo, "CRC32") != 0 && strcasecmp(algo, "CRC32C") != 0 &&
        strcasecmp(algo, "CRC64NVME") != 0 && strcasecmp(algo, "SHA1") != 0 &&
        strcasecmp(algo, "SHA256") != 0) {
        gw_tags_free(&tags);
        return gw_send_error(r, HM_S3_INVALID_REQUEST,
                             "Checksum algorithm provided is unsupported. Please try again "
                             "with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, "
                             "SHA256]",
                             NULL, 0);
    }
    gw_user_meta *meta = NULL;
    int mrc = gw_user_meta_collect(r, &meta);
    if (mrc != 0) {
        enum MHD_Result ret =
            mrc == HM_ETOOBIG ? gw_user_meta_too_large(r, meta) : gw_send_hm_error(r, mrc);
        gw_user_meta_free(meta);
        gw_tags_free(&tags);
        return ret;
    }
    hm_objsvc_kv hdrs[GW_MPU_STORED_HEADERS_COUNT];
    size_t nh = 0;
    for (size_t i = 0; i < GW_MPU_STORED_HEADERS_COUNT; i++) {
        const char *v = gw_header(r, gw_mpu_stored_headers[i]);
        if (v != NULL) hdrs[nh++] = (hm_objsvc_kv){gw_mpu_stored_headers[i], v};
    }
    hm_objsvc_upload_args a = {
        .bucket = r->bucket,
        .key = r->key,
        .content_type = gw_header(r, "Content-Type"),
        .user_meta = meta->kv,
        .user_meta_count = meta->n,
        .headers = hdrs,
        .header_count = nh,
        .tags = tags.kv,
        .tag_count = tags.n,
        .checksum_algorithm = algo,
    };
    char uid[HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1];
    int rc = hm_objsvc_mpu_create(r->gw->svc, r->id, &a, uid);
    gw_user_meta_free(meta);
    gw_tags_free(&tags);
    if (rc == HM_ETOOBIG) return gw_send_error(r, HM_S3_METADATA_TOO_LARGE, NULL, NULL, 0);
    if (rc == HM_EINVAL) return gw_send_error(r, HM_S3_INVALID_ARGUMENT, NULL, NULL, 0);
    if (rc != 0) return gw_send_hm_error(r, rc);
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "InitiateMultipartUploadResult");
    hm_xml_elem(&w, "Bucket", r->bucket);
    hm_xml_elem(&w, "Key", r->key);
    hm_xml_elem(&w, "UploadId", uid);
    hm_xml_close(&w);
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}

/* ---- UploadPart ------------------------------------------------------------------ */

enum MHD_Result gw_upload_part_begin(gw_req *r)
{
    bool guard_ok = false;
    enum MHD_Result guard_ret = gw_guard_headers(r, HM_GUARD_UPLOAD_PART, &guard_ok);
    if (!guard_ok) return guard_ret;
    uint32_t pn = 0;
    bool ok = false;
    enum MHD_Result ret = gw_mpu_part_number(r, &pn, &ok);
    if (!ok) return ret;
    hm_s3err berr = HM_S3_INTERNAL_ERROR;
    const char *bmsg = NULL;
    if (gw_body_begin(r, &r->pipe, &berr, &bmsg) != 0)
        return gw_send_error(r, berr, bmsg, NULL, 0);
    uint64_t size = gw_body_size(r->pipe);
    if (size > HM_PART_BYTES_MAX) {
        char prop[24], maxs[24];
        snprintf(prop, sizeof(prop), "%llu", (unsigned long long)size);
        snprintf(maxs, sizeof(maxs), "%llu", (unsigned long long)HM_PART_BYTES_MAX);
        hm_s3err_extra ex[2] = {{"ProposedSize", prop}, {"MaxSizeAllowed", maxs}};
        return gw_send_error(r, HM_S3_ENTITY_TOO_LARGE, NULL, ex, 2);
    }
    hm_objsvc_part_args a = {
        .bucket = r->bucket,
        .key = r->key,
        .upload_id = gw_param_get(r, "uploadId"),
        .part_number = pn,
        .size = size,
        .content_md5 = gw_body_content_md5(r->pipe),
        .sha256 = gw_body_sha256(r->pipe),
    };
    int rc = hm_objsvc_part_begin(r->gw->svc, r->id, &a, &r->put);
    if (rc == HM_EINVAL) return gw_send_error(r, HM_S3_INVALID_ARGUMENT, NULL, NULL, 0);
    if (rc != 0) return gw_send_hm_error(r, rc);
    /* From here on the body and the answer are PutObject's. */
    r->op = GW_OP_PUT_OBJECT;
    r->put_if_match = false;
    return MHD_YES;
}

/* ---- CompleteMultipartUpload ----------------------------------------------------- */

enum MHD_Result gw_complete_multipart_upload_begin(gw_req *r)
{
    bool guard_ok = false;
    enum MHD_Result guard_ret = gw_guard_headers(r, HM_GUARD_COMPLETE_MPU, &guard_ok);
    if (!guard_ok) return guard_ret;
    return gw_small_body_begin(r, GW_OP_COMPLETE_MULTIPART);
}

/* An unquoted If-Match value (one ETag), or NULL; *bad when malformed. */
static const char *gw_mpu_if_match(gw_req *r, char *buf, size_t cap, bool *bad)
{
    *bad = false;
    const char *im = gw_header(r, "If-Match");
    if (im == NULL) return NULL;
    while (*im == ' ') im++;
    size_t n = strlen(im);
    while (n > 0 && im[n - 1] == ' ') n--;
    if (n >= 2 && im[0] == '"' && im[n - 1] == '"') {
        im++;
        n -= 2;
    }
    if (n == 0 || n >= cap || memchr(im, '"', n) != NULL || memchr(im, ',', n) != NULL) {
        *bad = true;
        return NULL;
    }
    memcpy(buf, im, n);
    buf[n] = '\0';
    return buf;
}

/* Write the object's URL (the Location of CompleteMultipartUploadResult). */
static void gw_mpu_location(gw_req *r, hm_xml_writer *w)
{
    const char *host = gw_header(r, "Host");
    char *k = gw_mpu_url_encode(r->key);
    char *b = gw_mpu_url_encode(r->bucket);
    if (k == NULL || b == NULL) {
        free(k);
        free(b);
        w->err = HM_ENOMEM;
        return;
    }
    size_t n = strlen(k) + strlen(b) + (host != NULL ? strlen(host) : 0) + 16;
    char *loc = malloc(n);
    if (loc == NULL) {
        w->err = HM_ENOMEM;
    } else {
        snprintf(loc, n, "%s://%s/%s/%s", r->gw->tls_cert_pem != NULL ? "https" : "http",
                 host != NULL ? host : "localhost", b, k);
        hm_xml_elem(w, "Location", loc);
    }
    free(loc);
    free(k);
    free(b);
}

enum MHD_Result gw_complete_multipart_upload_finish(gw_req *r)
{
    bool ok = false;
    enum MHD_Result ret = gw_small_body_check(r, false, &ok);
    if (!ok) return ret;
    const char *inm = gw_header(r, "If-None-Match");
    if (inm != NULL && strcmp(inm, "*") != 0)
        return gw_send_error(r, HM_S3_NOT_IMPLEMENTED,
                             "If-None-Match on a write supports only '*'", NULL, 0);
    char im_buf[HM_OBJSVC_MPU_ETAG_BYTES + 16];
    bool bad = false;
    const char *im = gw_mpu_if_match(r, im_buf, sizeof(im_buf), &bad);
    if (bad)
        return gw_send_error(r, HM_S3_NOT_IMPLEMENTED,
                             "If-Match on a write supports exactly one ETag", NULL, 0);

    hm_xml_doc *doc = NULL;
    if (r->body_len == 0 || hm_xml_parse(r->body, r->body_len, &doc, NULL, NULL) != 0)
        return gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
    const hm_xml_node *root = hm_xml_root(doc);
    hm_objsvc_part_ref *refs = NULL;
    size_t n = 0;
    if (strcmp(root->name, "CompleteMultipartUpload") != 0) {
        ret = gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
        goto out;
    }
    size_t count = hm_xml_child_count_named(root, "Part");
    if (count > HM_PARTS_MAX) {
        ret = gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                            "Part number must be an integer between 1 and 10000, inclusive",
                            NULL, 0);
        goto out;
    }
    refs = calloc(count > 0 ? count : 1, sizeof(*refs));
    if (refs == NULL) {
        ret = gw_send_hm_error(r, HM_ENOMEM);
        goto out;
    }
    for (const hm_xml_node *p = hm_xml_child(root, "Part"); p != NULL;
         p = hm_xml_next_named(p)) {
        const char *pn = hm_xml_child_text(p, "PartNumber", NULL);
        const char *et = hm_xml_child_text(p, "ETag", NULL);
        uint64_t v = 0;
        bool num = pn != NULL && *pn != '\0';
        for (const char *c = pn; num && *c != '\0'; c++) {
            num = *c >= '0' && *c <= '9' && v <= UINT32_MAX;
            v = v * 10 + (uint64_t)(*c - '0');
        }
        if (!num || v > UINT32_MAX) {
            ret = gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
            goto out;
        }
        hm_objsvc_part_ref ref = {(uint32_t)v, et != NULL ? et : "", HM_CKSUM_NONE, NULL};
        for (int ai = HM_CKSUM_NONE + 1; ai < HM_CKSUM_ALGO_COUNT; ai++) {
            const char *ct = hm_cksum_xml_name((hm_cksum_algo)ai);
            const char *cv = ct != NULL ? hm_xml_child_text(p, ct, NULL) : NULL;
            if (cv == NULL) continue;
            if (ref.checksum != NULL) {
                /* AWS takes one checksum per part */
                ret = gw_send_error(r, HM_S3_INVALID_REQUEST,
                                    "Expecting a single checksum per part", NULL, 0);
                goto out;
            }
            ref.checksum_algo = (hm_cksum_algo)ai;
            ref.checksum = cv;
        }
        refs[n++] = ref;
    }
    hm_objsvc_complete_args a = {
        .bucket = r->bucket,
        .key = r->key,
        .upload_id = gw_param_get(r, "uploadId"),
        .parts = refs,
        .part_count = n,
        .if_none_match_any = inm != NULL,
        .if_match_etag = im,
    };
    hm_cksum_value ck;
    a.checksum_out = &ck;
    char etag[HM_OBJSVC_MPU_ETAG_BYTES];
    enum hm_objsvc_mpu_fault f = HM_OBJSVC_MPU_NONE;
    int rc = hm_objsvc_mpu_complete(r->gw->svc, r->id, &a, etag, &f);
    if (rc == HM_EINVAL) {
        switch (f) {
        case HM_OBJSVC_MPU_PART_ORDER:
            ret = gw_send_error(r, HM_S3_INVALID_PART_ORDER, NULL, NULL, 0);
            break;
        case HM_OBJSVC_MPU_TOO_SMALL:
            ret = gw_send_error(r, HM_S3_ENTITY_TOO_SMALL, NULL, NULL, 0);
            break;
        case HM_OBJSVC_MPU_NO_PARTS:
            ret = gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
            break;
        default:
            ret = gw_send_error(r, HM_S3_INVALID_PART, NULL, NULL, 0);
            break;
        }
        goto out;
    }
    if (rc == HM_EPRECOND && im != NULL) {
        /* If-Match on a key that does not exist is 404, as for PutObject */
        hm_objsvc_get *g = NULL;
        int grc = hm_objsvc_get_open(r->gw->svc, r->id, r->bucket, r->key, &g);
        if (grc == 0) hm_objsvc_get_close(g);
        if (grc == HM_ENOKEY) {
            ret = gw_send_hm_error(r, grc);
            goto out;
        }
    }
    if (rc != 0) {
        ret = gw_send_hm_error(r, rc);
        goto out;
    }
    char quoted[HM_OBJSVC_MPU_ETAG_BYTES + 2];
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "CompleteMultipartUploadResult");
    gw_mpu_location(r, &w);
    hm_xml_elem(&w, "Bucket", r->bucket);
    hm_xml_elem(&w, "Key", r->key);
    hm_xml_elem(&w, "ETag", quoted);
    char ck_text[HM_CKSUM_TEXT_BYTES_MAX];
    if (ck.algo != HM_CKSUM_NONE && hm_cksum_render(&ck, ck_text) == 0) {
        hm_xml_elem(&w, hm_cksum_xml_name(ck.algo), ck_text);
        hm_xml_elem(&w, "ChecksumType", ck.composite ? "COMPOSITE" : "FULL_OBJECT");
    }
    hm_xml_close(&w);
    ret = gw_send_xml(r, MHD_HTTP_OK, &w);
out:
    free(refs);
    hm_xml_doc_free(doc);
    return ret;
}

/* ---- AbortMultipartUpload ---------------------------------------------------------- */

enum MHD_Result gw_abort_multipart_upload(gw_req *r)
{
    int rc = hm_objsvc_mpu_abort(r->gw->svc, r->id, r->bucket, r->key,
                                 gw_param_get(r, "uploadId"));
    if (rc != 0) return gw_send_hm_error(r, rc);
    return gw_send_empty(r, MHD_HTTP_NO_CONTENT);
}

/* ---- ListParts ----------------------------------------------------------------------- */

enum MHD_Result gw_list_parts(gw_req *r)
{
    uint32_t max = HM_LIST_PARTS_MAX, marker = 0;
    bool present = false;
    if (!gw_mpu_uint_param(r, "max-parts", 0, UINT32_MAX, &max, &present))
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "Provided max-parts not an integer or within integer range", NULL,
                             0);
    if (max > HM_LIST_PARTS_MAX) max = HM_LIST_PARTS_MAX; /* S3 caps it silently */
    if (!gw_mpu_uint_param(r, "part-number-marker", 0, UINT32_MAX, &marker, &present))
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "Provided part-number-marker not an integer or within integer "
                             "range",
                             NULL, 0);
    const char *uid = gw_param_get(r, "uploadId");
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_mpu_list_parts(r->gw->svc, r->id, r->bucket, r->key, uid, marker, max,
                                      &resp);
    if (rc != 0) return gw_send_hm_error(r, rc);
    const Hm__PartListResult *pl = resp->parts;
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "ListPartsResult");
    hm_xml_elem(&w, "Bucket", r->bucket);
    hm_xml_elem(&w, "Key", r->key);
    hm_xml_elem(&w, "UploadId", uid);
    gw_mpu_owner(&w, "Initiator");
    gw_mpu_owner(&w, "Owner");
    hm_xml_elem(&w, "StorageClass", "STANDARD");
    hm_xml_elem_u64(&w, "PartNumberMarker", marker);
    hm_xml_elem_u64(&w, "NextPartNumberMarker",
                    pl->has_next_part_number_marker ? pl->next_part_number_marker : 0);
    hm_xml_elem_u64(&w, "MaxParts", max);
    hm_xml_elem_bool(&w, "IsTruncated", pl->truncated);
    if (pl->upload != NULL && pl->upload->checksum_algorithm != NULL)
        hm_xml_elem(&w, "ChecksumAlgorithm", pl->upload->checksum_algorithm);
    for (size_t i = 0; i < pl->n_parts; i++) {
        const Hm__PartRecord *p = pl->parts[i];
        char date[32], quoted[HM_OBJSVC_ETAG_HEX_BYTES + 3];
        gw_iso_date(p->mtime_ms, date);
        snprintf(quoted, sizeof(quoted), "\"%s\"", p->etag != NULL ? p->etag : "");
        hm_xml_open(&w, "Part");
        hm_xml_elem_u64(&w, "PartNumber", p->part_number);
        hm_xml_elem(&w, "LastModified", date);
        hm_xml_elem(&w, "ETag", quoted);
        hm_xml_elem_u64(&w, "Size", p->size);
        hm_xml_close(&w);
    }
    hm_xml_close(&w);
    hm__meta_response__free_unpacked(resp, NULL);
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}

/* ---- ListMultipartUploads ------------------------------------------------------------ */

enum MHD_Result gw_list_multipart_uploads(gw_req *r)
{
    uint32_t max = HM_LIST_UPLOADS_MAX;
    bool present = false;
    if (!gw_mpu_uint_param(r, "max-uploads", 0, UINT32_MAX, &max, &present))
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "Provided max-uploads not an integer or within integer range", NULL,
                             0);
    if (max > HM_LIST_UPLOADS_MAX) max = HM_LIST_UPLOADS_MAX;
    const char *enc = gw_param_get(r, "encoding-type");
    if (enc != NULL && strcmp(enc, "url") != 0)
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "Invalid Encoding Method specified in Request", NULL, 0);
    bool url = enc != NULL;
    hm_objsvc_upload_list_args a = {
        .bucket = r->bucket,
        .prefix = gw_param_get(r, "prefix"),
        .delimiter = gw_param_get(r, "delimiter"),
        .key_marker = gw_param_get(r, "key-marker"),
        .upload_id_marker = gw_param_get(r, "upload-id-marker"),
        .max_uploads = max,
    };
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_mpu_list_uploads(r->gw->svc, r->id, &a, &resp);
    if (rc == HM_EINVAL) return gw_send_error(r, HM_S3_INVALID_ARGUMENT, NULL, NULL, 0);
    if (rc != 0) return gw_send_hm_error(r, rc);
    const Hm__UploadListResult *ul = resp->uploads;
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "ListMultipartUploadsResult");
    hm_xml_elem(&w, "Bucket", r->bucket);
    gw_mpu_elem_key(&w, "KeyMarker", a.key_marker != NULL ? a.key_marker : "", url);
    hm_xml_elem(&w, "UploadIdMarker", a.upload_id_marker != NULL ? a.upload_id_marker : "");
    gw_mpu_elem_key(&w, "NextKeyMarker", ul->next_key_marker != NULL ? ul->next_key_marker : "",
                    url);
    hm_xml_elem(&w, "NextUploadIdMarker",
                ul->next_upload_id_marker != NULL ? ul->next_upload_id_marker : "");
    if (a.delimiter != NULL) gw_mpu_elem_key(&w, "Delimiter", a.delimiter, url);
    if (a.prefix != NULL) gw_mpu_elem_key(&w, "Prefix", a.prefix, url);
    if (url) hm_xml_elem(&w, "EncodingType", "url");
    hm_xml_elem_u64(&w, "MaxUploads", max);
    hm_xml_elem_bool(&w, "IsTruncated", ul->truncated);
    for (size_t i = 0; i < ul->n_uploads; i++) {
        const Hm__UploadRecord *u = ul->uploads[i];
        char date[32];
        gw_iso_date(u->initiated_ms, date);
        hm_xml_open(&w, "Upload");
        gw_mpu_elem_key(&w, "Key", u->key, url);
        hm_xml_elem(&w, "UploadId", u->upload_id);
        gw_mpu_owner(&w, "Initiator");
        gw_mpu_owner(&w, "Owner");
        hm_xml_elem(&w, "StorageClass", "STANDARD");
        hm_xml_elem(&w, "Initiated", date);
        if (u->checksum_algorithm != NULL)
            hm_xml_elem(&w, "ChecksumAlgorithm", u->checksum_algorithm);
        hm_xml_close(&w);
    }
    for (size_t i = 0; i < ul->n_common_prefixes; i++) {
        hm_xml_open(&w, "CommonPrefixes");
        gw_mpu_elem_key(&w, "Prefix", ul->common_prefixes[i], url);
        hm_xml_close(&w);
    }
    hm_xml_close(&w);
    hm__meta_response__free_unpacked(resp, NULL);
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}
