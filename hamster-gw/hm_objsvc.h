/* hm_objsvc.h - the object service: buckets and objects over the metadata
 * api and the shard stores, with no HTTP in it.
 *
 * The gateway's HTTP handlers and the deterministic simulator both drive
 * this module; it reaches the world only through hm_env (clock, rng),
 * hm_meta_api and hm_shard_api, so a seeded world replays it exactly.
 *
 * Data placement (hm_blob.h): an object larger than HM_INLINE_BYTES_MAX is
 * one blob erasure-coded k+m over the disks, the profile following their
 * number (hm_ec_profile_for_domains) and recorded in the manifest with the
 * disk id each shard store reported through info(); reads find the disks by
 * those ids and that profile, never by the current placement.  A blob is
 * acknowledged with all k+m shards durable, or degraded with at least
 * min(k+m, k+1), the missing ones recorded as RepairItems in the same
 * metadata commit (docs/storage-safety.md).  Smaller objects live inline in
 * their version record: one metadata commit, no shard write.
 *
 * A put is intent-fenced: IntentPut, stream the
 * shard, commit it, then ObjectPut retiring the intent.  Any failure aborts
 * the shard and deletes the intent, so nothing partial becomes visible and
 * stray bytes are collected by hm_objsvc_gc_run.  An intent left behind (a
 * crash, a lost IntentDelete) is expired by hm_objsvc_gc_run once its
 * deadline (intent_ttl_ms after the put began) has passed; a put still
 * running then fails with HM_EINTENT and deletes its shard.
 *
 * Errors are 0 or negative HM_E* codes (hm_err.h); metadata errors come
 * back as the code the metadata node returned (HM_ENOBUCKET, HM_ENOKEY,
 * HM_EBUCKETEXISTS, HM_ENOTEMPTY, ...).  Every function takes the request
 * id (NULL allowed) that travels to metadata and the logs.
 *
 * Thread-safe: any number of threads may use one service at once; a put or
 * get stream belongs to one thread at a time.
 */
#ifndef HM_OBJSVC_H
#define HM_OBJSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_checksum.h"
#include "hm_env.h"
#include "hm_meta_api.h"
#include "hm_shard_api.h"

typedef struct hm_objsvc hm_objsvc;
typedef struct hm_objsvc_put hm_objsvc_put;
typedef struct hm_objsvc_get hm_objsvc_get;

#define HM_OBJSVC_ETAG_HEX_BYTES 32  /* hex MD5, without quotes */

typedef struct hm_objsvc_config {
    hm_env *env;             /* borrowed */
    hm_meta_api *meta;       /* borrowed */
    hm_shard_api **shards;   /* borrowed; one per disk; at least one */
    size_t shard_count;
    int64_t shard_deadline_ms; /* a shard write slower than this is dropped
                                * (hm_blob.h); <= 0: 30 s */
    bool serial_shards;      /* write shards in the caller's thread, no
                              * deadline (the deterministic simulator) */
    int64_t gc_grace_ms;     /* replaced blobs are deleted after this read
                              * grace; production: HM_GC_GRACE_MS */
    int64_t intent_ttl_ms;   /* an upload's intent lives this long;
                              * production: HM_INTENT_TTL_MS; <= 0: that */
    /* Test only, a planted bug the simulator must catch: commit a blob's
     * intent after its shard is published instead of before the first byte
     * (the "lazy intent" docs/adr/0006-fsync-budget.md rejects). */
    bool plant_intent_after_shard;
    int64_t mpu_expiry_ms;   /* gc aborts multipart uploads older than this
                              * (committed time); 0: HM_MPU_EXPIRY_MS;
                              * < 0: never */
    int64_t gc_lease_ms;     /* the collector's lease; <= 0: HM_GC_LEASE_MS */
    int64_t disk_avoid_ms;   /* placement skips a disk dropped from a write
                              * (gone, failed, full, too slow) this long;
                              * <= 0: HM_DISK_AVOID_MS */
    bool plant_gc_ignores_leases; /* planted bug for the simulator's own
                                   * test: gc deletes blobs open gets read.
                                   * Never set outside tests. */
} hm_objsvc_config;

/* Create a service.  Copies cfg (the pointers it holds stay borrowed and
 * must outlive the service).  Asks every store for its disk id now; a store
 * that does not answer is asked again when it is first needed.
 * HM_EINVAL on a bad config, HM_ENOMEM. */
