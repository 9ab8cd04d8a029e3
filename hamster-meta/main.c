/* main.c - hamster-meta: serve the metadata node over mutual-TLS RPC.
 *
 *   hamster-meta -data-dir D -listen ADDR
 *
 * A thin shell: check the node's cluster identity and root key, load its
 * certificates, open the node under D/meta (replaying its log), serve until
 * SIGINT or SIGTERM, stop cleanly.  The signals are blocked before any
 * thread starts and taken with sigwait, so no handler runs on a server or
 * commit thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "hm_daemon.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_log.h"
#include "hm_meta_node.h"
#include "hm_rpc.h"

#define MAIN_COMP "meta"
#define MAIN_PATH_BYTES 4096

int main(int argc, char **argv)
{
    const char *data_dir = NULL, *listen = NULL;
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "node data directory (from hamster-ctl init)"},
        {"listen", HM_FLAG_STR, &listen, "RPC address host:port"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    const char *synopsis = "hamster-meta -data-dir D -listen ADDR";
    hm_env *env = NULL;
    hm_tls *tls = NULL;
    hm_meta_node *node = NULL;
    hm_rpc_server *srv = NULL;
    int rest = 0, rc, status = 1, lock_fd = -1;

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

    sigset_t sigs;
    hm_daemon_block_signals(&sigs);

    rc = hm_env_posix_new(&env);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "environment: %s", hm_err_msg(rc));
        return 1;
    }
    if (hm_daemon_identity(env, MAIN_COMP, data_dir, &tls) != 0) goto out_env;
    /* One process per metadata directory (hamster serve locks it too). */
    char why[1024];
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
    hm_info(MAIN_COMP, NULL, "ready: metadata in %s serving on %s (port %d)", meta_dir,
            listen, hm_rpc_server_bound_port(srv));

    hm_daemon_wait(&sigs, MAIN_COMP);
    hm_rpc_server_stop(srv);
    status = 0;

out_node:
    hm_meta_node_close(node);
out_tls:
    hm_daemon_unlock(lock_fd);
    hm_tls_free(tls);
out_env:
    hm_env_posix_free(env);
    return status;
}
