/* test_sim_crash.c - crash loops over the simulated disk: each durable
 * structure, written through the real code, survives a power loss at every
 * point of its writing.
 *
 * Each test runs a seeded workload on a fresh sim world with a planned
 * crash point n (sim_world_freeze_after), for n = 1, 2, ... until the
 * workload finishes first; the power then goes (mostly the torn mode: any
 * subset of unsynced sectors and directory changes lands), the structure
 * is opened again and checked against what the workload was told was done:
 * every acknowledged write is there, every acknowledged removal stays
 * gone, and opening never fails.  A second life runs on the recovered
 * state and ends with another power loss, so a recovery that left its own
 * repair unsynced is caught too.  The checks look only at behaviour
 * (reopen, read), never at which syncs were made, so they hold however the
 * code batches its syncs.  tests/mutation/sync-mutation.sh relies on these
 * loops to show that every sync in the code is needed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_disk_util.h"
#include "hm_cluster.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_log.h"
#include "hm_meta_node.h"
#include "hm_objsvc.h"
#include "hm_recover.h"
#include "hm_shard_store.h"
#include "sim_env.h"

#define CRASH_SEEDS 6u
#define CRASH_POINTS_MAX 5000u /* a loop that never finishes is a bug here */

static enum sim_crash_mode crash_mode(uint64_t n)
{
    return n % 5 == 0 ? SIM_CRASH_CLEAN : SIM_CRASH_TORN;
}

static sim_world *world_new(uint64_t seed)
{
    sim_world *w = NULL;
    ck_assert_int_eq(sim_world_new(&w, seed), 0);
    return w;
}

/* mkdir -p path in the sim world, every level made durable. */
static void mkdir_durable(hm_env *env, const char *path)
{
    char buf[512];
    ck_assert_uint_lt(strlen(path), sizeof buf);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        int rc = env->ops->mkdir(env, buf);
        ck_assert(rc == 0 || rc == HM_EEXIST);
        char *slash = strrchr(buf, '/');
        if (slash == buf) {
            ck_assert_int_eq(env->ops->sync_dir(env, "/"), 0);
        } else {
            *slash = '\0';
            ck_assert_int_eq(env->ops->sync_dir(env, buf), 0);
            *slash = '/';
        }
        *p = c;
        if (c == '\0') break;
    }
}

/* ---- the metadata log ----------------------------------------------------- */

#define LOG_DIR "/m/log"
#define LOG_SEG_BYTES 600u
#define LOG_INDEX_MAX 4096u

typedef struct log_model {
    uint64_t acked;     /* highest index an append returned 0 for */
    uint64_t compacted; /* highest upto a compaction returned 0 for */
    uint32_t tag[LOG_INDEX_MAX]; /* payload of each index as last written */
    bool hs_saved;
    hm_meta_hardstate hs_acked, hs_inflight;
    uint64_t hs_next;
} log_model;

/* Payload of a record: its tag, repeated to a length the tag decides. */
static size_t log_payload(uint32_t tag, uint8_t *buf)
{
    size_t len = 8 + tag % 180;
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(tag >> (8 * (i % 4)));
    return len;
}

static uint64_t log_term(uint64_t index) { return 1 + index / 16; }

/* Run rounds of appends (1-4 records), compactions and hard state saves;
 * false when the disk froze under it (the crash point). */
static bool log_workload(hm_meta_log *log, log_model *m, sim_rng *g, int rounds)
{
    static uint8_t bufs[4][200];
    for (int r = 0; r < rounds; r++) {
        uint64_t op = sim_rng_below(g, 10);
        if (op < 7) {
            hm_meta_log_rec recs[4];
            size_t n = 1 + (size_t)sim_rng_below(g, 4);
            uint64_t first = hm_meta_log_last_index(log) + 1;
            ck_assert_uint_lt(first + n, LOG_INDEX_MAX);
            for (size_t i = 0; i < n; i++) {
                uint32_t tag = (uint32_t)sim_rng_next(g);
                m->tag[first + i] = tag;
                recs[i] = (hm_meta_log_rec){.term = log_term(first + i), .index = first + i,
                                            .payload = bufs[i], .len = log_payload(tag, bufs[i])};
            }
            if (hm_meta_log_append(log, recs, n) != 0) return false;
            m->acked = first + n - 1;
        } else if (op < 8) {
            /* Compacting says the records up to upto are no longer
             * needed: from the call on, they may go. */
            uint64_t upto = m->acked > 2 ? m->acked - sim_rng_below(g, 3) : 0;
            if (upto > m->compacted) m->compacted = upto;
            if (hm_meta_log_compact(log, upto) != 0) return false;
        } else {
            hm_meta_hardstate hs = {.term = ++m->hs_next, .vote = m->hs_next % 3,
                                    .commit = m->acked};
            m->hs_inflight = hs;
            if (hm_meta_log_hardstate_save(log, &hs) != 0) return false;
            m->hs_acked = hs;
            m->hs_saved = true;
        }
    }
    return true;
}

