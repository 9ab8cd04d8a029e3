/* hm_gw_bucket.c - the service and bucket operations over HTTP:
 * ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
 * ListObjects (v1) and ListObjectsV2.
 *
 * Shaping decision: listings are answered from one metadata query of at
 * most HM_LIST_KEYS_MAX entries, rendered into one bounded XML buffer; the
 * V2 continuation token is opaque to clients but is simply the base64 of
 * the key to continue after, so any gateway can resume any listing.
 *
 * References: AWS S3 API Reference, "ListBuckets", "CreateBucket",
 * "HeadBucket", "DeleteBucket", "GetBucketLocation", "ListObjects",
 * "ListObjectsV2".
 */
#include "hm_gw_int.h"
#include "hm_meta_akeys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

/* Continuation tokens carry a key: base64 of at most HM_KEY_BYTES_MAX. */
#define GW_TOKEN_BYTES_MAX (4u * ((HM_KEY_BYTES_MAX + 2u) / 3u) + 1u)
/* A listing: every entry's key (url-encoded: x3), date, ETag, size, owner. */
#define GW_LIST_XML_BYTES_MAX (HM_LIST_KEYS_MAX * (3u * HM_KEY_BYTES_MAX + 512u) + 65536u)
#define GW_BUCKETS_XML_BYTES_MAX (8u << 20)

/* ---- ListBuckets -------------------------------------------------------------- */

enum MHD_Result gw_list_buckets(gw_req *r)
{
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_bucket_list(r->gw->svc, r->id, &resp);
    if (rc != 0) return gw_send_hm_error(r, rc);
    hm_xml_writer w;
    hm_xml_writer_init(&w, GW_BUCKETS_XML_BYTES_MAX);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "ListAllMyBucketsResult");
    hm_xml_open(&w, "Owner");
    hm_xml_elem(&w, "ID", r->auth.access_key_id);
    hm_xml_elem(&w, "DisplayName", r->auth.access_key_id);
    hm_xml_close(&w);
    hm_xml_open(&w, "Buckets");
    const Hm__BucketListResult *bl =
        resp->result_case == HM__META_RESPONSE__RESULT_BUCKETS ? resp->buckets : NULL;
    for (size_t i = 0; bl != NULL && i < bl->n_buckets; i++) {
        const Hm__BucketRecord *b = bl->buckets[i];
        if (gw_key_rights(r, b->name) == 0) continue; /* only buckets it was granted */
        char date[32];
        gw_iso_date(b->created_ms, date);
        hm_xml_open(&w, "Bucket");
        hm_xml_elem(&w, "Name", b->name);
        hm_xml_elem(&w, "CreationDate", date);
        hm_xml_close(&w);
    }
    hm_xml_close(&w);
    hm_xml_close(&w);
    hm__meta_response__free_unpacked(resp, NULL);
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}

/* ---- CreateBucket ------------------------------------------------------------- */

enum MHD_Result gw_create_bucket_begin(gw_req *r)
{
    bool guard_ok = false;
    enum MHD_Result guard_ret = gw_guard_headers(r, HM_GUARD_CREATE_BUCKET, &guard_ok);
    if (!guard_ok) return guard_ret;
    return gw_small_body_begin(r, GW_OP_CREATE_BUCKET);
}

enum MHD_Result gw_create_bucket_finish(gw_req *r)
{
    bool body_ok = false;
    enum MHD_Result bret = gw_small_body_check(r, false, &body_ok);
    if (!body_ok) return bret;
    if (r->body_len > 0) {
        /* CreateBucketConfiguration: well-formed is required; the location
         * constraint is accepted and ignored (one region per cluster). */
        hm_xml_doc *doc = NULL;
        int rc = hm_xml_parse(r->body, r->body_len, &doc, NULL, NULL);
        if (rc == HM_ENOMEM) return gw_send_hm_error(r, rc);
        bool ok = rc == 0 &&
                  strcmp(hm_xml_root(doc)->name, "CreateBucketConfiguration") == 0;
        hm_xml_doc_free(doc);
        if (!ok) return gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
    }
    int rc = hm_objsvc_bucket_create(r->gw->svc, r->id, r->bucket, r->gw->region,
                                     r->auth.access_key_id);
    if (rc == HM_EINVAL) {
        hm_s3err_extra ex = {"BucketName", r->bucket};
        return gw_send_error(r, HM_S3_INVALID_BUCKET_NAME, NULL, &ex, 1);
    }
    if (rc == HM_EBUCKETEXISTS && (gw_key_rights(r, r->bucket) & HM_KEY_RIGHT_OWNER) == 0) {
        hm_s3err_extra ex = {"BucketName", r->bucket}; /* someone else's */
        return gw_send_error(r, HM_S3_BUCKET_ALREADY_EXISTS, NULL, &ex, 1);
    }
    if (rc != 0) return gw_send_hm_error(r, rc);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) return MHD_NO;
    char loc[HM_BUCKET_NAME_BYTES_MAX + 2];
    snprintf(loc, sizeof(loc), "/%s", r->bucket);
    MHD_add_response_header(resp, "Location", loc);
    return gw_send(r, MHD_HTTP_OK, resp);
}

