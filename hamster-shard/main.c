/* main.c - hamster-shard: serve one disk's shard store over mutual-TLS RPC.
 *
 *   hamster-shard -data-dir D -disk PATH -listen ADDR
 *
 * A thin shell: check the node's cluster identity and root key, load its
 * certificates, open the store, serve until SIGINT or SIGTERM, stop
 * cleanly.  The signals are blocked before any thread starts and taken with
 * sigwait, so no handler runs on a server thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "hm_daemon.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_log.h"
#include "hm_rpc.h"
#include "hm_shard_store.h"

#define MAIN_COMP "shard"

int main(int argc, char **argv)
{
    const char *data_dir = NULL, *disk = NULL, *listen = NULL;
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "node data directory (from hamster-ctl init)"},
        {"disk", HM_FLAG_STR, &disk, "directory of the disk this daemon serves"},
        {"listen", HM_FLAG_STR, &listen, "RPC address host:port"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    const char *synopsis = "hamster-shard -data-dir D -disk PATH -listen ADDR";
    hm_env *env = NULL;
    hm_tls *tls = NULL;
    hm_shard_store *store = NULL;
    hm_rpc_server *srv = NULL;
    int rest = 0, rc, status = 1, lock_fd = -1;

    hm_log_init_from_env();
    int code = hm_flags_main("hamster-shard", synopsis, flags, nflags, argc, argv, 1);
    if (code >= 0) return code;
    if (data_dir == NULL || disk == NULL || listen == NULL) {
        fprintf(stderr, "hamster-shard: -data-dir, -disk and -listen are required\n");
        hm_flags_usage(stderr, synopsis, flags, nflags);
        return 2;
    }
    (void)rest;

    sigset_t sigs;
    hm_daemon_block_signals(&sigs);

    rc = hm_env_posix_new(&env);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "environment: %s", hm_err_msg(rc));
        return 1;
    }
    if (hm_daemon_identity(env, MAIN_COMP, data_dir, &tls) != 0) goto out_env;
    /* One process per disk: check it, create it if missing, lock it. */
    char why[1024];
    rc = hm_daemon_check_dir(disk, true, why, sizeof why);
    if (rc == 0) {
        rc = env->ops->mkdir(env, disk);
        if (rc == HM_EEXIST) rc = 0;
        if (rc != 0) snprintf(why, sizeof why, "cannot create %s: %s", disk, hm_err_msg(rc));
    }
    if (rc == 0) rc = hm_daemon_lock(disk, &lock_fd, why, sizeof why);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "disk: %s", why);
        goto out_tls;
    }
    rc = hm_shard_store_open(&store, env, disk);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "shard store %s: %s", disk, hm_err_msg(rc));
        goto out_tls;
    }
    rc = hm_rpc_server_start(&srv, tls, listen, hm_shard_service_handle, store);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "listen %s: %s", listen, hm_err_msg(rc));
        goto out_store;
    }
    hm_info(MAIN_COMP, NULL, "ready: disk %s (id %s) serving on %s (port %d)", disk,
            hm_shard_store_disk_id(store), listen, hm_rpc_server_bound_port(srv));

    hm_daemon_wait(&sigs, MAIN_COMP);
    hm_rpc_server_stop(srv);
    status = 0;

out_store:
    hm_shard_store_close(store);
out_tls:
    hm_daemon_unlock(lock_fd);
    hm_tls_free(tls);
out_env:
    hm_env_posix_free(env);
    return status;
}
