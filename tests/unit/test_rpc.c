/* test_rpc.c - framed RPC over mutual TLS: calls, streams, errors,
 * deadlines, pooling, and the handshakes that must be refused.
 *
 * Every test mints its own PKI into a fresh temp directory with hm_pki_*:
 * the cluster CA with a server ("srv") and a client ("cli") certificate, an
 * expired client certificate from the same CA, and a second CA with its own
 * client and server.  A server runs on 127.0.0.1:0 in the test process.
 */
#include <check.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "hm_cluster.h"
#include "hm_crc.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_rpc.h"
#include "hm_rpc.pb-c.h"

#define T_FAR_FUTURE 4102444800ll /* 2100-01-01 */

enum {
    T_STREAM = HM__MSG_TYPE__MSG_DATA,
    T_FAIL = HM__MSG_TYPE__MSG_META_REQ,
    T_SLOW = HM__MSG_TYPE__MSG_SHARD_INFO_REQ,
    T_CLOSE = HM__MSG_TYPE__MSG_SHARD_DELETE_REQ,
};

static char tmp[256];
static hm_tls *srv_tls, *cli_tls;
static hm_rpc_server *srv;
static char addr[64];
static atomic_int handled;
static char seen_peer[HM_RPC_PEER_NAME_BYTES_MAX + 1];

static void pth(char *out, size_t cap, const char *rel)
{
    snprintf(out, cap, "%s/%s", tmp, rel);
}

static void mint(const char *ca, const char *name, int64_t nb, int64_t na)
{
    char cc[512], ck[512], nc[512], nk[512], rel[128];
    snprintf(rel, sizeof(rel), "%s.crt", ca);
    pth(cc, sizeof(cc), rel);
    snprintf(rel, sizeof(rel), "%s.key", ca);
    pth(ck, sizeof(ck), rel);
    snprintf(rel, sizeof(rel), "%s.crt", name);
    pth(nc, sizeof(nc), rel);
    snprintf(rel, sizeof(rel), "%s.key", name);
    pth(nk, sizeof(nk), rel);
    ck_assert_int_eq(hm_pki_make_node_cert(cc, ck, name, nb, na, nc, nk), 0);
}

/* A context trusting ca.crt-named CA, presenting name's certificate. */
static hm_tls *tls_for(const char *ca, const char *name)
{
    char cc[512], nc[512], nk[512], rel[128];
    hm_tls *t;
    snprintf(rel, sizeof(rel), "%s.crt", ca);
    pth(cc, sizeof(cc), rel);
    snprintf(rel, sizeof(rel), "%s.crt", name);
    pth(nc, sizeof(nc), rel);
    snprintf(rel, sizeof(rel), "%s.key", name);
    pth(nk, sizeof(nk), rel);
    ck_assert_int_eq(hm_tls_new(&t, cc, nc, nk), 0);
    return t;
}

static int reply_ping(hm_rpc_conn *c, uint64_t req_id, uint64_t nonce, uint32_t flags,
                      const void *bulk, uint32_t bulk_len)
{
    Hm__RpcPing p = HM__RPC_PING__INIT;
    p.has_format_version = 1;
    p.format_version = HM_FORMAT_VERSION;
    p.has_nonce = 1;
    p.nonce = nonce;
    return hm_rpc_send(c, HM__MSG_TYPE__MSG_PING, req_id, flags, &p.base, bulk, bulk_len);
}

/* The test service:
 *   PING   -> PING with nonce + 1 and the request's bulk echoed back
 *   DATA   -> a client stream: reads frames until one without MORE, then
 *             answers with a stream of three DATA frames and a final PING
 *             whose nonce is frames << 32 | total bulk bytes
 *   META   -> MSG_ERROR HM_ENOBUCKET
 *   INFO   -> sleeps 1.5 s, then PING
 *   DELETE -> PING, then closes the connection */
