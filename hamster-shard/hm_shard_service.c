/* hm_shard_service.c - the shard store's RPC handler (proto/hm_shard.proto).
 *
 * Runs on the RPC server's per-connection thread and blocks on the store,
 * which is the back-pressure: a slow disk slows the sender.  The decision
 * that shapes it: a failed stream is aborted first, so nothing of it stays
 * on disk, and the connection is kept only if the two sides are provably
 * in step.  A put that fails is answered with MSG_ERROR at once and the
 * rest of its stream read and dropped (up to a budget; past it, or if the
 * client vanishes, the connection is closed).  A get that fails after its
 * response was sent ends its stream with an MSG_ERROR frame.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_rpc.pb-c.h"
#include "hm_shard_store.h"

#define SERVICE_COMP "shard"

/* Bytes of a failed put read and dropped before giving up on the
 * connection (see service_put_drain). */
#define SERVICE_DRAIN_BYTES_MAX (8u * HM_RPC_BULK_BYTES_MAX)

/* Outcomes for the RPC layer: keep the connection or close it. */
enum { SERVICE_KEEP = 0, SERVICE_CLOSE = 1 };

/* Reply with an error; a failed send closes the connection. */
static int service_fail(hm_rpc_conn *c, uint64_t req_id, int code, const char *what)
{
    if (hm_rpc_send_error(c, req_id, code, what) != 0) return SERVICE_CLOSE;
    return SERVICE_KEEP;
}

static int service_send(hm_rpc_conn *c, uint16_t type, uint64_t req_id, uint32_t flags,
                        const ProtobufCMessage *msg)
{
    return hm_rpc_send(c, type, req_id, flags, msg, NULL, 0) == 0 ? SERVICE_KEEP
                                                                   : SERVICE_CLOSE;
}

static bool service_blob_ok(bool has, const ProtobufCBinaryData *b)
{
    return has && b->len == HM_BLOB_ID_BYTES;
}

static int service_info(hm_shard_store *s, hm_rpc_conn *c, const hm_frame *req)
{
    Hm__ShardInfoReq *m = NULL;
    Hm__ShardInfoResp *r = NULL;
    int rc = hm_rpc_unpack(req, &hm__shard_info_req__descriptor, (ProtobufCMessage **)&m);
    if (rc != 0) return service_fail(c, req->hdr.req_id, rc, "bad ShardInfoReq");
    hm__shard_info_req__free_unpacked(m, NULL);
    rc = hm_shard_store_info(s, &r);
    if (rc != 0) return service_fail(c, req->hdr.req_id, rc, "info");
    int out = service_send(c, HM__MSG_TYPE__MSG_SHARD_INFO_RESP, req->hdr.req_id, 0,
                           &r->base);
    hm__shard_info_resp__free_unpacked(r, NULL);
    return out;
}

/* After a put failed: read and drop the rest of its stream, so the error
 * reply is read by a client that is still sending and the connection stays
 * in step.  A stream longer than the budget, or anything out of step,
 * closes the connection instead. */
static int service_put_drain(hm_rpc_conn *c, uint64_t req_id)
{
    uint64_t budget = SERVICE_DRAIN_BYTES_MAX;
    for (;;) {
        hm_frame f;
        hm_rpc_set_timeout(c, HM_RPC_CALL_TIMEOUT_MS);
        if (hm_rpc_recv(c, &f) != 0) return SERVICE_CLOSE;
        if (f.hdr.type != HM__MSG_TYPE__MSG_DATA || f.hdr.req_id != req_id ||
            f.hdr.bulk_len > budget) {
            return SERVICE_CLOSE;
        }
        budget -= f.hdr.bulk_len;
        if ((f.hdr.flags & HM_FRAME_F_MORE) == 0) return SERVICE_KEEP;
    }
}

