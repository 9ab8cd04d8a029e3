/* hm_shard_client.c - the RPC hm_shard_api binding (hm_shard_api_rpc_new).
 *
 * Unary ops (info, stat, delete) are hm_rpc_call.  A put or get stream
 * borrows one pooled connection for its whole life and returns it as
 * reusable only when the stream ended cleanly; anything else (an abort, an
 * error, a get closed before its end) closes the connection, because frames
 * of the stream may still be in flight on it.  Nothing is buffered here: a
 * put sends the caller's bytes straight out in frames of at most
 * HM_RPC_BULK_BYTES_MAX, a get hands out bulk from the frame it received,
 * which the connection keeps valid until the next receive.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_rpc.h"
#include "hm_rpc.pb-c.h"
#include "hm_shard_api.h"
#include "hm_shard_format.h"

/* How long a failed put waits for the server's MSG_ERROR explaining why. */
#define CLIENT_ERROR_WAIT_MS 1000

typedef struct client {
    hm_shard_api api;
    hm_rpc_client *rpc;
    atomic_uint_fast64_t next_req_id;
} client;

typedef struct client_put {
    client *cl;
    hm_rpc_conn *c;
    uint64_t req_id;
    int err; /* sticky */
    Hm__ShardPutSeal *seal; /* sent with the last frame; NULL: none */
} client_put;

typedef struct client_get {
    client *cl;
    hm_rpc_conn *c;
    uint64_t req_id;
    uint64_t left;        /* bytes the server still owes */
    const uint8_t *rest;  /* unconsumed bulk of the last frame */
    size_t rest_len;
    bool last_seen;       /* the frame without MORE arrived */
    int err;              /* sticky */
} client_get;

static client *client_of(hm_shard_api *api) { return api->impl; }

static uint64_t client_req_id(client *cl)
{
    return atomic_fetch_add(&cl->next_req_id, 1);
}

/* The code carried by an MSG_ERROR frame, kept within the HM_E* range. */
static int client_error_code(const hm_frame *f)
{
    Hm__RpcError *e = NULL;
    if (hm_rpc_unpack(f, &hm__rpc_error__descriptor, (ProtobufCMessage **)&e) != 0) {
        return HM_EPROTO;
    }
    int code = e->has_code ? e->code : HM_EINTERNAL;
    hm__rpc_error__free_unpacked(e, NULL);
    if (code >= 0 || code < HM_ERR_LAST) code = HM_EINTERNAL;
    return code;
}

static bool client_blob_ok(const Hm__ShardHeader *hdr)
{
    return hdr->has_blob_id && hdr->blob_id.len == HM_BLOB_ID_BYTES && hdr->has_shard_index;
}

/* ---- unary --------------------------------------------------------------- */

static int client_info(hm_shard_api *api, Hm__ShardInfoResp **out)
{
    Hm__ShardInfoReq req = HM__SHARD_INFO_REQ__INIT;
    req.has_format_version = true;
    req.format_version = HM_FORMAT_VERSION;
    return hm_rpc_call(client_of(api)->rpc, HM__MSG_TYPE__MSG_SHARD_INFO_REQ, &req.base,
                       NULL, 0, HM__MSG_TYPE__MSG_SHARD_INFO_RESP,
                       &hm__shard_info_resp__descriptor, (ProtobufCMessage **)out,
                       HM_RPC_CALL_TIMEOUT_MS);
}

static int client_del(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                      uint32_t shard_index)
{
    Hm__ShardDeleteReq req = HM__SHARD_DELETE_REQ__INIT;
    Hm__ShardDeleteResp *resp = NULL;
    req.has_format_version = true;
    req.format_version = HM_FORMAT_VERSION;
    req.has_blob_id = true;
    req.blob_id.data = (uint8_t *)blob_id;
    req.blob_id.len = HM_BLOB_ID_BYTES;
    req.has_shard_index = true;
    req.shard_index = shard_index;
    int rc = hm_rpc_call(client_of(api)->rpc, HM__MSG_TYPE__MSG_SHARD_DELETE_REQ,
                         &req.base, NULL, 0, HM__MSG_TYPE__MSG_SHARD_DELETE_RESP,
                         &hm__shard_delete_resp__descriptor, (ProtobufCMessage **)&resp,
                         HM_RPC_CALL_TIMEOUT_MS);
    if (rc == 0) hm__shard_delete_resp__free_unpacked(resp, NULL);
    return rc;
}

