/* hm_meta_sm_gc.c - write intents and garbage collection in the metadata
 * state machine: IntentPut / IntentDelete, the gc queue, the gc lease,
 * GcDone (which also drops the deleted blobs' repair items), and the
 * IntentScan / GcScan queries. */
#include <stdatomic.h>

#include "hm_meta_sm_int.h"

static const char sm_key_gc_lease[] = "gc_lease";

/* The index row of an intent due at deadline. */
size_t sm_ix_intent(uint8_t *k, int64_t deadline, const uint8_t *id, size_t id_len)
{
    k[0] = SM_IX_INTENT_DUE;
    sm_put_time(k + 1, deadline);
    memcpy(k + 9, id, id_len);
    return 9 + id_len;
}

/* Queue blobs[0..n) (n <= SM_GC_BLOBS_PER_ITEM) as one gc item. */
static int sm_gc_add_one(sm_ctx *cx, Hm__Blob **blobs, size_t n, int64_t not_before_ms)
{
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

/* Queue blobs for deletion after not_before_ms.  A multipart object or an
 * aborted upload can name up to HM_PARTS_MAX blobs; they are split into
 * items of at most SM_GC_BLOBS_PER_ITEM so that one GcScan answer (up to
 * HM_LIST_KEYS_MAX items) stays far below the RPC message bound. */
int sm_gc_add(sm_ctx *cx, Hm__Blob **blobs, size_t n, int64_t not_before_ms)
{
    for (size_t i = 0; i < n; i += SM_GC_BLOBS_PER_ITEM) {
        size_t m = n - i < SM_GC_BLOBS_PER_ITEM ? n - i : SM_GC_BLOBS_PER_ITEM;
        int rc = sm_gc_add_one(cx, blobs + i, m, not_before_ms);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Retired intents.  An intent is retired when the write it covers commits
 * (ObjectPut, PartPut), when it is aborted or expired (IntentDelete).  Its
 * record is then replaced by a tombstone (retired_ms set, no blobs), kept
 * HM_INTENT_RETIRED_MS of committed time: an IntentPut of that id arriving
 * late (a retried or duplicated RPC) is refused instead of bringing the
 * intent back, whose blobs the committed write now names and the collector
 * would delete at its deadline.  Due tombstones are handed out by
 * IntentScan after the due intents, and the IntentDelete the collector
 * sends for one removes it.  docs/storage-safety.md, "Late intents". */

static atomic_bool sm_plant_revive_retired;

void hm_meta_sm_plant_revive_retired_intent(bool on)
{
    atomic_store(&sm_plant_revive_retired, on);
}

/* The index row of an intent (its deadline) or a tombstone (its collection
 * time). */
static size_t sm_ix_intent_of(uint8_t *k, const Hm__Intent *in, const uint8_t *id,
                              size_t id_len)
{
    size_t kl = sm_ix_intent(k, in->deadline_ms, id, id_len);
    if (in->has_retired_ms)
        k[0] = SM_IX_INTENT_RETIRED;
    return kl;
}

/* The record of id (intent or tombstone) into *out; HM_ENOENT if none. */
static int sm_intent_get(sm_ctx *cx, const uint8_t *id, size_t len, Hm__Intent **out)
{
    *out = NULL;
    if (len == 0 || len > HM_KV_KEY_BYTES_MAX)
        return HM_ENOENT;
    return sm_get_msg(cx, HM_KV_INTENTS, id, len, &hm__intent__descriptor,
                      (ProtobufCMessage **)out);
}

/* Remove the record of id (intent or tombstone) and its index row; the
 * record goes to *out (NULL: freed).  HM_ENOENT when there is none. */
static int sm_intent_remove(sm_ctx *cx, const uint8_t *id, size_t len, Hm__Intent **out)
{
    if (out != NULL)
        *out = NULL;
    Hm__Intent *in = NULL;
    int rc = sm_intent_get(cx, id, len, &in);
    if (rc != 0)
        return rc;
    rc = cx->env->ops->kv_del(cx->txn, HM_KV_INTENTS, id, len);
    if (rc == 0 && len <= SM_INTENT_ID_BYTES_MAX) {
        uint8_t k[HM_KV_KEY_BYTES_MAX];
        size_t kl = sm_ix_intent_of(k, in, id, len);
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_INDEX, k, kl);
        if (rc == HM_ENOENT)
            rc = 0; /* an intent stored before the index existed */
    }
    if (rc == 0 && out != NULL)
        *out = in;
    else
        hm__intent__free_unpacked(in, NULL);
    return rc;
}

/* Store in (an intent or a tombstone) and its index row. */
static int sm_intent_store(sm_ctx *cx, const Hm__Intent *in)
{
    int rc = sm_put_msg(cx, HM_KV_INTENTS, in->intent_id.data, in->intent_id.len, &in->base);
    if (rc != 0)
        return rc;
    uint8_t k[HM_KV_KEY_BYTES_MAX];
    size_t kl = sm_ix_intent_of(k, in, in->intent_id.data, in->intent_id.len);
    return cx->env->ops->kv_put(cx->txn, HM_KV_INDEX, k, kl, "", 0);
}

/* Retire the live intent id: its record gives way to a tombstone, collected
 * HM_INTENT_RETIRED_MS of committed time later (fallback_ms stands for the
 * committed clock when the command carries none).  The live record goes to
 * *out (NULL: freed).  HM_ENOENT when id has no live intent (none, or only
 * a tombstone, which is left as it is). */
static int sm_intent_retire(sm_ctx *cx, const uint8_t *id, size_t len, int64_t fallback_ms,
                            Hm__Intent **out)
{
    if (out != NULL)
        *out = NULL;
    Hm__Intent *in = NULL;
    int rc = sm_intent_get(cx, id, len, &in);
    if (rc == 0 && in->has_retired_ms)
        rc = HM_ENOENT; /* a tombstone stays as it is */
    if (in != NULL)
        hm__intent__free_unpacked(in, NULL);
    if (rc == 0)
        rc = sm_intent_remove(cx, id, len, out);
    if (rc == 0 && len <= SM_INTENT_ID_BYTES_MAX) {
        Hm__Intent t = HM__INTENT__INIT;
        t.has_format_version = true;
        t.format_version = HM_FORMAT_VERSION;
        t.has_intent_id = true;
        t.intent_id.data = (uint8_t *)id;
        t.intent_id.len = len;
        t.has_retired_ms = true;
        t.retired_ms = cx->has_clock ? cx->clock : fallback_ms;
        t.has_deadline_ms = true;
        t.deadline_ms = sm_add_ms(t.retired_ms, HM_INTENT_RETIRED_MS);
        rc = sm_intent_store(cx, &t);
    }
    if (rc != 0 && out != NULL && *out != NULL) {
        hm__intent__free_unpacked(*out, NULL);
        *out = NULL;
    }
    return rc;
}

int sm_intent_take(sm_ctx *cx, const uint8_t *id, size_t len, Hm__Intent **out)
{
    return sm_intent_retire(cx, id, len, 0, out);
}

/* Does id name a live intent (not a tombstone)?  A rejection (HM_EINTENT)
 * lands in resp. */
int sm_intent_check(sm_ctx *cx, const ProtobufCBinaryData *id, Hm__MetaResponse *resp)
{
    Hm__Intent *in = NULL;
    int rc = sm_intent_get(cx, id->data, id->len, &in);
    if (rc == 0 && in->has_retired_ms)
        rc = HM_ENOENT;
    if (in != NULL)
        hm__intent__free_unpacked(in, NULL);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_EINTENT, NULL);
    return rc;
}

/* IntentPut: record a write's blobs with its deadline: committed clock +
 * ttl_ms when both are there (a gateway's wall clock never sets it), else
 * the deadline_ms sent.  A repeated IntentPut of a live id (a duplicated
 * message) replaces the first and its index row; one of a retired id (its
 * tombstone still there) is refused with HM_EINTENT. */
int sm_intent_put(sm_ctx *cx, const Hm__IntentPut *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->intent == NULL || !c->intent->has_intent_id ||
        c->intent->intent_id.len == 0 || c->intent->intent_id.len > SM_INTENT_ID_BYTES_MAX)
        return sm_reject(resp, HM_EINVAL, "intent needs an id of 1..502 bytes");
    Hm__Intent in = *c->intent;
    in.has_format_version = true;
    in.format_version = HM_FORMAT_VERSION;
    in.has_retired_ms = false; /* only the state machine retires */
    if (in.has_ttl_ms && cx->has_clock) {
        in.has_deadline_ms = true;
        in.deadline_ms = sm_add_ms(cx->clock, in.ttl_ms < 0 ? 0 : in.ttl_ms);
    }
    Hm__Intent *old = NULL;
    int rc = sm_intent_remove(cx, in.intent_id.data, in.intent_id.len, &old);
    if (rc != 0 && rc != HM_ENOENT)
        return rc;
    if (old != NULL && old->has_retired_ms && !atomic_load(&sm_plant_revive_retired)) {
        rc = sm_intent_store(cx, old);
        hm__intent__free_unpacked(old, NULL);
        return rc != 0 ? rc : sm_reject(resp, HM_EINTENT, "intent already retired");
    }
    if (old != NULL)
        hm__intent__free_unpacked(old, NULL);
    return sm_intent_store(cx, &in);
}

