/* hm_meta_sm.c - the metadata state machine over the LMDB tables.
 *
 * Shaping decision: every command checks all of its conditions before its
 * first write, so a rejected command leaves the tables untouched without
 * needing a nested transaction, and the group commit can apply a whole batch
 * in one LMDB transaction.  Records are rewritten from their unpacked form
 * (a shallow copy with changed fields), so fields a newer version added
 * survive as unknown fields.  Responses are built only from separately
 * allocated parts (unpacked records, strdup'd strings) so the generated
 * free_unpacked can release them.
 */
#include "hm_meta_sm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_keys.h"

static const char sm_key_schema[] = "schema";
static const char sm_key_applied[] = "applied_index";
static const char sm_key_next_bucket[] = "next_bucket_id";

/* One command's application: the GC keys it writes are numbered so two in
 * the same command never collide. */
typedef struct sm_ctx {
    hm_env *env;
    hm_kv_txn *txn;
    uint64_t index;
    uint32_t gc_seq;
} sm_ctx;

/* ---- small helpers ------------------------------------------------------ */

static int sm_reject(Hm__MetaResponse *resp, int code, const char *msg)
{
    resp->has_err = true;
    resp->err = code;
    free(resp->err_msg);
    resp->err_msg = strdup(msg != NULL ? msg : hm_err_msg(code));
    return resp->err_msg == NULL ? HM_ENOMEM : 0;
}

static int sm_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static bool sm_starts_with(const char *s, size_t slen, const char *p, size_t plen)
{
    return slen >= plen && memcmp(s, p, plen) == 0;
}

/* Pack msg and put it at (t, key). */
static int sm_put_msg(sm_ctx *cx, enum hm_kv_table t, const void *key, size_t klen,
                      const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return HM_ENOMEM;
    protobuf_c_message_pack(msg, buf);
    int rc = cx->env->ops->kv_put(cx->txn, t, key, klen, buf, len);
    free(buf);
    return rc;
}

/* Unpack a stored record and check its format version.  HM_ECORRUPT when
 * it does not parse, HM_EVERSION when its version is not one we read. */
static int sm_unpack(const ProtobufCMessageDescriptor *d, const void *val, size_t len,
                     ProtobufCMessage **out)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, val);
    if (m == NULL)
        return HM_ECORRUPT;
    /* Every record keeps format_version as field 1, an optional uint32. */
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, 1);
    if (f != NULL && f->type == PROTOBUF_C_TYPE_UINT32) {
        const protobuf_c_boolean *has =
            (const protobuf_c_boolean *)((const char *)m + f->quantifier_offset);
        uint32_t v = *(const uint32_t *)((const char *)m + f->offset);
        if (!*has || v < HM_FORMAT_VERSION_MIN || v > HM_FORMAT_VERSION_MAX) {
            protobuf_c_message_free_unpacked(m, NULL);
            return HM_EVERSION;
        }
    }
    *out = m;
    return 0;
}

/* Get and unpack (t, key); HM_ENOENT when absent. */
static int sm_get_msg(sm_ctx *cx, enum hm_kv_table t, const void *key, size_t klen,
                      const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
    const void *val = NULL;
    size_t len = 0;
    int rc = cx->env->ops->kv_get(cx->txn, t, key, klen, &val, &len);
    if (rc != 0)
        return rc;
    return sm_unpack(d, val, len, out);
}