static int service_put(hm_shard_store *s, hm_rpc_conn *c, const hm_frame *req)
{
    uint64_t req_id = req->hdr.req_id;
    Hm__ShardPutReq *m = NULL;
    hm_shard_store_put *p = NULL;
    uint64_t length = 0;
    uint32_t crc = 0;
    const char *what = "put";
    /* Data frames of this put are still to come. */
    bool more = (req->hdr.flags & HM_FRAME_F_MORE) != 0;
    int rc = hm_rpc_unpack(req, &hm__shard_put_req__descriptor, (ProtobufCMessage **)&m);
    if (rc != 0) {
        what = "bad ShardPutReq";
        goto err;
    }
    if (m->header == NULL || !more) {
        rc = HM_EINVAL;
        what = "ShardPutReq needs a header and data frames";
        goto err_after_unpack;
    }
    rc = hm_shard_store_put_open(s, m->header, &p);
    if (rc != 0) {
        what = "put open";
        goto err_after_unpack;
    }
    while (more) {
        hm_frame f;
        /* Each frame gets a call-sized deadline: a stalled client loses
         * its put, it does not hold the thread. */
        hm_rpc_set_timeout(c, HM_RPC_CALL_TIMEOUT_MS);
        rc = hm_rpc_recv(c, &f);
        if (rc != 0) {
            /* The client went away (or stalled) mid-stream: drop the put. */
            hm_warn(SERVICE_COMP, NULL, "put from %s abandoned: %s", hm_rpc_peer_name(c),
                    hm_err_msg(rc));
            hm_shard_store_put_abort(p);
            hm__shard_put_req__free_unpacked(m, NULL);
            return SERVICE_CLOSE;
        }
        if (f.hdr.type != HM__MSG_TYPE__MSG_DATA || f.hdr.req_id != req_id) {
            hm_shard_store_put_abort(p);
            hm__shard_put_req__free_unpacked(m, NULL);
            hm_rpc_send_error(c, req_id, HM_EPROTO, "expected a data frame of the put");
            return SERVICE_CLOSE;
        }
        more = (f.hdr.flags & HM_FRAME_F_MORE) != 0;
        if (!more && f.hdr.proto_len > 0) {
            /* The last frame may carry the put's seal (ShardPutSeal). */
            Hm__ShardPutSeal *seal = NULL;
            rc = hm_rpc_unpack(&f, &hm__shard_put_seal__descriptor, (ProtobufCMessage **)&seal);
            if (rc == 0) {
                rc = seal->seal != NULL ? hm_shard_store_put_seal(p, seal->seal) : HM_EINVAL;
                hm__shard_put_seal__free_unpacked(seal, NULL);
            }
            if (rc != 0) {
                what = "put seal";
                goto err_after_open;
            }
        }
        if (f.hdr.bulk_len > 0) {
            rc = hm_shard_store_put_write(p, f.bulk, f.hdr.bulk_len);
            if (rc != 0) {
                what = "put write";
                goto err_after_open;
            }
        }
    }
    hm_rpc_set_timeout(c, HM_RPC_CALL_TIMEOUT_MS);
    rc = hm_shard_store_put_commit(p, &length, &crc);
    hm__shard_put_req__free_unpacked(m, NULL);
    if (rc != 0) return service_fail(c, req_id, rc, "put commit");
    Hm__ShardPutResp r = HM__SHARD_PUT_RESP__INIT;
    r.has_format_version = true;
    r.format_version = HM_FORMAT_VERSION;
    r.has_length = true;
    r.length = length;
    r.has_crc32c = true;
    r.crc32c = crc;
    return service_send(c, HM__MSG_TYPE__MSG_SHARD_PUT_RESP, req_id, 0, &r.base);

err_after_open:
    hm_shard_store_put_abort(p);
err_after_unpack:
    hm__shard_put_req__free_unpacked(m, NULL);
err:
    hm_warn(SERVICE_COMP, NULL, "put from %s failed: %s: %s", hm_rpc_peer_name(c), what,
            hm_err_msg(rc));
    if (hm_rpc_send_error(c, req_id, rc, what) != 0) return SERVICE_CLOSE;
    return more ? service_put_drain(c, req_id) : SERVICE_KEEP;
}

