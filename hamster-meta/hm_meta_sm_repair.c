/* hm_meta_sm_repair.c - repair work in the metadata state machine: the
 * shards of acknowledged degraded writes that did not become durable.
 *
 * Shaping decision: a repair item is written by the very command that makes
 * its blob visible (ObjectPut, UploadPartPut), never by a later one, so no
 * crash or lost message can leave a readable object whose missing shards
 * nobody knows of (docs/adr/0010-write-ack-rule.md).  Items are keyed by
 * blob, so they follow the blob whatever names it (a part becoming a
 * version on complete, a version replaced): they go when gc deletes the
 * blob (GcDone).  A per-disk count row is kept beside the items so that
 * `disk list`, `status` and the metrics read one row per disk, not the
 * queue.
 *
 * Rows, in the layout table (next to the disk registry's):
 *   "repair/"      + blob id (16) + shard index (4, BE) -> RepairItem
 *   "repaircount/" + disk id                           -> count (8, BE)
 * pinned by tests/golden/meta_repair_item_v1.bin.
 */
#include "hm_meta_sm_int.h"

#define SM_REPAIR_PREFIX "repair/"
#define SM_REPAIR_PREFIX_BYTES 7u
#define SM_REPAIR_COUNT_PREFIX "repaircount/"
#define SM_REPAIR_COUNT_PREFIX_BYTES 12u
#define SM_REPAIR_SUFFIX_BYTES (SM_BLOB_ID_BYTES + 4u)
#define SM_REPAIR_KEY_BYTES (SM_REPAIR_PREFIX_BYTES + SM_REPAIR_SUFFIX_BYTES)
#define SM_REPAIR_COUNT_KEY_BYTES_MAX (SM_REPAIR_COUNT_PREFIX_BYTES + HM_REPAIR_DISK_ID_BYTES_MAX)

_Static_assert(SM_REPAIR_COUNT_KEY_BYTES_MAX <= HM_KV_KEY_BYTES_MAX, "count keys fit");
_Static_assert(HM_REPAIR_ITEMS_PER_WRITE_MAX >= HM_EC_SHARDS_MAX,
               "a write may lose every shard but the floor");

bool hm_meta_sm_plant_repair_lost = false;

static size_t sm_repair_key(uint8_t *k, const uint8_t *blob_id, uint32_t index)
{
    memcpy(k, SM_REPAIR_PREFIX, SM_REPAIR_PREFIX_BYTES);
    memcpy(k + SM_REPAIR_PREFIX_BYTES, blob_id, SM_BLOB_ID_BYTES);
    uint8_t *p = k + SM_REPAIR_PREFIX_BYTES + SM_BLOB_ID_BYTES;
    p[0] = (uint8_t)(index >> 24);
    p[1] = (uint8_t)(index >> 16);
    p[2] = (uint8_t)(index >> 8);
    p[3] = (uint8_t)index;
    return SM_REPAIR_KEY_BYTES;
}

static size_t sm_repair_count_key(uint8_t *k, const char *disk_id)
{
    size_t n = disk_id != NULL ? strlen(disk_id) : 0;
    memcpy(k, SM_REPAIR_COUNT_PREFIX, SM_REPAIR_COUNT_PREFIX_BYTES);
    if (n > 0)
        memcpy(k + SM_REPAIR_COUNT_PREFIX_BYTES, disk_id, n);
    return SM_REPAIR_COUNT_PREFIX_BYTES + n;
}

/* A disk id as the gateway names disks: "" (unknown) or up to
 * HM_REPAIR_DISK_ID_BYTES_MAX visible ASCII bytes. */
static bool sm_repair_disk_id_ok(const char *id)
{
    if (id == NULL)
        return true;
    size_t n = strnlen(id, HM_REPAIR_DISK_ID_BYTES_MAX + 1);
    if (n > HM_REPAIR_DISK_ID_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] < 0x21 || id[i] > 0x7e)
            return false;
    return true;
}

/* Add delta (+1 or -1) to disk_id's count; the row goes at 0. */
static int sm_repair_count_add(sm_ctx *cx, const char *disk_id, int delta)
{
    uint8_t k[SM_REPAIR_COUNT_KEY_BYTES_MAX];
    size_t kl = sm_repair_count_key(k, disk_id);
    const void *v = NULL;
    size_t vl = 0;
    uint64_t n = 0;
    int rc = cx->env->ops->kv_get(cx->txn, HM_KV_LAYOUT, k, kl, &v, &vl);
    if (rc != 0 && rc != HM_ENOENT)
        return rc;
    if (rc == 0) {
        if (vl != 8)
            return HM_ECORRUPT;
        n = hm_meta_get_u64be(v);
    }
    if (delta < 0 && n == 0)
        return HM_ECORRUPT; /* an item without its count */
    n = delta < 0 ? n - 1 : n + 1;
    if (n == 0)
        return cx->env->ops->kv_del(cx->txn, HM_KV_LAYOUT, k, kl);
    uint8_t b[8];
    hm_meta_put_u64be(b, n);
    return cx->env->ops->kv_put(cx->txn, HM_KV_LAYOUT, k, kl, b, sizeof b);
}