int sm_intent_delete(sm_ctx *cx, const Hm__IntentDelete *c, Hm__MetaResponse *resp)
{
    if (c == NULL || !c->has_intent_id || c->intent_id.len == 0 ||
        c->intent_id.len > HM_KV_KEY_BYTES_MAX)
        return sm_reject(resp, HM_EINVAL, "intent needs an id");
    Hm__Intent *in = NULL;
    int rc = sm_intent_get(cx, c->intent_id.data, c->intent_id.len, &in);
    if (rc == HM_ENOENT)
        return 0; /* already collected */
    if (rc != 0)
        return rc;
    if (in->has_retired_ms) {
        /* A tombstone: collected once due (the collector's IntentDelete),
         * kept before that (a late duplicate of an earlier IntentDelete). */
        if (in->deadline_ms <= sm_after(cx, c->now_ms, 0))
            rc = sm_intent_remove(cx, c->intent_id.data, c->intent_id.len, NULL);
        hm__intent__free_unpacked(in, NULL);
        return rc;
    }
    hm__intent__free_unpacked(in, NULL);
    rc = sm_intent_retire(cx, c->intent_id.data, c->intent_id.len, c->now_ms, &in);
    if (rc == 0)
        rc = sm_gc_add(cx, in->blobs, in->n_blobs, sm_after(cx, c->now_ms, 0));
    if (in != NULL)
        hm__intent__free_unpacked(in, NULL);
    return rc;
}

