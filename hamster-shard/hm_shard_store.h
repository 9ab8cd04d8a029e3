/* hm_shard_store.h - one disk's shard store.
 *
 * Layout under the disk directory:
 *   hamster-disk          the disk's label (hm_disk_label.h), written once by
 *                         hm_disk_format, never by the store
 *   shards/ab/cd/<blob-id-hex>.<index>   shard files (names from ids only)
 *   tmp/                  uploads in progress, emptied at open
 *
 * A shard file: fixed preamble (magic, format version, header length, header
 * CRC32C), the packed ShardHeader, the data contiguous, then one CRC32C per
 * HM_SHARD_BLOCK_BYTES block of data.  See docs/formats.md.
 */
#ifndef HM_SHARD_STORE_H
#define HM_SHARD_STORE_H

#include "hm_disk_label.h"
#include "hm_env.h"
#include "hm_rpc.h"
#include "hm_shard_api.h"

typedef struct hm_shard_store hm_shard_store;
typedef struct hm_shard_store_put hm_shard_store_put;
typedef struct hm_shard_store_get hm_shard_store_get;

/* Open the formatted store at disk_dir, checked against cluster_id (NULL:
 * any) and slot (HM_DISK_SLOT_ANY: any), removing leftovers in tmp/.  env
 * is borrowed and must outlive the store.  Nothing is created or labelled:
 * a missing, empty, unlabelled, foreign-cluster or wrong-slot disk is
 * refused with the error and reason of hm_disk_check (reason: reason_cap
 * bytes, optional), so a lost disk is never re-created empty; only
 * hm_disk_format makes a store.  Walks tmp/ only, never the shards, so
 * opening takes the same time whatever the store holds.  HM_EIO /
 * HM_ENOMEM / HM_EPERM from the disk.  Thread-safe once open: any number of
 * puts and gets may run at once. */
int hm_shard_store_open_checked(hm_shard_store **out, hm_env *env, const char *disk_dir,
                                const char *cluster_id, uint32_t slot, char *reason,
                                size_t reason_cap);

/* hm_shard_store_open_checked for any cluster and slot; a refusal is
 * logged with its reason. */
int hm_shard_store_open(hm_shard_store **out, hm_env *env, const char *disk_dir);

/* A failed fsync fails the disk: after any sync or sync_dir of the store
 * fails, or any disk call answers HM_EIO, every put_open, put_commit and
 * delete returns HM_EUNAVAIL (the call that failed with HM_EUNAVAIL after
 * a sync, HM_EIO after another call) until the store is
 * closed and opened again, normally by a restart.  Gets are still served,
 * each block checked against its CRC32C; info returns HM_EUNAVAIL.  HM_ENOSPC
 * fails only the call.  True once failed, and while missing. */
bool hm_shard_store_failed(const hm_shard_store *s);

/* A disk whose label, shards/ or tmp/ is found gone at run time (its
 * directory removed or emptied) is missing: every call returns HM_EUNAVAIL,
 * info HM_ENOENT.  Checked by info, by each put_open and after any "not
 * found" from the disk.  It ends when the check finds all three back with
 * this disk's own label (the directory moved away and back), or when the
 * store is reopened.  True while missing. */
bool hm_shard_store_missing(const hm_shard_store *s);

/* Close the store.  Every put and get of it must be finished first. */
void hm_shard_store_close(hm_shard_store *s);

/* The disk id (32 hex characters), valid until close. */
const char *hm_shard_store_disk_id(const hm_shard_store *s);

/* The disk's label as read at open, valid until close. */
const hm_disk_label *hm_shard_store_label(const hm_shard_store *s);

/* Identity and capacity: disk id, statfs totals.  shard_count is not set
 * (counting would mean walking every shard; the metadata knows the blobs).
 * HM_ENOENT when the disk is missing, HM_EUNAVAIL when it has failed
 * (hm_shard_store_missing, hm_shard_store_failed).
 * *out is freed with hm__shard_info_resp__free_unpacked(*out, NULL). */
int hm_shard_store_info(hm_shard_store *s, Hm__ShardInfoResp **out);

/* Path of shard (blob_id, shard_index) under the store:
 * <disk>/shards/<hex[0:2]>/<hex[2:4]>/<blob-hex>.<index>.  HM_ETOOBIG if it
 * does not fit cap bytes (with the terminator). */
int hm_shard_store_shard_path(const hm_shard_store *s,
                              const uint8_t blob_id[HM_BLOB_ID_BYTES],
                              uint32_t shard_index, char *out, size_t cap);

/* Start a put of (hdr->blob_id, hdr->shard_index).  hdr is copied; the
 * store sets its format_version, block_bytes, data_length and data_crc32c
 * (and created_ms when absent).  HM_EINVAL if blob_id is not
 * HM_BLOB_ID_BYTES long or shard_index is absent, HM_ETOOBIG if the header
 * packs to more than HM_SHARD_HEADER_BYTES_MAX, disk errors otherwise.
 * Memory: one HM_SHARD_BLOCK_BYTES block plus 4 bytes per block written. */
