/* hm_listen.c - listeners and the metrics server; see hm_listen.h.
 *
 * The metrics server is libmicrohttpd with one internal polling thread: a
 * scrape is small and rare, so one thread answers them one at a time and
 * render callbacks need no locking against each other. */
#include "hm_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hm_err.h"
#include "hm_log.h"
#include "hm_version.h"

#define LISTEN_METRICS_CONNECTIONS_MAX 16u
#define LISTEN_METRICS_TIMEOUT_S 30u

/* Resolve "host:port", "[v6]:port" or ":port" into a socket address. */
static int listen_resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) return HM_EINVAL;
    size_t hl = (size_t)(colon - addr);
    const char *h = addr;
    if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
        h = addr + 1;
        hl -= 2;
    }
    if (hl >= sizeof(host)) return HM_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    const char *port = colon + 1;
    if (*port == '\0' || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
        return HM_EINVAL;
    /* ":port" means every IPv4 interface, said the way it is bound. */
    struct addrinfo hints = {.ai_family = hl > 0 ? AF_UNSPEC : AF_INET,
                             .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo(hl > 0 ? host : NULL, port, &hints, &res) != 0 || res == NULL)
        return HM_EINVAL;
    if (res->ai_addrlen > sizeof *ss) {
        freeaddrinfo(res);
        return HM_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

void hm_listen_bound(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(out, cap, "?");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    } else {
        snprintf(out, cap, "?");
    }
}

int hm_listen(const char *addr, int *fd_out, char *bound, size_t bound_cap, char *why,
              size_t why_cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    if (addr == NULL || listen_resolve(addr, &ss, &sl) != 0) {
        snprintf(why, why_cap,
                 "bad listen address '%s': expected host:port, [v6]:port or :port",
                 addr != NULL ? addr : "");
        return HM_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, why_cap, "cannot listen on %s: %s", addr, strerror(errno));
        return hm_err_from_errno(errno);
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        const char *words = e == EADDRINUSE      ? "the port is in use by another process"
                            : e == EACCES        ? "permission denied (ports below 1024 "
                                                   "need privileges)"
                            : e == EADDRNOTAVAIL ? "no interface of this machine has that "
                                                   "address"
                                                 : strerror(e);
        snprintf(why, why_cap, "cannot listen on %s: %s", addr, words);
        close(fd);
        return e == EADDRINUSE ? HM_EBUSY : hm_err_from_errno(e);
    }
    hm_listen_bound(fd, bound, bound_cap);
    *fd_out = fd;
    return 0;
}

bool hm_listen_is_loopback(const char *bound)
{
    if (bound == NULL) return false;
    return strncmp(bound, "127.", 4) == 0 || strncmp(bound, "[::1]:", 6) == 0 ||
           strncmp(bound, "[::ffff:127.", 12) == 0;
}

int hm_listen_health_kind(const char *path)
{
    if (path == NULL) return 0;
    if (strncmp(path, "/minio", 6) == 0) path += 6;
    if (strcmp(path, "/health/live") == 0) return 1;
    if (strcmp(path, "/health/ready") == 0) return 2;
    return 0;
}

/* ---- the metrics server ------------------------------------------------------ */

struct hm_metrics_server {
    struct MHD_Daemon *mhd;
    int port;
    char comp[16];
    hm_metrics_render_fn render;
    hm_metrics_ready_fn ready;
    void *arg;
};

static void listen_mhd_log(void *cls, const char *fmt, va_list ap)
{
    const hm_metrics_server *s = cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    /* libmicrohttpd 0.9.75 says this even when the logger is the first
     * option; it is noise. */
    if (strstr(buf, "EXTERNAL_LOGGER is not the first option") != NULL) return;
    hm_info(s->comp, NULL, "metrics http: %s", buf);
}

static enum MHD_Result listen_reply(struct MHD_Connection *conn, unsigned status,
                                    const char *ctype, const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) return MHD_NO;
    if (ctype != NULL) MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result listen_access(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
    (void)version;
    (void)upload_data;
    hm_metrics_server *s = cls;
    /* The first call only announces the request; answer on the second. */
    if (*con_cls == NULL) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; /* no body is wanted here */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return listen_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, "", 0);
    int kind = hm_listen_health_kind(url);
    if (kind != 0) {
        bool ok = kind == 1 || s->ready == NULL || s->ready(s->arg);
        return listen_reply(conn, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "", 0);
    }
    if (strcmp(url, "/metrics") != 0) return listen_reply(conn, MHD_HTTP_NOT_FOUND, NULL, "", 0);
    hm_metrics_buf b = {0};
    hm_metrics_family(&b, "hamster_build_info", "gauge", "Version of this build (always 1).");
    hm_metrics_printf(&b, "hamster_build_info{version=\"%s\"} 1\n", HM_VERSION_STRING);
    int rc = s->render != NULL ? s->render(s->arg, &b) : 0;
    if (rc == 0) hm_metrics_write_process(&b);
    enum MHD_Result ret =
        rc == 0 && !b.failed
            ? listen_reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.data,
                           b.len)
            : listen_reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "", 0);
    hm_metrics_buf_free(&b);
    return ret;
}

int hm_metrics_server_start(hm_metrics_server **out, int fd, const char *comp,
                            hm_metrics_render_fn render, hm_metrics_ready_fn ready, void *arg)
{
    *out = NULL;
    hm_metrics_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        close(fd);
        return HM_ENOMEM;
    }
    snprintf(s->comp, sizeof s->comp, "%s", comp != NULL ? comp : "metrics");
    s->render = render;
    s->ready = ready;
    s->arg = arg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0 && got.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, listen_access, s,
                              MHD_OPTION_EXTERNAL_LOGGER, listen_mhd_log, s,
                              MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                              MHD_OPTION_CONNECTION_LIMIT, LISTEN_METRICS_CONNECTIONS_MAX,
                              MHD_OPTION_CONNECTION_TIMEOUT, LISTEN_METRICS_TIMEOUT_S,
                              MHD_OPTION_END);
    if (s->mhd == NULL) {
        hm_error(s->comp, NULL, "cannot serve /metrics (the HTTP server did not start)");
        close(fd);
        free(s);
        return HM_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di != NULL ? (int)di->port : 0;
    *out = s;
    return 0;
}

int hm_metrics_server_port(const hm_metrics_server *s) { return s != NULL ? s->port : 0; }

void hm_metrics_server_stop(hm_metrics_server *s)
{
    if (s == NULL) return;
    MHD_stop_daemon(s->mhd);
    free(s);
}
