/* hm_meta_node.c - a metadata node: log + state machine + group commit.
 *
 * Shaping decision: one commit thread owns the log and the LMDB write
 * transaction.  Callers queue commands and sleep; the thread takes up to
 * HM_META_BATCH_MAX of them, appends them with one sync, applies them in one
 * LMDB transaction (applied_index inside it), and only then wakes the
 * callers.  So a reply never leaves before its command is durable in the
 * log and visible in the state, and N concurrent writers cost the syncs of
 * one batch, not N.  Queries bypass the thread: they read an LMDB snapshot,
 * which only ever shows whole committed batches.
 *
 * The log is the durability point (docs/adr/0006-fsync-budget.md): a batch's
 * LMDB transaction is committed lazily (one data sync, no meta-page sync;
 * never MDB_NOSYNC), so a crash may roll the state back to its last durable
 * commit, and open replays the log from there.  That holds only while the
 * log keeps every entry past the durable applied index: every
 * durable_every-th batch (or the first after durable_ms) is committed
 * durably, and compaction never passes the index that commit applied.
 *
 * With one voter the commit index is the last durable log index, so the
 * hard state records only the term and vote (saved once, at first open);
 * Raft will own it.  A failed log sync or LMDB commit poisons the node: what
 * reached the disk is unknown, so it answers HM_EPOISONED from then on and
 * a restart replays the log.
 */
#include "hm_meta_node.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_err.h"
#include "hm_metrics.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_meta_log.h"
#include "hm_meta_sm.h"

#define NODE_PATH_BYTES 4096u
#define NODE_TERM 1u  /* one voter: the only term there is, until Raft */
#define NODE_SELF 1u  /* its own vote */

typedef struct node_waiter {
    const Hm__MetaCommand *cmd;
    Hm__MetaResponse *resp;
    int rc;
    bool done;
    pthread_cond_t cv;
    struct node_waiter *next;
} node_waiter;

struct hm_meta_node {
    hm_env *env;
    hm_kv *kv;
    hm_meta_log *log;
    hm_meta_node_opts opts;
    uint64_t next_index;   /* commit thread only, after open */
    /* Commit thread only, after open: the applied index the last durable
     * LMDB commit holds (what survives any crash), the lazy batches since,
     * and when it was made. */
    uint64_t durable_applied;
    uint32_t lazy_batches;
    int64_t durable_at_ms;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    node_waiter *head, *tail;
    size_t queued;         /* waiters in the queue; under mu */
    bool closing;
    bool poisoned;         /* under mu */
    bool thread_started;
    pthread_t thread;

    /* The committed clock (hm_meta_sm.h): the state machine's clock when
     * the node opened, advanced by the node's monotonic clock since. */
    pthread_mutex_t clock_mu;
    int64_t clock_base_ms;
    int64_t clock_mono_base_ms;
    int64_t clock_last_ms;
};

/* The committed clock now; never below a value it returned before. */
static int64_t node_clock(hm_meta_node *node)
{
    pthread_mutex_lock(&node->clock_mu);
    int64_t c = node->clock_base_ms + (hm_mono_ms(node->env) - node->clock_mono_base_ms);
    if (c < node->clock_last_ms)
        c = node->clock_last_ms;
    node->clock_last_ms = c;
    pthread_mutex_unlock(&node->clock_mu);
    return c;
}

static bool node_is_poisoned(hm_meta_node *node)
{
    pthread_mutex_lock(&node->mu);
    bool p = node->poisoned;
    pthread_mutex_unlock(&node->mu);
    return p;
}

static void node_poison(hm_meta_node *node, int rc, const char *what)
{
    hm_error("meta", NULL, "%s failed (%s): node poisoned, restart to recover", what,
             hm_err_name(rc));
    pthread_mutex_lock(&node->mu);
    node->poisoned = true;
    pthread_mutex_unlock(&node->mu);
}

/* ---- the commit thread -------------------------------------------------- */

/* Log, apply and answer one batch.  Each waiter's rc is set; on a failure
 * that poisons the node every waiter of the batch gets that failure. */
