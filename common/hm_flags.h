/* hm_flags.h - command-line flags in the single-dash style:
 *
 *   hamster serve -data-dir ./data -s3 127.0.0.1:9000 -disks a,b
 *
 * "-name value", "-name=value" and the same with "--" are accepted; a bool
 * flag is set by "-name" alone or "-name=true|false".  Parsing stops at the
 * first argument that does not start with '-' (or after "--"); its index is
 * returned through *rest.  Unknown flags, missing values and malformed
 * numbers are errors, with a message on stderr.
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

/* Parse argv[start..argc).  0 on success, HM_EINVAL on a bad flag. */
int hm_flags_parse(const hm_flag *flags, size_t n, int argc, char **argv,
                   int start, int *rest);

/* Print "usage" lines for flags, with current values as defaults. */
void hm_flags_usage(FILE *out, const char *synopsis, const hm_flag *flags, size_t n);

#endif