static int sm_get_u64(sm_ctx *cx, const char *name, uint64_t *out)
{
    const void *val = NULL;
    size_t len = 0;
    int rc = cx->env->ops->kv_get(cx->txn, HM_KV_SYS, name, strlen(name), &val, &len);
    if (rc == HM_ENOENT) {
        *out = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    if (len != 8)
        return HM_ECORRUPT;
    *out = hm_meta_get_u64be(val);
    return 0;
}

static int sm_put_u64(sm_ctx *cx, const char *name, uint64_t v)
{
    uint8_t b[8];
    hm_meta_put_u64be(b, v);
    return cx->env->ops->kv_put(cx->txn, HM_KV_SYS, name, strlen(name), b, sizeof b);
}

/* A copy of a version for a response: unpacked from its packed bytes (so
 * separately allocated), without inline data, which a listing or a put
 * reply never needs. */
static void sm_strip_inline(Hm__ObjectVersion *v)
{
    if (v->has_inline_data) {
        free(v->inline_data.data);
        v->inline_data.data = NULL;
        v->inline_data.len = 0;
        v->has_inline_data = false;
    }
}

/* ---- buckets ------------------------------------------------------------ */

static int sm_bucket_load(sm_ctx *cx, const char *name, Hm__BucketRecord **out)
{
    return sm_get_msg(cx, HM_KV_BUCKETS, name, strlen(name),
                      &hm__bucket_record__descriptor, (ProtobufCMessage **)out);
}

static bool sm_bucket_name_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    return n >= HM_BUCKET_NAME_BYTES_MIN && n <= HM_BUCKET_NAME_BYTES_MAX;
}

static int sm_bucket_create(sm_ctx *cx, const Hm__BucketCreate *c, Hm__MetaResponse *resp)
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

static int sm_bucket_delete(sm_ctx *cx, const Hm__BucketDelete *c, Hm__MetaResponse *resp)
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

/* ---- names and versions ------------------------------------------------- */

/* The names-table row holding key: its table key, the unpacked list (NULL
 * when the row is absent) and the position of key in it (*pos = -1 when
 * absent; the list is then where it would be inserted). */
typedef struct sm_name {
    uint8_t nk[HM_META_NAMES_KEY_BYTES_MAX];
    size_t nk_len;
    Hm__NameList *list;
    long pos;
} sm_name;

static void sm_name_release(sm_name *n)
{
    if (n->list != NULL)
        hm__name_list__free_unpacked(n->list, NULL);
    n->list = NULL;
}

static int sm_name_find(sm_ctx *cx, uint64_t bucket_id, const char *key, sm_name *n)
{
    n->list = NULL;
    n->pos = -1;
    int rc = hm_meta_names_key(bucket_id, key, strlen(key), n->nk, &n->nk_len);
    if (rc != 0)
        return rc;
    rc = sm_get_msg(cx, HM_KV_NAMES, n->nk, n->nk_len, &hm__name_list__descriptor,
                    (ProtobufCMessage **)&n->list);
    if (rc == HM_ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n->list->n_entries; i++) {
        const Hm__NameEntry *e = n->list->entries[i];
        if (e->key == NULL || !e->has_object_id ||
            e->object_id.len != HM_META_OBJECT_ID_BYTES) {
            sm_name_release(n);
            return HM_ECORRUPT;
        }
        if (strcmp(e->key, key) == 0)
            n->pos = (long)i;
    }
    return 0;
}

/* Write the row with entry ins added (ins != NULL) or entry del_pos removed
 * (del_pos >= 0); an emptied row is deleted. */
static int sm_name_write(sm_ctx *cx, sm_name *n, Hm__NameEntry *ins, long del_pos)
{
    Hm__NameList nl = HM__NAME_LIST__INIT;
    if (n->list != NULL)
        nl = *n->list; /* keeps fields a newer version added */
    size_t old_n = n->list != NULL ? n->list->n_entries : 0;
    Hm__NameEntry **arr = malloc((old_n + 1) * sizeof *arr);
    if (arr == NULL)
        return HM_ENOMEM;
    size_t m = 0;
    bool placed = false;
    for (size_t i = 0; i < old_n; i++) {
        Hm__NameEntry *e = n->list->entries[i];
        if ((long)i == del_pos)
            continue;
        if (ins != NULL && !placed && strcmp(ins->key, e->key) < 0) {
            arr[m++] = ins;
            placed = true;
        }
        arr[m++] = e;
    }
    if (ins != NULL && !placed)
        arr[m++] = ins;
    int rc;
    if (m == 0) {
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_NAMES, n->nk, n->nk_len);
    } else {
        nl.has_format_version = true;
        nl.format_version = HM_FORMAT_VERSION;
        nl.n_entries = m;
        nl.entries = arr;
        rc = sm_put_msg(cx, HM_KV_NAMES, n->nk, n->nk_len, &nl.base);
    }
    free(arr);
    return rc;
}