static void node_commit_batch(hm_meta_node *node, node_waiter **batch, size_t n)
{
    hm_meta_log_rec *recs = calloc(n, sizeof *recs);
    uint8_t **bufs = calloc(n, sizeof *bufs);
    node_waiter **live = calloc(n, sizeof *live);
    Hm__MetaCommand *cmds = calloc(n, sizeof *cmds); /* stamped copies */
    size_t n_live = 0;
    int rc = recs == NULL || bufs == NULL || live == NULL || cmds == NULL ? HM_ENOMEM : 0;
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            batch[i]->rc = rc;
        goto out;
    }
    if (node_is_poisoned(node)) {
        for (size_t i = 0; i < n; i++)
            batch[i]->rc = HM_EPOISONED;
        goto out;
    }

    /* Frame each command as a LogEntry; one too large to log is refused
     * alone and takes no index. */
    for (size_t i = 0; i < n; i++) {
        node_waiter *w = batch[i];
        Hm__LogEntry e = HM__LOG_ENTRY__INIT;
        e.has_format_version = true;
        e.format_version = HM_FORMAT_VERSION;
        e.has_term = true;
        e.term = NODE_TERM;
        e.has_index = true;
        e.index = node->next_index + n_live;
        /* The committed clock goes into the log with the command, so a
         * replay applies the same times; a client's own stamp is ignored. */
        cmds[n_live] = *w->cmd;
        cmds[n_live].has_clock_ms = true;
        cmds[n_live].clock_ms = node_clock(node);
        e.command = &cmds[n_live];
        size_t len = hm__log_entry__get_packed_size(&e);
        if (len > HM_META_LOG_RECORD_BYTES_MAX) {
            w->rc = HM_ETOOBIG;
            continue;
        }
        bufs[n_live] = malloc(len > 0 ? len : 1);
        if (bufs[n_live] == NULL) {
            w->rc = HM_ENOMEM;
            continue;
        }
        hm__log_entry__pack(&e, bufs[n_live]);
        recs[n_live] = (hm_meta_log_rec){.term = NODE_TERM, .index = e.index,
                                         .payload = bufs[n_live], .len = len};
        live[n_live++] = w;
    }
    if (n_live == 0)
        goto out;

    rc = hm_meta_log_append(node->log, recs, n_live);
    if (rc != 0) {
        node_poison(node, rc, "log append");
        goto fail;
    }
    node->next_index += n_live;

    hm_kv_txn *txn = NULL;
    rc = node->env->ops->kv_begin(node->kv, true, &txn);
    if (rc != 0) {
        node_poison(node, rc, "kv begin");
        goto fail;
    }
    for (size_t i = 0; i < n_live; i++) {
        rc = hm_meta_sm_apply(node->env, txn, recs[i].index, &cmds[i], live[i]->resp);
        if (rc != 0) {
            node->env->ops->kv_abort(txn);
            node_poison(node, rc, "apply");
            goto fail;
        }
    }
    int64_t now_ms = hm_mono_ms(node->env);
    bool durable = node->lazy_batches + 1 >= node->opts.durable_every ||
                   now_ms - node->durable_at_ms >= node->opts.durable_ms;
    rc = node->env->ops->kv_commit(txn, durable);
    if (rc != 0) {
        node_poison(node, rc, "kv commit");
        goto fail;
    }
    for (size_t i = 0; i < n_live; i++)
        live[i]->rc = 0;
    uint64_t applied = recs[n_live - 1].index;
    if (durable) {
        node->durable_applied = applied;
        node->lazy_batches = 0;
        node->durable_at_ms = now_ms;
    } else {
        node->lazy_batches++;
    }
    /* The log may forget only what a crash cannot take from the state. */
    if (durable || node->opts.plant_compact_past_durable) {
        uint64_t upto = node->opts.plant_compact_past_durable ? applied
                                                              : node->durable_applied;
        rc = hm_meta_log_compact(node->log, upto);
        if (rc != 0)
            hm_warn("meta", NULL, "log compaction failed (%s); retried later",
                    hm_err_name(rc));
    }
    goto out;
fail:
    for (size_t i = 0; i < n_live; i++)
        live[i]->rc = rc;
out:
    for (size_t i = 0; bufs != NULL && i < n_live; i++)
        free(bufs[i]);
    free(bufs);
    free(recs);
    free(live);
    free(cmds);
}

