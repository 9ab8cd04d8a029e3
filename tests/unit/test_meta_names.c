/* test_meta_names.c - bounded names rows (hamster-meta/hm_meta_sm.c, ADR 13):
 * many keys sharing one names-table prefix are spread over a chain of rows
 * none of which packs to more than HM_NAMES_ROW_BYTES_MAX, while lookups,
 * listing order, pagination and delimiters stay those of S3, and a
 * schema-2 row (NameList format version 1, any size) still reads and is
 * split on its next write. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta.pb-c.h"
#include "hm_meta_keys.h"
#include "hm_meta_sm.h"
#include "test_meta_util.h"

#define N_NAMES_MAX 10000
/* Keys in the test: 10,000, or fewer from HM_TEST_NAMES_KEYS (the valgrind
 * pass runs 2,000: still dozens of rows past the cap, in minutes). */
static size_t n_names = N_NAMES_MAX;
#define PREFIX_BYTES 900
#define PUTS_PER_TXN 200

static tmu_sm *t;
static char *keys[N_NAMES_MAX]; /* sorted */
static bool live[N_NAMES_MAX];
static char prefix[PREFIX_BYTES + 1];

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void oid_of(size_t i, uint8_t oid[16])
{
    memset(oid, 0, 16);
    memcpy(oid, &i, sizeof i);
    oid[15] = 0x5A;
}

static void apply_ok(hm_kv_txn *txn, Hm__MetaCommand *c)
{
    Hm__MetaResponse *r = tmu_new_resp();
    ck_assert_int_eq(hm_meta_sm_apply(t->env, txn, ++t->index, c, r), 0);
    ck_assert_msg(r->err == 0, "command failed: %s", r->err_msg != NULL ? r->err_msg : "");
    hm__meta_response__free_unpacked(r, NULL);
}

static void put_in(hm_kv_txn *txn, size_t i)
{
    uint8_t oid[16];
    oid_of(i, oid);
    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_object_id = true;
    v.object_id.data = oid;
    v.object_id.len = 16;
    Hm__ObjectPut p = HM__OBJECT_PUT__INIT;
    p.bucket = (char *)"bkt";
    p.key = keys[i];
    p.version = &v;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    c.object_put = &p;
    apply_ok(txn, &c);
}

static void delete_in(hm_kv_txn *txn, size_t i)
{
    Hm__ObjectDelete d = HM__OBJECT_DELETE__INIT;
    d.bucket = (char *)"bkt";
    d.key = keys[i];
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_OBJECT_DELETE;
    c.object_delete = &d;
    apply_ok(txn, &c);
}

/* Every names row of the store: none packs to more than the cap, none is
 * empty; returns how many there are. */
static size_t check_rows(void)
{
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &txn), 0);
    hm_kv_cursor *cur = NULL;
    ck_assert_int_eq(t->env->ops->kv_cursor_open(txn, HM_KV_NAMES, &cur), 0);
    size_t rows = 0;
    int rc;
    for (rc = t->env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0;
         rc = t->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        ck_assert_int_eq(t->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl), 0);
        ck_assert_msg(vl <= HM_NAMES_ROW_BYTES_MAX, "names row %zu: %zu bytes, cap %u", rows,
                      vl, (unsigned)HM_NAMES_ROW_BYTES_MAX);
        Hm__NameList *nl = hm__name_list__unpack(NULL, vl, v);
        ck_assert_ptr_nonnull(nl);
        ck_assert_uint_gt(nl->n_entries, 0);
        hm__name_list__free_unpacked(nl, NULL);
        rows++;
    }
    ck_assert_int_eq(rc, HM_ENOENT);
    t->env->ops->kv_cursor_close(cur);
    t->env->ops->kv_abort(txn);
    return rows;
}

/* Put keys[order[0..n)] in transactions of PUTS_PER_TXN, checking the rows
 * after each. */
static void put_all(const size_t *order, size_t n)
{
    for (size_t done = 0; done < n;) {
        hm_kv_txn *txn = NULL;
        ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
        for (size_t j = 0; j < PUTS_PER_TXN && done < n; j++, done++) {
            put_in(txn, order[done]);
            live[order[done]] = true;
        }
        ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
        check_rows();
    }
}

