/* hm_raft.c - the Raft core (hm_raft.h; docs/adr/0014-raft-core.md).
 *
 * State, in the order a reader needs it:
 * - the log as term runs over [1, last] and the entries not yet handed
 *   out in a ready (`pend`, owned copies), `stable` = durable here;
 * - term, vote, lead and role; commit and applied;
 * - per-peer progress on a leader (match, next, probe or pipeline);
 * - two outboxes: `early` (may leave before the ready's writes are
 *   durable) and `out` (only after).
 *
 * Shaping decisions:
 * - Pure and single-threaded; a step that runs out of memory leaves the
 *   core unchanged only where it says so; elsewhere it is a lost message,
 *   which Raft tolerates.
 * - Messages are counted in `early`/`out` with fixed caps per ready and
 *   dropped beyond them (Raft retries every message it needs).
 * - A conflicting entry at or below commit is our bug or a corrupted
 *   disk: asserted.
 */
#include "hm_raft.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"

enum hm_raft_plant hm_raft_plant = HM_RAFT_PLANT_NONE;

#define RAFT_OUTBOX_MAX 256u

typedef struct raft_run {
    uint64_t index, term;     /* entries from index on have term, up to the next run */
} raft_run;

typedef struct raft_ent {
    uint64_t term, index;
    uint8_t kind;
    void *data;
    size_t len;
} raft_ent;

typedef struct raft_progress {
    uint64_t id;
    uint64_t match, next;
    bool replicate;           /* false: probe, one append per heartbeat or reply */
    bool paused;              /* probe: an append is in flight */
    bool active;              /* heard from since the last check-quorum */
    bool learner;             /* replicates, never votes */
    bool voted, granted;      /* this election */
    uint64_t read_acked;      /* the highest read round it answered */
} raft_progress;

typedef struct raft_pending_read {
    uint64_t id, from;        /* from: the node that asked (this one, or a follower) */
    uint64_t index, round;
} raft_pending_read;

typedef struct raft_reads {
    raft_pending_read *v;
    size_t n, cap;
} raft_reads;

typedef struct raft_conf {
    uint64_t index, node;
    uint8_t op;
} raft_conf;

typedef struct raft_box {
    hm_raft_msg m[RAFT_OUTBOX_MAX];
    size_t n;
} raft_box;

struct hm_raft {
    uint64_t id;
    raft_progress prs[HM_RAFT_MEMBERS_MAX]; /* every member, this node too when it is one */
    size_t n_prs;
    /* membership before the log's first entry, and the log's changes */
    uint64_t base_id[HM_RAFT_MEMBERS_MAX];
    bool base_learner[HM_RAFT_MEMBERS_MAX];
    size_t n_base;
    raft_conf *confs;
    size_t n_confs, cap_confs;
    uint32_t election_ticks, heartbeat_ticks, randomized;
    uint32_t append_max;
    uint32_t election_elapsed, heartbeat_elapsed;
    uint64_t rng;

    enum hm_raft_role role;
    uint64_t term, vote, lead;
    uint64_t transferee;        /* leader: handing over to; 0: none */
    uint32_t transfer_elapsed;
    hm_raft_hardstate hs_saved; /* as last handed out (or found at boot) */

    raft_run *runs;
    size_t n_runs, cap_runs;
    uint64_t last, stable, commit, applied;
    uint64_t truncate_from;     /* for the next ready; 0: none */
    raft_ent *pend;             /* (stable, last], not yet handed out */
    size_t n_pend, cap_pend;

    raft_box early, out;
    /* ReadIndex: reads waiting for the leader's first commit of its term,
     * reads waiting for their round, reads released to this node */
    uint64_t read_round;
    raft_reads reads_wait, reads_round;
    hm_raft_read *released;
    size_t n_released, cap_released;
    hm_raft_read *rd_reads;
    size_t n_rd_reads;
    /* the ready being carried out */
    bool in_ready;
    hm_raft_entry *rd_entries;
    size_t n_rd_entries;
    raft_ent *rd_pend;          /* their owned copies, freed at advance */
    size_t n_rd_pend;
    raft_box rd_early, rd_out;
    uint64_t rd_last;
};

/* ---- small helpers ---------------------------------------------------------- */

/* Room for one more element after n in v (capacity *cap, elem bytes each):
 * v itself, or v moved to a larger block; NULL when out of memory (v is
 * then untouched). */
static void *raft_grow(void *v, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap) return v;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(v, c * elem);
    if (p != NULL) *cap = c;
    return p;
}

static uint64_t raft_rand(hm_raft *r)
{
    /* splitmix64: the jitter only needs to differ between nodes and seeds */
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void raft_reset_timeout(hm_raft *r)
{
    r->election_elapsed = 0;
    r->randomized = r->election_ticks + (uint32_t)(raft_rand(r) % r->election_ticks);
}

static size_t raft_voters(const hm_raft *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_prs; i++) n += !r->prs[i].learner;
    return n;
}

static size_t raft_quorum(const hm_raft *r) { return raft_voters(r) / 2 + 1; }

static raft_progress *raft_pr(hm_raft *r, uint64_t id)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id) return &r->prs[i];
    return NULL;
}

static bool raft_self_votes(hm_raft *r)
{
    raft_progress *me = raft_pr(r, r->id);
    return me != NULL && !me->learner;
}

/* ---- membership ------------------------------------------------------------- */

static bool raft_conf_parse(const void *data, size_t len, uint8_t *op, uint64_t *node)
{
    const uint8_t *d = data;
    if (len != HM_RAFT_CONF_BYTES || d[0] != 1 || d[1] < HM_RAFT_CONF_ADD_LEARNER ||
        d[1] > HM_RAFT_CONF_REMOVE)
        return false;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n = n << 8 | d[2 + i];
    if (n == 0) return false;
    *op = d[1];
    *node = n;
    return true;
}

