/* raft_sim.c - hamster-raft-sim: the Raft core (hamster-meta/hm_raft.h)
 * on N simulated nodes, one thread, one seed.
 *
 * Each node is a core plus what a real node keeps on disk (hard state and
 * log, synced at each ready) and in memory (its state machine: the applied
 * entries).  The network delays, drops, duplicates and reorders messages
 * and partitions nodes; nodes crash (memory lost, disk kept) and restart,
 * and a crash may strike in the middle of a ready: after its early
 * messages left and before its writes are durable (a power loss: the
 * ready's writes are lost).  Clients propose commands to whichever node
 * leads; a command is acknowledged when the node it was proposed to
 * applies it at the index it was given.
 *
 * Checkers, after every event (docs/simulation.md):
 *   election safety     at most one leader per term, over the whole run
 *   log matching        two durable logs with the same term at an index
 *                       hold the same entries up to it (a hash chain)
 *   leader completeness a new leader's log holds every entry any node
 *                       applied
 *   state machine       every node applies the same entry at each index
 *   acknowledged writes at the end (network healed, every node up, quiet
 *                       time), every node applied every acknowledged
 *                       command at its index, and the nodes agree
 * Planted bugs (--plant, hm_raft_plant) show each can fail.
 *
 *   hamster-raft-sim [--seed N | --seeds N | --soak] [--steps N] [--nodes N]
 *                    [--plant NAME --expect-failure] [--check-determinism] [-v]
 */
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_err.h"
#include "hm_raft.h"
#include "hm_raft_codec.h"

#define SIM_NODES_MAX 7
#define SIM_ELECTION_TICKS 10
#define SIM_HEARTBEAT_TICKS 2
#define SIM_KEYS 4

static int verbose;

/* ---- seeded randomness ------------------------------------------------------ */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }
static bool chance(unsigned per_mille) { return rnd_below(1000) < per_mille; }

/* ---- failure reporting -------------------------------------------------------- */

static char fail_msg[512];
static bool failed;
static uint64_t now;

#define CHECK(cond, ...)                                                           \
    do {                                                                           \
        if (!(cond) && !failed) {                                                  \
            failed = true;                                                         \
            snprintf(fail_msg, sizeof fail_msg, __VA_ARGS__);                      \
        }                                                                          \
    } while (0)

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "hamster-raft-sim: out of memory\n");
        exit(2);
    }
    return p;
}

static uint64_t hash_entry(uint64_t prev, uint64_t term, uint8_t kind, const void *d, size_t n)
{
    uint8_t md[32];
    unsigned ml = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c == NULL) exit(2);
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, &prev, sizeof prev);
    EVP_DigestUpdate(c, &term, sizeof term);
    EVP_DigestUpdate(c, &kind, 1);
    if (n > 0) EVP_DigestUpdate(c, d, n);
    EVP_DigestFinal_ex(c, md, &ml);
    EVP_MD_CTX_free(c);
    uint64_t h;
    memcpy(&h, md, sizeof h);
    return h;
}

/* ---- nodes ---------------------------------------------------------------------- */

typedef struct sim_ent {
    uint64_t term;
    uint8_t kind;
    uint8_t *data;
    size_t len;
    uint64_t chain;          /* hash of this entry and every one before it */
} sim_ent;

typedef struct sim_node {
    uint64_t id;
    hm_raft *r;              /* NULL while down */
    uint64_t restart_at;
    /* disk */
    hm_raft_hardstate hs;
    sim_ent *log;            /* log[i - 1] is index i */
    size_t n_log, cap_log;
    /* memory */
    uint64_t applied;
    uint64_t kv[SIM_KEYS];   /* the state machine: each key's last write (its index) */
    uint64_t led_term;       /* last term checked for completeness as leader */
    uint64_t stall_until;    /* its disk stalls: no tick, no message, no ready */
    uint64_t seen_commit;    /* as leader: commit index already recorded */
} sim_node;

static sim_node nodes[SIM_NODES_MAX];
static size_t n_nodes;
static uint64_t voters[SIM_NODES_MAX];
static size_t n_voters_base;  /* voters at the start: nodes 1..n; in --members mode one
                               * more node waits to be added */
static bool members_mode;
static uint64_t conf_changes;  /* membership changes proposed */
static int group[SIM_NODES_MAX]; /* partition: nodes talk only within a group */
static bool cut[SIM_NODES_MAX][SIM_NODES_MAX]; /* one-way: cut[a][b] drops a -> b */
static uint64_t cut_heal_at;
static unsigned skew_pm[SIM_NODES_MAX]; /* a node's clock runs fast: an extra tick */
static uint64_t heal_at;
static uint64_t transfers, transfers_done; /* asked; and the transferee led */
static uint64_t transfer_to, transfer_term;
static uint32_t append_max; /* per run: 1..4 entries per append for half the seeds */
static uint32_t append_max_fixed; /* --append-max: every seed */

/* What the state machines applied: index -> (term, chain). */
typedef struct sim_applied {
    uint64_t term, chain;
    bool set;
} sim_applied;
static sim_applied *applied_at;
static size_t cap_applied;

/* The term in which each index was first committed (by a leader of that
 * term); 0: not seen committed.  Leader completeness holds for later terms. */
static uint64_t *commit_term;
static size_t cap_commit_term;

/* Leaders by term. */
static uint64_t *leader_of;
static size_t cap_leader;

/* (index, term) -> chain seen in any durable log. */
typedef struct sim_seen {
    uint64_t index, term, chain;
} sim_seen;
static sim_seen *seen;
static size_t n_seen, cap_seen;

/* Client history: writes (commands, each to key number % SIM_KEYS) and
 * reads, with the order of events they began and ended in. */
static uint64_t seq;
typedef struct sim_cmd {
    uint64_t node, index, term;
    char data[32];
    bool acked;
    uint64_t invoked, acked_at;
} sim_cmd;
static sim_cmd *cmds;
static size_t n_cmds, cap_cmds;

typedef struct sim_read {
    uint64_t node, key, invoked, done_at;
    uint64_t index;          /* released at */
    uint64_t value;          /* the index of the write it saw, 0: none */
    bool released, done, lost;
} sim_read;
static sim_read *reads;
static size_t n_reads, cap_reads;

static uint64_t cmd_key(const void *d, size_t n)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, d, n);
    buf[n] = '\0';
    return strtoull(buf + 4, NULL, 10) % SIM_KEYS; /* "cmd-N" */
}

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *n = realloc(*p, c * elem);
    if (n == NULL) exit(2);
    memset((char *)n + *cap * elem, 0, (c - *cap) * elem);
    *p = n;
    *cap = c;
}

static void seen_check(uint64_t index, uint64_t term, uint64_t chain, uint64_t node)
{
    for (size_t i = 0; i < n_seen; i++)
        if (seen[i].index == index && seen[i].term == term) {
            CHECK(seen[i].chain == chain,
                  "log matching: node %llu index %llu term %llu differs from another log",
                  (unsigned long long)node, (unsigned long long)index,
                  (unsigned long long)term);
            return;
        }
    grow((void **)&seen, &cap_seen, n_seen + 1, sizeof *seen);
    seen[n_seen++] = (sim_seen){index, term, chain};
}