static void get_each(void)
{
    for (size_t i = 0; i < n_names; i++) {
        Hm__ObjectGet g = HM__OBJECT_GET__INIT;
        g.bucket = (char *)"bkt";
        g.key = keys[i];
        Hm__MetaRequest q = HM__META_REQUEST__INIT;
        q.op_case = HM__META_REQUEST__OP_OBJECT_GET;
        q.object_get = &g;
        Hm__MetaResponse *r = tmu_sm_query(t, &q);
        if (!live[i]) {
            ck_assert_int_eq(tmu_done(r), HM_ENOKEY);
            continue;
        }
        ck_assert_msg(r->err == 0, "key %zu: %d", i, r->err);
        uint8_t oid[16];
        oid_of(i, oid);
        ck_assert_uint_eq(r->version->object_id.len, 16);
        ck_assert_mem_eq(r->version->object_id.data, oid, 16);
        ck_assert_str_eq(r->version->key, keys[i]);
        tmu_done(r);
    }
}

static Hm__MetaResponse *list(const char *pfx, const char *delim, const char *after,
                              uint32_t max)
{
    Hm__ObjectList l = HM__OBJECT_LIST__INIT;
    l.bucket = (char *)"bkt";
    l.prefix = (char *)pfx;
    l.delimiter = (char *)delim;
    l.start_after = (char *)after;
    l.has_max_keys = true;
    l.max_keys = max;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_OBJECT_LIST;
    q.object_list = &l;
    Hm__MetaResponse *r = tmu_sm_query(t, &q);
    ck_assert_int_eq(r->err, 0);
    return r;
}

/* The S3 listing of the live keys under pfx with delim, built here by brute
 * force: entries into out (strdup'd), count returned. */
static size_t reference(const char *pfx, const char *delim, char **out)
{
    size_t n = 0, plen = strlen(pfx), dlen = strlen(delim);
    for (size_t i = 0; i < n_names; i++) {
        if (!live[i] || strncmp(keys[i], pfx, plen) != 0)
            continue;
        const char *d = dlen > 0 ? strstr(keys[i] + plen, delim) : NULL;
        char *it = d != NULL ? strndup(keys[i], (size_t)(d - keys[i]) + dlen) : strdup(keys[i]);
        if (n > 0 && strcmp(out[n - 1], it) == 0) {
            free(it);
            continue;
        }
        out[n++] = it;
    }
    return n;
}

/* Page through the listing with next_start_after: the pages concatenate to
 * the reference, in order, each page at most page entries. */