typedef struct log_walk {
    log_model *m;
    uint64_t next;
} log_walk;

static int log_check_fn(void *arg, const hm_meta_log_rec *rec)
{
    log_walk *lw = arg;
    uint8_t want[200];
    ck_assert_uint_eq(rec->index, lw->next);
    ck_assert_uint_lt(rec->index, LOG_INDEX_MAX);
    size_t len = log_payload(lw->m->tag[rec->index], want);
    ck_assert_msg(rec->len == len && memcmp(rec->payload, want, len) == 0,
                  "record %llu is not what was written", (unsigned long long)rec->index);
    ck_assert_uint_eq(rec->term, log_term(rec->index));
    lw->next++;
    return 0;
}

/* Open the log as the node would (its acknowledged index stated), check
 * it against the model, and adopt what survived beyond it (it is durable
 * now).  Returns the open log. */
static hm_meta_log *log_recover(hm_env *env, log_model *m)
{
    hm_meta_log *log = NULL;
    hm_meta_log_opts o = {.segment_bytes = LOG_SEG_BYTES, .durable_index = m->acked};
    int rc = hm_meta_log_open_opts(&log, env, LOG_DIR, &o);
    ck_assert_msg(rc == 0, "log open after a crash failed: %s", hm_err_name(rc));
    uint64_t first = hm_meta_log_first_index(log), last = hm_meta_log_last_index(log);
    if (m->acked > 0) {
        ck_assert_msg(last >= m->acked, "acknowledged record %llu lost (log ends at %llu)",
                      (unsigned long long)m->acked, (unsigned long long)last);
        ck_assert_msg(first <= m->compacted + 1,
                      "records after the compaction point %llu lost (log starts at %llu)",
                      (unsigned long long)m->compacted, (unsigned long long)first);
    }
    if (last >= first && last > 0) {
        log_walk lw = {.m = m, .next = first};
        ck_assert_int_eq(hm_meta_log_iterate(log, first, log_check_fn, &lw), 0);
        ck_assert_uint_eq(lw.next, last + 1);
    }
    m->acked = last;
    hm_meta_hardstate hs;
    ck_assert_int_eq(hm_meta_log_hardstate_load(log, &hs), 0);
    if (m->hs_saved) {
        bool acked = memcmp(&hs, &m->hs_acked, sizeof hs) == 0;
        bool inflight = memcmp(&hs, &m->hs_inflight, sizeof hs) == 0;
        ck_assert_msg(acked || inflight, "hard state term %llu, saved %llu",
                      (unsigned long long)hs.term, (unsigned long long)m->hs_acked.term);
        m->hs_acked = hs;
    }
    return log;
}

/* The metadata log never loses an acknowledged record, a record above the
 * compaction point or a saved hard state, and always opens, whatever a
 * power loss at any point of appends, segment rolls, compactions, hard
 * state saves and its own recovery leaves on the disk. */
START_TEST(test_crash_meta_log)
{
    static log_model m;
    for (uint64_t seed = 1; seed <= CRASH_SEEDS; seed++) {
        for (uint64_t n = 1;; n++) {
            ck_assert_uint_lt(n, CRASH_POINTS_MAX);
            sim_world *w = world_new(seed * 1000003 + n);
            hm_env *env = sim_world_env(w);
            mkdir_durable(env, "/m");
            memset(&m, 0, sizeof m);
            sim_rng g;
            sim_rng_seed(&g, seed, 7);
            hm_meta_log *log = NULL;
            hm_meta_log_opts o = {.segment_bytes = LOG_SEG_BYTES};
            ck_assert_int_eq(hm_meta_log_open_opts(&log, env, LOG_DIR, &o), 0);
            sim_world_freeze_after(w, n);
            bool done = log_workload(log, &m, &g, 40);
            hm_meta_log_close(log);
            sim_world_crash(w, crash_mode(n));
            log = log_recover(env, &m);
            /* Second life: go on from what survived, then lose power. */
            ck_assert(log_workload(log, &m, &g, 12));
            hm_meta_log_close(log);
            sim_world_crash(w, SIM_CRASH_TORN);
            hm_meta_log_close(log_recover(env, &m));
            sim_world_free(w);
            if (done) break;
        }
    }
}
END_TEST

