/* hm_gw_post.c - POST Object: uploads from a browser form, authenticated by
 * a signed POST policy instead of SigV4 headers.
 *
 * Shaping decision: the form streams through hm_post's parser; everything
 * is decided when the file part starts (required fields, credential,
 * signature over the base64 policy, policy conditions, key), and only then
 * does the file stream into the object service, with a put of unknown
 * length (hm_objsvc_put_begin_unsized) bounded by the policy's
 * content-length-range.  Nothing is stored for a refused form, and a body
 * cut short leaves nothing visible (gw_completed aborts the put).
 * Refusals found mid-body are answered once the body has been read, as
 * PutObject does.
 *
 * References: AWS S3 API Reference, "POST Object", "Browser-Based Uploads
 * Using POST (AWS Signature Version 4)", "Creating a POST Policy",
 * "Error Responses".
 */
#include "hm_gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_post.h"

#define GW_POST_MSG_BYTES 512u
#define GW_POST_META_PREFIX "x-amz-meta-"
#define GW_POST_META_PREFIX_BYTES (sizeof(GW_POST_META_PREFIX) - 1)
/* The most a whole POST body may be: the largest object plus its form. */
#define GW_POST_BODY_BYTES_MAX (HM_PUT_BYTES_MAX + 2ull * HM_POST_FORM_BYTES_MAX)

/* Form fields kept with the object as headers, like PutObject's. */
static const char *const gw_post_stored_headers[] = {
    "Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
    "Expires",
};
#define GW_POST_STORED_COUNT (sizeof(gw_post_stored_headers) / sizeof(char *))

/* Required before the file; AWS names the first missing one. */
static const char *const gw_post_required[] = {
    "key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature",
};

typedef struct gw_post gw_post;

struct gw_post {
    hm_post_form *form;
    hm_post_policy policy;
    char *key;                 /* after ${filename} */
    int64_t len_min;
    int64_t len_max;
    uint64_t file_bytes;
    /* the first refusal, answered at the end */
    bool failed;
    bool failed_hm;            /* hm_err holds an HM_E* to map */
    int hm_err;
    hm_s3err err;
    char msg[GW_POST_MSG_BYTES];
};

void gw_post_free(struct gw_post *post)
{
    if (post == NULL) return;
    hm_post_form_free(post->form);
    hm_post_policy_free(&post->policy);
    free(post->key);
    free(post);
}

bool gw_post_object_is(gw_req *r)
{
    if (strcmp(r->method, "POST") != 0 || r->bucket == NULL || r->key != NULL) return false;
    if (gw_param_get(r, "delete") != NULL || gw_param_get(r, "uploads") != NULL) return false;
    const char *ct = gw_header(r, "Content-Type");
    return ct != NULL && strncasecmp(ct, "multipart/form-data", 19) == 0;
}

/* Record the first refusal; returns HM_ECANCELED to stop the parser. */
static int gw_post_refuse(gw_post *gp, hm_s3err err, const char *msg)
{
    if (!gp->failed) {
        gp->failed = true;
        gp->err = err;
        if (msg != NULL) snprintf(gp->msg, sizeof(gp->msg), "%s", msg);
    }
    return HM_ECANCELED;
}

static int gw_post_refuse_hm(gw_post *gp, int err)
{
    if (!gp->failed) {
        gp->failed = true;
        gp->failed_hm = true;
        gp->hm_err = err;
    }
    return HM_ECANCELED;
}

/* Verify x-amz-algorithm, the credential and date, and the signature over
 * the policy. */
