/* hm_meta_disks.h - the disk registry in the metadata: which disk holds
 * each slot of the node's disk list, its state and why, and the rebuild
 * work queued when a disk is added or replaced.
 *
 * Table (common/env/hm_env.h), in the layout table:
 *   "disk/"    + slot (4 bytes big-endian)                 -> DiskRecord
 *   "rebuild/" + slot (4 bytes big-endian) + new disk id   -> DiskRebuild
 * (proto/hm_meta.proto; pinned by tests/golden/meta_disk_*_v1.bin).
 *
 * One command, DiskSet, a compare-and-set on the record's version, so two
 * writers (a node reporting its disks at start, an operator replacing one)
 * never overwrite each other unseen: the loser gets HM_EPRECOND, re-reads
 * and decides again.  Every field is fixed by the proposer (state, reason,
 * since_ms), so the command replays to the same bytes under Raft.  One
 * query, DiskList.  Rebuild items are only queued here; carrying them out
 * is the self-healing issue's work.
 */
#ifndef HM_META_DISKS_H
#define HM_META_DISKS_H

#include <stdint.h>

#include "hm_env.h"
#include "hm_meta.pb-c.h"

#define HM_DISK_STATE_HEALTHY 1u
#define HM_DISK_STATE_FAILED 2u
#define HM_DISK_STATE_MISSING 3u
#define HM_DISK_STATE_REPLACING 4u
#define HM_DISK_REGISTRY_SLOTS_MAX 1024u     /* slots 0..1023 (HM_DISK_SLOT_MAX) */
#define HM_DISK_PATH_BYTES_MAX 3072u
#define HM_DISK_REASON_BYTES_MAX 1024u
#define HM_DISK_REBUILDS_MAX 4096u           /* DiskList returns at most */

/* "healthy", "failed", "missing", "replacing", or "unknown". */
const char *hm_disk_state_name(uint32_t state);

/* Apply a DiskSet inside txn.  Rejections go into resp->err with a 0
 * return and leave the table untouched: HM_EINVAL (no record, slot past
 * the limit, bad state, a disk id that is not "" or 32 hex, path or reason
 * too long), HM_EPRECOND (expect_version is not the stored version, 0 for
 * none).  The record is stored with version = expect_version + 1 and
 * handed back in resp->disk.  A negative return is a store failure. */
int hm_meta_disks_apply(hm_env *env, hm_kv_txn *txn, const Hm__MetaCommand *cmd,
                        Hm__MetaResponse *resp);

/* Answer DiskList: every record by slot and every queued rebuild. */
int hm_meta_disks_query(hm_env *env, hm_kv_txn *txn, const Hm__MetaRequest *req,
                        Hm__MetaResponse *resp);

#endif