static void check_listing(const char *pfx, const char *delim, uint32_t page)
{
    char **want = malloc(n_names * sizeof *want);
    size_t n = reference(pfx, delim, want);
    size_t got = 0;
    char *after = strdup("");
    for (size_t pages = 0;; pages++) {
        ck_assert_uint_le(pages, n_names + 1);
        Hm__MetaResponse *r = list(pfx, delim, after, page);
        Hm__ObjectListResult *res = r->list;
        ck_assert_uint_le(res->n_entries, page);
        for (size_t i = 0; i < res->n_entries; i++, got++) {
            ck_assert_uint_lt(got, n);
            ck_assert_msg(strcmp(res->entries[i]->key, want[got]) == 0,
                          "listing '%s' by '%s' entry %zu: got ...%s want ...%s", pfx + 880,
                          delim, got, res->entries[i]->key + 880, want[got] + 880);
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
        free(want[i]);
    free(want);
}

static void check_listings(void)
{
    check_listing("", "", 1000);
    check_listing("", "", 37);
    check_listing("", "/", 1000);
    check_listing(prefix, "/", 7);
    char sub[PREFIX_BYTES + 16];
    snprintf(sub, sizeof sub, "%sd03/", prefix);
    check_listing(sub, "", 101);
    check_listing(sub, "-", 5);
    snprintf(sub, sizeof sub, "%sd1", prefix);
    check_listing(sub, "/", 2);
}

/* Keys under the 900-byte prefix: 20 "directories" of 500 keys, names
 * differing only in their last bytes, so every key shares its first 440
 * encoded bytes (one names-table head key) with every other. */
static void make_keys(void)
{
    memset(prefix, 'p', PREFIX_BYTES);
    prefix[0] = 'a';
    prefix[PREFIX_BYTES - 1] = '/';
    prefix[PREFIX_BYTES] = '\0';
    for (size_t i = 0; i < n_names; i++) {
        char k[PREFIX_BYTES + 64];
        snprintf(k, sizeof k, "%sd%02zu/%s%05zu", prefix, i % 20, i % 7 == 0 ? "x-" : "", i);
        keys[i] = strdup(k);
        live[i] = false;
    }
    qsort(keys, n_names, sizeof keys[0], cmp_str);
}

static void setup(void)
{
    t = tmu_sm_open();
    make_keys();
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)"bkt";
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    c.bucket_create = &bc;
    apply_ok(txn, &c);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(hm_meta_sm_test_names_bounds(0, 0), 0);
    for (size_t i = 0; i < n_names; i++)
        free(keys[i]);
    tmu_sm_close(t);
}

/* 10,000 keys sharing a 900-byte prefix, put in an order that splits rows
 * at the front (descending), the back (ascending) and anywhere (shuffled):
 * no names row ever packs to more than the cap, every key reads back, the
 * listing pages in S3 order with and without delimiters; after deleting
 * half of them in random order the same holds and the deleted keys are
 * gone. */
START_TEST(test_names_shared_prefix)
{
    size_t *order = malloc(n_names * sizeof *order);
    size_t n = 0;
    /* the middle third descending, the top third ascending, the rest shuffled */
    for (size_t i = 2 * n_names / 3; i > n_names / 3; i--)
        order[n++] = i - 1;
    for (size_t i = 2 * n_names / 3; i < n_names; i++)
        order[n++] = i;
    size_t rest = n;
    for (size_t i = 0; i < n_names / 3; i++)
        order[n++] = i;
    ck_assert_uint_eq(n, n_names);
    uint64_t seed = 11;
    for (size_t i = n_names - 1; i > rest; i--) {
        size_t j = rest + (size_t)(tmu_rand(&seed) % (i - rest + 1));
        size_t x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    put_all(order, n_names);
    size_t rows = check_rows();
    /* 10,000 entries of ~930 bytes: hundreds of rows, each a few dozen */
    ck_assert_uint_gt(rows, (size_t)n_names * PREFIX_BYTES / HM_NAMES_ROW_BYTES_MAX);
    get_each();
    check_listings();

    /* overwrite some: the names rows do not change */
    put_all(order, 300);
    ck_assert_uint_eq(check_rows(), rows);

    /* delete every other key, in random order */
    size_t m = 0;
    for (size_t i = 0; i < n_names; i += 2)
        order[m++] = i;
    for (size_t i = m - 1; i > 0; i--) {
        size_t j = (size_t)(tmu_rand(&seed) % (i + 1));
        size_t x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    for (size_t done = 0; done < m;) {
        hm_kv_txn *txn = NULL;
        ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
        for (size_t j = 0; j < PUTS_PER_TXN && done < m; j++, done++) {
            delete_in(txn, order[done]);
            live[order[done]] = false;
        }
        ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    }
    check_rows();
    get_each();
    check_listings();
    /* and back: the deleted keys put again land in order */
    put_all(order, m);
    get_each();
    check_listing("", "", 333);
    free(order);
}
END_TEST

/* Replace every names row with one format-1 row at the chain's head key
 * holding all the entries (what schema 2 wrote, however large). */
static size_t collapse_to_v1(void)
{
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    hm_kv_cursor *cur = NULL;
    Hm__NameEntry **all = malloc(n_names * sizeof *all);
    size_t n = 0;
    uint8_t (*rk)[HM_META_NAMES_KEY_BYTES_MAX] = malloc(n_names * sizeof *rk);
    size_t *rkl = malloc(n_names * sizeof *rkl);
    size_t nrows = 0;
    Hm__NameList *lists[n_names];
    ck_assert_int_eq(t->env->ops->kv_cursor_open(txn, HM_KV_NAMES, &cur), 0);
    int rc;
    for (rc = t->env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0;
         rc = t->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        ck_assert_int_eq(t->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl), 0);
        Hm__NameList *nl = hm__name_list__unpack(NULL, vl, v);
        ck_assert_ptr_nonnull(nl);
        lists[nrows] = nl;
        memcpy(rk[nrows], k, kl);
        rkl[nrows++] = kl;
        for (size_t i = 0; i < nl->n_entries; i++)
            all[n++] = nl->entries[i];
    }
    t->env->ops->kv_cursor_close(cur);
    for (size_t i = 0; i < nrows; i++)
        ck_assert_int_eq(t->env->ops->kv_del(txn, HM_KV_NAMES, rk[i], rkl[i]), 0);
    Hm__NameList v1 = HM__NAME_LIST__INIT;
    v1.has_format_version = true;
    v1.format_version = 1;
    v1.n_entries = n;
    v1.entries = all;
    size_t len = protobuf_c_message_get_packed_size(&v1.base);
    uint8_t *buf = malloc(len);
    protobuf_c_message_pack(&v1.base, buf);
    uint8_t head[HM_META_NAMES_KEY_BYTES_MAX];
    size_t hl = 0;
    ck_assert_int_eq(hm_meta_names_key(1, keys[0], strlen(keys[0]), head, &hl), 0);
    ck_assert_uint_eq(hl, HM_META_NAMES_HEAD_KEY_BYTES_MAX);
    ck_assert_int_eq(t->env->ops->kv_put(txn, HM_KV_NAMES, head, hl, buf, len), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    free(buf);
    for (size_t i = 0; i < nrows; i++)
        hm__name_list__free_unpacked(lists[i], NULL);
    free(all);
    free(rk);
    free(rkl);
    return len;
}

/* A schema-2 store's single oversized row (NameList format version 1)
 * still reads: every key is found and lists in order; the first write to
 * it splits it into rows within the cap, written at format version 2. */
START_TEST(test_names_v1_row_reads)
{
    size_t n = n_names / 5; /* every fifth key: key 1 below is new */
    size_t *order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = i * 5;
    put_all(order, n);
    size_t len = collapse_to_v1();
    ck_assert_uint_gt(len, 4u * HM_NAMES_ROW_BYTES_MAX);
    get_each();
    check_listing("", "", 250);
    check_listing(prefix, "/", 3);
    /* one new key: the v1 row is split, every row is format 2 and bounded */
    order[0] = 1;
    put_all(order, 1);
    ck_assert_uint_gt(check_rows(), len / HM_NAMES_ROW_BYTES_MAX);
    get_each();
    check_listing("", "", 250);
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &txn), 0);
    hm_kv_cursor *cur = NULL;
    ck_assert_int_eq(t->env->ops->kv_cursor_open(txn, HM_KV_NAMES, &cur), 0);
    for (int rc = t->env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0;
         rc = t->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        ck_assert_int_eq(t->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl), 0);
        Hm__NameList *nl = hm__name_list__unpack(NULL, vl, v);
        ck_assert_uint_eq(nl->format_version, HM_META_NAME_LIST_VERSION);
        hm__name_list__free_unpacked(nl, NULL);
    }
    t->env->ops->kv_cursor_close(cur);
    t->env->ops->kv_abort(txn);
    free(order);
}
END_TEST

