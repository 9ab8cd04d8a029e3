/* hm_gw_keys.c - who a request is and what it may do: the access key
 * lookup behind SigV4, SigV2 and POST policy signatures, and the per-bucket
 * permission check (hamster-meta/hm_meta_akeys.h).
 *
 * Shaping decisions:
 *  - The root key from the environment is checked first and holds every
 *    right; any other key is read from the metadata on every request (one
 *    KeyGet) and kept only for that request, so a deleted key or a revoked
 *    grant stops working with the next request, on every gateway.
 *  - The secret is unsealed (common/hm_keyseal.h) into the verifier's
 *    buffer and nowhere else.
 *  - The right an operation needs (S3 operation -> read / write / owner):
 *      read   ListObjects(V2), GetObject, HeadObject, HeadBucket,
 *             GetBucketLocation, ListMultipartUploads, ListParts,
 *             GetObjectTagging, GetObjectAttributes; a copy's source
 *      write  PutObject, DeleteObject, DeleteObjects, PostObject, multipart
 *             (create, upload part, complete, abort), object tagging
 *             put/delete, a copy's destination
 *      owner  DeleteBucket and every bucket configuration sub-resource
 *             (cors, and those not implemented yet)
 *    CreateBucket needs no grant (its creator becomes owner) and
 *    ListBuckets shows only the buckets the key has a grant on.
 *    A bucket the key has no grant on answers AccessDenied whether or not
 *    it exists, so keys cannot probe each other's bucket names.
 */
#include "hm_gw_int.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_keyseal.h"
#include "hm_log.h"
#include "hm_meta_akeys.h"

int gw_key_lookup(void *ctx, const char *access_key_id, char *secret_out, size_t secret_cap)
{
    gw_req *r = ctx;
    hm_gw *gw = r->gw;
    if (r->key_rec != NULL) {
        hm__key_record__free_unpacked(r->key_rec, NULL);
        r->key_rec = NULL;
    }
    r->key_root = false;
    if (strcmp(access_key_id, gw->access_key_id) == 0) {
        size_t n = strlen(gw->secret_key);
        if (n >= secret_cap) return HM_EINVAL;
        memcpy(secret_out, gw->secret_key, n + 1);
        r->key_root = true;
        return 0;
    }
    if (!hm_meta_akey_id_ok(access_key_id)) return HM_ENOENT;
    Hm__KeyGet q = HM__KEY_GET__INIT;
    q.access_key_id = (char *)access_key_id;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_KEY_GET;
    req.key_get = &q;
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_meta_query(gw->svc, r->id, &req, HM__META_RESPONSE__RESULT_KEY, &resp);
    if (rc == HM_ENOENT) return HM_ENOENT;
    if (rc != 0) {
        hm_warn("gw", r->id, "access key %s: metadata lookup failed: %s", access_key_id,
                hm_err_name(rc));
        return rc;
    }
    Hm__KeyRecord *k = resp->key;
    if (k->access_key_id == NULL || strcmp(k->access_key_id, access_key_id) != 0 ||
        !k->has_sealed_secret || !k->has_seal_version ||
        k->seal_version != HM_KEYSEAL_VERSION) {
        hm_warn("gw", r->id, "access key %s: record is not one this gateway reads",
                access_key_id);
        hm__meta_response__free_unpacked(resp, NULL);
        return HM_ECORRUPT;
    }
    rc = hm_keyseal_open(gw->seal_key, access_key_id, k->sealed_secret.data,
                         k->sealed_secret.len, secret_out, secret_cap);
    if (rc != 0) {
        /* Sealed under another root secret, or altered: the key is
         * unusable, and saying so is what an operator needs. */
        hm_warn("gw", r->id, "access key %s: secret does not open (%s): sealed under "
                "another root secret, or damaged", access_key_id, hm_err_name(rc));
        hm__meta_response__free_unpacked(resp, NULL);
        return rc == HM_EPERM ? HM_ECORRUPT : rc;
    }
    /* Keep the record (grants) for this request only. */
    resp->result_case = HM__META_RESPONSE__RESULT__NOT_SET;
    resp->key = NULL;
    hm__meta_response__free_unpacked(resp, NULL);
    r->key_rec = k;
    return 0;
}