/* ---- HeadBucket, DeleteBucket, GetBucketLocation -------------------------------- */

enum MHD_Result gw_head_bucket(gw_req *r)
{
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_bucket_get(r->gw->svc, r->id, r->bucket, &resp);
    if (rc != 0) return gw_send_hm_error(r, rc);
    const char *region = resp->bucket->region != NULL && resp->bucket->region[0] != '\0'
                             ? resp->bucket->region : r->gw->region;
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (mr != NULL) MHD_add_response_header(mr, "x-amz-bucket-region", region);
    hm__meta_response__free_unpacked(resp, NULL);
    return gw_send(r, MHD_HTTP_OK, mr);
}

enum MHD_Result gw_delete_bucket(gw_req *r)
{
    int rc = hm_objsvc_bucket_delete(r->gw->svc, r->id, r->bucket);
    if (rc != 0) return gw_send_hm_error(r, rc);
    return gw_send_empty(r, MHD_HTTP_NO_CONTENT);
}

enum MHD_Result gw_get_bucket_location(gw_req *r)
{
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_bucket_get(r->gw->svc, r->id, r->bucket, &resp);
    if (rc != 0) return gw_send_hm_error(r, rc);
    const char *region = resp->bucket->region != NULL ? resp->bucket->region : "";
    hm_xml_writer w;
    hm_xml_writer_init(&w, 4096);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "LocationConstraint");
    /* us-east-1 is the empty constraint, as S3 answers it. */
    if (strcmp(region, "us-east-1") != 0) hm_xml_text(&w, region, strlen(region));
    hm_xml_close(&w);
    hm__meta_response__free_unpacked(resp, NULL);
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}

/* ---- ListObjects / ListObjectsV2 ------------------------------------------------ */

/* Percent-encode s for encoding-type=url as S3 does: everything but RFC
 * 3986 unreserved characters and '/' as %XX, a space as '+' (clients decode
 * with unquote_plus / QueryUnescape).  out holds 3 * strlen(s) + 1. */
static void gw_url_encode(const char *s, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            out[o++] = (char)c;
        } else if (c == ' ') {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* <name>s</name>, url-encoded when asked.  s NULL writes nothing. */
static void gw_list_elem(hm_xml_writer *w, const char *name, const char *s, bool url)
{
    if (s == NULL) return;
    if (!url) {
        hm_xml_elem(w, name, s);
        return;
    }
    size_t n = strlen(s);
    char *enc = n <= (SIZE_MAX - 1) / 3 ? malloc(3 * n + 1) : NULL;
    if (enc == NULL) {
        hm_xml_elem(w, name, NULL);
        w->err = w->err != 0 ? w->err : HM_ENOMEM;
        return;
    }
    gw_url_encode(s, enc);
    hm_xml_elem(w, name, enc);
    free(enc);
}

static bool gw_parse_max_keys(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0') return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > INT32_MAX) return false;
    }
    *out = v > HM_LIST_KEYS_MAX ? HM_LIST_KEYS_MAX : (uint32_t)v;
    return true;
}

enum MHD_Result gw_list_objects(gw_req *r, bool v2)
{
    const char *prefix = gw_param_get(r, "prefix");
    const char *delim = gw_param_get(r, "delimiter");
    const char *enc = gw_param_get(r, "encoding-type");
    const char *mk = gw_param_get(r, "max-keys");
    const char *start_after = gw_param_get(r, v2 ? "start-after" : "marker");
    const char *token = v2 ? gw_param_get(r, "continuation-token") : NULL;
    const char *fo = v2 ? gw_param_get(r, "fetch-owner") : NULL;
    bool fetch_owner = !v2 || (fo != NULL && strcmp(fo, "true") == 0);
    uint32_t max_keys = HM_LIST_KEYS_MAX;
    bool url = false;

