/* hm_objsvc.h - the object service: buckets and objects over the metadata
 * api and the shard stores, with no HTTP in it.
 *
 * The gateway's HTTP handlers and the deterministic simulator both drive
 * this module; it reaches the world only through hm_env (clock, rng),
 * hm_meta_api and hm_shard_api, so a seeded world replays it exactly.
 *
 * Data placement is 1+0 for now: an object larger than HM_INLINE_BYTES_MAX
 * is one blob stored as one shard (k=1, m=0) on the disk whose index is a
 * hash of the blob id modulo the disk count.  The manifest records the disk
 * id the store reported through info(); reads find the disk by that id,
 * never by the current placement.  Smaller objects live inline in their
 * version record: one metadata commit, no shard write.
 *
 * A put is intent-fenced: IntentPut, stream the
 * shard, commit it, then ObjectPut retiring the intent.  Any failure aborts
 * the shard and deletes the intent, so nothing partial becomes visible and
 * stray bytes are collected by hm_objsvc_gc_run.
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
    int64_t gc_grace_ms;     /* replaced blobs are deleted after this read
                              * grace; production: HM_GC_GRACE_MS */
    int64_t intent_ttl_ms;   /* an upload's intent lives this long;
                              * production: HM_INTENT_TTL_MS; <= 0: that */
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
 * until the first read, so a HEAD costs one metadata query.
 * HM_ENOBUCKET, HM_ENOKEY (also for a delete marker). */
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

/* ---- garbage collection --------------------------------------------------- */

/* Delete the shards of blobs the metadata has scheduled for collection and
 * whose grace has passed (GcScan -> delete each shard, HM_ENOENT counting
 * as done -> GcDone).  An item whose shards could not all be deleted stays
 * scheduled for the next run.  *blobs_deleted (optional) counts the blobs
 * fully removed.  Returns the first metadata error, else 0. */
int hm_objsvc_gc_run(hm_objsvc *svc, size_t *blobs_deleted);

#endif