/* What open reports is durable: a batch (or a new segment) whose sync
 * failed stays visible to the next open after the process dies (the page
 * cache outlives it), and the node replays and answers from what that open
 * reports, so a power loss after it must not take any of it away.  For
 * every file sync and every directory sync of the workload in turn: fail
 * it, kill the process, open (adopting what it shows), lose power with
 * every unsynced change (clean mode: nothing unsynced survives), open
 * again. */
START_TEST(test_crash_meta_log_open_syncs)
{
    static log_model m;
    static const enum sim_fault_op ops[] = {SIM_FAULT_SYNC, SIM_FAULT_SYNC_DIR};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (uint64_t seed = 1; seed <= CRASH_SEEDS; seed++) {
            for (uint32_t nth = 1;; nth++) {
                ck_assert_uint_lt(nth, CRASH_POINTS_MAX);
                sim_world *w = world_new(seed * 7919 + nth);
                hm_env *env = sim_world_env(w);
                mkdir_durable(env, "/m");
                memset(&m, 0, sizeof m);
                sim_rng g;
                sim_rng_seed(&g, seed, 11);
                hm_meta_log *log = NULL;
                hm_meta_log_opts lo = {.segment_bytes = LOG_SEG_BYTES};
                ck_assert_int_eq(hm_meta_log_open_opts(&log, env, LOG_DIR, &lo), 0);
                sim_fault_countdown(w, ops[o], LOG_DIR, nth, HM_EIO);
                (void)log_workload(log, &m, &g, 40);
                bool fired = sim_fault_fired(w) > 0;
                hm_meta_log_close(log);
                sim_world_thaw(w); /* the process died; its page cache did not */
                hm_meta_log_close(log_recover(env, &m));
                sim_world_crash(w, SIM_CRASH_CLEAN);
                hm_meta_log_close(log_recover(env, &m));
                sim_world_free(w);
                if (!fired) break;
            }
        }
    }
}
END_TEST

/* ---- the shard store ------------------------------------------------------- */

#define STORE_SLOTS 8
#define STORE_DATA_MAX (2 * HM_SHARD_BLOCK_BYTES + 100)

/* One shard id: what it durably holds (present with fill/len, or absent),
 * and while a put or delete is in flight, what it may hold instead. */
typedef struct store_slot {
    uint8_t id[HM_BLOB_ID_BYTES];
    bool used;
    bool present;
    uint32_t fill, len;
    bool inflight;
    bool new_present;
    uint32_t new_fill, new_len;
} store_slot;

typedef struct store_model {
    store_slot slot[STORE_SLOTS];
} store_model;

static void store_data(uint32_t fill, uint32_t len, uint8_t *buf)
{
    for (uint32_t i = 0; i < len; i++) buf[i] = (uint8_t)(fill * 31 + i * 7);
}

static void store_header(Hm__ShardHeader *h, uint8_t *id)
{
    hm__shard_header__init(h);
    h->has_blob_id = true;
    h->blob_id.data = id;
    h->blob_id.len = HM_BLOB_ID_BYTES;
    h->has_shard_index = true;
    h->shard_index = 0;
    h->has_k = true;
    h->k = 1;
    h->has_m = true;
    h->m = 0;
    h->bucket = "b";
    h->key = "k";
}

static int store_put(hm_shard_store *s, uint8_t *id, uint32_t fill, uint32_t len)
{
    static uint8_t buf[STORE_DATA_MAX];
    Hm__ShardHeader h;
    store_header(&h, id);
    hm_shard_store_put *p = NULL;
    int rc = hm_shard_store_put_open(s, &h, &p);
    if (rc != 0) return rc;
    store_data(fill, len, buf);
    rc = hm_shard_store_put_write(p, buf, len);
    if (rc != 0) {
        hm_shard_store_put_abort(p);
        return rc;
    }
    return hm_shard_store_put_commit(p, NULL, NULL);
}

