/* conn.c - one TLS connection: handshake, framed send and receive.
 *
 * The API blocks, but the socket underneath is O_NONBLOCK.  The decision
 * that shaped it: a deadline must hold even when a peer sends half a TLS
 * record and stalls.  A blocking SSL_read would then sit in read(2) past any
 * poll() we did first; with a non-blocking socket every SSL call returns
 * WANT_READ/WANT_WRITE instead, and only then do we poll, for the time left.
 * Because we poll only after OpenSSL asked for more bytes, data OpenSSL has
 * already buffered (SSL_pending) is always consumed first.
 *
 * Receives read exactly one frame: the 32-byte header, then proto + bulk
 * into a per-connection buffer that grows to the frame's size.  The size is
 * checked against the limits by hm_frame_hdr_decode before any allocation.
 * Sends pack header and protobuf into one buffer; small bulk is copied in
 * too, so a typical frame is one SSL_write.
 */
#include "hm_rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_rpc.pb-c.h"

/* Bulk up to this size is copied behind the protobuf to save a write. */
#define CONN_BULK_COPY_BYTES_MAX (16u << 10)
/* A pooled connection keeps buffers up to this size between calls. */
#define CONN_BUF_KEEP_BYTES (256u << 10)
/* RpcError.message is cut at this length. */
#define CONN_ERROR_MSG_BYTES_MAX 1024u

_Static_assert(HM_RPC_PROTO_BYTES_MAX + (uint64_t)HM_RPC_BULK_BYTES_MAX < (1ull << 31),
               "a frame body fits an int-sized buffer");

struct hm_rpc_conn {
    int fd;
    SSL *ssl;
    bool broken;         /* a fatal error: close, never reuse */
    int64_t deadline_ns; /* CLOCK_MONOTONIC; 0 means none */
    char peer[HM_RPC_PEER_NAME_BYTES_MAX + 1];
    uint8_t *rbuf;       /* proto + bulk of the last frame received */
    size_t rcap;
    uint8_t *sbuf;       /* header + proto (+ small bulk) being sent */
    size_t scap;
};

static int64_t conn_now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait until fd is readable (or writable) or the deadline passes. */
static int conn_wait(hm_rpc_conn *c, bool for_write)
{
    for (;;) {
        int timeout_ms = -1;
        if (c->deadline_ns != 0) {
            int64_t left = c->deadline_ns - conn_now_ns();
            if (left <= 0) return HM_ETIMEDOUT;
            int64_t ms = (left + 999999) / 1000000;
            timeout_ms = ms > 60000 ? 60000 : (int)ms; /* re-check after */
        }
        struct pollfd p = {.fd = c->fd, .events = for_write ? POLLOUT : POLLIN};
        int n = poll(&p, 1, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            return hm_err_from_errno(errno);
        }
        if (n > 0) return 0; /* ready, or an error the next SSL call reports */
        if (c->deadline_ns != 0 && conn_now_ns() >= c->deadline_ns) return HM_ETIMEDOUT;
    }
}

/* Turn a failed SSL call into a wait (0: retry) or an HM_E* code. */
static int conn_ssl_fail(hm_rpc_conn *c, int ret, const char *what)
{
    int err = SSL_get_error(c->ssl, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ: return conn_wait(c, false);
    case SSL_ERROR_WANT_WRITE: return conn_wait(c, true);
    case SSL_ERROR_ZERO_RETURN: return HM_ECLOSED;
    case SSL_ERROR_SYSCALL: {
        int e = errno;
        ERR_clear_error();
        return e == 0 ? HM_ECLOSED : HM_ECONN;
    }
    default: {
        unsigned long e = ERR_peek_error();
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        hm_debug("rpc", NULL, "%s: %s", what, buf);
        ERR_clear_error();
        return HM_ETLS;
    }
    }
}

/* Read exactly len bytes.  *got tells how far it came before a failure, so
 * the caller can tell a close between frames from one inside a frame. */
static int conn_read(hm_rpc_conn *c, void *buf, size_t len, size_t *got)
{
    size_t done = 0;
    int rc = 0;
    while (done < len) {
        size_t n = 0;
        errno = 0;
        ERR_clear_error();
        int ret = SSL_read_ex(c->ssl, (uint8_t *)buf + done, len - done, &n);
        if (ret == 1) {
            done += n;
            continue;
        }
        rc = conn_ssl_fail(c, ret, "read");
        if (rc != 0) break;
    }
    *got = done;
    if (rc != 0) c->broken = true;
    return rc;
}