int hm_objsvc_new(hm_objsvc **out, const hm_objsvc_config *cfg);
void hm_objsvc_free(hm_objsvc *svc);

/* ---- names ---------------------------------------------------------------- */

/* S3 bucket naming rules (AWS "Bucket naming rules"): 3-63 bytes of
 * lower-case letters, digits, '.' and '-', starting and ending with a letter
 * or digit, no "..", not shaped like an IPv4 address. */
bool hm_objsvc_bucket_name_valid(const char *name);

/* A key is 1..HM_KEY_BYTES_MAX bytes of valid UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF).  len is the key's byte length. */
bool hm_objsvc_key_valid(const char *key, size_t len);

/* ---- buckets ------------------------------------------------------------- */

/* Create bucket name owned by owner (an access key id) in region.
 * HM_EINVAL on a bad name, HM_EBUCKETEXISTS, transport errors. */
int hm_objsvc_bucket_create(hm_objsvc *svc, const char *req_id, const char *name,
                            const char *region, const char *owner);

/* Delete an empty bucket.  HM_ENOBUCKET, HM_ENOTEMPTY. */
int hm_objsvc_bucket_delete(hm_objsvc *svc, const char *req_id, const char *name);

/* Look a bucket up.  On 0, (*resp)->bucket is the record; free *resp with
 * hm__meta_response__free_unpacked(*resp, NULL).  HM_ENOBUCKET. */
int hm_objsvc_bucket_get(hm_objsvc *svc, const char *req_id, const char *name,
                         Hm__MetaResponse **resp);

/* All buckets, in name order: (*resp)->buckets (may be NULL when there are
 * none).  Free as above. */
int hm_objsvc_bucket_list(hm_objsvc *svc, const char *req_id, Hm__MetaResponse **resp);

/* ---- put ------------------------------------------------------------------ */

/* A name/value pair for user metadata and stored headers. */
typedef struct hm_objsvc_kv {
    const char *key;
    const char *value;
} hm_objsvc_kv;

typedef struct hm_objsvc_put_args {
    const char *bucket;
    const char *key;                  /* NUL-terminated, valid (see above) */
    uint64_t size;                    /* exact body length; <= HM_PUT_BYTES_MAX */
    const char *content_type;         /* or NULL */
    const hm_objsvc_kv *user_meta;    /* x-amz-meta-* without the prefix */
    size_t user_meta_count;
    const hm_objsvc_kv *headers;      /* Content-Encoding, Cache-Control, ... */
    size_t header_count;
    const uint8_t *content_md5;       /* 16 bytes to check the body against, or NULL */
    const uint8_t *sha256;            /* 32 bytes to check the body against, or NULL */
    const hm_objsvc_kv *tags;         /* the initial tag set (x-amz-tagging), already
                                       * validated by the caller; at most HM_TAGS_MAX */
    size_t tag_count;
    /* Write conditions, checked by the metadata state machine atomically
     * with the commit (AWS "Conditional writes"): */
    bool if_none_match_any;           /* If-None-Match: *  -> HM_EPRECOND if live */
    const char *if_match_etag;        /* If-Match, hex without quotes, or NULL ->
                                       * HM_EPRECOND if absent or different */
} hm_objsvc_put_args;

/* Why a put_finish returned HM_ECORRUPT or HM_EPROTO. */
enum hm_objsvc_fault {
    HM_OBJSVC_FAULT_NONE = 0,
    HM_OBJSVC_FAULT_BAD_DIGEST,       /* body MD5 != content_md5 */
    HM_OBJSVC_FAULT_SHA256_MISMATCH,  /* body SHA-256 != sha256 */
    HM_OBJSVC_FAULT_INCOMPLETE_BODY,  /* fewer bytes than size */
};

/* Start a put.  args is copied.  For a body above HM_INLINE_BYTES_MAX this
 * checks the bucket, commits the intent and opens the shard stream, so a
 * missing bucket (HM_ENOBUCKET) is reported before any body is read.
 * HM_EINVAL on bad args, HM_ETOOBIG when size or the metadata is over its
 * limit.  On error nothing needs undoing and *out is untouched. */
int hm_objsvc_put_begin(hm_objsvc *svc, const char *req_id,
                        const hm_objsvc_put_args *args, hm_objsvc_put **out);

