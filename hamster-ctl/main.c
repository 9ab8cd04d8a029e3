/* hamster-ctl - the admin CLI for split deployments.
 *
 *   hamster-ctl init -data-dir D -node NAME -listen ADDR
 *
 * More verbs (token, status, recover, key, bucket, layout, repair, rotate)
 * arrive with the cluster; each is a function in hm_ctl.h. */
#include <stdio.h>
#include <string.h>

#include "hm_ctl.h"
#include "hm_log.h"
#include "hm_recover.h"

static void ctl_usage(void)
{
    fprintf(stderr, "usage: hamster-ctl <verb> [flags]\n"
                    "verbs:\n"
                    "  init   mint the cluster CA and this node's certificate\n"
                    "  recover -from-shards DATA-DIR   rebuild deleted metadata from the shards\n");
}

int main(int argc, char **argv)
{
    hm_log_init_from_env();
    if (argc < 2) {
        ctl_usage();
        return 2;
    }
    if (strcmp(argv[1], "init") == 0) return hm_ctl_init(argc - 2, argv + 2);
    if (strcmp(argv[1], "recover") == 0) return hm_ctl_recover(argc - 2, argv + 2);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        ctl_usage();
        return 0;
    }
    fprintf(stderr, "hamster-ctl: unknown verb %s\n", argv[1]);
    ctl_usage();
    return 2;
}