static void node_start(sim_node *n)
{
    uint64_t *ri = xmalloc((n->n_log + 1) * sizeof *ri), *rt = xmalloc((n->n_log + 1) * sizeof *rt);
    size_t runs = 0;
    for (size_t i = 0; i < n->n_log; i++)
        if (runs == 0 || rt[runs - 1] != n->log[i].term) {
            ri[runs] = i + 1;
            rt[runs] = n->log[i].term;
            runs++;
        }
    hm_raft_entry *confs = xmalloc((n->n_log + 1) * sizeof *confs);
    size_t n_confs = 0;
    for (size_t i = 0; i < n->n_log; i++)
        if (n->log[i].kind == HM_RAFT_CONF)
            confs[n_confs++] = (hm_raft_entry){.term = n->log[i].term, .index = i + 1,
                                               .kind = HM_RAFT_CONF, .data = n->log[i].data,
                                               .len = n->log[i].len};
    hm_raft_opts o = {.id = n->id, .voters = voters, .n_voters = n_voters_base,
                      .election_ticks = SIM_ELECTION_TICKS,
                      .heartbeat_ticks = SIM_HEARTBEAT_TICKS, .seed = rnd(),
                      .append_entries_max = append_max};
    hm_raft_boot b = {.hs = n->hs, .last_index = n->n_log, .run_index = ri, .run_term = rt,
                      .n_runs = runs, .applied = 0, .confs = confs, .n_confs = n_confs};
    int rc = hm_raft_new(&n->r, &o, &b);
    free(ri);
    free(rt);
    free(confs);
    if (rc != 0) {
        fprintf(stderr, "hamster-raft-sim: node %llu does not start: %s\n",
                (unsigned long long)n->id, hm_err_msg(rc));
        exit(2);
    }
    n->applied = 0; /* the state machine is rebuilt from the log */
    n->seen_commit = 0;
    memset(n->kv, 0, sizeof n->kv);
}

static void node_crash(sim_node *n, const char *how)
{
    if (verbose) fprintf(stderr, "t=%llu node %llu %s\n", (unsigned long long)now,
                         (unsigned long long)n->id, how);
    hm_raft_free(n->r);
    n->r = NULL;
    n->restart_at = now + 5 + rnd_below(40);
    for (size_t i = 0; i < n_reads; i++)
        if (reads[i].node == n->id && !reads[i].done) reads[i].lost = true;
}

static sim_node *node_of(uint64_t id) { return id >= 1 && id <= n_nodes ? &nodes[id - 1] : NULL; }

/* ---- network --------------------------------------------------------------------- */

/* A message in flight, as the bytes the codec made of it: every message
 * of every run goes through hm_raft_msg_encode and hm_raft_msg_decode. */
typedef struct sim_msg {
    uint8_t *bytes;
    size_t len;
    uint64_t from, to, at;
} sim_msg;
static sim_msg *net;
static size_t n_net, cap_net;
static unsigned drop_pm = 30, dup_pm = 20, delay_max = 3;

static void msg_free(sim_msg *s) { free(s->bytes); }

/* Queue m, its entries (lo, hi] filled from node n's log and the ready's
 * entries (which step 2 writes, or wrote). */
static void net_send(sim_node *n, const hm_raft_msg *m, const hm_raft_ready *rd)
{
    if (chance(drop_pm)) return;
    hm_raft_msg full = *m;
    hm_raft_entry *ents = NULL;
    full.entries = NULL;
    full.n_entries = 0;
    if (m->type == HM_RAFT_MSG_APP && m->hi > m->lo) {
        size_t cnt = (size_t)(m->hi - m->lo);
        ents = xmalloc(cnt * sizeof *ents);
        for (size_t i = 0; i < cnt; i++) {
            uint64_t idx = m->lo + 1 + i;
            if (rd->n_entries > 0 && idx >= rd->entries[0].index) {
                ents[i] = rd->entries[idx - rd->entries[0].index];
            } else {
                const sim_ent *e = &n->log[idx - 1];
                ents[i] = (hm_raft_entry){.term = e->term, .index = idx, .kind = e->kind,
                                          .data = e->data, .len = e->len};
            }
        }
        full.entries = ents;
        full.n_entries = cnt;
    }
    sim_msg s = {.from = m->from, .to = m->to, .at = now + rnd_below(delay_max + 1)};
    int rc = hm_raft_msg_encode(&full, &s.bytes, &s.len);
    free(ents);
    CHECK(rc == 0, "node %llu: a message does not encode: %s", (unsigned long long)n->id,
          hm_err_msg(rc));
    if (rc != 0) return;
    int copies = chance(dup_pm) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        grow((void **)&net, &cap_net, n_net + 1, sizeof *net);
        sim_msg t = s;
        if (c == 1) {
            t.bytes = xmalloc(s.len);
            memcpy(t.bytes, s.bytes, s.len);
            t.at = now + rnd_below(delay_max + 3);
        }
        net[n_net++] = t;
    }
}

/* ---- a node's ready ----------------------------------------------------------------- */

static void check_leader(sim_node *n)
{
    if (hm_raft_role_of(n->r) != HM_RAFT_LEADER) return;
    uint64_t t = hm_raft_term(n->r);
    grow((void **)&leader_of, &cap_leader, t + 1, sizeof *leader_of);
    if (verbose && (t >= cap_leader || leader_of[t] != n->id))
        fprintf(stderr, "t=%llu node %llu leads term %llu (log ends at %zu, term %llu)\n",
                (unsigned long long)now, (unsigned long long)n->id, (unsigned long long)t,
                n->n_log, (unsigned long long)(n->n_log ? n->log[n->n_log - 1].term : 0));
    if (transfer_to == n->id && t > transfer_term) {
        transfers_done++;
        transfer_to = 0;
    }
    CHECK(leader_of[t] == 0 || leader_of[t] == n->id,
          "election safety: nodes %llu and %llu both lead term %llu",
          (unsigned long long)leader_of[t], (unsigned long long)n->id, (unsigned long long)t);
    leader_of[t] = n->id;
}

/* Record what a leader's commit index covers, with its term. */
static void note_commits(sim_node *n)
{
    if (n->r == NULL || hm_raft_role_of(n->r) != HM_RAFT_LEADER) return;
    uint64_t c = hm_raft_commit(n->r), t = hm_raft_term(n->r);
    grow((void **)&commit_term, &cap_commit_term, c + 1, sizeof *commit_term);
    for (uint64_t i = n->seen_commit + 1; i <= c; i++)
        if (commit_term[i] == 0 || commit_term[i] > t) commit_term[i] = t;
    if (c > n->seen_commit) n->seen_commit = c;
}

/* A leader that has written its log since it won holds every entry
 * committed in an earlier term (Raft's leader completeness: a leader of a
 * lower term may still be elected after a higher term committed). */
static void check_completeness(sim_node *n)
{
    if (hm_raft_role_of(n->r) != HM_RAFT_LEADER || n->led_term == hm_raft_term(n->r)) return;
    n->led_term = hm_raft_term(n->r);
    for (size_t i = 1; i < cap_applied; i++) {
        if (!applied_at[i].set) continue;
        if (i >= cap_commit_term || commit_term[i] == 0 || commit_term[i] >= n->led_term) continue;
        CHECK(i <= n->n_log && n->log[i - 1].chain == applied_at[i].chain,
              "leader completeness: node %llu leads term %llu without applied index %zu",
              (unsigned long long)n->id, (unsigned long long)n->led_term, i);
    }
}

static void apply(sim_node *n, uint64_t index)
{
    const sim_ent *e = &n->log[index - 1];
    grow((void **)&applied_at, &cap_applied, index + 1, sizeof *applied_at);
    sim_applied *a = &applied_at[index];
    if (a->set)
        CHECK(a->chain == e->chain && a->term == e->term,
              "state machine safety: node %llu applies another entry at index %llu",
              (unsigned long long)n->id, (unsigned long long)index);
    else {
        *a = (sim_applied){.term = e->term, .chain = e->chain, .set = true};
        if (verbose)
            fprintf(stderr, "t=%llu node %llu applies index %llu term %llu first\n",
                    (unsigned long long)now, (unsigned long long)n->id,
                    (unsigned long long)index, (unsigned long long)e->term);
    }
    for (size_t i = 0; i < n_cmds; i++) {
        sim_cmd *c = &cmds[i];
        if (c->node == n->id && c->index == index && c->term == e->term && !c->acked &&
            e->len == strlen(c->data) && memcmp(e->data, c->data, e->len) == 0) {
            c->acked = true;
            c->acked_at = ++seq;
        }
    }
    if (e->kind == HM_RAFT_CMD) n->kv[cmd_key(e->data, e->len)] = index;
    n->applied = index;
}

