/* hm_gw_tagging.c - object tagging over HTTP: PutObjectTagging,
 * GetObjectTagging, DeleteObjectTagging (?tagging on an object) and the
 * x-amz-tagging header of PutObject.
 *
 * Shaping decision: a tag set is small (at most HM_TAGS_MAX pairs), so it
 * lives in the object's version record and is replaced in place by the
 * ObjectSetTags metadata command: no new version, the ETag and
 * Last-Modified stay.  One validator serves the XML body and the header, so
 * both refuse the same sets with the same errors.
 *
 * References: AWS S3 API Reference, "PutObjectTagging", "GetObjectTagging",
 * "DeleteObjectTagging", "PutObject" (x-amz-tagging); AWS S3 User Guide,
 * "Categorizing your storage using tags" (10 tags per object, keys up to
 * 128 and values up to 256 Unicode characters, keys unique).
 */
#include "hm_gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

/* The rendered Tagging document: HM_TAGS_MAX pairs of escaped text. */
#define GW_TAGGING_XML_BYTES_MAX (64u << 10)

void gw_tags_free(gw_tags *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free((char *)t->kv[i].key);
        free((char *)t->kv[i].value);
    }
    t->n = 0;
}

/* Unicode characters in n bytes of UTF-8 (continuation bytes not counted;
 * the XML parser and the header decoder have already refused bad UTF-8
 * where it matters, and a bad byte still counts at most once). */
static size_t gw_utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0u) != 0x80u) c++;
    return c;
}

/* Validate one pair and append copies to t.  On refusal returns HM_EINVAL
 * and *why the InvalidTag message AWS sends. */
static int gw_tags_add(gw_tags *t, const char *k, size_t kl, const char *v, size_t vl,
                       const char **why)
{
    if (t->n == HM_TAGS_MAX) {
        *why = "Object tags cannot be greater than 10";
        return HM_EINVAL;
    }
    if (kl == 0 || memchr(k, '\0', kl) != NULL) {
        *why = "The TagKey you have provided is invalid";
        return HM_EINVAL;
    }
    if (gw_utf8_chars(k, kl) > HM_TAG_KEY_CHARS_MAX) {
        *why = "The TagKey you have provided is too long, max 128";
        return HM_EINVAL;
    }
    if (memchr(v, '\0', vl) != NULL) {
        *why = "The TagValue you have provided is invalid";
        return HM_EINVAL;
    }
    if (gw_utf8_chars(v, vl) > HM_TAG_VALUE_CHARS_MAX) {
        *why = "The TagValue you have provided is too long, max 256";
        return HM_EINVAL;
    }
    if (kl >= 4 && memcmp(k, "aws:", 4) == 0) {
        *why = "Your TagKey cannot be prefixed with aws:";
        return HM_EINVAL;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (strlen(t->kv[i].key) == kl && memcmp(t->kv[i].key, k, kl) == 0) {
            *why = "Cannot provide multiple Tags with the same key";
            return HM_EINVAL;
        }
    }
    char *kc = strndup(k, kl), *vc = strndup(v, vl);
    if (kc == NULL || vc == NULL) {
        free(kc);
        free(vc);
        return HM_ENOMEM;
    }
    t->kv[t->n].key = kc;
    t->kv[t->n].value = vc;
    t->n++;
    return 0;
}

enum MHD_Result gw_tags_from_header(gw_req *r, const char *value, gw_tags *t, bool *ok)
{
    *ok = false;
    const char *s = value;
    while (*s != '\0') {
        const char *amp = strchr(s, '&');
        size_t n = amp != NULL ? (size_t)(amp - s) : strlen(s);
        if (n > 0) {
            const char *eq = memchr(s, '=', n);
            size_t nl = eq != NULL ? (size_t)(eq - s) : n;
            char *k = NULL, *v = NULL;
            int rc = gw_pct_decode(s, nl, true, &k);
            if (rc == 0) rc = gw_pct_decode(eq != NULL ? eq + 1 : "", eq != NULL ? n - nl - 1 : 0,
                                            true, &v);
            if (rc == 0 && (!hm_objsvc_key_valid(k, strlen(k)) ||
                            (v[0] != '\0' && !hm_objsvc_key_valid(v, strlen(v)))))
                rc = HM_EINVAL;
            const char *why = NULL;
            if (rc == 0) rc = gw_tags_add(t, k, strlen(k), v, strlen(v), &why);
            free(k);
            free(v);
            if (rc != 0) {
                gw_tags_free(t);
                if (rc == HM_ENOMEM) return gw_send_hm_error(r, rc);
                if (why != NULL) return gw_send_error(r, HM_S3_INVALID_TAG, why, NULL, 0);
                return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                                     "The header 'x-amz-tagging' shall be encoded as UTF-8 "
                                     "then URLEncoded URL query parameters without tag name "
                                     "duplicates.",
                                     NULL, 0);
            }
        }
        if (amp == NULL) break;
        s = amp + 1;
    }
    *ok = true;
    return MHD_YES;
}

