/* main.c - hamster-meta: serve the metadata node over mutual-TLS RPC.
 *
 *   hamster-meta -data-dir D -listen ADDR [-metrics ADDR]
 *
 * A thin shell: claim its -metrics port, check the node's cluster identity
 * and root key, load its certificates, open the node under D/meta
 * (replaying its log), serve (and Prometheus text on -metrics) until
 * SIGINT or SIGTERM, stop cleanly.  The signals are blocked before any
 * thread starts and taken with sigwait, so no handler runs on a server or
 * commit thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hm_daemon.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_listen.h"
#include "hm_log.h"
#include "hm_metrics.h"
#include "hm_meta_node.h"
#include "hm_rpc.h"

#define MAIN_COMP "meta"
#define MAIN_PATH_BYTES 4096

typedef struct main_metrics {
    hm_env *env;
    char log_dir[MAIN_PATH_BYTES];
} main_metrics;

/* The metadata daemon's families: commit batches, log compaction and log
 * size; the syncs and RPC requests are added by the server
 * (hm_metrics_write_process). */
static int main_metrics_render(void *arg, hm_metrics_buf *b)
{
    main_metrics *m = arg;
    hm_metrics_write_meta(b);
    hm_metrics_write_meta_log(b, m->env, m->log_dir);
    return b->failed ? HM_ENOMEM : 0;
}

int main(int argc, char **argv)
{
    const char *data_dir = NULL, *listen = NULL, *metrics_addr = NULL;
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "node data directory (from hamster-ctl init)"},
        {"listen", HM_FLAG_STR, &listen, "RPC address host:port"},
        {"metrics", HM_FLAG_STR, &metrics_addr,
         "serve Prometheus /metrics and the health paths on this address (off when unset)"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    const char *synopsis = "hamster-meta -data-dir D -listen ADDR [-metrics ADDR]";
    hm_env *env = NULL;
    hm_tls *tls = NULL;
    hm_meta_node *node = NULL;
    hm_rpc_server *srv = NULL;
    hm_metrics_server *metrics = NULL;
    static main_metrics mm;
    int rest = 0, rc, status = 1, lock_fd = -1, metrics_fd = -1;
    char why[1024], metrics_bound[80];

    hm_log_init_from_env();
    int code = hm_flags_main("hamster-meta", synopsis, flags, nflags, argc, argv, 1);
    if (code >= 0) return code;
    if (data_dir == NULL || listen == NULL) {
        fprintf(stderr, "hamster-meta: -data-dir and -listen are required\n");
        hm_flags_usage(stderr, synopsis, flags, nflags);
        return 2;
    }
    (void)rest;
    char meta_dir[MAIN_PATH_BYTES];
    int n = snprintf(meta_dir, sizeof meta_dir, "%s/meta", data_dir);
    if (n < 0 || (size_t)n >= sizeof meta_dir) {
        hm_error(MAIN_COMP, NULL, "data directory path too long");
        return 2;
    }

    int ln = snprintf(mm.log_dir, sizeof mm.log_dir, "%s/log", meta_dir);
    if (ln < 0 || (size_t)ln >= sizeof mm.log_dir) {
        hm_error(MAIN_COMP, NULL, "data directory path too long");
        return 2;
    }
    /* Ports first: a port in use fails before the data is touched. */
    if (metrics_addr != NULL && metrics_addr[0] != '\0') {
        rc = hm_listen(metrics_addr, &metrics_fd, metrics_bound, sizeof metrics_bound, why,
                       sizeof why);
        if (rc != 0) {
            hm_error(MAIN_COMP, NULL, "metrics: %s", why);
            return 1;
        }
    }

    sigset_t sigs;
    hm_daemon_block_signals(&sigs);

    rc = hm_env_posix_new(&env);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "environment: %s", hm_err_msg(rc));
        if (metrics_fd >= 0) close(metrics_fd);
        return 1;
    }
    mm.env = env;
    if (hm_daemon_identity(env, MAIN_COMP, data_dir, &tls) != 0) goto out_env;
    /* One process per metadata directory (hamster serve locks it too). */
    rc = hm_daemon_lock(meta_dir, &lock_fd, why, sizeof why);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "%s", why);
        goto out_tls;
    }
    rc = hm_meta_node_open(&node, env, meta_dir);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "metadata node %s: %s", meta_dir, hm_err_msg(rc));
        goto out_tls;
    }
    rc = hm_rpc_server_start(&srv, tls, listen, hm_meta_service_handle, node);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "listen %s: %s", listen, hm_err_msg(rc));
        goto out_node;
    }
    if (metrics_fd >= 0) {
        rc = hm_metrics_server_start(&metrics, metrics_fd, MAIN_COMP, main_metrics_render, NULL,
                                     &mm);
        metrics_fd = -1; /* taken over */
        if (rc != 0) {
            hm_rpc_server_stop(srv);
            goto out_node;
        }
        hm_info(MAIN_COMP, NULL, "metrics on http://%s/metrics", metrics_bound);
    }
    hm_info(MAIN_COMP, NULL, "ready: metadata in %s serving on %s (port %d)", meta_dir,
            listen, hm_rpc_server_bound_port(srv));

    hm_daemon_wait(&sigs, MAIN_COMP);
    hm_metrics_server_stop(metrics);
    hm_rpc_server_stop(srv);
    status = 0;

out_node:
    hm_meta_node_close(node);
out_tls:
    hm_daemon_unlock(lock_fd);
    hm_tls_free(tls);
out_env:
    if (metrics_fd >= 0) close(metrics_fd);
    hm_env_posix_free(env);
    return status;
}