/* Answer node n's released reads its state machine has caught up with, and
 * check each answer is linearizable: writes are ordered by their log
 * index, so a read must see at least every write acknowledged before it
 * began and every write an earlier-finished read saw. */
static void answer_reads(sim_node *n)
{
    for (size_t i = 0; i < n_reads; i++) {
        sim_read *r = &reads[i];
        if (r->node != n->id || !r->released || r->done || r->lost || n->applied < r->index)
            continue;
        r->done = true;
        r->done_at = ++seq;
        r->value = n->kv[r->key];
        for (size_t j = 0; j < n_cmds; j++) {
            const sim_cmd *c = &cmds[j];
            if (c->acked && c->acked_at < r->invoked &&
                cmd_key(c->data, strlen(c->data)) == r->key)
                CHECK(c->index <= r->value,
                      "linearizability: a read of key %llu on node %llu saw index %llu, "
                      "after %s (index %llu) was acknowledged",
                      (unsigned long long)r->key, (unsigned long long)n->id,
                      (unsigned long long)r->value, c->data, (unsigned long long)c->index);
        }
        for (size_t j = 0; j < n_reads; j++) {
            const sim_read *o = &reads[j];
            if (o->done && o->key == r->key && o->done_at < r->invoked)
                CHECK(o->value <= r->value,
                      "linearizability: a read of key %llu on node %llu saw index %llu, an "
                      "earlier read saw %llu", (unsigned long long)r->key,
                      (unsigned long long)n->id, (unsigned long long)r->value,
                      (unsigned long long)o->value);
        }
    }
}

/* Carry out every ready of node n; false when it crashed meanwhile. */
static bool node_drain(sim_node *n, unsigned crash_pm)
{
    hm_raft_ready rd;
    while (n->r != NULL && hm_raft_take_ready(n->r, &rd)) {
        check_leader(n);
        for (size_t i = 0; i < rd.n_early; i++) net_send(n, &rd.early[i], &rd);
        bool writes = rd.hs_changed || rd.truncate_from != 0 || rd.n_entries > 0;
        /* the planted shell applies (and acknowledges) what it has not
         * written yet: entries of this very ready */
        bool early_apply = hm_raft_plant == HM_RAFT_PLANT_APPLY_BEFORE_PERSIST;
        for (uint64_t i = rd.apply_lo + 1; early_apply && i <= rd.apply_hi; i++) {
            const hm_raft_entry *e = NULL;
            if (rd.n_entries > 0 && i >= rd.entries[0].index) e = &rd.entries[i - rd.entries[0].index];
            if (e == NULL) {
                apply(n, i);
                continue;
            }
            /* acknowledged now; recorded as applied after the write below */
            for (size_t c = 0; c < n_cmds; c++) {
                sim_cmd *cmd = &cmds[c];
                if (cmd->node == n->id && cmd->index == i && cmd->term == e->term &&
                    e->len == strlen(cmd->data) && memcmp(e->data, cmd->data, e->len) == 0)
                    cmd->acked = true;
            }
        }
        if (writes && chance(crash_pm)) {
            node_crash(n, "lost power before its writes were durable");
            return false;
        }
        if (rd.hs_changed) n->hs = rd.hs;
        n->hs.commit = rd.hs.commit;
        if (rd.truncate_from != 0) {
            while (n->n_log >= rd.truncate_from) {
                free(n->log[n->n_log - 1].data);
                n->n_log--;
            }
        }
        for (size_t i = 0; i < rd.n_entries; i++) {
            const hm_raft_entry *e = &rd.entries[i];
            if (e->index != n->n_log + 1) {
                CHECK(false, "node %llu: ready entry %llu does not follow its log (%zu)",
                      (unsigned long long)n->id, (unsigned long long)e->index, n->n_log);
                return false;
            }
            grow((void **)&n->log, &n->cap_log, n->n_log + 1, sizeof *n->log);
            uint64_t prev = n->n_log ? n->log[n->n_log - 1].chain : 0;
            uint8_t *d = e->len ? xmalloc(e->len) : NULL;
            if (e->len) memcpy(d, e->data, e->len);
            n->log[n->n_log] = (sim_ent){.term = e->term, .kind = e->kind, .data = d,
                                         .len = e->len,
                                         .chain = hash_entry(prev, e->term, e->kind, d, e->len)};
            n->n_log++;
            seen_check(e->index, e->term, n->log[n->n_log - 1].chain, n->id);
        }
        for (size_t i = 0; i < rd.n_msgs; i++) net_send(n, &rd.msgs[i], &rd);
        for (uint64_t i = rd.apply_lo + 1; i <= rd.apply_hi; i++) {
            if (i > n->n_log) {
                CHECK(false, "node %llu: told to apply %llu, its log ends at %zu",
                      (unsigned long long)n->id, (unsigned long long)i, n->n_log);
                return false;
            }
            apply(n, i);
        }
        for (size_t i = 0; i < rd.n_reads; i++) {
            const hm_raft_read *rr = &rd.reads[i];
            if (rr->id == 0 || rr->id > n_reads || reads[rr->id - 1].node != n->id) {
                CHECK(false, "node %llu released a read it was not asked (%llu)",
                      (unsigned long long)n->id, (unsigned long long)rr->id);
                continue;
            }
            reads[rr->id - 1].released = true;
            reads[rr->id - 1].index = rr->index;
        }
        answer_reads(n);
        hm_raft_advance(n->r, &rd);
        note_commits(n);
        check_completeness(n);
    }
    return n->r != NULL;
}

/* ---- the run ------------------------------------------------------------------------ */

static void deliver_due(unsigned crash_pm)
{
    /* every message due now, in a random order */
    for (;;) {
        size_t due = 0;
        for (size_t i = 0; i < n_net; i++) due += net[i].at <= now;
        if (due == 0) return;
        size_t pick = rnd_below(due), k = 0;
        for (size_t i = 0; i < n_net; i++) {
            if (net[i].at > now) continue;
            if (k++ != pick) continue;
            sim_msg s = net[i];
            net[i] = net[--n_net];
            sim_node *to = node_of(s.to);
            if (to != NULL && to->r != NULL && to->stall_until > now) {
                net[n_net++] = s; /* held until the stall ends */
                net[n_net - 1].at = to->stall_until;
                break;
            }
            if (to != NULL && to->r != NULL && group[s.from - 1] == group[s.to - 1] &&
                !cut[s.from - 1][s.to - 1]) {
                hm_raft_msg_decoded d;
                int rc = hm_raft_msg_decode(s.bytes, s.len, &d);
                CHECK(rc == 0, "a message to node %llu does not decode: %s",
                      (unsigned long long)to->id, hm_err_msg(rc));
                if (rc == 0) {
                    rc = hm_raft_step(to->r, &d.msg);
                    CHECK(rc == 0, "node %llu refused a message of type %u: %s",
                          (unsigned long long)to->id, d.msg.type, hm_err_msg(rc));
                    hm_raft_msg_decoded_free(&d);
                    node_drain(to, crash_pm);
                }
            }
            msg_free(&s);
            break;
        }
    }
}

