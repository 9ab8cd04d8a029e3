/* hm_meta_sm.c - the metadata state machine over the LMDB tables: the
 * shared helpers, schema migration, and the two entry points that dispatch
 * a command (hm_meta_sm_apply) or a query (hm_meta_sm_query) to its family.
 *
 * Shaping decision: every command checks all of its conditions before its
 * first write, so a rejected command leaves the tables untouched without
 * needing a nested transaction, and the group commit can apply a whole batch
 * in one LMDB transaction.  Records are rewritten from their unpacked form
 * (a shallow copy with changed fields), so fields a newer version added
 * survive as unknown fields.  Responses are built only from separately
 * allocated parts (unpacked records, strdup'd strings) so the generated
 * free_unpacked can release them.
 *
 * One command family per file, all behind hm_meta_sm_int.h: buckets and
 * CORS (hm_meta_sm_bucket.c), names rows (hm_meta_sm_names.c), object
 * versions, tags and lookups (hm_meta_sm_object.c), listing
 * (hm_meta_sm_list.c), multipart (hm_meta_sm_mpu.c), intents and gc
 * (hm_meta_sm_gc.c), repair work of degraded writes (hm_meta_sm_repair.c).
 */
#include "hm_meta_sm_int.h"
#include "hm_meta_disks.h"

static const char sm_key_schema[] = "schema";

static const char sm_key_applied[] = "applied_index";

static const char sm_key_clock[] = "clock_ms";

int sm_reject(Hm__MetaResponse *resp, int code, const char *msg)
{
    resp->has_err = true;
    resp->err = code;
    free(resp->err_msg);
    resp->err_msg = strdup(msg != NULL ? msg : hm_err_msg(code));
    return resp->err_msg == NULL ? HM_ENOMEM : 0;
}

int sm_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

bool sm_starts_with(const char *s, size_t slen, const char *p, size_t plen)
{
    return slen >= plen && memcmp(s, p, plen) == 0;
}

/* Pack msg and put it at (t, key). */
int sm_put_msg(sm_ctx *cx, enum hm_kv_table t, const void *key, size_t klen,
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

/* Unpack a stored record and check its format version is in [vmin, vmax].
 * HM_ECORRUPT when it does not parse, HM_EVERSION when its version is not
 * one we read. */
int sm_unpack_v(const ProtobufCMessageDescriptor *d, const void *val, size_t len,
                       uint32_t vmin, uint32_t vmax, ProtobufCMessage **out)
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
        if (!*has || v < vmin || v > vmax) {
            protobuf_c_message_free_unpacked(m, NULL);
            return HM_EVERSION;
        }
    }
    *out = m;
    return 0;
}

/* sm_unpack_v for the records at the common format version range. */
int sm_unpack(const ProtobufCMessageDescriptor *d, const void *val, size_t len,
                     ProtobufCMessage **out)
{
    return sm_unpack_v(d, val, len, HM_FORMAT_VERSION_MIN, HM_FORMAT_VERSION_MAX, out);
}

/* Get and unpack (t, key); HM_ENOENT when absent. */
int sm_get_msg(sm_ctx *cx, enum hm_kv_table t, const void *key, size_t klen,
                      const ProtobufCMessageDescriptor *d, ProtobufCMessage **out)
{
    const void *val = NULL;
    size_t len = 0;
    int rc = cx->env->ops->kv_get(cx->txn, t, key, klen, &val, &len);
    if (rc != 0)
        return rc;
    return sm_unpack(d, val, len, out);
}

int sm_get_u64(sm_ctx *cx, const char *name, uint64_t *out)
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

int sm_put_u64(sm_ctx *cx, const char *name, uint64_t v)
{
    uint8_t b[8];
    hm_meta_put_u64be(b, v);
    return cx->env->ops->kv_put(cx->txn, HM_KV_SYS, name, strlen(name), b, sizeof b);
}

/* A gc not-before or expiry time: base + ms, where base is the committed
 * clock when the command carried it, else the proposer's time (fallback),
 * as commands logged before the clock existed were applied. */
int64_t sm_after(const sm_ctx *cx, int64_t fallback, int64_t ms)
{
    return sm_add_ms(cx->has_clock ? cx->clock : fallback, ms);
}

void sm_put_time(uint8_t out[8], int64_t t)
{
    /* Flip the sign bit so signed times sort correctly as unsigned bytes. */
    hm_meta_put_u64be(out, (uint64_t)t ^ (1ull << 63));
}