/* The newest version of oid: *out NULL when there is none. */
static int sm_version_newest(sm_ctx *cx, const uint8_t *oid, Hm__ObjectVersion **out,
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
                           Hm__ObjectVersion **out)
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

/* Queue blobs for deletion after not_before_ms. */
static int sm_gc_add(sm_ctx *cx, Hm__Blob **blobs, size_t n, int64_t not_before_ms)
{
    if (n == 0)
        return 0;
    uint8_t gk[HM_META_GC_KEY_BYTES];
    /* Flip the sign bit so signed times sort correctly as unsigned bytes. */
    hm_meta_put_u64be(gk, (uint64_t)not_before_ms ^ (1ull << 63));
    hm_meta_put_u64be(gk + 8, cx->index);
    uint32_t seq = cx->gc_seq++;
    gk[16] = (uint8_t)(seq >> 24);
    gk[17] = (uint8_t)(seq >> 16);
    gk[18] = (uint8_t)(seq >> 8);
    gk[19] = (uint8_t)seq;
    Hm__GcItem g = HM__GC_ITEM__INIT;
    g.has_format_version = true;
    g.format_version = HM_FORMAT_VERSION;
    g.n_blobs = n;
    g.blobs = blobs;
    g.has_not_before_ms = true;
    g.not_before_ms = not_before_ms;
    return sm_put_msg(cx, HM_KV_GC, gk, sizeof gk, &g.base);
}

static bool sm_key_ok(const char *key)
{
    size_t n = key != NULL ? strlen(key) : 0;
    return n >= 1 && n <= HM_KEY_BYTES_MAX;
}