/* As put_begin for a body whose length is known only at its end (a browser
 * form upload: the file is the last part of a multipart body).  args->size
 * is the most the body may be (<= HM_PUT_BYTES_MAX); put_write refuses more
 * with HM_ETOOBIG and put_finish takes the bytes written as the size.  The
 * body is held in memory up to HM_INLINE_BYTES_MAX; the write that crosses
 * that starts the blob (bucket check, intent, shard stream), so put_write
 * may return what put_begin would have (HM_ENOBUCKET, transport errors).
 * Digest checks (content_md5, sha256) work as for put_begin. */
int hm_objsvc_put_begin_unsized(hm_objsvc *svc, const char *req_id,
                                const hm_objsvc_put_args *args, hm_objsvc_put **out);

/* Append body bytes.  HM_ETOOBIG if the body grows past args.size.  After
 * any error the put is dead: the caller must still call put_abort. */
int hm_objsvc_put_write(hm_objsvc_put *p, const void *buf, size_t len);

/* Check the digests, make the bytes durable and commit the version.  Frees
 * p whatever happens.  On 0, etag (optional, HM_OBJSVC_ETAG_HEX_BYTES + 1
 * bytes) gets the hex MD5.  On failure nothing is visible; fault (optional)
 * tells HM_ECORRUPT / HM_EPROTO apart; metadata errors pass through
 * (HM_ENOBUCKET, HM_EINTENT, ...). */
int hm_objsvc_put_finish(hm_objsvc_put *p, char *etag, enum hm_objsvc_fault *fault);

/* Drop a put: abort the shard stream, delete the intent, free p.  Nothing
 * becomes visible.  Safe after a failed put_write. */
void hm_objsvc_put_abort(hm_objsvc_put *p);

#define HM_OBJSVC_CHECKSUM_BYTES_MAX 32  /* SHA256, the widest */

/* Record the flexible checksum the caller verified over the body
 * (algorithm "CRC32", "CRC32C", "CRC64NVME", "SHA1" or "SHA256", a static
 * string; value raw bytes, CRCs big-endian; composite for a multipart
 * COMPOSITE value); put_finish stores it in ObjectVersion.checksums.  Call
 * before put_finish; a second call replaces the first.  HM_EINVAL on a
 * bad length. */
int hm_objsvc_put_set_checksum(hm_objsvc_put *p, const char *algorithm, const uint8_t *value,
                               size_t len, bool composite);

/* ---- get ------------------------------------------------------------------ */

/* A single byte range as in RFC 7233 §2.1: bytes=first-last, bytes=first-,
 * bytes=-suffix. */
typedef struct hm_objsvc_range {
    bool has_first;      /* false: a suffix range */
    bool has_last;
    uint64_t first;
    uint64_t last;       /* inclusive */
    uint64_t suffix;
} hm_objsvc_range;

/* Parse a Range header value.  HM_EINVAL when it is not exactly one
 * syntactically valid byte range (the caller then ignores the header and
 * serves the whole object, as S3 does). */
int hm_objsvc_range_parse(const char *value, hm_objsvc_range *out);

/* Resolve r against an object of size bytes into [*off, *off + *len).
 * HM_EINVAL when unsatisfiable (first >= size, a zero suffix, an empty
 * object): the caller answers 416 InvalidRange. */
int hm_objsvc_range_resolve(const hm_objsvc_range *r, uint64_t size, uint64_t *off,
                            uint64_t *len);

/* Look an object up and prepare to read all of it.  No shard is touched
 * until the first read, so a HEAD costs one metadata query.  Every blob
 * of the version is leased from this service's collector until get_close,
 * so an overwrite or delete during a slow read never takes its bytes
 * (docs/storage-safety.md).  HM_ENOBUCKET, HM_ENOKEY (also for a delete
 * marker), HM_ENOMEM. */
int hm_objsvc_get_open(hm_objsvc *svc, const char *req_id, const char *bucket,
                       const char *key, hm_objsvc_get **out);

/* The version being read; valid until get_close. */
const Hm__ObjectVersion *hm_objsvc_get_version(const hm_objsvc_get *g);

/* Read only [off, off + len) instead (before the first read).  HM_EINVAL
 * if the span is not inside the object. */
int hm_objsvc_get_set_span(hm_objsvc_get *g, uint64_t off, uint64_t len);

/* Read up to cap bytes of the span; *got 0 at its end.  Shard errors pass
 * through (HM_ECORRUPT, HM_ENOENT when a blob has gone, transport errors);
 * a short shard is HM_ECORRUPT. */