static int gw_post_verify(gw_req *r, gw_post *gp)
{
    const hm_post_form *f = gp->form;
    if (strcmp(hm_post_form_get(f, "x-amz-algorithm"), HM_SIGV4_ALGORITHM) != 0)
        return gw_post_refuse(gp, HM_S3_INVALID_ARGUMENT,
                              "Only the AWS4-HMAC-SHA256 algorithm is supported");
    hm_post_credential cred;
    if (hm_post_credential_parse(hm_post_form_get(f, "x-amz-credential"), &cred) != 0)
        return gw_post_refuse(gp, HM_S3_INVALID_ARGUMENT,
                              "Invalid x-amz-credential: expected "
                              "<key>/<YYYYMMDD>/<region>/s3/aws4_request");
    int64_t t = 0;
    const char *date = hm_post_form_get(f, "x-amz-date");
    if (hm_sigv4_parse_amz_date(date, &t) != 0 ||
        strncmp(date, cred.date, HM_SIGV4_DATE_BYTES) != 0)
        return gw_post_refuse(gp, HM_S3_INVALID_ARGUMENT,
                              "Invalid x-amz-date: expected YYYYMMDD'T'HHMMSS'Z' on the "
                              "credential's date");
    if (strcmp(cred.access_key_id, r->gw->access_key_id) != 0)
        return gw_post_refuse(gp, HM_S3_INVALID_ACCESS_KEY_ID, NULL);
    int rc = hm_post_signature_check(r->gw->secret_key, &cred, hm_post_form_get(f, "policy"),
                                     hm_post_form_get(f, "x-amz-signature"));
    if (rc == HM_EPERM) {
        hm_info("gw", r->id, "POST policy signature mismatch for key %s", cred.access_key_id);
        return gw_post_refuse(gp, HM_S3_SIGNATURE_DOES_NOT_MATCH,
                              "The request signature we calculated does not match the "
                              "signature you provided. Check your key and signing method.");
    }
    if (rc != 0) return gw_post_refuse_hm(gp, HM_EINTERNAL);
    return 0;
}

/* x-amz-meta-* fields into meta (names lower-cased without the prefix,
 * owned by the caller: free each key). */
static int gw_post_meta(const hm_post_form *f, hm_objsvc_kv *meta, size_t *n_out,
                        size_t *bytes_out)
{
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < hm_post_form_count(f); i++) {
        const char *name = hm_post_form_name(f, i);
        if (strncasecmp(name, GW_POST_META_PREFIX, GW_POST_META_PREFIX_BYTES) != 0) continue;
        char *lower = strdup(name + GW_POST_META_PREFIX_BYTES);
        if (lower == NULL) {
            for (size_t j = 0; j < n; j++) free((char *)meta[j].key);
            return HM_ENOMEM;
        }
        for (char *c = lower; *c != '\0'; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
        meta[n].key = lower;
        meta[n].value = hm_post_form_value(f, i);
        bytes += strlen(lower) + strlen(meta[n].value);
        n++;
    }
    *n_out = n;
    *bytes_out = bytes;
    return 0;
}

static const char *gw_post_field(void *ctx, const char *name)
{
    const gw_post *gp = ctx;
    return hm_post_form_get(gp->form, name);
}