/* Puts of new shards (new fan-out directories mostly), overwrites and
 * deletes; false when the disk froze. */
static bool store_workload(hm_shard_store *s, store_model *m, sim_rng *g, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        store_slot *sl = &m->slot[sim_rng_below(g, STORE_SLOTS)];
        if (!sl->used) {
            sim_rng_fill(g, sl->id, HM_BLOB_ID_BYTES);
            sl->used = true;
        }
        sl->inflight = true;
        if (sl->present && sim_rng_chance(g, 300)) {
            sl->new_present = false;
            if (hm_shard_store_delete(s, sl->id, 0) != 0) return false;
        } else {
            sl->new_present = true;
            sl->new_fill = (uint32_t)sim_rng_next(g);
            sl->new_len = (uint32_t)sim_rng_below(g, STORE_DATA_MAX + 1);
            if (store_put(s, sl->id, sl->new_fill, sl->new_len) != 0) return false;
        }
        sl->inflight = false;
        sl->present = sl->new_present;
        sl->fill = sl->new_fill;
        sl->len = sl->new_len;
    }
    return true;
}

/* Read a shard whole into got (*len bytes): 0, or the error. */
static int store_read(hm_shard_store *s, const uint8_t *id, uint8_t *got, size_t *len)
{
    hm_shard_store_get *gt = NULL;
    uint64_t total = 0;
    int rc = hm_shard_store_get_open(s, id, 0, 0, UINT64_MAX, &gt, &total, NULL);
    if (rc != 0) return rc;
    size_t have = 0;
    for (;;) {
        size_t n = 0;
        rc = hm_shard_store_get_read(gt, got + have, STORE_DATA_MAX - have, &n);
        if (rc != 0 || n == 0) break;
        have += n;
    }
    hm_shard_store_get_close(gt);
    if (rc == 0 && have != total) rc = HM_ECORRUPT;
    *len = have;
    return rc;
}

static bool store_same(const uint8_t *got, size_t len, uint32_t fill, uint32_t want_len)
{
    static uint8_t want[STORE_DATA_MAX];
    if (len != want_len) return false;
    store_data(fill, want_len, want);
    return memcmp(got, want, len) == 0;
}

/* Open the store after a crash and hold it to the model: each shard holds
 * its durable state, or the one its operation in flight would give. */
static hm_shard_store *store_recover(hm_env *env, const char *dir, store_model *m)
{
    static uint8_t got[STORE_DATA_MAX];
    hm_shard_store *s = NULL;
    int rc = test_store_open(&s, env, dir);
    ck_assert_msg(rc == 0, "store open after a crash failed: %s", hm_err_name(rc));
    for (int i = 0; i < STORE_SLOTS; i++) {
        store_slot *sl = &m->slot[i];
        if (!sl->used) continue;
        size_t len = 0;
        rc = store_read(s, sl->id, got, &len);
        ck_assert_msg(rc == 0 || rc == HM_ENOENT, "shard %d unreadable after a crash: %s", i,
                      hm_err_name(rc));
        bool old_ok = rc == 0 ? sl->present && store_same(got, len, sl->fill, sl->len)
                              : !sl->present;
        bool new_ok = sl->inflight && (rc == 0 ? sl->new_present &&
                                                     store_same(got, len, sl->new_fill, sl->new_len)
                                               : !sl->new_present);
        ck_assert_msg(old_ok || new_ok, "shard %d after a crash: %s, acknowledged %s", i,
                      rc == 0 ? "present" : "absent", sl->present ? "present" : "absent");
        if (new_ok && !old_ok) {
            sl->present = sl->new_present;
            sl->fill = sl->new_fill;
            sl->len = sl->new_len;
        }
        sl->inflight = false;
    }
    return s;
}

static int tmp_name_fn(void *arg, const char *name, bool is_dir)
{
    if (!is_dir) (*(int *)arg)++;
    (void)name;
    return 0;
}

/* Leave an unfinished upload in the store's tmp/ whose entry reached the
 * disk (a crash mid-put can leave that); the next open removes it, and a
 * power loss right after must not bring it back. */