    if (enc != NULL) {
        if (strcmp(enc, "url") != 0)
            return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                                 "Invalid Encoding Method specified in Request", NULL, 0);
        url = true;
    }
    if (mk != NULL && !gw_parse_max_keys(mk, &max_keys))
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "Provided max-keys not an integer or within integer range",
                             NULL, 0);
    if ((prefix != NULL && strlen(prefix) > HM_KEY_BYTES_MAX) ||
        (delim != NULL && strlen(delim) > HM_KEY_BYTES_MAX) ||
        (start_after != NULL && strlen(start_after) > HM_KEY_BYTES_MAX))
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             "The prefix, delimiter or marker is longer than a key can be",
                             NULL, 0);
    if (prefix != NULL && prefix[0] == '\0') prefix = NULL;
    if (delim != NULL && delim[0] == '\0') delim = NULL;

    char token_key[HM_KEY_BYTES_MAX + 1];
    const char *from = start_after != NULL && start_after[0] != '\0' ? start_after : NULL;
    if (token != NULL) {
        size_t n = 0;
        if (strlen(token) >= GW_TOKEN_BYTES_MAX ||
            hm_base64_decode(token, (uint8_t *)token_key, HM_KEY_BYTES_MAX, &n) != 0 ||
            n == 0 || memchr(token_key, '\0', n) != NULL)
            return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                                 "The continuation token provided is incorrect", NULL, 0);
        token_key[n] = '\0';
        from = token_key;
    }

    Hm__MetaResponse *resp = NULL;
    const Hm__ObjectListResult *lr = NULL;
    if (max_keys > 0) {
        hm_objsvc_list_args la = {
            .bucket = r->bucket,
            .prefix = prefix,
            .delimiter = delim,
            .start_after = from,
            .max_keys = max_keys,
        };
        int rc = hm_objsvc_list(r->gw->svc, r->id, &la, &resp);
        if (rc != 0) return gw_send_hm_error(r, rc);
        lr = resp->list;
    } else {
        /* max-keys=0 still proves the bucket exists. */
        int rc = hm_objsvc_bucket_get(r->gw->svc, r->id, r->bucket, &resp);
        if (rc != 0) return gw_send_hm_error(r, rc);
    }
    bool truncated = lr != NULL && lr->truncated;
    size_t keys = 0;
    for (size_t i = 0; lr != NULL && i < lr->n_entries; i++) keys++;

    hm_xml_writer w;
    hm_xml_writer_init(&w, GW_LIST_XML_BYTES_MAX);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "ListBucketResult");
    hm_xml_elem(&w, "Name", r->bucket);
    gw_list_elem(&w, "Prefix", prefix != NULL ? prefix : "", url);
    if (v2) {
        if (token != NULL) hm_xml_elem(&w, "ContinuationToken", token);
        if (start_after != NULL) gw_list_elem(&w, "StartAfter", start_after, url);
        hm_xml_elem_u64(&w, "KeyCount", keys);
    } else {
        gw_list_elem(&w, "Marker", start_after != NULL ? start_after : "", url);
    }
    hm_xml_elem_u64(&w, "MaxKeys", max_keys);
    if (delim != NULL) gw_list_elem(&w, "Delimiter", delim, url);
    if (url) hm_xml_elem(&w, "EncodingType", "url");
    hm_xml_elem_bool(&w, "IsTruncated", truncated);
    if (truncated && lr->next_start_after != NULL) {
        if (v2) {
            char tok[GW_TOKEN_BYTES_MAX + 4];
            size_t n = strlen(lr->next_start_after);
            if (n > HM_KEY_BYTES_MAX) n = HM_KEY_BYTES_MAX;
            hm_base64_encode((const uint8_t *)lr->next_start_after, n, tok, sizeof(tok));
            hm_xml_elem(&w, "NextContinuationToken", tok);
        } else if (delim != NULL) {
            gw_list_elem(&w, "NextMarker", lr->next_start_after, url);
        }
    }
    for (size_t i = 0; lr != NULL && i < lr->n_entries; i++) {
        const Hm__ListEntry *e = lr->entries[i];
        if (e->is_prefix) continue;
        const Hm__ObjectVersion *v = e->version;
        char date[32];
        char etag[HM_OBJSVC_ETAG_HEX_BYTES + 48];
        gw_iso_date(v != NULL ? v->mtime_ms : 0, date);
        snprintf(etag, sizeof(etag), "\"%s\"", v != NULL && v->etag != NULL ? v->etag : "");
        hm_xml_open(&w, "Contents");
        gw_list_elem(&w, "Key", e->key != NULL ? e->key : "", url);
        hm_xml_elem(&w, "LastModified", date);
        hm_xml_elem(&w, "ETag", etag);
        hm_xml_elem_u64(&w, "Size", v != NULL ? v->size : 0);
        if (fetch_owner) {
            hm_xml_open(&w, "Owner");
            hm_xml_elem(&w, "ID", r->auth.access_key_id);
            hm_xml_elem(&w, "DisplayName", r->auth.access_key_id);
            hm_xml_close(&w);
        }
        hm_xml_elem(&w, "StorageClass", "STANDARD");
        hm_xml_close(&w);
    }
    for (size_t i = 0; lr != NULL && i < lr->n_entries; i++) {
        const Hm__ListEntry *e = lr->entries[i];
        if (!e->is_prefix) continue;
        hm_xml_open(&w, "CommonPrefixes");
        gw_list_elem(&w, "Prefix", e->key != NULL ? e->key : "", url);
        hm_xml_close(&w);
    }
    hm_xml_close(&w);
    hm__meta_response__free_unpacked(resp, NULL);
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}