/* Open the shard the first byte of the span lives in, so that a missing disk
 * or shard is an error before any response header is sent (HM_EUNAVAIL,
 * HM_ENOENT, HM_ECORRUPT).  Optional; after it the span is fixed. */
int hm_objsvc_get_prepare(hm_objsvc_get *g);

int hm_objsvc_get_read(hm_objsvc_get *g, void *buf, size_t cap, size_t *got);

void hm_objsvc_get_close(hm_objsvc_get *g);

/* ---- delete and list ---------------------------------------------------- */

/* Delete an object.  An absent key succeeds, as in S3; HM_ENOBUCKET. */
int hm_objsvc_delete(hm_objsvc *svc, const char *req_id, const char *bucket,
                     const char *key);

typedef struct hm_objsvc_list_args {
    const char *bucket;
    const char *prefix;        /* or NULL */
    const char *delimiter;     /* or NULL */
    const char *start_after;   /* exclusive, or NULL */
    uint32_t max_keys;         /* 0..HM_LIST_KEYS_MAX */
} hm_objsvc_list_args;

/* List keys in order.  On 0, (*resp)->list holds the entries (keys and
 * common prefixes interleaved), truncated and next_start_after; free *resp
 * with hm__meta_response__free_unpacked.  HM_ENOBUCKET. */
int hm_objsvc_list(hm_objsvc *svc, const char *req_id, const hm_objsvc_list_args *args,
                   Hm__MetaResponse **resp);

/* ---- tagging and bucket CORS ---------------------------------------------- */

/* Replace the tag set of the current version of bucket/key in place (no new
 * version, ETag and mtime unchanged); count 0 deletes the set.  The caller
 * has validated the tags (hm_gw_tagging.c).  HM_ENOBUCKET, HM_ENOKEY,
 * HM_EINVAL (more than HM_TAGS_MAX), transport errors. */
int hm_objsvc_set_tags(hm_objsvc *svc, const char *req_id, const char *bucket,
                       const char *key, const hm_objsvc_kv *tags, size_t count);

/* Store cors_xml as the bucket's CORS configuration; NULL or "" deletes it.
 * The caller has validated and normalized it.  HM_ENOBUCKET, HM_ETOOBIG
 * (over HM_HTTP_XML_BODY_BYTES_MAX), transport errors. */
int hm_objsvc_bucket_set_cors(hm_objsvc *svc, const char *req_id, const char *bucket,
                              const char *cors_xml);

/* ---- garbage collection --------------------------------------------------- */

/* One collection round, run only by the store's one collector: first take
 * or renew the gc lease (GcLease; while another service holds it this
 * returns 0 and deletes nothing), then expire the intents whose deadline
 * has passed (IntentScan -> IntentDelete each, queueing its blobs), abort
 * the multipart uploads older than mpu_expiry_ms (UploadExpiryScan ->
 * UploadAbort each, queueing their parts' blobs), then delete the shards of
 * blobs the metadata has scheduled for collection and whose grace has
 * passed (GcScan -> delete each shard, HM_ENOENT counting as done ->
 * GcDone).  A blob an open get of this service leases is skipped.
 * Deadlines, expiry and grace are reckoned in the metadata's committed
 * clock, never this process's wall clock.  An item whose shards could not
 * all be deleted (or were skipped) stays scheduled for the next run; so
 * does an intent whose IntentDelete failed.  *blobs_deleted (optional)
 * counts the blobs fully removed.  Returns the first metadata error, else
 * 0. */
int hm_objsvc_gc_run(hm_objsvc *svc, size_t *blobs_deleted);

/* As hm_objsvc_gc_run, but every queued blob is collected now, read grace
 * or not: for a disk short of space.  Safe only where a reader that
 * opened a shard keeps reading it after the shard is deleted (POSIX
 * unlink of an open file, which the shard stores rely on). */
int hm_objsvc_gc_run_urgent(hm_objsvc *svc, size_t *blobs_deleted);

/* How many distinct blobs open gets lease now (for tests and metrics). */
size_t hm_objsvc_leases(hm_objsvc *svc);

/* Whether the last hm_objsvc_gc_run found this service the collector. */
bool hm_objsvc_gc_is_collector(const hm_objsvc *svc);

