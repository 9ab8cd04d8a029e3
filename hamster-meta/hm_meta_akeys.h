/* hm_meta_akeys.h - access keys in the metadata: the keys table, its
 * commands (KeyCreate, KeyDelete, KeyGrantSet), its queries (KeyGet,
 * KeyList) and the permission rule the gateway applies.
 *
 * Table (common/env/hm_env.h):
 *   HM_KV_KEYS   access key id -> KeyRecord (proto/hm_meta.proto)
 *
 * Like every command family, these are deterministic functions of (tables,
 * command): the proposer seals the secret (common/hm_keyseal.h) and fixes
 * the creation time, so the log replays to the same bytes on every node and
 * the commands hold unchanged under Raft.  The root key (from the
 * environment) is not in the table: it holds every right and cannot be
 * created, granted or deleted here.
 *
 * Rights are per bucket: READ (list, get, head), WRITE (put, delete,
 * multipart, copy destination) and OWNER (bucket create/delete and
 * configuration sub-resources); OWNER implies READ and WRITE.  A bucket's
 * creator gets OWNER on it in the same command (hm_meta_akeys_bucket_created)
 * and a deleted bucket's grants go with it (hm_meta_akeys_bucket_deleted),
 * so a bucket re-created under the same name starts with no grants.
 */
#ifndef HM_META_AKEYS_H
#define HM_META_AKEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "hm_env.h"
#include "hm_meta.pb-c.h"

#define HM_KEY_RIGHT_READ 1u
#define HM_KEY_RIGHT_WRITE 2u
#define HM_KEY_RIGHT_OWNER 4u
#define HM_KEY_RIGHTS_ALL 7u
#define HM_KEY_ID_BYTES_MIN 3u
#define HM_KEY_ID_BYTES_MAX 128u      /* = HM_SIGV4_ACCESS_KEY_BYTES_MAX */
#define HM_KEY_DESCRIPTION_BYTES_MAX 256u
#define HM_KEY_GRANTS_MAX 1000u       /* buckets one key may be granted */
#define HM_KEYS_MAX 10000u            /* keys a KeyList returns at most */

/* An access key id we accept: 3..128 printable ASCII bytes without space,
 * ':' (SigV2's separator) or '/' (SigV4's scope separator). */
bool hm_meta_akey_id_ok(const char *id);

/* Apply a KeyCreate, KeyDelete or KeyGrantSet inside txn (the caller, the
 * state machine's dispatch, records applied_index).  Rejections (bad id,
 * key exists / absent, no such bucket, bad rights) go into resp->err with a
 * 0 return and leave the tables untouched; a negative return is a store
 * failure (abort the transaction).  Memory rules as hm_meta_sm_apply. */
int hm_meta_akeys_apply(hm_env *env, hm_kv_txn *txn, const Hm__MetaCommand *cmd,
                        Hm__MetaResponse *resp);

/* Answer KeyGet (the record, with its sealed secret) or KeyList (every
 * record, in key id order, at most HM_KEYS_MAX).  As hm_meta_sm_query. */
int hm_meta_akeys_query(hm_env *env, hm_kv_txn *txn, const Hm__MetaRequest *req,
                        Hm__MetaResponse *resp);

/* A bucket was created by owner_key_id: when that key is in the table, give
 * it OWNER on bucket.  Absent key (the root key, or none): nothing. */
int hm_meta_akeys_bucket_created(hm_env *env, hm_kv_txn *txn, const char *bucket,
                                 const char *owner_key_id);

/* A bucket was deleted: remove every key's grant on it. */
int hm_meta_akeys_bucket_deleted(hm_env *env, hm_kv_txn *txn, const char *bucket);

/* The rights k holds on bucket, OWNER expanded to READ | WRITE | OWNER;
 * 0 when k has no grant on it. */
uint32_t hm_meta_akey_rights(const Hm__KeyRecord *k, const char *bucket);

/* Does k hold every bit of need on bucket? */
bool hm_meta_akey_allows(const Hm__KeyRecord *k, const char *bucket, uint32_t need);

#endif