static int handler(void *ctx, hm_rpc_conn *c, const hm_frame *req)
{
    (void)ctx;
    atomic_fetch_add(&handled, 1);
    snprintf(seen_peer, sizeof(seen_peer), "%s", hm_rpc_peer_name(c));
    uint64_t id = req->hdr.req_id;
    switch (req->hdr.type) {
    case HM__MSG_TYPE__MSG_PING: {
        ProtobufCMessage *m;
        if (hm_rpc_unpack(req, &hm__rpc_ping__descriptor, &m) != 0)
            return hm_rpc_send_error(c, id, HM_EPROTO, "bad ping") != 0;
        uint64_t nonce = ((Hm__RpcPing *)m)->nonce;
        protobuf_c_message_free_unpacked(m, NULL);
        return reply_ping(c, id, nonce + 1, 0, req->bulk, req->hdr.bulk_len) != 0;
    }
    case T_STREAM: {
        uint64_t frames = 1, bytes = req->hdr.bulk_len;
        uint32_t crc = hm_crc32c(0, req->bulk, req->hdr.bulk_len);
        hm_frame f = *req;
        while ((f.hdr.flags & HM_FRAME_F_MORE) != 0) {
            if (hm_rpc_recv(c, &f) != 0 || f.hdr.req_id != id) return 1;
            frames++;
            bytes += f.hdr.bulk_len;
            crc = hm_crc32c(crc, f.bulk, f.hdr.bulk_len);
        }
        for (int i = 0; i < 3; i++) {
            uint8_t b[100];
            memset(b, 'a' + i, sizeof(b));
            if (hm_rpc_send(c, T_STREAM, id, HM_FRAME_F_MORE, NULL, b, sizeof(b)) != 0)
                return 1;
        }
        return reply_ping(c, id, (frames << 32) | bytes, 0, &crc, sizeof(crc)) != 0;
    }
    case T_FAIL:
        return hm_rpc_send_error(c, id, HM_ENOBUCKET, "no such bucket") != 0;
    case T_SLOW:
        usleep(1500 * 1000);
        return reply_ping(c, id, 0, 0, NULL, 0) != 0;
    case T_CLOSE:
        (void)reply_ping(c, id, 0, 0, NULL, 0);
        return 1;
    default:
        return hm_rpc_send_error(c, id, HM_EINVAL, "unknown type") != 0;
    }
}

