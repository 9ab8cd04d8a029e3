/* client.c - per-peer connection pool and unary calls.
 *
 * The decision that shaped it: a connection carries one call at a time, so
 * the pool is just a stack of idle connections behind a mutex.  A call
 * borrows one (or dials), owns it exclusively until it gives it back, and a
 * connection that saw any error is closed rather than returned: half a frame
 * may still be in flight on it.  The stack is LIFO so the warmest
 * connection is reused and the cold ones at the bottom age out when the
 * server's idle timeout closes them.
 *
 * A pooled connection may have been closed by the server while idle.  That
 * is caught in two places: a non-blocking check at acquire, and, for the
 * race where the close arrives while the request is being sent, one retry on
 * a fresh connection when the reused connection closed before any reply.
 * The server only closes idle connections between requests, so the request
 * that hit the closing connection was never handled.
 */
#include "hm_rpc.h"
#include "hm_pb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_rpc.pb-c.h"

struct hm_rpc_client {
    hm_tls *tls;
    char addr[HM_RPC_ADDR_BYTES_MAX];
    pthread_mutex_t mu;
    hm_rpc_conn *idle[HM_RPC_POOL_IDLE_MAX]; /* a stack; guarded by mu */
    unsigned idle_count;                     /* guarded by mu */
    atomic_uint_fast64_t next_req_id;
    atomic_uint_fast64_t conns_opened;
};

/* See hm_rpc.h.  The address is checked here, not at the first call. */
int hm_rpc_client_new(hm_rpc_client **out, hm_tls *tls, const char *addr)
{
    char host[HM_RPC_ADDR_BYTES_MAX];
    uint16_t port;
    if (tls == NULL || strlen(addr) >= HM_RPC_ADDR_BYTES_MAX) return HM_EINVAL;
    int rc = hm_rpc_parse_addr(addr, host, sizeof(host), &port);
    if (rc != 0 || port == 0) return HM_EINVAL;

    hm_rpc_client *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) return HM_ENOMEM;
    if (pthread_mutex_init(&cl->mu, NULL) != 0) {
        free(cl);
        return HM_ENOMEM;
    }
    cl->tls = tls;
    memcpy(cl->addr, addr, strlen(addr) + 1);
    atomic_init(&cl->next_req_id, 1);
    atomic_init(&cl->conns_opened, 0);
    *out = cl;
    return 0;
}

/* See hm_rpc.h.  Every borrowed connection must have been released. */
void hm_rpc_client_free(hm_rpc_client *cl)
{
    if (cl == NULL) return;
    for (unsigned i = 0; i < cl->idle_count; i++) hm_rpc_conn_close(cl->idle[i]);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
}

/* Pop the most recently used idle connection, or NULL. */
static hm_rpc_conn *client_pop_idle(hm_rpc_client *cl)
{
    hm_rpc_conn *c = NULL;
    pthread_mutex_lock(&cl->mu);
    if (cl->idle_count > 0) c = cl->idle[--cl->idle_count];
    pthread_mutex_unlock(&cl->mu);
    return c;
}

/* Borrow: an idle connection that still looks alive, else a new one.
 * *reused tells which. */
static int client_acquire(hm_rpc_client *cl, int timeout_ms, bool allow_idle,
                          hm_rpc_conn **out, bool *reused)
{
    hm_rpc_conn *c;
    while (allow_idle && (c = client_pop_idle(cl)) != NULL) {
        if (hm_rpc_conn_idle_ok(c)) {
            hm_rpc_set_timeout(c, timeout_ms);
            *out = c;
            *reused = true;
            return 0;
        }
        hm_rpc_conn_close(c);
    }
    int connect_ms = HM_RPC_CONNECT_TIMEOUT_MS;
    if (timeout_ms > 0 && timeout_ms < connect_ms) connect_ms = timeout_ms;
    int rc = hm_rpc_conn_connect(cl->tls, cl->addr, connect_ms, &c);
    if (rc != 0) return rc;
    atomic_fetch_add(&cl->conns_opened, 1);
    hm_rpc_set_timeout(c, timeout_ms);
    *out = c;
    *reused = false;
    return 0;
}

/* See hm_rpc.h. */
int hm_rpc_client_acquire(hm_rpc_client *cl, int timeout_ms, hm_rpc_conn **out)
{
    bool reused;
    return client_acquire(cl, timeout_ms, true, out, &reused);
}

