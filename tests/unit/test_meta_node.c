/* test_meta_node.c - the metadata node (hamster-meta/hm_meta_node.c) and
 * its in-process binding: group commit under concurrency, restart replay of
 * entries logged but not applied, and poisoning after a failed sync or
 * commit. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_log.h"
#include "hm_meta_node.h"
#include "test_meta_util.h"

static char *dir;
static hm_env *env;

static void setup(void)
{
    dir = tmu_mkdtemp();
    env = tmu_env();
}

static void teardown(void)
{
    hm_env_posix_free(env);
    tmu_rmdir(dir);
}

static int call(hm_meta_api *api, Hm__MetaRequest *req, Hm__MetaResponse **resp)
{
    return hm_meta_call(api, req, resp);
}

static int create_bucket(hm_meta_api *api, const char *name)
{
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)name;
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.format_version = HM_FORMAT_VERSION;
    c.has_format_version = true;
    c.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    c.bucket_create = &bc;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_COMMAND;
    q.command = &c;
    Hm__MetaResponse *r = NULL;
    int rc = call(api, &q, &r);
    if (rc != 0)
        return rc;
    rc = r->err;
    hm__meta_response__free_unpacked(r, NULL);
    return rc;
}

/* Fill cmd (an ObjectPut of key in bkt) using the caller's storage. */
typedef struct put_cmd {
    uint8_t oid[16];
    Hm__ObjectVersion v;
    Hm__ObjectPut p;
    Hm__MetaCommand c;
    Hm__MetaRequest q;
} put_cmd;

static void put_init(put_cmd *pc, const char *key, uint32_t n)
{
    memset(pc->oid, 0, 16);
    memcpy(pc->oid, &n, sizeof n);
    hm__object_version__init(&pc->v);
    pc->v.has_object_id = true;
    pc->v.object_id.data = pc->oid;
    pc->v.object_id.len = 16;
    pc->v.etag = (char *)"etag";
    hm__object_put__init(&pc->p);
    pc->p.bucket = (char *)"bkt";
    pc->p.key = (char *)key;
    pc->p.version = &pc->v;
    hm__meta_command__init(&pc->c);
    pc->c.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    pc->c.object_put = &pc->p;
    hm__meta_request__init(&pc->q);
    pc->q.op_case = HM__META_REQUEST__OP_COMMAND;
    pc->q.command = &pc->c;
}

static int get_object(hm_meta_api *api, const char *key)
{
    Hm__ObjectGet g = HM__OBJECT_GET__INIT;
    g.bucket = (char *)"bkt";
    g.key = (char *)key;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_OBJECT_GET;
    q.object_get = &g;
    Hm__MetaResponse *r = NULL;
    int rc = call(api, &q, &r);
    if (rc != 0)
        return rc;
    rc = r->err;
    hm__meta_response__free_unpacked(r, NULL);
    return rc;
}

static size_t list_count(hm_meta_api *api)
{
    Hm__ObjectList l = HM__OBJECT_LIST__INIT;
    l.bucket = (char *)"bkt";
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_OBJECT_LIST;
    q.object_list = &l;
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(call(api, &q, &r), 0);
    ck_assert_int_eq(r->err, 0);
    size_t n = r->list->n_entries;
    hm__meta_response__free_unpacked(r, NULL);
    return n;
}

/* Through the local binding: commands apply and answer with their log
 * index; queries see them; state survives close and reopen. */
START_TEST(test_node_basic)
{
    hm_meta_node *node = NULL;
    hm_meta_api *api = NULL;
    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_int_eq(create_bucket(api, "bkt"), 0);
    ck_assert_int_eq(create_bucket(api, "bkt"), HM_EBUCKETEXISTS);
    put_cmd pc;
    put_init(&pc, "hello", 1);
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(call(api, &pc.q, &r), 0);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->log_index, 3);
    hm__meta_response__free_unpacked(r, NULL);
    ck_assert_int_eq(get_object(api, "hello"), 0);
    ck_assert_int_eq(get_object(api, "nope"), HM_ENOKEY);
    /* a request from an unknown format version is refused */
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.has_format_version = true;
    q.format_version = HM_FORMAT_VERSION_MAX + 1;
    ck_assert_int_eq(call(api, &q, &r), 0);
    ck_assert_int_eq(r->err, HM_EVERSION);
    hm__meta_response__free_unpacked(r, NULL);
    api->ops->free(api);
    hm_meta_node_close(node);

    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_int_eq(get_object(api, "hello"), 0);
    ck_assert_int_eq(create_bucket(api, "bkt"), HM_EBUCKETEXISTS);
    api->ops->free(api);
    hm_meta_node_close(node);
}
END_TEST