/* Write all len bytes. */
static int conn_write(hm_rpc_conn *c, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        errno = 0;
        ERR_clear_error();
        int ret = SSL_write_ex(c->ssl, (const uint8_t *)buf + done, len - done, &n);
        if (ret == 1) {
            done += n;
            continue;
        }
        int rc = conn_ssl_fail(c, ret, "write");
        if (rc != 0) {
            c->broken = true;
            return rc == HM_ECLOSED ? HM_ECONN : rc;
        }
    }
    return 0;
}

/* Grow *buf to at least need bytes.  need is already bounded by the frame
 * limits, so growth is bounded too. */
static int conn_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (*cap >= need) return 0;
    size_t want = *cap * 2 > need ? *cap * 2 : need;
    size_t most = HM_RPC_FRAME_HDR_BYTES + (size_t)HM_RPC_PROTO_BYTES_MAX +
                  HM_RPC_BULK_BYTES_MAX;
    if (want > most) want = need;
    uint8_t *p = realloc(*buf, want);
    if (p == NULL) return HM_ENOMEM;
    *buf = p;
    *cap = want;
    return 0;
}

/* Copy the peer certificate's subject CN into c->peer.  Refuses a missing
 * CN, one longer than the X.509 bound, and one with an embedded NUL. */
static int conn_peer_name(hm_rpc_conn *c)
{
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (cert == NULL) return HM_ETLS;
    X509_NAME *name = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0) return HM_ETLS;
    ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len <= 0 || (size_t)len > HM_RPC_PEER_NAME_BYTES_MAX ||
        memchr(utf8, '\0', (size_t)len) != NULL) {
        OPENSSL_free(utf8);
        return HM_ETLS;
    }
    memcpy(c->peer, utf8, (size_t)len);
    c->peer[len] = '\0';
    OPENSSL_free(utf8);
    return 0;
}

/* Wrap fd in a connection and run the handshake in the given role. */
static int conn_start(hm_tls *tls, int fd, bool client, int timeout_ms,
                      hm_rpc_conn **out)
{
    hm_rpc_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) return HM_ENOMEM;
    c->fd = fd;
    ERR_clear_error();
    c->ssl = SSL_new(hm_tls_ssl_ctx(tls));
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
        ERR_clear_error();
        SSL_free(c->ssl);
        free(c);
        return HM_ENOMEM;
    }
    if (client) SSL_set_connect_state(c->ssl);
    else SSL_set_accept_state(c->ssl);

    hm_rpc_set_timeout(c, timeout_ms);
    int rc = 0;
    for (;;) {
        errno = 0;
        ERR_clear_error();
        int ret = SSL_do_handshake(c->ssl);
        if (ret == 1) break;
        rc = conn_ssl_fail(c, ret, client ? "handshake (client)" : "handshake (server)");
        if (rc != 0) break;
    }
    if (rc == 0 && SSL_get_verify_result(c->ssl) != X509_V_OK) rc = HM_ETLS;
    if (rc == 0) rc = conn_peer_name(c);
    if (rc != 0) {
        /* A peer that hangs up mid-handshake is refusing us. */
        if (rc == HM_ECLOSED || rc == HM_ECONN) rc = HM_ETLS;
        SSL_free(c->ssl);
        free(c);
        return rc;
    }
    c->deadline_ns = 0;
    *out = c;
    return 0;
}

/* ---- public ------------------------------------------------------------ */

/* See hm_rpc.h. */
int hm_rpc_parse_addr(const char *addr, char *host, size_t host_cap, uint16_t *port)
{
    const char *colon, *h;
    size_t hlen;
    if (addr == NULL) return HM_EINVAL;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (end == NULL || end[1] != ':') return HM_EINVAL;
        h = addr + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL) return HM_EINVAL;
        h = addr;
        hlen = (size_t)(colon - addr);
        if (memchr(h, ':', hlen) != NULL) return HM_EINVAL; /* bare v6 */
    }
    if (hlen == 0 || hlen >= host_cap) return HM_EINVAL;
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5) return HM_EINVAL;
    unsigned v = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') return HM_EINVAL;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 65535) return HM_EINVAL;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)v;
    return 0;
}