/* The write's blobs sorted by id, so that each item finds its blob in
 * log(n_blobs): a rebuilt multipart version names up to HM_PARTS_MAX. */
static int sm_repair_blob_cmp(const void *a, const void *b)
{
    const Hm__Blob *x = *(const Hm__Blob *const *)a, *y = *(const Hm__Blob *const *)b;
    return memcmp(x->blob_id.data, y->blob_id.data, SM_BLOB_ID_BYTES);
}

/* Sorted copy of the blobs with a usable id (free it); NULL only when out
 * of memory. */
static const Hm__Blob **sm_repair_blobs_sorted(Hm__Blob *const *blobs, size_t n_blobs,
                                               size_t *n_out)
{
    const Hm__Blob **v = malloc((n_blobs + 1) * sizeof *v);
    size_t n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n_blobs; i++)
        if (blobs[i] != NULL && blobs[i]->blob_id.len == SM_BLOB_ID_BYTES)
            v[n++] = blobs[i];
    qsort(v, n, sizeof *v, sm_repair_blob_cmp);
    *n_out = n;
    return v;
}

static const Hm__Blob *sm_repair_blob_of(const Hm__RepairItem *it, const Hm__Blob **sorted,
                                         size_t n)
{
    Hm__Blob key = HM__BLOB__INIT;
    const Hm__Blob *kp = &key;
    key.blob_id = it->blob_id;
    const Hm__Blob **hit = bsearch(&kp, sorted, n, sizeof *sorted, sm_repair_blob_cmp);
    return hit != NULL ? *hit : NULL;
}

static int sm_repair_item_cmp(const void *a, const void *b)
{
    const Hm__RepairItem *x = *(const Hm__RepairItem *const *)a;
    const Hm__RepairItem *y = *(const Hm__RepairItem *const *)b;
    int c = memcmp(x->blob_id.data, y->blob_id.data, SM_BLOB_ID_BYTES);
    if (c != 0)
        return c;
    return x->shard_index < y->shard_index ? -1 : x->shard_index > y->shard_index;
}

/* Check the repair items of a write whose blobs are blobs[0..n_blobs)
 * before anything is written: at most HM_REPAIR_ITEMS_PER_WRITE_MAX per
 * blob of the write, each naming a blob of the write, a shard index below
 * its k + m, the blob's profile, a disk id sm_repair_disk_id_ok takes, and
 * no shard twice.  A rejection (HM_EINVAL) lands in resp with a 0 return.
 * A gateway's write names one blob; a version rebuilt from shard files
 * (hm_recover.h) names every part's. */
int sm_repair_check(sm_ctx *cx, Hm__RepairItem *const *items, size_t n,
                    Hm__Blob *const *blobs, size_t n_blobs, Hm__MetaResponse *resp)
{
    (void)cx;
    if (n == 0)
        return 0;
    if (n > (uint64_t)HM_REPAIR_ITEMS_PER_WRITE_MAX * (n_blobs > 0 ? n_blobs : 1))
        return sm_reject(resp, HM_EINVAL, "too many repair items in one write");
    size_t nb = 0;
    const Hm__Blob **sorted = sm_repair_blobs_sorted(blobs, n_blobs, &nb);
    const Hm__RepairItem **byid = malloc(n * sizeof *byid);
    int rc = 0;
    if (sorted == NULL || byid == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const Hm__RepairItem *it = items[i];
        const char *why = NULL;
        const Hm__Blob *b = NULL;
        if (it == NULL || !it->has_blob_id || it->blob_id.len != SM_BLOB_ID_BYTES ||
            !it->has_shard_index)
            why = "repair item needs a blob id and a shard";
        else if ((b = sm_repair_blob_of(it, sorted, nb)) == NULL)
            why = "repair item names no blob of the write";
        else if (!b->has_k || b->k == 0 || (uint64_t)b->k + b->m > HM_EC_SHARDS_MAX ||
                 it->shard_index >= (uint64_t)b->k + b->m)
            why = "repair item shard index outside the profile";
        else if ((it->has_k && it->k != b->k) || (it->has_m && it->m != b->m))
            why = "repair item profile is not its blob's";
        else if (!sm_repair_disk_id_ok(it->disk_id))
            why = "repair item disk id is not a disk id";
        if (why != NULL) {
            rc = sm_reject(resp, HM_EINVAL, why);
            goto out;
        }
        byid[i] = it;
    }
    {
        qsort(byid, n, sizeof *byid, sm_repair_item_cmp);
        for (size_t i = 1; i < n; i++)
            if (sm_repair_item_cmp(&byid[i - 1], &byid[i]) == 0) {
                rc = sm_reject(resp, HM_EINVAL, "repair item names a shard twice");
                break;
            }
    }
out:
    free(sorted);
    free(byid);
    return rc;
}

