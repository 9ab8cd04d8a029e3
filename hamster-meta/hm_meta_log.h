/* hm_meta_log.h - the metadata log: segmented append-only files + hard state.
 *
 * Layout under the log directory:
 *   <first index, 20 digits>.seg   segments, each up to the segment size
 *   hardstate                       (term, vote, commit), double-buffered
 *
 * Every integer is little-endian, like the RPC frame header.  A record
 * frame (format 1 and, inside batches, format 2):
 *   offset size field
 *   0      4    length   bytes of payload
 *   4      4    CRC32C   of bytes 8 .. 24+length (term, index, payload)
 *   8      8    term
 *   16     8    index
 *   24     len  payload  (a packed LogEntry; opaque here)
 *
 * Format 2 (docs/adr/0004-log-batch-framing.md, docs/formats.md): a segment
 * starts with a 32-byte segment header (magic "HMLS", version, first index,
 * a random salt, CRC32C) and holds batches, one per append and segment: a
 * 40-byte batch header (magic "HMLB", record count, first index, the salt,
 * body length, CRC32C of the body, CRC32C of the header) and the record
 * frames.  Format-1 segments (records only) are still read; new records go
 * to format-2 segments only.
 *
 * Durability: hm_meta_log_append writes a batch with one pwrite and syncs
 * once (twice when it rolls into a new segment, plus the directory).  Open
 * syncs the tail segment and the directory before it returns, so every
 * record it reports is durable, including one a dead process wrote and
 * never synced (docs/adr/0012-meta-log-durable-bound.md).  A
 * crash can leave the batch in flight damaged anywhere (any subset of its
 * sectors lost or torn).  Open truncates that batch when it is the last
 * thing in the last segment and holds no index the caller says it
 * acknowledged (hm_meta_log_opts.durable_index).  Damage anywhere else is
 * damage to durable records: open refuses (HM_ECORRUPT) and logs the
 * segment and offset.  A length beyond HM_META_LOG_RECORD_BYTES_MAX is
 * corruption, never an allocation.
 *
 * Not thread-safe: one owner (the node's commit thread, or open/replay
 * before it starts).  After a failed write or sync the log is poisoned.
 */
#ifndef HM_META_LOG_H
#define HM_META_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_env.h"

#define HM_META_LOG_REC_HDR_BYTES 24u
#define HM_META_LOG_SEG_HDR_BYTES 32u
#define HM_META_LOG_BATCH_HDR_BYTES 40u
#define HM_META_LOG_HARDSTATE_SLOT_BYTES 64u
#define HM_META_LOG_FORMAT_V1 1u /* records only; read, never written */
#define HM_META_LOG_FORMAT_V2 2u /* segment header + batches; written */

typedef struct hm_meta_log hm_meta_log;

typedef struct hm_meta_log_rec {
    uint64_t term;
    uint64_t index;
    const void *payload;
    size_t len;
} hm_meta_log_rec;

typedef struct hm_meta_hardstate {
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
} hm_meta_hardstate;

typedef struct hm_meta_log_opts {
    /* 0 means HM_META_LOG_SEGMENT_BYTES (tests pass small sizes to
     * exercise rolling); larger values are capped to it. */
    uint64_t segment_bytes;
    /* The caller's statement of what is durable: the highest index it
     * ever acknowledged to anyone (0: none, or unknown).  Open never
     * truncates a record at or below it; damage there is refused.  A
     * single-node metadata node passes its applied index (it answers only
     * after applying); a Raft follower will pass the highest index it
     * acknowledged to a leader that it can prove (its hard state's commit
     * index at least): see docs/adr/0004-log-batch-framing.md. */
    uint64_t durable_index;
} hm_meta_log_opts;

/* Open (creating) the log in dir and recover it: scan every segment,
 * truncate the batch a crash left unfinished at the end of the last
 * segment, refuse (HM_ECORRUPT, with the segment and offset in the log)
 * damage to anything durable before, or to an index <= durable_index,
 * then sync the tail segment and the directory: every record open reports
 * is durable when it returns.  I/O errors as the env reports them (a
 * failed sync fails the open). */