/* The file part starts: every field is in.  Decide, then open the put. */
static int gw_post_file_begin(void *ctx, const hm_post_form *f, const char *filename,
                              const char *part_type)
{
    (void)part_type; /* the object's type is the form's Content-Type field */
    gw_req *r = ctx;
    gw_post *gp = r->post;
    for (size_t i = 0; i < sizeof(gw_post_required) / sizeof(char *); i++) {
        if (hm_post_form_get(f, gw_post_required[i]) == NULL) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "Bucket POST must contain a field named '%s'.  If it is specified, "
                     "please check the order of the fields.",
                     gw_post_required[i]);
            return gw_post_refuse(gp, HM_S3_INVALID_ARGUMENT, msg);
        }
    }
    int rc = gw_post_verify(r, gp);
    if (rc != 0) return rc;
    /* Protections Hamster does not provide (hm_gw_guard.h), before the
     * policy is even read: a refused form stores nothing. */
    hm_guard_refusal ref;
    if (hm_guard_check(HM_GUARD_POST_OBJECT, r->gw->tls_cert_pem != NULL, gw_post_field, gp,
                       &ref))
        return gw_post_refuse(gp, ref.err, ref.message);

    const char *why = NULL;
    rc = hm_post_policy_parse(hm_post_form_get(f, "policy"), &gp->policy, &why);
    if (rc == HM_ENOMEM) return gw_post_refuse_hm(gp, rc);
    if (rc != 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Invalid Policy: %s", why != NULL ? why : "malformed");
        return gw_post_refuse(gp, HM_S3_INVALID_POLICY_DOCUMENT, msg);
    }

    rc = hm_post_key_substitute(hm_post_form_get(f, "key"), filename, &gp->key);
    if (rc == HM_ETOOBIG) return gw_post_refuse(gp, HM_S3_KEY_TOO_LONG, NULL);
    if (rc != 0) return gw_post_refuse_hm(gp, rc);
    if (!hm_objsvc_key_valid(gp->key, strlen(gp->key)))
        return gw_post_refuse(gp, HM_S3_INVALID_ARGUMENT,
                              "Object keys must be 1 to 1024 bytes of valid UTF-8");

    char msg[GW_POST_MSG_BYTES];
    hm_post_check_args ca = {
        .form = f,
        .bucket = r->bucket,
        .key = gp->key,
        .now_ms = hm_wall_ms(r->gw->cfg.env),
    };
    rc = hm_post_policy_check(&gp->policy, &ca, &gp->len_min, &gp->len_max, msg, sizeof(msg));
    if (rc != 0) {
        hm_info("gw", r->id, "POST refused: %s", msg);
        return gw_post_refuse(gp, HM_S3_ACCESS_DENIED, msg);
    }

    hm_objsvc_kv *meta = calloc(HM_POST_FIELDS_MAX, sizeof(*meta));
    if (meta == NULL) return gw_post_refuse_hm(gp, HM_ENOMEM);
    size_t nmeta = 0, meta_bytes = 0;
    rc = gw_post_meta(f, meta, &nmeta, &meta_bytes);
    if (rc != 0) {
        free(meta);
        return gw_post_refuse_hm(gp, rc);
    }
    hm_objsvc_kv hdrs[GW_POST_STORED_COUNT];
    size_t nh = 0;
    for (size_t i = 0; i < GW_POST_STORED_COUNT; i++) {
        const char *v = hm_post_form_get(f, gw_post_stored_headers[i]);
        if (v != NULL) hdrs[nh++] = (hm_objsvc_kv){gw_post_stored_headers[i], v};
    }
    uint64_t max = gp->len_max < 0 || (uint64_t)gp->len_max > HM_PUT_BYTES_MAX
                       ? HM_PUT_BYTES_MAX
                       : (uint64_t)gp->len_max;
    hm_objsvc_put_args args = {
        .bucket = r->bucket,
        .key = gp->key,
        .size = max,
        .content_type = hm_post_form_get(f, "Content-Type"),
        .user_meta = meta,
        .user_meta_count = nmeta,
        .headers = hdrs,
        .header_count = nh,
    };
    if (meta_bytes > HM_USER_META_BYTES_MAX) rc = HM_ETOOBIG;
    else rc = hm_objsvc_put_begin_unsized(r->gw->svc, r->id, &args, &r->put);
    for (size_t i = 0; i < nmeta; i++) free((char *)meta[i].key);
    free(meta);
    if (rc == HM_ETOOBIG) return gw_post_refuse(gp, HM_S3_METADATA_TOO_LARGE, NULL);
    if (rc == HM_EINVAL) return gw_post_refuse(gp, HM_S3_INVALID_ARGUMENT, NULL);
    if (rc != 0) return gw_post_refuse_hm(gp, rc);
    return 0;
}

static int gw_post_file_data(void *ctx, const void *data, size_t len)
{
    gw_req *r = ctx;
    gw_post *gp = r->post;
    int rc = hm_objsvc_put_write(r->put, data, len);
    if (rc == HM_ETOOBIG)
        return gw_post_refuse(gp, HM_S3_ENTITY_TOO_LARGE, NULL);
    if (rc != 0) {
        hm_warn("gw", r->id, "POST to %s/%s failed mid-body: %s", r->bucket, gp->key,
                hm_err_name(rc));
        return gw_post_refuse_hm(gp, rc);
    }
    gp->file_bytes += len;
    return 0;
}

