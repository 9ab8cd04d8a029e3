/* hm_meta_log.h - the metadata log: segmented append-only files + hard state.
 *
 * Layout under the log directory:
 *   <first index, 20 digits>.seg   segments, each up to the segment size
 *   hardstate                       (term, vote, commit), double-buffered
 *
 * A record, every integer little-endian like the RPC frame header:
 *   offset size field
 *   0      4    length   bytes of payload
 *   4      4    CRC32C   of bytes 8 .. 24+length (term, index, payload)
 *   8      8    term
 *   16     8    index
 *   24     len  payload  (a packed LogEntry; opaque here)
 *
 * Durability: hm_meta_log_append writes a batch and syncs once (twice when
 * it rolls into a new segment, plus the directory).  A crash can leave a torn
 * record at the tail of the last segment; open truncates it.  A bad record
 * anywhere else, or one followed by a valid record (so not a tail), is
 * corruption and open refuses (HM_ECORRUPT).  A length beyond
 * HM_META_LOG_RECORD_BYTES_MAX is corruption, never an allocation.
 *
 * Not thread-safe: one owner (the node's commit thread, or open/replay
 * before it starts).  After a failed write or sync the log is poisoned.
 */
#ifndef HM_META_LOG_H
#define HM_META_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "hm_env.h"

#define HM_META_LOG_REC_HDR_BYTES 24u
#define HM_META_LOG_HARDSTATE_SLOT_BYTES 64u

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

/* Open (creating) the log in dir.  segment_bytes 0 means
 * HM_META_LOG_SEGMENT_BYTES (tests pass small sizes to exercise rolling).
 * Scans every segment, truncating a torn tail.  HM_ECORRUPT on corruption
 * that is not a torn tail; I/O errors as the env reports them. */
int hm_meta_log_open(hm_meta_log **out, hm_env *env, const char *dir,
                     uint64_t segment_bytes);
void hm_meta_log_close(hm_meta_log *log);

/* First and last index held; an empty log has last < first (first is then
 * the next index to append, or 0 when nothing was ever appended). */
uint64_t hm_meta_log_first_index(const hm_meta_log *log);
uint64_t hm_meta_log_last_index(const hm_meta_log *log);
uint64_t hm_meta_log_last_term(const hm_meta_log *log);

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

/* Prefix compaction: delete whole segments whose last index <= upto.  The
 * segment being appended to is never deleted. */
int hm_meta_log_compact(hm_meta_log *log, uint64_t upto);

/* Hard state: two fixed slots, each with a CRC; save writes the older slot
 * and syncs, load returns the valid newest (zeros when never saved). */
int hm_meta_log_hardstate_save(hm_meta_log *log, const hm_meta_hardstate *hs);
int hm_meta_log_hardstate_load(hm_meta_log *log, hm_meta_hardstate *hs);

/* Encode one record frame into out (HM_META_LOG_REC_HDR_BYTES + len bytes).
 * Pure; the golden test pins its bytes. */
void hm_meta_log_record_encode(const hm_meta_log_rec *rec, uint8_t *out);

/* The path of the segment starting at first_index, into out (cap bytes).
 * HM_ETOOBIG if it does not fit. */
int hm_meta_log_segment_path(const char *dir, uint64_t first_index, char *out, size_t cap);

#endif
