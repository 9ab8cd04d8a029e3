/* hm_shard_store.h - one disk's shard store.
 *
 * Layout under the disk directory:
 *   hamster-disk          DiskIdentity (written once, atomically)
 *   shards/ab/cd/<blob-id-hex>.<index>   shard files (names from ids only)
 *   tmp/                  uploads in progress, emptied at open
 *
 * A shard file: fixed preamble (magic, format version, header length, header
 * CRC32C), the packed ShardHeader, the data contiguous, then one CRC32C per
 * HM_SHARD_BLOCK_BYTES block of data.  See docs/formats.md.
 */
#ifndef HM_SHARD_STORE_H
#define HM_SHARD_STORE_H

#include "hm_env.h"
#include "hm_rpc.h"
#include "hm_shard_api.h"

typedef struct hm_shard_store hm_shard_store;

/* Open the store at disk_dir (creating its identity on first use, removing
 * leftovers in tmp/).  env is borrowed. */
int hm_shard_store_open(hm_shard_store **out, hm_env *env, const char *disk_dir);
void hm_shard_store_close(hm_shard_store *s);

/* The in-process hm_shard_api binding over s (borrowed). */
int hm_shard_api_local_new(hm_shard_api **out, hm_shard_store *s);

/* RPC handler for hm_rpc_server_start; ctx is the hm_shard_store *. */
int hm_shard_service_handle(void *ctx, hm_rpc_conn *c, const hm_frame *req);

#endif
