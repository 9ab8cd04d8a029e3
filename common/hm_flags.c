/* hm_flags.c - single-dash flag parser; see hm_flags.h. */
#include "hm_flags.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hm_cluster.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_rpc.h"
#include "hm_version.h"

static const hm_flag *flags_find(const hm_flag *flags, size_t n, const char *name,
                                 size_t name_len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(flags[i].name) == name_len &&
            memcmp(flags[i].name, name, name_len) == 0)
            return &flags[i];
    }
    return NULL;
}

static int flags_set(const hm_flag *f, const char *value)
{
    switch (f->type) {
    case HM_FLAG_STR:
        *(const char **)f->dst = value;
        return 0;
    case HM_FLAG_INT: {
        char *end = NULL;
        /* strtoll skips leading white space; a flag value must not. */
        if (value[0] == '\0' || isspace((unsigned char)value[0])) {
            fprintf(stderr, "flag -%s: not a number: %s\n", f->name, value);
            return HM_EINVAL;
        }
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0') {
            fprintf(stderr, "flag -%s: not a number: %s\n", f->name, value);
            return HM_EINVAL;
        }
        *(int64_t *)f->dst = (int64_t)v;
        return 0;
    }
    case HM_FLAG_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
            *(bool *)f->dst = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
            *(bool *)f->dst = false;
        } else {
            fprintf(stderr, "flag -%s: not a boolean: %s\n", f->name, value);
            return HM_EINVAL;
        }
        return 0;
    }
    return HM_EINVAL;
}

int hm_flags_parse(const hm_flag *flags, size_t n, int argc, char **argv,
                   int start, int *rest)
{
    int i = start;
    while (i < argc) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') break;
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        const char *name = arg + 1;
        if (*name == '-') name++;
        const char *eq = strchr(name, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const hm_flag *f = flags_find(flags, n, name, name_len);
        if (f == NULL && eq == NULL &&
            ((name_len == 1 && name[0] == 'h') ||
             (name_len == 4 && memcmp(name, "help", 4) == 0))) {
            if (rest != NULL) *rest = i + 1;
            return HM_FLAGS_HELP;
        }
        if (f == NULL && eq == NULL && name_len == 7 && memcmp(name, "version", 7) == 0) {
            if (rest != NULL) *rest = i + 1;
            return HM_FLAGS_VERSION;
        }
        if (f == NULL) {
            fprintf(stderr, "unknown flag: %s\n", arg);
            return HM_EINVAL;
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (f->type == HM_FLAG_BOOL) {
            value = "true";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "flag -%s needs a value\n", f->name);
            return HM_EINVAL;
        }
        int rc = flags_set(f, value);
        if (rc != 0) return rc;
        i++;
    }
    if (rest != NULL) *rest = i;
    return 0;
}

void hm_flags_usage(FILE *out, const char *synopsis, const hm_flag *flags, size_t n)
{
    fprintf(out, "usage: %s\n", synopsis);
    for (size_t i = 0; i < n; i++) {
        const hm_flag *f = &flags[i];
        bool own_default = strstr(f->help, "(default") != NULL;
        fprintf(out, "  -%-16s %s", f->name, f->help);
        if (!own_default) {
            switch (f->type) {
            case HM_FLAG_STR: {
                const char *v = *(const char **)f->dst;
                if (v != NULL && v[0] != '\0') fprintf(out, " (default \"%s\")", v);
                break;
            }
            case HM_FLAG_INT:
                fprintf(out, " (default %" PRId64 ")", *(int64_t *)f->dst);
                break;
            case HM_FLAG_BOOL:
                if (*(bool *)f->dst) fprintf(out, " (default true)");
                break;
            }
        }
        fputc('\n', out);
    }
    fprintf(out, "  -%-16s %s\n  -%-16s %s\n", "h, -help", "print this help and exit",
            "version", "print the version and the formats it reads and writes");
}

void hm_version_print(FILE *out, const char *prog)
{
    fprintf(out,
            "%s %s\n"
            "formats: metadata records %u..%u, cluster identity %u..%u, "
            "shard files %u..%u, RPC wire %u\n",
            prog, HM_VERSION_STRING, HM_FORMAT_VERSION_MIN, HM_FORMAT_VERSION_MAX,
            HM_CLUSTER_FORMAT_VERSION_MIN, HM_CLUSTER_FORMAT_VERSION, HM_FORMAT_VERSION_MIN,
            HM_FORMAT_VERSION_MAX, HM_WIRE_VERSION);
}

int hm_flags_main(const char *prog, const char *synopsis, const hm_flag *flags, size_t n,
                  int argc, char **argv, int start)
{
    int rest = argc;
    int rc = hm_flags_parse(flags, n, argc, argv, start, &rest);
    if (rc == HM_FLAGS_HELP) {
        hm_flags_usage(stdout, synopsis, flags, n);
        return 0;
    }
    if (rc == HM_FLAGS_VERSION) {
        hm_version_print(stdout, prog);
        return 0;
    }
    if (rc == 0 && rest < argc) {
        fprintf(stderr, "%s: unexpected argument: %s\n", prog, argv[rest]);
        rc = HM_EINVAL;
    }
    if (rc != 0) {
        hm_flags_usage(stderr, synopsis, flags, n);
        return 2;
    }
    return -1;
}