static void propose(void)
{
    for (size_t i = 0; i < n_nodes; i++) {
        sim_node *n = &nodes[i];
        if (n->r == NULL || n->stall_until > now || hm_raft_role_of(n->r) != HM_RAFT_LEADER)
            continue;
        grow((void **)&cmds, &cap_cmds, n_cmds + 1, sizeof *cmds);
        sim_cmd *c = &cmds[n_cmds];
        snprintf(c->data, sizeof c->data, "cmd-%zu", n_cmds);
        uint64_t idx = 0;
        if (hm_raft_propose(n->r, c->data, strlen(c->data), &idx) != 0) continue;
        c->node = n->id;
        c->index = idx;
        c->term = hm_raft_term(n->r);
        c->acked = false;
        c->invoked = ++seq;
        n_cmds++;
        return;
    }
}

/* An operator hands leadership to another node. */
static void transfer_some(void)
{
    for (size_t i = 0; i < n_nodes; i++) {
        sim_node *n = &nodes[i];
        if (n->r == NULL || n->stall_until > now || hm_raft_role_of(n->r) != HM_RAFT_LEADER ||
            n_nodes < 2)
            continue;
        uint64_t to = 1 + rnd_below(n_nodes);
        if (to == n->id) to = to % n_nodes + 1;
        if (!hm_raft_is_voter(n->r, to)) return;
        int rc = hm_raft_transfer(n->r, to);
        CHECK(rc == 0, "node %llu: transfer to %llu refused: %s", (unsigned long long)n->id,
              (unsigned long long)to, hm_err_msg(rc));
        transfers++;
        transfer_to = to;
        transfer_term = hm_raft_term(n->r);
        return;
    }
}

/* An operator changes the membership by one server (--members): adds the
 * node that is no member as a learner, promotes a learner, or removes a
 * voter other than the leader while more than the starting count vote.
 * Refusals (a change in flight, a learner not caught up) are normal. */
static void member_some(void)
{
    for (size_t i = 0; i < n_nodes; i++) {
        sim_node *n = &nodes[i];
        if (n->r == NULL || n->stall_until > now || hm_raft_role_of(n->r) != HM_RAFT_LEADER)
            continue;
        uint64_t x = 1 + rnd_below(n_nodes);
        size_t nv = 0;
        for (size_t j = 0; j < n_nodes; j++) nv += hm_raft_is_voter(n->r, nodes[j].id);
        enum hm_raft_conf_op op;
        if (!hm_raft_is_member(n->r, x)) op = HM_RAFT_CONF_ADD_LEARNER;
        else if (!hm_raft_is_voter(n->r, x)) op = HM_RAFT_CONF_PROMOTE;
        else if (x != n->id && nv > n_voters_base) op = HM_RAFT_CONF_REMOVE;
        else return;
        int rc = hm_raft_propose_conf(n->r, op, x, NULL);
        CHECK(rc == 0 || rc == HM_EBUSY || rc == HM_EINVAL,
              "node %llu: membership change refused oddly: %s", (unsigned long long)n->id,
              hm_err_msg(rc));
        if (rc == 0) {
            conf_changes++;
            if (verbose)
                fprintf(stderr, "t=%llu node %llu proposes %s of node %llu\n",
                        (unsigned long long)now, (unsigned long long)n->id,
                        op == HM_RAFT_CONF_ADD_LEARNER ? "add-learner"
                        : op == HM_RAFT_CONF_PROMOTE   ? "promote"
                                                       : "remove",
                        (unsigned long long)x);
        }
        return;
    }
}

/* A client reads a random key at a random node that is up. */
static void read_some(void)
{
    sim_node *n = &nodes[rnd_below(n_nodes)];
    if (n->r == NULL || n->stall_until > now) return;
    grow((void **)&reads, &cap_reads, n_reads + 1, sizeof *reads);
    sim_read *r = &reads[n_reads];
    memset(r, 0, sizeof *r);
    r->node = n->id;
    r->key = rnd_below(SIM_KEYS);
    r->invoked = ++seq;
    if (hm_raft_read_index(n->r, n_reads + 1) == 0) n_reads++;
}

static void reset_world(void)
{
    for (size_t i = 0; i < SIM_NODES_MAX; i++) {
        hm_raft_free(nodes[i].r);
        for (size_t j = 0; j < nodes[i].n_log; j++) free(nodes[i].log[j].data);
        free(nodes[i].log);
    }
    memset(nodes, 0, sizeof nodes);
    for (size_t i = 0; i < n_net; i++) msg_free(&net[i]);
    free(net);
    net = NULL;
    n_net = cap_net = 0;
    free(applied_at);
    applied_at = NULL;
    cap_applied = 0;
    free(commit_term);
    commit_term = NULL;
    cap_commit_term = 0;
    free(leader_of);
    leader_of = NULL;
    cap_leader = 0;
    free(seen);
    seen = NULL;
    n_seen = cap_seen = 0;
    free(cmds);
    cmds = NULL;
    n_cmds = cap_cmds = 0;
    free(reads);
    reads = NULL;
    n_reads = cap_reads = 0;
    seq = 0;
    transfer_to = 0;
    failed = false;
    fail_msg[0] = '\0';
}

/* One seeded run; 0 when every checker held. */
static uint64_t reads_answered;
static uint64_t heal_ticks_last; /* ticks from the heal to a leader a quorum follows */
static uint64_t heal_within, heal_runs; /* runs with a leader within 10 election timeouts */

/* True when some node leads and a quorum of the nodes name it leader. */
static bool leader_settled(size_t nn)
{
    for (size_t i = 0; i < nn; i++) {
        if (nodes[i].r == NULL || hm_raft_role_of(nodes[i].r) != HM_RAFT_LEADER) continue;
        size_t follow = 0, nv = 0;
        for (size_t j = 0; j < nn; j++) {
            if (!hm_raft_is_voter(nodes[i].r, nodes[j].id)) continue;
            nv++;
            follow += nodes[j].r != NULL && hm_raft_lead(nodes[j].r) == nodes[i].id;
        }
        if (follow >= nv / 2 + 1) return true;
    }
    return false;
}

/* The leader a quorum of its voters follows, or NULL. */
static sim_node *settled_leader(size_t nn)
{
    if (!leader_settled(nn)) return NULL;
    for (size_t i = 0; i < nn; i++)
        if (nodes[i].r != NULL && hm_raft_role_of(nodes[i].r) == HM_RAFT_LEADER &&
            hm_raft_lead(nodes[i].r) == nodes[i].id) {
            size_t follow = 0, nv = 0;
            for (size_t j = 0; j < nn; j++) {
                if (!hm_raft_is_voter(nodes[i].r, nodes[j].id)) continue;
                nv++;
                follow += nodes[j].r != NULL && hm_raft_lead(nodes[j].r) == nodes[i].id;
            }
            if (follow >= nv / 2 + 1) return &nodes[i];
        }
    return NULL;
}

