/* test_flags.c - the single-dash flag parser (common/hm_flags.c). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_flags.h"

static const char *f_dir;
static int64_t f_port;
static bool f_verbose;
static hm_flag flags[3];

static void setup(void)
{
    f_dir = "./data";
    f_port = 9000;
    f_verbose = false;
    flags[0] = (hm_flag){"data-dir", HM_FLAG_STR, &f_dir, "data directory"};
    flags[1] = (hm_flag){"port", HM_FLAG_INT, &f_port, "listen port"};
    flags[2] = (hm_flag){"v", HM_FLAG_BOOL, &f_verbose, "verbose"};
}

static int parse(int argc, char **argv, int *rest)
{
    return hm_flags_parse(flags, 3, argc, argv, 1, rest);
}

/* "-name value" sets each kind of flag and parsing stops at the first
 * positional argument, whose index comes back through rest. */
START_TEST(test_space_separated)
{
    char *argv[] = {"prog", "-data-dir", "/x", "-port", "12", "-v", "serve", "-port", "1"};
    int rest = -1;
    ck_assert_int_eq(parse(9, argv, &rest), 0);
    ck_assert_str_eq(f_dir, "/x");
    ck_assert_int_eq(f_port, 12);
    ck_assert(f_verbose);
    ck_assert_int_eq(rest, 6);
}
END_TEST

/* "-name=value" and the double-dash forms work too. */
START_TEST(test_equals_and_double_dash)
{
    char *argv[] = {"prog", "--data-dir=/a=b", "-port=-7", "--v=false"};
    int rest = -1;
    f_verbose = true;
    ck_assert_int_eq(parse(4, argv, &rest), 0);
    ck_assert_str_eq(f_dir, "/a=b");
    ck_assert_int_eq(f_port, -7);
    ck_assert(!f_verbose);
    ck_assert_int_eq(rest, 4);
}
END_TEST

/* "--" ends the flags; what follows is positional even if it looks like a
 * flag. */
START_TEST(test_terminator)
{
    char *argv[] = {"prog", "-v", "--", "-port", "5"};
    int rest = -1;
    ck_assert_int_eq(parse(5, argv, &rest), 0);
    ck_assert_int_eq(rest, 3);
    ck_assert_int_eq(f_port, 9000);
}
END_TEST

/* An unknown flag is an error. */
START_TEST(test_unknown)
{
    char *argv[] = {"prog", "-nope"};
    ck_assert_int_eq(parse(2, argv, NULL), HM_EINVAL);
}
END_TEST

/* A flag that is a prefix of a known one is not that flag. */
START_TEST(test_prefix_is_not_a_match)
{
    char *argv[] = {"prog", "-data", "x"};
    ck_assert_int_eq(parse(3, argv, NULL), HM_EINVAL);
}
END_TEST

/* A value flag at the end with no value is an error. */
START_TEST(test_missing_value)
{
    char *argv[] = {"prog", "-port"};
    ck_assert_int_eq(parse(2, argv, NULL), HM_EINVAL);
    ck_assert_int_eq(f_port, 9000);
}
END_TEST

/* Malformed numbers are refused: empty, trailing junk, out of range, and
 * leading white space. */
START_TEST(test_bad_numbers)
{
    const char *bad[] = {"-port=", "-port=12x", "-port=99999999999999999999",
                         "-port= 12", "-port=\t3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {"prog", (char *)bad[i]};
        ck_assert_msg(parse(2, argv, NULL) == HM_EINVAL, "accepted %s", bad[i]);
        ck_assert_int_eq(f_port, 9000);
    }
}
END_TEST

/* The full int64 range parses. */
START_TEST(test_int64_range)
{
    char *argv[] = {"prog", "-port=-9223372036854775808"};
    ck_assert_int_eq(parse(2, argv, NULL), 0);
    ck_assert(f_port == INT64_MIN);
}
END_TEST

/* A bool flag accepts only true/false/1/0 after '='. */
START_TEST(test_bad_bool)
{
    char *argv[] = {"prog", "-v=yes"};
    ck_assert_int_eq(parse(2, argv, NULL), HM_EINVAL);
    char *argv2[] = {"prog", "-v=1"};
    ck_assert_int_eq(parse(2, argv2, NULL), 0);
    ck_assert(f_verbose);
}
END_TEST

/* A lone "-" is positional (it often means stdin). */
START_TEST(test_lone_dash)
{
    char *argv[] = {"prog", "-", "-v"};
    int rest = -1;
    ck_assert_int_eq(parse(3, argv, &rest), 0);
    ck_assert_int_eq(rest, 1);
    ck_assert(!f_verbose);
}
END_TEST

