/* hm_flags.h - command-line flags in the single-dash style:
 *
 *   hamster serve -data-dir ./data -s3 127.0.0.1:9000 -disks a,b
 *
 * "-name value", "-name=value" and the same with "--" are accepted; a bool
 * flag is set by "-name" alone or "-name=true|false".  Parsing stops at the
 * first argument that does not start with '-' (or after "--"); its index is
 * returned through *rest.  Unknown flags, missing values and malformed
 * numbers are errors, with a message on stderr.
 *
 * Every binary understands -h, -help and --help (usage on stdout, exit 0)
 * and -version / --version (version and formats on stdout, exit 0) without
 * listing them in its table: hm_flags_main does both.
 */
#ifndef HM_FLAGS_H
#define HM_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum hm_flag_type { HM_FLAG_STR, HM_FLAG_INT, HM_FLAG_BOOL };

typedef struct hm_flag {
    const char *name;       /* without the dash */
    enum hm_flag_type type;
    void *dst;              /* const char **, int64_t *, or bool * */
    const char *help;
} hm_flag;

/* hm_flags_parse results besides 0 and HM_E*: a help or version flag. */
#define HM_FLAGS_HELP 1
#define HM_FLAGS_VERSION 2

/* Parse argv[start..argc).  0 on success, HM_EINVAL on a bad flag,
 * HM_FLAGS_HELP for -h/-help/--help, HM_FLAGS_VERSION for -version (unless
 * the table defines those names itself). */
int hm_flags_parse(const hm_flag *flags, size_t n, int argc, char **argv,
                   int start, int *rest);

/* Print "usage" lines for flags, with current values as defaults: a string
 * flag without a value and a bool flag that is off show none, nor does a
 * flag whose help text already says "(default ...)". */
void hm_flags_usage(FILE *out, const char *synopsis, const hm_flag *flags, size_t n);

/* A command's whole flag handling: parse argv[start..argc), no positional
 * arguments allowed.  Returns -1 when the command should go on; otherwise
 * the exit code after printing what was asked: 0 for help (usage on
 * stdout) or version (hm_version_print as prog), 2 for a bad flag or a
 * stray argument (message and usage on stderr). */
int hm_flags_main(const char *prog, const char *synopsis, const hm_flag *flags, size_t n,
                  int argc, char **argv, int start);

#endif