static void setup(void)
{
    const char *t = getenv("TMPDIR");
    char cc[512], ck[512];
    snprintf(tmp, sizeof(tmp), "%s/hm-rpc-XXXXXX", t != NULL ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    pth(cc, sizeof(cc), "ca.crt");
    pth(ck, sizeof(ck), "ca.key");
    ck_assert_int_eq(hm_pki_make_ca(cc, ck, "test CA", 0, T_FAR_FUTURE), 0);
    pth(cc, sizeof(cc), "other-ca.crt");
    pth(ck, sizeof(ck), "other-ca.key");
    ck_assert_int_eq(hm_pki_make_ca(cc, ck, "other CA", 0, T_FAR_FUTURE), 0);
    mint("ca", "srv", 0, T_FAR_FUTURE);
    mint("ca", "cli", 0, T_FAR_FUTURE);
    mint("ca", "old", 1000000, 2000000); /* expired in 1970 */
    mint("other-ca", "evil", 0, T_FAR_FUTURE);
    mint("other-ca", "evilsrv", 0, T_FAR_FUTURE);

    srv_tls = tls_for("ca", "srv");
    cli_tls = tls_for("ca", "cli");
    atomic_store(&handled, 0);
    seen_peer[0] = '\0';
    ck_assert_int_eq(hm_rpc_server_start(&srv, srv_tls, "127.0.0.1:0", handler, NULL), 0);
    ck_assert_int_gt(hm_rpc_server_bound_port(srv), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", hm_rpc_server_bound_port(srv));
}

static void teardown(void)
{
    char cmd[512];
    hm_rpc_server_stop(srv);
    hm_tls_free(cli_tls);
    hm_tls_free(srv_tls);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

static int ping(hm_rpc_client *cl, uint64_t nonce, const void *bulk, uint32_t bulk_len,
                uint16_t type, int timeout_ms, uint64_t *got)
{
    Hm__RpcPing p = HM__RPC_PING__INIT;
    ProtobufCMessage *resp = NULL;
    p.has_format_version = 1;
    p.format_version = HM_FORMAT_VERSION;
    p.has_nonce = 1;
    p.nonce = nonce;
    int rc = hm_rpc_call(cl, type, &p.base, bulk, bulk_len, HM__MSG_TYPE__MSG_PING,
                         &hm__rpc_ping__descriptor, &resp, timeout_ms);
    if (rc == 0) {
        if (got != NULL) *got = ((Hm__RpcPing *)resp)->nonce;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return rc;
}

/* ---- calls ------------------------------------------------------------ */

/* A unary call reaches the handler and returns its reply; both sides see
 * the other's certificate name. */
START_TEST(test_unary_round_trip)
{
    hm_rpc_client *cl;
    uint64_t got = 0;
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, addr), 0);
    ck_assert_int_eq(ping(cl, 41, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), 0);
    ck_assert_uint_eq(got, 42);
    ck_assert_str_eq(seen_peer, "cli");

    hm_rpc_conn *c;
    ck_assert_int_eq(hm_rpc_client_acquire(cl, 5000, &c), 0);
    ck_assert_str_eq(hm_rpc_peer_name(c), "srv");
    hm_rpc_client_release(cl, c, true);
    hm_rpc_client_free(cl);
}
END_TEST

/* A 1 MiB bulk payload travels both ways intact. */
START_TEST(test_bulk_round_trip)
{
    hm_rpc_client *cl;
    hm_rpc_conn *c;
    hm_frame f;
    uint8_t *bulk = malloc(HM_RPC_BULK_BYTES_MAX);
    ck_assert_ptr_nonnull(bulk);
    for (size_t i = 0; i < HM_RPC_BULK_BYTES_MAX; i++) bulk[i] = (uint8_t)(i * 31 + (i >> 12));
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, addr), 0);
    ck_assert_int_eq(hm_rpc_client_acquire(cl, 10000, &c), 0);

    Hm__RpcPing p = HM__RPC_PING__INIT;
    p.has_nonce = 1;
    p.nonce = 7;
    ck_assert_int_eq(hm_rpc_send(c, HM__MSG_TYPE__MSG_PING, 99, 0, &p.base, bulk,
                                 HM_RPC_BULK_BYTES_MAX), 0);
    ck_assert_int_eq(hm_rpc_recv(c, &f), 0);
    ck_assert_uint_eq(f.hdr.type, HM__MSG_TYPE__MSG_PING);
    ck_assert_uint_eq(f.hdr.req_id, 99);
    ck_assert_uint_eq(f.hdr.bulk_len, HM_RPC_BULK_BYTES_MAX);
    ck_assert(memcmp(f.bulk, bulk, HM_RPC_BULK_BYTES_MAX) == 0);
    hm_rpc_client_release(cl, c, true);

    /* The same through hm_rpc_call. */
    uint64_t got;
    ck_assert_int_eq(ping(cl, 1, bulk, HM_RPC_BULK_BYTES_MAX, HM__MSG_TYPE__MSG_PING,
                          10000, &got), 0);
    ck_assert_uint_eq(got, 2);
    /* One byte over the limit is refused before anything is sent. */
    ck_assert_int_eq(ping(cl, 1, bulk, HM_RPC_BULK_BYTES_MAX + 1, HM__MSG_TYPE__MSG_PING,
                          10000, &got), HM_ETOOBIG);
    hm_rpc_client_free(cl);
    free(bulk);
}
END_TEST

/* A stream of MORE frames arrives in order as one request, and a stream
 * of replies comes back in order ending with a frame without MORE. */