/* Apply one change to the member list; a change that does not fit (from
 * a hostile or corrupt log) changes nothing. */
static void raft_member_apply(hm_raft *r, uint8_t op, uint64_t node)
{
    raft_progress *pr = raft_pr(r, node);
    if (op == HM_RAFT_CONF_ADD_LEARNER && pr == NULL && r->n_prs < HM_RAFT_MEMBERS_MAX) {
        r->prs[r->n_prs++] = (raft_progress){.id = node, .learner = true, .next = r->last + 1,
                                             .active = true};
    } else if (op == HM_RAFT_CONF_PROMOTE && pr != NULL && pr->learner &&
               raft_voters(r) < HM_RAFT_VOTERS_MAX) {
        pr->learner = false;
    } else if (op == HM_RAFT_CONF_REMOVE && pr != NULL && (pr->learner || raft_voters(r) > 1)) {
        *pr = r->prs[--r->n_prs];
    }
}

/* The member list from the base and every change still in the log,
 * keeping the progress of members that stay. */
static void raft_members_rebuild(hm_raft *r)
{
    raft_progress old[HM_RAFT_MEMBERS_MAX];
    size_t n_old = r->n_prs;
    memcpy(old, r->prs, sizeof old);
    r->n_prs = 0;
    for (size_t i = 0; i < r->n_base; i++)
        r->prs[r->n_prs++] = (raft_progress){.id = r->base_id[i], .learner = r->base_learner[i],
                                             .next = r->last + 1, .active = true};
    for (size_t i = 0; i < r->n_confs; i++) raft_member_apply(r, r->confs[i].op, r->confs[i].node);
    for (size_t i = 0; i < r->n_prs; i++)
        for (size_t j = 0; j < n_old; j++)
            if (old[j].id == r->prs[i].id) {
                bool learner = r->prs[i].learner;
                r->prs[i] = old[j];
                r->prs[i].learner = learner;
            }
}

/* A configuration entry at index: it takes effect now. */
static int raft_conf_note(hm_raft *r, uint64_t index, const void *data, size_t len)
{
    uint8_t op;
    uint64_t node;
    if (!raft_conf_parse(data, len, &op, &node)) return 0; /* checked on the way in */
    raft_conf *c = raft_grow(r->confs, r->n_confs, &r->cap_confs, sizeof *c);
    if (c == NULL) return HM_ENOMEM;
    r->confs = c;
    r->confs[r->n_confs++] = (raft_conf){.index = index, .node = node, .op = op};
    raft_member_apply(r, op, node);
    return 0;
}

static uint64_t raft_last_conf_index(const hm_raft *r)
{
    return r->n_confs > 0 ? r->confs[r->n_confs - 1].index : 0;
}

uint64_t hm_raft_term_at(const hm_raft *r, uint64_t index)
{
    if (index == 0 || index > r->last) return 0;
    size_t lo = 0, hi = r->n_runs; /* last run with run.index <= index */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->runs[mid].index <= index) lo = mid;
        else hi = mid;
    }
    return r->runs[lo].term;
}

static uint64_t raft_last_term(const hm_raft *r) { return hm_raft_term_at(r, r->last); }

/* Drop every index >= from from the term runs. */
static void raft_runs_cut(hm_raft *r, uint64_t from)
{
    while (r->n_runs > 0 && r->runs[r->n_runs - 1].index >= from) r->n_runs--;
}

static int raft_runs_append(hm_raft *r, uint64_t index, uint64_t term)
{
    if (r->n_runs > 0 && r->runs[r->n_runs - 1].term == term) return 0;
    raft_run *runs = raft_grow(r->runs, r->n_runs, &r->cap_runs, sizeof *runs);
    if (runs == NULL) return HM_ENOMEM;
    r->runs = runs;
    r->runs[r->n_runs++] = (raft_run){.index = index, .term = term};
    return 0;
}

static void raft_ent_free(raft_ent *e) { free(e->data); }

/* Append one entry (copying data) at last + 1. */
static int raft_log_append(hm_raft *r, uint64_t term, uint8_t kind, const void *data, size_t len)
{
    raft_ent *pend = raft_grow(r->pend, r->n_pend, &r->cap_pend, sizeof *pend);
    if (pend == NULL) return HM_ENOMEM;
    r->pend = pend;
    void *copy = NULL;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) return HM_ENOMEM;
        memcpy(copy, data, len);
    }
    if (raft_runs_append(r, r->last + 1, term) != 0) {
        free(copy);
        return HM_ENOMEM;
    }
    r->last++;
    r->pend[r->n_pend++] = (raft_ent){.term = term, .index = r->last, .kind = kind,
                                      .data = copy, .len = len};
    if (kind == HM_RAFT_CONF && raft_conf_note(r, r->last, data, len) != 0) {
        /* undo: the entry cannot stand without its membership */
        raft_ent_free(&r->pend[--r->n_pend]);
        raft_runs_cut(r, r->last);
        r->last--;
        return HM_ENOMEM;
    }
    return 0;
}

/* Drop the log from index `from` on (from > commit). */
static void raft_log_truncate(hm_raft *r, uint64_t from)
{
    assert(from > r->commit);
    while (r->n_pend > 0 && r->pend[r->n_pend - 1].index >= from)
        raft_ent_free(&r->pend[--r->n_pend]);
    if (from <= r->stable) {
        /* durable entries go: the shell drops them before the next append */
        if (r->truncate_from == 0 || from < r->truncate_from) r->truncate_from = from;
        r->stable = from - 1;
    }
    raft_runs_cut(r, from);
    r->last = from - 1;
    /* a truncated configuration entry reverts */
    size_t n = r->n_confs;
    while (r->n_confs > 0 && r->confs[r->n_confs - 1].index >= from) r->n_confs--;
    if (r->n_confs != n && hm_raft_plant != HM_RAFT_PLANT_CONF_SURVIVES_TRUNCATE)
        raft_members_rebuild(r);
}

