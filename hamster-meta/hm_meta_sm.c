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

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_akeys.h"
#include "hm_meta_keys.h"

static const char sm_key_schema[] = "schema";
static const char sm_key_applied[] = "applied_index";
static const char sm_key_next_bucket[] = "next_bucket_id";
static const char sm_key_clock[] = "clock_ms";
static const char sm_key_gc_lease[] = "gc_lease";

/* HM_KV_INDEX rows: a kind byte, then the kind's key; values are empty.
 *   SM_IX_INTENT_DUE  deadline (i64, sign flipped, BE) | intent id
 *   SM_IX_UPLOAD_AGE  created clock (i64, sign flipped, BE) | bucket id | upload id
 *   SM_IX_UPLOAD_KEY  bucket id | the first SM_UPLOAD_KEY_ENC_BYTES of the
 *                     object key's encoding | upload id | upload id length (u8)
 * The intent index lets IntentScan read only the due intents; the upload
 * indexes let ListMultipartUploads seek to its markers and the expiry scan
 * read only the expired uploads. */
enum { SM_IX_INTENT_DUE = 1, SM_IX_UPLOAD_AGE = 2, SM_IX_UPLOAD_KEY = 3 };
#define SM_UPLOAD_KEY_ENC_BYTES 400u
#define SM_IX_KEY_BYTES_MAX                                                                    \
    (1u + HM_META_BUCKET_ID_BYTES + SM_UPLOAD_KEY_ENC_BYTES + HM_UPLOAD_ID_BYTES_MAX + 1u)
_Static_assert(SM_IX_KEY_BYTES_MAX <= HM_KV_KEY_BYTES_MAX, "index keys fit the KV key limit");
#define SM_INTENT_ID_BYTES_MAX (HM_KV_KEY_BYTES_MAX - 9u)
#define SM_LEASE_HOLDER_BYTES_MAX 64u

/* Blobs per gc item.  A 1+0 manifest blob packs to about 100 bytes, so a
 * full GcScan answer (HM_LIST_KEYS_MAX items) stays near 3 MB, under
 * HM_RPC_PROTO_BYTES_MAX, however many blobs one command retires. */
#define SM_GC_BLOBS_PER_ITEM 32u
#define SM_BLOB_ID_BYTES 16u /* HM_BLOB_ID_BYTES of the shard api */

/* One command's application: the GC keys it writes are numbered so two in
 * the same command never collide. */
