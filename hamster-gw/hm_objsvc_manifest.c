/* hm_objsvc_manifest.c - the manifest shard of a completed multipart object.
 *
 * The parts of a multipart object live in separate shards, each written
 * before anyone knew which parts the object would be made of.  So that a
 * rebuild from shards alone (hamster recover -from-shards) can tell which
 * parts form the object and in what order, CompleteMultipartUpload writes
 * one small shard before it commits: its header describes the object (key,
 * ETag, size, content type, metadata, tags, checksums, commit time), its
 * data is a ShardManifest naming each part's blob, number, size and ETag.
 *
 * Shaping decision (docs/adr/0005-self-describing-shards.md): the manifest
 * is stored beside every durable shard of the first part's blob, under
 * shard index HM_SHARD_INDEX_MANIFEST, and each shard store removes its
 * copy whenever it removes that blob's shard.  It is as durable as the
 * part: the Complete goes on only with copies on at least the write-ack
 * floor of disks (hm_blob_floor), the disks that lose it lose the part's
 * shard with it.  A Complete that surely did not apply removes its
 * manifest again; one whose fate stayed unknown leaves it, and a rebuild
 * may then bring the object back as if the Complete had applied.  The first part's blob lives exactly as long as the
 * object, so the manifest needs no metadata record, no intent and no gc
 * item of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "hm_blob.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_objsvc.h"
#include "hm_shard_format.h"

/* The first part's blob, which the manifest goes beside. */
static const Hm__Blob *manifest_blob(const Hm__ObjectVersion *v)
{
    if (v->n_blobs == 0 || v->blobs[0]->blob_id.len != HM_BLOB_ID_BYTES ||
        v->blobs[0]->n_shards == 0)
        return NULL;
    return v->blobs[0];
}