int64_t sm_get_time(const uint8_t in[8])
{
    return (int64_t)(hm_meta_get_u64be(in) ^ (1ull << 63));
}

/* A copy of a version for a response: unpacked from its packed bytes (so
 * separately allocated), without inline data, which a listing or a put
 * reply never needs. */
void sm_strip_inline(Hm__ObjectVersion *v)
{
    if (v->has_inline_data) {
        free(v->inline_data.data);
        v->inline_data.data = NULL;
        v->inline_data.len = 0;
        v->has_inline_data = false;
    }
}

int64_t sm_add_ms(int64_t a, int64_t b)
{
    /* Saturate: a hostile grace must not wrap a deadline into the past. */
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* Schema 1 -> 2: build the index rows (HM_KV_INDEX) of the intents and
 * uploads a schema-1 store holds.  Keys are collected first, rows written
 * after: rows are not written under a live cursor of the same table, and
 * the index is another table. */
static int sm_migrate_1_to_2(sm_ctx *cx)
{
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_INTENTS, &cur);
    if (rc != 0)
        return rc;
    for (rc = cx->env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        Hm__Intent *in = NULL;
        rc = sm_unpack(&hm__intent__descriptor, v, vl, (ProtobufCMessage **)&in);
        if (rc != 0)
            break;
        if (kl > 0 && kl <= SM_INTENT_ID_BYTES_MAX) {
            uint8_t ik[HM_KV_KEY_BYTES_MAX];
            size_t ikl = sm_ix_intent(ik, in->deadline_ms, k, kl);
            rc = cx->env->ops->kv_put(cx->txn, HM_KV_INDEX, ik, ikl, "", 0);
        }
        hm__intent__free_unpacked(in, NULL);
        if (rc != 0)
            break;
    }
    cx->env->ops->kv_cursor_close(cur);
    if (rc != HM_ENOENT)
        return rc;
    rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_UPLOADS, &cur);
    if (rc != 0)
        return rc;
    for (rc = cx->env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (kl < HM_META_BUCKET_ID_BYTES) {
            rc = HM_ECORRUPT;
            break;
        }
        Hm__UploadRecord *u = NULL;
        rc = sm_unpack(&hm__upload_record__descriptor, v, vl, (ProtobufCMessage **)&u);
        if (rc != 0)
            break;
        rc = sm_ix_upload(cx, hm_meta_get_u64be(k), u, true);
        hm__upload_record__free_unpacked(u, NULL);
        if (rc != 0)
            break;
    }
    cx->env->ops->kv_cursor_close(cur);
    return rc == HM_ENOENT ? 0 : rc;
}

int hm_meta_sm_init(hm_env *env, hm_kv_txn *txn)
{
    const void *val = NULL;
    size_t len = 0;
    uint8_t b[4] = {0, 0, 0, HM_META_SCHEMA_VERSION};
    int rc = env->ops->kv_get(txn, HM_KV_SYS, sm_key_schema, strlen(sm_key_schema), &val,
                              &len);
    if (rc == HM_ENOENT)
        return env->ops->kv_put(txn, HM_KV_SYS, sm_key_schema, strlen(sm_key_schema), b,
                                sizeof b);
    if (rc != 0)
        return rc;
    if (len != 4)
        return HM_ECORRUPT;
    const uint8_t *p = val;
    uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (v == 1 || v == 2) {
        sm_ctx cx = {.env = env, .txn = txn};
        rc = v == 1 ? sm_migrate_1_to_2(&cx) : 0;
        /* 2 -> 3 rewrites nothing: a schema-2 names row reads as the head of
         * a chain (ADR 13).  The version keeps older code, which would not
         * see continuation rows, from opening the store. */
        if (rc == 0)
            rc = env->ops->kv_put(txn, HM_KV_SYS, sm_key_schema, strlen(sm_key_schema), b,
                                  sizeof b);
        return rc;
    }
    return v == HM_META_SCHEMA_VERSION ? 0 : HM_EVERSION;
}