int hm_meta_log_open_opts(hm_meta_log **out, hm_env *env, const char *dir,
                          const hm_meta_log_opts *opts);

/* hm_meta_log_open_opts with segment_bytes and durable_index 0. */
int hm_meta_log_open(hm_meta_log **out, hm_env *env, const char *dir,
                     uint64_t segment_bytes);
void hm_meta_log_close(hm_meta_log *log);

/* First and last index held; an empty log has last < first (first is then
 * the next index to append, or 0 when nothing was ever appended). */
uint64_t hm_meta_log_first_index(const hm_meta_log *log);
uint64_t hm_meta_log_last_index(const hm_meta_log *log);
uint64_t hm_meta_log_last_term(const hm_meta_log *log);

/* Bytes open cut from the unfinished batch at the tail (0: none). */
uint64_t hm_meta_log_truncated_bytes(const hm_meta_log *log);

/* Append n records durably (one sync per batch).  Indexes must follow the
 * last one contiguously (any start on a log that never held a record).
 * HM_EINVAL on a gap or an oversized payload (nothing written);
 * HM_EPOISONED after an earlier failure; on a write or sync failure the log
 * is poisoned and the records may or may not be durable. */
int hm_meta_log_append(hm_meta_log *log, const hm_meta_log_rec *recs, size_t n);

/* Call fn for every record with index >= from, in order.  payload is valid
 * only during the call.  A non-zero return from fn stops the walk and is
 * returned.  HM_ECORRUPT when a record no longer verifies. */
typedef int (*hm_meta_log_fn)(void *arg, const hm_meta_log_rec *rec);
int hm_meta_log_iterate(hm_meta_log *log, uint64_t from, hm_meta_log_fn fn, void *arg);

/* Prefix compaction: delete whole segments whose last index <= upto, oldest
 * first, syncing the directory after each (a crash leaves a suffix, never a
 * gap).  The segment being appended to is never deleted.  The caller gives
 * up the records <= upto from the call on: after a failure or a crash some
 * of them may be gone. */
int hm_meta_log_compact(hm_meta_log *log, uint64_t upto);

/* Hard state: two fixed slots, each with a CRC; save writes the older slot
 * and syncs, load returns the valid newest (zeros when never saved). */
int hm_meta_log_hardstate_save(hm_meta_log *log, const hm_meta_hardstate *hs);
int hm_meta_log_hardstate_load(hm_meta_log *log, hm_meta_hardstate *hs);

/* Encode one record frame into out (HM_META_LOG_REC_HDR_BYTES + len bytes).
 * Pure; the golden test pins its bytes. */
void hm_meta_log_record_encode(const hm_meta_log_rec *rec, uint8_t *out);

/* Encode a format-2 batch (header, then the n record frames) of a segment
 * with this salt into out (cap bytes); *len gets its size.  Pure; the
 * golden test pins its bytes.  HM_EINVAL for n == 0 or an oversized
 * record, HM_ETOOBIG when out is too small. */
int hm_meta_log_batch_encode(const hm_meta_log_rec *recs, size_t n, uint64_t salt,
                             uint8_t *out, size_t cap, size_t *len);

/* Planted bug, for the simulator's own test only (hamster-sim --plant
 * lenient-log-recovery): when on, open treats every bad record as the
 * unfinished tail and truncates there, acknowledged or not.  Never turned
 * on outside tests. */
void hm_meta_log_plant_lenient_recovery(bool on);

/* Planted bug, for the simulator's own test only (hamster-sim --plant
 * skip-open-sync): when on, open does not sync the tail segment and the
 * directory, so a batch that a dead process wrote but never synced is
 * replayed and answered from while a power loss can still take it.  Never
 * turned on outside tests. */
void hm_meta_log_plant_skip_open_sync(bool on);

/* The path of the segment starting at first_index, into out (cap bytes).
 * HM_ETOOBIG if it does not fit. */
int hm_meta_log_segment_path(const char *dir, uint64_t first_index, char *out, size_t cap);

#endif
