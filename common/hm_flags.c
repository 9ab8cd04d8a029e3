/* hm_flags.c - single-dash flag parser; see hm_flags.h. */
#include "hm_flags.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"

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
        switch (f->type) {
        case HM_FLAG_STR: {
            const char *v = *(const char **)f->dst;
            fprintf(out, "  -%-16s %s (default \"%s\")\n", f->name, f->help,
                    v != NULL ? v : "");
            break;
        }
        case HM_FLAG_INT:
            fprintf(out, "  -%-16s %s (default %" PRId64 ")\n", f->name, f->help,
                    *(int64_t *)f->dst);
            break;
        case HM_FLAG_BOOL:
            fprintf(out, "  -%-16s %s (default %s)\n", f->name, f->help,
                    *(bool *)f->dst ? "true" : "false");
            break;
        }
    }
}