/* GcLease: one collector per store.  The lease row is holder bytes then
 * the committed clock it runs until (i64 BE, sign flipped).  Granted when
 * there is none, it ran out, or the holder renews its own; HM_EBUSY
 * otherwise.  Needs the committed clock: a command without one (only a
 * bare state machine sends it) is refused. */
int sm_gc_lease(sm_ctx *cx, const Hm__GcLease *c, Hm__MetaResponse *resp)
{
    if (c == NULL || !c->has_holder || c->holder.len == 0 ||
        c->holder.len > SM_LEASE_HOLDER_BYTES_MAX || !c->has_ttl_ms || c->ttl_ms <= 0)
        return sm_reject(resp, HM_EINVAL, "gc lease needs a holder of 1..64 bytes and a ttl");
    if (!cx->has_clock)
        return sm_reject(resp, HM_EINVAL, "gc lease needs the committed clock");
    const void *v = NULL;
    size_t vl = 0;
    int rc = cx->env->ops->kv_get(cx->txn, HM_KV_SYS, sm_key_gc_lease, strlen(sm_key_gc_lease),
                                  &v, &vl);
    if (rc != 0 && rc != HM_ENOENT)
        return rc;
    if (rc == 0) {
        if (vl < 8 || vl - 8 > SM_LEASE_HOLDER_BYTES_MAX)
            return HM_ECORRUPT;
        const uint8_t *b = v;
        int64_t until = sm_get_time(b + vl - 8);
        bool mine = vl - 8 == c->holder.len && memcmp(b, c->holder.data, c->holder.len) == 0;
        if (!mine && until > cx->clock)
            return sm_reject(resp, HM_EBUSY, "another collector holds the gc lease");
    }
    uint8_t row[SM_LEASE_HOLDER_BYTES_MAX + 8];
    memcpy(row, c->holder.data, c->holder.len);
    sm_put_time(row + c->holder.len, sm_add_ms(cx->clock, c->ttl_ms));
    return cx->env->ops->kv_put(cx->txn, HM_KV_SYS, sm_key_gc_lease, strlen(sm_key_gc_lease),
                                row, c->holder.len + 8);
}