START_TEST(test_stream)
{
    hm_rpc_client *cl;
    hm_rpc_conn *c;
    hm_frame f;
    uint8_t chunk[5000];
    uint32_t crc = 0;
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, addr), 0);
    ck_assert_int_eq(hm_rpc_client_acquire(cl, 10000, &c), 0);
    for (int i = 0; i < 6; i++) {
        memset(chunk, i, sizeof(chunk));
        crc = hm_crc32c(crc, chunk, sizeof(chunk));
        ck_assert_int_eq(hm_rpc_send(c, T_STREAM, 5, i < 5 ? HM_FRAME_F_MORE : 0, NULL,
                                     chunk, sizeof(chunk)), 0);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(hm_rpc_recv(c, &f), 0);
        ck_assert_uint_eq(f.hdr.type, T_STREAM);
        ck_assert_uint_eq(f.hdr.flags, HM_FRAME_F_MORE);
        ck_assert_uint_eq(f.hdr.bulk_len, 100);
        ck_assert_uint_eq(f.bulk[0], 'a' + i);
    }
    ck_assert_int_eq(hm_rpc_recv(c, &f), 0);
    ck_assert_uint_eq(f.hdr.type, HM__MSG_TYPE__MSG_PING);
    ck_assert_uint_eq(f.hdr.flags, 0);
    ProtobufCMessage *m;
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__rpc_ping__descriptor, &m), 0);
    ck_assert_uint_eq(((Hm__RpcPing *)m)->nonce, (6ull << 32) | (6 * sizeof(chunk)));
    protobuf_c_message_free_unpacked(m, NULL);
    ck_assert_uint_eq(f.hdr.bulk_len, 4);
    uint32_t server_crc;
    memcpy(&server_crc, f.bulk, 4);
    ck_assert_uint_eq(server_crc, crc);
    hm_rpc_client_release(cl, c, true);
    hm_rpc_client_free(cl);
}
END_TEST

/* An MSG_ERROR reply makes the call return its code, and the connection
 * stays in the pool. */
START_TEST(test_error_reply)
{
    hm_rpc_client *cl;
    uint64_t got;
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, addr), 0);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, T_FAIL, 5000, &got), HM_ENOBUCKET);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), 0);
    ck_assert_uint_eq(hm_rpc_client_conns_opened(cl), 1);
    hm_rpc_client_free(cl);
}
END_TEST

/* A handler slower than the call's deadline gives HM_ETIMEDOUT, in about
 * the deadline, and the pool does not reuse that connection. */
START_TEST(test_deadline)
{
    hm_rpc_client *cl;
    uint64_t got;
    struct timespec a, b;
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, addr), 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, T_SLOW, 300, &got), HM_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    int64_t ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    ck_assert_int_ge(ms, 290);
    ck_assert_int_lt(ms, 1400);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), 0);
    ck_assert_uint_eq(hm_rpc_client_conns_opened(cl), 2);
    hm_rpc_client_free(cl);
}
END_TEST

/* Sequential calls share one pooled connection: one dial, one accept. */
START_TEST(test_connection_reuse)
{
    hm_rpc_client *cl;
    uint64_t got, accepted, authed;
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, addr), 0);
    for (uint64_t i = 0; i < 10; i++) {
        ck_assert_int_eq(ping(cl, i, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), 0);
        ck_assert_uint_eq(got, i + 1);
    }
    ck_assert_uint_eq(hm_rpc_client_conns_opened(cl), 1);
    hm_rpc_server_counters(srv, &accepted, &authed);
    ck_assert_uint_eq(accepted, 1);
    ck_assert_uint_eq(authed, 1);
    hm_rpc_client_free(cl);
}
END_TEST

/* A pooled connection that the server closed is replaced by a fresh one
 * and the call succeeds. */
START_TEST(test_dead_idle_connection_replaced)
{
    hm_rpc_client *cl;
    uint64_t got;
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, addr), 0);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, T_CLOSE, 5000, &got), 0);
    usleep(100 * 1000); /* let the close arrive */
    ck_assert_int_eq(ping(cl, 1, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), 0);
    ck_assert_uint_eq(got, 2);
    ck_assert_uint_eq(hm_rpc_client_conns_opened(cl), 2);
    hm_rpc_client_free(cl);
}
END_TEST