static int run(uint64_t seed, uint64_t steps, size_t nn, uint64_t *acked_out)
{
    reset_world();
    rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
    n_voters_base = nn;
    if (members_mode && nn < SIM_NODES_MAX) nn++; /* the node that waits to be added */
    n_nodes = nn;
    for (size_t i = 0; i < nn; i++) {
        nodes[i].id = i + 1;
        voters[i] = i + 1;
        group[i] = 0;
    }
    /* short appends split a new leader's catch-up from its no-op, which
     * is where counting earlier-term entries (Raft's Figure 8) shows */
    append_max = rnd_below(2) ? (uint32_t)(1 + rnd_below(4)) : 0;
    if (append_max_fixed > 0) append_max = append_max_fixed;
    for (size_t i = 0; i < nn; i++) {
        node_start(&nodes[i]);
        skew_pm[i] = rnd_below(3) == 0 ? (unsigned)rnd_below(400) : 0;
    }
    heal_at = 0;
    cut_heal_at = 0;
    memset(cut, 0, sizeof cut);
    unsigned crash_pm = 30;
    for (now = 1; now <= steps && !failed; now++) {
        /* faults */
        for (size_t i = 0; i < nn; i++) {
            sim_node *n = &nodes[i];
            if (n->r == NULL && now >= n->restart_at) node_start(n);
            else if (n->r != NULL && chance(4)) node_crash(n, "crashed");
        }
        if (heal_at != 0 && now >= heal_at) {
            for (size_t i = 0; i < nn; i++) group[i] = 0;
            heal_at = 0;
        } else if (heal_at == 0 && chance(8)) {
            for (size_t i = 0; i < nn; i++) group[i] = (int)rnd_below(2);
            heal_at = now + 20 + rnd_below(80);
        }
        /* one-way cuts: a link, or all of one node's sending or hearing */
        if (cut_heal_at != 0 && now >= cut_heal_at) {
            memset(cut, 0, sizeof cut);
            cut_heal_at = 0;
        } else if (cut_heal_at == 0 && nn > 1 && chance(6)) {
            size_t a = rnd_below(nn), b = rnd_below(nn), how = rnd_below(3);
            for (size_t j = 0; j < nn; j++) {
                if (how == 0 && j == b) cut[a][b] = a != b;
                if (how == 1 && j != a) cut[a][j] = true; /* a cannot be heard */
                if (how == 2 && j != a) cut[j][a] = true; /* a cannot hear */
            }
            cut_heal_at = now + 20 + rnd_below(80);
        }
        /* a disk that stalls past the election timeout freezes its node */
        for (size_t i = 0; i < nn; i++)
            if (nodes[i].r != NULL && nodes[i].stall_until <= now && chance(2))
                nodes[i].stall_until = now + 5 + rnd_below(4 * SIM_ELECTION_TICKS);
        for (size_t i = 0; i < nn; i++) {
            sim_node *n = &nodes[i];
            if (n->r == NULL || n->stall_until > now) continue;
            hm_raft_tick(n->r);
            if (chance(skew_pm[i])) hm_raft_tick(n->r); /* a fast clock */
        }
        for (size_t i = 0; i < nn; i++) node_drain(&nodes[i], crash_pm);
        if (chance(300)) propose();
        if (chance(300)) read_some();
        if (chance(6)) transfer_some();
        if (members_mode && chance(25)) member_some();
        for (size_t i = 0; i < nn; i++) node_drain(&nodes[i], crash_pm);
        deliver_due(crash_pm);
    }
    /* quiet: every node up, the network whole and reliable, no crashes */
    drop_pm = 0;
    dup_pm = 0;
    memset(cut, 0, sizeof cut);
    for (size_t i = 0; i < nn; i++) {
        group[i] = 0;
        nodes[i].stall_until = 0;
        if (nodes[i].r == NULL) node_start(&nodes[i]);
    }
    uint64_t healed = now, end = now + 40 * SIM_ELECTION_TICKS;
    heal_ticks_last = UINT64_MAX;
    for (; now <= end && !failed; now++) {
        for (size_t i = 0; i < nn; i++) hm_raft_tick(nodes[i].r);
        for (size_t i = 0; i < nn; i++) node_drain(&nodes[i], 0);
        deliver_due(0);
        if (heal_ticks_last == UINT64_MAX && leader_settled(nn)) heal_ticks_last = now - healed;
    }
    heal_runs++;
    heal_within += heal_ticks_last <= 10 * SIM_ELECTION_TICKS;
    CHECK(heal_ticks_last != UINT64_MAX, "liveness: no leader in %d election timeouts after the "
          "network healed", 40);
    /* on a quiet network a transfer ends with the transferee leading,
     * within three election timeouts */
    for (size_t i = 0; i < nn && nn > 1 && !failed; i++) {
        if (hm_raft_role_of(nodes[i].r) != HM_RAFT_LEADER) continue;
        uint64_t to = 0;
        for (size_t k = 1; k < nn && to == 0; k++) {
            uint64_t c = (i + k) % nn + 1;
            if (hm_raft_is_voter(nodes[i].r, c)) to = c;
        }
        if (to == 0) break; /* the only voter */
        CHECK(hm_raft_transfer(nodes[i].r, to) == 0, "quiet transfer refused");
        uint64_t until = now + 3 * SIM_ELECTION_TICKS;
        for (; now <= until && !failed; now++) {
            for (size_t j = 0; j < nn; j++) hm_raft_tick(nodes[j].r);
            for (size_t j = 0; j < nn; j++) node_drain(&nodes[j], 0);
            deliver_due(0);
        }
        CHECK(hm_raft_role_of(nodes[to - 1].r) == HM_RAFT_LEADER,
              "a transfer from node %zu to node %llu on a quiet network did not end with it "
              "leading", i + 1, (unsigned long long)to);
        break;
    }
    drop_pm = 30;
    dup_pm = 20;
    if (failed) return 1;
    /* acknowledged writes, agreement, on every member of the leader's
     * configuration (a removed node keeps what it had) */
    sim_node *fin = settled_leader(nn);
    CHECK(fin != NULL, "liveness: no settled leader at the end");
    if (failed) return 1;
    uint64_t acked = 0;
    for (size_t i = 0; i < n_cmds && !failed; i++) {
        if (!cmds[i].acked) continue;
        acked++;
        for (size_t j = 0; j < nn; j++) {
            sim_node *n = &nodes[j];
            if (!hm_raft_is_member(fin->r, n->id)) continue;
            bool ok = cmds[i].index <= n->applied;
            if (ok) {
                const sim_ent *e = &n->log[cmds[i].index - 1];
                ok = e->len == strlen(cmds[i].data) &&
                     memcmp(e->data, cmds[i].data, e->len) == 0;
            }
            CHECK(ok, "acknowledged write lost: %s (index %llu) not applied on node %llu",
                  cmds[i].data, (unsigned long long)cmds[i].index, (unsigned long long)n->id);
        }
    }
    for (size_t j = 0; j < nn; j++)
        if (hm_raft_is_member(fin->r, nodes[j].id))
            CHECK(nodes[j].applied == fin->applied,
                  "liveness: after quiet time node %zu applied %llu, the leader %llu", j + 1,
                  (unsigned long long)nodes[j].applied, (unsigned long long)fin->applied);
    if (acked_out != NULL) *acked_out = acked;
    for (size_t i = 0; i < n_reads; i++) reads_answered += reads[i].done;
    return failed ? 1 : 0;
}

/* A digest of what a run did: every applied index's chain, the commands,
 * every node's log.  Two runs of one seed must agree. */
static uint64_t run_digest(void)
{
    uint64_t h = hash_entry(0, n_cmds, 0, NULL, 0);
    for (size_t i = 1; i < cap_applied; i++)
        if (applied_at[i].set) h = hash_entry(h, i, 1, &applied_at[i].chain, 8);
    for (size_t i = 0; i < n_nodes; i++)
        h = hash_entry(h, nodes[i].n_log, 2,
                       nodes[i].n_log ? &nodes[i].log[nodes[i].n_log - 1].chain : NULL,
                       nodes[i].n_log ? 8 : 0);
    return h;
}

/* ---- named scenarios ---------------------------------------------------------
 * Scripted runs on a quiet, reliable network (no random faults), each the
 * shape of a known Raft failure; the checkers above run throughout. */

/* A quiet world of nn voters; the first node that leads with a quorum
 * following it, or NULL after 40 election timeouts. */
static sim_node *scenario_start(uint64_t seed, size_t nn)
{
    reset_world();
    rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
    n_nodes = nn;
    n_voters_base = nn;
    append_max = 0;
    drop_pm = dup_pm = 0;
    memset(cut, 0, sizeof cut);
    for (size_t i = 0; i < nn; i++) {
        nodes[i].id = i + 1;
        voters[i] = i + 1;
        group[i] = 0;
        skew_pm[i] = 0;
    }
    for (size_t i = 0; i < nn; i++) node_start(&nodes[i]);
    for (now = 1; now <= 40 * SIM_ELECTION_TICKS; now++) {
        for (size_t i = 0; i < nn; i++) hm_raft_tick(nodes[i].r);
        for (size_t i = 0; i < nn; i++) node_drain(&nodes[i], 0);
        deliver_due(0);
        sim_node *lead = settled_leader(nn);
        if (lead != NULL) return lead;
    }
    CHECK(false, "scenario: no leader on a quiet network");
    return NULL;
}

