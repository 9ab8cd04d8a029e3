/* hm_blob.h - erasure-coded blobs over several shard stores (disks).
 *
 * A blob is written as k data + m parity shards (common/hm_ec.h), each on a
 * different disk, and read back from any k of them.  The object service
 * (hm_objsvc*.c) uses this module for every blob it writes or reads; it
 * knows nothing of shard streams itself.
 *
 * Placement (hm_blob_plan): the profile is hm_ec_profile_for_domains(D) for
 * the D configured disks; shard i goes to the i-th disk of a rotation that
 * starts at a hash of the blob id, healthy disks first, so load spreads and
 * with a spare disk (D > k+m) a failed disk is skipped.  The plan is known
 * before the first byte, so the intent that fences the write names every
 * shard of every stripe.
 *
 * Writes (hm_blob_writer): the body is cut into stripes of k chunks, parity
 * is encoded per stripe, and the k+m shard streams are written in parallel
 * by one thread each (or in the caller's thread with serial set), at most
 * one chunk per shard in flight besides the stripe being filled, so memory
 * is about two stripes whatever the size.  A shard whose write or commit
 * fails, or takes longer than deadline_ms, is dropped: the write goes on
 * without it.  The write-ack rule (docs/storage-safety.md): the blob is
 * good only with at least hm_blob_floor(k, m) = min(k+m, k+1) shards
 * durable; the caller records the others as repair work in the same
 * metadata commit (docs/adr/0010-write-ack-rule.md).  Below the floor the
 * writer fails with HM_EFLOOR, or HM_ENOSPC when a disk ran out of space.
 *
 * Reads (hm_blob_reader): the k data shards are read stripe by stripe, no
 * decode when they are all good.  Every shard's header identity (blob id,
 * index, k, m, stripe bytes, length) is checked against the manifest and
 * every block against its CRC32C (by the shard store); a missing, corrupt
 * or swapped shard is replaced by a parity shard and the stripe decoded,
 * and a "repair:" line names the blob, shard and disk.  A range reads only
 * the stripes it covers.
 *
 * Errors are 0 or negative HM_E* codes.  Thread-safe: writers and readers
 * are independent; one writer or reader belongs to one thread at a time.
 */
#ifndef HM_BLOB_H
#define HM_BLOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_ec.h"
#include "hm_shard_api.h"
#include "hm_types.pb-c.h"

/* Shards a blob of profile (k, m) needs durable before it is acknowledged:
 * all of them without parity, else min(k+m, k+1). */
uint32_t hm_blob_floor(uint32_t k, uint32_t m);

/* The disks a writer may use: apis[i] with disk_ids[i] (NULL: the disk did
 * not answer, it is unavailable and used only when nothing else is left).
 * avoid (optional): avoid[i] places disk i after every other disk with an
 * id, still written when it is placed. */
typedef struct hm_blob_disks {
    hm_shard_api *const *apis;
    const char *const *disk_ids;
    const bool *avoid;
    size_t count;
    /* Optional: told of each disk dropped from a write (its index here and
     * the error), so that placement can avoid it for a while.  Called from
     * the writer's or a shard's thread, maybe with the writer's lock held:
     * it must not block or call into the writer. */
    void (*dropped)(void *ctx, size_t disk, int rc);
    void *dropped_ctx;
} hm_blob_disks;

typedef struct hm_blob_plan {
    hm_ec_profile p;
    uint32_t n;                        /* k + m */
    size_t disk[HM_EC_SHARDS_MAX];     /* shard i -> index into the disks */
} hm_blob_plan;

/* Place the shards of blob_id over the disks.  HM_EINVAL without disks. */
int hm_blob_plan_make(const hm_blob_disks *d, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                      hm_blob_plan *out);

/* Fill blob (and refs[HM_EC_SHARDS_MAX], storage the caller keeps alive)
 * with the plan: id, size, profile and one ShardRef per shard placed on a
 * disk with a known id (disk_id borrowed from d).  Lengths and CRCs are
 * added by hm_blob_writer_result. */
void hm_blob_plan_blob(const hm_blob_plan *plan, const hm_blob_disks *d,
                       const uint8_t blob_id[HM_BLOB_ID_BYTES], uint64_t size, Hm__Blob *blob,
                       Hm__ShardRef *refs, Hm__ShardRef **ref_ptrs);

typedef struct hm_blob_writer hm_blob_writer;

typedef struct hm_blob_write_args {
    const hm_blob_disks *disks;        /* borrowed until finish/abort */
    const hm_blob_plan *plan;          /* copied */
    const Hm__ShardHeader *tmpl;       /* header of every shard (identity,
                                        * what a rebuild needs); copied at
                                        * open; shard_index, k, m and
                                        * stripe_bytes are set per shard */
    int64_t deadline_ms;               /* per shard operation; <= 0: 30 s */
    bool size_known;                   /* size is the blob's exact size: */
    uint64_t size;                     /* its last stripe is laid out from
                                        * its first byte, and a write past
                                        * it is HM_EINVAL; unknown, a short
                                        * last stripe is encoded twice */
    bool serial;                       /* every shard write in the caller's
                                        * thread, no deadline (simulator) */
    const char *req_id;                /* for the log, or NULL */
} hm_blob_write_args;

