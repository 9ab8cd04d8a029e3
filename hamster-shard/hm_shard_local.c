/* hm_shard_local.c - the in-process hm_shard_api binding over a store.
 *
 * A thin adapter: every op is the store function of the same name.  The
 * api's opaque stream types are the store's own streams, cast, so a local
 * put or get costs no allocation beyond the store's.
 */
#include "hm_shard_store.h"

#include <stdlib.h>

#include "hm_err.h"

static hm_shard_store *local_store(hm_shard_api *api) { return api->impl; }

static int local_info(hm_shard_api *api, Hm__ShardInfoResp **out)
{
    return hm_shard_store_info(local_store(api), out);
}

static int local_put_open(hm_shard_api *api, const Hm__ShardHeader *hdr,
                          hm_shard_put **out)
{
    hm_shard_store_put *p = NULL;
    int rc = hm_shard_store_put_open(local_store(api), hdr, &p);
    if (rc == 0) *out = (hm_shard_put *)p;
    return rc;
}

static int local_put_write(hm_shard_put *p, const void *buf, size_t len)
{
    return hm_shard_store_put_write((hm_shard_store_put *)p, buf, len);
}

static int local_put_seal(hm_shard_put *p, const Hm__ShardHeader *seal)
{
    return hm_shard_store_put_seal((hm_shard_store_put *)p, seal);
}

static int local_put_commit(hm_shard_put *p, uint64_t *length, uint32_t *crc32c)
{
    return hm_shard_store_put_commit((hm_shard_store_put *)p, length, crc32c);
}

static void local_put_abort(hm_shard_put *p)
{
    hm_shard_store_put_abort((hm_shard_store_put *)p);
}

static int local_get_open(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                          uint32_t shard_index, uint64_t offset, uint64_t len,
                          hm_shard_get **out, uint64_t *total, Hm__ShardHeader **hdr)
{
    hm_shard_store_get *g = NULL;
    int rc = hm_shard_store_get_open(local_store(api), blob_id, shard_index, offset,
                                     len, &g, total, hdr);
    if (rc == 0) *out = (hm_shard_get *)g;
    return rc;
}

static int local_get_read(hm_shard_get *g, void *buf, size_t cap, size_t *got)
{
    return hm_shard_store_get_read((hm_shard_store_get *)g, buf, cap, got);
}

static void local_get_close(hm_shard_get *g)
{
    hm_shard_store_get_close((hm_shard_store_get *)g);
}

static int local_del(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                     uint32_t shard_index)
{
    return hm_shard_store_delete(local_store(api), blob_id, shard_index);
}

static int local_stat(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                      uint32_t shard_index, Hm__ShardHeader **out)
{
    return hm_shard_store_stat(local_store(api), blob_id, shard_index, out);
}

static void local_free(hm_shard_api *api) { free(api); }

static const struct hm_shard_api_ops local_ops = {
    .info = local_info,
    .put_open = local_put_open,
    .put_write = local_put_write,
    .put_seal = local_put_seal,
    .put_commit = local_put_commit,
    .put_abort = local_put_abort,
    .get_open = local_get_open,
    .get_read = local_get_read,
    .get_close = local_get_close,
    .del = local_del,
    .stat = local_stat,
    .free = local_free,
};

int hm_shard_api_local_new(hm_shard_api **out, hm_shard_store *s)
{
    hm_shard_api *api = malloc(sizeof *api);
    if (api == NULL) return HM_ENOMEM;
    api->ops = &local_ops;
    api->impl = s;
    *out = api;
    return 0;
}