/* One tick of a scenario: stalled nodes sit out; writes every 5 ticks
 * (to whoever leads), reads every 3 at a random node when asked. */
static void scenario_tick(bool reads)
{
    for (size_t i = 0; i < n_nodes; i++)
        if (nodes[i].stall_until <= now) hm_raft_tick(nodes[i].r);
    for (size_t i = 0; i < n_nodes; i++) node_drain(&nodes[i], 0);
    if (now % 5 == 0) propose();
    if (reads && now % 3 == 0) read_some();
    for (size_t i = 0; i < n_nodes; i++) node_drain(&nodes[i], 0);
    deliver_due(0);
}

/* One tick, and the clock moves on. */
static void scenario_step(void)
{
    scenario_tick(false);
    now++;
}

static size_t scenario_acked(void)
{
    size_t n = 0;
    for (size_t i = 0; i < n_cmds; i++) n += cmds[i].acked;
    return n;
}

static int scenario_end(void)
{
    drop_pm = 30;
    dup_pm = 20;
    for (size_t i = 0; i < n_nodes; i++) nodes[i].stall_until = 0;
    return failed ? 1 : 0;
}

/* "asymmetric-partition" (the 2020 outage of a Raft cluster whose pre-vote
 * ran without check-quorum): a follower stops hearing the leader while
 * everyone still hears it, for 50 election timeouts, then the cut heals.
 * Pre-vote with stickiness must keep it from inflating its term: the
 * leader and its term stay, and writes commit throughout and after. */
static int scenario_asymmetric(uint64_t seed, size_t nn)
{
    sim_node *lead = scenario_start(seed, nn);
    if (lead == NULL) return scenario_end();
    uint64_t term = hm_raft_term(lead->r);
    size_t victim = (size_t)(lead->id % nn); /* another node's index */
    cut[lead->id - 1][victim] = true;
    uint64_t heal = now + 50 * SIM_ELECTION_TICKS, end = heal + 20 * SIM_ELECTION_TICKS;
    size_t acked_before = 0;
    for (; now <= end && !failed; now++) {
        if (now == heal) {
            memset(cut, 0, sizeof cut);
            acked_before = scenario_acked();
            CHECK(acked_before > 0, "scenario: no write committed while the follower was cut");
        }
        scenario_tick(false);
    }
    CHECK(scenario_acked() > acked_before, "scenario: no write committed after the cut healed");
    for (size_t i = 0; i < nn; i++)
        CHECK(hm_raft_term(nodes[i].r) == term,
              "scenario asymmetric-partition: node %zu is at term %llu, the leader's was %llu "
              "(the cut follower disrupted the leader)", i + 1,
              (unsigned long long)hm_raft_term(nodes[i].r), (unsigned long long)term);
    CHECK(hm_raft_role_of(lead->r) == HM_RAFT_LEADER, "scenario: the leader lost its place");
    return scenario_end();
}

/* "stale-read": the leader is cut off both ways while clients keep reading
 * at every node, the old leader included; the others elect a leader and
 * commit writes.  No read may miss a write acknowledged before it began
 * (the linearizability checker), and after the heal every node has every
 * acknowledged write. */
static int scenario_stale_read(uint64_t seed, size_t nn)
{
    sim_node *lead = scenario_start(seed, nn);
    if (lead == NULL) return scenario_end();
    uint64_t old_term = hm_raft_term(lead->r);
    for (size_t j = 0; j < nn; j++) {
        cut[lead->id - 1][j] = j != lead->id - 1;
        cut[j][lead->id - 1] = j != lead->id - 1;
    }
    uint64_t heal = now + 30 * SIM_ELECTION_TICKS, end = heal + 20 * SIM_ELECTION_TICKS;
    bool new_leader = false;
    for (; now <= end && !failed; now++) {
        if (now == heal) memset(cut, 0, sizeof cut);
        scenario_tick(true);
        for (size_t i = 0; i < nn; i++)
            new_leader = new_leader || (hm_raft_role_of(nodes[i].r) == HM_RAFT_LEADER &&
                                        hm_raft_term(nodes[i].r) > old_term);
    }
    CHECK(new_leader, "scenario stale-read: the majority elected no new leader");
    size_t answered = 0;
    for (size_t i = 0; i < n_reads; i++) answered += reads[i].done;
    CHECK(answered > 0, "scenario stale-read: no read was answered");
    return scenario_end();
}

/* "stalled-leader": the leader's disk stalls for three election timeouts
 * (it neither ticks nor takes a message); the others elect a leader, and
 * the old one comes back believing it leads.  Reads and writes go on at
 * every node throughout; the checkers must hold, and the old leader must
 * step down. */
static int scenario_stalled_leader(uint64_t seed, size_t nn)
{
    sim_node *lead = scenario_start(seed, nn);
    if (lead == NULL) return scenario_end();
    uint64_t old_term = hm_raft_term(lead->r);
    lead->stall_until = now + 3 * SIM_ELECTION_TICKS * 2;
    uint64_t end = lead->stall_until + 20 * SIM_ELECTION_TICKS;
    for (; now <= end && !failed; now++) scenario_tick(true);
    CHECK(hm_raft_term(lead->r) > old_term,
          "scenario stalled-leader: the stalled leader is still at its old term");
    CHECK(leader_settled(nn), "scenario stalled-leader: no settled leader at the end");
    return scenario_end();
}

/* "flapping-link": the link between the leader and one follower goes down
 * and up every 3 to 12 ticks, both ways, for 50 election timeouts.  Writes
 * must keep committing (a quorum never depends on that link alone), and
 * the term may move only while the flapping lasts. */
static int scenario_flapping(uint64_t seed, size_t nn)
{
    sim_node *lead = scenario_start(seed, nn);
    if (lead == NULL) return scenario_end();
    size_t a = lead->id - 1, b = (size_t)(lead->id % nn);
    uint64_t stop = now + 50 * SIM_ELECTION_TICKS, end = stop + 20 * SIM_ELECTION_TICKS;
    uint64_t next_flip = now + 3 + rnd_below(10);
    size_t acked_mid = 0;
    for (; now <= end && !failed; now++) {
        if (now < stop && now >= next_flip) {
            cut[a][b] = cut[b][a] = !cut[a][b];
            next_flip = now + 3 + rnd_below(10);
        }
        if (now == stop) {
            memset(cut, 0, sizeof cut);
            acked_mid = scenario_acked();
            CHECK(acked_mid > 0, "scenario flapping-link: no write committed while it flapped");
        }
        scenario_tick(true);
    }
    CHECK(scenario_acked() > acked_mid, "scenario flapping-link: no write after it settled");
    CHECK(leader_settled(nn), "scenario flapping-link: no settled leader at the end");
    return scenario_end();
}

/* Tick the world until cond holds or `limit` ticks pass; true when it held. */
static bool scenario_until(bool (*cond)(void *), void *arg, uint64_t limit)
{
    for (uint64_t end = now + limit; now <= end && !failed; now++) {
        if (cond(arg)) return true;
        scenario_tick(false);
    }
    return !failed && cond(arg);
}

static bool cond_all_applied(void *arg)
{
    uint64_t idx = *(uint64_t *)arg;
    for (size_t i = 0; i < n_nodes; i++)
        if (hm_raft_is_member(nodes[i].r, nodes[i].id) && nodes[i].applied < idx) return false;
    return true;
}