/* Fill buf with exactly n bytes from g (n > 0 only while data remains). */
static int service_read_full(hm_shard_store_get *g, uint8_t *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t got = 0;
        int rc = hm_shard_store_get_read(g, buf + done, n - done, &got);
        if (rc != 0) return rc;
        if (got == 0) return HM_EINTERNAL; /* shorter than get_open said */
        done += got;
    }
    return 0;
}

static int service_get(hm_shard_store *s, hm_rpc_conn *c, const hm_frame *req)
{
    uint64_t req_id = req->hdr.req_id;
    Hm__ShardGetReq *m = NULL;
    Hm__ShardHeader *hdr = NULL;
    hm_shard_store_get *g = NULL;
    uint8_t *buf = NULL;
    uint64_t total = 0;
    int out = SERVICE_KEEP;
    int rc = hm_rpc_unpack(req, &hm__shard_get_req__descriptor, (ProtobufCMessage **)&m);
    if (rc != 0) return service_fail(c, req_id, rc, "bad ShardGetReq");
    if (!service_blob_ok(m->has_blob_id, &m->blob_id) || !m->has_shard_index) {
        hm__shard_get_req__free_unpacked(m, NULL);
        return service_fail(c, req_id, HM_EINVAL, "ShardGetReq needs blob_id and index");
    }
    rc = hm_shard_store_get_open(s, m->blob_id.data, m->shard_index,
                                 m->has_offset ? m->offset : 0,
                                 m->has_length ? m->length : UINT64_MAX, &g, &total, &hdr);
    hm__shard_get_req__free_unpacked(m, NULL);
    if (rc != 0) return service_fail(c, req_id, rc, "get open");
    size_t cap = total < HM_RPC_BULK_BYTES_MAX ? (size_t)total : HM_RPC_BULK_BYTES_MAX;
    if (cap > 0) {
        buf = malloc(cap);
        if (buf == NULL) {
            out = service_fail(c, req_id, HM_ENOMEM, "get buffer");
            goto done;
        }
    }

    Hm__ShardGetResp r = HM__SHARD_GET_RESP__INIT;
    r.has_format_version = true;
    r.format_version = HM_FORMAT_VERSION;
    r.has_length = true;
    r.length = total;
    r.header = hdr;
    /* Data frames follow the response, so it is never the last frame. */
    out = service_send(c, HM__MSG_TYPE__MSG_SHARD_GET_RESP, req_id, HM_FRAME_F_MORE,
                       &r.base);
    if (out != SERVICE_KEEP) goto done;

    uint64_t left = total;
    do {
        size_t n = left < cap ? (size_t)left : cap;
        if (n > 0) {
            rc = service_read_full(g, buf, n);
            if (rc != 0) {
                /* Already answered: the error ends the stream in band. */
                out = service_fail(c, req_id, rc, "shard read");
                goto done;
            }
        }
        left -= n;
        hm_rpc_set_timeout(c, HM_RPC_CALL_TIMEOUT_MS);
        if (hm_rpc_send(c, HM__MSG_TYPE__MSG_DATA, req_id, left > 0 ? HM_FRAME_F_MORE : 0,
                        NULL, buf, (uint32_t)n) != 0) {
            out = SERVICE_CLOSE;
            goto done;
        }
    } while (left > 0);

done:
    free(buf);
    hm_shard_store_get_close(g);
    hm__shard_header__free_unpacked(hdr, NULL);
    return out;
}

