/* server.c - accept loop and one thread per connection.
 *
 * The decision that shaped it: blocking handlers on their own threads, so
 * a slow disk or a slow peer holds back only its own connection, and a
 * bounded number of threads (HM_RPC_SERVER_CONNS_MAX) bounds memory.  The
 * TLS handshake runs on the connection's thread, with a deadline, so a
 * silent client cannot stall the accept loop.
 *
 * Stopping must not leave a thread behind.  shutdown(2) is the lever: on
 * the listening socket it wakes accept(); on a connection it makes the
 * pending poll() return and the next SSL call fail.  A connection's
 * descriptor is closed only under the server mutex, after which stop no
 * longer sees it, so stop never shuts down a number the kernel reused.
 * Finished threads are joined by the accept loop as it goes and by stop.
 */
#include "hm_rpc.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_metrics.h"

typedef struct srv_conn srv_conn;

struct hm_rpc_server {
    hm_tls *tls;
    hm_rpc_handler handler;
    void *ctx;
    int lfd;
    uint16_t port;
    pthread_t accept_thread;
    pthread_mutex_t mu;
    srv_conn *conns;  /* every connection thread not yet joined; mu */
    unsigned nconns;  /* length of conns; mu */
    atomic_bool stopping;
    atomic_uint_fast64_t accepted;
    atomic_uint_fast64_t authenticated;
};

struct srv_conn {
    hm_rpc_server *srv;
    pthread_t thread;
    int fd;    /* -1 once the thread closed it; mu */
    bool done; /* the thread has finished its work; mu */
    srv_conn *next;
};

/* After a refused handshake: stop sending, then read and drop what the
 * peer still sends, for a short while, before the caller closes.  Closing
 * with unread bytes would make the kernel send a reset, which can overtake
 * the TLS alert and leave the peer with "connection reset" instead of the
 * reason.  Bounded in time and bytes, so a hostile peer gains nothing. */
static void srv_linger(hm_rpc_server *s, int fd)
{
    uint8_t buf[4096];
    size_t drained = 0;
    if (shutdown(fd, SHUT_WR) != 0) return;
    for (int round = 0; round < 10 && drained < (64u << 10); round++) {
        if (atomic_load(&s->stopping)) return;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 50);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (got == 0) return; /* the peer closed: a clean end */
        if (got < 0 && errno != EAGAIN && errno != EINTR) return;
        if (got > 0) drained += (size_t)got;
    }
}

/* Serve one connection: handshake, then request after request until the
 * peer closes, the idle timeout fires, the handler asks to close, or an
 * error breaks the connection. */
static void *srv_conn_main(void *arg)
{
    srv_conn *sc = arg;
    hm_rpc_server *s = sc->srv;
    hm_rpc_conn *c = NULL;

    int rc = hm_rpc_conn_accept(s->tls, sc->fd, HM_RPC_HANDSHAKE_TIMEOUT_MS, &c);
    if (rc != 0) {
        hm_debug("rpc", NULL, "handshake refused: %s", hm_err_name(rc));
        if (rc == HM_ETLS) srv_linger(s, sc->fd);
    } else {
        atomic_fetch_add(&s->authenticated, 1);
        while (!atomic_load(&s->stopping)) {
            hm_frame f;
            hm_rpc_set_timeout(c, HM_RPC_SERVER_IDLE_TIMEOUT_MS);
            rc = hm_rpc_recv(c, &f);
            if (rc != 0) {
                if (rc != HM_ECLOSED && rc != HM_ETIMEDOUT)
                    hm_debug("rpc", NULL, "peer %s: %s", hm_rpc_peer_name(c),
                             hm_err_name(rc));
                break;
            }
            /* The handler's replies get a call-sized deadline by default. */
            hm_rpc_set_timeout(c, HM_RPC_CALL_TIMEOUT_MS);
            hm_metrics_rpc_request();
            if (s->handler(s->ctx, c, &f) != 0 || hm_rpc_conn_broken(c)) break;
        }
    }

    pthread_mutex_lock(&s->mu);
    if (c != NULL) hm_rpc_conn_close(c); /* closes sc->fd */
    else (void)close(sc->fd);
    sc->fd = -1;
    sc->done = true;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Join and free the finished connection threads (all of them when all is
 * set, waiting for the rest).  Called without mu held. */
static void srv_reap(hm_rpc_server *s, bool all)
{
    for (;;) {
        srv_conn *victim = NULL;
        pthread_mutex_lock(&s->mu);
        for (srv_conn **pp = &s->conns; *pp != NULL; pp = &(*pp)->next) {
            if ((*pp)->done || all) {
                victim = *pp;
                *pp = victim->next;
                s->nconns--;
                break;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (victim == NULL) return;
        pthread_join(victim->thread, NULL);
        free(victim);
    }
}

static void *srv_accept_main(void *arg)
{
    hm_rpc_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (atomic_load(&s->stopping)) break;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Out of descriptors: back off instead of spinning. */
                hm_warn("rpc", NULL, "accept: %s", strerror(errno));
                usleep(100000);
                continue;
            }
            hm_error("rpc", NULL, "accept: %s; listener stops", strerror(errno));
            break;
        }
        atomic_fetch_add(&s->accepted, 1);
        srv_reap(s, false);

        srv_conn *sc = calloc(1, sizeof(*sc));
        if (sc == NULL) {
            (void)close(fd);
            continue;
        }
        sc->srv = s;
        sc->fd = fd;
        pthread_mutex_lock(&s->mu);
        if (s->nconns >= HM_RPC_SERVER_CONNS_MAX || atomic_load(&s->stopping)) {
            pthread_mutex_unlock(&s->mu);
            hm_warn("rpc", NULL, "connection refused: %u connections open",
                    HM_RPC_SERVER_CONNS_MAX);
            (void)close(fd);
            free(sc);
            continue;
        }
        /* Created under mu so stop sees either no entry or a joinable one. */
        if (pthread_create(&sc->thread, NULL, srv_conn_main, sc) != 0) {
            pthread_mutex_unlock(&s->mu);
            (void)close(fd);
            free(sc);
            continue;
        }
        sc->next = s->conns;
        s->conns = sc;
        s->nconns++;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

/* Open the listening socket for host:port. */
static int srv_listen(const char *host, uint16_t port, int *out_fd, uint16_t *out_port)
{
    char port_str[8];
    struct addrinfo hints = {0}, *res = NULL;
    (void)snprintf(port_str, sizeof(port_str), "%u", (unsigned)port);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host, port_str, &hints, &res) != 0) return HM_EINVAL;

    int rc = HM_EIO;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = hm_err_from_errno(errno);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            rc = errno == EADDRINUSE ? HM_EBUSY : hm_err_from_errno(errno);
            (void)close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
            rc = hm_err_from_errno(errno);
            (void)close(fd);
            continue;
        }
        *out_port = ss.ss_family == AF_INET6
                        ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        *out_fd = fd;
        rc = 0;
        break;
    }
    freeaddrinfo(res);
    return rc;
}

