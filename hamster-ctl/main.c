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
#include "hm_version.h"
#include "hm_recover.h"

static void ctl_usage(FILE *out)
{
    fprintf(out, "usage: hamster-ctl <verb> [flags]\n"
                 "verbs:\n"
                 "  init      mint the cluster CA and this node's certificate\n"
                 "  key       access keys and per-bucket grants (key -h)\n"
                 "  disk      the disks: list, add, replace (disk -h)\n"
                 "  status    disks with their state, and the erasure-coding profile\n"
                 "  recover   rebuild deleted metadata from the shards (-from-shards DIR)\n"
                 "  version   print the version and the formats it reads and writes\n"
                 "Run a verb with -h for its flags.\n");
}

int main(int argc, char **argv)
{
    hm_log_init_from_env();
    if (argc < 2) {
        ctl_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "init") == 0) return hm_ctl_init(argc - 2, argv + 2);
    if (strcmp(argv[1], "recover") == 0) return hm_ctl_recover(argc - 2, argv + 2);
    if (strcmp(argv[1], "key") == 0) return hm_ctl_key(argc - 2, argv + 2);
    if (strcmp(argv[1], "disk") == 0) return hm_ctl_disk(argc - 2, argv + 2);
    if (strcmp(argv[1], "status") == 0) return hm_ctl_status(argc - 2, argv + 2);
    const char *a = argv[1];
    if (strcmp(a, "-h") == 0 || strcmp(a, "-help") == 0 || strcmp(a, "--help") == 0 ||
        strcmp(a, "help") == 0) {
        ctl_usage(stdout);
        return 0;
    }
    if (strcmp(a, "version") == 0 || strcmp(a, "-version") == 0 || strcmp(a, "--version") == 0) {
        hm_version_print(stdout, "hamster-ctl");
        return 0;
    }
    fprintf(stderr, "hamster-ctl: unknown verb %s\n", argv[1]);
    ctl_usage(stderr);
    return 2;
}