typedef struct sm_ctx {
    hm_env *env;
    hm_kv_txn *txn;
    uint64_t index;
    uint32_t gc_seq;
    bool has_clock;  /* the command carried the committed clock */
    int64_t clock;   /* the committed clock after this command */
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

/* Unpack a stored record and check its format version is in [vmin, vmax].
 * HM_ECORRUPT when it does not parse, HM_EVERSION when its version is not
 * one we read. */
static int sm_unpack_v(const ProtobufCMessageDescriptor *d, const void *val, size_t len,
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
static int sm_unpack(const ProtobufCMessageDescriptor *d, const void *val, size_t len,
                     ProtobufCMessage **out)
{
    return sm_unpack_v(d, val, len, HM_FORMAT_VERSION_MIN, HM_FORMAT_VERSION_MAX, out);
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

/* ---- the committed clock and the index rows ------------------------------- */

/* A gc not-before or expiry time: base + ms, where base is the committed
 * clock when the command carried it, else the proposer's time (fallback),
 * as commands logged before the clock existed were applied. */
static int64_t sm_add_ms(int64_t a, int64_t b);

static int64_t sm_after(const sm_ctx *cx, int64_t fallback, int64_t ms)
{
    return sm_add_ms(cx->has_clock ? cx->clock : fallback, ms);
}

static void sm_put_time(uint8_t out[8], int64_t t)
{
    /* Flip the sign bit so signed times sort correctly as unsigned bytes. */
    hm_meta_put_u64be(out, (uint64_t)t ^ (1ull << 63));
}

static int64_t sm_get_time(const uint8_t in[8])
{
    return (int64_t)(hm_meta_get_u64be(in) ^ (1ull << 63));
}

/* The index row of an intent due at deadline. */
static size_t sm_ix_intent(uint8_t *k, int64_t deadline, const uint8_t *id, size_t id_len)
{
    k[0] = SM_IX_INTENT_DUE;
    sm_put_time(k + 1, deadline);
    memcpy(k + 9, id, id_len);
    return 9 + id_len;
}

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
static int sm_ix_upload(sm_ctx *cx, uint64_t bid, const Hm__UploadRecord *u, bool put)
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

static int sm_bucket_uploads_drop(sm_ctx *cx, uint64_t bid, int64_t not_before_ms);

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

/* ---- names and versions ------------------------------------------------- */

/* Names rows (ADR 13).  The keys whose encodings share one names-table head
 * key live in a chain: the head row, then continuation rows keyed head ‖
 * sequence, each a NameList sorted by key, every key of a row below every
 * key of the rows after it.  No row packs to more than
 * HM_NAMES_ROW_BYTES_MAX: a write that would grow one past it splits it into
 * rows of at most half the cap, so a PUT rewrites one or a few bounded rows
 * however many keys share the prefix.  A schema-2 row (format version 1,
 * possibly larger) is read as the head of a chain with no continuation and
 * is split the first time a write goes to it. */

/* New continuation rows appended at the end of a chain are this far apart,
 * leaving room for splits between them. */
#define SM_NAMES_SEQ_STEP (1u << 16)
/* Bytes a NameList spends besides its entries (format version), and per
 * entry besides the entry itself (tag, length). */
#define SM_NAMES_ROW_OVERHEAD 8u
#define SM_NAMES_ENTRY_OVERHEAD 4u

/* Read one protobuf varint from *p (before end). */
static int sm_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned sh = 0; sh < 64; sh += 7) {
        if (*p == end)
            return HM_ECORRUPT;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7F) << sh;
        if ((b & 0x80) == 0) {
            *v = r;
            return 0;
        }
    }
    return HM_ECORRUPT;
}

/* The first length-delimited field number `field` of the message
 * msg[0..len), without unpacking it.  HM_ENOENT when there is none,
 * HM_ECORRUPT when the bytes do not parse as far as that. */
static int sm_pb_bytes_field(const uint8_t *msg, size_t len, uint64_t field,
                             const uint8_t **out, size_t *out_len)
{
    const uint8_t *p = msg, *end = msg + len;
    while (p < end) {
        uint64_t tag = 0, n = 0;
        int rc = sm_pb_varint(&p, end, &tag);
        if (rc != 0)
            return rc;
        switch (tag & 7u) {
        case 0:
            rc = sm_pb_varint(&p, end, &n);
            if (rc != 0)
                return rc;
            break;
        case 1:
            if (end - p < 8)
                return HM_ECORRUPT;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return HM_ECORRUPT;
            p += 4;
            break;
        case 2:
            rc = sm_pb_varint(&p, end, &n);
            if (rc != 0)
                return rc;
            if (n > (uint64_t)(end - p))
                return HM_ECORRUPT;
            if (tag >> 3 == field) {
                *out = p;
                *out_len = (size_t)n;
                return 0;
            }
            p += n;
            break;
        default:
            return HM_ECORRUPT;
        }
    }
    return HM_ENOENT;
}

/* The key of the first entry of a packed NameList (rows are never stored
 * empty, so a row without one is corrupt). */
static int sm_names_first_key(const void *row, size_t len, const uint8_t **key, size_t *klen)
{
    const uint8_t *e = NULL;
    size_t elen = 0;
    int rc = sm_pb_bytes_field(row, len, 2, &e, &elen); /* NameList.entries */
    if (rc == 0)
        rc = sm_pb_bytes_field(e, elen, 1, key, klen); /* NameEntry.key */
    return rc == HM_ENOENT ? HM_ECORRUPT : rc;
}

/* Unpack a names row: NameList format versions 1 and 2. */
static int sm_names_unpack(const void *val, size_t len, Hm__NameList **out)
{
    return sm_unpack_v(&hm__name_list__descriptor, val, len, HM_META_NAME_LIST_VERSION_MIN,
                       HM_META_NAME_LIST_VERSION, (ProtobufCMessage **)out);
}

