/* hm_meta_sm_int.h - what the files of the metadata state machine share
 * (hm_meta_sm.c and hm_meta_sm_*.c): the per-command context, the index row
 * kinds, the names-row and write types, and the helpers and commands one
 * family calls in another.  Not a public interface: callers use
 * hm_meta_sm.h.  The contract of each function is above its definition. */
#ifndef HM_META_SM_INT_H
#define HM_META_SM_INT_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_ec.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_akeys.h"
#include "hm_meta_disks.h"
#include "hm_meta_keys.h"
#include "hm_meta_sm.h"

/* HM_KV_INDEX rows: a kind byte, then the kind's key; values are empty.
 *   SM_IX_INTENT_DUE  deadline (i64, sign flipped, BE) | intent id
 *   SM_IX_INTENT_RETIRED  collection time (i64, sign flipped, BE) | intent id:
 *                     a retired intent's tombstone (hm_meta_sm_gc.c)
 *   SM_IX_UPLOAD_AGE  created clock (i64, sign flipped, BE) | bucket id | upload id
 *   SM_IX_UPLOAD_KEY  bucket id | the first SM_UPLOAD_KEY_ENC_BYTES of the
 *                     object key's encoding | upload id | upload id length (u8)
 * The intent index lets IntentScan read only the due intents; the upload
 * indexes let ListMultipartUploads seek to its markers and the expiry scan
 * read only the expired uploads. */
enum {
    SM_IX_INTENT_DUE = 1,
    SM_IX_UPLOAD_AGE = 2,
    SM_IX_UPLOAD_KEY = 3,
    SM_IX_INTENT_RETIRED = 4
};

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

/* An object write between its checks and its commit: the names row, the
 * version it replaces (NULL when none) and the object id it writes under. */
typedef struct sm_put {
    sm_name n;
    Hm__ObjectVersion *cur;
    uint64_t cur_stamp;
    const uint8_t *oid;
} sm_put;

/* hm_meta_sm.c */
int sm_reject(Hm__MetaResponse *resp, int code, const char *msg);

/* The page size a scan query asks for: its max when set and above 0, else
 * HM_LIST_KEYS_MAX, and never more. */
static inline uint32_t sm_page_max(bool has_max, uint32_t max)
{
    return has_max && max > 0 && max < HM_LIST_KEYS_MAX ? max : HM_LIST_KEYS_MAX;
}
int sm_cmp(const void *a, size_t alen, const void *b, size_t blen);
bool sm_starts_with(const char *s, size_t slen, const char *p, size_t plen);
int sm_put_msg(sm_ctx *cx, enum hm_kv_table t, const void *key, size_t klen,
               const ProtobufCMessage *msg);
int sm_unpack_v(const ProtobufCMessageDescriptor *d, const void *val, size_t len,
                uint32_t vmin, uint32_t vmax, ProtobufCMessage **out);
int sm_unpack(const ProtobufCMessageDescriptor *d, const void *val, size_t len,
              ProtobufCMessage **out);
int sm_get_msg(sm_ctx *cx, enum hm_kv_table t, const void *key, size_t klen,
               const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);
int sm_get_u64(sm_ctx *cx, const char *name, uint64_t *out);
int sm_put_u64(sm_ctx *cx, const char *name, uint64_t v);
int64_t sm_after(const sm_ctx *cx, int64_t fallback, int64_t ms);
void sm_put_time(uint8_t out[8], int64_t t);
int64_t sm_get_time(const uint8_t in[8]);
void sm_strip_inline(Hm__ObjectVersion *v);
int64_t sm_add_ms(int64_t a, int64_t b);

/* hm_meta_sm_bucket.c */
int sm_bucket_load(sm_ctx *cx, const char *name, Hm__BucketRecord **out);
int sm_bucket_create(sm_ctx *cx, const Hm__BucketCreate *c, Hm__MetaResponse *resp);
int sm_bucket_delete(sm_ctx *cx, const Hm__BucketDelete *c, Hm__MetaResponse *resp);
int sm_bucket_set_cors(sm_ctx *cx, const Hm__BucketSetCors *c, Hm__MetaResponse *resp);
int sm_q_bucket_get(sm_ctx *cx, const Hm__BucketGet *q, Hm__MetaResponse *resp);
int sm_q_bucket_list(sm_ctx *cx, Hm__MetaResponse *resp);

/* hm_meta_sm_names.c */
int sm_names_unpack(const void *val, size_t len, Hm__NameList **out);
int sm_name_locate(sm_ctx *cx, const uint8_t *head, size_t head_len, const char *key,
                   size_t klen, uint8_t *out, size_t *out_len);