/* Non-blocking connect to one address within the deadline. */
static int conn_tcp_connect(const struct addrinfo *ai, int64_t deadline_ns, int *out)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return hm_err_from_errno(errno);
    int rc = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            rc = HM_ECONN;
            goto err_after_socket;
        }
        for (;;) {
            int64_t left = deadline_ns - conn_now_ns();
            if (left <= 0) {
                rc = HM_ETIMEDOUT;
                goto err_after_socket;
            }
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = poll(&p, 1, (int)((left + 999999) / 1000000));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                rc = HM_ECONN;
                goto err_after_socket;
            }
            if (n > 0) break;
        }
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
            rc = HM_ECONN;
            goto err_after_socket;
        }
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    *out = fd;
    return 0;

err_after_socket:
    (void)close(fd);
    return rc;
}

/* See hm_rpc.h.  Name resolution (getaddrinfo) is not covered by the
 * deadline; cluster addresses are normally numeric. */
int hm_rpc_conn_connect(hm_tls *tls, const char *addr, int timeout_ms,
                        hm_rpc_conn **out)
{
    char host[HM_RPC_ADDR_BYTES_MAX];
    char port_str[8];
    uint16_t port;
    int rc = hm_rpc_parse_addr(addr, host, sizeof(host), &port);
    if (rc != 0 || port == 0) return HM_EINVAL;
    (void)snprintf(port_str, sizeof(port_str), "%u", (unsigned)port);
    if (timeout_ms <= 0) timeout_ms = HM_RPC_CONNECT_TIMEOUT_MS;
    int64_t deadline_ns = conn_now_ns() + (int64_t)timeout_ms * 1000000;

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port_str, &hints, &res) != 0) return HM_ECONN;
    int fd = -1;
    rc = HM_ECONN;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        rc = conn_tcp_connect(ai, deadline_ns, &fd);
        if (rc == 0 || rc == HM_ETIMEDOUT) break;
    }
    freeaddrinfo(res);
    if (rc != 0) return rc;

    int64_t left_ms = (deadline_ns - conn_now_ns()) / 1000000;
    if (left_ms <= 0) {
        (void)close(fd);
        return HM_ETIMEDOUT;
    }
    rc = conn_start(tls, fd, true, (int)left_ms, out);
    if (rc != 0) (void)close(fd);
    return rc;
}

/* See hm_rpc.h. */
int hm_rpc_conn_accept(hm_tls *tls, int fd, int timeout_ms, hm_rpc_conn **out)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return hm_err_from_errno(errno);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return conn_start(tls, fd, false, timeout_ms, out);
}