#define THREADS 8
#define PUTS 40

typedef struct worker {
    hm_meta_api *api;
    int id;
    uint64_t indexes[PUTS];
    int failures;
} worker;

static void *worker_fn(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PUTS; i++) {
        char key[32];
        snprintf(key, sizeof key, "t%d/k%03d", w->id, i);
        put_cmd pc;
        put_init(&pc, key, (uint32_t)(w->id * 1000 + i + 1));
        Hm__MetaResponse *r = NULL;
        if (hm_meta_call(w->api, &pc.q, &r) != 0) {
            w->failures++;
            continue;
        }
        if (r->err != 0)
            w->failures++;
        w->indexes[i] = r->log_index;
        hm__meta_response__free_unpacked(r, NULL);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The posix env with file syncs and durable KV commits counted, and each
 * file sync slowed by 2 ms, as a disk would: commands that arrive while a
 * batch is being made durable must share the next one. */
static atomic_uint syncs_file, syncs_kv;
static struct hm_env_ops count_ops;
static hm_env count_env;

static int count_sync(hm_file *f)
{
    atomic_fetch_add(&syncs_file, 1);
    env->ops->sleep_ms(env, 2);
    return env->ops->sync(f);
}

static int count_kv_commit(hm_kv_txn *txn, bool durable)
{
    if (durable) atomic_fetch_add(&syncs_kv, 1);
    return env->ops->kv_commit(txn, durable);
}

/* Commands from many threads at once are all applied, each at its own
 * log index, and all are visible afterwards and after a restart; and they
 * are group-committed: the THREADS * PUTS commands cost at most half
 * as many log syncs and durable state commits as there are commands (one
 * each per command would mean batching stopped). */
START_TEST(test_node_concurrent)
{
    hm_meta_node *node = NULL;
    hm_meta_api *api = NULL;
    count_ops = *env->ops;
    count_ops.sync = count_sync;
    count_ops.kv_commit = count_kv_commit;
    count_env.ops = &count_ops;
    count_env.impl = env->impl;
    ck_assert_int_eq(hm_meta_node_open(&node, &count_env, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_int_eq(create_bucket(api, "bkt"), 0);
    atomic_store(&syncs_file, 0);
    atomic_store(&syncs_kv, 0);
    static worker ws[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (worker){.api = api, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_fn, &ws[i]), 0);
    }
    static uint64_t all[THREADS * PUTS];
    size_t n = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(ws[i].failures, 0);
        for (int j = 0; j < PUTS; j++)
            all[n++] = ws[i].indexes[j];
    }
    qsort(all, n, sizeof all[0], cmp_u64);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(all[i], i + 2); /* index 1 created the bucket */
    unsigned fsyncs = atomic_load(&syncs_file), kvsyncs = atomic_load(&syncs_kv);
    ck_assert_uint_gt(fsyncs, 0);
    ck_assert_uint_gt(kvsyncs, 0);
    ck_assert_msg(fsyncs <= THREADS * PUTS / 2, "%u log syncs for %d commands", fsyncs,
                  THREADS * PUTS);
    ck_assert_msg(kvsyncs <= THREADS * PUTS / 2, "%u durable commits for %d commands",
                  kvsyncs, THREADS * PUTS);
    ck_assert_uint_eq(list_count(api), THREADS * PUTS);
    api->ops->free(api);
    hm_meta_node_close(node);

    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_uint_eq(list_count(api), THREADS * PUTS);
    api->ops->free(api);
    hm_meta_node_close(node);
}
END_TEST

/* An entry that reached the log but not LMDB (a crash between the two) is
 * applied on the next open. */
START_TEST(test_node_replay)
{
    hm_meta_node *node = NULL;
    hm_meta_api *api = NULL;
    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_int_eq(create_bucket(api, "bkt"), 0);
    api->ops->free(api);
    hm_meta_node_close(node);

    char logdir[600];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, logdir, 0), 0);
    uint64_t next = hm_meta_log_last_index(log) + 1;
    ck_assert_uint_eq(next, 2);
    put_cmd pc;
    put_init(&pc, "logged-only", 9);
    Hm__LogEntry e = HM__LOG_ENTRY__INIT;
    e.has_format_version = true;
    e.format_version = HM_FORMAT_VERSION;
    e.has_term = true;
    e.term = 1;
    e.has_index = true;
    e.index = next;
    e.command = &pc.c;
    uint8_t buf[512];
    size_t len = hm__log_entry__pack(&e, buf);
    hm_meta_log_rec rec = {.term = 1, .index = next, .payload = buf, .len = len};
    ck_assert_int_eq(hm_meta_log_append(log, &rec, 1), 0);
    hm_meta_log_close(log);

    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_int_eq(get_object(api, "logged-only"), 0);
    /* the next command continues after the replayed index */
    put_init(&pc, "after", 10);
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_meta_call(api, &pc.q, &r), 0);
    ck_assert_uint_eq(r->log_index, next + 1);
    hm__meta_response__free_unpacked(r, NULL);
    api->ops->free(api);
    hm_meta_node_close(node);
}
END_TEST