int hm_shard_store_put_open(hm_shard_store *s, const Hm__ShardHeader *hdr,
                            hm_shard_store_put **out);

/* Append len bytes.  HM_ETOOBIG past HM_SHARD_DATA_BYTES_MAX.  After any
 * error the put is poisoned (HM_EPOISONED) and must be aborted. */
int hm_shard_store_put_write(hm_shard_store_put *p, const void *buf, size_t len);

/* Set the fields known only once the data is written: etag, checksums,
 * committed_ms and blob_size are taken from seal (other fields ignored) into
 * the header written at commit.  Optional; may be called more than once (the
 * last wins).  HM_ETOOBIG past HM_SHARD_SEAL_* bounds; after an error the
 * put is poisoned. */
int hm_shard_store_put_seal(hm_shard_store_put *p, const Hm__ShardHeader *seal);

/* Write the CRC table, footer and final header, fsync the file, create the
 * fan-out directories (fsyncing their parents), rename over any shard of
 * the same id, fsync the directory.  The put is freed whatever the result;
 * on failure the temporary file is removed and no new shard is visible.
 * A failed fsync returns HM_EUNAVAIL and fails the disk (see
 * hm_shard_store_failed).
 * length / crc32c (optional) describe the data written. */
int hm_shard_store_put_commit(hm_shard_store_put *p, uint64_t *length,
                              uint32_t *crc32c);

/* Drop a put: close and remove its temporary file, free it. */
void hm_shard_store_put_abort(hm_shard_store_put *p);

/* Open bytes [offset, offset+len) of a shard's data for reading; len
 * UINT64_MAX reads to the end, and a range past the end is cut at the end
 * (an offset past the end reads nothing).  The preamble, header, file size,
 * and footer are verified here; of the CRC table a get reads only the
 * entries of the blocks its range covers, as it reaches them.  *total gets the bytes get_read
 * will return; *hdr (optional) the header (free with
 * hm__shard_header__free_unpacked(*hdr, NULL)).  HM_ENOENT if absent,
 * HM_ECORRUPT / HM_EVERSION for a file that does not validate. */
int hm_shard_store_get_open(hm_shard_store *s, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                            uint32_t shard_index, uint64_t offset, uint64_t len,
                            hm_shard_store_get **out, uint64_t *total,
                            Hm__ShardHeader **hdr);

/* Read up to cap bytes into buf; *got 0 at the end.  Each block is read
 * whole into the get's buffer and checked against its CRC32C before any
 * byte of it is copied out: HM_ECORRUPT (logged with the shard's name) on a
 * mismatch, and on every later call.  A read that verified some blocks
 * before meeting a bad one returns those bytes first, then the error. */
int hm_shard_store_get_read(hm_shard_store_get *g, void *buf, size_t cap, size_t *got);

/* Close a get and free it. */
void hm_shard_store_get_close(hm_shard_store_get *g);

/* Remove a shard durably (unlink, then fsync its directory).  HM_ENOENT if
 * absent, and then only once the directory is synced too, so that absent
 * means durably absent (an earlier unlink may not have reached the disk);
 * HM_EUNAVAIL on a failed disk (a failed directory fsync fails it). */
int hm_shard_store_delete(hm_shard_store *s, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                          uint32_t shard_index);

/* The header of a shard, after checking the preamble, header and file
 * size (not the data).  Free with hm__shard_header__free_unpacked. */
int hm_shard_store_stat(hm_shard_store *s, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                        uint32_t shard_index, Hm__ShardHeader **out);

/* Call cb(arg, blob_id, shard_index) for every file under shards/ whose
 * name is a shard name (nothing is opened or checked), in directory order.
 * cb returns non-zero to stop.  Disk errors from listing. */
typedef int (*hm_shard_store_walk_cb)(void *arg, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                                      uint32_t shard_index);
int hm_shard_store_walk(hm_shard_store *s, hm_shard_store_walk_cb cb, void *arg);

/* The in-process hm_shard_api binding over s (borrowed; it must outlive the
 * api).  Free with api->ops->free(api). */
int hm_shard_api_local_new(hm_shard_api **out, hm_shard_store *s);

/* RPC handler for hm_rpc_server_start; ctx is the hm_shard_store *.
 * Serves MSG_SHARD_{INFO,PUT,GET,DELETE,STAT}_REQ (proto/hm_shard.proto).
 * Errors go back as MSG_ERROR; a put whose client goes away is aborted.
 * Returns non-zero when the connection must be closed. */
int hm_shard_service_handle(void *ctx, hm_rpc_conn *c, const hm_frame *req);

#endif