static int client_stat(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                       uint32_t shard_index, Hm__ShardHeader **out)
{
    Hm__ShardStatReq req = HM__SHARD_STAT_REQ__INIT;
    Hm__ShardStatResp *resp = NULL;
    req.has_format_version = true;
    req.format_version = HM_FORMAT_VERSION;
    req.has_blob_id = true;
    req.blob_id.data = (uint8_t *)blob_id;
    req.blob_id.len = HM_BLOB_ID_BYTES;
    req.has_shard_index = true;
    req.shard_index = shard_index;
    int rc = hm_rpc_call(client_of(api)->rpc, HM__MSG_TYPE__MSG_SHARD_STAT_REQ, &req.base,
                         NULL, 0, HM__MSG_TYPE__MSG_SHARD_STAT_RESP,
                         &hm__shard_stat_resp__descriptor, (ProtobufCMessage **)&resp,
                         HM_RPC_CALL_TIMEOUT_MS);
    if (rc != 0) return rc;
    if (resp->header == NULL) {
        hm__shard_stat_resp__free_unpacked(resp, NULL);
        return HM_EPROTO;
    }
    /* Hand the header over: detach it so freeing resp leaves it alone. */
    *out = resp->header;
    resp->header = NULL;
    hm__shard_stat_resp__free_unpacked(resp, NULL);
    return 0;
}

/* ---- put ------------------------------------------------------------------ */

/* A send failed: the server may have said why before closing. */
static int client_put_fail(client_put *p, int rc)
{
    hm_frame f;
    hm_rpc_set_timeout(p->c, CLIENT_ERROR_WAIT_MS);
    if (hm_rpc_recv(p->c, &f) == 0 && f.hdr.type == HM__MSG_TYPE__MSG_ERROR &&
        f.hdr.req_id == p->req_id) {
        rc = client_error_code(&f);
    }
    p->err = rc;
    return rc;
}

static int client_put_open(hm_shard_api *api, const Hm__ShardHeader *hdr,
                           hm_shard_put **out)
{
    client *cl = client_of(api);
    if (!client_blob_ok(hdr)) return HM_EINVAL;
    client_put *p = calloc(1, sizeof *p);
    if (p == NULL) return HM_ENOMEM;
    p->cl = cl;
    p->req_id = client_req_id(cl);
    int rc = hm_rpc_client_acquire(cl->rpc, HM_RPC_CALL_TIMEOUT_MS, &p->c);
    if (rc != 0) goto err_after_alloc;
    Hm__ShardPutReq req = HM__SHARD_PUT_REQ__INIT;
    req.has_format_version = true;
    req.format_version = HM_FORMAT_VERSION;
    req.header = (Hm__ShardHeader *)hdr;
    rc = hm_rpc_send(p->c, HM__MSG_TYPE__MSG_SHARD_PUT_REQ, p->req_id, HM_FRAME_F_MORE,
                     &req.base, NULL, 0);
    if (rc != 0) goto err_after_acquire;
    *out = (hm_shard_put *)p;
    return 0;

err_after_acquire:
    hm_rpc_client_release(cl->rpc, p->c, false);
err_after_alloc:
    free(p);
    return rc;
}

static int client_put_write(hm_shard_put *hp, const void *buf, size_t len)
{
    client_put *p = (client_put *)hp;
    const uint8_t *src = buf;
    if (p->err != 0) return HM_EPOISONED;
    while (len > 0) {
        uint32_t n = len > HM_RPC_BULK_BYTES_MAX ? HM_RPC_BULK_BYTES_MAX : (uint32_t)len;
        hm_rpc_set_timeout(p->c, HM_RPC_CALL_TIMEOUT_MS);
        int rc = hm_rpc_send(p->c, HM__MSG_TYPE__MSG_DATA, p->req_id, HM_FRAME_F_MORE,
                             NULL, src, n);
        if (rc != 0) return client_put_fail(p, rc);
        src += n;
        len -= n;
    }
    return 0;
}

/* Keep a copy of the seal; it travels as the protobuf of the last data
 * frame, so sealing costs no round trip. */
static int client_put_seal(hm_shard_put *hp, const Hm__ShardHeader *seal)
{
    client_put *p = (client_put *)hp;
    if (p->err != 0) return HM_EPOISONED;
    Hm__ShardPutSeal m = HM__SHARD_PUT_SEAL__INIT;
    m.has_format_version = true;
    m.format_version = HM_FORMAT_VERSION;
    m.seal = (Hm__ShardHeader *)seal;
    size_t n = hm__shard_put_seal__get_packed_size(&m);
    if (n > HM_SHARD_SEAL_BYTES_MAX + 64) {
        p->err = HM_ETOOBIG;
        return HM_ETOOBIG;
    }
    uint8_t buf[HM_SHARD_SEAL_BYTES_MAX + 64];
    hm__shard_put_seal__pack(&m, buf);
    Hm__ShardPutSeal *copy = hm__shard_put_seal__unpack(NULL, n, buf);
    if (copy == NULL) {
        p->err = HM_ENOMEM;
        return HM_ENOMEM;
    }
    if (p->seal != NULL) hm__shard_put_seal__free_unpacked(p->seal, NULL);
    p->seal = copy;
    return 0;
}

