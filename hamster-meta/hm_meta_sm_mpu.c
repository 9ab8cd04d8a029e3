/* hm_meta_sm_mpu.c - multipart uploads in the metadata state machine:
 * UploadCreate, UploadPartPut, UploadComplete (with its retry rule),
 * UploadAbort, their index rows, and the PartList, UploadList and
 * UploadExpiryScan queries. */
#include "hm_meta_sm_int.h"

/* The age row of upload uid of bucket bid, created at clock t. */
static size_t sm_ix_upload_age(uint8_t *k, int64_t t, uint64_t bid, const char *uid)
{
    size_t ul = strlen(uid);
    k[0] = SM_IX_UPLOAD_AGE;
    sm_put_time(k + 1, t);
    hm_meta_put_u64be(k + 9, bid);
    memcpy(k + 17, uid, ul);
    return 17 + ul;
}

/* The first SM_UPLOAD_KEY_ENC_BYTES of key's encoding, after kind and
 * bucket id: the part of an upload-key row shared by every upload of keys
 * that agree that far (a "group"). */
static int sm_ix_upload_key_head(uint8_t *k, uint64_t bid, const char *key, size_t *len)
{
    uint8_t enc[HM_META_KEY_ENC_BYTES_MAX];
    size_t el = 0;
    int rc = hm_meta_key_encode(key, strlen(key), enc, sizeof enc, &el);
    if (rc != 0)
        return rc;
    if (el > SM_UPLOAD_KEY_ENC_BYTES)
        el = SM_UPLOAD_KEY_ENC_BYTES;
    k[0] = SM_IX_UPLOAD_KEY;
    hm_meta_put_u64be(k + 1, bid);
    memcpy(k + 9, enc, el);
    *len = 9 + el;
    return 0;
}

static int sm_ix_upload_key(uint8_t *k, uint64_t bid, const char *key, const char *uid,
                            size_t *len)
{
    size_t ul = strlen(uid), hl = 0;
    int rc = sm_ix_upload_key_head(k, bid, key, &hl);
    if (rc != 0)
        return rc;
    memcpy(k + hl, uid, ul);
    k[hl + ul] = (uint8_t)ul;
    *len = hl + ul + 1;
    return 0;
}

/* The committed clock an upload was created at (its initiation time when
 * it was created before the clock existed). */
static int64_t sm_upload_born(const Hm__UploadRecord *u)
{
    return u->has_created_clock_ms ? u->created_clock_ms : u->initiated_ms;
}

/* Write (put) or remove the two index rows of upload u of bucket bid. */
int sm_ix_upload(sm_ctx *cx, uint64_t bid, const Hm__UploadRecord *u, bool put)
{
    if (u->upload_id == NULL || u->key == NULL || strlen(u->upload_id) > HM_UPLOAD_ID_BYTES_MAX)
        return HM_ECORRUPT;
    uint8_t k[SM_IX_KEY_BYTES_MAX];
    size_t kl = sm_ix_upload_age(k, sm_upload_born(u), bid, u->upload_id);
    int rc = put ? cx->env->ops->kv_put(cx->txn, HM_KV_INDEX, k, kl, "", 0)
                 : cx->env->ops->kv_del(cx->txn, HM_KV_INDEX, k, kl);
    if (rc != 0 && !(rc == HM_ENOENT && !put))
        return rc;
    rc = sm_ix_upload_key(k, bid, u->key, u->upload_id, &kl);
    if (rc != 0)
        return rc;
    rc = put ? cx->env->ops->kv_put(cx->txn, HM_KV_INDEX, k, kl, "", 0)
             : cx->env->ops->kv_del(cx->txn, HM_KV_INDEX, k, kl);
    return rc == HM_ENOENT && !put ? 0 : rc;
}

static bool sm_part_number_ok(uint32_t n)
{
    return n >= 1 && n <= HM_PARTS_MAX;
}

static bool sm_upload_id_ok(const char *uid)
{
    size_t n = uid != NULL ? strnlen(uid, HM_UPLOAD_ID_BYTES_MAX + 1) : 0;
    return n >= 1 && n <= HM_UPLOAD_ID_BYTES_MAX;
}

/* Load the upload uid of bucket bid; HM_ENOENT when absent or the id is
 * malformed (no such upload can exist). */
static int sm_upload_load(sm_ctx *cx, uint64_t bid, const char *uid, Hm__UploadRecord **out)
{
    uint8_t k[HM_META_UPLOADS_KEY_BYTES_MAX];
    size_t kl = 0;
    if (hm_meta_uploads_key(bid, uid, k, &kl) != 0)
        return HM_ENOENT;
    return sm_get_msg(cx, HM_KV_UPLOADS, k, kl, &hm__upload_record__descriptor,
                      (ProtobufCMessage **)out);
}

/* The parts of one upload, in part-number order. */
typedef struct sm_parts {
    Hm__PartRecord **v;
    size_t n;
    bool more;            /* parts beyond max exist */
} sm_parts;

