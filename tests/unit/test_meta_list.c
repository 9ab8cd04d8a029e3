/* test_meta_list.c - object listing (hamster-meta/hm_meta_sm.c) against a
 * brute-force reference computed here: prefix, delimiter, start_after,
 * max_keys, truncation and pagination over a few hundred keys, including
 * keys long enough to share one names-table row. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_sm.h"
#include "test_meta_util.h"

#define N_KEYS 400
#define LONG_KEYS 12

typedef struct item {
    char *key;
    bool is_prefix;
} item;

static char *keys[N_KEYS + LONG_KEYS];
static size_t n_keys;
static char *dir;
static hm_env *env;
static hm_kv *kv;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The reference: S3 listing semantics spelled out over a sorted array. */
static size_t reference(const char *prefix, const char *delim, const char *after,
                        uint32_t max, item *out, bool *truncated)
{
    size_t n = 0, plen = strlen(prefix), dlen = strlen(delim);
    bool more = false;
    for (size_t i = 0; i < n_keys; i++) {
        const char *k = keys[i];
        if (after[0] != '\0' && strcmp(k, after) <= 0)
            continue;
        if (strncmp(k, prefix, plen) != 0)
            continue;
        char *it = NULL;
        bool is_prefix = false;
        const char *d = dlen > 0 ? strstr(k + plen, delim) : NULL;
        if (d != NULL) {
            it = strndup(k, (size_t)(d - k) + dlen);
            is_prefix = true;
            if ((after[0] != '\0' && strcmp(it, after) <= 0) ||
                (n > 0 && strcmp(out[n - 1].key, it) == 0)) {
                free(it);
                continue;
            }
        } else {
            it = strdup(k);
        }
        if (n == max) {
            free(it);
            more = true;
            break;
        }
        out[n].key = it;
        out[n].is_prefix = is_prefix;
        n++;
    }
    *truncated = more && max > 0;
    return n;
}

static Hm__MetaResponse *list(const char *prefix, const char *delim, const char *after,
                              uint32_t max)
{
    Hm__ObjectList l = HM__OBJECT_LIST__INIT;
    l.bucket = (char *)"bkt";
    l.prefix = (char *)prefix;
    l.delimiter = (char *)delim;
    l.start_after = (char *)after;
    l.has_max_keys = true;
    l.max_keys = max;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_OBJECT_LIST;
    q.object_list = &l;
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &txn), 0);
    Hm__MetaResponse *r = malloc(sizeof *r);
    hm__meta_response__init(r);
    ck_assert_int_eq(hm_meta_sm_query(env, txn, &q, r), 0);
    env->ops->kv_abort(txn);
    return r;
}

static void check_one(const char *prefix, const char *delim, const char *after, uint32_t max)
{
    static item want[N_KEYS + LONG_KEYS + 1];
    bool trunc = false;
    size_t n = reference(prefix, delim, after, max, want, &trunc);
    Hm__MetaResponse *r = list(prefix, delim, after, max);
    ck_assert_int_eq(r->err, 0);
    Hm__ObjectListResult *res = r->list;
    ck_assert_msg(res->n_entries == n, "prefix '%s' delim '%s' after '%.20s' max %u: got %zu want %zu",
                  prefix, delim, after, max, res->n_entries, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(res->entries[i]->key, want[i].key);
        ck_assert_int_eq(res->entries[i]->is_prefix, want[i].is_prefix);
        if (!want[i].is_prefix) {
            ck_assert_ptr_nonnull(res->entries[i]->version);
            ck_assert_str_eq(res->entries[i]->version->key, want[i].key);
            ck_assert(!res->entries[i]->version->has_inline_data);
        } else {
            ck_assert_ptr_null(res->entries[i]->version);
        }
    }
    ck_assert_int_eq(res->truncated, trunc);
    if (n > 0)
        ck_assert_str_eq(res->next_start_after, want[n - 1].key);
    for (size_t i = 0; i < n; i++)
        free(want[i].key);
    hm__meta_response__free_unpacked(r, NULL);
}

/* Page through with next_start_after; the pages concatenate to the full
 * reference listing (a resumed listing skips every key under a prefix). */