static void raft_send(hm_raft *r, raft_box *box, hm_raft_msg m)
{
    if (box->n == RAFT_OUTBOX_MAX) return; /* lost: Raft sends again */
    m.from = r->id;
    if (m.term == 0) m.term = r->term;
    box->m[box->n++] = m;
}

static void raft_reads_unwait(hm_raft *r);

/* ---- roles ----------------------------------------------------------------- */

static void raft_reads_drop(hm_raft *r)
{
    r->reads_wait.n = 0;
    r->reads_round.n = 0;
}

static void raft_become_follower(hm_raft *r, uint64_t term, uint64_t lead)
{
    raft_reads_drop(r);
    r->transferee = 0;
    if (term != r->term) {
        r->term = term;
        r->vote = 0;
    }
    r->role = HM_RAFT_FOLLOWER;
    r->lead = lead;
    raft_reset_timeout(r);
}

static void raft_send_append(hm_raft *r, raft_progress *pr, bool empty_ok)
{
    if (pr->id == r->id || (!pr->replicate && pr->paused)) return;
    uint64_t prev = pr->next - 1;
    uint64_t hi = r->last;
    if (hi - prev > r->append_max) hi = prev + r->append_max;
    if (hi == prev && !empty_ok) return;
    hm_raft_msg m = {.type = HM_RAFT_MSG_APP, .to = pr->id, .log_index = prev,
                     .log_term = hm_raft_term_at(r, prev), .lo = prev, .hi = hi,
                     .commit = r->commit};
    raft_send(r, &r->early, m);
    if (pr->replicate) pr->next = hi + 1;
    else pr->paused = true;
}

static void raft_broadcast_append(hm_raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++) raft_send_append(r, &r->prs[i], false);
}

static void raft_broadcast_heartbeat(hm_raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++) {
        raft_progress *pr = &r->prs[i];
        if (pr->id == r->id) continue;
        uint64_t c = pr->match < r->commit ? pr->match : r->commit;
        raft_send(r, &r->early, (hm_raft_msg){.type = HM_RAFT_MSG_HEARTBEAT, .to = pr->id,
                                              .commit = c, .ctx = r->read_round});
    }
}

static void raft_become_leader(hm_raft *r)
{
    raft_reads_drop(r);
    r->transferee = 0;
    r->role = HM_RAFT_LEADER;
    r->lead = r->id;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        raft_progress *pr = &r->prs[i];
        pr->match = pr->id == r->id ? r->stable : 0;
        pr->next = r->last + 1;
        pr->replicate = false;
        pr->paused = false;
        pr->active = true;
        pr->read_acked = 0;
    }
    /* A no-op of the new term: commits everything before it, and nothing
     * is served before it commits. */
    if (raft_log_append(r, r->term, HM_RAFT_NOOP, NULL, 0) != 0) {
        raft_become_follower(r, r->term, 0); /* out of memory: let another lead */
        return;
    }
    raft_broadcast_append(r);
}

/* Start a pre-vote (pre true) or a real election; transfer: asked by the
 * leader (TIMEOUT_NOW), so voters set stickiness aside. */
static void raft_campaign_as(hm_raft *r, bool pre, bool transfer);
static void raft_campaign(hm_raft *r, bool pre) { raft_campaign_as(r, pre, false); }

static void raft_campaign_as(hm_raft *r, bool pre, bool transfer)
{
    uint64_t term = r->term + 1;
    raft_reads_drop(r);
    if (pre) {
        r->role = HM_RAFT_PRE_CANDIDATE;
        r->lead = 0;
    } else {
        r->role = HM_RAFT_CANDIDATE;
        r->term = term;
        r->vote = r->id;
        r->lead = 0;
    }
    raft_reset_timeout(r);
    for (size_t i = 0; i < r->n_prs; i++) {
        raft_progress *pr = &r->prs[i];
        pr->voted = pr->id == r->id;
        pr->granted = pr->id == r->id;
    }
    if (raft_quorum(r) == 1) {
        if (pre) raft_campaign(r, false);
        else raft_become_leader(r);
        return;
    }
    for (size_t i = 0; i < r->n_prs; i++) {
        raft_progress *pr = &r->prs[i];
        if (pr->id == r->id || pr->learner) continue;
        hm_raft_msg m = {.type = pre ? HM_RAFT_MSG_PREVOTE : HM_RAFT_MSG_VOTE, .to = pr->id,
                         .term = term, .log_index = r->last, .log_term = raft_last_term(r),
                         .ctx = transfer ? HM_RAFT_VOTE_TRANSFER : 0};
        /* a vote request speaks for the durable self-vote: after the write */
        raft_send(r, pre ? &r->early : &r->out, m);
    }
}

/* ---- the leader's bookkeeping --------------------------------------------- */

static int raft_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Advance commit to the highest index a quorum holds, if it is of this
 * term.  True when it moved. */
static bool raft_maybe_commit(hm_raft *r)
{
    uint64_t m[HM_RAFT_MEMBERS_MAX];
    size_t nv = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        if (r->prs[i].learner) continue;
        m[nv++] = r->prs[i].id == r->id && hm_raft_plant == HM_RAFT_PLANT_APPLY_BEFORE_PERSIST
                      ? r->last
                      : r->prs[i].match;
    }
    if (nv == 0) return false;
    qsort(m, nv, sizeof m[0], raft_u64_desc);
    size_t q = raft_quorum(r);
    if (hm_raft_plant == HM_RAFT_PLANT_COMMIT_ON_MINORITY && q > 1) q--;
    uint64_t idx = m[q - 1];
    if (idx <= r->commit) return false;
    if (hm_raft_term_at(r, idx) != r->term && hm_raft_plant != HM_RAFT_PLANT_COMMIT_OLD_TERM)
        return false;
    r->commit = idx;
    raft_reads_unwait(r);
    return true;
}