/* A message whose format_version is outside MIN..MAX is refused with
 * HM_EVERSION; one without the field, or in range, is accepted. */
START_TEST(test_unpack_format_version)
{
    uint8_t buf[64];
    hm_frame f = {0};
    ProtobufCMessage *m;
    Hm__RpcPing p = HM__RPC_PING__INIT;
    f.proto = buf;

    f.hdr.proto_len = (uint32_t)hm__rpc_ping__pack(&p, buf);
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__rpc_ping__descriptor, &m), 0);
    protobuf_c_message_free_unpacked(m, NULL);

    p.has_format_version = 1;
    p.format_version = HM_FORMAT_VERSION_MAX;
    f.hdr.proto_len = (uint32_t)hm__rpc_ping__pack(&p, buf);
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__rpc_ping__descriptor, &m), 0);
    protobuf_c_message_free_unpacked(m, NULL);

    p.format_version = HM_FORMAT_VERSION_MAX + 1;
    f.hdr.proto_len = (uint32_t)hm__rpc_ping__pack(&p, buf);
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__rpc_ping__descriptor, &m), HM_EVERSION);
    p.format_version = 0;
    f.hdr.proto_len = (uint32_t)hm__rpc_ping__pack(&p, buf);
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__rpc_ping__descriptor, &m), HM_EVERSION);

    buf[0] = 0xff; /* a field key with no end */
    f.hdr.proto_len = 1;
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__rpc_ping__descriptor, &m), HM_EPROTO);
}
END_TEST

/* Addresses parse with a port, IPv6 in brackets, and port 0; malformed
 * ones are refused. */
START_TEST(test_parse_addr)
{
    char host[64];
    uint16_t port;
    ck_assert_int_eq(hm_rpc_parse_addr("10.0.0.1:7000", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "10.0.0.1");
    ck_assert_uint_eq(port, 7000);
    ck_assert_int_eq(hm_rpc_parse_addr("[::1]:0", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "::1");
    ck_assert_uint_eq(port, 0);
    const char *bad[] = {"host", "host:", ":80", "h:65536", "h:8x", "::1:80", "[::1]80",
                         "h:123456"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(hm_rpc_parse_addr(bad[i], host, sizeof(host), &port) == HM_EINVAL,
                      "accepted %s", bad[i]);
}
END_TEST

/* ---- refusals --------------------------------------------------------- */

static void expect_no_authenticated_peer(void)
{
    uint64_t accepted = 0, authed = 0;
    for (int i = 0; i < 100 && accepted == 0; i++) {
        hm_rpc_server_counters(srv, &accepted, &authed);
        usleep(10 * 1000);
    }
    ck_assert_uint_ge(accepted, 1);
    ck_assert_uint_eq(authed, 0);
    ck_assert_int_eq(atomic_load(&handled), 0);
}

/* A client whose certificate comes from another CA is refused. */
START_TEST(test_refuse_client_from_other_ca)
{
    hm_tls *evil = tls_for("ca", "evil"); /* trusts us, but is not ours */
    hm_rpc_client *cl;
    uint64_t got;
    ck_assert_int_eq(hm_rpc_client_new(&cl, evil, addr), 0);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), HM_ETLS);
    expect_no_authenticated_peer();
    hm_rpc_client_free(cl);
    hm_tls_free(evil);
}
END_TEST

/* A client whose certificate has expired is refused. */
START_TEST(test_refuse_expired_client)
{
    hm_tls *old = tls_for("ca", "old");
    hm_rpc_client *cl;
    uint64_t got;
    ck_assert_int_eq(hm_rpc_client_new(&cl, old, addr), 0);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), HM_ETLS);
    expect_no_authenticated_peer();
    hm_rpc_client_free(cl);
    hm_tls_free(old);
}
END_TEST