/* A logged entry that does not decode halts the open (HM_ECORRUPT)
 * instead of being skipped. */
START_TEST(test_node_replay_undecodable)
{
    hm_meta_node *node = NULL;
    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), 0);
    hm_meta_node_close(node);
    char logdir[600];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, logdir, 0), 0);
    const uint8_t junk[] = {0xFF, 0xFF, 0xFF, 0xFF};
    hm_meta_log_rec rec = {.term = 1, .index = 1, .payload = junk, .len = sizeof junk};
    ck_assert_int_eq(hm_meta_log_append(log, &rec, 1), 0);
    hm_meta_log_close(log);
    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), HM_ECORRUPT);
}
END_TEST

static void poison_case(bool fail_sync)
{
    hm_env *fenv = tmu_fault_env(env);
    hm_meta_node *node = NULL;
    hm_meta_api *api = NULL;
    ck_assert_int_eq(hm_meta_node_open(&node, fenv, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_int_eq(create_bucket(api, "bkt"), 0);
    atomic_store(fail_sync ? &tmu_fail_sync : &tmu_fail_commit, true);
    put_cmd pc;
    put_init(&pc, "doomed", 1);
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_meta_call(api, &pc.q, &r), HM_EIO);
    /* the fault is gone, but the node never retries */
    atomic_store(&tmu_fail_sync, false);
    atomic_store(&tmu_fail_commit, false);
    put_init(&pc, "later", 2);
    ck_assert_int_eq(hm_meta_call(api, &pc.q, &r), HM_EPOISONED);
    ck_assert_int_eq(get_object(api, "later"), HM_EPOISONED);
    api->ops->free(api);
    hm_meta_node_close(node);
    free(fenv);

    /* a restart recovers: the bucket is there, "later" never was */
    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_int_eq(create_bucket(api, "bkt"), HM_EBUCKETEXISTS);
    ck_assert_int_eq(get_object(api, "later"), HM_ENOKEY);
    api->ops->free(api);
    hm_meta_node_close(node);
}

/* A failed log sync poisons the node: that call fails, every later call
 * gets HM_EPOISONED. */
START_TEST(test_node_poison_sync)
{
    poison_case(true);
}
END_TEST

/* A failed LMDB commit poisons the node the same way; the command it held
 * is in the log and is replayed at the next open. */
START_TEST(test_node_poison_commit)
{
    poison_case(false);
    hm_meta_node *node = NULL;
    hm_meta_api *api = NULL;
    ck_assert_int_eq(hm_meta_node_open(&node, env, dir), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&api, node), 0);
    ck_assert_int_eq(get_object(api, "doomed"), 0);
    api->ops->free(api);
    hm_meta_node_close(node);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_node");
    TCase *tc = tcase_create("node");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_node_basic);
    tcase_add_test(tc, test_node_concurrent);
    tcase_add_test(tc, test_node_replay);
    tcase_add_test(tc, test_node_replay_undecodable);
    tcase_add_test(tc, test_node_poison_sync);
    tcase_add_test(tc, test_node_poison_commit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
