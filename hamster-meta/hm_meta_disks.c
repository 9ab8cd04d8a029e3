/* hm_meta_disks.c - the disk registry (see hm_meta_disks.h).
 *
 * Kept out of hm_meta_sm.c: the registry shares nothing with buckets and
 * objects but the transaction.  Keys start with a fixed prefix and a
 * big-endian slot, so a cursor walks records in slot order.
 */
#include "hm_meta_disks.h"

#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"

#define DISKS_KEY_DISK "disk/"
#define DISKS_KEY_REBUILD "rebuild/"
#define DISKS_KEY_BYTES 64u
#define DISKS_ID_HEX 32u

typedef struct disks_ctx {
    hm_env *env;
    hm_kv_txn *txn;
} disks_ctx;

const char *hm_disk_state_name(uint32_t state)
{
    switch (state) {
    case HM_DISK_STATE_HEALTHY: return "healthy";
    case HM_DISK_STATE_FAILED: return "failed";
    case HM_DISK_STATE_MISSING: return "missing";
    case HM_DISK_STATE_REPLACING: return "replacing";
    default: return "unknown";
    }
}

static int disks_reject(Hm__MetaResponse *resp, int code, const char *msg)
{
    resp->has_err = true;
    resp->err = code;
    free(resp->err_msg);
    resp->err_msg = strdup(msg != NULL ? msg : hm_err_msg(code));
    return resp->err_msg == NULL ? HM_ENOMEM : 0;
}

static bool disks_id_ok(const char *id, bool empty_ok)
{
    if (id == NULL) return empty_ok;
    size_t n = strlen(id);
    if (n == 0) return empty_ok;
    if (n != DISKS_ID_HEX) return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return false;
    return true;
}

static size_t disks_key(uint8_t *out, const char *prefix, uint32_t slot, const char *id)
{
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    out[n++] = (uint8_t)(slot >> 24);
    out[n++] = (uint8_t)(slot >> 16);
    out[n++] = (uint8_t)(slot >> 8);
    out[n++] = (uint8_t)slot;
    if (id != NULL) {
        memcpy(out + n, id, strlen(id));
        n += strlen(id);
    }
    return n;
}

static int disks_load(disks_ctx *cx, uint32_t slot, Hm__DiskRecord **out)
{
    uint8_t key[DISKS_KEY_BYTES];
    size_t kl = disks_key(key, DISKS_KEY_DISK, slot, NULL);
    const void *val = NULL;
    size_t len = 0;
    int rc = cx->env->ops->kv_get(cx->txn, HM_KV_LAYOUT, key, kl, &val, &len);
    if (rc != 0) return rc;
    Hm__DiskRecord *d = hm__disk_record__unpack(NULL, len, val);
    if (d == NULL) return HM_ECORRUPT;
    if (!d->has_format_version || d->format_version < HM_FORMAT_VERSION_MIN ||
        d->format_version > HM_FORMAT_VERSION_MAX) {
        hm__disk_record__free_unpacked(d, NULL);
        return HM_EVERSION;
    }
    *out = d;
    return 0;
}

static int disks_put(disks_ctx *cx, const uint8_t *key, size_t kl, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) return HM_ENOMEM;
    protobuf_c_message_pack(m, buf);
    int rc = cx->env->ops->kv_put(cx->txn, HM_KV_LAYOUT, key, kl, buf, len);
    free(buf);
    return rc;
}

