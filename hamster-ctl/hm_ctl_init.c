/* hm_ctl_init.c - `init`: give a data directory its cluster identity.
 *
 * The CA is minted once; running init again on an initialised directory only
 * checks that the root key still matches, so scripts may call it blindly. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_cluster.h"
#include "hm_ctl.h"
#include "hm_daemon.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_flags.h"

int hm_ctl_root_key(const char **access_key, const char **secret_key)
{
    const char *ak = getenv(HM_ENV_ACCESS_KEY);
    const char *sk = getenv(HM_ENV_SECRET_KEY);
    if (ak == NULL || ak[0] == '\0' || sk == NULL || sk[0] == '\0') {
        fprintf(stderr,
                "hamster: set the root key first, for example:\n"
                "  export %s=hamster %s=$(openssl rand -hex 20)\n",
                HM_ENV_ACCESS_KEY, HM_ENV_SECRET_KEY);
        return 1;
    }
    if (strlen(ak) > 128 || strlen(sk) > 128 || strlen(sk) < 8) {
        fprintf(stderr, "hamster: %s must be 8 to 128 characters, %s at most 128\n",
                HM_ENV_SECRET_KEY, HM_ENV_ACCESS_KEY);
        return 1;
    }
    *access_key = ak;
    *secret_key = sk;
    return 0;
}

int hm_ctl_init(int argc, char **argv)
{
    const char *data_dir = NULL;
    const char *node = "node1";
    const char *listen = "127.0.0.1:7400";
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "data directory to initialise"},
        {"node", HM_FLAG_STR, &node, "this node's name (certificate CN)"},
        {"listen", HM_FLAG_STR, &listen, "RPC address other nodes reach this node on"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    const char *synopsis = "init -data-dir DIR [-node NAME] [-listen ADDR]";
    const char *ak, *sk;
    hm_env *env = NULL;
    bool created = false;
    char why[1024];
    int rc, lock_fd = -1;

    rc = hm_flags_main("hamster-ctl init", synopsis, flags, nflags, argc, argv, 0);
    if (rc >= 0) return rc;
    if (data_dir == NULL) {
        fprintf(stderr, "hamster: init needs -data-dir\n");
        hm_flags_usage(stderr, synopsis, flags, nflags);
        return 2;
    }
    if (hm_ctl_root_key(&ak, &sk) != 0) return 1;
    rc = hm_daemon_check_dir(data_dir, true, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "hamster: init: %s\n", why);
        return 1;
    }
    rc = hm_env_posix_new(&env);
    if (rc != 0) {
        fprintf(stderr, "hamster: %s\n", hm_err_msg(rc));
        return 1;
    }
    rc = env->ops->mkdir(env, data_dir);
    if (rc != 0 && rc != HM_EEXIST) {
        fprintf(stderr, "hamster: init: cannot create %s: %s\n", data_dir, hm_err_msg(rc));
        hm_env_posix_free(env);
        return 1;
    }
    /* Not while a daemon runs on it. */
    rc = hm_daemon_lock(data_dir, &lock_fd, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "hamster: init: %s\n", why);
        hm_env_posix_free(env);
        return 1;
    }
    rc = hm_cluster_init(env, data_dir, node, listen, ak, sk, &created);
    if (rc == HM_EINVAL) {
        Hm__ClusterIdentity *id = NULL;
        if (hm_cluster_check(env, data_dir, ak, sk, &id) == 0) {
            fprintf(stderr, "hamster: init: %s is already initialised for node %s, not %s\n",
                    data_dir, id->node_name != NULL ? id->node_name : "?", node);
            hm__cluster_identity__free_unpacked(id, NULL);
        } else {
            fprintf(stderr,
                    "hamster: init: bad node name '%s': 1 to 63 letters, digits, '-', '.' "
                    "or '_'\n",
                    node);
        }
        hm_env_posix_free(env);
        hm_daemon_unlock(lock_fd);
        return 1;
    }
    hm_env_posix_free(env);
    hm_daemon_unlock(lock_fd);
    if (rc != 0) {
        hm_daemon_identity_why(data_dir, rc, why, sizeof why);
        fprintf(stderr, "hamster: init: %s\n", why);
        return 1;
    }
    printf("%s %s (node %s)\n", created ? "initialised" : "already initialised",
           data_dir, node);
    return 0;
}
