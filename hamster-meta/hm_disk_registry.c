/* hm_disk_registry.c - writing the disk registry from a role (hm_disk_registry.h). */
#include "hm_disk_registry.h"

#include <stdbool.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"

/* Send req (stamped with the format version and req_id); the transport's
 * error or the answer's.  *resp is set whenever there is one to free. */
static int registry_call(hm_meta_api *meta, const char *req_id, Hm__MetaRequest *req,
                         Hm__MetaResponse **resp)
{
    req->has_format_version = true;
    req->format_version = HM_FORMAT_VERSION;
    req->request_id = (char *)req_id;
    *resp = NULL;
    int rc = hm_meta_call(meta, req, resp);
    if (rc == 0 && (*resp)->has_err && (*resp)->err != 0) rc = (*resp)->err;
    return rc;
}

int hm_disk_registry_fetch(hm_meta_api *meta, const char *req_id, Hm__MetaResponse **out)
{
    Hm__DiskList dl = HM__DISK_LIST__INIT;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_DISK_LIST;
    req.disk_list = &dl;
    Hm__MetaResponse *resp = NULL;
    int rc = registry_call(meta, req_id, &req, &resp);
    if (rc == 0 && (resp->result_case != HM__META_RESPONSE__RESULT_DISKS || resp->disks == NULL))
        rc = HM_EPROTO;
    if (rc != 0) {
        if (resp != NULL) hm__meta_response__free_unpacked(resp, NULL);
        return rc;
    }
    *out = resp;
    return 0;
}

const Hm__DiskRecord *hm_disk_registry_slot(const Hm__MetaResponse *reg, size_t slot)
{
    for (size_t i = 0; reg != NULL && i < reg->disks->n_disks; i++)
        if (reg->disks->disks[i]->has_slot && reg->disks->disks[i]->slot == slot)
            return reg->disks->disks[i];
    return NULL;
}

static bool registry_str_eq(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

int hm_disk_registry_record(hm_meta_api *meta, const char *req_id, const Hm__DiskRecord *cur,
                            size_t slot, const char *path, const char *disk_id, uint32_t state,
                            const char *reason, int64_t now_ms)
{
    if (cur != NULL && cur->state == state && registry_str_eq(cur->disk_id, disk_id) &&
        registry_str_eq(cur->path, path) && registry_str_eq(cur->reason, reason))
        return 0;
    Hm__DiskRecord rec = HM__DISK_RECORD__INIT;
    rec.has_slot = true;
    rec.slot = (uint32_t)slot;
    rec.disk_id = (char *)disk_id;
    rec.path = (char *)path;
    rec.has_state = true;
    rec.state = state;
    rec.reason = (char *)reason;
    rec.has_since_ms = true;
    rec.since_ms = cur != NULL && cur->state == state && cur->has_since_ms ? cur->since_ms : now_ms;
    Hm__DiskSet ds = HM__DISK_SET__INIT;
    ds.disk = &rec;
    ds.has_expect_version = true;
    ds.expect_version = cur != NULL && cur->has_version ? cur->version : 0;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.has_format_version = true;
    cmd.format_version = HM_FORMAT_VERSION;
    cmd.op_case = HM__META_COMMAND__OP_DISK_SET;
    cmd.disk_set = &ds;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = &cmd;
    Hm__MetaResponse *resp = NULL;
    int rc = registry_call(meta, req_id, &req, &resp);
    if (resp != NULL) hm__meta_response__free_unpacked(resp, NULL);
    return rc;
}
