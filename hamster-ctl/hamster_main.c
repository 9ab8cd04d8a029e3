/* hamster - the all-in-one binary.
 *
 *   hamster serve -data-dir ./data            every role in one process
 *   hamster cluster init -data-dir D ...      the cluster admin verbs
 *
 * The cluster verbs are the same functions as hamster-ctl's (hm_ctl.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hm_ctl.h"
#include "hm_flags.h"
#include "hm_log.h"
#include "hm_version.h"
#include "hm_recover.h"

static void hamster_usage(FILE *out)
{
    fprintf(out,
            "usage: hamster <command> [flags]\n"
            "commands:\n"
            "  serve           run every role in one process (S3 on 127.0.0.1:9000)\n"
            "  cluster init    mint the cluster CA and this node's certificate\n"
            "  key             access keys and per-bucket grants (key -h)\n"
            "  disk            the disks: list, add, replace (disk -h)\n"
            "  status          disks with their state, and the erasure-coding profile\n"
            "  recover         rebuild deleted metadata from the shards (-from-shards DIR)\n"
            "  version         print the version and the formats it reads and writes\n"
            "Run a command with -h for its flags.\n");
}

static bool hamster_is(const char *arg, const char *a, const char *b, const char *c)
{
    return strcmp(arg, a) == 0 || strcmp(arg, b) == 0 || (c != NULL && strcmp(arg, c) == 0);
}

int main(int argc, char **argv)
{
    hm_log_init_from_env();
    if (argc < 2) {
        hamster_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "serve") == 0) return hm_ctl_serve(argc - 2, argv + 2);
    if (strcmp(argv[1], "key") == 0) return hm_ctl_key(argc - 2, argv + 2);
    if (strcmp(argv[1], "disk") == 0) return hm_ctl_disk(argc - 2, argv + 2);
    if (strcmp(argv[1], "status") == 0) return hm_ctl_status(argc - 2, argv + 2);
    if (strcmp(argv[1], "recover") == 0) return hm_ctl_recover(argc - 2, argv + 2);
    if (strcmp(argv[1], "cluster") == 0 && argc >= 3 && strcmp(argv[2], "init") == 0)
        return hm_ctl_init(argc - 3, argv + 3);
    if (hamster_is(argv[1], "-h", "-help", "--help") || strcmp(argv[1], "help") == 0) {
        hamster_usage(stdout);
        return 0;
    }
    if (hamster_is(argv[1], "version", "-version", "--version")) {
        hm_version_print(stdout, "hamster");
        return 0;
    }
    fprintf(stderr, "hamster: unknown command %s\n", argv[1]);
    hamster_usage(stderr);
    return 2;
}