/* A names row of a format version this code does not know is refused with
 * HM_EVERSION, not misread. */
START_TEST(test_names_newer_row_refused)
{
    size_t order[1] = {0};
    put_all(order, 1);
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    uint8_t head[HM_META_NAMES_KEY_BYTES_MAX];
    size_t hl = 0;
    ck_assert_int_eq(hm_meta_names_key(1, keys[0], strlen(keys[0]), head, &hl), 0);
    const void *v = NULL;
    size_t vl = 0;
    ck_assert_int_eq(t->env->ops->kv_get(txn, HM_KV_NAMES, head, hl, &v, &vl), 0);
    Hm__NameList *nl = hm__name_list__unpack(NULL, vl, v);
    nl->format_version = HM_META_NAME_LIST_VERSION + 1;
    uint8_t buf[4096];
    size_t len = hm__name_list__pack(nl, buf);
    hm__name_list__free_unpacked(nl, NULL);
    ck_assert_int_eq(t->env->ops->kv_put(txn, HM_KV_NAMES, head, hl, buf, len), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    Hm__ObjectGet g = HM__OBJECT_GET__INIT;
    g.bucket = (char *)"bkt";
    g.key = keys[0];
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_OBJECT_GET;
    q.object_get = &g;
    hm_kv_txn *rt = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &rt), 0);
    Hm__MetaResponse *r = tmu_new_resp();
    ck_assert_int_eq(hm_meta_sm_query(t->env, rt, &q, r), HM_EVERSION);
    t->env->ops->kv_abort(rt);
    hm__meta_response__free_unpacked(r, NULL);
}
END_TEST

/* hm_meta_sm_names_audit over a read snapshot: 0 or the code, *a filled. */
static int audit(hm_meta_names_audit *a, char *msg, size_t cap)
{
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, false, &txn), 0);
    int rc = hm_meta_sm_names_audit(t->env, txn, a, msg, cap);
    t->env->ops->kv_abort(txn);
    return rc;
}

/* The test cap and sequence step are refused outside their bounds: no cap
 * under two of the longest entries or over the real one, no step over the
 * default. */
START_TEST(test_names_test_bounds_refused)
{
    ck_assert_int_eq(hm_meta_sm_test_names_bounds(HM_NAMES_ROW_BYTES_TEST_MIN - 1, 0), HM_EINVAL);
    ck_assert_int_eq(hm_meta_sm_test_names_bounds(HM_NAMES_ROW_BYTES_MAX + 1, 0), HM_EINVAL);
    ck_assert_int_eq(hm_meta_sm_test_names_bounds(0, (1u << 16) + 1), HM_EINVAL);
    ck_assert_int_eq(hm_meta_sm_test_names_bounds(HM_NAMES_ROW_BYTES_TEST_MIN, 1), 0);
    ck_assert_int_eq(hm_meta_sm_test_names_bounds(0, 0), 0);
}
END_TEST

