/* hm_meta_keys.h - byte encodings of the metadata tables' keys.
 *
 * LMDB compares keys with memcmp and refuses keys over 511 bytes, while S3
 * keys are any bytes up to 1,024 and list in byte order.  So an object key is
 * first given an order-preserving, prefix-free encoding (each NUL becomes
 * 00 FF, every other byte stays, a 00 terminates), and the names table is
 * keyed by bucket id (u64 big-endian) followed by at most
 * HM_NAMES_PREFIX_BYTES of that encoding.  Keys whose encodings share that
 * truncated prefix share one chain of names-table rows (NameLists sorted
 * by key).  Because the encoding preserves order, so does its truncation
 * (weakly), so a cursor walk over the names table visits keys in S3 order.
 *
 * A chain (ADR 13): its head row is keyed by the truncated prefix alone (the
 * only key schema 2 wrote); when a row would pack to more than
 * HM_NAMES_ROW_BYTES_MAX it is split, the upper part going to continuation
 * rows keyed head key ‖ sequence (u32 BE).  A continuation key is the only
 * names key of HM_META_NAMES_CONT_KEY_BYTES bytes, sorts right after its head
 * and before every other prefix's rows, and sequences grow with the keys
 * they hold, so the cursor walk still visits keys in order.
 *
 * The versions table is keyed by object id (16 bytes) followed by the
 * inverted version stamp (u64 big-endian of ~stamp, stamp = the log index
 * that wrote the version), so the newest version of an object sorts first.
 *
 * Multipart uploads live in two tables: uploads keyed by bucket id ‖ upload
 * id, parts keyed by bucket id ‖ upload id ‖ 00 ‖ part number (u32 BE).
 *
 * All functions here are pure.
 */
#ifndef HM_META_KEYS_H
#define HM_META_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_limits.h"

#define HM_META_OBJECT_ID_BYTES 16u
#define HM_META_BUCKET_ID_BYTES 8u
/* Longest full encoding: every byte a NUL, plus the terminator. */
#define HM_META_KEY_ENC_BYTES_MAX (2u * HM_KEY_BYTES_MAX + 1u)
/* A head key: bucket id ‖ at most HM_NAMES_PREFIX_BYTES of the encoding. */
#define HM_META_NAMES_HEAD_KEY_BYTES_MAX (HM_META_BUCKET_ID_BYTES + HM_NAMES_PREFIX_BYTES)
/* A continuation key: a full-length head key ‖ sequence (u32 BE). */
#define HM_META_NAMES_CONT_KEY_BYTES (HM_META_NAMES_HEAD_KEY_BYTES_MAX + 4u)
#define HM_META_NAMES_KEY_BYTES_MAX HM_META_NAMES_CONT_KEY_BYTES
/* NameList format versions: 1 is schema 2's single unbounded row, 2 a row of
 * a bounded chain (ADR 13).  Readers take both. */
#define HM_META_NAME_LIST_VERSION_MIN 1u
#define HM_META_NAME_LIST_VERSION 2u
#define HM_META_VERSIONS_KEY_BYTES (HM_META_OBJECT_ID_BYTES + 8u)
#define HM_META_UPLOADS_KEY_BYTES_MAX (HM_META_BUCKET_ID_BYTES + HM_UPLOAD_ID_BYTES_MAX)
/* bucket id | upload id | 00 | part number (u32 BE) */
#define HM_META_PARTS_KEY_BYTES_MAX (HM_META_UPLOADS_KEY_BYTES_MAX + 1u + 4u)

_Static_assert(HM_META_NAMES_KEY_BYTES_MAX <= HM_KV_KEY_BYTES_MAX,
               "names keys fit the KV key limit");
_Static_assert(HM_META_PARTS_KEY_BYTES_MAX <= HM_KV_KEY_BYTES_MAX,
               "parts keys fit the KV key limit");

/* Encode key[0..len) order-preservingly and self-delimiting into out
 * (capacity cap): NUL -> 00 FF, other bytes unchanged, then a 00 terminator.
 * For any keys a, b: memcmp order of the encodings equals byte order of the
 * keys.  Prefix-free in the tuple-layer sense: the end of a key is a 00 not
 * followed by FF, so a reader always finds where a key ends.  (As bytes,
 * enc("x") = 78 00 does begin enc("x\0") = 78 00 FF 00; that is harmless
 * because no table appends bytes after an encoded key.)  *out_len gets the
 * length.
 * HM_ETOOBIG if cap is too small (out is then unspecified). */
