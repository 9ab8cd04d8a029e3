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
    bool help = false;
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "data directory to initialise"},
        {"node", HM_FLAG_STR, &node, "this node's name (certificate CN)"},
        {"listen", HM_FLAG_STR, &listen, "RPC address other nodes reach this node on"},
        {"h", HM_FLAG_BOOL, &help, "show this help"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    const char *ak, *sk;
    hm_env *env = NULL;
    bool created = false;
    int rest, rc;

    if (hm_flags_parse(flags, nflags, argc, argv, 0, &rest) != 0 || help ||
        rest != argc || data_dir == NULL) {
        hm_flags_usage(stderr, "init -data-dir DIR [-node NAME] [-listen ADDR]", flags,
                       nflags);
        return help ? 0 : 2;
    }
    if (hm_ctl_root_key(&ak, &sk) != 0) return 1;
    (void)ak;
    rc = hm_env_posix_new(&env);
    if (rc != 0) {
        fprintf(stderr, "hamster: %s\n", hm_err_msg(rc));
        return 1;
    }
    rc = hm_cluster_init(env, data_dir, node, listen, sk, &created);
    hm_env_posix_free(env);
    if (rc == HM_EPERM) {
        fprintf(stderr,
                "hamster: %s belongs to a cluster with a different root key (%s)\n",
                data_dir, HM_ENV_SECRET_KEY);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "hamster: init %s: %s\n", data_dir, hm_err_msg(rc));
        return 1;
    }
    printf("%s %s (node %s)\n", created ? "initialised" : "already initialised",
           data_dir, node);
    return 0;
}