static int client_put_commit(hm_shard_put *hp, uint64_t *length, uint32_t *crc32c)
{
    client_put *p = (client_put *)hp;
    Hm__ShardPutResp *resp = NULL;
    hm_frame f;
    bool reusable = false;
    int rc = p->err != 0 ? p->err : 0;
    if (rc != 0) goto done;
    hm_rpc_set_timeout(p->c, HM_RPC_CALL_TIMEOUT_MS);
    rc = hm_rpc_send(p->c, HM__MSG_TYPE__MSG_DATA, p->req_id, 0,
                     p->seal != NULL ? &p->seal->base : NULL, NULL, 0);
    if (rc != 0) {
        rc = client_put_fail(p, rc);
        goto done;
    }
    /* The server fsyncs before it answers; the call timeout covers that. */
    rc = hm_rpc_recv(p->c, &f);
    if (rc != 0) goto done;
    if (f.hdr.req_id != p->req_id) {
        rc = HM_EPROTO;
    } else if (f.hdr.type == HM__MSG_TYPE__MSG_ERROR) {
        /* The server answers a failed put once it has read the stream to
         * its end: the connection is in step (if it gave up reading, it
         * closed, and the pool notices). */
        rc = client_error_code(&f);
        reusable = rc != HM_EPROTO && (f.hdr.flags & HM_FRAME_F_MORE) == 0;
    } else if (f.hdr.type != HM__MSG_TYPE__MSG_SHARD_PUT_RESP) {
        rc = HM_EPROTO;
    } else {
        rc = hm_rpc_unpack(&f, &hm__shard_put_resp__descriptor, (ProtobufCMessage **)&resp);
    }
    if (rc != 0) goto done;
    if (!resp->has_length || !resp->has_crc32c) {
        rc = HM_EPROTO;
    } else {
        if (length != NULL) *length = resp->length;
        if (crc32c != NULL) *crc32c = resp->crc32c;
        reusable = true;
    }
    hm__shard_put_resp__free_unpacked(resp, NULL);
done:
    hm_rpc_client_release(p->cl->rpc, p->c, reusable);
    if (p->seal != NULL) hm__shard_put_seal__free_unpacked(p->seal, NULL);
    free(p);
    return rc;
}

static void client_put_abort(hm_shard_put *hp)
{
    client_put *p = (client_put *)hp;
    if (p == NULL) return;
    /* Closing the connection mid-stream is how the server learns to drop
     * the put. */
    hm_rpc_client_release(p->cl->rpc, p->c, false);
    if (p->seal != NULL) hm__shard_put_seal__free_unpacked(p->seal, NULL);
    free(p);
}

/* ---- get ------------------------------------------------------------------ */

static int client_get_open(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                           uint32_t shard_index, uint64_t offset, uint64_t len,
                           hm_shard_get **out, uint64_t *total, Hm__ShardHeader **hdr)
{
    client *cl = client_of(api);
    Hm__ShardGetResp *resp = NULL;
    hm_frame f;
    bool reusable = false;
    client_get *g = calloc(1, sizeof *g);
    if (g == NULL) return HM_ENOMEM;
    g->cl = cl;
    g->req_id = client_req_id(cl);
    int rc = hm_rpc_client_acquire(cl->rpc, HM_RPC_CALL_TIMEOUT_MS, &g->c);
    if (rc != 0) goto err_after_alloc;

    Hm__ShardGetReq req = HM__SHARD_GET_REQ__INIT;
    req.has_format_version = true;
    req.format_version = HM_FORMAT_VERSION;
    req.has_blob_id = true;
    req.blob_id.data = (uint8_t *)blob_id;
    req.blob_id.len = HM_BLOB_ID_BYTES;
    req.has_shard_index = true;
    req.shard_index = shard_index;
    req.has_offset = true;
    req.offset = offset;
    req.has_length = len != UINT64_MAX;
    req.length = len;
    rc = hm_rpc_send(g->c, HM__MSG_TYPE__MSG_SHARD_GET_REQ, g->req_id, 0, &req.base,
                     NULL, 0);
    if (rc == 0) rc = hm_rpc_recv(g->c, &f);
    if (rc != 0) goto err_after_acquire;
    if (f.hdr.req_id != g->req_id) {
        rc = HM_EPROTO;
    } else if (f.hdr.type == HM__MSG_TYPE__MSG_ERROR) {
        /* A complete answer (not found, say): the connection is in step. */
        rc = client_error_code(&f);
        reusable = (f.hdr.flags & HM_FRAME_F_MORE) == 0;
    } else if (f.hdr.type != HM__MSG_TYPE__MSG_SHARD_GET_RESP ||
               (f.hdr.flags & HM_FRAME_F_MORE) == 0) {
        rc = HM_EPROTO;
    } else {
        rc = hm_rpc_unpack(&f, &hm__shard_get_resp__descriptor, (ProtobufCMessage **)&resp);
    }
    if (rc != 0) goto err_after_acquire;
    if (!resp->has_length || (hdr != NULL && resp->header == NULL)) {
        rc = HM_EPROTO;
        goto err_after_resp;
    }
    g->left = resp->length;
    *total = resp->length;
    if (hdr != NULL) {
        *hdr = resp->header;
        resp->header = NULL;
    }
    hm__shard_get_resp__free_unpacked(resp, NULL);
    *out = (hm_shard_get *)g;
    return 0;

err_after_resp:
    hm__shard_get_resp__free_unpacked(resp, NULL);
err_after_acquire:
    hm_rpc_client_release(cl->rpc, g->c, reusable);
err_after_alloc:
    free(g);
    return rc;
}