static int service_delete(hm_shard_store *s, hm_rpc_conn *c, const hm_frame *req)
{
    Hm__ShardDeleteReq *m = NULL;
    int rc = hm_rpc_unpack(req, &hm__shard_delete_req__descriptor,
                           (ProtobufCMessage **)&m);
    if (rc != 0) return service_fail(c, req->hdr.req_id, rc, "bad ShardDeleteReq");
    if (!service_blob_ok(m->has_blob_id, &m->blob_id) || !m->has_shard_index) {
        rc = HM_EINVAL;
    } else {
        rc = hm_shard_store_delete(s, m->blob_id.data, m->shard_index);
    }
    hm__shard_delete_req__free_unpacked(m, NULL);
    if (rc != 0) return service_fail(c, req->hdr.req_id, rc, "delete");
    Hm__ShardDeleteResp r = HM__SHARD_DELETE_RESP__INIT;
    r.has_format_version = true;
    r.format_version = HM_FORMAT_VERSION;
    return service_send(c, HM__MSG_TYPE__MSG_SHARD_DELETE_RESP, req->hdr.req_id, 0,
                        &r.base);
}

static int service_stat(hm_shard_store *s, hm_rpc_conn *c, const hm_frame *req)
{
    Hm__ShardStatReq *m = NULL;
    Hm__ShardHeader *hdr = NULL;
    int rc = hm_rpc_unpack(req, &hm__shard_stat_req__descriptor, (ProtobufCMessage **)&m);
    if (rc != 0) return service_fail(c, req->hdr.req_id, rc, "bad ShardStatReq");
    if (!service_blob_ok(m->has_blob_id, &m->blob_id) || !m->has_shard_index) {
        rc = HM_EINVAL;
    } else {
        rc = hm_shard_store_stat(s, m->blob_id.data, m->shard_index, &hdr);
    }
    hm__shard_stat_req__free_unpacked(m, NULL);
    if (rc != 0) return service_fail(c, req->hdr.req_id, rc, "stat");
    Hm__ShardStatResp r = HM__SHARD_STAT_RESP__INIT;
    r.has_format_version = true;
    r.format_version = HM_FORMAT_VERSION;
    r.header = hdr;
    int out = service_send(c, HM__MSG_TYPE__MSG_SHARD_STAT_RESP, req->hdr.req_id, 0,
                           &r.base);
    hm__shard_header__free_unpacked(hdr, NULL);
    return out;
}

/* Echo a ping, so a peer can probe a shard daemon. */
static int service_ping(hm_rpc_conn *c, const hm_frame *req)
{
    Hm__RpcPing *m = NULL;
    int rc = hm_rpc_unpack(req, &hm__rpc_ping__descriptor, (ProtobufCMessage **)&m);
    if (rc != 0) return service_fail(c, req->hdr.req_id, rc, "bad RpcPing");
    Hm__RpcPing r = HM__RPC_PING__INIT;
    r.has_format_version = true;
    r.format_version = HM_FORMAT_VERSION;
    r.has_nonce = m->has_nonce;
    r.nonce = m->nonce;
    hm__rpc_ping__free_unpacked(m, NULL);
    return service_send(c, HM__MSG_TYPE__MSG_PING, req->hdr.req_id, 0, &r.base);
}

int hm_shard_service_handle(void *ctx, hm_rpc_conn *c, const hm_frame *req)
{
    hm_shard_store *s = ctx;
    switch (req->hdr.type) {
    case HM__MSG_TYPE__MSG_SHARD_INFO_REQ:
        return service_info(s, c, req);
    case HM__MSG_TYPE__MSG_SHARD_PUT_REQ:
        return service_put(s, c, req);
    case HM__MSG_TYPE__MSG_SHARD_GET_REQ:
        return service_get(s, c, req);
    case HM__MSG_TYPE__MSG_SHARD_DELETE_REQ:
        return service_delete(s, c, req);
    case HM__MSG_TYPE__MSG_SHARD_STAT_REQ:
        return service_stat(s, c, req);
    case HM__MSG_TYPE__MSG_PING:
        return service_ping(c, req);
    default:
        /* A stray frame (say, data of a stream we already ended) means the
         * two sides are out of step. */
        hm_rpc_send_error(c, req->hdr.req_id, HM_EPROTO, "unexpected message type");
        return SERVICE_CLOSE;
    }
}