/* Under the smallest test cap (two entries of these keys to a row, one
 * after a split) and a sequence step of 4, 600 keys put in random order
 * split rows into long chains and renumber them; the audit finds every
 * rule kept, every key reads back and lists in order, and after deleting
 * half of them the same holds.  Two continuation rows swapped by hand are
 * then found out of order: the audit can fail. */
START_TEST(test_names_small_cap_audit)
{
    ck_assert_int_eq(hm_meta_sm_test_names_bounds(HM_NAMES_ROW_BYTES_TEST_MIN, 4), 0);
    size_t n = 600, stride = n_names / n;
    size_t *order = malloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = i * stride;
    uint64_t seed = 5;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(tmu_rand(&seed) % (i + 1));
        size_t x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    uint64_t splits0 = 0, renumbers0 = 0, splits = 0, renumbers = 0;
    hm_meta_sm_test_names_counts(&splits0, &renumbers0);
    put_all(order, n);
    hm_meta_sm_test_names_counts(&splits, &renumbers);
    ck_assert_uint_gt(splits - splits0, n / 4);
    ck_assert_uint_gt(renumbers - renumbers0, 0);
    hm_meta_names_audit a;
    char msg[256];
    ck_assert_msg(audit(&a, msg, sizeof msg) == 0, "audit: %s", msg);
    ck_assert_uint_eq(a.entries, n);
    ck_assert_uint_ge(a.rows, n / 2);
    ck_assert_uint_le(a.row_bytes_max, HM_NAMES_ROW_BYTES_TEST_MIN);
    ck_assert_uint_eq(a.chain_rows_max, a.rows);
    get_each();
    check_listing("", "", 7);
    check_listing(prefix, "/", 3);
    /* delete every other one */
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    for (size_t i = 0; i < n; i += 2) {
        delete_in(txn, order[i]);
        live[order[i]] = false;
    }
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    ck_assert_msg(audit(&a, msg, sizeof msg) == 0, "audit: %s", msg);
    ck_assert_uint_eq(a.entries, n / 2);
    get_each();
    check_listing("", "/", 1000);
    check_listing(prefix, "", 11);

    /* swap the values of the first two continuation rows */
    uint8_t head[HM_META_NAMES_KEY_BYTES_MAX], k1[HM_META_NAMES_KEY_BYTES_MAX];
    size_t hl = 0;
    ck_assert_int_eq(hm_meta_names_key(1, keys[0], strlen(keys[0]), head, &hl), 0);
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    hm_kv_cursor *cur = NULL;
    ck_assert_int_eq(t->env->ops->kv_cursor_open(txn, HM_KV_NAMES, &cur), 0);
    hm_meta_names_cont_key(head, 0, k1);
    ck_assert_int_eq(t->env->ops->kv_cursor_seek(cur, k1, HM_META_NAMES_CONT_KEY_BYTES), 0);
    uint8_t *val[2];
    size_t vlen[2];
    uint8_t rk[2][HM_META_NAMES_KEY_BYTES_MAX];
    for (int i = 0; i < 2; i++) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        if (i > 0)
            ck_assert_int_eq(t->env->ops->kv_cursor_next(cur), 0);
        ck_assert_int_eq(t->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl), 0);
        ck_assert_uint_eq(kl, HM_META_NAMES_CONT_KEY_BYTES);
        memcpy(rk[i], k, kl);
        val[i] = malloc(vl);
        memcpy(val[i], v, vl);
        vlen[i] = vl;
    }
    t->env->ops->kv_cursor_close(cur);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(t->env->ops->kv_put(txn, HM_KV_NAMES, rk[i],
                                             HM_META_NAMES_CONT_KEY_BYTES, val[1 - i],
                                             vlen[1 - i]),
                         0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    ck_assert_int_eq(audit(&a, msg, sizeof msg), HM_ECORRUPT);
    ck_assert_msg(strstr(msg, "out of order") != NULL || strstr(msg, "another row") != NULL,
                  "audit: %s", msg);
    free(val[0]);
    free(val[1]);
    free(order);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("meta_names");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_names_shared_prefix);
    tcase_add_test(tc, test_names_v1_row_reads);
    tcase_add_test(tc, test_names_newer_row_refused);
    tcase_add_test(tc, test_names_test_bounds_refused);
    tcase_add_test(tc, test_names_small_cap_audit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *n = getenv("HM_TEST_NAMES_KEYS");
    if (n != NULL) {
        unsigned long v = strtoul(n, NULL, 10);
        if (v >= 1000 && v <= N_NAMES_MAX) n_names = v;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
