/* hm_meta_akeys.c - access keys in the metadata (see hm_meta_akeys.h).
 *
 * Shaping decision: as in hm_meta_sm.c, every command checks all its
 * conditions before its first write, and a record is rewritten from a
 * shallow copy of its unpacked form, so fields a newer version added
 * survive an older node's edit.  Grants live inside the key's record (a key
 * has few), sorted by bucket name, so a permission check is one lookup.
 */
#include "hm_meta_akeys.h"

#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_keyseal.h"
#include "hm_limits.h"

typedef struct akeys_ctx {
    hm_env *env;
    hm_kv_txn *txn;
} akeys_ctx;

/* ---- helpers ------------------------------------------------------------ */

static int akeys_reject(Hm__MetaResponse *resp, int code, const char *msg)
{
    resp->has_err = true;
    resp->err = code;
    free(resp->err_msg);
    resp->err_msg = strdup(msg != NULL ? msg : hm_err_msg(code));
    return resp->err_msg == NULL ? HM_ENOMEM : 0;
}

static int akeys_unpack(const void *val, size_t len, Hm__KeyRecord **out)
{
    Hm__KeyRecord *k = hm__key_record__unpack(NULL, len, val);
    if (k == NULL) return HM_ECORRUPT;
    if (!k->has_format_version || k->format_version < HM_FORMAT_VERSION_MIN ||
        k->format_version > HM_FORMAT_VERSION_MAX) {
        hm__key_record__free_unpacked(k, NULL);
        return HM_EVERSION;
    }
    *out = k;
    return 0;
}

/* Load a key's record; HM_ENOENT when absent. */
static int akeys_load(akeys_ctx *cx, const char *id, Hm__KeyRecord **out)
{
    const void *val = NULL;
    size_t len = 0;
    int rc = cx->env->ops->kv_get(cx->txn, HM_KV_KEYS, id, strlen(id), &val, &len);
    if (rc != 0) return rc;
    return akeys_unpack(val, len, out);
}

static int akeys_store(akeys_ctx *cx, const Hm__KeyRecord *k)
{
    size_t len = hm__key_record__get_packed_size(k);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) return HM_ENOMEM;
    hm__key_record__pack(k, buf);
    int rc = cx->env->ops->kv_put(cx->txn, HM_KV_KEYS, k->access_key_id,
                                  strlen(k->access_key_id), buf, len);
    free(buf);
    return rc;
}

static bool akeys_bucket_ok(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    return n >= HM_BUCKET_NAME_BYTES_MIN && n <= HM_BUCKET_NAME_BYTES_MAX;
}

static long akeys_grant_find(const Hm__KeyRecord *k, const char *bucket)
{
    for (size_t i = 0; i < k->n_grants; i++)
        if (k->grants[i]->bucket != NULL && strcmp(k->grants[i]->bucket, bucket) == 0)
            return (long)i;
    return -1;
}

/* Rewrite k with the grant on bucket set to rights (0: removed), keeping
 * the list sorted by bucket. */
static int akeys_store_with_grant(akeys_ctx *cx, const Hm__KeyRecord *k, const char *bucket,
                                  uint32_t rights)
{
    Hm__KeyGrant **list = calloc(k->n_grants + 1, sizeof *list);
    if (list == NULL) return HM_ENOMEM;
    Hm__KeyGrant g;
    hm__key_grant__init(&g);
    g.bucket = (char *)bucket;
    g.has_rights = true;
    g.rights = rights;
    size_t n = 0;
    bool placed = rights == 0;
    for (size_t i = 0; i < k->n_grants; i++) {
        const char *b = k->grants[i]->bucket != NULL ? k->grants[i]->bucket : "";
        int c = strcmp(b, bucket);
        if (c == 0) continue; /* replaced or removed */
        if (!placed && c > 0) {
            list[n++] = &g;
            placed = true;
        }
        list[n++] = k->grants[i];
    }
    if (!placed) list[n++] = &g;
    Hm__KeyRecord copy = *k;
    copy.has_format_version = true;
    copy.format_version = HM_FORMAT_VERSION;
    copy.grants = list;
    copy.n_grants = n;
    int rc = akeys_store(cx, &copy);
    free(list);
    return rc;
}