/* Parse a Tagging document into t.  Answers (MalformedXML, InvalidTag) and
 * sets *ok false on refusal. */
static enum MHD_Result gw_tags_from_xml(gw_req *r, gw_tags *t, bool *ok)
{
    *ok = false;
    if (r->body_len == 0) return gw_send_error(r, HM_S3_MISSING_REQUEST_BODY, NULL, NULL, 0);
    hm_xml_doc *doc = NULL;
    int rc = hm_xml_parse(r->body, r->body_len, &doc, NULL, NULL);
    if (rc == HM_ENOMEM) return gw_send_hm_error(r, rc);
    if (rc != 0) return gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
    enum MHD_Result ret = MHD_YES;
    const hm_xml_node *root = hm_xml_root(doc);
    const hm_xml_node *set = strcmp(root->name, "Tagging") == 0
                                 ? hm_xml_child(root, "TagSet") : NULL;
    if (set == NULL) {
        ret = gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
        goto out;
    }
    for (const hm_xml_node *tag = hm_xml_child(set, "Tag"); tag != NULL;
         tag = hm_xml_next_named(tag)) {
        size_t kl = 0, vl = 0;
        const char *k = hm_xml_child_text(tag, "Key", &kl);
        const char *v = hm_xml_child_text(tag, "Value", &vl);
        if (k == NULL || v == NULL || hm_xml_child_count_named(tag, "Key") != 1 ||
            hm_xml_child_count_named(tag, "Value") != 1) {
            gw_tags_free(t);
            ret = gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
            goto out;
        }
        const char *why = NULL;
        rc = gw_tags_add(t, k, kl, v, vl, &why);
        if (rc != 0) {
            gw_tags_free(t);
            ret = rc == HM_ENOMEM ? gw_send_hm_error(r, rc)
                                  : gw_send_error(r, HM_S3_INVALID_TAG, why, NULL, 0);
            goto out;
        }
    }
    *ok = true;
out:
    hm_xml_doc_free(doc);
    return ret;
}

/* ---- handlers ------------------------------------------------------------------ */

enum MHD_Result gw_get_object_tagging(gw_req *r)
{
    hm_objsvc_get *g = NULL;
    int rc = hm_objsvc_get_open(r->gw->svc, r->id, r->bucket, r->key, &g);
    if (rc != 0) return gw_send_hm_error(r, rc);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    hm_xml_writer w;
    hm_xml_writer_init(&w, GW_TAGGING_XML_BYTES_MAX);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "Tagging");
    hm_xml_open(&w, "TagSet");
    for (size_t i = 0; i < v->n_tags; i++) {
        const Hm__KeyValue *kv = v->tags[i];
        if (kv->key == NULL) continue;
        hm_xml_open(&w, "Tag");
        hm_xml_elem(&w, "Key", kv->key);
        hm_xml_elem(&w, "Value", kv->value != NULL ? kv->value : "");
        hm_xml_close(&w);
    }
    hm_xml_close(&w);
    hm_xml_close(&w);
    hm_objsvc_get_close(g);
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}

enum MHD_Result gw_put_object_tagging_begin(gw_req *r)
{
    return gw_small_body_begin(r, GW_OP_PUT_OBJECT_TAGGING);
}

enum MHD_Result gw_put_object_tagging_finish(gw_req *r)
{
    bool ok = false;
    enum MHD_Result ret = gw_small_body_check(r, false, &ok);
    if (!ok) return ret;
    gw_tags t = {0};
    ret = gw_tags_from_xml(r, &t, &ok);
    if (!ok) return ret;
    int rc = hm_objsvc_set_tags(r->gw->svc, r->id, r->bucket, r->key, t.kv, t.n);
    gw_tags_free(&t);
    if (rc != 0) return gw_send_hm_error(r, rc);
    return gw_send_empty(r, MHD_HTTP_OK);
}

enum MHD_Result gw_delete_object_tagging(gw_req *r)
{
    int rc = hm_objsvc_set_tags(r->gw->svc, r->id, r->bucket, r->key, NULL, 0);
    if (rc != 0) return gw_send_hm_error(r, rc);
    return gw_send_empty(r, MHD_HTTP_NO_CONTENT);
}
