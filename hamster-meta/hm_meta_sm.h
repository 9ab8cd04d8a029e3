/* hm_meta_sm.h - the metadata state machine over the LMDB tables.
 *
 * A command (proto/hm_meta.proto MetaCommand) is applied by a deterministic
 * function of (tables, log index, command): no clock, no randomness, every
 * time stamp and id comes inside the command, so replaying the log on any
 * node writes the same bytes.  Queries read the same tables and never write.
 *
 * Semantics are AWS S3's for an unversioned bucket; versions are already
 * keyed by (object id, log index) so versioning adds rows, not a format.
 *
 * Tables (common/env/hm_env.h):
 *   HM_KV_SYS       "schema" -> u32 BE schema version (3),
 *                   "applied_index" -> u64 BE, "next_bucket_id" -> u64 BE,
 *                   "clock_ms" -> u64 BE, the committed clock (below),
 *                   "gc_lease" -> holder bytes | until (i64 BE, sign flipped)
 *   HM_KV_BUCKETS   bucket name -> BucketRecord
 *   HM_KV_NAMES     hm_meta_names_key (a chain's head) or
 *                   hm_meta_names_cont_key (its continuation rows) ->
 *                   NameList of at most HM_NAMES_ROW_BYTES_MAX bytes
 *                   (schema 3, ADR 13; a schema-2 row is a chain's head)
 *   HM_KV_VERSIONS  hm_meta_versions_key -> ObjectVersion
 *   HM_KV_UPLOADS   hm_meta_uploads_key (bucket id | upload id) -> UploadRecord
 *   HM_KV_PARTS     hm_meta_parts_key (bucket id | upload id | 00 | part
 *                   number u32 BE) -> PartRecord
 *   HM_KV_KEYS      access key id -> KeyRecord (its own command family,
 *                   hm_meta_akeys.h)
 *   HM_KV_INTENTS   intent id -> Intent
 *   HM_KV_GC        not_before (u64 BE, sign flipped) ‖ log index (u64 BE) ‖
 *                   sequence within the command (u32 BE) -> GcItem
 *   HM_KV_INDEX     kind byte ‖ ... -> empty: intents by deadline, uploads by
 *                   committed creation time and by key (schema 2; opening a
 *                   schema-1 store builds them)
 *
 * The committed clock: the meta node stamps every command it logs with
 * MetaCommand.clock_ms (its last committed clock plus its monotonic time
 * since), and the state machine keeps the largest stamp applied.  Intent
 * deadlines (IntentPut ttl_ms), gc not-before times, upload expiry and the
 * gc lease are reckoned in it, and the node answers IntentScan, GcScan and
 * UploadExpiryScan at it, so a gateway's wall clock jumping either way
 * neither expires an in-flight write early nor frees bytes before their
 * grace.  Time while no node runs is not counted (deadlines only stretch).
 * A command without a stamp (logged before the clock existed) is applied
 * as it was then: times from the command's own fields.
 *
 * Multipart (AWS "CreateMultipartUpload", "UploadPart",
 * "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
 * "ListMultipartUploads"): an upload is a row with its parts beside it;
 * UploadComplete re-checks that every named part still has the blob the
 * proposer put in the version, then writes the version as ObjectPut does
 * and drops the upload, parts not named going to gc.  A Complete whose
 * upload is gone succeeds when the key's current version is the one it
 * would have written (a retried Complete, which S3 answers with 200).
 * BucketDelete aborts the bucket's in-progress uploads (their blobs to gc
 * at once): AWS refuses DeleteBucket only for objects.
 *
 * Intents: IntentPut records a write's blobs before its shards exist; the
 * ObjectPut or UploadPartPut naming it retires it (HM_EINTENT when it is
 * gone).  IntentScan lists those past their deadline (the deadline index:
 * only due ones are read); IntentDelete removes one (absent: a no-op) and
 * queues its blobs for gc at once.  UploadExpiryScan lists the uploads
 * older than a given age, which the collector aborts.  GcLease elects the
 * one collector of the store.
 *
 * Object keys travel as protobuf strings, so a key holding a NUL byte cannot
 * reach the state machine; the key encoding handles NUL regardless.
 */
#ifndef HM_META_SM_H
#define HM_META_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_env.h"
#include "hm_meta.pb-c.h"

#define HM_META_SCHEMA_VERSION 3u
#define HM_META_GC_KEY_BYTES 20u

/* Check the schema record on an open store, writing it (version 1) on a
 * fresh one.  txn must be a write transaction.  HM_EVERSION when the store
 * was written by a schema this code does not know; HM_ECORRUPT when the
 * record is malformed. */
int hm_meta_sm_init(hm_env *env, hm_kv_txn *txn);

/* The committed clock: the largest MetaCommand.clock_ms applied (0 when
 * no stamped command was applied yet). */