static void check_paged(const char *prefix, const char *delim, uint32_t page)
{
    static item want[N_KEYS + LONG_KEYS + 1];
    bool trunc = false;
    size_t n = reference(prefix, delim, "", HM_LIST_KEYS_MAX, want, &trunc);
    size_t got = 0;
    char *after = strdup("");
    for (int pages = 0;; pages++) {
        ck_assert_int_lt(pages, N_KEYS + LONG_KEYS + 2);
        Hm__MetaResponse *r = list(prefix, delim, after, page);
        Hm__ObjectListResult *res = r->list;
        for (size_t i = 0; i < res->n_entries; i++, got++) {
            ck_assert_uint_lt(got, n);
            ck_assert_str_eq(res->entries[i]->key, want[got].key);
        }
        bool more = res->truncated;
        if (more) {
            free(after);
            after = strdup(res->next_start_after);
        }
        hm__meta_response__free_unpacked(r, NULL);
        if (!more)
            break;
    }
    ck_assert_uint_eq(got, n);
    free(after);
    for (size_t i = 0; i < n; i++)
        free(want[i].key);
}

static void apply(uint64_t index, Hm__MetaCommand *c, hm_kv_txn *txn)
{
    Hm__MetaResponse *r = malloc(sizeof *r);
    hm__meta_response__init(r);
    ck_assert_int_eq(hm_meta_sm_apply(env, txn, index, c, r), 0);
    ck_assert_int_eq(r->err, 0);
    hm__meta_response__free_unpacked(r, NULL);
}

static void setup(void)
{
    dir = tmu_mkdtemp();
    env = tmu_env();
    ck_assert_int_eq(env->ops->kv_open(env, dir, &kv), 0);
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &txn), 0);
    ck_assert_int_eq(hm_meta_sm_init(env, txn), 0);
    uint64_t index = 0;

    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)"bkt";
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    c.bucket_create = &bc;
    apply(++index, &c, txn);
    /* a neighbouring bucket whose keys must never leak into the listing */
    b.name = (char *)"bkz";
    apply(++index, &c, txn);

    /* Short keys over a small alphabet: many shared prefixes, delimiters
     * at every depth, keys that are prefixes of others. */
    const char alphabet[] = "ab/-.~";
    uint64_t seed = 7;
    n_keys = 0;
    while (n_keys < N_KEYS) {
        char k[8];
        size_t len = 1 + tmu_rand(&seed) % 6;
        for (size_t j = 0; j < len; j++)
            k[j] = alphabet[tmu_rand(&seed) % (sizeof alphabet - 1)];
        k[len] = '\0';
        bool dup = false;
        for (size_t i = 0; i < n_keys && !dup; i++)
            dup = strcmp(keys[i], k) == 0;
        if (!dup)
            keys[n_keys++] = strdup(k);
    }
    /* Long keys sharing their first 500 bytes: one names row holds several,
     * and a delimiter past byte 440 rolls up inside that row. */
    for (int i = 0; i < LONG_KEYS; i++) {
        char *k = malloc(HM_KEY_BYTES_MAX + 1);
        memset(k, 'b', 500);
        size_t len = 500;
        len += (size_t)snprintf(k + len, 40, "%s%02d", i % 3 == 0 ? "/" : "-", i);
        if (i % 4 == 0)
            len += (size_t)snprintf(k + len, 40, "/tail%d", i);
        k[len] = '\0';
        keys[n_keys++] = k;
    }

    uint8_t oid[16] = {0};
    for (size_t i = 0; i < n_keys; i++) {
        memcpy(oid, &i, sizeof i);
        oid[15] = 0xEE;
        Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
        v.has_object_id = true;
        v.object_id.data = oid;
        v.object_id.len = 16;
        uint8_t inl[2] = {1, 2};
        v.has_inline_data = true;
        v.inline_data.data = inl;
        v.inline_data.len = 2;
        Hm__ObjectPut p = HM__OBJECT_PUT__INIT;
        p.bucket = (char *)(i % 5 == 0 ? "bkz" : "bkt");
        p.key = keys[i];
        p.version = &v;
        Hm__MetaCommand pc = HM__META_COMMAND__INIT;
        pc.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
        pc.object_put = &p;
        /* every key goes to bkt; every fifth also to bkz */
        if (i % 5 == 0)
            apply(++index, &pc, txn);
        p.bucket = (char *)"bkt";
        oid[14] = 1;
        apply(++index, &pc, txn);
        oid[14] = 0;
    }
    ck_assert_int_eq(env->ops->kv_commit(txn, false), 0);
    qsort(keys, n_keys, sizeof keys[0], cmp_str);
}