static void raft_leader_app_resp(hm_raft *r, const hm_raft_msg *m)
{
    raft_progress *pr = raft_pr(r, m->from);
    pr->active = true;
    if (m->reject) {
        /* back off to just past what the follower has, at most one step
         * below the index that failed */
        uint64_t next = m->match + 1;
        if (next > m->log_index) next = m->log_index > 0 ? m->log_index : 1;
        if (next < pr->match + 1) next = pr->match + 1;
        pr->next = next;
        pr->replicate = false;
        pr->paused = false;
        raft_send_append(r, pr, true);
        return;
    }
    pr->paused = false;
    if (m->match > pr->match) {
        pr->match = m->match;
        pr->replicate = true;
    }
    if (pr->next < m->match + 1) pr->next = m->match + 1;
    if (pr->id == r->transferee && pr->match == r->last)
        raft_send(r, &r->early, (hm_raft_msg){.type = HM_RAFT_MSG_TIMEOUT_NOW, .to = pr->id});
    if (raft_maybe_commit(r)) raft_broadcast_append(r); /* carry the commit out */
    else raft_send_append(r, pr, false);
}

/* ---- ReadIndex ------------------------------------------------------------------ */

static int raft_reads_push(raft_reads *q, raft_pending_read pr)
{
    raft_pending_read *v = raft_grow(q->v, q->n, &q->cap, sizeof *v);
    if (v == NULL) return HM_ENOMEM;
    q->v = v;
    q->v[q->n++] = pr;
    return 0;
}

static int raft_release(hm_raft *r, uint64_t id, uint64_t index)
{
    hm_raft_read *rel = raft_grow(r->released, r->n_released, &r->cap_released, sizeof *rel);
    if (rel == NULL) return HM_ENOMEM;
    r->released = rel;
    r->released[r->n_released++] = (hm_raft_read){.id = id, .index = index};
    return 0;
}

/* Hand a read whose round a quorum confirmed to whoever asked. */
static void raft_read_done(hm_raft *r, const raft_pending_read *p)
{
    if (p->from == r->id) (void)raft_release(r, p->id, p->index); /* lost on ENOMEM */
    else
        raft_send(r, &r->early, (hm_raft_msg){.type = HM_RAFT_MSG_READ_INDEX_RESP, .to = p->from,
                                              .ctx = p->id, .commit = p->index});
}

/* Release every read whose round a quorum answered (this node counts). */
static void raft_reads_confirm(hm_raft *r)
{
    uint64_t acked[HM_RAFT_MEMBERS_MAX];
    size_t nv = 0;
    for (size_t i = 0; i < r->n_prs; i++)
        if (!r->prs[i].learner)
            acked[nv++] = r->prs[i].id == r->id ? r->read_round : r->prs[i].read_acked;
    if (nv == 0) return;
    qsort(acked, nv, sizeof acked[0], raft_u64_desc);
    uint64_t confirmed = acked[raft_quorum(r) - 1];
    size_t keep = 0;
    for (size_t i = 0; i < r->reads_round.n; i++) {
        raft_pending_read *p = &r->reads_round.v[i];
        if (p->round <= confirmed) raft_read_done(r, p);
        else r->reads_round.v[keep++] = *p;
    }
    r->reads_round.n = keep;
}

/* A read on a leader that committed an entry of its term: at the commit
 * index, confirmed by a heartbeat round sent from now on. */
static int raft_read_start(hm_raft *r, uint64_t id, uint64_t from)
{
    int rc = raft_reads_push(&r->reads_round, (raft_pending_read){
        .id = id, .from = from, .index = r->commit, .round = r->read_round + 1});
    if (rc != 0) return rc;
    r->read_round++;
    raft_broadcast_heartbeat(r);
    raft_reads_confirm(r); /* one voter: at once */
    return 0;
}

static bool raft_committed_in_term(const hm_raft *r)
{
    return hm_raft_term_at(r, r->commit) == r->term;
}

/* A read asked of the leader by this node or a follower. */
static int raft_read_ask(hm_raft *r, uint64_t id, uint64_t from)
{
    if (!raft_committed_in_term(r))
        return raft_reads_push(&r->reads_wait, (raft_pending_read){.id = id, .from = from});
    return raft_read_start(r, id, from);
}

/* The leader committed in its term: start the reads that waited for it. */
static void raft_reads_unwait(hm_raft *r)
{
    if (r->reads_wait.n == 0 || !raft_committed_in_term(r)) return;
    size_t n = r->reads_wait.n;
    r->reads_wait.n = 0;
    for (size_t i = 0; i < n; i++)
        (void)raft_read_start(r, r->reads_wait.v[i].id, r->reads_wait.v[i].from);
}

int hm_raft_read_index(hm_raft *r, uint64_t id)
{
    assert(!r->in_ready);
    if (hm_raft_plant == HM_RAFT_PLANT_READ_WITHOUT_READ_INDEX)
        return raft_release(r, id, r->commit);
    if (r->role == HM_RAFT_LEADER) return raft_read_ask(r, id, r->id);
    if (r->lead == 0) return HM_ENOTLEADER;
    raft_send(r, &r->early, (hm_raft_msg){.type = HM_RAFT_MSG_READ_INDEX, .to = r->lead,
                                          .ctx = id});
    return 0;
}

/* ---- step -------------------------------------------------------------------- */

static bool raft_up_to_date(const hm_raft *r, uint64_t index, uint64_t term)
{
    uint64_t lt = raft_last_term(r);
    return term > lt || (term == lt && index >= r->last);
}