/* A client that presents no certificate at all is refused. */
START_TEST(test_refuse_client_without_cert)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(ctx);
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)hm_rpc_server_bound_port(srv));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    /* TLS 1.3: the client may finish before the server judges it, so the
     * refusal shows on the first read at the latest. */
    int ok = SSL_connect(ssl) == 1;
    if (ok) {
        uint8_t hdr[32];
        hm_frame_hdr h = {.type = HM__MSG_TYPE__MSG_PING, .req_id = 1};
        hm_frame_hdr_encode(&h, hdr);
        (void)SSL_write(ssl, hdr, sizeof(hdr));
        uint8_t b[32];
        ok = SSL_read(ssl, b, sizeof(b)) > 0;
    }
    ck_assert(!ok);
    expect_no_authenticated_peer();
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(ctx);
}
END_TEST

/* Our client refuses a server whose certificate comes from another CA,
 * during the handshake, before sending anything. */
START_TEST(test_refuse_server_from_other_ca)
{
    hm_tls *evil = tls_for("other-ca", "evilsrv");
    hm_rpc_server *s2;
    char a2[64];
    ck_assert_int_eq(hm_rpc_server_start(&s2, evil, "127.0.0.1:0", handler, NULL), 0);
    snprintf(a2, sizeof(a2), "127.0.0.1:%d", hm_rpc_server_bound_port(s2));
    hm_rpc_client *cl;
    uint64_t got;
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, a2), 0);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), HM_ETLS);
    ck_assert_int_eq(atomic_load(&handled), 0);
    ck_assert_uint_eq(hm_rpc_client_conns_opened(cl), 0);
    hm_rpc_client_free(cl);
    hm_rpc_server_stop(s2);
    hm_tls_free(evil);
}
END_TEST

/* Nothing listening: the call fails with HM_ECONN, promptly. */
START_TEST(test_connect_refused)
{
    hm_rpc_client *cl;
    uint64_t got;
    char a2[64];
    int port = hm_rpc_server_bound_port(srv);
    hm_rpc_server_stop(srv);
    ck_assert_int_eq(hm_rpc_server_start(&srv, srv_tls, "127.0.0.1:0", handler, NULL), 0);
    snprintf(a2, sizeof(a2), "127.0.0.1:%d", port); /* the old, now closed port */
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, a2), 0);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, HM__MSG_TYPE__MSG_PING, 2000, &got), HM_ECONN);
    hm_rpc_client_free(cl);
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, "no-port"), HM_EINVAL);
}
END_TEST

/* Stopping a server with a client connected and idle returns promptly. */
START_TEST(test_stop_with_idle_client)
{
    hm_rpc_client *cl;
    uint64_t got;
    ck_assert_int_eq(hm_rpc_client_new(&cl, cli_tls, addr), 0);
    ck_assert_int_eq(ping(cl, 1, NULL, 0, HM__MSG_TYPE__MSG_PING, 5000, &got), 0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    hm_rpc_server_stop(srv);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert_int_lt(b.tv_sec - a.tv_sec, 2);
    ck_assert_int_eq(hm_rpc_server_start(&srv, srv_tls, "127.0.0.1:0", handler, NULL), 0);
    hm_rpc_client_free(cl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("calls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unary_round_trip);
    tcase_add_test(tc, test_bulk_round_trip);
    tcase_add_test(tc, test_stream);
    tcase_add_test(tc, test_error_reply);
    tcase_add_test(tc, test_deadline);
    tcase_add_test(tc, test_connection_reuse);
    tcase_add_test(tc, test_dead_idle_connection_replaced);
    tcase_add_test(tc, test_unpack_format_version);
    tcase_add_test(tc, test_parse_addr);
    tcase_add_test(tc, test_connect_refused);
    tcase_add_test(tc, test_stop_with_idle_client);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("refusals");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_set_timeout(tr, 60);
    tcase_add_test(tr, test_refuse_client_from_other_ca);
    tcase_add_test(tr, test_refuse_expired_client);
    tcase_add_test(tr, test_refuse_client_without_cert);
    tcase_add_test(tr, test_refuse_server_from_other_ca);
    suite_add_tcase(s, tr);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
