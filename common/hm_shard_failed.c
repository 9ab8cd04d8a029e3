/* hm_shard_failed.c - the hm_shard_api of a disk that cannot serve.
 *
 * A disk refused at start (missing, empty, foreign, wrong slot) or lost for
 * good is still a member of the configured disk list: its slot keeps its
 * place so placement and the failure-domain count do not shift, and every
 * call on it answers HM_EUNAVAIL, which the data path already treats as
 * "this shard is unavailable".  The api remembers the disk id and the
 * reason for status, readiness and metrics.
 */
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_shard_api.h"

typedef struct failed_disk {
    char *disk_id;
    char *reason;
    bool missing;
} failed_disk;

static int failed_info(hm_shard_api *api, Hm__ShardInfoResp **out)
{
    const failed_disk *d = api->impl;
    (void)out;
    return d->missing ? HM_ENOENT : HM_EUNAVAIL;
}

static int failed_put_open(hm_shard_api *api, const Hm__ShardHeader *hdr, hm_shard_put **out)
{
    (void)api;
    (void)hdr;
    (void)out;
    return HM_EUNAVAIL;
}

/* No stream of a failed disk exists, so the stream ops are never reached
 * with one; they still answer sanely. */
static int failed_put_write(hm_shard_put *p, const void *buf, size_t len)
{
    (void)p;
    (void)buf;
    (void)len;
    return HM_EUNAVAIL;
}

static int failed_put_seal(hm_shard_put *p, const Hm__ShardHeader *seal)
{
    (void)p;
    (void)seal;
    return HM_EUNAVAIL;
}

static int failed_put_commit(hm_shard_put *p, uint64_t *length, uint32_t *crc32c)
{
    (void)p;
    (void)length;
    (void)crc32c;
    return HM_EUNAVAIL;
}

static void failed_put_abort(hm_shard_put *p) { (void)p; }

static int failed_get_open(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                           uint32_t shard_index, uint64_t offset, uint64_t len,
                           hm_shard_get **out, uint64_t *total, Hm__ShardHeader **hdr)
{
    (void)api;
    (void)blob_id;
    (void)shard_index;
    (void)offset;
    (void)len;
    (void)out;
    (void)total;
    (void)hdr;
    return HM_EUNAVAIL;
}

static int failed_get_read(hm_shard_get *g, void *buf, size_t cap, size_t *got)
{
    (void)g;
    (void)buf;
    (void)cap;
    (void)got;
    return HM_EUNAVAIL;
}

static void failed_get_close(hm_shard_get *g) { (void)g; }

static int failed_del(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                      uint32_t shard_index)
{
    (void)api;
    (void)blob_id;
    (void)shard_index;
    return HM_EUNAVAIL;
}

static int failed_stat(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                       uint32_t shard_index, Hm__ShardHeader **out)
{
    (void)api;
    (void)blob_id;
    (void)shard_index;
    (void)out;
    return HM_EUNAVAIL;
}

static void failed_free(hm_shard_api *api)
{
    if (api == NULL) return;
    failed_disk *d = api->impl;
    free(d->disk_id);
    free(d->reason);
    free(d);
    free(api);
}

static const struct hm_shard_api_ops failed_ops = {
    .info = failed_info,
    .put_open = failed_put_open,
    .put_write = failed_put_write,
    .put_seal = failed_put_seal,
    .put_commit = failed_put_commit,
    .put_abort = failed_put_abort,
    .get_open = failed_get_open,
    .get_read = failed_get_read,
    .get_close = failed_get_close,
    .del = failed_del,
    .stat = failed_stat,
    .free = failed_free,
};

static int failed_new(hm_shard_api **out, const char *disk_id, const char *reason,
                      bool missing)
{
    hm_shard_api *api = malloc(sizeof *api);
    failed_disk *d = calloc(1, sizeof *d);
    if (api == NULL || d == NULL) goto err;
    d->disk_id = strdup(disk_id != NULL ? disk_id : "");
    d->reason = strdup(reason != NULL ? reason : "unavailable");
    if (d->disk_id == NULL || d->reason == NULL) goto err;
    d->missing = missing;
    api->ops = &failed_ops;
    api->impl = d;
    *out = api;
    return 0;
err:
    if (d != NULL) {
        free(d->disk_id);
        free(d->reason);
    }
    free(d);
    free(api);
    return HM_ENOMEM;
}

int hm_shard_api_failed_new(hm_shard_api **out, const char *disk_id, const char *reason)
{
    return failed_new(out, disk_id, reason, false);
}

int hm_shard_api_missing_new(hm_shard_api **out, const char *disk_id, const char *reason)
{
    return failed_new(out, disk_id, reason, true);
}

bool hm_shard_api_failed_info(const hm_shard_api *api, const char **disk_id,
                              const char **reason)
{
    if (api == NULL || api->ops != &failed_ops) return false;
    const failed_disk *d = api->impl;
    if (disk_id != NULL) *disk_id = d->disk_id;
    if (reason != NULL) *reason = d->reason;
    return true;
}
