/* hm_daemon.c - start-up and shutdown shared by the split daemons; see
 * hm_daemon.h. */
#include "hm_daemon.h"

#include <pthread.h>
#include <stdlib.h>

#include "hm_cluster.h"
#include "hm_err.h"
#include "hm_log.h"

void hm_daemon_block_signals(sigset_t *sigs)
{
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int hm_daemon_identity(hm_env *env, const char *comp, const char *data_dir, hm_tls **tls)
{
    const char *secret = getenv("HAMSTER_SECRET_ACCESS_KEY");
    if (secret == NULL || secret[0] == '\0') {
        hm_error(comp, NULL,
                 "HAMSTER_SECRET_ACCESS_KEY is not set: every node runs with the "
                 "cluster's root key");
        return HM_EINVAL;
    }
    int rc = hm_cluster_check(env, data_dir, secret, NULL);
    if (rc == HM_ENOENT) {
        hm_error(comp, NULL,
                 "%s is not an initialised data directory: run hamster-ctl init first",
                 data_dir);
        return rc;
    }
    if (rc == HM_EPERM) {
        hm_error(comp, NULL,
                 "HAMSTER_SECRET_ACCESS_KEY does not match the cluster's root key "
                 "fingerprint in %s", data_dir);
        return rc;
    }
    if (rc != 0) {
        hm_error(comp, NULL, "cluster identity in %s: %s (run hamster-ctl init first)",
                 data_dir, hm_err_msg(rc));
        return rc;
    }
    rc = hm_tls_new_from_data_dir(tls, data_dir);
    if (rc != 0) hm_error(comp, NULL, "certificates in %s: %s", data_dir, hm_err_msg(rc));
    return rc;
}

void hm_daemon_wait(const sigset_t *sigs, const char *comp)
{
    int sig = 0;
    while (sigwait(sigs, &sig) != 0) {
    }
    hm_info(comp, NULL, "signal %d: stopping", sig);
}
