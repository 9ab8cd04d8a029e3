/* hm_meta_sm_object.c - objects in the metadata state machine: versions,
 * ObjectPut (conditions checked at apply), ObjectDelete, ObjectSetTags and
 * the ObjectGet query. */
#include "hm_meta_sm_int.h"

/* The newest version of oid: *out NULL when there is none. */
int sm_version_newest(sm_ctx *cx, const uint8_t *oid, Hm__ObjectVersion **out,
                             uint64_t *stamp)
{
    *out = NULL;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_VERSIONS, &cur);
    if (rc != 0)
        return rc;
    uint8_t vk[HM_META_VERSIONS_KEY_BYTES];
    hm_meta_versions_key(oid, UINT64_MAX, vk); /* ~UINT64_MAX: the first row */
    rc = cx->env->ops->kv_cursor_seek(cur, vk, sizeof vk);
    if (rc == HM_ENOENT) {
        rc = 0;
        goto out;
    }
    if (rc != 0)
        goto out;
    const void *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
    if (rc != 0)
        goto out;
    uint8_t got[HM_META_OBJECT_ID_BYTES];
    if (hm_meta_versions_key_parse(k, kl, got, stamp) != 0) {
        rc = HM_ECORRUPT;
        goto out;
    }
    if (memcmp(got, oid, sizeof got) != 0)
        goto out;
    rc = sm_unpack(&hm__object_version__descriptor, v, vl, (ProtobufCMessage **)out);
out:
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

