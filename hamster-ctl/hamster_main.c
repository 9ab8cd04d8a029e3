/* hamster - the all-in-one binary.
 *
 *   hamster serve -data-dir ./data            every role in one process
 *   hamster cluster init -data-dir D ...      the cluster admin verbs
 *
 * The cluster verbs are the same functions as hamster-ctl's (hm_ctl.h). */
#include <stdio.h>
#include <string.h>

#include "hm_ctl.h"
#include "hm_log.h"
#include "hm_recover.h"

static void hamster_usage(void)
{
    fprintf(stderr,
            "usage: hamster <command> [flags]\n"
            "commands:\n"
            "  serve           run every role in one process (S3 on 127.0.0.1:9000)\n"
            "  cluster init    mint the cluster CA and this node's certificate\n"
            "  recover         rebuild deleted metadata from the shards (-from-shards DIR)\n"
            "Run a command with -h for its flags.\n");
}

int main(int argc, char **argv)
{
    hm_log_init_from_env();
    if (argc < 2) {
        hamster_usage();
        return 2;
    }
    if (strcmp(argv[1], "serve") == 0) return hm_ctl_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "recover") == 0) return hm_ctl_recover(argc - 2, argv + 2);
    if (strcmp(argv[1], "cluster") == 0 && argc >= 3 && strcmp(argv[2], "init") == 0)
        return hm_ctl_init(argc - 3, argv + 3);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        hamster_usage();
        return 0;
    }
    fprintf(stderr, "hamster: unknown command %s\n", argv[1]);
    hamster_usage();
    return 2;
}