static void raft_handle_vote(hm_raft *r, const hm_raft_msg *m)
{
    if (raft_pr(r, m->from)->learner) return; /* a learner does not stand */
    bool pre = m->type == HM_RAFT_MSG_PREVOTE;
    bool can = r->vote == m->from || (r->vote == 0 && r->lead == 0) ||
               (pre && m->term > r->term);
    bool fresh = raft_up_to_date(r, m->log_index, m->log_term) ||
                 hm_raft_plant == HM_RAFT_PLANT_VOTE_IGNORES_LOG;
    hm_raft_msg resp = {.type = pre ? HM_RAFT_MSG_PREVOTE_RESP : HM_RAFT_MSG_VOTE_RESP,
                        .to = m->from};
    if (can && fresh) {
        resp.term = m->term; /* a pre-vote answers in the term asked for */
        if (!pre) {
            r->election_elapsed = 0;
            r->vote = m->from;
        }
    } else {
        resp.term = r->term;
        resp.reject = true;
    }
    /* A granted vote must be durable before it is heard. */
    bool early = pre || hm_raft_plant == HM_RAFT_PLANT_VOTE_BEFORE_PERSIST;
    raft_send(r, early ? &r->early : &r->out, resp);
}

static void raft_handle_vote_resp(hm_raft *r, const hm_raft_msg *m)
{
    bool pre = m->type == HM_RAFT_MSG_PREVOTE_RESP;
    if ((pre && r->role != HM_RAFT_PRE_CANDIDATE) || (!pre && r->role != HM_RAFT_CANDIDATE))
        return;
    raft_progress *pr = raft_pr(r, m->from);
    if (pr->voted) return;
    pr->voted = true;
    pr->granted = !m->reject;
    size_t yes = 0, no = 0;
    for (size_t i = 0; i < r->n_prs; i++) {
        if (!r->prs[i].voted || r->prs[i].learner) continue;
        if (r->prs[i].granted) yes++;
        else no++;
    }
    if (yes >= raft_quorum(r)) {
        if (pre) raft_campaign(r, false);
        else raft_become_leader(r);
    } else if (no >= raft_quorum(r)) {
        raft_become_follower(r, r->term, 0);
    }
}

static int raft_handle_append(hm_raft *r, const hm_raft_msg *m)
{
    hm_raft_msg resp = {.type = HM_RAFT_MSG_APP_RESP, .to = m->from, .log_index = m->log_index};
    if (m->log_index < r->commit) {
        /* already committed here: say how far */
        resp.match = r->commit;
        raft_send(r, &r->out, resp);
        return 0;
    }
    bool match = m->log_index <= r->last &&
                 hm_raft_term_at(r, m->log_index) == m->log_term;
    if (m->log_index == 0) match = true;
    if (!match && hm_raft_plant == HM_RAFT_PLANT_APPEND_SKIPS_MATCH && m->log_index <= r->last)
        match = true;
    if (!match) {
        resp.reject = true;
        resp.match = r->last < m->log_index ? r->last : m->log_index - 1;
        raft_send(r, &r->out, resp);
        return 0;
    }
    /* the first entry that is not already here, same term */
    size_t i = 0;
    for (; i < m->n_entries; i++) {
        const hm_raft_entry *e = &m->entries[i];
        if (e->index > r->last || hm_raft_term_at(r, e->index) != e->term) break;
    }
    if (i < m->n_entries) {
        uint64_t at = m->entries[i].index;
        if (at <= r->last) {
            assert(at > r->commit); /* a committed entry never changes */
            raft_log_truncate(r, at);
        }
        for (; i < m->n_entries; i++) {
            const hm_raft_entry *e = &m->entries[i];
            int rc = raft_log_append(r, e->term, e->kind, e->data, e->len);
            if (rc != 0) return rc; /* the prefix stays: a shorter append */
        }
    }
    uint64_t last_new = m->log_index + m->n_entries;
    uint64_t c = m->commit < last_new ? m->commit : last_new;
    if (c > r->commit) r->commit = c;
    resp.match = last_new;
    /* after the entries are durable */
    raft_send(r, hm_raft_plant == HM_RAFT_PLANT_ACK_BEFORE_PERSIST ? &r->early : &r->out, resp);
    return 0;
}

static bool raft_msg_valid(const hm_raft *r, const hm_raft_msg *m)
{
    if (m->type < HM_RAFT_MSG_PREVOTE || m->type > HM_RAFT_MSG_TIMEOUT_NOW) return false;
    if (m->to != r->id || m->from == 0 || m->from == r->id) return false;
    if (m->n_entries > 0 && (m->type != HM_RAFT_MSG_APP || m->entries == NULL)) return false;
    if (m->log_index > UINT64_MAX - m->n_entries) return false;
    for (size_t i = 0; i < m->n_entries; i++) {
        const hm_raft_entry *e = &m->entries[i];
        if (e->index != m->log_index + 1 + i || e->term == 0 || e->term > m->term ||
            (i > 0 && e->term < m->entries[i - 1].term) || (i == 0 && e->term < m->log_term) ||
            (e->kind != HM_RAFT_CMD && e->kind != HM_RAFT_NOOP && e->kind != HM_RAFT_CONF) ||
            (e->len > 0 && e->data == NULL))
            return false;
        uint8_t op;
        uint64_t node;
        if (e->kind == HM_RAFT_CONF && !raft_conf_parse(e->data, e->len, &op, &node)) return false;
    }
    return true;
}

/* Messages a leader sends: taken from any node, since a follower whose log
 * lags may not know its leader joined yet.  Everything else comes only
 * from a member, and from a non-member is dropped. */
static bool raft_msg_from_leader(const hm_raft_msg *m)
{
    return m->type == HM_RAFT_MSG_APP || m->type == HM_RAFT_MSG_HEARTBEAT ||
           m->type == HM_RAFT_MSG_TIMEOUT_NOW || m->type == HM_RAFT_MSG_READ_INDEX_RESP;
}