/* ==== multipart uploads and copy (hm_objsvc_mpu.c) ==========================
 *
 * AWS S3 API Reference: "CreateMultipartUpload", "UploadPart",
 * "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload",
 * "ListParts", "ListMultipartUploads", "CopyObject".
 *
 * Every part is its own blob (never inline, whatever its size), written as
 * a streaming put (intent, shard, UploadPartPut retiring the intent), so a
 * Complete only names blobs: the object's manifest is the parts' blobs in
 * order, with part_sizes recorded.  A copy streams the source's bytes into
 * a new blob: no blob is ever shared between two versions, so gc never has
 * to count references. */

#define HM_OBJSVC_UPLOAD_ID_HEX_BYTES 32  /* upload ids: 16 random bytes, hex */
/* Multipart ETag: 32 hex, '-', up to 5 digits of part count, NUL. */
#define HM_OBJSVC_MPU_ETAG_BYTES (HM_OBJSVC_ETAG_HEX_BYTES + 7)

/* Why a multipart or copy call returned HM_EINVAL or HM_EPRECOND. */
enum hm_objsvc_mpu_fault {
    HM_OBJSVC_MPU_NONE = 0,
    HM_OBJSVC_MPU_PART_ORDER,     /* InvalidPartOrder: not strictly ascending */
    HM_OBJSVC_MPU_INVALID_PART,   /* InvalidPart: missing, or its ETag differs */
    HM_OBJSVC_MPU_TOO_SMALL,      /* EntityTooSmall: a part but the last < 5 MiB */
    HM_OBJSVC_MPU_NO_PARTS,       /* MalformedXML: an empty part list */
    HM_OBJSVC_COPY_TO_SELF,       /* InvalidRequest: onto itself, metadata unchanged */
    HM_OBJSVC_COPY_PRECOND,       /* PreconditionFailed: x-amz-copy-source-if-* */
    HM_OBJSVC_COPY_RANGE,         /* InvalidRange: copy-source-range outside the source */
    HM_OBJSVC_COPY_TOO_LARGE,     /* InvalidRequest: source over HM_PUT_BYTES_MAX */
};

/* Internal to the object service's files: one metadata round trip (an error
 * answer becomes its code), and the service's configuration. */
int hm_objsvc_meta_call(hm_objsvc *svc, const char *req_id, Hm__MetaRequest *req,
                        Hm__MetaResponse **out);

/* hm_objsvc_meta_call for a query whose answer must carry result `expect`;
 * HM_EPROTO when it does not.  Under protobuf-c a set oneof case always has
 * its message, so callers need not check the member for NULL. */
int hm_objsvc_meta_query(hm_objsvc *svc, const char *req_id, Hm__MetaRequest *req,
                         Hm__MetaResponse__ResultCase expect, Hm__MetaResponse **out);
const hm_objsvc_config *hm_objsvc_get_config(const hm_objsvc *svc);

/* The shard store holding disk_id; HM_EUNAVAIL when none we know has it. */
int hm_objsvc_disk_api(hm_objsvc *svc, const char *disk_id, hm_shard_api **out);

/* CompleteMultipartUpload's manifest shard (hm_objsvc_manifest.c; see
 * docs/adr/0005-self-describing-shards.md): v is the version about to be
 * committed for upload_id of bucket (its blobs, part_sizes, ETag, content
 * type, metadata, tags, checksums, mtime), numbers and etags the parts'
 * numbers and ETags in object order.  Written durably beside shard 0 of the
 * first part's blob before the commit; HM_E* from the shard store.
 * hm_objsvc_manifest_settle, after the commit failed with commit_rc,
 * removes it again when the Complete surely did not apply: the metadata
 * refused it (HM_EINVAL, HM_EPRECOND), or the upload is still there (best
 * effort, and only while the manifest is still this version's). */
int hm_objsvc_manifest_write(hm_objsvc *svc, const char *req_id, const char *bucket,
                             const char *upload_id, const Hm__ObjectVersion *v,
                             const uint32_t *numbers, const char *const *etags);
void hm_objsvc_manifest_settle(hm_objsvc *svc, const char *req_id, const char *bucket,
                               const char *upload_id, const Hm__ObjectVersion *v,
                               int commit_rc);

/* As hm_objsvc_put_begin, for part part_number (1..HM_PARTS_MAX) of
 * upload_id: always a blob; put_finish commits an UploadPartPut.  Callers
 * use hm_objsvc_part_begin, which checks the upload first. */