static bool cond_new_leader(void *arg)
{
    const uint64_t *skip = arg; /* the old leader and its partner */
    for (size_t i = 0; i < n_nodes; i++)
        if (nodes[i].id != skip[0] && nodes[i].id != skip[1] &&
            hm_raft_role_of(nodes[i].r) == HM_RAFT_LEADER && hm_raft_term(nodes[i].r) > skip[2])
            return true;
    return false;
}

/* Cut node id off from every node, both ways, except `keep` (0: none). */
static void scenario_isolate(uint64_t id, uint64_t keep)
{
    for (size_t j = 0; j < n_nodes; j++) {
        if (nodes[j].id == id || nodes[j].id == keep) continue;
        cut[id - 1][j] = cut[j][id - 1] = true;
    }
}

/* Propose a change on r, ticking the world until it is taken (a leader
 * that has not committed in its term yet, a learner still catching up);
 * the last refusal after `ticks` ticks. */
static int scenario_conf(sim_node *n, enum hm_raft_conf_op op, uint64_t x, uint64_t *idx,
                         int ticks)
{
    int rc = HM_EBUSY;
    for (int t = 0; t <= ticks && !failed; t++) {
        if (hm_raft_role_of(n->r) != HM_RAFT_LEADER) return HM_ENOTLEADER;
        rc = hm_raft_propose_conf(n->r, op, x, idx);
        if (rc != HM_EBUSY && rc != HM_EINVAL) return rc;
        scenario_step();
    }
    return rc;
}

/* "divergent-config" (the bug Ongaro described on raft-dev): four voters
 * a, b, c, d and a learner e.  a, cut off but for e, promotes e: the
 * configuration {a,b,c,d,e}, on a and e only.  The others elect b, which
 * at once removes a: {b,c,d}.  Proposing that before b committed an entry
 * of its term (the planted bug conf-before-term-commit) lets it commit on
 * b and c alone while d is cut off; then a, e and d, whose logs d cannot
 * tell apart, elect a under the other configuration, and two majorities
 * that do not meet commit different entries at one index.  With the
 * rule, b's change waits for its no-op, which needs d: d then holds an
 * entry of b's term and a cannot win its vote. */
static int scenario_divergent(uint64_t seed, size_t nn)
{
    (void)nn;
    sim_node *lead = scenario_start(seed, 4);
    if (lead == NULL) return scenario_end();
    n_nodes = 5; /* e joins */
    nodes[4].id = 5;
    group[4] = 0;
    node_start(&nodes[4]);
    uint64_t idx = 0, a = lead->id, e = 5;
    int rc = scenario_conf(lead, HM_RAFT_CONF_ADD_LEARNER, e, &idx, 20 * SIM_ELECTION_TICKS);
    CHECK(rc == 0, "scenario divergent-config: adding e: %s", hm_err_msg(rc));
    if (rc == 0 && !scenario_until(cond_all_applied, &idx, 20 * SIM_ELECTION_TICKS))
        CHECK(false, "scenario divergent-config: e did not catch up");
    if (failed) return scenario_end();
    /* a, cut off but for e, promotes e */
    scenario_isolate(a, e);
    rc = scenario_conf(lead, HM_RAFT_CONF_PROMOTE, e, NULL, 5 * SIM_ELECTION_TICKS);
    CHECK(rc == 0, "scenario divergent-config: promoting e: %s", hm_err_msg(rc));
    for (int t = 0; t < 3; t++) scenario_step();
    scenario_isolate(a, 0);
    scenario_isolate(e, 0);
    /* b, c and d elect a leader, b */
    uint64_t skip[3] = {a, e, hm_raft_term(lead->r)};
    if (!scenario_until(cond_new_leader, skip, 40 * SIM_ELECTION_TICKS)) {
        CHECK(false, "scenario divergent-config: b, c and d elected no leader");
        return scenario_end();
    }
    sim_node *nb = NULL;
    for (size_t i = 0; i < n_nodes; i++)
        if (hm_raft_role_of(nodes[i].r) == HM_RAFT_LEADER && nodes[i].id != a) nb = &nodes[i];
    uint64_t b = nb->id, d = 0;
    for (uint64_t x = 1; x <= 4; x++)
        if (x != a && x != b && d == 0) d = x;
    /* d is cut off at once; b removes a as soon as it may */
    scenario_isolate(d, 0);
    rc = hm_raft_propose_conf(nb->r, HM_RAFT_CONF_REMOVE, a, NULL);
    if (rc == HM_EBUSY) {
        /* the rule: b must first commit its no-op, which needs d */
        memset(cut, 0, sizeof cut);
        scenario_isolate(a, 0);
        scenario_isolate(e, 0);
        rc = scenario_conf(nb, HM_RAFT_CONF_REMOVE, a, NULL, 5 * SIM_ELECTION_TICKS);
        scenario_isolate(d, 0);
    }
    for (int t = 0; t < 3 * SIM_ELECTION_TICKS; t++) scenario_step();
    /* b and c go away; a, e and d meet again */
    memset(cut, 0, sizeof cut);
    for (uint64_t x = 1; x <= 4; x++)
        if (x != a && x != d) scenario_isolate(x, 0);
    for (int t = 0; t < 40 * SIM_ELECTION_TICKS && !failed; t++) scenario_step();
    return scenario_end();
}

/* "conf-rollback": a leader cut off but for a learner promotes it (the
 * change on those two only); the others elect a leader and write on; when
 * everyone meets again the promotion is truncated, and with it the
 * membership must go back: no node may still count the learner a voter. */
static int scenario_conf_rollback(uint64_t seed, size_t nn)
{
    (void)nn;
    sim_node *lead = scenario_start(seed, 4);
    if (lead == NULL) return scenario_end();
    n_nodes = 5;
    nodes[4].id = 5;
    group[4] = 0;
    node_start(&nodes[4]);
    uint64_t idx = 0, a = lead->id, e = 5;
    int rc = scenario_conf(lead, HM_RAFT_CONF_ADD_LEARNER, e, &idx, 20 * SIM_ELECTION_TICKS);
    CHECK(rc == 0, "scenario conf-rollback: adding e: %s", hm_err_msg(rc));
    if (rc == 0 && !scenario_until(cond_all_applied, &idx, 20 * SIM_ELECTION_TICKS))
        CHECK(false, "scenario conf-rollback: e did not catch up");
    if (failed) return scenario_end();
    scenario_isolate(a, e);
    rc = scenario_conf(lead, HM_RAFT_CONF_PROMOTE, e, NULL, 5 * SIM_ELECTION_TICKS);
    CHECK(rc == 0, "scenario conf-rollback: promoting e: %s", hm_err_msg(rc));
    for (int t = 0; t < 20 && !hm_raft_is_voter(nodes[e - 1].r, e); t++) scenario_step();
    CHECK(hm_raft_is_voter(nodes[e - 1].r, e), "scenario conf-rollback: e never saw its promotion");
    scenario_isolate(a, 0);
    scenario_isolate(e, 0);
    uint64_t skip[3] = {a, e, hm_raft_term(lead->r)};
    if (!scenario_until(cond_new_leader, skip, 40 * SIM_ELECTION_TICKS)) {
        CHECK(false, "scenario conf-rollback: the others elected no leader");
        return scenario_end();
    }
    for (int t = 0; t < 5 * SIM_ELECTION_TICKS; t++) scenario_step();
    memset(cut, 0, sizeof cut);
    for (int t = 0; t < 30 * SIM_ELECTION_TICKS && !failed; t++) scenario_step();
    for (size_t i = 0; i < n_nodes; i++)
        CHECK(!hm_raft_is_voter(nodes[i].r, e),
              "scenario conf-rollback: node %zu still counts node %llu a voter after its "
              "promotion was truncated", i + 1, (unsigned long long)e);
    return scenario_end();
}