int sm_gc_done(sm_ctx *cx, const Hm__GcDone *c, Hm__MetaResponse *resp)
{
    (void)resp;
    for (size_t i = 0; c != NULL && i < c->n_gc_keys; i++) {
        if (c->gc_keys[i].len != HM_META_GC_KEY_BYTES)
            continue; /* not a key we handed out: nothing to remove */
        /* The blobs are deleted: their repair work goes with them. */
        Hm__GcItem *it = NULL;
        int rc = sm_get_msg(cx, HM_KV_GC, c->gc_keys[i].data, c->gc_keys[i].len,
                            &hm__gc_item__descriptor, (ProtobufCMessage **)&it);
        if (rc == HM_ENOENT)
            continue; /* done twice (a repeated message) */
        if (rc != 0)
            return rc;
        for (size_t b = 0; rc == 0 && b < it->n_blobs; b++)
            rc = sm_repair_drop_blob(cx, it->blobs[b]);
        hm__gc_item__free_unpacked(it, NULL);
        if (rc != 0)
            return rc;
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_GC, c->gc_keys[i].data, c->gc_keys[i].len);
        if (rc != 0 && rc != HM_ENOENT)
            return rc;
    }
    return 0;
}

int sm_q_gc_scan(sm_ctx *cx, const Hm__GcScan *q, Hm__MetaResponse *resp)
{
    Hm__GcScanResult *r = malloc(sizeof *r);
    if (r == NULL)
        return HM_ENOMEM;
    hm__gc_scan_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_GC;
    resp->gc = r;
    uint32_t max = q != NULL ? sm_page_max(q->has_max, q->max) : HM_LIST_KEYS_MAX;
    int64_t now = q != NULL ? q->now_ms : 0;
    bool all = q != NULL && q->has_all && q->all;
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
        if (!all && nb > now)
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

/* Append to r (up to max) the ids of index rows of kind whose time is <=
 * now (every row when all), earliest first. */
static int sm_scan_intent_ix(sm_ctx *cx, uint8_t kind, bool all, int64_t now, uint32_t max,
                             Hm__IntentScanResult *r)
{
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_INDEX, &cur);
    if (rc != 0)
        return rc;
    for (rc = cx->env->ops->kv_cursor_seek(cur, &kind, 1); rc == 0 && r->n_intent_ids < max;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        const uint8_t *kb = k;
        if (kl < 1 || kb[0] != kind)
            break;
        if (kl < 10) {
            rc = HM_ECORRUPT;
            break;
        }
        if (!all && sm_get_time(kb + 1) > now)
            break; /* rows sort by time: the rest are later */
        kl -= 9;
        uint8_t *kc = malloc(kl);
        if (kc == NULL) {
            rc = HM_ENOMEM;
            break;
        }
        memcpy(kc, kb + 9, kl);
        r->intent_ids[r->n_intent_ids].data = kc;
        r->intent_ids[r->n_intent_ids].len = kl;
        r->n_intent_ids++;
    }
    if (rc == HM_ENOENT)
        rc = 0;
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

/* IntentScan: the ids of intents whose deadline_ms <= now_ms (every intent
 * with a deadline when all is set), at most max
 * (default and cap HM_LIST_KEYS_MAX), earliest deadline first; then, when
 * all is not set and there is room, the ids of tombstones due for
 * collection (an IntentDelete of one removes it).  It walks the index, so
 * it reads only due rows however many are live.  Read-only: expiring or
 * collecting one is an IntentDelete through the log. */
int sm_q_intent_scan(sm_ctx *cx, const Hm__IntentScan *q, Hm__MetaResponse *resp)
{
    Hm__IntentScanResult *r = malloc(sizeof *r);
    if (r == NULL)
        return HM_ENOMEM;
    hm__intent_scan_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_INTENTS;
    resp->intents = r;
    uint32_t max = q != NULL ? sm_page_max(q->has_max, q->max) : HM_LIST_KEYS_MAX;
    int64_t now = q != NULL ? q->now_ms : 0;
    bool all = q != NULL && q->has_all && q->all;
    r->intent_ids = calloc(max, sizeof *r->intent_ids);
    if (r->intent_ids == NULL)
        return HM_ENOMEM;
    int rc = sm_scan_intent_ix(cx, SM_IX_INTENT_DUE, all, now, max, r);
    if (rc == 0 && !all)
        rc = sm_scan_intent_ix(cx, SM_IX_INTENT_RETIRED, false, now, max, r);
    return rc;
}