int hm_meta_sm_clock(hm_env *env, hm_kv_txn *txn, int64_t *out);

/* The index of the last command applied (0 on a fresh store). */
int hm_meta_sm_applied_index(hm_env *env, hm_kv_txn *txn, uint64_t *out);

/* Apply cmd, written to the log at index, inside the write transaction txn,
 * and record applied_index = index in the same transaction.  resp is an
 * initialised MetaResponse whose memory belongs to the caller; on return
 * every part it gained is separately allocated, so
 * hm__meta_response__free_unpacked frees it (resp itself must then be a
 * malloc'd message).
 *
 * A command that S3 rules reject (no such bucket, precondition failed, ...)
 * is still applied: the tables are unchanged except applied_index, and
 * resp->err carries the code.  A negative return means the store failed
 * (I/O, out of memory, a corrupt record, index not past applied_index): the
 * transaction holds partial writes and must be aborted, and the caller must
 * stop applying. */
int hm_meta_sm_apply(hm_env *env, hm_kv_txn *txn, uint64_t index,
                     const Hm__MetaCommand *cmd, Hm__MetaResponse *resp);

/* Answer a query (bucket get/list, object get/list, gc scan, intent scan,
 * upload and part lists) from
 * txn (read or write).  Rejections go into resp->err with a 0 return; a
 * negative return is a store failure or an unknown request kind (HM_EINVAL).
 * Memory rules as for hm_meta_sm_apply. */
int hm_meta_sm_query(hm_env *env, hm_kv_txn *txn, const Hm__MetaRequest *req,
                     Hm__MetaResponse *resp);

/* Planted bug, for the simulator's own test only (hamster-sim --plant
 * revive-retired-intent): IntentPut ignores a retired intent's tombstone,
 * so a late duplicate brings the intent back with its blobs, and the
 * collector later deletes the blobs of a committed write. */
void hm_meta_sm_plant_revive_retired_intent(bool on);
/* Test only, a planted bug the simulator must catch (hamster-sim --plant
 * repair-item-lost); never set outside tests: ObjectPut and UploadPartPut
 * commit a degraded write without its repair items. */
extern bool hm_meta_sm_plant_repair_lost;

/* Test only, never set from production flags or the environment (the
 * simulator's --long-names and unit tests): the names-row cap and the
 * sequence step between continuation rows appended at a chain's end (ADR
 * 13), so that rows of a few short keys split, and chains renumber, within
 * a short run.  0 restores each default (HM_NAMES_ROW_BYTES_MAX, 2^16).
 * HM_EINVAL unless row_bytes_max is 0 or within
 * [HM_NAMES_ROW_BYTES_TEST_MIN, HM_NAMES_ROW_BYTES_MAX] and seq_step at most
 * the default.  Set it while no state machine is applying commands; rows
 * written under a larger cap stay as they are until their next write. */
int hm_meta_sm_test_names_bounds(uint32_t row_bytes_max, uint32_t seq_step);

/* Test only: rows split and chains renumbered by every state machine of
 * this process since it started (the simulator reports them per run). */
void hm_meta_sm_test_names_counts(uint64_t *splits, uint64_t *renumbers);

/* What hm_meta_sm_names_audit saw: names rows, how many of them are
 * continuation rows, entries, the most rows under one head key and the
 * largest row in bytes. */
typedef struct hm_meta_names_audit {
    uint64_t rows;
    uint64_t cont_rows;
    uint64_t entries;
    uint64_t chain_rows_max;
    uint64_t row_bytes_max;
} hm_meta_names_audit;

/* Test only: check ADR 13's rules over every names row of txn (read or
 * write): no row packs to more than the cap in force, none is empty, every
 * entry's key has the row's head key, keys ascend strictly within a row and
 * from each row to the next of its bucket (so a chain's rows are in
 * sequence order), and the lookup every command uses finds each key's row.
 * 0 with *out filled when all hold; HM_ECORRUPT with the first broken rule
 * in msg[0..msg_cap); or a store error (HM_ENOMEM, HM_EVERSION for a row
 * this code does not read). */
int hm_meta_sm_names_audit(hm_env *env, hm_kv_txn *txn, hm_meta_names_audit *out, char *msg,
                           size_t msg_cap);

/* Planted bug, for the simulator's own test only (hamster-sim --plant
 * names-split-loses-key): a names row that splits loses the last entry
 * of its upper half, so an acknowledged key (the one being put, or a
 * neighbour) vanishes from the names table. */
void hm_meta_sm_plant_names_split_loses_key(bool on);

/* Planted bug, for the simulator's own test only (hamster-sim --plant
 * names-renumber-misorder): renumbering a chain writes its last two rows
 * at each other's sequences, so the chain's order breaks (a listing walks
 * keys out of order, a lookup's binary search lands in the wrong row). */
void hm_meta_sm_plant_names_renumber_misorder(bool on);

#endif