int hm_raft_step(hm_raft *r, const hm_raft_msg *m)
{
    assert(!r->in_ready);
    if (!raft_msg_valid(r, m)) return HM_EINVAL;
    if (!raft_msg_from_leader(m) && raft_pr(r, m->from) == NULL) return 0;
    bool vote_req = m->type == HM_RAFT_MSG_PREVOTE || m->type == HM_RAFT_MSG_VOTE;
    if (m->term > r->term) {
        /* Stickiness: a node that heard from its leader within the
         * election timeout does not help depose it. */
        bool forced = m->type == HM_RAFT_MSG_VOTE && m->ctx == HM_RAFT_VOTE_TRANSFER;
        if (vote_req && !forced && r->lead != 0 && r->election_elapsed < r->election_ticks)
            return 0;
        if (m->type == HM_RAFT_MSG_PREVOTE) {
            /* answered below without taking the term */
        } else if (m->type == HM_RAFT_MSG_PREVOTE_RESP && !m->reject) {
            /* the pre-candidate takes the term when it campaigns */
        } else {
            bool from_leader = m->type == HM_RAFT_MSG_APP || m->type == HM_RAFT_MSG_HEARTBEAT;
            raft_become_follower(r, m->term, from_leader ? m->from : 0);
        }
    } else if (m->term < r->term) {
        if (m->type == HM_RAFT_MSG_APP || m->type == HM_RAFT_MSG_HEARTBEAT) {
            /* a deposed leader learns the term (check-quorum keeps such
             * nodes from being heard otherwise) */
            raft_send(r, &r->out, (hm_raft_msg){.type = HM_RAFT_MSG_APP_RESP, .to = m->from,
                                                .reject = true, .match = r->last,
                                                .log_index = m->log_index});
        } else if (m->type == HM_RAFT_MSG_PREVOTE) {
            raft_send(r, &r->early, (hm_raft_msg){.type = HM_RAFT_MSG_PREVOTE_RESP,
                                                  .to = m->from, .reject = true});
        }
        return 0;
    }
    switch (m->type) {
    case HM_RAFT_MSG_PREVOTE:
    case HM_RAFT_MSG_VOTE:
        raft_handle_vote(r, m);
        return 0;
    case HM_RAFT_MSG_PREVOTE_RESP:
    case HM_RAFT_MSG_VOTE_RESP:
        raft_handle_vote_resp(r, m);
        return 0;
    case HM_RAFT_MSG_APP:
    case HM_RAFT_MSG_HEARTBEAT:
        if (r->role == HM_RAFT_LEADER) return 0; /* same term: cannot happen */
        if (r->role != HM_RAFT_FOLLOWER) raft_become_follower(r, m->term, m->from);
        r->lead = m->from;
        r->election_elapsed = 0;
        if (m->type == HM_RAFT_MSG_APP) return raft_handle_append(r, m);
        if (m->commit > r->commit && m->commit <= r->last) r->commit = m->commit;
        raft_send(r, &r->early, (hm_raft_msg){.type = HM_RAFT_MSG_HEARTBEAT_RESP,
                                              .to = m->from, .ctx = m->ctx});
        return 0;
    case HM_RAFT_MSG_APP_RESP:
        if (r->role == HM_RAFT_LEADER && m->term == r->term) raft_leader_app_resp(r, m);
        return 0;
    case HM_RAFT_MSG_TIMEOUT_NOW:
        /* from our leader, in its term: campaign now, no pre-vote */
        if (r->role == HM_RAFT_FOLLOWER && m->from == r->lead) raft_campaign_as(r, false, true);
        return 0;
    case HM_RAFT_MSG_READ_INDEX:
        if (r->role == HM_RAFT_LEADER) return raft_read_ask(r, m->ctx, m->from);
        return 0; /* not the leader (any more): the asker times out */
    case HM_RAFT_MSG_READ_INDEX_RESP:
        if (r->role == HM_RAFT_FOLLOWER && m->from == r->lead) return raft_release(r, m->ctx, m->commit);
        return 0;
    case HM_RAFT_MSG_HEARTBEAT_RESP:
        if (r->role == HM_RAFT_LEADER) {
            raft_progress *pr = raft_pr(r, m->from);
            pr->active = true;
            pr->paused = false;
            if (m->ctx > pr->read_acked && m->ctx <= r->read_round) {
                pr->read_acked = m->ctx;
                raft_reads_confirm(r);
            }
            /* an append lost in pipeline mode shows here: send from
             * next even if empty, a reject turns it into a probe */
            if (pr->match < r->last) raft_send_append(r, pr, true);
        }
        return 0;
    }
    return 0;
}

/* ---- tick ---------------------------------------------------------------------- */

void hm_raft_tick(hm_raft *r)
{
    assert(!r->in_ready);
    r->election_elapsed++;
    if (r->role != HM_RAFT_LEADER) {
        if (r->election_elapsed >= r->randomized && !raft_self_votes(r)) {
            raft_reset_timeout(r); /* a learner or non-member never campaigns */
            return;
        }
        if (r->election_elapsed >= r->randomized)
            raft_campaign(r, hm_raft_plant != HM_RAFT_PLANT_NO_PRE_VOTE);
        return;
    }
    if (r->transferee != 0 && ++r->transfer_elapsed >= r->election_ticks) r->transferee = 0;
    if (r->election_elapsed >= r->election_ticks) {
        /* check-quorum: a leader that cannot hear a quorum steps down */
        r->election_elapsed = 0;
        size_t heard = 0;
        for (size_t i = 0; i < r->n_prs; i++) {
            raft_progress *pr = &r->prs[i];
            if (!pr->learner && (pr->id == r->id || pr->active)) heard++;
            pr->active = false;
        }
        if (heard < raft_quorum(r)) {
            raft_become_follower(r, r->term, 0);
            return;
        }
    }
    if (++r->heartbeat_elapsed >= r->heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        raft_broadcast_heartbeat(r);
    }
}

