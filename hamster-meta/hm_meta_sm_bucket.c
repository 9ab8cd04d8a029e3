/* hm_meta_sm_bucket.c - buckets in the metadata state machine: create,
 * delete (refused while any name is left; in-progress uploads are aborted),
 * CORS configuration, and the BucketGet / BucketList queries. */
#include "hm_meta_sm_int.h"

static const char sm_key_next_bucket[] = "next_bucket_id";

int sm_bucket_load(sm_ctx *cx, const char *name, Hm__BucketRecord **out)
{
    return sm_get_msg(cx, HM_KV_BUCKETS, name, strlen(name),
                      &hm__bucket_record__descriptor, (ProtobufCMessage **)out);
}

static bool sm_bucket_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    return n >= HM_BUCKET_NAME_BYTES_MIN && n <= HM_BUCKET_NAME_BYTES_MAX;
}

int sm_bucket_create(sm_ctx *cx, const Hm__BucketCreate *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->bucket == NULL || !sm_bucket_name_ok(c->bucket->name))
        return sm_reject(resp, HM_EINVAL, "bucket name must be 3..63 bytes");
    const char *name = c->bucket->name;
    const void *val = NULL;
    size_t len = 0;
    int rc = cx->env->ops->kv_get(cx->txn, HM_KV_BUCKETS, name, strlen(name), &val, &len);
    if (rc == 0)
        return sm_reject(resp, HM_EBUCKETEXISTS, NULL);
    if (rc != HM_ENOENT)
        return rc;

    uint64_t next = 0;
    rc = sm_get_u64(cx, sm_key_next_bucket, &next);
    if (rc != 0)
        return rc;
    if (next == 0)
        next = 1; /* id 0 is never used, so a zeroed id is always a bug */
    rc = sm_put_u64(cx, sm_key_next_bucket, next + 1);
    if (rc != 0)
        return rc;

    Hm__BucketRecord b = *c->bucket;
    b.has_format_version = true;
    b.format_version = HM_FORMAT_VERSION;
    b.has_bucket_id = true;
    b.bucket_id = next;
    rc = sm_put_msg(cx, HM_KV_BUCKETS, name, strlen(name), &b.base);
    if (rc != 0)
        return rc;
    Hm__BucketRecord *copy = NULL;
    rc = sm_bucket_load(cx, name, &copy);
    if (rc != 0)
        return rc;
    resp->result_case = HM__META_RESPONSE__RESULT_BUCKET;
    resp->bucket = copy;
    return 0;
}

/* Does any names-table key of bucket_id exist? */
static int sm_bucket_has_names(sm_ctx *cx, uint64_t bucket_id, bool *out)
{
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
    if (rc != 0)
        return rc;
    uint8_t pfx[HM_META_BUCKET_ID_BYTES];
    hm_meta_bucket_prefix(bucket_id, pfx);
    *out = false;
    rc = cx->env->ops->kv_cursor_seek(cur, pfx, sizeof pfx);
    if (rc == 0) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc == 0)
            *out = kl >= sizeof pfx && memcmp(k, pfx, sizeof pfx) == 0;
    } else if (rc == HM_ENOENT) {
        rc = 0;
    }
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

int sm_bucket_delete(sm_ctx *cx, const Hm__BucketDelete *c, Hm__MetaResponse *resp)
{
    if (c == NULL || !sm_bucket_name_ok(c->name))
        return sm_reject(resp, HM_EINVAL, "bucket name must be 3..63 bytes");
    Hm__BucketRecord *b = NULL;
    int rc = sm_bucket_load(cx, c->name, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    bool used = false;
    rc = sm_bucket_has_names(cx, b->bucket_id, &used);
    if (rc != 0)
        goto out;
    if (used) {
        rc = sm_reject(resp, HM_ENOTEMPTY, NULL);
        goto out;
    }
    /* In-progress uploads do not keep a bucket alive (AWS "DeleteBucket"
     * names only objects, versions and delete markers): they are aborted
     * here.  Their parts were never readable, so no read grace applies and
     * their blobs are collectable at once (not_before 0). */
    rc = sm_bucket_uploads_drop(cx, b->bucket_id, 0);
    if (rc != 0)
        goto out;
    rc = cx->env->ops->kv_del(cx->txn, HM_KV_BUCKETS, c->name, strlen(c->name));
    if (rc != 0)
        goto out;
    resp->result_case = HM__META_RESPONSE__RESULT_BUCKET;
    resp->bucket = b;
    b = NULL;
out:
    if (b != NULL)
        hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

/* BucketSetCors (AWS "PutBucketCors" / "DeleteBucketCors"): an empty
 * cors_xml clears the field. */
int sm_bucket_set_cors(sm_ctx *cx, const Hm__BucketSetCors *c, Hm__MetaResponse *resp)
{
    if (c == NULL || !sm_bucket_name_ok(c->name))
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (c->cors_xml != NULL && strlen(c->cors_xml) > HM_HTTP_XML_BODY_BYTES_MAX)
        return sm_reject(resp, HM_ETOOBIG, "CORS configuration too large");
    Hm__BucketRecord *b = NULL;
    int rc = sm_bucket_load(cx, c->name, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    Hm__BucketRecord nb = *b;
    nb.cors_xml = c->cors_xml != NULL && c->cors_xml[0] != '\0' ? c->cors_xml : NULL;
    rc = sm_put_msg(cx, HM_KV_BUCKETS, c->name, strlen(c->name), &nb.base);
    hm__bucket_record__free_unpacked(b, NULL);
    b = NULL;
    if (rc != 0)
        return rc;
    rc = sm_bucket_load(cx, c->name, &b);
    if (rc != 0)
        return rc;
    resp->result_case = HM__META_RESPONSE__RESULT_BUCKET;
    resp->bucket = b;
    return 0;
}

int sm_q_bucket_get(sm_ctx *cx, const Hm__BucketGet *q, Hm__MetaResponse *resp)
{
    if (q == NULL || !sm_bucket_name_ok(q->name))
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    Hm__BucketRecord *b = NULL;
    int rc = sm_bucket_load(cx, q->name, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    resp->result_case = HM__META_RESPONSE__RESULT_BUCKET;
    resp->bucket = b;
    return 0;
}

int sm_q_bucket_list(sm_ctx *cx, Hm__MetaResponse *resp)
{
    Hm__BucketListResult *r = malloc(sizeof *r);
    if (r == NULL)
        return HM_ENOMEM;
    hm__bucket_list_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_BUCKETS;
    resp->buckets = r;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_BUCKETS, &cur);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    for (rc = cx->env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (r->n_buckets == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            Hm__BucketRecord **nb = realloc(r->buckets, ncap * sizeof *nb);
            if (nb == NULL) {
                rc = HM_ENOMEM;
                break;
            }
            r->buckets = nb;
            cap = ncap;
        }
        Hm__BucketRecord *b = NULL;
        rc = sm_unpack(&hm__bucket_record__descriptor, v, vl, (ProtobufCMessage **)&b);
        if (rc != 0)
            break;
        r->buckets[r->n_buckets++] = b;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}