enum MHD_Result gw_post_object_begin(gw_req *r)
{
    if (!hm_objsvc_bucket_name_valid(r->bucket)) {
        hm_s3err_extra ex = {"BucketName", r->bucket};
        return gw_send_error(r, HM_S3_INVALID_BUCKET_NAME, NULL, &ex, 1);
    }
    const char *cl = gw_header(r, "Content-Length");
    if (cl != NULL) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end != '\0' || n > GW_POST_BODY_BYTES_MAX)
            return gw_send_error(r, HM_S3_ENTITY_TOO_LARGE, NULL, NULL, 0);
    }
    gw_post *gp = calloc(1, sizeof(*gp));
    if (gp == NULL) return gw_send_hm_error(r, HM_ENOMEM);
    int rc = hm_post_form_new(gw_header(r, "Content-Type"), &gp->form);
    if (rc != 0) {
        free(gp);
        if (rc == HM_ENOMEM) return gw_send_hm_error(r, rc);
        return gw_send_error(r, HM_S3_MALFORMED_POST,
                             "The Content-Type must be multipart/form-data with a boundary",
                             NULL, 0);
    }
    r->post = gp;
    r->op = GW_OP_POST_OBJECT;
    return MHD_YES;
}

void gw_post_object_body(gw_req *r, const char *data, size_t len)
{
    gw_post *gp = r->post;
    if (gp == NULL || gp->failed) return;
    hm_post_sink sink = {.file_begin = gw_post_file_begin, .file_data = gw_post_file_data,
                         .ctx = r};
    int rc = hm_post_form_feed(gp->form, data, len, &sink);
    if (rc == 0 || gp->failed) return;
    if (rc == HM_EPROTO || rc == HM_ETOOBIG)
        gw_post_refuse(gp, HM_S3_MALFORMED_POST,
                       rc == HM_ETOOBIG ? "A form field or part header is over its size limit"
                                        : NULL);
    else gw_post_refuse_hm(gp, rc);
}

/* Percent-encode s for a URL query value or path (keep_slash). */
static int gw_post_url_enc(const char *s, bool keep_slash, char **out)
{
    size_t n = strlen(s);
    char *d = malloc(3 * n + 1);
    if (d == NULL) return HM_ENOMEM;
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~' || (keep_slash && *c == '/')) {
            d[o++] = (char)*c;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            d[o++] = '%';
            d[o++] = hex[*c >> 4];
            d[o++] = hex[*c & 15];
        }
    }
    d[o] = '\0';
    *out = d;
    return 0;
}

/* The answer to a stored upload (AWS "POST Object", Responses):
 * success_action_redirect (or redirect) -> 303 to it with bucket, key and
 * etag; else success_action_status 200 or 201 (PostResponse XML); else 204. */
static enum MHD_Result gw_post_answer(gw_req *r, gw_post *gp, const char *etag)
{
    char quoted[HM_OBJSVC_ETAG_HEX_BYTES + 3];
    snprintf(quoted, sizeof(quoted), "\"%s\"", etag);
    char *ekey = NULL, *ebucket = NULL, *eetag = NULL, *location = NULL, *redirect = NULL;
    enum MHD_Result ret;
    if (gw_post_url_enc(gp->key, true, &ekey) != 0 ||
        gw_post_url_enc(r->bucket, false, &ebucket) != 0) {
        ret = gw_send_hm_error(r, HM_ENOMEM);
        goto out;
    }
    const char *host = gw_header(r, "Host");
    bool virtual_host = r->path != NULL && strcmp(r->path, "/") == 0;
    size_t ll = strlen(host != NULL ? host : "") + strlen(ebucket) + strlen(ekey) + 16;
    location = malloc(ll);
    if (location == NULL) {
        ret = gw_send_hm_error(r, HM_ENOMEM);
        goto out;
    }
    snprintf(location, ll, "%s://%s/%s%s%s", r->gw->tls_cert_pem != NULL ? "https" : "http",
             host != NULL ? host : "", virtual_host ? "" : ebucket, virtual_host ? "" : "/",
             ekey);