/* The key of the row of head's chain that holds key[0..klen), or would hold
 * it: the last row whose first key is <= key, else the first row, else (an
 * empty chain) the head.  A binary search over the sequence space reads one
 * first key per probe, so its cost grows with log(rows), never with the
 * chain's bytes.  out must hold HM_META_NAMES_KEY_BYTES_MAX bytes. */
static int sm_name_locate(sm_ctx *cx, const uint8_t *head, size_t head_len, const char *key,
                          size_t klen, uint8_t *out, size_t *out_len)
{
    memcpy(out, head, head_len);
    *out_len = head_len;
    if (head_len != HM_META_NAMES_HEAD_KEY_BYTES_MAX)
        return 0; /* a whole encoding: one key, one row */
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
    if (rc != 0)
        return rc;
    uint8_t ck[HM_META_NAMES_CONT_KEY_BYTES];
    uint64_t lo = 0, hi = 1ull << 32;
    bool found = false, first = true, have_last = false;
    uint32_t best = 0, first_seq = 0, last_seq = 0;
    int last_cmp = 0;
    while (lo < hi) {
        uint64_t mid = first ? 0 : lo + (hi - lo) / 2;
        hm_meta_names_cont_key(head, (uint32_t)mid, ck);
        rc = cx->env->ops->kv_cursor_seek(cur, ck, sizeof ck);
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        if (rc == 0)
            rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        uint32_t seq = 0;
        if (rc == HM_ENOENT || (rc == 0 && !hm_meta_names_key_is_cont(k, kl, head, head_len, &seq))) {
            rc = 0;
            if (first)
                break; /* no continuation rows: the head is the row */
            hi = mid;
            continue;
        }
        if (rc != 0)
            break;
        if (first) {
            first = false;
            first_seq = seq;
        }
        int c = last_cmp;
        if (!have_last || seq != last_seq) {
            const uint8_t *fk = NULL;
            size_t fkl = 0;
            rc = sm_names_first_key(v, vl, &fk, &fkl);
            if (rc != 0)
                break;
            c = sm_cmp(fk, fkl, key, klen);
            have_last = true;
            last_seq = seq;
            last_cmp = c;
        }
        if (c <= 0) {
            found = true;
            best = seq;
            lo = (uint64_t)seq + 1;
        } else {
            hi = mid;
        }
    }
    cx->env->ops->kv_cursor_close(cur);
    if (rc != 0 || first)
        return rc;
    if (found) {
        hm_meta_names_cont_key(head, best, out);
        *out_len = HM_META_NAMES_CONT_KEY_BYTES;
        return 0;
    }
    /* key sorts before every continuation row: the head, when there is one,
     * else the first continuation row. */
    const void *v = NULL;
    size_t vl = 0;
    rc = cx->env->ops->kv_get(cx->txn, HM_KV_NAMES, head, head_len, &v, &vl);
    if (rc == HM_ENOENT) {
        hm_meta_names_cont_key(head, first_seq, out);
        *out_len = HM_META_NAMES_CONT_KEY_BYTES;
        rc = 0;
    }
    return rc;
}

/* The names-table row holding key: its chain's head key, the row's key,
 * the unpacked list (NULL when the row is absent) and the position of key
 * in it (*pos = -1 when absent; the row is then where it would be
 * inserted). */
typedef struct sm_name {
    uint8_t head[HM_META_NAMES_KEY_BYTES_MAX];
    size_t head_len;
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
    size_t klen = strlen(key);
    int rc = hm_meta_names_key(bucket_id, key, klen, n->head, &n->head_len);
    if (rc != 0)
        return rc;
    rc = sm_name_locate(cx, n->head, n->head_len, key, klen, n->nk, &n->nk_len);
    if (rc != 0)
        return rc;
    const void *val = NULL;
    size_t len = 0;
    rc = cx->env->ops->kv_get(cx->txn, HM_KV_NAMES, n->nk, n->nk_len, &val, &len);
    if (rc == HM_ENOENT)
        return 0;
    if (rc == 0)
        rc = sm_names_unpack(val, len, &n->list);
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

/* One packed names row to write. */
typedef struct sm_row {
    uint8_t *buf;
    size_t len;
} sm_row;

static void sm_rows_free(sm_row *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++)
        free(rows[i].buf);
    free(rows);
}