/* Open the k+m shard streams.  A stream that does not open is dropped; with
 * fewer than the floor open, HM_EUNAVAIL and nothing is left behind. */
int hm_blob_writer_open(const hm_blob_write_args *a, hm_blob_writer **out);

/* Append blob bytes.  HM_EUNAVAIL once fewer than the floor shards are
 * still going, HM_EINVAL for bytes past a size given at open; the writer
 * must then be aborted. */
int hm_blob_writer_write(hm_blob_writer *w, const void *buf, size_t len);

/* Flush the last stripe, seal every shard with seal (etag, checksums,
 * committed_ms; blob_size is set here) and make them durable.  0 when at
 * least the floor is durable; then hm_blob_writer_result tells which.
 * HM_EUNAVAIL below the floor (shards that did become durable are left for
 * the intent's gc).  Either way call hm_blob_writer_free afterwards. */
int hm_blob_writer_finish(hm_blob_writer *w, const Hm__ShardHeader *seal);

/* What a finished writer hands back, all in storage the caller owns, so it
 * stays valid after hm_blob_writer_free: blob is the blob as the manifest
 * records it (refs of durable shards carry length and CRC32C; a shard not
 * durable keeps a ref without them, or none when its disk is unknown), and
 * its blob id and shard refs point into this struct (blob_id, refs,
 * ref_ptrs): do not copy or move the struct while blob is in use.  Disk ids
 * are borrowed from the writer's hm_blob_disks (the caller's too).
 * missing[0..n_missing) are the shard indexes not durable, in order, and
 * missing_disk[i] the id of the disk the plan put missing[i] on (NULL when
 * that disk is unknown): the write's repair work. */
typedef struct hm_blob_result {
    Hm__Blob blob;
    uint8_t blob_id[HM_BLOB_ID_BYTES];
    Hm__ShardRef refs[HM_EC_SHARDS_MAX];
    Hm__ShardRef *ref_ptrs[HM_EC_SHARDS_MAX];
    uint32_t missing[HM_EC_SHARDS_MAX];
    const char *missing_disk[HM_EC_SHARDS_MAX];
    size_t n_missing;
} hm_blob_result;

/* After a successful finish: the bytes written, and the result (above). */
uint64_t hm_blob_writer_size(const hm_blob_writer *w);
void hm_blob_writer_result(const hm_blob_writer *w, hm_blob_result *out);

/* Abort every stream still open (nothing becomes visible) and free. */
void hm_blob_writer_abort(hm_blob_writer *w);
/* Free a finished writer. */
void hm_blob_writer_free(hm_blob_writer *w);

/* ---- reads --------------------------------------------------------------- */

/* The store holding disk_id: HM_EUNAVAIL when none does. */
typedef int (*hm_blob_disk_find_fn)(void *ctx, const char *disk_id, hm_shard_api **out);

typedef struct hm_blob_reader hm_blob_reader;

/* Check a manifest's blob before trusting it: id, profile, shard refs
 * (indexes in range, no index twice, lengths equal to the layout's).
 * HM_ECORRUPT / HM_EVERSION. */
int hm_blob_check(const Hm__Blob *b);

/* Read bytes [off, off + len) of blob b (borrowed until close).  Loads the
 * first stripe now, so a blob that cannot be read fails here: HM_EUNAVAIL
 * (fewer than k good shards), HM_EINVAL (span outside the blob). */
int hm_blob_reader_open(const Hm__Blob *b, uint64_t off, uint64_t len,
                        hm_blob_disk_find_fn find, void *find_ctx, const char *req_id,
                        hm_blob_reader **out);
/* Up to cap bytes; *got 0 at the end of the span. */
int hm_blob_reader_read(hm_blob_reader *r, void *buf, size_t cap, size_t *got);
void hm_blob_reader_close(hm_blob_reader *r);

/* Counters for tests and metrics: stripes loaded by readers, and stripes
 * that needed a decode. */
extern atomic_uint_fast64_t hm_blob_stripes_read;
extern atomic_uint_fast64_t hm_blob_stripes_decoded;

/* The Reed-Solomon encode work of the blob writers in this process, for
 * one profile: ns is the time spent inside ISA-L's encode (monotonic clock,
 * so time the thread lost to preemption counts in), bytes the data bytes
 * whose parity was computed (k chunks per stripe, a short last stripe's
 * padding included).  bytes / ns is the encode rate a PUT achieves, held
 * against hamster-micro's raw figure for the same profile. */
typedef struct hm_blob_encode_stat {
    uint32_t k, m;
    uint64_t ns;
    uint64_t bytes;
} hm_blob_encode_stat;

/* Fill out[0..cap) with the profiles that have encoded anything since the
 * process started, in (k, m) order; returns how many there are (may exceed
 * cap).  Relaxed reads: ns and bytes of one profile may be one encode
 * apart. */
size_t hm_blob_encode_stats(hm_blob_encode_stat *out, size_t cap);

/* Test only, planted bugs the simulator must catch; never set outside
 * tests.  ack_with_k: acknowledge a write with only k shards durable. */
extern bool hm_blob_plant_ack_with_k;

#endif