static void store_leftover_removed(hm_env *env, sim_world *w, hm_shard_store *s,
                                   const char *dir, sim_rng *g)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    sim_rng_fill(g, id, sizeof id);
    Hm__ShardHeader h;
    store_header(&h, id);
    hm_shard_store_put *p = NULL;
    ck_assert_int_eq(hm_shard_store_put_open(s, &h, &p), 0);
    ck_assert_int_eq(hm_shard_store_put_write(p, "left", 4), 0);
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    ck_assert_int_eq(env->ops->sync_dir(env, tmp), 0);
    int before = 0;
    ck_assert_int_eq(env->ops->list_dir(env, tmp, tmp_name_fn, &before), 0);
    ck_assert_int_ge(before, 1);
    sim_world_freeze(w);
    hm_shard_store_put_abort(p);
    hm_shard_store_close(s);
    sim_world_thaw(w); /* the process died; the page cache kept everything */
    ck_assert_int_eq(test_store_open(&s, env, dir), 0);
    hm_shard_store_close(s);
    sim_world_crash(w, SIM_CRASH_TORN);
    int after = 0;
    int rc = env->ops->list_dir(env, tmp, tmp_name_fn, &after);
    ck_assert_msg(rc == 0, "the store's tmp/ is gone after a power loss: %s", hm_err_name(rc));
    ck_assert_msg(after == 0, "%d unfinished upload(s) that open removed are back after a "
                  "power loss", after);
}

/* A shard store created on a fresh disk (under a durable parent, and at a
 * relative path), with puts, overwrites and deletes, keeps every
 * acknowledged shard whole and every acknowledged delete gone across a
 * power loss at any point, including in the middle of its own creation;
 * unfinished uploads removed by open stay removed. */
START_TEST(test_crash_shard_store)
{
    static store_model m;
    static const char *const dirs[] = {"/disks/d0", "d1"};
    for (uint64_t seed = 1; seed <= CRASH_SEEDS; seed++) {
        const char *dir = dirs[seed % 2];
        for (uint64_t n = 1;; n++) {
            ck_assert_uint_lt(n, CRASH_POINTS_MAX);
            sim_world *w = world_new(seed * 7919 + n);
            hm_env *env = sim_world_env(w);
            mkdir_durable(env, "/disks");
            memset(&m, 0, sizeof m);
            sim_rng g;
            sim_rng_seed(&g, seed, 11);
            sim_world_freeze_after(w, n);
            hm_shard_store *s = NULL;
            bool done = test_store_open(&s, env, dir) == 0 && store_workload(s, &m, &g, 10);
            hm_shard_store_close(s);
            sim_world_crash(w, crash_mode(n));
            s = store_recover(env, dir, &m);
            ck_assert(store_workload(s, &m, &g, 4));
            store_leftover_removed(env, w, s, dir, &g);
            hm_shard_store_close(store_recover(env, dir, &m));
            sim_world_free(w);
            if (done) break;
        }
    }
}
END_TEST

/* ---- cluster initialisation ------------------------------------------------- */

/* A data directory initialised by hm_cluster_init, whose default disk then
 * stores a shard, keeps both across a power loss at any point: the
 * identity reads back (or the directory is still uninitialised and a new
 * init works), and the shard written after init returned is there.  The
 * certificates are written by OpenSSL to a real directory of the same
 * path; the simulated disk holds everything else. */
START_TEST(test_crash_cluster_init)
{
    for (uint64_t n = 1;; n++) {
        ck_assert_uint_lt(n, CRASH_POINTS_MAX);
        char real[] = "/tmp/hm_crash_XXXXXX";
        ck_assert_ptr_nonnull(mkdtemp(real));
        char tls[64], disk[64];
        snprintf(tls, sizeof tls, "%s/tls", real);
        snprintf(disk, sizeof disk, "%s/disks/disk0", real);
        ck_assert_int_eq(mkdir(tls, 0700), 0);
        sim_world *w = world_new(0xC1u + n);
        hm_env *env = sim_world_env(w);
        mkdir_durable(env, real);
        static store_model m;
        memset(&m, 0, sizeof m);
        sim_rng g;
        sim_rng_seed(&g, n, 13);
        sim_world_freeze_after(w, n);
        bool created = false;
        bool inited = hm_cluster_init(env, real, "node1", "127.0.0.1:7000", "root-id", "secret",
                                      &created) == 0;
        hm_shard_store *s = NULL;
        bool done = inited && test_store_open(&s, env, disk) == 0 &&
                    store_workload(s, &m, &g, 2);
        hm_shard_store_close(s);
        sim_world_crash(w, crash_mode(n));
        int rc = hm_cluster_check(env, real, "root-id", "secret", NULL);
        if (inited)
            ck_assert_msg(rc == 0, "cluster identity lost after a crash: %s", hm_err_name(rc));
        else
            ck_assert(rc == 0 || rc == HM_ENOENT);
        ck_assert_int_eq(hm_cluster_init(env, real, "node1", "127.0.0.1:7000", "root-id", "secret",
                                         &created), 0);
        hm_shard_store_close(store_recover(env, disk, &m));
        sim_world_free(w);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", real);
        ck_assert_int_eq(system(cmd), 0);
        if (done) break;
    }
}
END_TEST