static void teardown(void)
{
    for (size_t i = 0; i < n_keys; i++)
        free(keys[i]);
    env->ops->kv_close(kv);
    hm_env_posix_free(env);
    tmu_rmdir(dir);
}

static const char *prefixes[] = {"", "a", "a/", "b-", "/", "ab/a", "zzz", NULL};
static const char *delims[] = {"", "/", "-", "a/", "//", NULL};
static const uint32_t maxes[] = {0, 1, 3, 17, 1000};

/* Every combination of prefix, delimiter and max_keys, from the start and
 * from start_after values that are keys, common prefixes, and in between,
 * matches the reference exactly (entries, prefixes, truncated, next). */
START_TEST(test_list_matches_reference)
{
    const char *afters[] = {"", "a", "a/", "a/b", "b", "b-", "ab/", "~", NULL};
    for (int p = 0; prefixes[p] != NULL; p++)
        for (int d = 0; delims[d] != NULL; d++)
            for (int a = 0; afters[a] != NULL; a++)
                for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++)
                    check_one(prefixes[p], delims[d], afters[a], maxes[m]);
    /* start_after = each actual key, with and without a delimiter */
    for (size_t i = 0; i < n_keys; i += 7) {
        check_one("", "/", keys[i], 5);
        check_one("", "", keys[i], 5);
    }
}
END_TEST

/* Paging with next_start_after yields the full listing once, with and
 * without delimiters, at small page sizes. */
START_TEST(test_list_paging)
{
    for (int p = 0; prefixes[p] != NULL; p++)
        for (int d = 0; delims[d] != NULL; d++) {
            check_paged(prefixes[p], delims[d], 1);
            check_paged(prefixes[p], delims[d], 4);
        }
}
END_TEST

/* Long keys: a prefix longer than the names-table prefix lists only its
 * keys, and a delimiter beyond byte 440 rolls up correctly. */
START_TEST(test_list_long_keys)
{
    char p[600];
    memset(p, 'b', 500);
    p[500] = '\0';
    check_one(p, "", "", 1000);
    check_one(p, "/", "", 1000);
    check_one(p, "/", "", 2);
    strcpy(p + 500, "/");
    check_one(p, "/", "", 1000);
    check_paged(p, "/", 1);
    check_paged("b", "/", 1);
}
END_TEST

/* A listing of a missing bucket is HM_ENOBUCKET; max_keys over 1000 is
 * capped; max_keys 0 returns nothing and is not truncated. */
START_TEST(test_list_edges)
{
    Hm__ObjectList l = HM__OBJECT_LIST__INIT;
    l.bucket = (char *)"nope";
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_OBJECT_LIST;
    q.object_list = &l;
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &txn), 0);
    Hm__MetaResponse *r = malloc(sizeof *r);
    hm__meta_response__init(r);
    ck_assert_int_eq(hm_meta_sm_query(env, txn, &q, r), 0);
    ck_assert_int_eq(r->err, HM_ENOBUCKET);
    hm__meta_response__free_unpacked(r, NULL);
    env->ops->kv_abort(txn);

    r = list("", "", "", 5000);
    ck_assert_uint_eq(r->list->n_entries, n_keys > 1000 ? 1000 : n_keys);
    hm__meta_response__free_unpacked(r, NULL);
    r = list("", "", "", 0);
    ck_assert_uint_eq(r->list->n_entries, 0);
    ck_assert(!r->list->truncated);
    hm__meta_response__free_unpacked(r, NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_list");
    TCase *tc = tcase_create("list");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_list_matches_reference);
    tcase_add_test(tc, test_list_paging);
    tcase_add_test(tc, test_list_long_keys);
    tcase_add_test(tc, test_list_edges);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