static const struct {
    const char *name;
    int (*run)(uint64_t seed, size_t nn);
} scenarios[] = {
    {"conf-rollback", scenario_conf_rollback},
    {"divergent-config", scenario_divergent},
    {"asymmetric-partition", scenario_asymmetric},
    {"stale-read", scenario_stale_read},
    {"stalled-leader", scenario_stalled_leader},
    {"flapping-link", scenario_flapping},
};

static const struct {
    const char *name;
    enum hm_raft_plant plant;
} plants[] = {
    {"no-pre-vote", HM_RAFT_PLANT_NO_PRE_VOTE},
    {"conf-before-term-commit", HM_RAFT_PLANT_CONF_BEFORE_TERM_COMMIT},
    {"conf-survives-truncate", HM_RAFT_PLANT_CONF_SURVIVES_TRUNCATE},
    {"vote-before-persist", HM_RAFT_PLANT_VOTE_BEFORE_PERSIST},
    {"vote-ignores-log", HM_RAFT_PLANT_VOTE_IGNORES_LOG},
    {"append-skips-match", HM_RAFT_PLANT_APPEND_SKIPS_MATCH},
    {"commit-on-minority", HM_RAFT_PLANT_COMMIT_ON_MINORITY},
    {"commit-old-term", HM_RAFT_PLANT_COMMIT_OLD_TERM},
    {"ack-before-persist", HM_RAFT_PLANT_ACK_BEFORE_PERSIST},
    {"apply-before-persist", HM_RAFT_PLANT_APPLY_BEFORE_PERSIST},
    {"read-without-read-index", HM_RAFT_PLANT_READ_WITHOUT_READ_INDEX},
};

static void usage(void)
{
    fprintf(stderr,
            "usage: hamster-raft-sim [--seed N]... [--seeds N] [--soak] [--steps N] "
            "[--nodes N] [--members] [--append-max N] [--scenario NAME] [--plant NAME] [--expect-failure] [--check-determinism] [-v]\n"
            "plants:");
    for (size_t i = 0; i < sizeof plants / sizeof plants[0]; i++)
        fprintf(stderr, " %s", plants[i].name);
    fprintf(stderr, "\nscenarios:");
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        fprintf(stderr, " %s", scenarios[i].name);
    fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
    uint64_t seed_list[64];
    size_t n_seeds = 0;
    uint64_t seeds = 0, steps = 2000;
    size_t nn = 3;
    bool expect_failure = false, soak = false, determinism = false;
    const char *scenario = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--seed") == 0 && v != NULL && n_seeds < 64) {
            seed_list[n_seeds++] = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--seeds") == 0 && v != NULL) {
            seeds = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--steps") == 0 && v != NULL) {
            steps = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--append-max") == 0 && v != NULL) {
            append_max_fixed = (uint32_t)strtoul(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--nodes") == 0 && v != NULL) {
            nn = (size_t)strtoul(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--plant") == 0 && v != NULL) {
            size_t k = 0;
            for (; k < sizeof plants / sizeof plants[0]; k++)
                if (strcmp(plants[k].name, v) == 0) break;
            if (k == sizeof plants / sizeof plants[0]) {
                usage();
                return 2;
            }
            hm_raft_plant = plants[k].plant;
            i++;
        } else if (strcmp(a, "--expect-failure") == 0) {
            expect_failure = true;
        } else if (strcmp(a, "--scenario") == 0 && v != NULL) {
            scenario = v;
            i++;
        } else if (strcmp(a, "--members") == 0) {
            members_mode = true;
        } else if (strcmp(a, "--check-determinism") == 0) {
            determinism = true;
        } else if (strcmp(a, "--soak") == 0) {
            soak = true;
        } else if (strcmp(a, "-v") == 0) {
            verbose = 1;
        } else {
            usage();
            return 2;
        }
    }
    if (nn < 1 || nn > SIM_NODES_MAX) {
        usage();
        return 2;
    }
    if (soak) {
        const char *s = getenv("SIM_SOAK_SECONDS");
        time_t stop = time(NULL) + (s != NULL ? atol(s) : 600);
        uint64_t seed = (uint64_t)time(NULL), runs = 0;
        bool members_flag = members_mode;
        while (time(NULL) < stop) {
            size_t k = 3 + 2 * (size_t)(seed % 2);
            members_mode = members_flag || seed % 3 == 0; /* a third change membership */
            if (run(seed, steps, k, NULL) != 0) {
                printf("FAIL seed %llu nodes %zu: %s\n", (unsigned long long)seed, k, fail_msg);
                return 1;
            }
            runs++;
            seed++;
        }
        printf("soak: %llu seeds passed; a leader within 10 election timeouts of the heal in "
               "%llu of them (%.2f%%)\n", (unsigned long long)runs,
               (unsigned long long)heal_within, runs ? 100.0 * (double)heal_within / (double)runs : 0.0);
        return 0;
    }
    if (scenario != NULL) {
        size_t k = 0;
        for (; k < sizeof scenarios / sizeof scenarios[0]; k++)
            if (strcmp(scenarios[k].name, scenario) == 0) break;
        if (k == sizeof scenarios / sizeof scenarios[0]) {
            usage();
            return 2;
        }
        uint64_t total = n_seeds > 0 ? n_seeds : seeds > 0 ? seeds : 1, fails = 0;
        for (uint64_t i = 0; i < total; i++) {
            uint64_t seed = n_seeds > 0 ? seed_list[i] : i + 1;
            if (scenarios[k].run(seed, nn) != 0) {
                fails++;
                printf("seed %llu: FAIL at t=%llu: %s\n", (unsigned long long)seed,
                       (unsigned long long)now, fail_msg);
                if (expect_failure) break;
            }
        }
        reset_world();
        printf("scenario %s: %llu of %llu seeds held\n", scenario,
               (unsigned long long)(total - fails), (unsigned long long)total);
        return expect_failure ? (fails > 0 ? 0 : 1) : (fails == 0 ? 0 : 1);
    }
    if (n_seeds == 0 && seeds == 0) seeds = 1;
    uint64_t total = n_seeds > 0 ? n_seeds : seeds, fails = 0, acked_all = 0;
    for (uint64_t i = 0; i < total; i++) {
        uint64_t seed = n_seeds > 0 ? seed_list[i] : i + 1, acked = 0;
        int rc = run(seed, steps, nn, &acked);
        if (determinism) {
            uint64_t first = run_digest();
            run(seed, steps, nn, NULL);
            if (run_digest() != first) {
                printf("seed %llu: two runs differ\n", (unsigned long long)seed);
                rc = 1;
            }
        }
        acked_all += acked;
        if (rc != 0) {
            fails++;
            printf("seed %llu: FAIL at t=%llu: %s\n", (unsigned long long)seed,
                   (unsigned long long)now, fail_msg);
            if (expect_failure) break;
        } else if (verbose || total <= 4) {
            printf("seed %llu: ok, %llu acknowledged writes\n", (unsigned long long)seed,
                   (unsigned long long)acked);
        }
    }
    reset_world();
    if (expect_failure) {
        if (fails == 0) {
            printf("planted bug not caught in %llu seeds\n", (unsigned long long)total);
            return 1;
        }
        printf("planted bug caught\n");
        return 0;
    }
    printf("%llu of %llu seeds passed, %llu acknowledged writes and %llu reads checked; "
           "a leader within 10 election timeouts of the heal in %llu of %llu runs; "
           "%llu of %llu leadership transfers reached their node; %llu membership changes\n",
           (unsigned long long)(total - fails), (unsigned long long)total,
           (unsigned long long)acked_all, (unsigned long long)reads_answered,
           (unsigned long long)heal_within, (unsigned long long)heal_runs,
           (unsigned long long)transfers_done, (unsigned long long)transfers,
           (unsigned long long)conf_changes);
    return fails == 0 ? 0 : 1;
}