/* ---- recover: the rebuilt metadata renamed into place ----------------------- */

#define RCV_DATA "/d"
#define RCV_DISK "/d/disks/disk0"
#define RCV_META "/d/meta"
#define RCV_BUILD "/d/meta.recovering"
#define RCV_OBJECTS 3

static size_t rcv_size(int i) { return HM_INLINE_BYTES_MAX + 1 + (size_t)i * 3000; }

static void rcv_data(int i, uint8_t *buf, size_t n)
{
    for (size_t j = 0; j < n; j++) buf[j] = (uint8_t)(i * 57 + j * 13 + (j >> 8));
}

static hm_objsvc *rcv_service(hm_env *env, hm_meta_api *meta, hm_shard_api **shard)
{
    hm_objsvc *svc = NULL;
    hm_objsvc_config cfg = {.env = env, .meta = meta, .shards = shard, .shard_count = 1,
                            .serial_shards = true, .gc_grace_ms = 0,
                            .intent_ttl_ms = HM_INTENT_TTL_MS};
    ck_assert_int_eq(hm_objsvc_new(&svc, &cfg), 0);
    return svc;
}

/* Open a metadata node at RCV_META over the disk and PUT the objects
 * k0.. (none inline); *acked counts the PUTs that returned.  False when
 * the disk froze first (the crash point). */
static bool rcv_write(hm_env *env, int *acked)
{
    static uint8_t buf[HM_INLINE_BYTES_MAX + 1 + RCV_OBJECTS * 3000];
    *acked = 0;
    hm_shard_store *store = NULL;
    int rc = hm_shard_store_open(&store, env, RCV_DISK);
    if (rc != 0) return false;
    hm_shard_api *shard = NULL;
    ck_assert_int_eq(hm_shard_api_local_new(&shard, store), 0);
    hm_meta_node *node = NULL;
    hm_meta_api *meta = NULL;
    hm_objsvc *svc = NULL;
    rc = hm_meta_node_open(&node, env, RCV_META);
    if (rc == 0) {
        ck_assert_int_eq(hm_meta_api_local_new(&meta, node), 0);
        svc = rcv_service(env, meta, &shard);
        rc = hm_objsvc_bucket_create(svc, "t", "bkt", "us-east-1", "AK");
    }
    for (int i = 0; rc == 0 && i < RCV_OBJECTS; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        size_t n = rcv_size(i);
        rcv_data(i, buf, n);
        hm_objsvc_put_args a = {.bucket = "bkt", .key = key, .size = n,
                                .content_type = "application/x-test"};
        hm_objsvc_put *p = NULL;
        char etag[HM_OBJSVC_ETAG_HEX_BYTES + 1];
        rc = hm_objsvc_put_begin(svc, "t", &a, &p);
        if (rc == 0) rc = hm_objsvc_put_write(p, buf, n);
        if (rc == 0) rc = hm_objsvc_put_finish(p, etag, NULL);
        else if (p != NULL) hm_objsvc_put_abort(p);
        if (rc == 0) (*acked)++;
    }
    if (svc != NULL) hm_objsvc_free(svc);
    if (meta != NULL) meta->ops->free(meta);
    if (node != NULL) hm_meta_node_close(node);
    shard->ops->free(shard);
    hm_shard_store_close(store);
    return rc == 0;
}

/* A data directory whose disk holds RCV_OBJECTS objects (none inline) and
 * whose meta directory is gone, durably: what recover starts from. */
static void rcv_setup(hm_env *env, sim_world *w)
{
    mkdir_durable(env, RCV_DATA "/disks");
    hm_shard_store *store = NULL;
    ck_assert_int_eq(test_store_open(&store, env, RCV_DISK), 0);
    hm_shard_store_close(store);
    int acked = 0;
    ck_assert(rcv_write(env, &acked));
    ck_assert_int_eq(sim_world_remove_tree(w, RCV_META, false), 0);
}

