/* hm_shard_api.h - how the object service talks to one shard store (disk).
 *
 * Streams: a put is open / write* / commit (or abort); a get is open /
 * read* / close.  Two bindings behave identically:
 *   - in-process (hamster-shard/hm_shard_store.h, hm_shard_api_local),
 *   - RPC (hm_shard_api_rpc_new, common/rpc/hm_shard_client.c), which holds
 *     one pooled connection for the whole stream.
 * Memory: a stream holds at most one HM_SHARD_BLOCK_BYTES block (local) or
 * one HM_RPC_BULK_BYTES_MAX frame (RPC) of buffered data.
 * Thread-safe: many streams may be open at once on one api.
 */
#ifndef HM_SHARD_API_H
#define HM_SHARD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_shard.pb-c.h"

typedef struct hm_shard_api hm_shard_api;
typedef struct hm_shard_put hm_shard_put;
typedef struct hm_shard_get hm_shard_get;

#define HM_BLOB_ID_BYTES 16

struct hm_shard_api_ops {
    /* Identity and capacity of the store.  Also the disk's state: 0 healthy,
     * HM_ENOENT missing (its directory gone, at start or at run time), any
     * other error failed (an I/O error or failed sync, until restart) or
     * unreachable (a shard daemon that does not answer). */
    int (*info)(hm_shard_api *api, Hm__ShardInfoResp **out);

    /* Start writing shard (hdr->blob_id, hdr->shard_index).  hdr is copied.
     * Nothing is visible under the shard's name until commit returns 0. */
    int (*put_open)(hm_shard_api *api, const Hm__ShardHeader *hdr, hm_shard_put **out);
    /* Append data.  On error the put must still be aborted. */
    int (*put_write)(hm_shard_put *p, const void *buf, size_t len);
    /* Set the header fields known only after the data (etag, checksums,
     * committed_ms, blob_size; others in seal are ignored); written with
     * the header at commit.  Optional.  On error the put must be aborted. */
    int (*put_seal)(hm_shard_put *p, const Hm__ShardHeader *seal);
    /* Make the shard durable (file fsync, rename, directory fsync) and free
     * the put.  On success *length / *crc32c describe the data written.  On
     * failure nothing is visible and the put is freed. */
    int (*put_commit)(hm_shard_put *p, uint64_t *length, uint32_t *crc32c);
    /* Drop a put: the temporary file is removed; the put is freed. */
    void (*put_abort)(hm_shard_put *p);

    /* Open a shard for reading bytes [offset, offset+len) of its data
     * (len UINT64_MAX: to the end).  *total gets the bytes that will be
     * returned; *hdr (optional, free with hm__shard_header__free_unpacked)
     * the shard's header.  HM_ENOENT if absent. */
    int (*get_open)(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                    uint32_t shard_index, uint64_t offset, uint64_t len,
                    hm_shard_get **out, uint64_t *total, Hm__ShardHeader **hdr);
    /* Read up to cap bytes; *got 0 at the end.  Every block is checked
     * against its CRC32C before any of it is returned: HM_ECORRUPT. */
    int (*get_read)(hm_shard_get *g, void *buf, size_t cap, size_t *got);
    void (*get_close)(hm_shard_get *g);

    /* Remove a shard durably; HM_ENOENT if absent. */
    int (*del)(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
               uint32_t shard_index);
    /* Header of a shard (free with hm__shard_header__free_unpacked). */
    int (*stat)(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                uint32_t shard_index, Hm__ShardHeader **out);

    void (*free)(hm_shard_api *api);
};

struct hm_shard_api {
    const struct hm_shard_api_ops *ops;
    void *impl;
};

/* A disk that cannot serve: missing, unlabelled, foreign or failed at start
 * (docs/adr/0011-disk-identity.md).  Every call returns HM_EUNAVAIL (info,
 * put_open, get_open, del, stat; no stream is ever handed out), so the
 * object service treats the disk like any unavailable shard and needs
 * nothing else from the disk layer.  disk_id (the label's, or NULL when the
 * disk has none) and reason are copied.  Free with api->ops->free(api). */
int hm_shard_api_failed_new(hm_shard_api **out, const char *disk_id, const char *reason);

/* As hm_shard_api_failed_new for a disk that is missing (its directory or
 * label absent): info returns HM_ENOENT, every other call HM_EUNAVAIL. */
int hm_shard_api_missing_new(hm_shard_api **out, const char *disk_id, const char *reason);

/* If api was made by hm_shard_api_failed_new: true, with its disk id ("" if
 * none) and reason (valid until the api is freed).  False otherwise. */
bool hm_shard_api_failed_info(const hm_shard_api *api, const char **disk_id,
                              const char **reason);

/* RPC binding to a hamster-shard at addr.  tls is borrowed. */
struct hm_tls;
int hm_shard_api_rpc_new(hm_shard_api **out, struct hm_tls *tls, const char *addr);

#endif