static int akeys_bucket_exists(akeys_ctx *cx, const char *bucket, bool *out)
{
    const void *val = NULL;
    size_t len = 0;
    int rc = cx->env->ops->kv_get(cx->txn, HM_KV_BUCKETS, bucket, strlen(bucket), &val, &len);
    *out = rc == 0;
    return rc == HM_ENOENT ? 0 : rc;
}

/* Hand a copy of the stored record to resp. */
static int akeys_respond(akeys_ctx *cx, const char *id, Hm__MetaResponse *resp)
{
    Hm__KeyRecord *k = NULL;
    int rc = akeys_load(cx, id, &k);
    if (rc != 0) return rc;
    resp->result_case = HM__META_RESPONSE__RESULT_KEY;
    resp->key = k;
    return 0;
}

/* ---- public helpers ------------------------------------------------------ */

bool hm_meta_akey_id_ok(const char *id)
{
    if (id == NULL) return false;
    size_t n = strnlen(id, HM_KEY_ID_BYTES_MAX + 1);
    if (n < HM_KEY_ID_BYTES_MIN || n > HM_KEY_ID_BYTES_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c >= 0x7f || c == ':' || c == '/') return false;
    }
    return true;
}

uint32_t hm_meta_akey_rights(const Hm__KeyRecord *k, const char *bucket)
{
    if (k == NULL || bucket == NULL) return 0;
    long i = akeys_grant_find(k, bucket);
    if (i < 0) return 0;
    uint32_t r = k->grants[i]->rights & HM_KEY_RIGHTS_ALL;
    if (r & HM_KEY_RIGHT_OWNER) r |= HM_KEY_RIGHT_READ | HM_KEY_RIGHT_WRITE;
    return r;
}

bool hm_meta_akey_allows(const Hm__KeyRecord *k, const char *bucket, uint32_t need)
{
    return need != 0 && (hm_meta_akey_rights(k, bucket) & need) == need;
}

/* ---- commands ------------------------------------------------------------ */

static int akeys_create(akeys_ctx *cx, const Hm__KeyCreate *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->key == NULL || !hm_meta_akey_id_ok(c->key->access_key_id))
        return akeys_reject(resp, HM_EINVAL,
                            "access key id must be 3..128 printable bytes without ':' or '/'");
    const Hm__KeyRecord *in = c->key;
    if (!in->has_seal_version || in->seal_version != HM_KEYSEAL_VERSION ||
        !in->has_sealed_secret ||
        in->sealed_secret.len <= HM_KEYSEAL_NONCE_BYTES + HM_KEYSEAL_TAG_BYTES ||
        in->sealed_secret.len > HM_KEYSEAL_SEALED_BYTES_MAX)
        return akeys_reject(resp, HM_EINVAL, "the key's secret is not a sealed secret");
    if (in->description != NULL &&
        strnlen(in->description, HM_KEY_DESCRIPTION_BYTES_MAX + 1) > HM_KEY_DESCRIPTION_BYTES_MAX)
        return akeys_reject(resp, HM_EINVAL, "description over 256 bytes");
    const void *val = NULL;
    size_t len = 0;
    int rc = cx->env->ops->kv_get(cx->txn, HM_KV_KEYS, in->access_key_id,
                                  strlen(in->access_key_id), &val, &len);
    if (rc == 0) return akeys_reject(resp, HM_EEXIST, "access key exists");
    if (rc != HM_ENOENT) return rc;
    Hm__KeyRecord k = *in;
    k.has_format_version = true;
    k.format_version = HM_FORMAT_VERSION;
    k.grants = NULL; /* a new key holds nothing until granted */
    k.n_grants = 0;
    rc = akeys_store(cx, &k);
    if (rc != 0) return rc;
    return akeys_respond(cx, in->access_key_id, resp);
}