/* Pack entries[0..n) as a format-2 row; base supplies the other fields
 * (those of the row being rewritten, so a newer version's survive). */
static int sm_row_pack(const Hm__NameList *base, Hm__NameEntry **entries, size_t n, sm_row *out)
{
    Hm__NameList nl = *base;
    nl.has_format_version = true;
    nl.format_version = HM_META_NAME_LIST_VERSION;
    nl.n_entries = n;
    nl.entries = entries;
    out->len = protobuf_c_message_get_packed_size(&nl.base);
    out->buf = malloc(out->len > 0 ? out->len : 1);
    if (out->buf == NULL)
        return HM_ENOMEM;
    protobuf_c_message_pack(&nl.base, out->buf);
    assert(out->len <= HM_NAMES_ROW_BYTES_MAX);
    return 0;
}

/* Rewrite every continuation row of n's chain at evenly spread sequences,
 * with repl[0..n_repl) in place of n's row: called when a split finds no
 * free sequence between its neighbours.  Rare (a run of splits at one
 * place), and linear in the chain's rows. */
static int sm_name_renumber(sm_ctx *cx, const sm_name *n, const sm_row *repl, size_t n_repl)
{
    sm_row *old = NULL;
    uint32_t *seqs = NULL;
    const sm_row **fin = NULL;
    size_t cnt = 0, cap = 0;
    uint32_t cur_seq = 0;
    bool cur_cont = hm_meta_names_key_is_cont(n->nk, n->nk_len, n->head, n->head_len, &cur_seq);
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
    if (rc != 0)
        return rc;
    uint8_t ck[HM_META_NAMES_CONT_KEY_BYTES];
    hm_meta_names_cont_key(n->head, 0, ck);
    for (rc = cx->env->ops->kv_cursor_seek(cur, ck, sizeof ck); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        uint32_t seq = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (!hm_meta_names_key_is_cont(k, kl, n->head, n->head_len, &seq)) {
            rc = HM_ENOENT;
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 64 : cap * 2;
            sm_row *no = realloc(old, ncap * sizeof *no);
            if (no != NULL)
                old = no;
            uint32_t *ns = no != NULL ? realloc(seqs, ncap * sizeof *ns) : NULL;
            if (ns == NULL) {
                rc = HM_ENOMEM;
                break;
            }
            seqs = ns;
            cap = ncap;
        }
        old[cnt].len = vl;
        old[cnt].buf = malloc(vl > 0 ? vl : 1);
        if (old[cnt].buf == NULL) {
            rc = HM_ENOMEM;
            break;
        }
        memcpy(old[cnt].buf, v, vl);
        seqs[cnt++] = seq;
    }
    cx->env->ops->kv_cursor_close(cur);
    if (rc != HM_ENOENT)
        goto out;
    /* The continuation rows in their new order. */
    fin = malloc((cnt + n_repl) * sizeof *fin);
    if (fin == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    size_t total = 0;
    bool placed = false;
    if (!cur_cont) {
        for (size_t j = 1; j < n_repl; j++)
            fin[total++] = &repl[j];
        placed = true;
    }
    for (size_t i = 0; i < cnt; i++) {
        if (cur_cont && seqs[i] == cur_seq) {
            for (size_t j = 0; j < n_repl; j++)
                fin[total++] = &repl[j];
            placed = true;
        } else {
            fin[total++] = &old[i];
        }
    }
    if (!placed) {
        rc = HM_EINTERNAL; /* n's row is not in its chain */
        goto out;
    }
    uint64_t spacing = (1ull << 32) / (total + 1);
    if (spacing > SM_NAMES_SEQ_STEP)
        spacing = SM_NAMES_SEQ_STEP;
    if (spacing == 0) {
        rc = HM_ETOOBIG; /* 2^32 rows under one prefix */
        goto out;
    }
    rc = 0;
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        hm_meta_names_cont_key(n->head, seqs[i], ck);
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_NAMES, ck, sizeof ck);
    }
    if (rc == 0 && !cur_cont)
        rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, n->head, n->head_len, repl[0].buf,
                                  repl[0].len);
    for (size_t i = 0; rc == 0 && i < total; i++) {
        hm_meta_names_cont_key(n->head, (uint32_t)((i + 1) * spacing), ck);
        rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, ck, sizeof ck, fin[i]->buf, fin[i]->len);
    }