static int64_t sm_add_ms(int64_t a, int64_t b)
{
    /* Saturate: a hostile grace must not wrap a deadline into the past. */
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static int sm_object_put(sm_ctx *cx, const Hm__ObjectPut *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->bucket == NULL || c->version == NULL)
        return sm_reject(resp, HM_EINVAL, "object put needs bucket, key and version");
    if (!sm_key_ok(c->key))
        return sm_reject(resp, HM_EINVAL, "object key must be 1..1024 bytes");
    Hm__BucketRecord *b = NULL;
    sm_name n = {.list = NULL};
    Hm__ObjectVersion *cur = NULL;
    uint8_t *packed = NULL;
    uint64_t cur_stamp = 0;
    int rc = sm_bucket_load(cx, c->bucket, &b);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    if (rc != 0)
        return rc;
    rc = sm_name_find(cx, b->bucket_id, c->key, &n);
    if (rc != 0)
        goto out;
    const uint8_t *oid = NULL;
    if (n.pos >= 0) {
        oid = n.list->entries[n.pos]->object_id.data;
        rc = sm_version_newest(cx, oid, &cur, &cur_stamp);
        if (rc != 0)
            goto out;
    } else {
        if (!c->version->has_object_id ||
            c->version->object_id.len != HM_META_OBJECT_ID_BYTES) {
            rc = sm_reject(resp, HM_EINVAL, "object id must be 16 bytes");
            goto out;
        }
        oid = c->version->object_id.data;
    }

    /* Conditions hold at apply time, atomically with the write (RFC 7232
     * semantics as S3 applies them to PUT). */
    bool live = cur != NULL && !cur->delete_marker;
    if (c->cond != NULL && c->cond->has_if_none_match_any && c->cond->if_none_match_any &&
        live) {
        rc = sm_reject(resp, HM_EPRECOND, "If-None-Match: object exists");
        goto out;
    }
    if (c->cond != NULL && c->cond->if_match_etag != NULL &&
        (!live || cur->etag == NULL || strcmp(cur->etag, c->cond->if_match_etag) != 0)) {
        rc = sm_reject(resp, HM_EPRECOND, "If-Match: ETag differs");
        goto out;
    }
    if (c->has_intent_id) {
        const void *v = NULL;
        size_t vl = 0;
        rc = c->intent_id.len == 0
                 ? HM_ENOENT
                 : cx->env->ops->kv_get(cx->txn, HM_KV_INTENTS, c->intent_id.data,
                                        c->intent_id.len, &v, &vl);
        if (rc == HM_ENOENT) {
            rc = sm_reject(resp, HM_EINTENT, NULL);
            goto out;
        }
        if (rc != 0)
            goto out;
    }

    /* ---- every check passed: write */
    if (c->has_intent_id) {
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_INTENTS, c->intent_id.data,
                                  c->intent_id.len);
        if (rc != 0)
            goto out;
    }
    int64_t grace = c->has_gc_grace_ms ? c->gc_grace_ms : HM_GC_GRACE_MS;
    if (cur != NULL) {
        uint8_t vk[HM_META_VERSIONS_KEY_BYTES];
        hm_meta_versions_key(oid, cur_stamp, vk);
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_VERSIONS, vk, sizeof vk);
        if (rc != 0)
            goto out;
        rc = sm_gc_add(cx, cur->blobs, cur->n_blobs,
                       sm_add_ms(c->version->mtime_ms, grace));
        if (rc != 0)
            goto out;
    }
    Hm__ObjectVersion v = *c->version;
    v.has_format_version = true;
    v.format_version = HM_FORMAT_VERSION;
    v.has_object_id = true;
    v.object_id.data = (uint8_t *)oid;
    v.object_id.len = HM_META_OBJECT_ID_BYTES;
    v.version_id = (char *)"null";
    v.key = c->key;
    size_t len = protobuf_c_message_get_packed_size(&v.base);
    packed = malloc(len > 0 ? len : 1);
    if (packed == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    protobuf_c_message_pack(&v.base, packed);
    uint8_t vk[HM_META_VERSIONS_KEY_BYTES];
    hm_meta_versions_key(oid, cx->index, vk);
    rc = cx->env->ops->kv_put(cx->txn, HM_KV_VERSIONS, vk, sizeof vk, packed, len);
    if (rc != 0)
        goto out;
    if (n.pos < 0) {
        Hm__NameEntry e = HM__NAME_ENTRY__INIT;
        e.key = c->key;
        e.has_object_id = true;
        e.object_id.data = (uint8_t *)oid;
        e.object_id.len = HM_META_OBJECT_ID_BYTES;
        rc = sm_name_write(cx, &n, &e, -1);
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
    if (cur != NULL) {
        sm_strip_inline(cur);
        resp->replaced = cur;
        cur = NULL;
    }
out:
    free(packed);
    if (cur != NULL)
        hm__object_version__free_unpacked(cur, NULL);
    sm_name_release(&n);
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

static int sm_object_delete(sm_ctx *cx, const Hm__ObjectDelete *c, Hm__MetaResponse *resp)
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
                            sm_add_ms(c->now_ms, grace), &removed, &left);
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

/* ---- intents and gc ----------------------------------------------------- */

static int sm_intent_put(sm_ctx *cx, const Hm__IntentPut *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->intent == NULL || !c->intent->has_intent_id ||
        c->intent->intent_id.len == 0 || c->intent->intent_id.len > HM_KV_KEY_BYTES_MAX)
        return sm_reject(resp, HM_EINVAL, "intent needs an id");
    Hm__Intent in = *c->intent;
    in.has_format_version = true;
    in.format_version = HM_FORMAT_VERSION;
    return sm_put_msg(cx, HM_KV_INTENTS, in.intent_id.data, in.intent_id.len, &in.base);
}

static int sm_intent_delete(sm_ctx *cx, const Hm__IntentDelete *c, Hm__MetaResponse *resp)
{
    if (c == NULL || !c->has_intent_id || c->intent_id.len == 0 ||
        c->intent_id.len > HM_KV_KEY_BYTES_MAX)
        return sm_reject(resp, HM_EINVAL, "intent needs an id");
    Hm__Intent *in = NULL;
    int rc = sm_get_msg(cx, HM_KV_INTENTS, c->intent_id.data, c->intent_id.len,
                        &hm__intent__descriptor, (ProtobufCMessage **)&in);
    if (rc == HM_ENOENT)
        return 0; /* already retired or collected */
    if (rc != 0)
        return rc;
    rc = cx->env->ops->kv_del(cx->txn, HM_KV_INTENTS, c->intent_id.data, c->intent_id.len);
    if (rc == 0)
        rc = sm_gc_add(cx, in->blobs, in->n_blobs, c->now_ms);
    hm__intent__free_unpacked(in, NULL);
    return rc;
}