int hm_meta_key_encode(const void *key, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len);

/* The names-table head key of (bucket_id, key): 8 bytes of bucket id,
 * big-endian, then the first HM_NAMES_PREFIX_BYTES of the key's encoding.
 * Only a head key of HM_META_NAMES_HEAD_KEY_BYTES_MAX bytes (a truncated
 * encoding) can have continuation rows.  out must hold
 * HM_META_NAMES_KEY_BYTES_MAX bytes.  HM_EINVAL if len > HM_KEY_BYTES_MAX. */
int hm_meta_names_key(uint64_t bucket_id, const void *key, size_t len,
                      uint8_t out[HM_META_NAMES_KEY_BYTES_MAX], size_t *out_len);

/* The continuation key of a chain: head (HM_META_NAMES_HEAD_KEY_BYTES_MAX
 * bytes) ‖ seq as u32 big-endian, HM_META_NAMES_CONT_KEY_BYTES bytes. */
void hm_meta_names_cont_key(const uint8_t head[HM_META_NAMES_HEAD_KEY_BYTES_MAX], uint32_t seq,
                            uint8_t out[HM_META_NAMES_CONT_KEY_BYTES]);

/* Is names-table key k[0..len) a continuation row of the chain whose head
 * key is head[0..head_len)?  Then *seq gets its sequence. */
bool hm_meta_names_key_is_cont(const void *k, size_t len, const uint8_t *head, size_t head_len,
                               uint32_t *seq);

/* The 8-byte prefix every names-table key of bucket_id starts with. */
void hm_meta_bucket_prefix(uint64_t bucket_id, uint8_t out[HM_META_BUCKET_ID_BYTES]);

/* The versions-table key of (object id, stamp): id ‖ u64 BE of ~stamp. */
void hm_meta_versions_key(const uint8_t oid[HM_META_OBJECT_ID_BYTES], uint64_t stamp,
                          uint8_t out[HM_META_VERSIONS_KEY_BYTES]);

/* Split a versions-table key back into (object id, stamp).  HM_EPROTO if
 * the key is not HM_META_VERSIONS_KEY_BYTES long. */
int hm_meta_versions_key_parse(const void *k, size_t len,
                               uint8_t oid[HM_META_OBJECT_ID_BYTES], uint64_t *stamp);

/* The uploads-table key of (bucket_id, upload_id): 8 bytes of bucket id,
 * big-endian, then the upload id's bytes.  All uploads of a bucket share
 * the 8-byte bucket prefix, so a cursor walk lists them.  HM_EINVAL when
 * upload_id is empty or longer than HM_UPLOAD_ID_BYTES_MAX. */
int hm_meta_uploads_key(uint64_t bucket_id, const char *upload_id,
                        uint8_t out[HM_META_UPLOADS_KEY_BYTES_MAX], size_t *out_len);

/* The parts-table key of (bucket_id, upload_id, part_number): the uploads
 * key, a 00 terminator (upload ids hold no NUL, so the terminator keeps the
 * parts of upload "ab" apart from those of "abc"), then the part number as
 * u32 big-endian, so one upload's parts are contiguous and in number order.
 * The first *out_len - 4 bytes are the prefix every part of the upload
 * shares.  HM_EINVAL as for hm_meta_uploads_key. */
int hm_meta_parts_key(uint64_t bucket_id, const char *upload_id, uint32_t part_number,
                      uint8_t out[HM_META_PARTS_KEY_BYTES_MAX], size_t *out_len);

/* The smallest byte string greater than every string that starts with
 * p[0..len): p with trailing FF bytes dropped and its last byte incremented,
 * written to out (capacity >= len).  false when there is none (p empty or
 * all FF): every string with that prefix sorts last. */
bool hm_meta_prefix_successor(const uint8_t *p, size_t len, uint8_t *out,
                              size_t *out_len);

/* Big-endian helpers, shared by the tables' keys and counters. */
void hm_meta_put_u64be(uint8_t out[8], uint64_t v);
uint64_t hm_meta_get_u64be(const uint8_t in[8]);

#endif