void sm_name_release(sm_name *n);
int sm_name_find(sm_ctx *cx, uint64_t bucket_id, const char *key, sm_name *n);
int sm_name_write(sm_ctx *cx, sm_name *n, Hm__NameEntry *ins, long del_pos);

/* hm_meta_sm_object.c */
int sm_version_newest(sm_ctx *cx, const uint8_t *oid, Hm__ObjectVersion **out,
                      uint64_t *stamp);
bool sm_key_ok(const char *key);
void sm_put_release(sm_put *p);
int sm_put_check(sm_ctx *cx, const Hm__BucketRecord *b, const char *key,
                 const Hm__ObjectVersion *ver, const Hm__WriteCondition *cond,
                 sm_put *p, Hm__MetaResponse *resp);
int sm_put_commit(sm_ctx *cx, sm_put *p, const char *key, const Hm__ObjectVersion *ver,
                  int64_t grace, Hm__MetaResponse *resp);
int sm_object_put(sm_ctx *cx, const Hm__ObjectPut *c, Hm__MetaResponse *resp);
int sm_object_delete(sm_ctx *cx, const Hm__ObjectDelete *c, Hm__MetaResponse *resp);
int sm_object_set_tags(sm_ctx *cx, const Hm__ObjectSetTags *c, Hm__MetaResponse *resp);
int sm_q_object_get(sm_ctx *cx, const Hm__ObjectGet *q, Hm__MetaResponse *resp);

/* hm_meta_sm_list.c */
int sm_q_object_list(sm_ctx *cx, const Hm__ObjectList *q, Hm__MetaResponse *resp);

/* hm_meta_sm_mpu.c */
int sm_ix_upload(sm_ctx *cx, uint64_t bid, const Hm__UploadRecord *u, bool put);
int sm_bucket_uploads_drop(sm_ctx *cx, uint64_t bid, int64_t not_before_ms);
int sm_upload_create(sm_ctx *cx, const Hm__UploadCreate *c, Hm__MetaResponse *resp);
int sm_upload_part_put(sm_ctx *cx, const Hm__UploadPartPut *c, Hm__MetaResponse *resp);
int sm_upload_complete(sm_ctx *cx, const Hm__UploadComplete *c, Hm__MetaResponse *resp);
int sm_upload_abort(sm_ctx *cx, const Hm__UploadAbort *c, Hm__MetaResponse *resp);
int sm_q_upload_expiry_scan(sm_ctx *cx, const Hm__UploadExpiryScan *q,
                            Hm__MetaResponse *resp);
int sm_q_part_list(sm_ctx *cx, const Hm__PartList *q, Hm__MetaResponse *resp);
int sm_q_upload_list(sm_ctx *cx, const Hm__UploadList *q, Hm__MetaResponse *resp);

/* hm_meta_sm_gc.c */
size_t sm_ix_intent(uint8_t *k, int64_t deadline, const uint8_t *id, size_t id_len);
int sm_gc_add(sm_ctx *cx, Hm__Blob **blobs, size_t n, int64_t not_before_ms);
int sm_intent_take(sm_ctx *cx, const uint8_t *id, size_t len, Hm__Intent **out);
int sm_intent_check(sm_ctx *cx, const ProtobufCBinaryData *id, Hm__MetaResponse *resp);
int sm_intent_put(sm_ctx *cx, const Hm__IntentPut *c, Hm__MetaResponse *resp);
int sm_intent_delete(sm_ctx *cx, const Hm__IntentDelete *c, Hm__MetaResponse *resp);
int sm_gc_lease(sm_ctx *cx, const Hm__GcLease *c, Hm__MetaResponse *resp);
int sm_gc_done(sm_ctx *cx, const Hm__GcDone *c, Hm__MetaResponse *resp);
int sm_q_gc_scan(sm_ctx *cx, const Hm__GcScan *q, Hm__MetaResponse *resp);
int sm_q_intent_scan(sm_ctx *cx, const Hm__IntentScan *q, Hm__MetaResponse *resp);

/* hm_meta_sm_repair.c */
int sm_repair_check(sm_ctx *cx, Hm__RepairItem *const *items, size_t n,
                    Hm__Blob *const *blobs, size_t n_blobs, Hm__MetaResponse *resp);
int sm_repair_add(sm_ctx *cx, Hm__RepairItem *const *items, size_t n, Hm__Blob *const *blobs,
                  size_t n_blobs);
int sm_repair_drop_blob(sm_ctx *cx, const Hm__Blob *b);
int sm_repair_counts(sm_ctx *cx, Hm__DiskListResult *r);
int sm_q_repair_list(sm_ctx *cx, const Hm__RepairList *q, Hm__MetaResponse *resp);

#endif