static int sm_gc_done(sm_ctx *cx, const Hm__GcDone *c, Hm__MetaResponse *resp)
{
    (void)resp;
    for (size_t i = 0; c != NULL && i < c->n_gc_keys; i++) {
        if (c->gc_keys[i].len != HM_META_GC_KEY_BYTES)
            continue; /* not a key we handed out: nothing to remove */
        int rc = cx->env->ops->kv_del(cx->txn, HM_KV_GC, c->gc_keys[i].data,
                                      c->gc_keys[i].len);
        if (rc != 0 && rc != HM_ENOENT)
            return rc;
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------- */

int hm_meta_sm_init(hm_env *env, hm_kv_txn *txn)
{
    const void *val = NULL;
    size_t len = 0;
    int rc = env->ops->kv_get(txn, HM_KV_SYS, sm_key_schema, strlen(sm_key_schema), &val,
                              &len);
    if (rc == HM_ENOENT) {
        uint8_t b[4] = {0, 0, 0, HM_META_SCHEMA_VERSION};
        return env->ops->kv_put(txn, HM_KV_SYS, sm_key_schema, strlen(sm_key_schema), b,
                                sizeof b);
    }
    if (rc != 0)
        return rc;
    if (len != 4)
        return HM_ECORRUPT;
    const uint8_t *p = val;
    uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return v == HM_META_SCHEMA_VERSION ? 0 : HM_EVERSION;
}

int hm_meta_sm_applied_index(hm_env *env, hm_kv_txn *txn, uint64_t *out)
{
    sm_ctx cx = {.env = env, .txn = txn};
    return sm_get_u64(&cx, sm_key_applied, out);
}

int hm_meta_sm_apply(hm_env *env, hm_kv_txn *txn, uint64_t index,
                     const Hm__MetaCommand *cmd, Hm__MetaResponse *resp)
{
    sm_ctx cx = {.env = env, .txn = txn, .index = index};
    uint64_t applied = 0;
    int rc = sm_get_u64(&cx, sm_key_applied, &applied);
    if (rc != 0)
        return rc;
    if (index <= applied)
        return HM_EINTERNAL; /* the caller replayed an applied entry */
    resp->has_format_version = true;
    resp->format_version = HM_FORMAT_VERSION;
    resp->has_err = true;
    resp->err = 0;
    resp->has_log_index = true;
    resp->log_index = index;

    if (cmd->has_format_version && (cmd->format_version < HM_FORMAT_VERSION_MIN ||
                                    cmd->format_version > HM_FORMAT_VERSION_MAX)) {
        rc = sm_reject(resp, HM_EVERSION, NULL);
    } else {
        switch (cmd->op_case) {
        case HM__META_COMMAND__OP_BUCKET_CREATE:
            rc = sm_bucket_create(&cx, cmd->bucket_create, resp);
            break;
        case HM__META_COMMAND__OP_BUCKET_DELETE:
            rc = sm_bucket_delete(&cx, cmd->bucket_delete, resp);
            break;
        case HM__META_COMMAND__OP_OBJECT_PUT:
            rc = sm_object_put(&cx, cmd->object_put, resp);
            break;
        case HM__META_COMMAND__OP_OBJECT_DELETE:
            rc = sm_object_delete(&cx, cmd->object_delete, resp);
            break;
        case HM__META_COMMAND__OP_INTENT_PUT:
            rc = sm_intent_put(&cx, cmd->intent_put, resp);
            break;
        case HM__META_COMMAND__OP_INTENT_DELETE:
            rc = sm_intent_delete(&cx, cmd->intent_delete, resp);
            break;
        case HM__META_COMMAND__OP_GC_DONE:
            rc = sm_gc_done(&cx, cmd->gc_done, resp);
            break;
        default:
            /* A command from a newer version (a oneof case we do not know)
             * is rejected the same way on every node. */
            rc = sm_reject(resp, HM_EINVAL, "unknown command");
            break;
        }
    }
    if (rc != 0)
        return rc;
    return sm_put_u64(&cx, sm_key_applied, index);
}

/* ---- queries ------------------------------------------------------------ */

static int sm_q_bucket_get(sm_ctx *cx, const Hm__BucketGet *q, Hm__MetaResponse *resp)
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

static int sm_q_bucket_list(sm_ctx *cx, Hm__MetaResponse *resp)
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

static int sm_q_object_get(sm_ctx *cx, const Hm__ObjectGet *q, Hm__MetaResponse *resp)
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
    rc = q->version_id != NULL ? sm_version_find(cx, oid, q->version_id, &v)
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

/* Listing state: the result being built and the walk's lower bound. */
typedef struct sm_list {
    Hm__ObjectListResult *res;
    size_t cap;
    uint32_t max;
    const char *prefix;
    size_t plen;
    const char *delim;
    size_t dlen;
    const char *after;   /* start_after, NULL when none */
    size_t alen;
    char lo[HM_KEY_BYTES_MAX + 1]; /* walk from here */
    size_t lo_len;
    bool lo_excl;
    bool done;
} sm_list;

/* Append an entry; *full set (and nothing appended) when max is reached,
 * which means there is more: the listing is truncated. */
static int sm_list_emit(sm_list *l, const char *key, size_t klen, bool is_prefix,
                        Hm__ObjectVersion **v, bool *full)
{
    Hm__ObjectListResult *r = l->res;
    *full = r->n_entries >= l->max;
    if (*full) {
        r->has_truncated = true;
        r->truncated = true;
        l->done = true;
        return 0;
    }
    if (r->n_entries == l->cap) {
        size_t ncap = l->cap == 0 ? 16 : l->cap * 2;
        Hm__ListEntry **ne = realloc(r->entries, ncap * sizeof *ne);
        if (ne == NULL)
            return HM_ENOMEM;
        r->entries = ne;
        l->cap = ncap;
    }
    Hm__ListEntry *e = malloc(sizeof *e);
    if (e == NULL)
        return HM_ENOMEM;
    hm__list_entry__init(e);
    e->key = strndup(key, klen);
    if (e->key == NULL) {
        free(e);
        return HM_ENOMEM;
    }
    if (is_prefix) {
        e->has_is_prefix = true;
        e->is_prefix = true;
    }
    if (v != NULL) {
        e->version = *v;
        *v = NULL;
    }
    r->entries[r->n_entries++] = e;
    char *next = strndup(key, klen);
    if (next == NULL)
        return HM_ENOMEM;
    free(r->next_start_after);
    r->next_start_after = next;
    return 0;
}

/* Handle one names entry during the walk.  *reseek is set when the walk
 * must continue from l->lo (after a rolled-up common prefix). */
static int sm_list_entry(sm_ctx *cx, sm_list *l, const Hm__NameEntry *e, bool *reseek)
{
    const char *k = e->key;
    size_t klen = strlen(k);
    int c = sm_cmp(k, klen, l->lo, l->lo_len);
    if (c < 0 || (c == 0 && l->lo_excl))
        return 0;
    if (!sm_starts_with(k, klen, l->prefix, l->plen)) {
        /* k >= prefix and outside it: every later key is outside too */
        l->done = true;
        return 0;
    }
    if (l->dlen > 0) {
        const char *d = memmem(k + l->plen, klen - l->plen, l->delim, l->dlen);
        if (d != NULL) {
            size_t cplen = (size_t)(d - k) + l->dlen;
            bool full = false;
            if (l->after == NULL || sm_cmp(k, cplen, l->after, l->alen) > 0) {
                int rc = sm_list_emit(l, k, cplen, true, NULL, &full);
                if (rc != 0 || full)
                    return rc;
            }
            /* Seek past every key under this prefix instead of reading them. */
            size_t nlen = 0;
            if (!hm_meta_prefix_successor((const uint8_t *)k, cplen, (uint8_t *)l->lo,
                                          &nlen)) {
                l->done = true;
                return 0;
            }
            l->lo_len = nlen;
            l->lo_excl = false;
            *reseek = true;
            return 0;
        }
    }
    if (e->object_id.len != HM_META_OBJECT_ID_BYTES)
        return HM_ECORRUPT;
    Hm__ObjectVersion *v = NULL;
    uint64_t stamp = 0;
    int rc = sm_version_newest(cx, e->object_id.data, &v, &stamp);
    if (rc != 0)
        return rc;
    if (v == NULL || v->delete_marker) {
        if (v != NULL)
            hm__object_version__free_unpacked(v, NULL);
        return 0;
    }
    sm_strip_inline(v);
    bool full = false;
    rc = sm_list_emit(l, k, klen, false, &v, &full);
    if (v != NULL)
        hm__object_version__free_unpacked(v, NULL);
    return rc;
}

/* Walk the names rows of bucket_id from l->lo until done or max reached. */
static int sm_list_walk(sm_ctx *cx, sm_list *l, uint64_t bucket_id)
{
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
    if (rc != 0)
        return rc;
    uint8_t bp[HM_META_BUCKET_ID_BYTES];
    hm_meta_bucket_prefix(bucket_id, bp);
    while (!l->done) {
        uint8_t nk[HM_META_NAMES_KEY_BYTES_MAX];
        size_t nk_len = 0;
        rc = hm_meta_names_key(bucket_id, l->lo, l->lo_len, nk, &nk_len);
        if (rc != 0)
            break;
        bool reseek = false;
        for (rc = cx->env->ops->kv_cursor_seek(cur, nk, nk_len); rc == 0 && !reseek && !l->done;
             rc = cx->env->ops->kv_cursor_next(cur)) {
            const void *k = NULL, *v = NULL;
            size_t kl = 0, vl = 0;
            rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
            if (rc != 0)
                break;
            if (kl < sizeof bp || memcmp(k, bp, sizeof bp) != 0) {
                l->done = true;
                break;
            }
            Hm__NameList *nl = NULL;
            rc = sm_unpack(&hm__name_list__descriptor, v, vl, (ProtobufCMessage **)&nl);
            if (rc != 0)
                break;
            for (size_t i = 0; rc == 0 && i < nl->n_entries && !reseek && !l->done; i++) {
                if (nl->entries[i]->key == NULL)
                    rc = HM_ECORRUPT;
                else
                    rc = sm_list_entry(cx, l, nl->entries[i], &reseek);
            }
            hm__name_list__free_unpacked(nl, NULL);
            if (rc != 0)
                break;
        }
        if (rc == HM_ENOENT) {
            rc = 0;
            if (!reseek)
                l->done = true;
        }
        if (rc != 0)
            break;
        if (!reseek)
            l->done = true;
    }
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

static int sm_q_object_list(sm_ctx *cx, const Hm__ObjectList *q, Hm__MetaResponse *resp)
{
    if (q == NULL || q->bucket == NULL)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    sm_list *l = calloc(1, sizeof *l);
    if (l == NULL)
        return HM_ENOMEM;
    Hm__BucketRecord *b = NULL;
    int rc = 0;
    l->prefix = q->prefix != NULL ? q->prefix : "";
    l->plen = strlen(l->prefix);
    l->delim = q->delimiter != NULL ? q->delimiter : "";
    l->dlen = strlen(l->delim);
    l->after = q->start_after != NULL && q->start_after[0] != '\0' ? q->start_after : NULL;
    l->alen = l->after != NULL ? strlen(l->after) : 0;
    l->max = q->has_max_keys ? q->max_keys : HM_LIST_KEYS_MAX;
    if (l->max > HM_LIST_KEYS_MAX)
        l->max = HM_LIST_KEYS_MAX; /* S3 caps MaxKeys silently */
    if (l->plen > HM_KEY_BYTES_MAX || l->alen > HM_KEY_BYTES_MAX ||
        l->dlen > HM_KEY_BYTES_MAX) {
        rc = sm_reject(resp, HM_EINVAL, "prefix, delimiter or start-after too long");
        goto out;
    }
    rc = sm_bucket_load(cx, q->bucket, &b);
    if (rc == HM_ENOENT) {
        rc = sm_reject(resp, HM_ENOBUCKET, NULL);
        goto out;
    }
    if (rc != 0)
        goto out;
    l->res = malloc(sizeof *l->res);
    if (l->res == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    hm__object_list_result__init(l->res);
    l->res->has_truncated = true;
    l->res->truncated = false;
    resp->result_case = HM__META_RESPONSE__RESULT_LIST;
    resp->list = l->res;
    if (l->max == 0)
        goto out;
    /* Start at max(prefix, start_after); start_after is exclusive. */
    if (l->after != NULL && sm_cmp(l->after, l->alen, l->prefix, l->plen) >= 0) {
        memcpy(l->lo, l->after, l->alen);
        l->lo_len = l->alen;
        l->lo_excl = true;
    } else {
        memcpy(l->lo, l->prefix, l->plen);
        l->lo_len = l->plen;
        l->lo_excl = false;
    }
    rc = sm_list_walk(cx, l, b->bucket_id);
out:
    if (b != NULL)
        hm__bucket_record__free_unpacked(b, NULL);
    free(l);
    return rc;
}

static int sm_q_gc_scan(sm_ctx *cx, const Hm__GcScan *q, Hm__MetaResponse *resp)
{
    Hm__GcScanResult *r = malloc(sizeof *r);
    if (r == NULL)
        return HM_ENOMEM;
    hm__gc_scan_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_GC;
    resp->gc = r;
    uint32_t max = q != NULL && q->has_max && q->max > 0 ? q->max : HM_LIST_KEYS_MAX;
    if (max > HM_LIST_KEYS_MAX)
        max = HM_LIST_KEYS_MAX;
    int64_t now = q != NULL ? q->now_ms : 0;
    r->gc_keys = calloc(max, sizeof *r->gc_keys);
    r->items = calloc(max, sizeof *r->items);
    if (r->gc_keys == NULL || r->items == NULL)
        return HM_ENOMEM;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_GC, &cur);
    if (rc != 0)
        return rc;
    for (rc = cx->env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0 && r->n_items < max;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (kl != HM_META_GC_KEY_BYTES) {
            rc = HM_ECORRUPT;
            break;
        }
        int64_t nb = (int64_t)(hm_meta_get_u64be(k) ^ (1ull << 63));
        if (nb > now)
            break; /* keys sort by not_before: the rest are later */
        Hm__GcItem *it = NULL;
        rc = sm_unpack(&hm__gc_item__descriptor, v, vl, (ProtobufCMessage **)&it);
        if (rc != 0)
            break;
        uint8_t *kc = malloc(kl);
        if (kc == NULL) {
            hm__gc_item__free_unpacked(it, NULL);
            rc = HM_ENOMEM;
            break;
        }
        memcpy(kc, k, kl);
        r->gc_keys[r->n_gc_keys].data = kc;
        r->gc_keys[r->n_gc_keys].len = kl;
        r->n_gc_keys++;
        r->items[r->n_items++] = it;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

int hm_meta_sm_query(hm_env *env, hm_kv_txn *txn, const Hm__MetaRequest *req,
                     Hm__MetaResponse *resp)
{
    sm_ctx cx = {.env = env, .txn = txn};
    resp->has_format_version = true;
    resp->format_version = HM_FORMAT_VERSION;
    resp->has_err = true;
    resp->err = 0;
    switch (req->op_case) {
    case HM__META_REQUEST__OP_BUCKET_GET:
        return sm_q_bucket_get(&cx, req->bucket_get, resp);
    case HM__META_REQUEST__OP_BUCKET_LIST:
        return sm_q_bucket_list(&cx, resp);
    case HM__META_REQUEST__OP_OBJECT_GET:
        return sm_q_object_get(&cx, req->object_get, resp);
    case HM__META_REQUEST__OP_OBJECT_LIST:
        return sm_q_object_list(&cx, req->object_list, resp);
    case HM__META_REQUEST__OP_GC_SCAN:
        return sm_q_gc_scan(&cx, req->gc_scan, resp);
    default:
        return HM_EINVAL;
    }
}