static void sm_parts_release(sm_parts *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        hm__part_record__free_unpacked(ps->v[i], NULL);
    free(ps->v);
    ps->v = NULL;
    ps->n = 0;
}

/* Collect the parts of (bid, uid) numbered above after, at most max of
 * them (max <= HM_PARTS_MAX, so the array is bounded); ps->more tells
 * whether any further part exists. */
static int sm_parts_collect(sm_ctx *cx, uint64_t bid, const char *uid, uint32_t after,
                            uint32_t max, sm_parts *ps)
{
    ps->v = NULL;
    ps->n = 0;
    ps->more = false;
    if (after >= HM_PARTS_MAX)
        return 0;
    uint8_t pk[HM_META_PARTS_KEY_BYTES_MAX];
    size_t pkl = 0;
    int rc = hm_meta_parts_key(bid, uid, after + 1, pk, &pkl);
    if (rc != 0)
        return rc;
    size_t plen = pkl - 4; /* the upload's prefix */
    if (max > 0) {
        ps->v = calloc(max, sizeof *ps->v);
        if (ps->v == NULL)
            return HM_ENOMEM;
    }
    hm_kv_cursor *cur = NULL;
    rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_PARTS, &cur);
    if (rc != 0)
        return rc;
    for (rc = cx->env->ops->kv_cursor_seek(cur, pk, pkl); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (kl != pkl || memcmp(k, pk, plen) != 0)
            break;
        if (ps->n == max) {
            ps->more = true;
            break;
        }
        Hm__PartRecord *pr = NULL;
        rc = sm_unpack(&hm__part_record__descriptor, v, vl, (ProtobufCMessage **)&pr);
        if (rc != 0)
            break;
        const uint8_t *kb = (const uint8_t *)k + plen;
        uint32_t pn = (uint32_t)kb[0] << 24 | (uint32_t)kb[1] << 16 | (uint32_t)kb[2] << 8 | kb[3];
        if (!pr->has_part_number || pr->part_number != pn) {
            hm__part_record__free_unpacked(pr, NULL);
            rc = HM_ECORRUPT;
            break;
        }
        ps->v[ps->n++] = pr;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

/* Delete the rows of ps (every part of an upload) and the upload row;
 * the blobs of parts not marked in keep (NULL: none kept) go to gc after
 * not_before_ms. */
static int sm_upload_drop(sm_ctx *cx, uint64_t bid, const Hm__UploadRecord *u,
                          const sm_parts *ps, const bool *keep, int64_t not_before_ms)
{
    const char *uid = u->upload_id;
    Hm__Blob **blobs = NULL;
    if (ps->n > 0) {
        blobs = malloc(ps->n * sizeof *blobs);
        if (blobs == NULL)
            return HM_ENOMEM;
    }
    size_t nb = 0;
    int rc = 0;
    for (size_t i = 0; i < ps->n; i++) {
        uint8_t pk[HM_META_PARTS_KEY_BYTES_MAX];
        size_t pkl = 0;
        rc = hm_meta_parts_key(bid, uid, ps->v[i]->part_number, pk, &pkl);
        if (rc == 0)
            rc = cx->env->ops->kv_del(cx->txn, HM_KV_PARTS, pk, pkl);
        if (rc != 0)
            goto out;
        if ((keep == NULL || !keep[i]) && ps->v[i]->blob != NULL)
            blobs[nb++] = ps->v[i]->blob;
    }
    rc = sm_gc_add(cx, blobs, nb, not_before_ms);
    if (rc != 0)
        goto out;
    uint8_t uk[HM_META_UPLOADS_KEY_BYTES_MAX];
    size_t ukl = 0;
    rc = hm_meta_uploads_key(bid, uid, uk, &ukl);
    if (rc == 0)
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_UPLOADS, uk, ukl);
    if (rc == 0)
        rc = sm_ix_upload(cx, bid, u, false);
out:
    free(blobs);
    return rc;
}

/* Drop every upload of bucket bid (BucketDelete), part blobs to gc at
 * not_before_ms.  Upload ids are collected first: rows are not deleted
 * under a live cursor. */