/* The version of oid whose version_id is vid: *out NULL when none. */
static int sm_version_find(sm_ctx *cx, const uint8_t *oid, const char *vid,
                           Hm__ObjectVersion **out, uint64_t *stamp_out)
{
    *out = NULL;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_VERSIONS, &cur);
    if (rc != 0)
        return rc;
    uint8_t vk[HM_META_VERSIONS_KEY_BYTES];
    hm_meta_versions_key(oid, UINT64_MAX, vk);
    for (rc = cx->env->ops->kv_cursor_seek(cur, vk, sizeof vk); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (kl != HM_META_VERSIONS_KEY_BYTES || memcmp(k, oid, HM_META_OBJECT_ID_BYTES) != 0)
            break;
        Hm__ObjectVersion *ver = NULL;
        rc = sm_unpack(&hm__object_version__descriptor, v, vl, (ProtobufCMessage **)&ver);
        if (rc != 0)
            break;
        if (ver->version_id != NULL && strcmp(ver->version_id, vid) == 0) {
            uint8_t got[HM_META_OBJECT_ID_BYTES];
            (void)hm_meta_versions_key_parse(k, kl, got, stamp_out);
            *out = ver;
            break;
        }
        hm__object_version__free_unpacked(ver, NULL);
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

bool sm_key_ok(const char *key)
{
    size_t n = key != NULL ? strlen(key) : 0;
    return n >= 1 && n <= HM_KEY_BYTES_MAX;
}

void sm_put_release(sm_put *p)
{
    if (p->cur != NULL)
        hm__object_version__free_unpacked(p->cur, NULL);
    p->cur = NULL;
    sm_name_release(&p->n);
}

/* Read-only half of a write of ver at key in bucket b: find the name and
 * the current version, check the object id and cond.  A rejection lands in
 * resp->err (return 0); p must be released either way. */
int sm_put_check(sm_ctx *cx, const Hm__BucketRecord *b, const char *key,
                        const Hm__ObjectVersion *ver, const Hm__WriteCondition *cond,
                        sm_put *p, Hm__MetaResponse *resp)
{
    p->n.list = NULL;
    p->cur = NULL;
    p->oid = NULL;
    int rc = sm_name_find(cx, b->bucket_id, key, &p->n);
    if (rc != 0)
        return rc;
    if (p->n.pos >= 0) {
        p->oid = p->n.list->entries[p->n.pos]->object_id.data;
        rc = sm_version_newest(cx, p->oid, &p->cur, &p->cur_stamp);
        if (rc != 0)
            return rc;
    } else {
        if (!ver->has_object_id || ver->object_id.len != HM_META_OBJECT_ID_BYTES)
            return sm_reject(resp, HM_EINVAL, "object id must be 16 bytes");
        p->oid = ver->object_id.data;
    }
    /* Conditions hold at apply time, atomically with the write (RFC 7232
     * semantics as S3 applies them to PUT). */
    bool live = p->cur != NULL && !p->cur->delete_marker;
    if (cond != NULL && cond->has_if_none_match_any && cond->if_none_match_any && live)
        return sm_reject(resp, HM_EPRECOND, "If-None-Match: object exists");
    if (cond != NULL && cond->if_match_etag != NULL &&
        (!live || p->cur->etag == NULL || strcmp(p->cur->etag, cond->if_match_etag) != 0))
        return sm_reject(resp, HM_EPRECOND, "If-Match: ETag differs");
    return 0;
}

/* Write half: replace the current version (its blobs to gc after the new
 * version's mtime + grace), store ver, add the name, answer with the
 * written version and the replaced one. */
int sm_put_commit(sm_ctx *cx, sm_put *p, const char *key, const Hm__ObjectVersion *ver,
                         int64_t grace, Hm__MetaResponse *resp)
{
    int rc;
    uint8_t *packed = NULL;
    uint8_t vk[HM_META_VERSIONS_KEY_BYTES];
    if (p->cur != NULL) {
        hm_meta_versions_key(p->oid, p->cur_stamp, vk);
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_VERSIONS, vk, sizeof vk);
        if (rc != 0)
            return rc;
        rc = sm_gc_add(cx, p->cur->blobs, p->cur->n_blobs, sm_after(cx, ver->mtime_ms, grace));
        if (rc != 0)
            return rc;
    }
    Hm__ObjectVersion v = *ver;
    v.has_format_version = true;
    v.format_version = HM_FORMAT_VERSION;
    v.has_object_id = true;
    v.object_id.data = (uint8_t *)p->oid;
    v.object_id.len = HM_META_OBJECT_ID_BYTES;
    v.version_id = (char *)"null";
    v.key = (char *)key;
    size_t len = protobuf_c_message_get_packed_size(&v.base);
    packed = malloc(len > 0 ? len : 1);
    if (packed == NULL)
        return HM_ENOMEM;
    protobuf_c_message_pack(&v.base, packed);
    hm_meta_versions_key(p->oid, cx->index, vk);
    rc = cx->env->ops->kv_put(cx->txn, HM_KV_VERSIONS, vk, sizeof vk, packed, len);
    if (rc != 0)
        goto out;
    if (p->n.pos < 0) {
        Hm__NameEntry e = HM__NAME_ENTRY__INIT;
        e.key = (char *)key;
        e.has_object_id = true;
        e.object_id.data = (uint8_t *)p->oid;
        e.object_id.len = HM_META_OBJECT_ID_BYTES;
        rc = sm_name_write(cx, &p->n, &e, -1);
        if (rc != 0)
            goto out;
    }
    Hm__ObjectVersion *written = hm__object_version__unpack(NULL, len, packed);
    if (written == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    sm_strip_inline(written);
    resp->result_case = HM__META_RESPONSE__RESULT_VERSION;
    resp->version = written;
    if (p->cur != NULL) {
        sm_strip_inline(p->cur);
        resp->replaced = p->cur;
        p->cur = NULL;
    }
out:
    free(packed);
    return rc;
}

int sm_object_put(sm_ctx *cx, const Hm__ObjectPut *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->bucket == NULL || c->version == NULL)
        return sm_reject(resp, HM_EINVAL, "object put needs bucket, key and version");
    if (!sm_key_ok(c->key))
        return sm_reject(resp, HM_EINVAL, "object key must be 1..1024 bytes");
    Hm__BucketRecord *b = NULL;
    sm_put p = {.n.list = NULL};
    int rc = sm_bucket_load(cx, c->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_put_check(cx, b, c->key, c->version, c->cond, &p, resp);
    if (rc != 0 || resp->err != 0)
        goto out;
    if (c->has_intent_id) {
        /* A retired intent (its tombstone) counts as none: a late copy of
         * this ObjectPut must not apply twice. */
        rc = sm_intent_check(cx, &c->intent_id, resp);
        if (rc != 0 || resp->err != 0)
            goto out;
    }
    rc = sm_repair_check(cx, c->repairs, c->n_repairs, c->version->blobs,
                         c->version->n_blobs, resp);
    if (rc != 0 || resp->err != 0)
        goto out;

    /* ---- every check passed: write */
    if (c->has_intent_id) {
        rc = sm_intent_take(cx, c->intent_id.data, c->intent_id.len, NULL);
        if (rc != 0)
            goto out;
    }
    rc = sm_put_commit(cx, &p, c->key, c->version,
                       c->has_gc_grace_ms ? c->gc_grace_ms : HM_GC_GRACE_MS, resp);
    /* the repair work of a degraded write commits with its version */
    if (rc == 0)
        rc = sm_repair_add(cx, c->repairs, c->n_repairs, c->version->blobs,
                           c->version->n_blobs);
out:
    sm_put_release(&p);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

/* Delete the versions of oid (only the one named vid when vid != NULL);
 * the newest one removed is handed back in *removed. */
static int sm_versions_delete(sm_ctx *cx, const uint8_t *oid, const char *vid,
                              int64_t not_before_ms, Hm__ObjectVersion **removed,
                              size_t *left)
{
    *removed = NULL;
    *left = 0;
    uint64_t stamps[64];
    size_t n_stamps = 0;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_VERSIONS, &cur);
    if (rc != 0)
        return rc;
    uint8_t vk[HM_META_VERSIONS_KEY_BYTES];
    hm_meta_versions_key(oid, UINT64_MAX, vk);
    /* Collect first, delete after the cursor closes: rows are not deleted
     * under a live cursor.  An unversioned object has one version; the
     * bound only limits one command's work, the rest stay for a retry. */
    for (rc = cx->env->ops->kv_cursor_seek(cur, vk, sizeof vk); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        uint8_t got[HM_META_OBJECT_ID_BYTES];
        uint64_t stamp = 0;
        if (hm_meta_versions_key_parse(k, kl, got, &stamp) != 0 ||
            memcmp(got, oid, sizeof got) != 0)
            break;
        Hm__ObjectVersion *ver = NULL;
        rc = sm_unpack(&hm__object_version__descriptor, v, vl, (ProtobufCMessage **)&ver);
        if (rc != 0)
            break;
        bool match = vid == NULL || (ver->version_id != NULL && strcmp(ver->version_id, vid) == 0);
        if (match && n_stamps < sizeof stamps / sizeof stamps[0]) {
            stamps[n_stamps++] = stamp;
            rc = sm_gc_add(cx, ver->blobs, ver->n_blobs, not_before_ms);
            if (rc == 0 && *removed == NULL) {
                *removed = ver;
                ver = NULL;
            }
        } else {
            (*left)++;
        }
        if (ver != NULL)
            hm__object_version__free_unpacked(ver, NULL);
        if (rc != 0)
            break;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    for (size_t i = 0; rc == 0 && i < n_stamps; i++) {
        hm_meta_versions_key(oid, stamps[i], vk);
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_VERSIONS, vk, sizeof vk);
    }
    return rc;
}

int sm_object_delete(sm_ctx *cx, const Hm__ObjectDelete *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->bucket == NULL)
        return sm_reject(resp, HM_EINVAL, "object delete needs bucket and key");
    if (!sm_key_ok(c->key))
        return sm_reject(resp, HM_EINVAL, "object key must be 1..1024 bytes");
    Hm__BucketRecord *b = NULL;
    sm_name n = {.list = NULL};
    Hm__ObjectVersion *removed = NULL;
    int rc = sm_bucket_load(cx, c->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_name_find(cx, b->bucket_id, c->key, &n);
    if (rc != 0 || n.pos < 0)
        goto out; /* S3 DELETE of an absent key succeeds */
    int64_t grace = c->has_gc_grace_ms ? c->gc_grace_ms : HM_GC_GRACE_MS;
    size_t left = 0;
    rc = sm_versions_delete(cx, n.list->entries[n.pos]->object_id.data, c->version_id,
                            sm_after(cx, c->now_ms, grace), &removed, &left);
    if (rc != 0)
        goto out;
    if (left == 0) {
        rc = sm_name_write(cx, &n, NULL, n.pos);
        if (rc != 0)
            goto out;
    }
    if (removed != NULL) {
        sm_strip_inline(removed);
        resp->replaced = removed;
        removed = NULL;
    }
out:
    if (removed != NULL)
        hm__object_version__free_unpacked(removed, NULL);
    sm_name_release(&n);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

/* ObjectSetTags (AWS "PutObjectTagging" / "DeleteObjectTagging"): the tag
 * set of one version is rewritten at its own versions key, so the version
 * keeps its stamp, ETag and mtime and no blob changes hands. */
int sm_object_set_tags(sm_ctx *cx, const Hm__ObjectSetTags *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->bucket == NULL)
        return sm_reject(resp, HM_EINVAL, "set tags needs bucket and key");
    if (!sm_key_ok(c->key))
        return sm_reject(resp, HM_ENOKEY, NULL);
    if (c->n_tags > HM_TAGS_MAX)
        return sm_reject(resp, HM_EINVAL, "at most 10 tags");
    for (size_t i = 0; i < c->n_tags; i++) {
        const Hm__KeyValue *t = c->tags[i];
        if (t == NULL || t->key == NULL || t->value == NULL ||
            strlen(t->key) > HM_TAG_KEY_BYTES_MAX || strlen(t->value) > HM_TAG_VALUE_BYTES_MAX)
            return sm_reject(resp, HM_EINVAL, "tag key or value too long");
    }
    Hm__BucketRecord *b = NULL;
    sm_name n = {.list = NULL};
    Hm__ObjectVersion *v = NULL;
    uint8_t *packed = NULL;
    int rc = sm_bucket_load(cx, c->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_name_find(cx, b->bucket_id, c->key, &n);
    if (rc != 0)
        goto out;
    if (n.pos < 0) {
        rc = sm_reject(resp, HM_ENOKEY, NULL);
        goto out;
    }
    const uint8_t *oid = n.list->entries[n.pos]->object_id.data;
    uint64_t stamp = 0;
    /* "null" names the current version of an unversioned object. */
    bool newest = c->version_id == NULL || strcmp(c->version_id, "null") == 0;
    rc = newest ? sm_version_newest(cx, oid, &v, &stamp)
                : sm_version_find(cx, oid, c->version_id, &v, &stamp);
    if (rc != 0)
        goto out;
    if (v == NULL || v->delete_marker ||
        (c->version_id != NULL && (v->version_id == NULL ||
                                   strcmp(v->version_id, c->version_id) != 0))) {
        rc = sm_reject(resp, HM_ENOKEY, NULL);
        goto out;
    }
    Hm__ObjectVersion nv = *v; /* keeps fields a newer version added */
    nv.n_tags = c->n_tags;
    nv.tags = c->tags;
    size_t len = protobuf_c_message_get_packed_size(&nv.base);
    packed = malloc(len > 0 ? len : 1);
    if (packed == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    protobuf_c_message_pack(&nv.base, packed);
    uint8_t vk[HM_META_VERSIONS_KEY_BYTES];
    hm_meta_versions_key(oid, stamp, vk);
    rc = cx->env->ops->kv_put(cx->txn, HM_KV_VERSIONS, vk, sizeof vk, packed, len);
    if (rc != 0)
        goto out;
    Hm__ObjectVersion *written = hm__object_version__unpack(NULL, len, packed);
    if (written == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    sm_strip_inline(written);
    resp->result_case = HM__META_RESPONSE__RESULT_VERSION;
    resp->version = written;
out:
    free(packed);
    if (v != NULL)
        hm__object_version__free_unpacked(v, NULL);
    sm_name_release(&n);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

int sm_q_object_get(sm_ctx *cx, const Hm__ObjectGet *q, Hm__MetaResponse *resp)
{
    if (q == NULL || q->bucket == NULL)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (!sm_key_ok(q->key))
        return sm_reject(resp, HM_ENOKEY, NULL);
    Hm__BucketRecord *b = NULL;
    sm_name n = {.list = NULL};
    Hm__ObjectVersion *v = NULL;
    int rc = sm_bucket_load(cx, q->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_name_find(cx, b->bucket_id, q->key, &n);
    if (rc != 0)
        goto out;
    if (n.pos < 0) {
        rc = sm_reject(resp, HM_ENOKEY, NULL);
        goto out;
    }
    const uint8_t *oid = n.list->entries[n.pos]->object_id.data;
    uint64_t stamp = 0;
    rc = q->version_id != NULL ? sm_version_find(cx, oid, q->version_id, &v, &stamp)
                               : sm_version_newest(cx, oid, &v, &stamp);
    if (rc != 0)
        goto out;
    if (v == NULL || (q->version_id == NULL && v->delete_marker)) {
        rc = sm_reject(resp, HM_ENOKEY, NULL);
        goto out;
    }
    resp->result_case = HM__META_RESPONSE__RESULT_VERSION;
    resp->version = v;
    v = NULL;
out:
    if (v != NULL)
        hm__object_version__free_unpacked(v, NULL);
    sm_name_release(&n);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}