int hm_objsvc_put_begin_part(hm_objsvc *svc, const char *req_id,
                             const hm_objsvc_put_args *args, const char *upload_id,
                             uint32_t part_number, hm_objsvc_put **out);

typedef struct hm_objsvc_upload_args {
    const char *bucket;
    const char *key;                  /* valid (hm_objsvc_key_valid) */
    const char *content_type;         /* or NULL */
    const hm_objsvc_kv *user_meta;
    size_t user_meta_count;
    const hm_objsvc_kv *headers;
    size_t header_count;
    const hm_objsvc_kv *tags;         /* validated; at most HM_TAGS_MAX */
    size_t tag_count;
    const char *checksum_algorithm;   /* x-amz-checksum-algorithm, or NULL */
} hm_objsvc_upload_args;

/* CreateMultipartUpload: a new upload with a fresh id written to
 * upload_id (HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1 bytes).  The metadata and
 * tags given here become the object's at Complete.  HM_ENOBUCKET,
 * HM_EINVAL, HM_ETOOBIG (metadata over its bound). */
int hm_objsvc_mpu_create(hm_objsvc *svc, const char *req_id, const hm_objsvc_upload_args *args,
                         char *upload_id);

typedef struct hm_objsvc_part_args {
    const char *bucket;
    const char *key;
    const char *upload_id;
    uint32_t part_number;             /* 1..HM_PARTS_MAX */
    uint64_t size;                    /* exact; <= HM_PART_BYTES_MAX */
    const uint8_t *content_md5;       /* 16 bytes, or NULL */
    const uint8_t *sha256;            /* 32 bytes, or NULL */
} hm_objsvc_part_args;

/* UploadPart: check that the upload exists for this key, then start the
 * part's put; continue with hm_objsvc_put_write / _set_checksum / _finish
 * (whose etag is the part's ETag) or _abort.  A part number already stored
 * is replaced when the new one commits.  HM_EINVAL (part number outside
 * 1..10000), HM_ETOOBIG, HM_ENOUPLOAD, HM_ENOBUCKET. */
int hm_objsvc_part_begin(hm_objsvc *svc, const char *req_id, const hm_objsvc_part_args *args,
                         hm_objsvc_put **out);

/* One entry of a CompleteMultipartUpload request. */
typedef struct hm_objsvc_part_ref {
    uint32_t part_number;
    const char *etag;                 /* as the client sent it; quotes ignored */
    /* The part's Checksum<ALGO> element as the client sent it (base64), or
     * checksum_algo HM_CKSUM_NONE / checksum NULL when it sent none: it
     * must equal the checksum stored with the part. */
    hm_cksum_algo checksum_algo;
    const char *checksum;
} hm_objsvc_part_ref;

typedef struct hm_objsvc_complete_args {
    const char *bucket;
    const char *key;
    const char *upload_id;
    const hm_objsvc_part_ref *parts;  /* in the client's order */
    size_t part_count;                /* <= HM_PARTS_MAX */
    bool if_none_match_any;           /* If-None-Match: * -> HM_EPRECOND */
    const char *if_match_etag;        /* If-Match (unquoted) -> HM_EPRECOND */
    /* Optional: on 0, the object's checksum (algo HM_CKSUM_NONE when it
     * has none). */
    hm_cksum_value *checksum_out;
} hm_objsvc_complete_args;

/* CompleteMultipartUpload.  On 0, etag (HM_OBJSVC_MPU_ETAG_BYTES) gets
 * "hex-N": the MD5 of the concatenated binary part MD5s and the part
 * count.  When the upload was created with a checksum algorithm and every
 * named part carries a checksum of it, the object gets the parts'
 * checksums combined (hm_cksum_multi: COMPOSITE "-N", or FULL_OBJECT for
 * CRC64NVME per hm_cksum_default_full_object); a part without one leaves
 * the object without a checksum.  A client part checksum that differs
 * from the stored one (or names a part that has none) is
 * HM_OBJSVC_MPU_INVALID_PART.  HM_EINVAL with *fault saying which rule failed, HM_ENOUPLOAD,
 * HM_EPRECOND, HM_ENOBUCKET, transport errors.  A retry of a Complete that
 * already succeeded succeeds again with the same ETag. */
int hm_objsvc_mpu_complete(hm_objsvc *svc, const char *req_id,
                           const hm_objsvc_complete_args *args, char *etag,
                           enum hm_objsvc_mpu_fault *fault);