/* Run recover over the disk; 0 or its error. */
static int rcv_run(hm_env *env)
{
    hm_shard_store *store = NULL;
    int rc = hm_shard_store_open(&store, env, RCV_DISK);
    if (rc != 0) return rc;
    FILE *report = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(report);
    hm_recover_stats st;
    rc = hm_recover_into(env, RCV_DATA, &store, 1, "AK", "us-east-1", report, &st);
    if (rc == 0) ck_assert_uint_eq(st.objects, RCV_OBJECTS);
    fclose(report);
    hm_shard_store_close(store);
    return rc;
}

/* After a power loss: RCV_META is absent, or it opens and serves the
 * first count objects whole.  Returns whether it is there. */
static bool rcv_check(hm_env *env, int count)
{
    static uint8_t want[HM_INLINE_BYTES_MAX + 1 + RCV_OBJECTS * 3000];
    static uint8_t got[sizeof want + 1];
    bool is_dir = false;
    if (env->ops->exists(env, RCV_META, &is_dir) != 0) return false;
    hm_shard_store *store = NULL;
    ck_assert_int_eq(hm_shard_store_open(&store, env, RCV_DISK), 0);
    hm_shard_api *shard = NULL;
    ck_assert_int_eq(hm_shard_api_local_new(&shard, store), 0);
    hm_meta_node *node = NULL;
    int rc = hm_meta_node_open(&node, env, RCV_META);
    ck_assert_msg(rc == 0, "the recovered meta directory does not open after a power loss: %s",
                  hm_err_name(rc));
    hm_meta_api *meta = NULL;
    ck_assert_int_eq(hm_meta_api_local_new(&meta, node), 0);
    hm_objsvc *svc = rcv_service(env, meta, &shard);
    for (int i = 0; i < count; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        hm_objsvc_get *g = NULL;
        rc = hm_objsvc_get_open(svc, "t", "bkt", key, &g);
        ck_assert_msg(rc == 0, "%s of the recovered metadata is missing after a power loss: %s",
                      key, hm_err_name(rc));
        size_t n = 0;
        for (;;) {
            size_t k = 0;
            ck_assert_int_eq(hm_objsvc_get_read(g, got + n, sizeof got - n, &k), 0);
            if (k == 0) break;
            n += k;
        }
        hm_objsvc_get_close(g);
        rcv_data(i, want, rcv_size(i));
        ck_assert_msg(n == rcv_size(i) && memcmp(got, want, n) == 0,
                      "%s reads back other bytes after recover and a power loss", key);
    }
    hm_objsvc_free(svc);
    meta->ops->free(meta);
    hm_meta_node_close(node);
    shard->ops->free(shard);
    hm_shard_store_close(store);
    return true;
}

/* A metadata node created on a fresh data directory keeps every command it
 * answered across a power loss at any point, its own creation included:
 * the new meta directory's entry is made durable in its parent. */
START_TEST(test_crash_meta_node_create)
{
    for (uint64_t seed = 1; seed <= 2; seed++) {
        for (uint64_t n = 1;; n++) {
            ck_assert_uint_lt(n, CRASH_POINTS_MAX);
            sim_world *w = world_new(seed * 15485863 + n);
            hm_env *env = sim_world_env(w);
            mkdir_durable(env, RCV_DATA "/disks");
            hm_shard_store *store = NULL;
            ck_assert_int_eq(test_store_open(&store, env, RCV_DISK), 0);
            hm_shard_store_close(store);
            sim_world_freeze_after(w, n);
            int acked = 0;
            bool done = rcv_write(env, &acked);
            sim_world_crash(w, seed == 1 ? SIM_CRASH_CLEAN : crash_mode(n));
            bool there = rcv_check(env, acked);
            ck_assert_msg(there || acked == 0, "%d acknowledged PUT(s) lost with the meta "
                          "directory (crash point %llu)", acked, (unsigned long long)n);
            sim_world_free(w);
            if (done) break;
        }
    }
}
END_TEST

/* `recover -from-shards` builds the metadata beside and renames it into
 * place: a power loss at any point leaves the meta directory absent (the
 * rebuild can be run again) or complete, never partial, and once recover
 * returned it is there for good. */