/* Write the checked items (sm_repair_check) with their blob's profile and
 * the committed clock, and count them per disk.  An item already stored
 * (the same blob written twice, which random ids rule out) is replaced
 * without counting it again. */
int sm_repair_add(sm_ctx *cx, Hm__RepairItem *const *items, size_t n, Hm__Blob *const *blobs,
                  size_t n_blobs)
{
    if (hm_meta_sm_plant_repair_lost || n == 0)
        return 0; /* planted bug: the commit drops its repair work */
    size_t nb = 0;
    const Hm__Blob **sorted = sm_repair_blobs_sorted(blobs, n_blobs, &nb);
    if (sorted == NULL)
        return HM_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const Hm__Blob *b = sm_repair_blob_of(items[i], sorted, nb);
        assert(b != NULL); /* sm_repair_check ran */
        Hm__RepairItem w = *items[i];
        w.has_format_version = true;
        w.format_version = HM_FORMAT_VERSION;
        w.has_k = true;
        w.k = b->k;
        w.has_m = true;
        w.m = b->m;
        w.has_stripe_bytes = b->has_stripe_bytes;
        w.stripe_bytes = b->stripe_bytes;
        w.has_queued_ms = true;
        w.queued_ms = cx->clock;
        if (w.disk_id == NULL)
            w.disk_id = (char *)"";
        uint8_t k[SM_REPAIR_KEY_BYTES];
        size_t kl = sm_repair_key(k, w.blob_id.data, w.shard_index);
        const void *v = NULL;
        size_t vl = 0;
        rc = cx->env->ops->kv_get(cx->txn, HM_KV_LAYOUT, k, kl, &v, &vl);
        if (rc != 0 && rc != HM_ENOENT)
            break;
        if (rc == 0) {
            Hm__RepairItem *old = NULL;
            rc = sm_unpack(&hm__repair_item__descriptor, v, vl, (ProtobufCMessage **)&old);
            if (rc != 0)
                break;
            rc = sm_repair_count_add(cx, old->disk_id, -1);
            hm__repair_item__free_unpacked(old, NULL);
            if (rc != 0)
                break;
        }
        rc = sm_put_msg(cx, HM_KV_LAYOUT, k, kl, &w.base);
        if (rc == 0)
            rc = sm_repair_count_add(cx, w.disk_id, +1);
    }
    free(sorted);
    return rc;
}

/* Drop every repair item of blob b (gc deleted it: nothing is left to
 * repair).  A blob without a usable id or profile has none. */