out:
    free(fin);
    free(seqs);
    sm_rows_free(old, cnt);
    return rc;
}

/* Write n's row as entries arr[0..m), m > 0, split into rows of at most
 * half the cap when it would pack to more than the cap: the first stays at
 * n's row key, the others take free sequences between n's row and the next
 * row of the chain (renumbering the chain when there are none). */
static int sm_name_put_rows(sm_ctx *cx, const sm_name *n, const Hm__NameList *base,
                            Hm__NameEntry **arr, size_t m)
{
    size_t total = SM_NAMES_ROW_OVERHEAD;
    for (size_t i = 0; i < m; i++)
        total += protobuf_c_message_get_packed_size(&arr[i]->base) + SM_NAMES_ENTRY_OVERHEAD;
    size_t *starts = malloc((m + 1) * sizeof *starts);
    if (starts == NULL)
        return HM_ENOMEM;
    size_t k = 0;
    starts[k++] = 0;
    if (total > HM_NAMES_ROW_BYTES_MAX) {
        size_t acc = SM_NAMES_ROW_OVERHEAD;
        for (size_t i = 0; i < m; i++) {
            size_t sz = protobuf_c_message_get_packed_size(&arr[i]->base) +
                        SM_NAMES_ENTRY_OVERHEAD;
            if (i > starts[k - 1] && acc + sz > HM_NAMES_ROW_BYTES_MAX / 2) {
                starts[k++] = i;
                acc = SM_NAMES_ROW_OVERHEAD;
            }
            acc += sz;
        }
    }
    starts[k] = m;
    int rc = 0;
    sm_row *rows = calloc(k, sizeof *rows);
    if (rows == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    Hm__NameList empty = HM__NAME_LIST__INIT;
    for (size_t j = 0; j < k && rc == 0; j++)
        rc = sm_row_pack(j == 0 ? base : &empty, arr + starts[j], starts[j + 1] - starts[j],
                         &rows[j]);
    if (rc != 0)
        goto out;
    if (k == 1) {
        rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, n->nk, n->nk_len, rows[0].buf,
                                  rows[0].len);
        goto out;
    }
    /* Only a full-length head's chain can split: a shorter head key is one
     * whole encoding, one key. */
    assert(n->head_len == HM_META_NAMES_HEAD_KEY_BYTES_MAX);
    uint32_t cur_seq = 0;
    bool cur_cont = hm_meta_names_key_is_cont(n->nk, n->nk_len, n->head, n->head_len, &cur_seq);
    uint64_t lo = cur_cont ? (uint64_t)cur_seq + 1 : 0, hi = 1ull << 32;
    bool has_next = false;
    if (lo < hi) {
        hm_kv_cursor *cur = NULL;
        rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
        if (rc != 0)
            goto out;
        uint8_t ck[HM_META_NAMES_CONT_KEY_BYTES];
        hm_meta_names_cont_key(n->head, (uint32_t)lo, ck);
        rc = cx->env->ops->kv_cursor_seek(cur, ck, sizeof ck);
        const void *kk = NULL, *vv = NULL;
        size_t kl = 0, vl = 0;
        if (rc == 0)
            rc = cx->env->ops->kv_cursor_get(cur, &kk, &kl, &vv, &vl);
        uint32_t nseq = 0;
        if (rc == 0 && hm_meta_names_key_is_cont(kk, kl, n->head, n->head_len, &nseq)) {
            has_next = true;
            hi = nseq;
        }
        cx->env->ops->kv_cursor_close(cur);
        if (rc == HM_ENOENT)
            rc = 0;
        if (rc != 0)
            goto out;
    }
    uint64_t avail = hi - lo;
    uint64_t step = has_next ? avail / k : avail / k < SM_NAMES_SEQ_STEP ? avail / k
                                                                         : SM_NAMES_SEQ_STEP;
    if (step == 0) {
        rc = sm_name_renumber(cx, n, rows, k);
        goto out;
    }
    rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, n->nk, n->nk_len, rows[0].buf, rows[0].len);
    for (size_t j = 1; rc == 0 && j < k; j++) {
        /* Between neighbours: spread evenly.  At the end: step apart. */
        uint64_t seq = has_next ? lo + avail * j / k : lo + step * j - 1;
        uint8_t ck[HM_META_NAMES_CONT_KEY_BYTES];
        hm_meta_names_cont_key(n->head, (uint32_t)seq, ck);
        rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, ck, sizeof ck, rows[j].buf, rows[j].len);
    }