/* ---- propose ------------------------------------------------------------------- */

int hm_raft_propose(hm_raft *r, const void *data, size_t len, uint64_t *index)
{
    assert(!r->in_ready);
    if (r->role != HM_RAFT_LEADER) return HM_ENOTLEADER;
    if (r->transferee != 0) return HM_EBUSY;
    int rc = raft_log_append(r, r->term, HM_RAFT_CMD, data, len);
    if (rc != 0) return rc;
    if (index != NULL) *index = r->last;
    if (hm_raft_plant == HM_RAFT_PLANT_APPLY_BEFORE_PERSIST) raft_maybe_commit(r);
    raft_broadcast_append(r);
    return 0;
}

int hm_raft_propose_conf(hm_raft *r, enum hm_raft_conf_op op, uint64_t node, uint64_t *index)
{
    assert(!r->in_ready);
    if (r->role != HM_RAFT_LEADER) return HM_ENOTLEADER;
    if (r->transferee != 0 || raft_last_conf_index(r) > r->commit ||
        (!raft_committed_in_term(r) && hm_raft_plant != HM_RAFT_PLANT_CONF_BEFORE_TERM_COMMIT))
        return HM_EBUSY;
    raft_progress *pr = raft_pr(r, node);
    bool ok = node != 0 &&
              ((op == HM_RAFT_CONF_ADD_LEARNER && pr == NULL && r->n_prs < HM_RAFT_MEMBERS_MAX) ||
               (op == HM_RAFT_CONF_PROMOTE && pr != NULL && pr->learner &&
                pr->match >= r->commit && raft_voters(r) < HM_RAFT_VOTERS_MAX) ||
               (op == HM_RAFT_CONF_REMOVE && pr != NULL && node != r->id));
    if (!ok) return HM_EINVAL;
    uint8_t d[HM_RAFT_CONF_BYTES];
    d[0] = 1;
    d[1] = (uint8_t)op;
    for (int i = 0; i < 8; i++) d[2 + i] = (uint8_t)(node >> (56 - 8 * i));
    int rc = raft_log_append(r, r->term, HM_RAFT_CONF, d, sizeof d);
    if (rc != 0) return rc;
    if (index != NULL) *index = r->last;
    raft_broadcast_append(r);
    return 0;
}

bool hm_raft_is_voter(const hm_raft *r, uint64_t id)
{
    raft_progress *pr = raft_pr((hm_raft *)r, id);
    return pr != NULL && !pr->learner;
}

bool hm_raft_is_member(const hm_raft *r, uint64_t id) { return raft_pr((hm_raft *)r, id) != NULL; }

int hm_raft_transfer(hm_raft *r, uint64_t to)
{
    assert(!r->in_ready);
    if (r->role != HM_RAFT_LEADER) return HM_ENOTLEADER;
    raft_progress *pr = raft_pr(r, to);
    if (pr == NULL || pr->learner || to == r->id) return HM_EINVAL;
    r->transferee = to;
    r->transfer_elapsed = 0;
    if (pr->match == r->last)
        raft_send(r, &r->early, (hm_raft_msg){.type = HM_RAFT_MSG_TIMEOUT_NOW, .to = to});
    else raft_send_append(r, pr, true);
    return 0;
}

/* ---- ready / advance ------------------------------------------------------------- */

static uint64_t raft_apply_bound(const hm_raft *r, uint64_t durable)
{
    return r->commit < durable ? r->commit : durable;
}

bool hm_raft_take_ready(hm_raft *r, hm_raft_ready *rd)
{
    assert(!r->in_ready);
    memset(rd, 0, sizeof *rd);
    hm_raft_hardstate hs = {.term = r->term, .vote = r->vote, .commit = r->commit};
    rd->hs_changed = hs.term != r->hs_saved.term || hs.vote != r->hs_saved.vote;
    rd->hs = hs;
    rd->truncate_from = r->truncate_from;
    /* Apply only what is durable here once this ready's writes are. */
    uint64_t durable = r->last;
    rd->apply_lo = r->applied;
    rd->apply_hi = raft_apply_bound(r, durable);
    if (rd->apply_hi < rd->apply_lo) rd->apply_hi = rd->apply_lo;
    if (!rd->hs_changed && rd->truncate_from == 0 && r->n_pend == 0 && r->early.n == 0 &&
        r->out.n == 0 && rd->apply_hi == rd->apply_lo && r->n_released == 0)
        return false;

    /* hand the pending entries out: they are the shell's to write now */
    r->rd_pend = r->pend;
    r->n_rd_pend = r->n_pend;
    r->pend = NULL;
    r->n_pend = r->cap_pend = 0;
    free(r->rd_entries);
    r->rd_entries = NULL;
    r->n_rd_entries = 0;
    if (r->n_rd_pend > 0) {
        r->rd_entries = malloc(r->n_rd_pend * sizeof *r->rd_entries);
        if (r->rd_entries == NULL) {
            /* give them back: nothing was handed out */
            r->pend = r->rd_pend;
            r->n_pend = r->cap_pend = r->n_rd_pend;
            r->rd_pend = NULL;
            r->n_rd_pend = 0;
            return false;
        }
        for (size_t i = 0; i < r->n_rd_pend; i++) {
            const raft_ent *e = &r->rd_pend[i];
            r->rd_entries[i] = (hm_raft_entry){.term = e->term, .index = e->index,
                                               .kind = e->kind, .data = e->data, .len = e->len};
        }
        r->n_rd_entries = r->n_rd_pend;
    }
    r->rd_reads = r->released;
    r->n_rd_reads = r->n_released;
    r->released = NULL;
    r->n_released = r->cap_released = 0;
    rd->reads = r->rd_reads;
    rd->n_reads = r->n_rd_reads;
    r->rd_early = r->early;
    r->rd_out = r->out;
    r->early.n = 0;
    r->out.n = 0;
    r->rd_last = r->last;
    rd->entries = r->rd_entries;
    rd->n_entries = r->n_rd_entries;
    rd->early = r->rd_early.m;
    rd->n_early = r->rd_early.n;
    rd->msgs = r->rd_out.m;
    rd->n_msgs = r->rd_out.n;
    r->hs_saved = hs;
    r->truncate_from = 0;
    r->in_ready = true;
    return true;
}