/* Group commit delay: when the last batch held several commands, writers
 * are arriving concurrently, so wait up to commit_delay_us (or until the
 * queue holds twice the last batch) before taking the next one: a batch's
 * syncs are then shared by more commands.  A lone writer never waits.
 * (Ending the wait after a short gap with no arrival was tried: under load
 * arrivals are often further apart than any useful gap, and the batches
 * stayed small.)  Called with mu held. */
static void node_gather(hm_meta_node *node, size_t last_n)
{
    if (last_n < 2 || node->opts.commit_delay_us <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (int64_t)node->opts.commit_delay_us * 1000;
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    while (!node->closing && node->queued < 2 * last_n && node->queued < HM_META_BATCH_MAX) {
        if (pthread_cond_timedwait(&node->work_cv, &node->mu, &ts) != 0)
            break; /* ETIMEDOUT */
    }
}

static void *node_thread(void *arg)
{
    hm_meta_node *node = arg;
    node_waiter **batch = malloc(HM_META_BATCH_MAX * sizeof *batch);
    size_t last_n = 0;
    pthread_mutex_lock(&node->mu);
    for (;;) {
        while (node->head == NULL && !node->closing)
            pthread_cond_wait(&node->work_cv, &node->mu);
        if (node->head == NULL)
            break; /* closing and drained */
        node_gather(node, last_n);
        size_t n = 0;
        while (node->head != NULL && n < HM_META_BATCH_MAX && batch != NULL) {
            batch[n++] = node->head;
            node->head = node->head->next;
            node->queued--;
        }
        last_n = n;
        if (node->head == NULL)
            node->tail = NULL;
        pthread_mutex_unlock(&node->mu);
        if (batch == NULL) {
            /* No memory for the batch array: fail the queue one by one. */
            pthread_mutex_lock(&node->mu);
            for (node_waiter *w = node->head; w != NULL; w = node->head) {
                node->head = w->next;
                node->queued--;
                w->rc = HM_ENOMEM;
                w->done = true;
                pthread_cond_signal(&w->cv);
            }
            node->tail = NULL;
            continue;
        }
        node_commit_batch(node, batch, n);
        hm_metrics_meta_batch(n);
        pthread_mutex_lock(&node->mu);
        for (size_t i = 0; i < n; i++) {
            batch[i]->done = true;
            pthread_cond_signal(&batch[i]->cv);
        }
    }
    pthread_mutex_unlock(&node->mu);
    free(batch);
    return NULL;
}

/* ---- open / replay / close ---------------------------------------------- */

typedef struct node_replay {
    hm_meta_node *node;
    hm_kv_txn *txn;
    size_t in_txn;
    uint64_t count;
} node_replay;

/* Re-apply one logged command the state machine has not seen.  A committed
 * entry that does not decode halts the node: skipping it would fork state. */
static int node_replay_fn(void *arg, const hm_meta_log_rec *rec)
{
    node_replay *r = arg;
    hm_env *env = r->node->env;
    Hm__LogEntry *e = hm__log_entry__unpack(NULL, rec->len, rec->payload);
    if (e == NULL) {
        hm_error("meta", NULL, "log entry %" PRIu64 " does not decode", rec->index);
        return HM_ECORRUPT;
    }
    int rc = 0;
    if (!e->has_format_version || e->format_version < HM_FORMAT_VERSION_MIN ||
        e->format_version > HM_FORMAT_VERSION_MAX) {
        hm_error("meta", NULL, "log entry %" PRIu64 " has format version %u", rec->index,
                 e->format_version);
        rc = HM_EVERSION;
        goto out;
    }
    if (e->command == NULL || e->index != rec->index) {
        rc = HM_ECORRUPT;
        goto out;
    }
    if (r->txn == NULL) {
        rc = env->ops->kv_begin(r->node->kv, true, &r->txn);
        if (rc != 0)
            goto out;
    }
    Hm__MetaResponse *resp = malloc(sizeof *resp);
    if (resp == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    hm__meta_response__init(resp);
    rc = hm_meta_sm_apply(env, r->txn, rec->index, e->command, resp);
    hm__meta_response__free_unpacked(resp, NULL);
    if (rc != 0)
        goto out;
    r->count++;
    if (++r->in_txn >= HM_META_BATCH_MAX) {
        hm_kv_txn *t = r->txn;
        r->txn = NULL;
        r->in_txn = 0;
        rc = env->ops->kv_commit(t, true);
    }
out:
    hm__log_entry__free_unpacked(e, NULL);
    return rc;
}

static int node_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? HM_ETOOBIG : 0;
}

/* mkdir dir if absent; a new directory's entry is made durable in its
 * parent. */
static int node_mkdir_durable(hm_env *env, const char *dir)
{
    int rc = env->ops->mkdir(env, dir);
    if (rc == HM_EEXIST)
        return 0;
    if (rc != 0)
        return rc;
    char parent[NODE_PATH_BYTES];
    size_t n = strlen(dir);
    if (n >= sizeof parent)
        return HM_ETOOBIG;
    memcpy(parent, dir, n + 1);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        strcpy(parent, ".");
    else if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    return env->ops->sync_dir(env, parent);
}

/* Check the schema, then bring the state machine up to the log's end. */
static int node_recover(hm_meta_node *node)
{
    hm_env *env = node->env;
    hm_kv_txn *txn = NULL;
    int rc = env->ops->kv_begin(node->kv, true, &txn);
    if (rc != 0)
        return rc;
    rc = hm_meta_sm_init(env, txn);
    uint64_t applied = 0;
    if (rc == 0)
        rc = hm_meta_sm_applied_index(env, txn, &applied);
    if (rc != 0) {
        env->ops->kv_abort(txn);
        return rc;
    }
    rc = env->ops->kv_commit(txn, true);
    if (rc != 0)
        return rc;

    uint64_t first = hm_meta_log_first_index(node->log);
    uint64_t last = hm_meta_log_last_index(node->log);
    if (first != 0 && first > applied + 1) {
        hm_error("meta", NULL, "log starts at %" PRIu64 " but state is applied only to %"
                 PRIu64, first, applied);
        return HM_ECORRUPT;
    }
    if (first != 0 && last < applied) {
        hm_error("meta", NULL, "log ends at %" PRIu64 " behind applied index %" PRIu64,
                 last, applied);
        return HM_ECORRUPT;
    }
    node_replay r = {.node = node};
    rc = hm_meta_log_iterate(node->log, applied + 1, node_replay_fn, &r);
    if (r.txn != NULL) {
        if (rc == 0)
            rc = env->ops->kv_commit(r.txn, true);
        else
            env->ops->kv_abort(r.txn);
    }
    if (rc != 0)
        return rc;
    if (r.count > 0)
        hm_info("meta", NULL, "replayed %" PRIu64 " log entries after index %" PRIu64,
                r.count, applied);
    node->next_index = (first != 0 ? last : applied) + 1;
    /* Recovery committed durably: the state holds everything logged. */
    node->durable_applied = node->next_index - 1;
    node->durable_at_ms = hm_mono_ms(env);
    return hm_meta_log_compact(node->log, node->next_index - 1);
}

/* The applied index as LMDB holds it (0 on a fresh store).  Every answer
 * the node ever gave was applied first, so this is what it acknowledged:
 * the log must never drop a record at or below it. */
static int node_applied_index(hm_meta_node *node, uint64_t *out)
{
    hm_kv_txn *txn = NULL;
    int rc = node->env->ops->kv_begin(node->kv, false, &txn);
    if (rc != 0)
        return rc;
    rc = hm_meta_sm_applied_index(node->env, txn, out);
    node->env->ops->kv_abort(txn);
    return rc;
}

int hm_meta_node_open(hm_meta_node **out, hm_env *env, const char *dir)
{
    return hm_meta_node_open_opts(out, env, dir, NULL);
}

int hm_meta_node_open_opts(hm_meta_node **out, hm_env *env, const char *dir,
                           const hm_meta_node_opts *opts)
{
    hm_meta_node *node = calloc(1, sizeof *node);
    if (node == NULL)
        return HM_ENOMEM;
    node->env = env;
    if (opts != NULL)
        node->opts = *opts;
    if (node->opts.durable_every == 0)
        node->opts.durable_every = HM_META_DURABLE_EVERY;
    if (node->opts.durable_ms <= 0)
        node->opts.durable_ms = HM_META_DURABLE_MS;
    if (node->opts.commit_delay_us == 0)
        node->opts.commit_delay_us = HM_META_COMMIT_DELAY_US;
    pthread_mutex_init(&node->mu, NULL);
    pthread_mutex_init(&node->clock_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&node->work_cv, &ca);
    pthread_condattr_destroy(&ca);
    char path[NODE_PATH_BYTES];
    int rc = node_mkdir_durable(env, dir);
    if (rc == 0)
        rc = node_join(path, sizeof path, dir, "kv");
    if (rc == 0)
        rc = env->ops->kv_open(env, path, &node->kv);
    hm_meta_log_opts log_opts = {0};
    if (rc == 0)
        rc = node_applied_index(node, &log_opts.durable_index);
    if (rc == 0)
        rc = node_join(path, sizeof path, dir, "log");
    /* The log is the durability point: its directory must survive a power
     * loss before the first record does. */
    if (rc == 0)
        rc = node_mkdir_durable(env, path);
    log_opts.segment_bytes = node->opts.log_segment_bytes;
    if (rc == 0)
        rc = hm_meta_log_open_opts(&node->log, env, path, &log_opts);
    if (rc != 0)
        goto err;
    hm_meta_hardstate hs;
    rc = hm_meta_log_hardstate_load(node->log, &hs);
    if (rc == 0 && hs.term == 0) {
        hs = (hm_meta_hardstate){.term = NODE_TERM, .vote = NODE_SELF, .commit = 0};
        rc = hm_meta_log_hardstate_save(node->log, &hs);
    }
    if (rc != 0)
        goto err;
    rc = node_recover(node);
    if (rc != 0)
        goto err;
    /* The committed clock resumes where the log left it; a store that has
     * none yet starts it at the wall clock, so times written before it
     * existed stay comparable. */
    hm_kv_txn *txn = NULL;
    rc = env->ops->kv_begin(node->kv, false, &txn);
    if (rc == 0) {
        rc = hm_meta_sm_clock(env, txn, &node->clock_base_ms);
        env->ops->kv_abort(txn);
    }
    if (rc != 0)
        goto err;
    if (node->clock_base_ms == 0)
        node->clock_base_ms = hm_wall_ms(env);
    node->clock_mono_base_ms = hm_mono_ms(env);
    node->clock_last_ms = node->clock_base_ms;
    if (pthread_create(&node->thread, NULL, node_thread, node) != 0) {
        rc = HM_ENOMEM;
        goto err;
    }
    node->thread_started = true;
    *out = node;
    return 0;
err:
    hm_error("meta", NULL, "open %s failed: %s (%s)", dir, hm_err_name(rc), hm_err_msg(rc));
    hm_meta_node_close(node);
    return rc;
}

void hm_meta_node_close(hm_meta_node *node)
{
    if (node == NULL)
        return;
    if (node->thread_started) {
        pthread_mutex_lock(&node->mu);
        node->closing = true;
        pthread_cond_signal(&node->work_cv);
        pthread_mutex_unlock(&node->mu);
        pthread_join(node->thread, NULL);
    }
    hm_meta_log_close(node->log);
    if (node->kv != NULL)
        node->env->ops->kv_close(node->kv);
    pthread_cond_destroy(&node->work_cv);
    pthread_mutex_destroy(&node->mu);
    pthread_mutex_destroy(&node->clock_mu);
    free(node);
}

/* ---- handle ------------------------------------------------------------- */

static int node_reject(Hm__MetaResponse *resp, int code, const char *msg)
{
    resp->has_format_version = true;
    resp->format_version = HM_FORMAT_VERSION;
    resp->has_err = true;
    resp->err = code;
    resp->err_msg = strdup(msg);
    return resp->err_msg == NULL ? HM_ENOMEM : 0;
}

static bool node_version_ok(protobuf_c_boolean has, uint32_t v)
{
    return !has || (v >= HM_FORMAT_VERSION_MIN && v <= HM_FORMAT_VERSION_MAX);
}

/* Queue cmd for the commit thread and wait for its batch to be durable. */
static int node_propose(hm_meta_node *node, const Hm__MetaCommand *cmd,
                        Hm__MetaResponse *resp)
{
    node_waiter w = {.cmd = cmd, .resp = resp};
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&node->mu);
    if (node->closing) {
        pthread_mutex_unlock(&node->mu);
        pthread_cond_destroy(&w.cv);
        return HM_ECLOSED;
    }
    if (node->tail != NULL)
        node->tail->next = &w;
    else
        node->head = &w;
    node->tail = &w;
    node->queued++;
    pthread_cond_signal(&node->work_cv);
    while (!w.done)
        pthread_cond_wait(&w.cv, &node->mu);
    pthread_mutex_unlock(&node->mu);
    pthread_cond_destroy(&w.cv);
    return w.rc;
}