uint32_t gw_key_rights(const gw_req *r, const char *bucket)
{
    if (r->key_root) return HM_KEY_RIGHTS_ALL;
    return hm_meta_akey_rights(r->key_rec, bucket);
}

/* The bucket named by x-amz-copy-source (decoded, owned), or NULL when the
 * header is absent or unparsable (the copy handler then refuses it). */
static char *gw_keys_copy_bucket(gw_req *r)
{
    const char *h = gw_header(r, "x-amz-copy-source");
    if (h == NULL) return NULL;
    size_t n = strcspn(h, "?");
    char *dec = NULL;
    if (n > 3 * (HM_BUCKET_NAME_BYTES_MAX + HM_KEY_BYTES_MAX) + 64 ||
        gw_pct_decode(h, n, false, &dec) != 0)
        return NULL;
    const char *p = dec[0] == '/' ? dec + 1 : dec;
    size_t bl = strcspn(p, "/");
    char *b = bl > 0 ? strndup(p, bl) : NULL;
    free(dec);
    return b;
}

static const char *gw_keys_right_name(uint32_t need)
{
    return need == HM_KEY_RIGHT_READ    ? "read"
           : need == HM_KEY_RIGHT_WRITE ? "write"
                                        : "owner";
}

/* The right r needs on its own bucket; 0 for none (ListBuckets,
 * CreateBucket). */
static uint32_t gw_keys_need(gw_req *r)
{
    const char *m = r->method;
    bool get = strcmp(m, "GET") == 0, head = strcmp(m, "HEAD") == 0;
    bool put = strcmp(m, "PUT") == 0, post = strcmp(m, "POST") == 0;
    bool del = strcmp(m, "DELETE") == 0;
    if (r->bucket == NULL) return 0;
    if (r->key != NULL) return get || head ? HM_KEY_RIGHT_READ : HM_KEY_RIGHT_WRITE;
    /* Bucket level: sub-resources other than these are configuration. */
    static const char *const data_params[] = {
        "delete", "uploads", "location", "list-type", "prefix", "delimiter", "marker",
        "max-keys", "continuation-token", "start-after", "fetch-owner", "encoding-type",
        "key-marker", "upload-id-marker", "max-uploads", "x-id",
    };
    for (size_t i = 0; i < r->param_count; i++) {
        bool data = false;
        for (size_t j = 0; j < sizeof data_params / sizeof(char *); j++)
            data = data || strcmp(r->params[i].name, data_params[j]) == 0;
        if (!data) return HM_KEY_RIGHT_OWNER;
    }
    if (post && gw_param_get(r, "delete") != NULL) return HM_KEY_RIGHT_WRITE;
    if (put) return 0; /* CreateBucket (no configuration sub-resource) */
    if (del) return HM_KEY_RIGHT_OWNER;
    if (get || head) return HM_KEY_RIGHT_READ;
    return HM_KEY_RIGHT_OWNER;
}

enum MHD_Result gw_authorize(gw_req *r, bool *ok)
{
    *ok = false;
    if (r->key_root) {
        *ok = true;
        return MHD_YES;
    }
    uint32_t need = gw_keys_need(r);
    if (need != 0 && (gw_key_rights(r, r->bucket) & need) != need) {
        hm_info("gw", r->id, "access denied: key %s has no %s right on bucket %s",
                r->auth.access_key_id, gw_keys_right_name(need), r->bucket);
        return gw_send_error(r, HM_S3_ACCESS_DENIED, NULL, NULL, 0);
    }
    if (r->key != NULL && strcmp(r->method, "PUT") == 0) {
        char *src = gw_keys_copy_bucket(r);
        if (src != NULL && (gw_key_rights(r, src) & HM_KEY_RIGHT_READ) == 0) {
            hm_info("gw", r->id, "access denied: key %s has no read right on copy source "
                    "bucket %s", r->auth.access_key_id, src);
            free(src);
            return gw_send_error(r, HM_S3_ACCESS_DENIED, NULL, NULL, 0);
        }
        free(src);
    }
    *ok = true;
    return MHD_YES;
}

void gw_key_release(gw_req *r)
{
    if (r->key_rec != NULL) hm__key_record__free_unpacked(r->key_rec, NULL);
    r->key_rec = NULL;
    r->key_root = false;
}