int hm_meta_sm_clock(hm_env *env, hm_kv_txn *txn, int64_t *out)
{
    sm_ctx cx = {.env = env, .txn = txn};
    uint64_t v = 0;
    int rc = sm_get_u64(&cx, sm_key_clock, &v);
    if (rc == 0)
        *out = (int64_t)v;
    return rc;
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
    /* The committed clock never runs back: a stamp below it (a node whose
     * monotonic clock restarted lower) leaves it where it is. */
    uint64_t stored = 0;
    rc = sm_get_u64(&cx, sm_key_clock, &stored);
    if (rc != 0)
        return rc;
    cx.clock = (int64_t)stored;
    if (cmd->has_clock_ms) {
        cx.has_clock = true;
        if (cmd->clock_ms > cx.clock) {
            cx.clock = cmd->clock_ms;
            rc = sm_put_u64(&cx, sm_key_clock, (uint64_t)cx.clock);
            if (rc != 0)
                return rc;
        }
    }

    if (cmd->has_format_version && (cmd->format_version < HM_FORMAT_VERSION_MIN ||
                                    cmd->format_version > HM_FORMAT_VERSION_MAX)) {
        rc = sm_reject(resp, HM_EVERSION, NULL);
    } else {
        switch (cmd->op_case) {
        case HM__META_COMMAND__OP_BUCKET_CREATE:
            rc = sm_bucket_create(&cx, cmd->bucket_create, resp);
            if (rc == 0 && resp->err == 0) /* the creating key owns it */
                rc = hm_meta_akeys_bucket_created(env, txn, cmd->bucket_create->bucket->name,
                                                  cmd->bucket_create->bucket->owner);
            break;
        case HM__META_COMMAND__OP_BUCKET_DELETE:
            rc = sm_bucket_delete(&cx, cmd->bucket_delete, resp);
            if (rc == 0 && resp->err == 0) /* its grants go with it */
                rc = hm_meta_akeys_bucket_deleted(env, txn, cmd->bucket_delete->name);
            break;
        case HM__META_COMMAND__OP_KEY_CREATE:
        case HM__META_COMMAND__OP_KEY_DELETE:
        case HM__META_COMMAND__OP_KEY_GRANT:
            rc = hm_meta_akeys_apply(env, txn, cmd, resp);
            break;
        case HM__META_COMMAND__OP_DISK_SET:
            rc = hm_meta_disks_apply(env, txn, cmd, resp);
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
        case HM__META_COMMAND__OP_UPLOAD_CREATE:
            rc = sm_upload_create(&cx, cmd->upload_create, resp);
            break;
        case HM__META_COMMAND__OP_UPLOAD_PART_PUT:
            rc = sm_upload_part_put(&cx, cmd->upload_part_put, resp);
            break;
        case HM__META_COMMAND__OP_UPLOAD_COMPLETE:
            rc = sm_upload_complete(&cx, cmd->upload_complete, resp);
            break;
        case HM__META_COMMAND__OP_UPLOAD_ABORT:
            rc = sm_upload_abort(&cx, cmd->upload_abort, resp);
            break;
        case HM__META_COMMAND__OP_OBJECT_SET_TAGS:
            rc = sm_object_set_tags(&cx, cmd->object_set_tags, resp);
            break;
        case HM__META_COMMAND__OP_BUCKET_SET_CORS:
            rc = sm_bucket_set_cors(&cx, cmd->bucket_set_cors, resp);
            break;
        case HM__META_COMMAND__OP_GC_LEASE:
            rc = sm_gc_lease(&cx, cmd->gc_lease, resp);
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
    case HM__META_REQUEST__OP_UPLOAD_LIST:
        return sm_q_upload_list(&cx, req->upload_list, resp);
    case HM__META_REQUEST__OP_PART_LIST:
        return sm_q_part_list(&cx, req->part_list, resp);
    case HM__META_REQUEST__OP_INTENT_SCAN:
        return sm_q_intent_scan(&cx, req->intent_scan, resp);
    case HM__META_REQUEST__OP_UPLOAD_EXPIRY_SCAN:
        return sm_q_upload_expiry_scan(&cx, req->upload_expiry_scan, resp);
    case HM__META_REQUEST__OP_KEY_GET:
    case HM__META_REQUEST__OP_KEY_LIST:
        return hm_meta_akeys_query(env, txn, req, resp);
    case HM__META_REQUEST__OP_DISK_LIST: {
        int rc = hm_meta_disks_query(env, txn, req, resp);
        if (rc == 0 && resp->result_case == HM__META_RESPONSE__RESULT_DISKS)
            rc = sm_repair_counts(&cx, resp->disks);
        return rc;
    }
    case HM__META_REQUEST__OP_REPAIR_LIST:
        return sm_q_repair_list(&cx, req->repair_list, resp);
    default:
        return HM_EINVAL;
    }
}