    const char *to = hm_post_form_get(gp->form, "success_action_redirect");
    if (to == NULL) to = hm_post_form_get(gp->form, "redirect");
    if (to != NULL && (strncmp(to, "http://", 7) == 0 || strncmp(to, "https://", 8) == 0)) {
        char *ekey_q = NULL;
        if (gw_post_url_enc(gp->key, false, &ekey_q) != 0 ||
            gw_post_url_enc(quoted, false, &eetag) != 0) {
            free(ekey_q);
            ret = gw_send_hm_error(r, HM_ENOMEM);
            goto out;
        }
        size_t rl = strlen(to) + strlen(ebucket) + strlen(ekey_q) + strlen(eetag) + 32;
        redirect = malloc(rl);
        if (redirect != NULL)
            snprintf(redirect, rl, "%s%sbucket=%s&key=%s&etag=%s", to,
                     strchr(to, '?') != NULL ? "&" : "?", ebucket, ekey_q, eetag);
        free(ekey_q);
        if (redirect == NULL) {
            ret = gw_send_hm_error(r, HM_ENOMEM);
            goto out;
        }
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (resp == NULL) {
            ret = MHD_NO;
            goto out;
        }
        MHD_add_response_header(resp, "Location", redirect);
        MHD_add_response_header(resp, "ETag", quoted);
        ret = gw_send(r, MHD_HTTP_SEE_OTHER, resp);
        goto out;
    }

    const char *st = hm_post_form_get(gp->form, "success_action_status");
    unsigned status = MHD_HTTP_NO_CONTENT;
    if (st != NULL && strcmp(st, "200") == 0) status = MHD_HTTP_OK;
    if (st != NULL && strcmp(st, "201") == 0) status = MHD_HTTP_CREATED;
    struct MHD_Response *resp = NULL;
    if (status == MHD_HTTP_CREATED) {
        hm_xml_writer w;
        hm_xml_writer_init(&w, 0);
        hm_xml_prolog(&w);
        hm_xml_open(&w, "PostResponse");
        hm_xml_elem(&w, "Location", location);
        hm_xml_elem(&w, "Bucket", r->bucket);
        hm_xml_elem(&w, "Key", gp->key);
        hm_xml_elem(&w, "ETag", quoted);
        hm_xml_close(&w);
        const char *data = NULL;
        size_t len = 0;
        if (hm_xml_writer_finish(&w, &data, &len) == 0)
            resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
        hm_xml_writer_free(&w);
        if (resp != NULL) MHD_add_response_header(resp, "Content-Type", "application/xml");
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL) {
        ret = gw_send_hm_error(r, HM_ENOMEM);
        goto out;
    }
    MHD_add_response_header(resp, "ETag", quoted);
    MHD_add_response_header(resp, "Location", location);
    ret = gw_send(r, status, resp);
out:
    free(ekey);
    free(ebucket);
    free(eetag);
    free(location);
    free(redirect);
    return ret;
}

static enum MHD_Result gw_post_send_refusal(gw_req *r, gw_post *gp)
{
    if (gp->failed_hm) return gw_send_hm_error(r, gp->hm_err);
    return gw_send_error(r, gp->err, gp->msg[0] != '\0' ? gp->msg : NULL, NULL, 0);
}

enum MHD_Result gw_post_object_finish(gw_req *r)
{
    gw_post *gp = r->post;
    hm_objsvc_put *p = r->put;
    r->put = NULL;
    if (!gp->failed) {
        int rc = hm_post_form_finish(gp->form);
        if (rc == HM_ENOENT)
            gw_post_refuse(gp, HM_S3_INVALID_ARGUMENT,
                           "POST requires exactly one file upload per request.");
        else if (rc != 0)
            gw_post_refuse(gp, HM_S3_MALFORMED_POST, NULL);
        else if ((int64_t)gp->file_bytes < gp->len_min)
            gw_post_refuse(gp, HM_S3_ENTITY_TOO_SMALL, NULL);
    }
    if (gp->failed) {
        hm_objsvc_put_abort(p);
        return gw_post_send_refusal(r, gp);
    }
    char etag[HM_OBJSVC_ETAG_HEX_BYTES + 1];
    int rc = hm_objsvc_put_finish(p, etag, NULL);
    if (rc != 0) return gw_send_hm_error(r, rc);
    hm_info("gw", r->id, "POST stored %s/%s (%llu bytes)", r->bucket, gp->key,
            (unsigned long long)gp->file_bytes);
    return gw_post_answer(r, gp, etag);
}