out:
    sm_rows_free(rows, rows != NULL ? k : 0);
    free(starts);
    return rc;
}

/* Write the row with entry ins added (ins != NULL) or entry del_pos removed
 * (del_pos >= 0); an emptied row is deleted, an overfull one split. */
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
    if (m == 0)
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_NAMES, n->nk, n->nk_len);
    else
        rc = sm_name_put_rows(cx, n, &nl, arr, m);
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
static int sm_gc_add(sm_ctx *cx, Hm__Blob **blobs, size_t n, int64_t not_before_ms)
{
    for (size_t i = 0; i < n; i += SM_GC_BLOBS_PER_ITEM) {
        size_t m = n - i < SM_GC_BLOBS_PER_ITEM ? n - i : SM_GC_BLOBS_PER_ITEM;
        int rc = sm_gc_add_one(cx, blobs + i, m, not_before_ms);
        if (rc != 0)
            return rc;
    }
    return 0;
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

/* An object write between its checks and its commit: the names row, the
 * version it replaces (NULL when none) and the object id it writes under. */
typedef struct sm_put {
    sm_name n;
    Hm__ObjectVersion *cur;
    uint64_t cur_stamp;
    const uint8_t *oid;
} sm_put;

static void sm_put_release(sm_put *p)
{
    if (p->cur != NULL)
        hm__object_version__free_unpacked(p->cur, NULL);
    p->cur = NULL;
    sm_name_release(&p->n);
}

/* Read-only half of a write of ver at key in bucket b: find the name and
 * the current version, check the object id and cond.  A rejection lands in
 * resp->err (return 0); p must be released either way. */
static int sm_put_check(sm_ctx *cx, const Hm__BucketRecord *b, const char *key,
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
static int sm_put_commit(sm_ctx *cx, sm_put *p, const char *key, const Hm__ObjectVersion *ver,
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

/* Remove intent id and its index row; the record goes to *out (NULL: freed).
 * HM_ENOENT when there is no such intent. */
static int sm_intent_take(sm_ctx *cx, const uint8_t *id, size_t len, Hm__Intent **out)
{
    if (out != NULL)
        *out = NULL;
    if (len == 0 || len > HM_KV_KEY_BYTES_MAX)
        return HM_ENOENT;
    Hm__Intent *in = NULL;
    int rc = sm_get_msg(cx, HM_KV_INTENTS, id, len, &hm__intent__descriptor,
                        (ProtobufCMessage **)&in);
    if (rc != 0)
        return rc;
    rc = cx->env->ops->kv_del(cx->txn, HM_KV_INTENTS, id, len);
    if (rc == 0 && len <= SM_INTENT_ID_BYTES_MAX) {
        uint8_t k[HM_KV_KEY_BYTES_MAX];
        size_t kl = sm_ix_intent(k, in->deadline_ms, id, len);
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

static int sm_object_put(sm_ctx *cx, const Hm__ObjectPut *c, Hm__MetaResponse *resp)
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
        rc = sm_intent_take(cx, c->intent_id.data, c->intent_id.len, NULL);
        if (rc != 0)
            goto out;
    }
    rc = sm_put_commit(cx, &p, c->key, c->version,
                       c->has_gc_grace_ms ? c->gc_grace_ms : HM_GC_GRACE_MS, resp);
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

/* ---- tags and CORS ------------------------------------------------------ */

/* ObjectSetTags (AWS "PutObjectTagging" / "DeleteObjectTagging"): the tag
 * set of one version is rewritten at its own versions key, so the version
 * keeps its stamp, ETag and mtime and no blob changes hands. */
static int sm_object_set_tags(sm_ctx *cx, const Hm__ObjectSetTags *c, Hm__MetaResponse *resp)
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

/* BucketSetCors (AWS "PutBucketCors" / "DeleteBucketCors"): an empty
 * cors_xml clears the field. */
static int sm_bucket_set_cors(sm_ctx *cx, const Hm__BucketSetCors *c, Hm__MetaResponse *resp)
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

/* ---- multipart uploads -------------------------------------------------- */

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
static int sm_bucket_uploads_drop(sm_ctx *cx, uint64_t bid, int64_t not_before_ms)
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
static int sm_upload_create(sm_ctx *cx, const Hm__UploadCreate *c, Hm__MetaResponse *resp)
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

/* Does the intent id exist?  A rejection (HM_EINTENT) lands in resp. */
static int sm_intent_check(sm_ctx *cx, const ProtobufCBinaryData *id, Hm__MetaResponse *resp)
{
    const void *v = NULL;
    size_t vl = 0;
    int rc = id->len == 0 || id->len > HM_KV_KEY_BYTES_MAX
                 ? HM_ENOENT
                 : cx->env->ops->kv_get(cx->txn, HM_KV_INTENTS, id->data, id->len, &v, &vl);
    if (rc == HM_ENOENT)
        return sm_reject(resp, HM_EINTENT, NULL);
    return rc;
}

/* UploadPartPut (AWS "UploadPart"): store or replace one part.  A replaced
 * part's blob is collected after the new part's mtime + grace. */
static int sm_upload_part_put(sm_ctx *cx, const Hm__UploadPartPut *c, Hm__MetaResponse *resp)
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
static int sm_upload_complete(sm_ctx *cx, const Hm__UploadComplete *c, Hm__MetaResponse *resp)
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
static int sm_upload_abort(sm_ctx *cx, const Hm__UploadAbort *c, Hm__MetaResponse *resp)
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

/* ---- intents and gc ----------------------------------------------------- */

/* IntentPut: record a write's blobs with its deadline: committed clock +
 * ttl_ms when both are there (a gateway's wall clock never sets it), else
 * the deadline_ms sent.  A repeated IntentPut of one id (a duplicated
 * message) replaces the first and its index row. */
static int sm_intent_put(sm_ctx *cx, const Hm__IntentPut *c, Hm__MetaResponse *resp)
{
    if (c == NULL || c->intent == NULL || !c->intent->has_intent_id ||
        c->intent->intent_id.len == 0 || c->intent->intent_id.len > SM_INTENT_ID_BYTES_MAX)
        return sm_reject(resp, HM_EINVAL, "intent needs an id of 1..502 bytes");
    Hm__Intent in = *c->intent;
    in.has_format_version = true;
    in.format_version = HM_FORMAT_VERSION;
    if (in.has_ttl_ms && cx->has_clock) {
        in.has_deadline_ms = true;
        in.deadline_ms = sm_add_ms(cx->clock, in.ttl_ms < 0 ? 0 : in.ttl_ms);
    }
    int rc = sm_intent_take(cx, in.intent_id.data, in.intent_id.len, NULL);
    if (rc != 0 && rc != HM_ENOENT)
        return rc;
    rc = sm_put_msg(cx, HM_KV_INTENTS, in.intent_id.data, in.intent_id.len, &in.base);
    if (rc != 0)
        return rc;
    uint8_t k[HM_KV_KEY_BYTES_MAX];
    size_t kl = sm_ix_intent(k, in.deadline_ms, in.intent_id.data, in.intent_id.len);
    return cx->env->ops->kv_put(cx->txn, HM_KV_INDEX, k, kl, "", 0);
}

static int sm_intent_delete(sm_ctx *cx, const Hm__IntentDelete *c, Hm__MetaResponse *resp)
{
    if (c == NULL || !c->has_intent_id || c->intent_id.len == 0 ||
        c->intent_id.len > HM_KV_KEY_BYTES_MAX)
        return sm_reject(resp, HM_EINVAL, "intent needs an id");
    Hm__Intent *in = NULL;
    int rc = sm_intent_take(cx, c->intent_id.data, c->intent_id.len, &in);
    if (rc == HM_ENOENT)
        return 0; /* already retired or collected */
    if (rc != 0)
        return rc;
    rc = sm_gc_add(cx, in->blobs, in->n_blobs, sm_after(cx, c->now_ms, 0));
    hm__intent__free_unpacked(in, NULL);
    return rc;
}

/* GcLease: one collector per store.  The lease row is holder bytes then
 * the committed clock it runs until (i64 BE, sign flipped).  Granted when
 * there is none, it ran out, or the holder renews its own; HM_EBUSY
 * otherwise.  Needs the committed clock: a command without one (only a
 * bare state machine sends it) is refused. */
static int sm_gc_lease(sm_ctx *cx, const Hm__GcLease *c, Hm__MetaResponse *resp)
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
        uint8_t head[HM_META_NAMES_KEY_BYTES_MAX], nk[HM_META_NAMES_KEY_BYTES_MAX];
        size_t head_len = 0, nk_len = 0;
        rc = hm_meta_names_key(bucket_id, l->lo, l->lo_len, head, &head_len);
        if (rc == 0) /* start at the row of the chain that holds lo */
            rc = sm_name_locate(cx, head, head_len, l->lo, l->lo_len, nk, &nk_len);
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
            rc = sm_names_unpack(v, vl, &nl);
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

/* IntentScan: the ids of intents whose deadline_ms <= now_ms, at most max
 * (default and cap HM_LIST_KEYS_MAX), earliest deadline first.  It walks
 * the deadline index, so it reads only due intents however many are live.
 * Read-only: expiring one is an IntentDelete through the log. */
static int sm_q_intent_scan(sm_ctx *cx, const Hm__IntentScan *q, Hm__MetaResponse *resp)
{
    Hm__IntentScanResult *r = malloc(sizeof *r);
    if (r == NULL)
        return HM_ENOMEM;
    hm__intent_scan_result__init(r);
    resp->result_case = HM__META_RESPONSE__RESULT_INTENTS;
    resp->intents = r;
    uint32_t max = q != NULL && q->has_max && q->max > 0 ? q->max : HM_LIST_KEYS_MAX;
    if (max > HM_LIST_KEYS_MAX)
        max = HM_LIST_KEYS_MAX;
    int64_t now = q != NULL ? q->now_ms : 0;
    r->intent_ids = calloc(max, sizeof *r->intent_ids);
    if (r->intent_ids == NULL)
        return HM_ENOMEM;
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_INDEX, &cur);
    if (rc != 0)
        return rc;
    uint8_t first = SM_IX_INTENT_DUE;
    for (rc = cx->env->ops->kv_cursor_seek(cur, &first, 1); rc == 0 && r->n_intent_ids < max;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        const uint8_t *kb = k;
        if (kl < 1 || kb[0] != SM_IX_INTENT_DUE)
            break;
        if (kl < 10) {
            rc = HM_ECORRUPT;
            break;
        }
        if (sm_get_time(kb + 1) > now)
            break; /* rows sort by deadline: the rest are later */
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

/* UploadExpiryScan: uploads created at committed clock <= now_ms -
 * older_than_ms, oldest first, at most max (default and cap
 * HM_LIST_UPLOADS_MAX), without reading younger ones (the age index). */
static int sm_q_upload_expiry_scan(sm_ctx *cx, const Hm__UploadExpiryScan *q,
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
static int sm_q_part_list(sm_ctx *cx, const Hm__PartList *q, Hm__MetaResponse *resp)
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
static int sm_q_upload_list(sm_ctx *cx, const Hm__UploadList *q, Hm__MetaResponse *resp)
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
    default:
        return HM_EINVAL;
    }
}
