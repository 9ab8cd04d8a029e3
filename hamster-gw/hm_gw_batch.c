/* hm_gw_batch.c - DeleteObjects (POST /bucket?delete): up to 1000 keys in
 * one request, answered key by key.
 *
 * Shaping decision: each key is deleted by its own metadata command, in
 * the order given, so one key's failure never undoes or blocks another's
 * (S3 promises no atomicity across the batch either); the answer lists
 * every key as <Deleted> or <Error> (only errors in Quiet mode).  A key
 * that does not exist is reported Deleted, as S3 does.  The body is
 * bounded by HM_HTTP_XML_BODY_BYTES_MAX and must carry Content-MD5 or a
 * flexible checksum, which is verified.
 *
 * References: AWS S3 API Reference, "DeleteObjects" (request and response
 * syntax, the 1000-key limit, Quiet mode, the Content-MD5 requirement).
 */
#include "hm_gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

#define GW_DELETE_KEYS_MAX 1000u
/* Every key escaped (at most 6 bytes per byte) plus an error entry each. */
#define GW_DELETE_XML_BYTES_MAX (GW_DELETE_KEYS_MAX * (6u * HM_KEY_BYTES_MAX + 512u) + 4096u)

enum MHD_Result gw_delete_objects_begin(gw_req *r)
{
    return gw_small_body_begin(r, GW_OP_DELETE_OBJECTS);
}

/* One <Error> entry. */
static void gw_delete_error(hm_xml_writer *w, const char *key, const char *version_id,
                            hm_s3err err, const char *message)
{
    hm_xml_open(w, "Error");
    hm_xml_elem(w, "Key", key);
    if (version_id != NULL) hm_xml_elem(w, "VersionId", version_id);
    hm_xml_elem(w, "Code", hm_s3err_code(err));
    hm_xml_elem(w, "Message", message != NULL ? message : hm_s3err_message(err));
    hm_xml_close(w);
}

/* Delete one requested key and write its entry. */
static void gw_delete_one(gw_req *r, hm_xml_writer *w, bool quiet, const char *key,
                          size_t klen, const char *version_id)
{
    if (klen > HM_KEY_BYTES_MAX) {
        gw_delete_error(w, key, version_id, HM_S3_KEY_TOO_LONG, NULL);
        return;
    }
    if (!hm_objsvc_key_valid(key, klen)) {
        gw_delete_error(w, key, version_id, HM_S3_INVALID_ARGUMENT,
                        "Object keys must be valid UTF-8");
        return;
    }
    if (version_id != NULL && strcmp(version_id, "null") != 0) {
        gw_delete_error(w, key, version_id, HM_S3_INVALID_ARGUMENT,
                        "Invalid version id specified");
        return;
    }
    int rc = hm_objsvc_delete(r->gw->svc, r->id, r->bucket, key);
    if (rc != 0) {
        hm_s3err e = hm_s3err_from_hm(rc);
        hm_warn("gw", r->id, "DeleteObjects: %s/%s failed: %s", r->bucket, key,
                hm_err_name(rc));
        gw_delete_error(w, key, version_id, e, NULL);
        return;
    }
    if (quiet) return;
    hm_xml_open(w, "Deleted");
    hm_xml_elem(w, "Key", key);
    if (version_id != NULL) hm_xml_elem(w, "VersionId", version_id);
    hm_xml_close(w);
}

enum MHD_Result gw_delete_objects_finish(gw_req *r)
{
    bool ok = false;
    enum MHD_Result ret = gw_small_body_check(r, true, &ok);
    if (!ok) return ret;
    if (r->body_len == 0) return gw_send_error(r, HM_S3_MISSING_REQUEST_BODY, NULL, NULL, 0);

    hm_xml_doc *doc = NULL;
    int rc = hm_xml_parse(r->body, r->body_len, &doc, NULL, NULL);
    if (rc == HM_ENOMEM) return gw_send_hm_error(r, rc);
    if (rc != 0) return gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);

    /* Validate the whole document before deleting anything. */
    const hm_xml_node *root = hm_xml_root(doc);
    size_t count = hm_xml_child_count_named(root, "Object");
    bool quiet = false;
    bool valid = strcmp(root->name, "Delete") == 0 && count >= 1 &&
                 count <= GW_DELETE_KEYS_MAX && hm_xml_child_count_named(root, "Quiet") <= 1;
    const char *q = valid ? hm_xml_child_text(root, "Quiet", NULL) : NULL;
    if (q != NULL) {
        if (strcmp(q, "true") == 0) quiet = true;
        else if (strcmp(q, "false") != 0) valid = false;
    }
    for (const hm_xml_node *o = valid ? hm_xml_child(root, "Object") : NULL; o != NULL;
         o = hm_xml_next_named(o)) {
        if (hm_xml_child_count_named(o, "Key") != 1 ||
            hm_xml_child_count_named(o, "VersionId") > 1)
            valid = false;
    }
    if (!valid) {
        hm_xml_doc_free(doc);
        return gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
    }

    /* A missing bucket fails the request, not each key. */
    Hm__MetaResponse *br = NULL;
    rc = hm_objsvc_bucket_get(r->gw->svc, r->id, r->bucket, &br);
    if (rc != 0) {
        hm_xml_doc_free(doc);
        return gw_send_hm_error(r, rc);
    }
    hm__meta_response__free_unpacked(br, NULL);

    hm_xml_writer w;
    hm_xml_writer_init(&w, GW_DELETE_XML_BYTES_MAX);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "DeleteResult");
    for (const hm_xml_node *o = hm_xml_child(root, "Object"); o != NULL;
         o = hm_xml_next_named(o)) {
        size_t klen = 0;
        const char *key = hm_xml_child_text(o, "Key", &klen);
        const char *vid = hm_xml_child_text(o, "VersionId", NULL);
        gw_delete_one(r, &w, quiet, key, klen, vid);
    }
    hm_xml_close(&w);
    hm_xml_doc_free(doc);
    hm_info("gw", r->id, "DeleteObjects on %s: %zu keys%s", r->bucket, count,
            quiet ? " (quiet)" : "");
    return gw_send_xml(r, MHD_HTTP_OK, &w);
}