START_TEST(test_crash_recover_into)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        for (uint64_t n = 1;; n++) {
            ck_assert_uint_lt(n, CRASH_POINTS_MAX);
            sim_world *w = world_new(seed * 104729 + n);
            hm_env *env = sim_world_env(w);
            rcv_setup(env, w);
            sim_world_freeze_after(w, n);
            bool done = rcv_run(env) == 0;
            /* A returned recover is told apart from one cut short by the
             * crash point only by its result: every mode, clean included. */
            sim_world_crash(w, seed == 1 ? SIM_CRASH_CLEAN : crash_mode(n));
            bool there = rcv_check(env, RCV_OBJECTS);
            ck_assert_msg(there || !done, "recover returned, then a power loss took the meta "
                          "directory (crash point %llu)", (unsigned long long)n);
            if (!there) {
                /* The operator removes what the cut rebuild left and runs
                 * recover again; that one must stick. */
                bool is_dir = false;
                if (env->ops->exists(env, RCV_BUILD, &is_dir) == 0)
                    ck_assert_int_eq(sim_world_remove_tree(w, RCV_BUILD, false), 0);
                ck_assert_int_eq(rcv_run(env), 0);
                sim_world_crash(w, SIM_CRASH_TORN);
                ck_assert_msg(rcv_check(env, RCV_OBJECTS), "a second recover returned, then a power loss "
                              "took the meta directory (crash point %llu)",
                              (unsigned long long)n);
            }
            sim_world_free(w);
            if (done) break;
        }
    }
}
END_TEST

/* ---- the LMDB binding, on a real file system ------------------------------- */

/* A posix env that remembers which directories were synced, so the test
 * can play the part of a power loss for a directory it knows is new: an
 * entry whose parent was not synced after it was made is gone. */
typedef struct crash_posix {
    hm_env env;
    hm_env *real;
    struct hm_env_ops ops;
    char watch[256];  /* the parent directory of interest */
    bool watch_synced;
} crash_posix;

static crash_posix *crash_posix_of(hm_env *env) { return (crash_posix *)env; }

static int crash_posix_sync_dir(hm_env *env, const char *path)
{
    crash_posix *c = crash_posix_of(env);
    int rc = c->real->ops->sync_dir(c->real, path);
    if (rc == 0 && strcmp(path, c->watch) == 0) c->watch_synced = true;
    return rc;
}

/* The LMDB store's directory, created by kv_open, survives a power loss
 * with what was committed durably in it: its parent is synced after the
 * directory is made.  (The store's own files are LMDB's; the directory
 * entry is the binding's.) */
START_TEST(test_crash_kv_lmdb_dir)
{
    char root[] = "/tmp/hm_crash_kv_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    static crash_posix c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(hm_env_posix_new(&c.real), 0);
    c.ops = *c.real->ops;
    c.ops.sync_dir = crash_posix_sync_dir;
    c.env.ops = &c.ops;
    c.env.impl = c.real->impl;
    snprintf(c.watch, sizeof c.watch, "%s", root);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/kv", root);

    hm_env *env = &c.env;
    hm_kv *kv = NULL;
    ck_assert_int_eq(env->ops->kv_open(env, dir, &kv), 0);
    hm_kv_txn *t = NULL;
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(env->ops->kv_put(t, HM_KV_SYS, "k", 1, "durable", 7), 0);
    ck_assert_int_eq(env->ops->kv_commit(t, true), 0);
    env->ops->kv_close(kv);
    /* The power goes: a directory entry nobody synced is lost. */
    char cmd[400];
    if (!c.watch_synced) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    ck_assert_int_eq(env->ops->kv_open(env, dir, &kv), 0);
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &t), 0);
    const void *v = NULL;
    size_t vlen = 0;
    int rc = env->ops->kv_get(t, HM_KV_SYS, "k", 1, &v, &vlen);
    ck_assert_msg(rc == 0, "a durable commit was lost with its directory: %s", hm_err_name(rc));
    ck_assert_uint_eq(vlen, 7);
    env->ops->kv_abort(t);
    env->ops->kv_close(kv);
    hm_env_posix_free(c.real);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_crash");
    TCase *tc = tcase_create("crash");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_crash_meta_log);
    tcase_add_test(tc, test_crash_meta_log_open_syncs);
    tcase_add_test(tc, test_crash_shard_store);
    tcase_add_test(tc, test_crash_cluster_init);
    tcase_add_test(tc, test_crash_meta_node_create);
    tcase_add_test(tc, test_crash_recover_into);
    tcase_add_test(tc, test_crash_kv_lmdb_dir);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
