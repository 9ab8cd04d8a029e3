/* hm_listen.h - TCP listeners for the daemons, and the small HTTP server
 * behind every daemon's -metrics flag.
 *
 * Every binary binds its ports before it touches any data (so a port in use
 * fails before a data directory is initialised) and says the same words
 * when it cannot: hm_listen is that one place.  The metrics server is what
 * hamster-gw, hamster-meta, hamster-shard and `hamster serve` each run on
 * their -metrics ADDR: Prometheus text at /metrics plus the health paths,
 * unauthenticated, on a listener of its own (off by default).
 *
 * These are process shells, not cores: they call the system directly. */
#ifndef HM_LISTEN_H
#define HM_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include "hm_metrics.h"

/* Bind and listen on addr ("host:port", "[v6]:port", ":port" for every
 * IPv4 interface).  On 0, *fd is the listening socket (close-on-exec) and
 * bound (bound_cap bytes) the address actually bound, e.g. "0.0.0.0:9000".
 * On failure why (why_cap bytes) says what failed in words naming addr,
 * e.g. "cannot listen on 127.0.0.1:9000: the port is in use by another
 * process"; HM_EINVAL for a malformed address, HM_EBUSY for a port in use,
 * other HM_E* from the system. */
int hm_listen(const char *addr, int *fd, char *bound, size_t bound_cap, char *why,
              size_t why_cap);

/* The address a bound socket listens on, "host:port" or "[v6]:port", into
 * out (cap bytes); "?" when the system cannot say. */
void hm_listen_bound(int fd, char *out, size_t cap);

/* True when bound (as from hm_listen) is a loopback address: 127.0.0.0/8
 * or ::1. */
bool hm_listen_is_loopback(const char *bound);

/* Which health probe path is: 0 none, 1 liveness (/health/live), 2
 * readiness (/health/ready); the /minio/health/... spellings that probes
 * written for MinIO use count too. */
int hm_listen_health_kind(const char *path);

/* ---- the metrics server ----------------------------------------------------- */

typedef struct hm_metrics_server hm_metrics_server;

/* Write the daemon's own families into b (the server adds
 * hamster_build_info before and the process-wide families of
 * hm_metrics_write_process after).  0, or HM_E* to answer 503. */
typedef int (*hm_metrics_render_fn)(void *arg, hm_metrics_buf *b);
/* True when the daemon is ready to serve (for /health/ready). */
typedef bool (*hm_metrics_ready_fn)(void *arg);

/* Serve on fd (a socket from hm_listen, taken over: closed by stop, or at
 * once on failure): GET or HEAD /metrics answers the text exposition
 * format, /health/live 200, /health/ready 200 or 503 from ready (NULL:
 * always 200), anything else 404, other methods 405.  comp names the
 * daemon in logs.  render and ready run on the server's thread, one scrape
 * at a time; arg must outlive the server.  0, or HM_EIO when the HTTP
 * server did not start (logged). */
int hm_metrics_server_start(hm_metrics_server **out, int fd, const char *comp,
                            hm_metrics_render_fn render, hm_metrics_ready_fn ready, void *arg);
/* The port it listens on. */
int hm_metrics_server_port(const hm_metrics_server *s);
/* Stop serving and free; NULL is a no-op. */
void hm_metrics_server_stop(hm_metrics_server *s);

#endif