int hm_objsvc_manifest_write(hm_objsvc *svc, const char *req_id, const char *bucket,
                             const char *upload_id, const Hm__ObjectVersion *v,
                             const uint32_t *numbers, const char *const *etags)
{
    const Hm__Blob *home = manifest_blob(v);
    int rc = 0;
    if (home == NULL) return HM_EINVAL;
    if (v->n_part_sizes != v->n_blobs) return HM_EINVAL;
    size_t n = v->n_blobs;
    Hm__ManifestPart *parts = calloc(n, sizeof *parts);
    Hm__ManifestPart **pp = calloc(n, sizeof *pp);
    uint8_t *buf = NULL;
    if (parts == NULL || pp == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        hm__manifest_part__init(&parts[i]);
        parts[i].has_part_number = true;
        parts[i].part_number = numbers[i];
        parts[i].has_size = true;
        parts[i].size = v->part_sizes[i];
        parts[i].etag = (char *)etags[i];
        parts[i].blob = v->blobs[i];
        pp[i] = &parts[i];
    }
    Hm__ShardManifest m = HM__SHARD_MANIFEST__INIT;
    m.has_format_version = true;
    m.format_version = HM_SHARD_MANIFEST_VERSION;
    m.n_parts = n;
    m.parts = pp;
    size_t len = hm__shard_manifest__get_packed_size(&m);
    if (len > HM_SHARD_MANIFEST_BYTES_MAX) {
        rc = HM_ETOOBIG;
        goto out;
    }
    buf = malloc(len);
    if (buf == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    hm__shard_manifest__pack(&m, buf);

    Hm__ShardHeader h = HM__SHARD_HEADER__INIT;
    h.has_blob_id = true;
    h.blob_id = v->blobs[0]->blob_id;
    h.has_shard_index = true;
    h.shard_index = HM_SHARD_INDEX_MANIFEST;
    h.has_k = true;
    h.k = 1;
    h.has_m = true;
    h.m = 0;
    h.has_stripe_bytes = true;
    h.stripe_bytes = HM_STRIPE_BYTES;
    h.has_blob_size = true;
    h.blob_size = len;
    h.has_object_id = v->has_object_id;
    h.object_id = v->object_id;
    h.version_id = v->version_id;
    h.bucket = (char *)bucket;
    h.key = v->key;
    h.has_part_number = true;
    h.part_number = 0;
    h.has_created_ms = true;
    h.created_ms = v->mtime_ms;
    h.has_role = true;
    h.role = HM__SHARD_ROLE__SHARD_ROLE_MANIFEST;
    h.content_type = v->content_type;
    h.n_user_meta = v->n_user_meta;
    h.user_meta = v->user_meta;
    h.n_headers = v->n_headers;
    h.headers = v->headers;
    h.n_tags = v->n_tags;
    h.tags = v->tags;
    h.upload_id = (char *)upload_id;
    h.has_object_size = true;
    h.object_size = v->size;
    h.has_part_count = true;
    h.part_count = (uint32_t)n;
    Hm__ShardHeader seal = HM__SHARD_HEADER__INIT;
    seal.etag = v->etag;
    seal.n_checksums = v->n_checksums;
    seal.checksums = v->checksums;
    seal.has_committed_ms = true;
    seal.committed_ms = v->mtime_ms;
    /* one copy beside every durable shard of the first part */
    uint32_t written = 0, durable = 0;
    bool nospace = false;
    for (size_t i = 0; i < home->n_shards; i++) {
        const Hm__ShardRef *ref = home->shards[i];
        if (!ref->has_length) continue;
        durable++;
        hm_shard_api *api = NULL;
        hm_shard_put *sp = NULL;
        int r = hm_objsvc_disk_api(svc, ref->disk_id, &api);
        if (r == 0) r = api->ops->put_open(api, &h, &sp);
        if (r == 0) {
            r = api->ops->put_write(sp, buf, len);
            if (r == 0) r = api->ops->put_seal(sp, &seal);
            if (r != 0) api->ops->put_abort(sp);
            else r = api->ops->put_commit(sp, NULL, NULL);
        }
        if (r == 0) written++;
        else if (r == HM_ENOSPC) nospace = true;
    }
    /* Below the floor the Complete is refused as a PUT below it is: the
     * copies' own errors (a lost disk's HM_ENOENT, HM_EIO) would tell the
     * client something else (InternalError, or an upload that is gone). */
    uint32_t floor = hm_blob_floor(home->k, home->m);
    if (floor > durable) floor = durable;
    if (written < floor || written == 0) rc = nospace ? HM_ENOSPC : HM_EUNAVAIL;
out:
    if (rc != 0)
        hm_warn("objsvc", req_id, "manifest shard of upload %s not written: %s", upload_id,
                hm_err_name(rc));
    free(buf);
    free(pp);
    free(parts);
    return rc;
}

void hm_objsvc_manifest_settle(hm_objsvc *svc, const char *req_id, const char *bucket,
                               const char *upload_id, const Hm__ObjectVersion *v,
                               int commit_rc)
{
    if (commit_rc != HM_EINVAL && commit_rc != HM_EPRECOND) {
        /* The commit's fate is unknown (a lost answer) or the upload went
         * away meanwhile (another Complete, an abort: the manifest then
         * stays, or goes with the first part's blob).  Still there means
         * this Complete did not apply. */
        if (commit_rc == HM_ENOUPLOAD) return;
        Hm__MetaResponse *r = NULL;
        if (hm_objsvc_mpu_list_parts(svc, req_id, bucket, v->key, upload_id, 0, 0, &r) != 0)
            return;
        hm__meta_response__free_unpacked(r, NULL);
    }
    const Hm__Blob *home = manifest_blob(v);
    if (home == NULL) return;
    const uint8_t *blob = home->blob_id.data;
    for (size_t i = 0; i < home->n_shards; i++) {
        hm_shard_api *api = NULL;
        if (hm_objsvc_disk_api(svc, home->shards[i]->disk_id, &api) != 0) continue;
        Hm__ShardHeader *h = NULL;
        if (api->ops->stat(api, blob, HM_SHARD_INDEX_MANIFEST, &h) != 0) continue;
        /* A concurrent Complete of the same upload may have replaced it
         * with its own: only ours goes. */
        bool ours = h->object_id.len == v->object_id.len &&
                    memcmp(h->object_id.data, v->object_id.data, v->object_id.len) == 0;
        hm__shard_header__free_unpacked(h, NULL);
        if (!ours) continue;
        int rc = api->ops->del(api, blob, HM_SHARD_INDEX_MANIFEST);
        if (rc != 0 && rc != HM_ENOENT)
            hm_warn("objsvc", req_id, "manifest shard of a refused Complete left behind: %s",
                    hm_err_name(rc));
    }
}