/* Receive the next data frame of the stream into g->rest. */
static int client_get_next(client_get *g)
{
    hm_frame f;
    hm_rpc_set_timeout(g->c, HM_RPC_CALL_TIMEOUT_MS);
    int rc = hm_rpc_recv(g->c, &f);
    if (rc != 0) return rc;
    if (f.hdr.req_id != g->req_id) return HM_EPROTO;
    if (f.hdr.type == HM__MSG_TYPE__MSG_ERROR) return client_error_code(&f);
    if (f.hdr.type != HM__MSG_TYPE__MSG_DATA) return HM_EPROTO;
    if (f.hdr.bulk_len > g->left) return HM_EPROTO;
    g->left -= f.hdr.bulk_len;
    g->rest = f.bulk;
    g->rest_len = f.hdr.bulk_len;
    g->last_seen = (f.hdr.flags & HM_FRAME_F_MORE) == 0;
    if (g->last_seen && g->left != 0) return HM_EPROTO;
    return 0;
}

static int client_get_read(hm_shard_get *hg, void *buf, size_t cap, size_t *got)
{
    client_get *g = (client_get *)hg;
    uint8_t *dst = buf;
    size_t done = 0;
    *got = 0;
    if (g->err != 0) return g->err;
    while (done < cap) {
        if (g->rest_len == 0) {
            if (g->last_seen) break;
            int rc = client_get_next(g);
            if (rc != 0) {
                g->err = rc;
                g->rest_len = 0;
                /* Bytes already copied were verified: return them first. */
                if (done > 0) break;
                return rc;
            }
            continue;
        }
        size_t n = cap - done < g->rest_len ? cap - done : g->rest_len;
        memcpy(dst + done, g->rest, n);
        g->rest += n;
        g->rest_len -= n;
        done += n;
    }
    *got = done;
    return 0;
}

static void client_get_close(hm_shard_get *hg)
{
    client_get *g = (client_get *)hg;
    if (g == NULL) return;
    /* All bytes read but the closing frame not yet (an empty range, say):
     * it is due now and small, so take it and keep the connection. */
    if (g->err == 0 && !g->last_seen && g->left == 0 && g->rest_len == 0) {
        g->err = client_get_next(g);
    }
    bool clean = g->err == 0 && g->last_seen && g->rest_len == 0;
    hm_rpc_client_release(g->cl->rpc, g->c, clean);
    free(g);
}

static void client_free(hm_shard_api *api)
{
    client *cl = client_of(api);
    hm_rpc_client_free(cl->rpc);
    free(cl);
}

static const struct hm_shard_api_ops client_ops = {
    .info = client_info,
    .put_open = client_put_open,
    .put_write = client_put_write,
    .put_seal = client_put_seal,
    .put_commit = client_put_commit,
    .put_abort = client_put_abort,
    .get_open = client_get_open,
    .get_read = client_get_read,
    .get_close = client_get_close,
    .del = client_del,
    .stat = client_stat,
    .free = client_free,
};

int hm_shard_api_rpc_new(hm_shard_api **out, struct hm_tls *tls, const char *addr)
{
    client *cl = calloc(1, sizeof *cl);
    if (cl == NULL) return HM_ENOMEM;
    int rc = hm_rpc_client_new(&cl->rpc, tls, addr);
    if (rc != 0) {
        free(cl);
        return rc;
    }
    atomic_init(&cl->next_req_id, 1);
    cl->api.ops = &client_ops;
    cl->api.impl = cl;
    *out = &cl->api;
    return 0;
}