int sm_bucket_uploads_drop(sm_ctx *cx, uint64_t bid, int64_t not_before_ms)
{
    uint8_t bp[HM_META_BUCKET_ID_BYTES];
    hm_meta_bucket_prefix(bid, bp);
    char **ids = NULL;
    size_t n = 0, cap = 0;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_UPLOADS, &cur);
    if (rc != 0)
        return rc;
    for (rc = cx->env->ops->kv_cursor_seek(cur, bp, sizeof bp); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (kl <= sizeof bp || memcmp(k, bp, sizeof bp) != 0)
            break;
        if (kl - sizeof bp > HM_UPLOAD_ID_BYTES_MAX) {
            rc = HM_ECORRUPT;
            break;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            char **nids = realloc(ids, ncap * sizeof *nids);
            if (nids == NULL) {
                rc = HM_ENOMEM;
                break;
            }
            ids = nids;
            cap = ncap;
        }
        ids[n] = strndup((const char *)k + sizeof bp, kl - sizeof bp);
        if (ids[n] == NULL) {
            rc = HM_ENOMEM;
            break;
        }
        n++;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sm_parts ps = {.v = NULL};
        Hm__UploadRecord *u = NULL;
        rc = sm_upload_load(cx, bid, ids[i], &u);
        if (rc == 0 && (u->upload_id == NULL || u->key == NULL))
            rc = HM_ECORRUPT;
        if (rc == 0)
            rc = sm_parts_collect(cx, bid, ids[i], 0, HM_PARTS_MAX, &ps);
        if (rc == 0)
            rc = sm_upload_drop(cx, bid, u, &ps, NULL, not_before_ms);
        sm_parts_release(&ps);
        if (u != NULL)
            hm__upload_record__free_unpacked(u, NULL);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

/* UploadCreate (AWS "CreateMultipartUpload"): the proposer chose the id;
 * a clash (HM_EEXIST) makes it choose again. */
int sm_upload_create(sm_ctx *cx, const Hm__UploadCreate *c, Hm__MetaResponse *resp)
{
    const Hm__UploadRecord *u = c != NULL ? c->upload : NULL;
    if (u == NULL || u->bucket == NULL)
        return sm_reject(resp, HM_EINVAL, "upload create needs bucket, key and id");
    if (!sm_key_ok(u->key))
        return sm_reject(resp, HM_EINVAL, "object key must be 1..1024 bytes");
    if (!sm_upload_id_ok(u->upload_id))
        return sm_reject(resp, HM_EINVAL, "upload id must be 1..64 bytes");
    Hm__BucketRecord *b = NULL;
    Hm__UploadRecord *old = NULL;
    int rc = sm_bucket_load(cx, u->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_upload_load(cx, b->bucket_id, u->upload_id, &old);
    if (rc == 0) {
        rc = sm_reject(resp, HM_EEXIST, "upload id in use");
        goto out;
    }
    if (rc != HM_ENOENT)
        goto out;
    Hm__UploadRecord w = *u;
    w.has_format_version = true;
    w.format_version = HM_FORMAT_VERSION;
    /* Expiry counts from the committed clock, never the proposer's. */
    w.has_created_clock_ms = true;
    w.created_clock_ms = cx->has_clock ? cx->clock : u->initiated_ms;
    uint8_t k[HM_META_UPLOADS_KEY_BYTES_MAX];
    size_t kl = 0;
    rc = hm_meta_uploads_key(b->bucket_id, u->upload_id, k, &kl);
    if (rc == 0)
        rc = sm_put_msg(cx, HM_KV_UPLOADS, k, kl, &w.base);
    if (rc == 0)
        rc = sm_ix_upload(cx, b->bucket_id, &w, true);
    if (rc != 0)
        goto out;
    rc = sm_upload_load(cx, b->bucket_id, u->upload_id, &old);
    if (rc != 0)
        goto out;
    resp->result_case = HM__META_RESPONSE__RESULT_UPLOAD;
    resp->upload = old;
    old = NULL;
out:
    if (old != NULL)
        hm__upload_record__free_unpacked(old, NULL);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

/* UploadPartPut (AWS "UploadPart"): store or replace one part.  A replaced
 * part's blob is collected after the new part's mtime + grace. */
int sm_upload_part_put(sm_ctx *cx, const Hm__UploadPartPut *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->bucket == NULL || c->part == NULL)
        return sm_reject(resp, HM_EINVAL, "part put needs bucket, upload and part");
    const Hm__PartRecord *part = c->part;
    if (!part->has_part_number || !sm_part_number_ok(part->part_number))
        return sm_reject(resp, HM_EINVAL, "part number must be 1..10000");
    if (part->blob == NULL && !part->has_inline_data)
        return sm_reject(resp, HM_EINVAL, "part needs a blob or inline data");
    if (part->blob != NULL && part->blob->blob_id.len != SM_BLOB_ID_BYTES)
        return sm_reject(resp, HM_EINVAL, "part blob id must be 16 bytes");
    if (part->has_inline_data && part->inline_data.len > HM_INLINE_BYTES_MAX)
        return sm_reject(resp, HM_ETOOBIG, "inline part too large");
    Hm__BucketRecord *b = NULL;
    Hm__UploadRecord *u = NULL;
    Hm__PartRecord *old = NULL;
    int rc = sm_bucket_load(cx, c->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_upload_load(cx, b->bucket_id, c->upload_id, &u);
    if (rc == HM_ENOENT) {
        rc = sm_reject(resp, HM_ENOUPLOAD, NULL);
        goto out;
    }
    if (rc != 0)
        goto out;
    if (c->has_intent_id) {
        rc = sm_intent_check(cx, &c->intent_id, resp);
        if (rc != 0 || resp->err != 0)
            goto out;
    }
    uint8_t pk[HM_META_PARTS_KEY_BYTES_MAX];
    size_t pkl = 0;
    rc = hm_meta_parts_key(b->bucket_id, c->upload_id, part->part_number, pk, &pkl);
    if (rc != 0)
        goto out;
    rc = sm_get_msg(cx, HM_KV_PARTS, pk, pkl, &hm__part_record__descriptor,
                    (ProtobufCMessage **)&old);
    if (rc != 0 && rc != HM_ENOENT)
        goto out;
    Hm__Blob *pblob[1] = {part->blob};
    rc = sm_repair_check(cx, c->repairs, c->n_repairs, pblob, part->blob != NULL ? 1 : 0, resp);
    if (rc != 0 || resp->err != 0)
        goto out;

    /* ---- every check passed: write */
    if (c->has_intent_id) {
        rc = sm_intent_take(cx, c->intent_id.data, c->intent_id.len, NULL);
        if (rc != 0)
            goto out;
    }
    if (old != NULL && old->blob != NULL) {
        int64_t grace = c->has_gc_grace_ms ? c->gc_grace_ms : HM_GC_GRACE_MS;
        rc = sm_gc_add(cx, &old->blob, 1, sm_after(cx, part->mtime_ms, grace));
        if (rc != 0)
            goto out;
    }
    Hm__PartRecord w = *part;
    w.has_format_version = true;
    w.format_version = HM_FORMAT_VERSION;
    rc = sm_put_msg(cx, HM_KV_PARTS, pk, pkl, &w.base);
    if (rc == 0) /* the repair work of a degraded part commits with it */
        rc = sm_repair_add(cx, c->repairs, c->n_repairs, pblob, part->blob != NULL ? 1 : 0);
    if (rc != 0)
        goto out;
    resp->result_case = HM__META_RESPONSE__RESULT_UPLOAD;
    resp->upload = u;
    u = NULL;
out:
    if (old != NULL)
        hm__part_record__free_unpacked(old, NULL);
    if (u != NULL)
        hm__upload_record__free_unpacked(u, NULL);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

static bool sm_blob_same(const Hm__Blob *a, const Hm__Blob *b)
{
    return a != NULL && b != NULL && a->blob_id.len == b->blob_id.len &&
           a->blob_id.len > 0 && memcmp(a->blob_id.data, b->blob_id.data, a->blob_id.len) == 0;
}

/* A Complete whose upload is gone: S3 answers a retried Complete with
 * success, so when the current version of the key is the one this command
 * would have written (same ETag, same blobs in order) answer with it. */
static int sm_upload_complete_retry(sm_ctx *cx, const Hm__BucketRecord *b,
                                    const Hm__UploadComplete *c, Hm__MetaResponse *resp)
{
    sm_name n = {.list = NULL};
    Hm__ObjectVersion *v = NULL;
    uint64_t stamp = 0;
    int rc = sm_name_find(cx, b->bucket_id, c->key, &n);
    if (rc != 0)
        return rc;
    if (n.pos >= 0)
        rc = sm_version_newest(cx, n.list->entries[n.pos]->object_id.data, &v, &stamp);
    sm_name_release(&n);
    if (rc != 0)
        return rc;
    bool same = v != NULL && !v->delete_marker && v->etag != NULL &&
                c->version->etag != NULL && strcmp(v->etag, c->version->etag) == 0 &&
                v->n_blobs == c->version->n_blobs && v->n_blobs > 0;
    for (size_t i = 0; same && i < v->n_blobs; i++)
        same = sm_blob_same(v->blobs[i], c->version->blobs[i]);
    if (!same) {
        if (v != NULL)
            hm__object_version__free_unpacked(v, NULL);
        return sm_reject(resp, HM_ENOUPLOAD, NULL);
    }
    sm_strip_inline(v);
    resp->result_case = HM__META_RESPONSE__RESULT_VERSION;
    resp->version = v;
    return 0;
}

/* The index of part number pn in ps (sorted), or -1. */
static long sm_parts_find(const sm_parts *ps, uint32_t pn)
{
    size_t lo = 0, hi = ps->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->v[mid]->part_number < pn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ps->n && ps->v[lo]->part_number == pn ? (long)lo : -1;
}

/* UploadComplete (AWS "CompleteMultipartUpload"). */
int sm_upload_complete(sm_ctx *cx, const Hm__UploadComplete *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->bucket == NULL || c->version == NULL)
        return sm_reject(resp, HM_EINVAL, "complete needs bucket, key, upload and version");
    if (!sm_key_ok(c->key))
        return sm_reject(resp, HM_EINVAL, "object key must be 1..1024 bytes");
    const Hm__ObjectVersion *ver = c->version;
    size_t np = c->n_part_numbers;
    if (np == 0 || np > HM_PARTS_MAX || ver->n_blobs != np || ver->n_part_sizes != np)
        return sm_reject(resp, HM_EINVAL, "one blob and one size per named part");
    Hm__BucketRecord *b = NULL;
    Hm__UploadRecord *u = NULL;
    sm_parts ps = {.v = NULL};
    bool *keep = NULL;
    sm_put p = {.n.list = NULL};
    int rc = sm_bucket_load(cx, c->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_upload_load(cx, b->bucket_id, c->upload_id, &u);
    if (rc == HM_ENOENT) {
        rc = sm_upload_complete_retry(cx, b, c, resp);
        goto out;
    }
    if (rc != 0)
        goto out;
    if (u->key == NULL || strcmp(u->key, c->key) != 0) {
        rc = sm_reject(resp, HM_ENOUPLOAD, "upload belongs to another key");
        goto out;
    }
    rc = sm_parts_collect(cx, b->bucket_id, c->upload_id, 0, HM_PARTS_MAX, &ps);
    if (rc != 0)
        goto out;
    keep = calloc(ps.n > 0 ? ps.n : 1, sizeof *keep);
    if (keep == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < np; i++) {
        uint32_t pn = c->part_numbers[i];
        if (i > 0 && pn <= c->part_numbers[i - 1]) {
            rc = sm_reject(resp, HM_EINVAL, "part numbers must ascend");
            goto out;
        }
        long j = sm_parts_find(&ps, pn);
        const Hm__PartRecord *pr = j >= 0 ? ps.v[j] : NULL;
        /* The proposer listed the parts before this command was ordered; a
         * part re-uploaded since then has another blob: refuse rather than
         * complete with bytes the client no longer means. */
        if (pr == NULL || !sm_blob_same(pr->blob, ver->blobs[i]) ||
            pr->size != ver->part_sizes[i] || ver->blobs[i]->size != pr->size) {
            rc = sm_reject(resp, HM_EINVAL, "InvalidPart");
            goto out;
        }
        keep[j] = true;
        sum += pr->size;
    }
    if (sum != ver->size) {
        rc = sm_reject(resp, HM_EINVAL, "size is not the sum of the parts");
        goto out;
    }
    rc = sm_put_check(cx, b, c->key, ver, c->cond, &p, resp);
    if (rc != 0 || resp->err != 0)
        goto out;

    /* ---- every check passed: write */
    int64_t grace = c->has_gc_grace_ms ? c->gc_grace_ms : HM_GC_GRACE_MS;
    rc = sm_upload_drop(cx, b->bucket_id, u, &ps, keep,
                        sm_after(cx, ver->mtime_ms, grace));
    if (rc != 0)
        goto out;
    rc = sm_put_commit(cx, &p, c->key, ver, grace, resp);
out:
    sm_put_release(&p);
    free(keep);
    sm_parts_release(&ps);
    if (u != NULL)
        hm__upload_record__free_unpacked(u, NULL);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

/* UploadAbort (AWS "AbortMultipartUpload"): every part's blob to gc. */
int sm_upload_abort(sm_ctx *cx, const Hm__UploadAbort *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->bucket == NULL)
        return sm_reject(resp, HM_EINVAL, "abort needs bucket and upload");
    Hm__BucketRecord *b = NULL;
    Hm__UploadRecord *u = NULL;
    sm_parts ps = {.v = NULL};
    int rc = sm_bucket_load(cx, c->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_upload_load(cx, b->bucket_id, c->upload_id, &u);
    if (rc == HM_ENOENT) {
        rc = sm_reject(resp, HM_ENOUPLOAD, NULL);
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = sm_parts_collect(cx, b->bucket_id, c->upload_id, 0, HM_PARTS_MAX, &ps);
    if (rc != 0)
        goto out;
    int64_t grace = c->has_gc_grace_ms ? c->gc_grace_ms : HM_GC_GRACE_MS;
    rc = sm_upload_drop(cx, b->bucket_id, u, &ps, NULL, sm_after(cx, c->now_ms, grace));
    if (rc != 0)
        goto out;
    resp->result_case = HM__META_RESPONSE__RESULT_UPLOAD;
    resp->upload = u;
    u = NULL;
out:
    sm_parts_release(&ps);
    if (u != NULL)
        hm__upload_record__free_unpacked(u, NULL);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

/* UploadExpiryScan: uploads created at committed clock <= now_ms -
 * older_than_ms, oldest first, at most max (default and cap
 * HM_LIST_UPLOADS_MAX), without reading younger ones (the age index). */
int sm_q_upload_expiry_scan(sm_ctx *cx, const Hm__UploadExpiryScan *q,
                                   Hm__MetaResponse *resp)
{
    if (q == NULL || !q->has_older_than_ms || q->older_than_ms < 0)
        return sm_reject(resp, HM_EINVAL, "expiry scan needs older_than_ms >= 0");
    uint32_t max = q->has_max && q->max > 0 ? q->max : HM_LIST_UPLOADS_MAX;
    if (max > HM_LIST_UPLOADS_MAX)
        max = HM_LIST_UPLOADS_MAX;
    int64_t cutoff = sm_add_ms(q->now_ms, -q->older_than_ms);
    Hm__UploadListResult *r = malloc(sizeof *r);
    if (r == NULL)
        return HM_ENOMEM;
    hm__upload_list_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_UPLOADS;
    resp->uploads = r;
    r->uploads = calloc(max, sizeof *r->uploads);
    if (r->uploads == NULL)
        return HM_ENOMEM;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_INDEX, &cur);
    if (rc != 0)
        return rc;
    uint8_t first = SM_IX_UPLOAD_AGE;
    for (rc = cx->env->ops->kv_cursor_seek(cur, &first, 1); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        const uint8_t *kb = k;
        if (kl < 1 || kb[0] != SM_IX_UPLOAD_AGE || sm_get_time(kb + 1) > cutoff)
            break; /* rows sort by creation: the rest are younger */
        if (r->n_uploads == max) {
            r->has_truncated = true;
            r->truncated = true;
            break;
        }
        if (kl <= 17 || kl - 17 > HM_UPLOAD_ID_BYTES_MAX) {
            rc = HM_ECORRUPT;
            break;
        }
        char uid[HM_UPLOAD_ID_BYTES_MAX + 1];
        memcpy(uid, kb + 17, kl - 17);
        uid[kl - 17] = '\0';
        Hm__UploadRecord *u = NULL;
        rc = sm_upload_load(cx, hm_meta_get_u64be(kb + 9), uid, &u);
        if (rc == HM_ENOENT)
            rc = HM_ECORRUPT; /* an index row without its upload */
        if (rc != 0)
            break;
        r->uploads[r->n_uploads++] = u;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

/* ListParts (AWS "ListParts"): parts above part_number_marker, at most
 * max_parts (default and cap HM_LIST_PARTS_MAX), without inline bytes. */
int sm_q_part_list(sm_ctx *cx, const Hm__PartList *q, Hm__MetaResponse *resp)
{
    if (q == NULL || q->bucket == NULL)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    uint32_t max = q->has_max_parts ? q->max_parts : HM_LIST_PARTS_MAX;
    if (max > HM_LIST_PARTS_MAX)
        max = HM_LIST_PARTS_MAX;
    uint32_t after = q->has_part_number_marker ? q->part_number_marker : 0;
    Hm__BucketRecord *b = NULL;
    Hm__UploadRecord *u = NULL;
    sm_parts ps = {.v = NULL};
    int rc = sm_bucket_load(cx, q->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_upload_load(cx, b->bucket_id, q->upload_id, &u);
    if (rc == HM_ENOENT) {
        rc = sm_reject(resp, HM_ENOUPLOAD, NULL);
        goto out;
    }
    if (rc != 0)
        goto out;
    rc = sm_parts_collect(cx, b->bucket_id, q->upload_id, after, max, &ps);
    if (rc != 0)
        goto out;
    Hm__PartListResult *r = malloc(sizeof *r);
    if (r == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    hm__part_list_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_PARTS;
    resp->parts = r;
    r->upload = u;
    u = NULL;
    for (size_t i = 0; i < ps.n; i++) {
        Hm__PartRecord *pr = ps.v[i];
        if (pr->has_inline_data) {
            free(pr->inline_data.data);
            pr->inline_data.data = NULL;
            pr->inline_data.len = 0;
            pr->has_inline_data = false;
        }
    }
    r->parts = ps.v;
    r->n_parts = ps.n;
    ps.v = NULL;
    ps.n = 0;
    r->has_truncated = true;
    r->truncated = ps.more && max > 0;
    if (r->n_parts > 0) {
        r->has_next_part_number_marker = true;
        r->next_part_number_marker = r->parts[r->n_parts - 1]->part_number;
    }
out:
    sm_parts_release(&ps);
    if (u != NULL)
        hm__upload_record__free_unpacked(u, NULL);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}

/* One row of a ListMultipartUploads answer: an upload, or a common prefix
 * (rec NULL, key the prefix). */
typedef struct sm_uitem {
    char *key;
    Hm__UploadRecord *rec;
} sm_uitem;

/* Order of the answer: key bytes, then (within a key) initiation time,
 * then upload id. */
static int sm_uitem_cmp(const sm_uitem *a, const sm_uitem *b)
{
    int c = sm_cmp(a->key, strlen(a->key), b->key, strlen(b->key));
    if (c != 0 || a->rec == NULL || b->rec == NULL)
        return c;
    if (a->rec->initiated_ms != b->rec->initiated_ms)
        return a->rec->initiated_ms < b->rec->initiated_ms ? -1 : 1;
    return strcmp(a->rec->upload_id, b->rec->upload_id);
}

static void sm_uitem_free(sm_uitem *it)
{
    free(it->key);
    if (it->rec != NULL)
        hm__upload_record__free_unpacked(it->rec, NULL);
}

/* The listing being built: the lim smallest rows seen, sorted. */
typedef struct sm_ulist {
    sm_uitem *v;
    size_t n;
    size_t lim;
} sm_ulist;

/* Offer *it to the list; ownership moves in (what is not kept is freed). */
static int sm_ulist_offer(sm_ulist *l, sm_uitem *it)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sm_uitem_cmp(&l->v[mid], it) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if ((lo < l->n && it->rec == NULL && l->v[lo].rec == NULL &&
         strcmp(l->v[lo].key, it->key) == 0) || lo >= l->lim) {
        sm_uitem_free(it); /* a prefix already listed, or past the page */
        return 0;
    }
    if (l->n == l->lim) {
        sm_uitem_free(&l->v[l->n - 1]);
        l->n--;
    }
    memmove(&l->v[lo + 1], &l->v[lo], (l->n - lo) * sizeof *l->v);
    l->v[lo] = *it;
    l->n++;
    return 0;
}

/* ListMultipartUploads (AWS "ListMultipartUploads").  The walk seeks the
 * upload-key index to max(prefix, key_marker) and keeps the max_uploads + 1
 * smallest rows: memory is bounded by the page and the work by the page
 * plus the uploads it skips inside the prefix (those of key_marker before
 * upload_id_marker, and the keys a common prefix rolls up), not by the
 * bucket's uploads.  Markers: rows whose key is above key_marker, plus
 * uploads of key_marker itself that come after upload_id_marker in the
 * answer's order. */
int sm_q_upload_list(sm_ctx *cx, const Hm__UploadList *q, Hm__MetaResponse *resp)
{
    if (q == NULL || q->bucket == NULL)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    const char *prefix = q->prefix != NULL ? q->prefix : "";
    const char *delim = q->delimiter != NULL ? q->delimiter : "";
    const char *km = q->key_marker != NULL && q->key_marker[0] != '\0' ? q->key_marker : NULL;
    const char *um = km != NULL && q->upload_id_marker != NULL && q->upload_id_marker[0] != '\0'
                         ? q->upload_id_marker
                         : NULL;
    size_t plen = strlen(prefix), dlen = strlen(delim);
    if (plen > HM_KEY_BYTES_MAX || dlen > HM_KEY_BYTES_MAX ||
        (km != NULL && strlen(km) > HM_KEY_BYTES_MAX) ||
        (um != NULL && strlen(um) > HM_UPLOAD_ID_BYTES_MAX))
        return sm_reject(resp, HM_EINVAL, "prefix, delimiter or marker too long");
    uint32_t max = q->has_max_uploads ? q->max_uploads : HM_LIST_UPLOADS_MAX;
    if (max > HM_LIST_UPLOADS_MAX)
        max = HM_LIST_UPLOADS_MAX;
    Hm__BucketRecord *b = NULL;
    Hm__UploadRecord *mrec = NULL;
    hm_kv_cursor *cur = NULL;
    sm_ulist l = {.lim = (size_t)max + 1};
    int rc = sm_bucket_load(cx, q->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    Hm__UploadListResult *r = malloc(sizeof *r);
    if (r == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    hm__upload_list_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_UPLOADS;
    resp->uploads = r;
    r->has_truncated = true;
    r->truncated = false;
    if (max == 0)
        goto out;
    l.v = calloc(l.lim, sizeof *l.v);
    if (l.v == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    /* The marker upload's place in the order, when it still exists. */
    sm_uitem mark = {.key = (char *)km, .rec = NULL};
    if (um != NULL) {
        rc = sm_upload_load(cx, b->bucket_id, um, &mrec);
        if (rc != 0 && rc != HM_ENOENT)
            goto out;
        rc = 0;
        if (mrec != NULL && mrec->key != NULL && strcmp(mrec->key, km) == 0)
            mark.rec = mrec;
    }
    /* Walk the key index from max(prefix, key_marker).  Rows sort by the
     * first SM_UPLOAD_KEY_ENC_BYTES of the key's encoding, then upload id;
     * keys agreeing that far form a group in no useful order, so the walk
     * offers whole groups to the sorted page and stops at a group boundary
     * once the page is full (every later group's keys sort after every key
     * seen) or once a whole group lies past the prefix. */
    const char *lo = km != NULL && strcmp(km, prefix) > 0 ? km : prefix;
    uint8_t head[SM_IX_KEY_BYTES_MAX], seek[SM_IX_KEY_BYTES_MAX];
    size_t head_len = 0, seek_len = 0;
    rc = sm_ix_upload_key_head(seek, b->bucket_id, lo, &seek_len);
    if (rc != 0)
        goto out;
    if (seek_len > 9 && seek[seek_len - 1] == 0)
        seek_len--; /* lo's terminator: keys that extend lo sort after it */
    rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_INDEX, &cur);
    if (rc != 0)
        goto out;
    bool group_in_range = false;
    uint8_t skip[SM_IX_KEY_BYTES_MAX];
    size_t skip_len = 0; /* > 0: seek past a rolled-up common prefix */
    for (rc = cx->env->ops->kv_cursor_seek(cur, seek, seek_len); rc == 0;
         rc = skip_len > 0 ? cx->env->ops->kv_cursor_seek(cur, skip, skip_len)
                           : cx->env->ops->kv_cursor_next(cur)) {
        skip_len = 0;
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        const uint8_t *kb = k;
        if (kl < 9 || kb[0] != SM_IX_UPLOAD_KEY || hm_meta_get_u64be(kb + 1) != b->bucket_id)
            break;
        size_t ul = kb[kl - 1];
        if (ul == 0 || ul > HM_UPLOAD_ID_BYTES_MAX || kl < 10 + ul) {
            rc = HM_ECORRUPT;
            break;
        }
        char uid[HM_UPLOAD_ID_BYTES_MAX + 1];
        memcpy(uid, kb + kl - 1 - ul, ul);
        uid[ul] = '\0';
        size_t this_head = kl - 1 - ul;
        bool new_group = this_head != head_len || memcmp(head, kb, this_head) != 0;
        if (new_group) {
            if (head_len > 0 && (l.n == l.lim || !group_in_range))
                break;
            memcpy(head, kb, this_head);
            head_len = this_head;
            group_in_range = false;
        }
        Hm__UploadRecord *u = NULL;
        rc = sm_upload_load(cx, b->bucket_id, uid, &u);
        if (rc == HM_ENOENT)
            rc = HM_ECORRUPT; /* an index row without its upload */
        if (rc != 0)
            break;
        if (u->key == NULL || u->upload_id == NULL) {
            hm__upload_record__free_unpacked(u, NULL);
            rc = HM_ECORRUPT;
            break;
        }
        size_t klen = strlen(u->key);
        /* A key below the prefix, or inside it, keeps the walk going past
         * this group; only a group wholly after the prefix ends it. */
        if (sm_starts_with(u->key, klen, prefix, plen) ||
            sm_cmp(u->key, klen, prefix, plen) < 0)
            group_in_range = true;
        if (!sm_starts_with(u->key, klen, prefix, plen)) {
            hm__upload_record__free_unpacked(u, NULL);
            continue;
        }
        const char *d = dlen > 0 ? memmem(u->key + plen, klen - plen, delim, dlen) : NULL;
        sm_uitem it = {.key = NULL, .rec = NULL};
        if (d != NULL) {
            it.key = strndup(u->key, (size_t)(d - u->key) + dlen);
            hm__upload_record__free_unpacked(u, NULL);
        } else {
            it.key = strdup(u->key);
            it.rec = u;
        }
        if (it.key == NULL) {
            sm_uitem_free(&it);
            rc = HM_ENOMEM;
            break;
        }
        /* Every upload whose key starts with the common prefix rolls up
         * into it: seek past them, as the object listing does.  Only when
         * this row's group is one whole key (its head ends in the encoding's
         * terminator) and the prefix's encoding fits the index: then the
         * keys under the prefix are exactly the rows that start with it. */
        if (d != NULL && head[head_len - 1] == 0) {
            uint8_t cp[SM_IX_KEY_BYTES_MAX];
            size_t cl = 0;
            if (sm_ix_upload_key_head(cp, b->bucket_id, it.key, &cl) == 0 && cl > 10 &&
                cp[cl - 1] == 0 && !hm_meta_prefix_successor(cp, cl - 1, skip, &skip_len))
                skip_len = 0;
        }
        if (km != NULL) {
            int c = sm_cmp(it.key, strlen(it.key), km, strlen(km));
            bool after = c > 0;
            if (c == 0 && it.rec != NULL && um != NULL)
                after = mark.rec != NULL ? sm_uitem_cmp(&it, &mark) > 0
                                         : strcmp(it.rec->upload_id, um) > 0;
            if (!after) {
                sm_uitem_free(&it);
                continue;
            }
        }
        rc = sm_ulist_offer(&l, &it);
        if (rc != 0)
            break;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    if (rc != 0)
        goto out;
    size_t shown = l.n < max ? l.n : max;
    r->truncated = l.n > max;
    size_t n_up = 0, n_cp = 0;
    for (size_t i = 0; i < shown; i++) {
        if (l.v[i].rec != NULL)
            n_up++;
        else
            n_cp++;
    }
    r->uploads = calloc(n_up > 0 ? n_up : 1, sizeof *r->uploads);
    r->common_prefixes = calloc(n_cp > 0 ? n_cp : 1, sizeof *r->common_prefixes);
    if (r->uploads == NULL || r->common_prefixes == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < shown; i++) {
        sm_uitem *it = &l.v[i];
        if (i + 1 == shown) {
            r->next_key_marker = strdup(it->key);
            r->next_upload_id_marker = strdup(it->rec != NULL ? it->rec->upload_id : "");
            if (r->next_key_marker == NULL || r->next_upload_id_marker == NULL) {
                rc = HM_ENOMEM;
                goto out;
            }
        }
        if (it->rec != NULL) {
            r->uploads[r->n_uploads++] = it->rec;
            it->rec = NULL;
        } else {
            r->common_prefixes[r->n_common_prefixes++] = it->key;
            it->key = NULL;
        }
    }
out:
    if (cur != NULL)
        cx->env->ops->kv_cursor_close(cur);
    for (size_t i = 0; i < l.n; i++)
        sm_uitem_free(&l.v[i]);
    free(l.v);
    if (mrec != NULL)
        hm__upload_record__free_unpacked(mrec, NULL);
    hm__bucket_record__free_unpacked(b, NULL);
    return rc;
}