/* See hm_rpc.h.  A full pool closes the connection instead. */
void hm_rpc_client_release(hm_rpc_client *cl, hm_rpc_conn *c, bool reusable)
{
    if (c == NULL) return;
    if (reusable && !hm_rpc_conn_broken(c)) {
        hm_rpc_set_timeout(c, 0);
        hm_rpc_conn_trim(c);
        pthread_mutex_lock(&cl->mu);
        if (cl->idle_count < HM_RPC_POOL_IDLE_MAX) {
            cl->idle[cl->idle_count++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&cl->mu);
    }
    hm_rpc_conn_close(c);
}

/* See hm_rpc.h.  Reads field 1 only when it is an optional uint32 (the
 * format_version convention of every proto in proto/). */
int hm_rpc_unpack(const hm_frame *f, const ProtobufCMessageDescriptor *desc,
                  ProtobufCMessage **out)
{
    ProtobufCMessage *m =
        protobuf_c_message_unpack(desc, NULL, f->hdr.proto_len, f->proto);
    if (m == NULL) return HM_EPROTO;
    if (!hm_pb_tags_valid(m)) {
        protobuf_c_message_free_unpacked(m, NULL);
        return HM_EPROTO;
    }
    const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, 1);
    if (fd != NULL && fd->type == PROTOBUF_C_TYPE_UINT32 &&
        fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset != 0) {
        const char *base = (const char *)m;
        protobuf_c_boolean has;
        uint32_t v;
        memcpy(&has, base + fd->quantifier_offset, sizeof(has));
        memcpy(&v, base + fd->offset, sizeof(v));
        if (has && (v < HM_FORMAT_VERSION_MIN || v > HM_FORMAT_VERSION_MAX)) {
            protobuf_c_message_free_unpacked(m, NULL);
            return HM_EVERSION;
        }
    }
    *out = m;
    return 0;
}

/* The code carried by an MSG_ERROR frame: a negative HM_E* code; anything
 * else a peer sends is reported as HM_EPROTO. */
static int client_error_code(const hm_frame *f)
{
    ProtobufCMessage *m;
    int rc = hm_rpc_unpack(f, &hm__rpc_error__descriptor, &m);
    if (rc != 0) return rc;
    Hm__RpcError *e = (Hm__RpcError *)m;
    int code = HM_EPROTO;
    if (e->has_code && e->code < 0 && e->code >= HM_ERR_LAST) code = e->code;
    else if (e->has_code && e->code < HM_ERR_LAST) code = HM_EINTERNAL; /* newer peer */
    if (e->message != NULL)
        hm_debug("rpc", NULL, "peer error %s: %.200s", hm_err_name(code), e->message);
    protobuf_c_message_free_unpacked(m, NULL);
    return code;
}

/* One attempt of a unary call on c.  *sent_nothing_back tells whether the
 * peer closed before any reply byte (the retryable case). */
static int client_call_once(hm_rpc_conn *c, uint64_t req_id, uint16_t req_type,
                            const ProtobufCMessage *req, const void *bulk,
                            uint32_t bulk_len, uint16_t resp_type,
                            const ProtobufCMessageDescriptor *resp_desc,
                            ProtobufCMessage **resp, bool *closed_early)
{
    hm_frame f;
    *closed_early = false;
    int rc = hm_rpc_send(c, req_type, req_id, 0, req, bulk, bulk_len);
    if (rc != 0) {
        *closed_early = rc == HM_ECONN || rc == HM_ECLOSED;
        return rc;
    }
    rc = hm_rpc_recv(c, &f);
    if (rc != 0) {
        *closed_early = rc == HM_ECLOSED;
        return rc;
    }
    if (f.hdr.req_id != req_id || (f.hdr.flags & HM_FRAME_F_MORE) != 0) return HM_EPROTO;
    if (f.hdr.type == HM__MSG_TYPE__MSG_ERROR) return client_error_code(&f);
    if (f.hdr.type != resp_type) return HM_EPROTO;
    return hm_rpc_unpack(&f, resp_desc, resp);
}

/* See hm_rpc.h.  timeout_ms <= 0 means HM_RPC_CALL_TIMEOUT_MS: a unary
 * call always has a deadline.  The connection goes back to the pool after a
 * success or a well-formed MSG_ERROR reply; after anything else it is
 * closed. */
int hm_rpc_call(hm_rpc_client *cl, uint16_t req_type, const ProtobufCMessage *req,
                const void *bulk, uint32_t bulk_len, uint16_t resp_type,
                const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, int timeout_ms)
{
    if (timeout_ms <= 0) timeout_ms = HM_RPC_CALL_TIMEOUT_MS;
    uint64_t req_id = atomic_fetch_add(&cl->next_req_id, 1);
    bool allow_idle = true;
    for (int attempt = 0; attempt < 2; attempt++) {
        hm_rpc_conn *c;
        bool reused, closed_early;
        int rc = client_acquire(cl, timeout_ms, allow_idle, &c, &reused);
        if (rc != 0) return rc;
        rc = client_call_once(c, req_id, req_type, req, bulk, bulk_len, resp_type,
                              resp_desc, resp, &closed_early);
        /* An error reply leaves the connection in step: keep it. */
        bool in_step = rc == 0 || (!hm_rpc_conn_broken(c) && rc != HM_EPROTO &&
                                   rc != HM_EVERSION && rc != HM_ENOMEM);
        hm_rpc_client_release(cl, c, in_step);
        if (rc == 0 || !reused || !closed_early) return rc;
        /* The idle connection was dead: once more, on a fresh one. */
        allow_idle = false;
    }
    return HM_ECONN;
}

/* See hm_rpc.h. */
uint64_t hm_rpc_client_conns_opened(hm_rpc_client *cl)
{
    return atomic_load(&cl->conns_opened);
}