void hm_raft_advance(hm_raft *r, const hm_raft_ready *rd)
{
    assert(r->in_ready);
    r->in_ready = false;
    for (size_t i = 0; i < r->n_rd_pend; i++) raft_ent_free(&r->rd_pend[i]);
    free(r->rd_pend);
    r->rd_pend = NULL;
    r->n_rd_pend = 0;
    free(r->rd_entries);
    r->rd_entries = NULL;
    r->n_rd_entries = 0;
    free(r->rd_reads);
    r->rd_reads = NULL;
    r->n_rd_reads = 0;
    if (r->rd_last > r->stable) r->stable = r->rd_last;
    if (rd->apply_hi > r->applied) r->applied = rd->apply_hi;
    if (r->role == HM_RAFT_LEADER) {
        raft_pr(r, r->id)->match = r->stable;
        if (raft_maybe_commit(r)) raft_broadcast_append(r);
    }
}

/* ---- life ------------------------------------------------------------------------ */

int hm_raft_new(hm_raft **out, const hm_raft_opts *o, const hm_raft_boot *b)
{
    if (o->id == 0 || o->n_voters == 0 || o->n_voters > HM_RAFT_VOTERS_MAX ||
        o->n_learners > HM_RAFT_MEMBERS_MAX - o->n_voters || o->election_ticks < 2 ||
        o->heartbeat_ticks == 0 || o->heartbeat_ticks >= o->election_ticks)
        return HM_EINVAL;
    uint64_t ids[HM_RAFT_MEMBERS_MAX];
    size_t n_ids = 0;
    for (size_t i = 0; i < o->n_voters + o->n_learners; i++) {
        uint64_t id = i < o->n_voters ? o->voters[i] : o->learners[i - o->n_voters];
        if (id == 0) return HM_EINVAL;
        for (size_t j = 0; j < n_ids; j++)
            if (ids[j] == id) return HM_EINVAL;
        ids[n_ids++] = id;
    }
    if (b->applied > b->last_index || b->hs.commit > b->last_index ||
        (b->last_index > 0 && (b->n_runs == 0 || b->run_index[0] != 1)))
        return HM_EINVAL;
    for (size_t i = 0; i < b->n_runs; i++)
        if (b->run_term[i] == 0 || b->run_term[i] > b->hs.term || b->run_index[i] > b->last_index ||
            (i > 0 && (b->run_index[i] <= b->run_index[i - 1] ||
                       b->run_term[i] <= b->run_term[i - 1])))
            return HM_EINVAL;
    for (size_t i = 0; i < b->n_confs; i++) {
        uint8_t op;
        uint64_t node;
        if (b->confs[i].index == 0 || b->confs[i].index > b->last_index ||
            (i > 0 && b->confs[i].index <= b->confs[i - 1].index) ||
            !raft_conf_parse(b->confs[i].data, b->confs[i].len, &op, &node))
            return HM_EINVAL;
    }
    hm_raft *r = calloc(1, sizeof *r);
    if (r == NULL) return HM_ENOMEM;
    r->id = o->id;
    r->n_base = n_ids;
    for (size_t i = 0; i < n_ids; i++) {
        r->base_id[i] = ids[i];
        r->base_learner[i] = i >= o->n_voters;
    }
    r->election_ticks = o->election_ticks;
    r->heartbeat_ticks = o->heartbeat_ticks;
    r->append_max = o->append_entries_max > 0 ? o->append_entries_max : HM_RAFT_APPEND_ENTRIES_MAX;
    r->rng = o->seed ^ (o->id * 0x2545f4914f6cdd1dull);
    r->term = b->hs.term;
    r->vote = b->hs.vote;
    r->hs_saved = b->hs;
    r->commit = b->hs.commit;
    r->applied = b->applied;
    r->last = r->stable = b->last_index;
    for (size_t i = 0; i < b->n_runs; i++) {
        if (raft_runs_append(r, b->run_index[i], b->run_term[i]) != 0) {
            hm_raft_free(r);
            return HM_ENOMEM;
        }
    }
    raft_members_rebuild(r);
    for (size_t i = 0; i < b->n_confs; i++) {
        if (raft_conf_note(r, b->confs[i].index, b->confs[i].data, b->confs[i].len) != 0) {
            hm_raft_free(r);
            return HM_ENOMEM;
        }
    }
    raft_become_follower(r, r->term, 0);
    *out = r;
    return 0;
}

void hm_raft_free(hm_raft *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < r->n_pend; i++) raft_ent_free(&r->pend[i]);
    for (size_t i = 0; i < r->n_rd_pend; i++) raft_ent_free(&r->rd_pend[i]);
    free(r->pend);
    free(r->rd_pend);
    free(r->rd_entries);
    free(r->runs);
    free(r->confs);
    free(r->reads_wait.v);
    free(r->reads_round.v);
    free(r->released);
    free(r->rd_reads);
    free(r);
}

enum hm_raft_role hm_raft_role_of(const hm_raft *r) { return r->role; }
uint64_t hm_raft_term(const hm_raft *r) { return r->term; }
uint64_t hm_raft_lead(const hm_raft *r) { return r->lead; }
uint64_t hm_raft_commit(const hm_raft *r) { return r->commit; }
uint64_t hm_raft_last_index(const hm_raft *r) { return r->last; }