/* See hm_rpc.h.  HM_EINVAL for a malformed address, HM_EBUSY when the port
 * is taken, other HM_E* codes from the socket calls.  tls must outlive the
 * server. */
int hm_rpc_server_start(hm_rpc_server **out, hm_tls *tls, const char *addr,
                        hm_rpc_handler handler, void *ctx)
{
    char host[HM_RPC_ADDR_BYTES_MAX];
    uint16_t port;
    if (tls == NULL || handler == NULL) return HM_EINVAL;
    int rc = hm_rpc_parse_addr(addr, host, sizeof(host), &port);
    if (rc != 0) return rc;

    hm_rpc_server *s = calloc(1, sizeof(*s));
    if (s == NULL) return HM_ENOMEM;
    s->tls = tls;
    s->handler = handler;
    s->ctx = ctx;
    atomic_init(&s->stopping, false);
    atomic_init(&s->accepted, 0);
    atomic_init(&s->authenticated, 0);
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        rc = HM_ENOMEM;
        goto err_free;
    }
    rc = srv_listen(host, port, &s->lfd, &s->port);
    if (rc != 0) goto err_after_mutex;
    if (pthread_create(&s->accept_thread, NULL, srv_accept_main, s) != 0) {
        rc = HM_ENOMEM;
        goto err_after_listen;
    }
    *out = s;
    return 0;

err_after_listen:
    (void)close(s->lfd);
err_after_mutex:
    pthread_mutex_destroy(&s->mu);
err_free:
    free(s);
    return rc;
}

/* See hm_rpc.h. */
int hm_rpc_server_bound_port(const hm_rpc_server *s)
{
    return s->port;
}

/* See hm_rpc.h.  Waits for handlers that are running to return; a handler
 * blocked on its connection is woken by the shutdown.  NULL is allowed. */
void hm_rpc_server_stop(hm_rpc_server *s)
{
    if (s == NULL) return;
    atomic_store(&s->stopping, true);
    (void)shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->accept_thread, NULL);
    (void)close(s->lfd);

    pthread_mutex_lock(&s->mu);
    for (srv_conn *sc = s->conns; sc != NULL; sc = sc->next)
        if (sc->fd >= 0) (void)shutdown(sc->fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
    srv_reap(s, true);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* See hm_rpc.h. */
void hm_rpc_server_counters(hm_rpc_server *s, uint64_t *accepted,
                            uint64_t *authenticated)
{
    if (accepted != NULL) *accepted = atomic_load(&s->accepted);
    if (authenticated != NULL) *authenticated = atomic_load(&s->authenticated);
}