static int akeys_delete(akeys_ctx *cx, const Hm__KeyDelete *c, Hm__MetaResponse *resp)
{
    if (c == NULL || !hm_meta_akey_id_ok(c->access_key_id))
        return akeys_reject(resp, HM_ENOENT, "no such access key");
    Hm__KeyRecord *k = NULL;
    int rc = akeys_load(cx, c->access_key_id, &k);
    if (rc == HM_ENOENT) return akeys_reject(resp, HM_ENOENT, "no such access key");
    if (rc != 0) return rc;
    rc = cx->env->ops->kv_del(cx->txn, HM_KV_KEYS, c->access_key_id, strlen(c->access_key_id));
    if (rc != 0) {
        hm__key_record__free_unpacked(k, NULL);
        return rc;
    }
    resp->result_case = HM__META_RESPONSE__RESULT_KEY;
    resp->key = k;
    return 0;
}

static int akeys_grant(akeys_ctx *cx, const Hm__KeyGrantSet *c, Hm__MetaResponse *resp)
{
    if (c == NULL || !hm_meta_akey_id_ok(c->access_key_id))
        return akeys_reject(resp, HM_ENOENT, "no such access key");
    if (!akeys_bucket_ok(c->bucket))
        return akeys_reject(resp, HM_EINVAL, "bucket name must be 3..63 bytes");
    uint32_t bits = c->has_rights ? c->rights : 0;
    if ((bits & ~HM_KEY_RIGHTS_ALL) != 0 || (bits == 0 && !c->revoke))
        return akeys_reject(resp, HM_EINVAL, "rights must be read, write and/or owner");
    Hm__KeyRecord *k = NULL;
    int rc = akeys_load(cx, c->access_key_id, &k);
    if (rc == HM_ENOENT) return akeys_reject(resp, HM_ENOENT, "no such access key");
    if (rc != 0) return rc;
    long i = akeys_grant_find(k, c->bucket);
    uint32_t have = i >= 0 ? k->grants[i]->rights & HM_KEY_RIGHTS_ALL : 0;
    uint32_t want = c->revoke ? (bits == 0 ? 0 : have & ~bits) : have | bits;
    if (!c->revoke) {
        bool exists = false;
        rc = akeys_bucket_exists(cx, c->bucket, &exists);
        if (rc != 0) goto out;
        if (!exists) {
            rc = akeys_reject(resp, HM_ENOBUCKET, NULL);
            goto out;
        }
        if (i < 0 && k->n_grants >= HM_KEY_GRANTS_MAX) {
            rc = akeys_reject(resp, HM_ETOOBIG, "too many grants on one key");
            goto out;
        }
    }
    if (want != have) {
        rc = akeys_store_with_grant(cx, k, c->bucket, want);
        if (rc != 0) goto out;
    }
    rc = akeys_respond(cx, c->access_key_id, resp);
out:
    hm__key_record__free_unpacked(k, NULL);
    return rc;
}

int hm_meta_akeys_apply(hm_env *env, hm_kv_txn *txn, const Hm__MetaCommand *cmd,
                        Hm__MetaResponse *resp)
{
    akeys_ctx cx = {.env = env, .txn = txn};
    switch (cmd->op_case) {
    case HM__META_COMMAND__OP_KEY_CREATE: return akeys_create(&cx, cmd->key_create, resp);
    case HM__META_COMMAND__OP_KEY_DELETE: return akeys_delete(&cx, cmd->key_delete, resp);
    case HM__META_COMMAND__OP_KEY_GRANT: return akeys_grant(&cx, cmd->key_grant, resp);
    default: return akeys_reject(resp, HM_EINVAL, "unknown command");
    }
}