/* See hm_rpc.h. */
void hm_rpc_conn_close(hm_rpc_conn *c)
{
    if (c == NULL) return;
    if (!c->broken) {
        /* One non-blocking attempt at close_notify; we do not wait for the
         * peer's, the frames say where the data ends. */
        ERR_clear_error();
        (void)SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    SSL_free(c->ssl);
    (void)close(c->fd);
    free(c->rbuf);
    free(c->sbuf);
    free(c);
}

bool hm_rpc_conn_broken(const hm_rpc_conn *c)
{
    return c->broken;
}

/* See hm_rpc.h.  An idle connection must have nothing to read: session
 * tickets are off, so readable means a close, an alert or garbage.  A
 * record that carried no data (a key update) leaves it usable. */
bool hm_rpc_conn_idle_ok(hm_rpc_conn *c)
{
    if (c->broken) return false;
    if (SSL_pending(c->ssl) > 0) return false;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int n;
    do {
        n = poll(&p, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n == 0) return true;
    if (n < 0) return false;
    uint8_t b;
    size_t got = 0;
    ERR_clear_error();
    int ret = SSL_peek_ex(c->ssl, &b, 1, &got);
    bool ok = ret != 1 && SSL_get_error(c->ssl, ret) == SSL_ERROR_WANT_READ;
    ERR_clear_error();
    if (!ok) c->broken = true;
    return ok;
}

/* See hm_rpc.h. */
void hm_rpc_conn_trim(hm_rpc_conn *c)
{
    if (c->rcap > CONN_BUF_KEEP_BYTES) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    if (c->scap > CONN_BUF_KEEP_BYTES) {
        free(c->sbuf);
        c->sbuf = NULL;
        c->scap = 0;
    }
}

/* See hm_rpc.h.  On any failure the connection is marked broken (a frame
 * may have been half written); HM_EINVAL/HM_ETOOBIG for bad arguments
 * leave it usable, since nothing was sent. */
int hm_rpc_send(hm_rpc_conn *c, uint16_t type, uint64_t req_id, uint32_t flags,
                const ProtobufCMessage *msg, const void *bulk, uint32_t bulk_len)
{
    if (c->broken) return HM_ECONN;
    if ((flags & ~(uint32_t)HM_FRAME_F_MORE) != 0) return HM_EINVAL;
    if (bulk == NULL && bulk_len > 0) return HM_EINVAL;
    if (bulk_len > HM_RPC_BULK_BYTES_MAX) return HM_ETOOBIG;
    size_t plen = msg != NULL ? protobuf_c_message_get_packed_size(msg) : 0;
    if (plen > HM_RPC_PROTO_BYTES_MAX) return HM_ETOOBIG;

    bool copy_bulk = bulk_len <= CONN_BULK_COPY_BYTES_MAX;
    size_t first = HM_RPC_FRAME_HDR_BYTES + plen + (copy_bulk ? bulk_len : 0);
    int rc = conn_reserve(&c->sbuf, &c->scap, first);
    if (rc != 0) return rc;

    hm_frame_hdr h = {.type = type, .req_id = req_id, .flags = flags,
                      .proto_len = (uint32_t)plen, .bulk_len = bulk_len};
    hm_frame_hdr_encode(&h, c->sbuf);
    if (plen > 0) {
        size_t packed = protobuf_c_message_pack(msg, c->sbuf + HM_RPC_FRAME_HDR_BYTES);
        if (packed != plen) return HM_EINTERNAL; /* nothing sent yet */
    }
    if (copy_bulk && bulk_len > 0)
        memcpy(c->sbuf + HM_RPC_FRAME_HDR_BYTES + plen, bulk, bulk_len);
    rc = conn_write(c, c->sbuf, first);
    if (rc == 0 && !copy_bulk) rc = conn_write(c, bulk, bulk_len);
    return rc;
}

/* See hm_rpc.h. */
int hm_rpc_recv(hm_rpc_conn *c, hm_frame *out)
{
    uint8_t hdr[HM_RPC_FRAME_HDR_BYTES];
    size_t got = 0;
    if (c->broken) return HM_ECONN;
    int rc = conn_read(c, hdr, sizeof(hdr), &got);
    if (rc != 0) {
        /* A close is orderly only between frames. */
        if (rc == HM_ECLOSED && got > 0) rc = HM_ECONN;
        return rc;
    }
    hm_frame_hdr h;
    rc = hm_frame_hdr_decode(hdr, &h);
    if (rc != 0) {
        c->broken = true;
        return rc;
    }
    /* Both lengths were bounded by decode: the sum cannot overflow and the
     * buffer it sizes is bounded by the limits. */
    size_t body = (size_t)h.proto_len + h.bulk_len;
    rc = conn_reserve(&c->rbuf, &c->rcap, body);
    if (rc != 0) {
        c->broken = true; /* the body is still on the wire */
        return rc;
    }
    if (body > 0) {
        rc = conn_read(c, c->rbuf, body, &got);
        if (rc != 0) return rc == HM_ECLOSED ? HM_ECONN : rc;
    }
    out->hdr = h;
    out->proto = c->rbuf;
    out->bulk = h.bulk_len > 0 ? c->rbuf + h.proto_len : NULL;
    return 0;
}

/* See hm_rpc.h.  The message is cut at CONN_ERROR_MSG_BYTES_MAX bytes. */
int hm_rpc_send_error(hm_rpc_conn *c, uint64_t req_id, int code, const char *msg)
{
    char text[CONN_ERROR_MSG_BYTES_MAX + 1];
    Hm__RpcError e = HM__RPC_ERROR__INIT;
    e.has_format_version = 1;
    e.format_version = HM_FORMAT_VERSION;
    e.has_code = 1;
    e.code = code;
    if (msg != NULL) {
        /* Cut on a byte boundary; protobuf-c does not check UTF-8. */
        size_t n = strnlen(msg, CONN_ERROR_MSG_BYTES_MAX);
        memcpy(text, msg, n);
        text[n] = '\0';
        e.message = text;
    }
    return hm_rpc_send(c, HM__MSG_TYPE__MSG_ERROR, req_id, 0, &e.base, NULL, 0);
}

/* See hm_rpc.h. */
void hm_rpc_set_timeout(hm_rpc_conn *c, int timeout_ms)
{
    c->deadline_ns = timeout_ms > 0 ? conn_now_ns() + (int64_t)timeout_ms * 1000000 : 0;
}

/* See hm_rpc.h. */
const char *hm_rpc_peer_name(const hm_rpc_conn *c)
{
    return c->peer;
}