int hm_meta_node_names_audit(hm_meta_node *node, hm_meta_names_audit *out, char *msg,
                             size_t msg_cap)
{
    if (node_is_poisoned(node))
        return HM_EPOISONED;
    hm_kv_txn *txn = NULL;
    int rc = node->env->ops->kv_begin(node->kv, false, &txn);
    if (rc != 0)
        return rc;
    rc = hm_meta_sm_names_audit(node->env, txn, out, msg, msg_cap);
    node->env->ops->kv_abort(txn);
    return rc;
}

int hm_meta_node_handle(hm_meta_node *node, const Hm__MetaRequest *req,
                        Hm__MetaResponse **out)
{
    if (req == NULL)
        return HM_EINVAL;
    if (node_is_poisoned(node))
        return HM_EPOISONED;
    Hm__MetaResponse *resp = malloc(sizeof *resp);
    if (resp == NULL)
        return HM_ENOMEM;
    hm__meta_response__init(resp);
    int rc = 0;
    if (!node_version_ok(req->has_format_version, req->format_version)) {
        rc = node_reject(resp, HM_EVERSION, "unsupported request format version");
    } else if (req->op_case == HM__META_REQUEST__OP_COMMAND) {
        const Hm__MetaCommand *cmd = req->command;
        if (cmd == NULL)
            rc = node_reject(resp, HM_EINVAL, "empty command");
        else if (!node_version_ok(cmd->has_format_version, cmd->format_version))
            rc = node_reject(resp, HM_EVERSION, "unsupported command format version");
        else
            rc = node_propose(node, cmd, resp);
    } else {
        /* Scans of due work are answered at the committed clock, not at
         * the caller's wall clock (hm_meta_sm.h).  A scan with `all` set
         * asks for everything queued, due or not (the gateway's GC while a
         * disk is short of space, and its backlog gauges): the clock does
         * not matter to it, and the flag passes through. */
        Hm__MetaRequest q = *req;
        Hm__GcScan gs;
        Hm__IntentScan is;
        Hm__UploadExpiryScan es;
        if (q.op_case == HM__META_REQUEST__OP_GC_SCAN && q.gc_scan != NULL) {
            gs = *q.gc_scan;
            gs.now_ms = node_clock(node);
            gs.has_now_ms = true;
            q.gc_scan = &gs;
        } else if (q.op_case == HM__META_REQUEST__OP_INTENT_SCAN && q.intent_scan != NULL) {
            is = *q.intent_scan;
            is.now_ms = node_clock(node);
            is.has_now_ms = true;
            q.intent_scan = &is;
        } else if (q.op_case == HM__META_REQUEST__OP_UPLOAD_EXPIRY_SCAN &&
                   q.upload_expiry_scan != NULL) {
            es = *q.upload_expiry_scan;
            es.has_now_ms = true;
            es.now_ms = node_clock(node);
            q.upload_expiry_scan = &es;
        }
        hm_kv_txn *txn = NULL;
        rc = node->env->ops->kv_begin(node->kv, false, &txn);
        if (rc == 0) {
            rc = hm_meta_sm_query(node->env, txn, &q, resp);
            node->env->ops->kv_abort(txn);
        }
        if (rc == HM_EINVAL)
            rc = node_reject(resp, HM_EINVAL, "unknown request");
    }
    if (rc != 0) {
        hm__meta_response__free_unpacked(resp, NULL);
        return rc;
    }
    *out = resp;
    return 0;
}