int hm_meta_akeys_bucket_created(hm_env *env, hm_kv_txn *txn, const char *bucket,
                                 const char *owner_key_id)
{
    akeys_ctx cx = {.env = env, .txn = txn};
    if (bucket == NULL || !hm_meta_akey_id_ok(owner_key_id)) return 0;
    Hm__KeyRecord *k = NULL;
    int rc = akeys_load(&cx, owner_key_id, &k);
    if (rc == HM_ENOENT) return 0;
    if (rc != 0) return rc;
    long i = akeys_grant_find(k, bucket);
    uint32_t have = i >= 0 ? k->grants[i]->rights & HM_KEY_RIGHTS_ALL : 0;
    if ((have & HM_KEY_RIGHT_OWNER) == 0)
        rc = akeys_store_with_grant(&cx, k, bucket, have | HM_KEY_RIGHT_OWNER);
    hm__key_record__free_unpacked(k, NULL);
    return rc;
}

int hm_meta_akeys_bucket_deleted(hm_env *env, hm_kv_txn *txn, const char *bucket)
{
    akeys_ctx cx = {.env = env, .txn = txn};
    if (bucket == NULL) return 0;
    /* Collect first, rewrite after: no writes under an open cursor. */
    Hm__KeyRecord **hit = NULL;
    size_t n = 0, cap = 0;
    hm_kv_cursor *cur = NULL;
    int rc = env->ops->kv_cursor_open(txn, HM_KV_KEYS, &cur);
    if (rc != 0) return rc;
    for (rc = env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0;
         rc = env->ops->kv_cursor_next(cur)) {
        const void *kk = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = env->ops->kv_cursor_get(cur, &kk, &kl, &v, &vl);
        if (rc != 0) break;
        Hm__KeyRecord *k = NULL;
        rc = akeys_unpack(v, vl, &k);
        if (rc != 0) break;
        if (akeys_grant_find(k, bucket) < 0) {
            hm__key_record__free_unpacked(k, NULL);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            Hm__KeyRecord **nh = realloc(hit, ncap * sizeof *nh);
            if (nh == NULL) {
                hm__key_record__free_unpacked(k, NULL);
                rc = HM_ENOMEM;
                break;
            }
            hit = nh;
            cap = ncap;
        }
        hit[n++] = k;
    }
    env->ops->kv_cursor_close(cur);
    if (rc == HM_ENOENT) rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) rc = akeys_store_with_grant(&cx, hit[i], bucket, 0);
        hm__key_record__free_unpacked(hit[i], NULL);
    }
    free(hit);
    return rc;
}

/* ---- queries ------------------------------------------------------------- */

static int akeys_q_list(akeys_ctx *cx, Hm__MetaResponse *resp)
{
    Hm__KeyListResult *r = malloc(sizeof *r);
    if (r == NULL) return HM_ENOMEM;
    hm__key_list_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_KEYS;
    resp->keys = r;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_KEYS, &cur);
    if (rc != 0) return rc;
    size_t cap = 0;
    for (rc = cx->env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0 && r->n_keys < HM_KEYS_MAX;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0) break;
        if (r->n_keys == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            Hm__KeyRecord **nk = realloc(r->keys, ncap * sizeof *nk);
            if (nk == NULL) {
                rc = HM_ENOMEM;
                break;
            }
            r->keys = nk;
            cap = ncap;
        }
        Hm__KeyRecord *rec = NULL;
        rc = akeys_unpack(v, vl, &rec);
        if (rc != 0) break;
        r->keys[r->n_keys++] = rec;
    }
    if (rc == HM_ENOENT) rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

int hm_meta_akeys_query(hm_env *env, hm_kv_txn *txn, const Hm__MetaRequest *req,
                        Hm__MetaResponse *resp)
{
    akeys_ctx cx = {.env = env, .txn = txn};
    if (req->op_case == HM__META_REQUEST__OP_KEY_LIST) return akeys_q_list(&cx, resp);
    if (req->op_case != HM__META_REQUEST__OP_KEY_GET) return HM_EINVAL;
    const Hm__KeyGet *q = req->key_get;
    if (q == NULL || !hm_meta_akey_id_ok(q->access_key_id))
        return akeys_reject(resp, HM_ENOENT, "no such access key");
    int rc = akeys_respond(&cx, q->access_key_id, resp);
    if (rc == HM_ENOENT) return akeys_reject(resp, HM_ENOENT, "no such access key");
    return rc;
}