/* AbortMultipartUpload: the upload and its parts disappear; their blobs are
 * collected after the read grace.  HM_ENOUPLOAD, HM_ENOBUCKET. */
int hm_objsvc_mpu_abort(hm_objsvc *svc, const char *req_id, const char *bucket,
                        const char *key, const char *upload_id);

/* ListParts: (*resp)->parts (upload record, parts, truncation, next
 * marker).  max_parts 0..HM_LIST_PARTS_MAX.  HM_ENOUPLOAD (also when the
 * upload belongs to another key), HM_ENOBUCKET.  Free *resp with
 * hm__meta_response__free_unpacked. */
int hm_objsvc_mpu_list_parts(hm_objsvc *svc, const char *req_id, const char *bucket,
                             const char *key, const char *upload_id, uint32_t part_marker,
                             uint32_t max_parts, Hm__MetaResponse **resp);

typedef struct hm_objsvc_upload_list_args {
    const char *bucket;
    const char *prefix;               /* or NULL */
    const char *delimiter;            /* or NULL */
    const char *key_marker;           /* or NULL */
    const char *upload_id_marker;     /* or NULL */
    uint32_t max_uploads;             /* 0..HM_LIST_UPLOADS_MAX */
} hm_objsvc_upload_list_args;

/* ListMultipartUploads: (*resp)->uploads.  HM_ENOBUCKET. */
int hm_objsvc_mpu_list_uploads(hm_objsvc *svc, const char *req_id,
                               const hm_objsvc_upload_list_args *args,
                               Hm__MetaResponse **resp);

/* x-amz-copy-source-if-* (AWS "CopyObject"): etags unquoted or NULL;
 * times in unix ms, used when their has_ flag is set. */
typedef struct hm_objsvc_copy_cond {
    const char *if_match;
    const char *if_none_match;
    bool has_if_modified_since;
    int64_t if_modified_since_ms;
    bool has_if_unmodified_since;
    int64_t if_unmodified_since_ms;
} hm_objsvc_copy_cond;

/* Check cond against the source version v: 0 to go on, HM_EPRECOND to
 * refuse (412).  If-Match, when given, decides alone over
 * If-Unmodified-Since; If-None-Match likewise over If-Modified-Since. */
int hm_objsvc_copy_cond_check(const hm_objsvc_copy_cond *cond, const Hm__ObjectVersion *v);

typedef struct hm_objsvc_copy_args {
    const char *src_bucket;
    const char *src_key;
    const hm_objsvc_copy_cond *cond;  /* or NULL */
    bool replace_meta;                /* x-amz-metadata-directive: REPLACE */
    bool replace_tags;                /* x-amz-tagging-directive: REPLACE */
    /* The destination.  dst.size, content_md5 and sha256 are ignored; the
     * content type, user metadata and stored headers are used only with
     * replace_meta, the tags only with replace_tags (else the source's are
     * copied). */
    hm_objsvc_put_args dst;
    /* UploadPartCopy: copy into this part instead (dst.bucket/key name the
     * upload's object); the range, when has_range, picks the bytes. */
    const char *upload_id;
    uint32_t part_number;
    bool has_range;
    uint64_t range_first;
    uint64_t range_last;              /* inclusive */
} hm_objsvc_copy_args;

/* CopyObject / UploadPartCopy: stream the source's bytes into a new blob
 * (bounded memory), commit the destination (object or part).  On 0, etag
 * (HM_OBJSVC_MPU_ETAG_BYTES; a copied object gets the MD5 of its bytes, so
 * a copy of a multipart object has a plain ETag, as in S3) and *mtime_ms
 * (optional) are set.  HM_ENOBUCKET / HM_ENOKEY for the source,
 * HM_EPRECOND / HM_EINVAL with *fault, HM_ENOUPLOAD, put errors. */
int hm_objsvc_copy(hm_objsvc *svc, const char *req_id, const hm_objsvc_copy_args *args,
                   char *etag, int64_t *mtime_ms, enum hm_objsvc_mpu_fault *fault);

/* The byte span of part part_number (1-based) of version v, from its
 * part_sizes: HM_EINVAL when v has no such part.  A version written by a
 * single PUT is one part. */
int hm_objsvc_part_span(const Hm__ObjectVersion *v, uint32_t part_number, uint64_t *off,
                        uint64_t *len);

#endif