/* Usage prints every flag with its current value as the default, but no
 * default for an off switch or an unset string, none twice when the help
 * text gives its own, and lists -h and -version. */
START_TEST(test_usage)
{
    char buf[2048] = {0};
    const char *unset = NULL;
    hm_flag more[5];
    memcpy(more, flags, sizeof flags);
    more[3] = (hm_flag){"disks", HM_FLAG_STR, &unset, "disks (default DATA-DIR/disk0)"};
    more[4] = (hm_flag){"tls-cert", HM_FLAG_STR, &unset, "certificate"};
    FILE *out = fmemopen(buf, sizeof(buf) - 1, "w");
    ck_assert_ptr_nonnull(out);
    hm_flags_usage(out, "prog [flags]", more, 5);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(buf, "usage: prog [flags]"));
    ck_assert_ptr_nonnull(strstr(buf, "-data-dir"));
    ck_assert_ptr_nonnull(strstr(buf, "(default \"./data\")"));
    ck_assert_ptr_nonnull(strstr(buf, "(default 9000)"));
    ck_assert_ptr_null(strstr(buf, "(default false)"));
    ck_assert_ptr_null(strstr(buf, "(default true)"));
    ck_assert_ptr_null(strstr(buf, "(default \"\")"));
    ck_assert_ptr_null(strstr(buf, "disk0) (default"));
    ck_assert_ptr_nonnull(strstr(buf, "(default DATA-DIR/disk0)"));
    ck_assert_ptr_nonnull(strstr(buf, "-h, -help"));
    ck_assert_ptr_nonnull(strstr(buf, "-version"));
}
END_TEST

/* -h, -help and --help ask for help and -version / --version for the
 * version, whatever the table; a table's own flag of that name wins. */
START_TEST(test_help_and_version)
{
    const char *forms[] = {"-h", "-help", "--help", "--h"};
    for (size_t i = 0; i < 4; i++) {
        char *argv[] = {"prog", "-port", "1", (char *)forms[i], "-v"};
        int rest = -1;
        ck_assert_int_eq(parse(5, argv, &rest), HM_FLAGS_HELP);
    }
    char *v1[] = {"prog", "-version"};
    char *v2[] = {"prog", "--version"};
    ck_assert_int_eq(parse(2, v1, NULL), HM_FLAGS_VERSION);
    ck_assert_int_eq(parse(2, v2, NULL), HM_FLAGS_VERSION);
    /* "-help=x" is not a help request but an unknown flag. */
    char *bad[] = {"prog", "-help=x"};
    ck_assert_int_eq(parse(2, bad, NULL), HM_EINVAL);
    bool own = false;
    hm_flag t[1] = {{"h", HM_FLAG_BOOL, &own, "own"}};
    char *a[] = {"prog", "-h"};
    ck_assert_int_eq(hm_flags_parse(t, 1, 2, a, 1, NULL), 0);
    ck_assert(own);
}
END_TEST

/* hm_flags_main: 0 for help and version, 2 for a bad flag or a stray
 * argument, -1 to go on. */
START_TEST(test_flags_main)
{
    char *h[] = {"prog", "--help"};
    char *v[] = {"prog", "-version"};
    char *bad[] = {"prog", "-nope"};
    char *stray[] = {"prog", "-port", "2", "extra"};
    char *ok[] = {"prog", "-port", "3"};
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    ck_assert_int_eq(hm_flags_main("prog", "prog", flags, 3, 2, h, 1), 0);
    ck_assert_int_eq(hm_flags_main("prog", "prog", flags, 3, 2, v, 1), 0);
    fclose(stdout);
    stdout = saved;
    ck_assert_int_eq(hm_flags_main("prog", "prog", flags, 3, 2, bad, 1), 2);
    ck_assert_int_eq(hm_flags_main("prog", "prog", flags, 3, 4, stray, 1), 2);
    ck_assert_int_eq(hm_flags_main("prog", "prog", flags, 3, 3, ok, 1), -1);
    ck_assert_int_eq(f_port, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("flags");
    TCase *tc = tcase_create("parse");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_space_separated);
    tcase_add_test(tc, test_equals_and_double_dash);
    tcase_add_test(tc, test_terminator);
    tcase_add_test(tc, test_unknown);
    tcase_add_test(tc, test_prefix_is_not_a_match);
    tcase_add_test(tc, test_missing_value);
    tcase_add_test(tc, test_bad_numbers);
    tcase_add_test(tc, test_int64_range);
    tcase_add_test(tc, test_bad_bool);
    tcase_add_test(tc, test_lone_dash);
    tcase_add_test(tc, test_usage);
    tcase_add_test(tc, test_help_and_version);
    tcase_add_test(tc, test_flags_main);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