static int disks_set(disks_ctx *cx, const Hm__DiskSet *ds, Hm__MetaResponse *resp)
{
    const Hm__DiskRecord *in = ds != NULL ? ds->disk : NULL;
    if (in == NULL || !in->has_slot || in->slot >= HM_DISK_REGISTRY_SLOTS_MAX)
        return disks_reject(resp, HM_EINVAL, "disk record without a valid slot");
    if (!in->has_state || in->state < HM_DISK_STATE_HEALTHY ||
        in->state > HM_DISK_STATE_REPLACING)
        return disks_reject(resp, HM_EINVAL, "disk state must be 1..4");
    if (!disks_id_ok(in->disk_id, true))
        return disks_reject(resp, HM_EINVAL, "disk id must be 32 lowercase hex characters");
    if (in->path == NULL || in->path[0] == '\0' || strlen(in->path) > HM_DISK_PATH_BYTES_MAX)
        return disks_reject(resp, HM_EINVAL, "disk path empty or too long");
    if (in->reason != NULL && strlen(in->reason) > HM_DISK_REASON_BYTES_MAX)
        return disks_reject(resp, HM_EINVAL, "disk reason too long");
    const Hm__DiskRebuild *rb = ds->rebuild;
    if (rb != NULL && (!rb->has_slot || rb->slot != in->slot ||
                       !disks_id_ok(rb->new_disk_id, false) ||
                       !disks_id_ok(rb->old_disk_id, true)))
        return disks_reject(resp, HM_EINVAL, "rebuild must name the slot and the new disk");

    Hm__DiskRecord *cur = NULL;
    int rc = disks_load(cx, in->slot, &cur);
    if (rc != 0 && rc != HM_ENOENT) return rc;
    uint64_t have = cur != NULL && cur->has_version ? cur->version : 0;
    if (cur != NULL) hm__disk_record__free_unpacked(cur, NULL);
    uint64_t want = ds->has_expect_version ? ds->expect_version : 0;
    if (have != want)
        return disks_reject(resp, HM_EPRECOND, "disk record changed since it was read");

    Hm__DiskRecord rec = *in;
    rec.has_format_version = true;
    rec.format_version = HM_FORMAT_VERSION;
    rec.has_version = true;
    rec.version = have + 1;
    if (rec.disk_id == NULL) rec.disk_id = (char *)"";
    uint8_t key[DISKS_KEY_BYTES];
    size_t kl = disks_key(key, DISKS_KEY_DISK, in->slot, NULL);
    rc = disks_put(cx, key, kl, &rec.base);
    if (rc != 0) return rc;
    if (rb != NULL) {
        Hm__DiskRebuild item = *rb;
        item.has_format_version = true;
        item.format_version = HM_FORMAT_VERSION;
        if (item.old_disk_id == NULL) item.old_disk_id = (char *)"";
        kl = disks_key(key, DISKS_KEY_REBUILD, rb->slot, rb->new_disk_id);
        rc = disks_put(cx, key, kl, &item.base);
        if (rc != 0) return rc;
    }
    /* Hand back the stored record. */
    Hm__DiskRecord *back = NULL;
    rc = disks_load(cx, in->slot, &back);
    if (rc != 0) return rc;
    resp->result_case = HM__META_RESPONSE__RESULT_DISK;
    resp->disk = back;
    return 0;
}

int hm_meta_disks_apply(hm_env *env, hm_kv_txn *txn, const Hm__MetaCommand *cmd,
                        Hm__MetaResponse *resp)
{
    disks_ctx cx = {.env = env, .txn = txn};
    if (cmd->op_case != HM__META_COMMAND__OP_DISK_SET) return HM_EINVAL;
    return disks_set(&cx, cmd->disk_set, resp);
}

/* Append m to (*arr, *n, *cap). */
static int disks_push(void ***arr, size_t *n, size_t *cap, void *m)
{
    if (*n == *cap) {
        size_t ncap = *cap == 0 ? 8 : *cap * 2;
        void **na = realloc(*arr, ncap * sizeof *na);
        if (na == NULL) return HM_ENOMEM;
        *arr = na;
        *cap = ncap;
    }
    (*arr)[(*n)++] = m;
    return 0;
}

int hm_meta_disks_query(hm_env *env, hm_kv_txn *txn, const Hm__MetaRequest *req,
                        Hm__MetaResponse *resp)
{
    if (req->op_case != HM__META_REQUEST__OP_DISK_LIST) return HM_EINVAL;
    Hm__DiskListResult *r = malloc(sizeof *r);
    if (r == NULL) return HM_ENOMEM;
    hm__disk_list_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_DISKS;
    resp->disks = r;
    static const char *const prefixes[] = {DISKS_KEY_DISK, DISKS_KEY_REBUILD};
    size_t cap[2] = {0, 0};
    int rc = 0;
    for (size_t p = 0; p < 2 && rc == 0; p++) {
        hm_kv_cursor *cur = NULL;
        rc = env->ops->kv_cursor_open(txn, HM_KV_LAYOUT, &cur);
        if (rc != 0) return rc;
        size_t pl = strlen(prefixes[p]);
        for (rc = env->ops->kv_cursor_seek(cur, prefixes[p], pl); rc == 0;
             rc = env->ops->kv_cursor_next(cur)) {
            const void *k = NULL, *v = NULL;
            size_t kl = 0, vl = 0;
            rc = env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
            if (rc != 0) break;
            if (kl < pl || memcmp(k, prefixes[p], pl) != 0) break;
            if (p == 0) {
                if (r->n_disks >= HM_DISK_REGISTRY_SLOTS_MAX) break;
                Hm__DiskRecord *d = hm__disk_record__unpack(NULL, vl, v);
                if (d == NULL) {
                    rc = HM_ECORRUPT;
                    break;
                }
                rc = disks_push((void ***)&r->disks, &r->n_disks, &cap[0], d);
                if (rc != 0) hm__disk_record__free_unpacked(d, NULL);
            } else {
                if (r->n_rebuilds >= HM_DISK_REBUILDS_MAX) break;
                Hm__DiskRebuild *b = hm__disk_rebuild__unpack(NULL, vl, v);
                if (b == NULL) {
                    rc = HM_ECORRUPT;
                    break;
                }
                rc = disks_push((void ***)&r->rebuilds, &r->n_rebuilds, &cap[1], b);
                if (rc != 0) hm__disk_rebuild__free_unpacked(b, NULL);
            }
            if (rc != 0) break;
        }
        if (rc == HM_ENOENT) rc = 0;
        env->ops->kv_cursor_close(cur);
    }
    return rc;
}