int sm_repair_drop_blob(sm_ctx *cx, const Hm__Blob *b)
{
    if (b == NULL || b->blob_id.len != SM_BLOB_ID_BYTES)
        return 0;
    uint64_t shards = (uint64_t)b->k + b->m;
    if (shards == 0 || shards > HM_EC_SHARDS_MAX)
        shards = HM_EC_SHARDS_MAX;
    for (uint32_t i = 0; i < shards; i++) {
        uint8_t k[SM_REPAIR_KEY_BYTES];
        size_t kl = sm_repair_key(k, b->blob_id.data, i);
        const void *v = NULL;
        size_t vl = 0;
        int rc = cx->env->ops->kv_get(cx->txn, HM_KV_LAYOUT, k, kl, &v, &vl);
        if (rc == HM_ENOENT)
            continue;
        if (rc != 0)
            return rc;
        Hm__RepairItem *it = NULL;
        rc = sm_unpack(&hm__repair_item__descriptor, v, vl, (ProtobufCMessage **)&it);
        if (rc != 0)
            return rc;
        rc = sm_repair_count_add(cx, it->disk_id, -1);
        hm__repair_item__free_unpacked(it, NULL);
        if (rc == 0)
            rc = cx->env->ops->kv_del(cx->txn, HM_KV_LAYOUT, k, kl);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Fill r's repair counts (by disk id, at most HM_DISK_REBUILDS_MAX rows)
 * and their total. */
int sm_repair_counts(sm_ctx *cx, Hm__DiskListResult *r)
{
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_LAYOUT, &cur);
    if (rc != 0)
        return rc;
    size_t cap = 0;
    r->has_repair_total = true;
    r->repair_total = 0;
    for (rc = cx->env->ops->kv_cursor_seek(cur, SM_REPAIR_COUNT_PREFIX,
                                           SM_REPAIR_COUNT_PREFIX_BYTES);
         rc == 0; rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (kl < SM_REPAIR_COUNT_PREFIX_BYTES ||
            memcmp(k, SM_REPAIR_COUNT_PREFIX, SM_REPAIR_COUNT_PREFIX_BYTES) != 0 ||
            r->n_repair_counts >= HM_DISK_REBUILDS_MAX)
            break;
        if (vl != 8 || kl - SM_REPAIR_COUNT_PREFIX_BYTES > HM_REPAIR_DISK_ID_BYTES_MAX) {
            rc = HM_ECORRUPT;
            break;
        }
        if (r->n_repair_counts == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            Hm__RepairCount **na = realloc(r->repair_counts, ncap * sizeof *na);
            if (na == NULL) {
                rc = HM_ENOMEM;
                break;
            }
            r->repair_counts = na;
            cap = ncap;
        }
        Hm__RepairCount *c = malloc(sizeof *c);
        size_t idl = kl - SM_REPAIR_COUNT_PREFIX_BYTES;
        char *id = malloc(idl + 1);
        if (c == NULL || id == NULL) {
            free(c);
            free(id);
            rc = HM_ENOMEM;
            break;
        }
        hm__repair_count__init(c);
        memcpy(id, (const uint8_t *)k + SM_REPAIR_COUNT_PREFIX_BYTES, idl);
        id[idl] = '\0';
        c->disk_id = id;
        c->has_count = true;
        c->count = hm_meta_get_u64be(v);
        r->repair_counts[r->n_repair_counts++] = c;
        r->repair_total += c->count;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

/* RepairList: the items after q->start_after in key order (blob id, then
 * shard index), at most max (default and cap HM_LIST_KEYS_MAX); truncated
 * with next_start_after when more follow.  A start_after longer than a
 * key's suffix is refused (HM_EINVAL in resp). */
int sm_q_repair_list(sm_ctx *cx, const Hm__RepairList *q, Hm__MetaResponse *resp)
{
    if (q != NULL && q->has_start_after && q->start_after.len > SM_REPAIR_SUFFIX_BYTES)
        return sm_reject(resp, HM_EINVAL, "repair list marker longer than blob id and shard");
    Hm__RepairListResult *r = malloc(sizeof *r);
    if (r == NULL)
        return HM_ENOMEM;
    hm__repair_list_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_REPAIRS;
    resp->repairs = r;
    uint32_t max = q != NULL ? sm_page_max(q->has_max, q->max) : HM_LIST_KEYS_MAX;
    r->items = calloc(max, sizeof *r->items);
    if (r->items == NULL)
        return HM_ENOMEM;
    uint8_t seek[SM_REPAIR_KEY_BYTES];
    size_t sl = SM_REPAIR_PREFIX_BYTES;
    memcpy(seek, SM_REPAIR_PREFIX, SM_REPAIR_PREFIX_BYTES);
    size_t after = q != NULL && q->has_start_after ? q->start_after.len : 0;
    if (after > 0) {
        memcpy(seek + sl, q->start_after.data, after);
        sl += after;
    }
    uint8_t last[SM_REPAIR_KEY_BYTES];
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_LAYOUT, &cur);
    if (rc != 0)
        return rc;
    for (rc = cx->env->ops->kv_cursor_seek(cur, seek, sl); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (kl < SM_REPAIR_PREFIX_BYTES || memcmp(k, SM_REPAIR_PREFIX, SM_REPAIR_PREFIX_BYTES) != 0)
            break;
        if (kl != SM_REPAIR_KEY_BYTES) {
            rc = HM_ECORRUPT;
            break;
        }
        if (after > 0 && sm_cmp(k, kl, seek, sl) <= 0)
            continue; /* the marker itself: exclusive */
        if (r->n_items == max) {
            r->truncated = true;
            break;
        }
        Hm__RepairItem *it = NULL;
        rc = sm_unpack(&hm__repair_item__descriptor, v, vl, (ProtobufCMessage **)&it);
        if (rc != 0)
            break;
        r->items[r->n_items++] = it;
        memcpy(last, k, SM_REPAIR_KEY_BYTES);
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    r->has_truncated = true;
    if (rc == 0 && r->truncated && r->n_items > 0) {
        uint8_t *m = malloc(SM_REPAIR_SUFFIX_BYTES);
        if (m == NULL)
            return HM_ENOMEM;
        memcpy(m, last + SM_REPAIR_PREFIX_BYTES, SM_REPAIR_SUFFIX_BYTES);
        r->has_next_start_after = true;
        r->next_start_after.data = m;
        r->next_start_after.len = SM_REPAIR_SUFFIX_BYTES;
    }
    return rc;
}
