/* hm_raft.h - the Raft core: a pure state machine (docs/adr/0014-raft-core.md).
 *
 * No clock, socket, file or thread inside.  The shell that owns a core
 * (the metadata node, or the simulator) drives it with four calls:
 *
 *   hm_raft_tick(r)         one unit of logical time passed
 *   hm_raft_step(r, msg)    a message from a peer arrived
 *   hm_raft_propose(r, ..)  a client command to replicate (leader only)
 *   hm_raft_take_ready(r, &rd) what to do now, in this order:
 *       1. send rd.early (may leave before step 2 is durable: a leader's
 *          appends and heartbeats, pre-vote requests)
 *       2. persist: rd.hs when rd.hs_changed; drop the log from
 *          rd.truncate_from when it is not 0; append rd.entries; sync
 *       3. send rd.msgs (votes, vote requests, append replies: they speak
 *          for what step 2 made durable)
 *       4. apply the log's entries (rd.apply_lo, rd.apply_hi], all durable
 *          on this node
 *       5. answer rd.reads once the state machine applied their index
 *   hm_raft_advance(r, &rd) step 1-4 are done
 *
 * Between hm_raft_take_ready returning true and hm_raft_advance, the shell calls
 * nothing else on the core; a ready and its pointers stay valid until then.
 *
 * The core never reads the log.  It keeps the term of every index as runs
 * (first index, term) and copies of the entries it has not yet handed out
 * in a ready.  An append it sends names a range, (lo, hi]: the shell fills
 * hm_raft_msg.entries from its own log (the entries of the current ready
 * included, which step 2 wrote) before the message leaves.  A received
 * append's entries are copied, so they need only live through the step.
 *
 * Rules (all on; ARCHITECTURE §4, ADR 0014): pre-vote with check-quorum;
 * a node that heard from a leader within the election timeout ignores
 * vote and pre-vote requests; term and vote are durable before any vote
 * reply or vote request leaves (rd.msgs); a new leader appends a no-op of
 * its term; a leader counts only entries of its term toward a commit and
 * counts itself only for what is durable here; nothing is applied before
 * it is durable here, with one voter too.
 *
 * Reads are linearizable through ReadIndex: a read is released with the
 * leader's commit index once a quorum answered a heartbeat round sent
 * after the read arrived (reads waiting together share one round), and
 * only once the leader committed an entry of its term.  A follower asks
 * the leader.  No lease reads.
 *
 * Leadership transfer: the leader brings the transferee's log up to its
 * own, tells it to campaign at once (no pre-vote, past other voters'
 * stickiness), and takes no proposals meanwhile; a transfer that has not
 * finished within an election timeout is dropped.
 *
 * Membership changes one server at a time: add a learner, promote a
 * caught-up learner, remove a member.  A change takes effect when its
 * entry is appended (leader and followers alike) and reverts when that
 * entry is truncated.  The leader proposes one only after it committed an
 * entry of its term and while no other change is uncommitted.  Learners
 * replicate and never vote, campaign, or count toward a commit, a
 * check-quorum or a read round.
 *
 * Not yet here: snapshots and log compaction (ADR 0014 lists them).
 */
#ifndef HM_RAFT_H
#define HM_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hm_raft hm_raft;

#define HM_RAFT_VOTERS_MAX 7u
#define HM_RAFT_MEMBERS_MAX 16u        /* voters and learners */
#define HM_RAFT_APPEND_ENTRIES_MAX 64u /* entries per append message, by default */

enum hm_raft_role {
    HM_RAFT_FOLLOWER = 1,
    HM_RAFT_PRE_CANDIDATE,
    HM_RAFT_CANDIDATE,
    HM_RAFT_LEADER,
};

enum hm_raft_entry_kind { HM_RAFT_CMD = 1, HM_RAFT_NOOP = 2, HM_RAFT_CONF = 3 };

/* A membership change, the data of an HM_RAFT_CONF entry: version 1, the
 * op, the node id (8 bytes big-endian); HM_RAFT_CONF_BYTES in all. */
enum hm_raft_conf_op {
    HM_RAFT_CONF_ADD_LEARNER = 1, /* a new member that replicates, never votes */
    HM_RAFT_CONF_PROMOTE = 2,     /* a caught-up learner becomes a voter */
    HM_RAFT_CONF_REMOVE = 3,      /* a voter or learner leaves */
};
#define HM_RAFT_CONF_BYTES 10u

enum hm_raft_msg_type {
    HM_RAFT_MSG_PREVOTE = 1,
    HM_RAFT_MSG_PREVOTE_RESP,
    HM_RAFT_MSG_VOTE,
    HM_RAFT_MSG_VOTE_RESP,
    HM_RAFT_MSG_APP,
    HM_RAFT_MSG_APP_RESP,
    HM_RAFT_MSG_HEARTBEAT,
    HM_RAFT_MSG_HEARTBEAT_RESP,
    HM_RAFT_MSG_READ_INDEX,       /* follower -> leader: ctx = the read's id */
    HM_RAFT_MSG_READ_INDEX_RESP,  /* leader -> follower: ctx = id, commit = index */
    HM_RAFT_MSG_TIMEOUT_NOW,      /* leader -> transferee: campaign now */
};

/* VOTE.ctx of a campaign started by TIMEOUT_NOW: voters that heard from
 * the leader lately vote anyway (the leader asked for it). */
#define HM_RAFT_VOTE_TRANSFER 1u

typedef struct hm_raft_entry {
    uint64_t term, index;
    uint8_t kind;         /* enum hm_raft_entry_kind */
    const void *data;
    size_t len;
} hm_raft_entry;

typedef struct hm_raft_msg {
    uint8_t type;         /* enum hm_raft_msg_type */
    uint64_t from, to, term;
    /* PREVOTE, VOTE: the candidate's last index and term.
     * APP: the index and term before the entries. */
    uint64_t log_index, log_term;
    uint64_t commit;      /* APP, HEARTBEAT: the leader's commit for `to` */
    /* APP as sent: entries (lo, hi] for the shell to fill in.  APP as
     * received: entries[0..n_entries), indexes log_index + 1 onwards. */
    uint64_t lo, hi;
    const hm_raft_entry *entries;
    size_t n_entries;
    /* responses */
    bool reject;
    uint64_t match;       /* APP_RESP: last index matching the leader's log;
                           * on reject, a hint: the follower's last index */
    uint64_t ctx;         /* HEARTBEAT(_RESP): the leader's read round;
                           * READ_INDEX(_RESP): the read's id */
} hm_raft_msg;

/* A read released by ReadIndex: answer it from the state machine once it
 * applied index (it may not have yet). */
typedef struct hm_raft_read {
    uint64_t id, index;
} hm_raft_read;

typedef struct hm_raft_hardstate {
    uint64_t term, vote, commit;
} hm_raft_hardstate;

typedef struct hm_raft_ready {
    const hm_raft_msg *early;
    size_t n_early;
    bool hs_changed;
    hm_raft_hardstate hs;
    uint64_t truncate_from;       /* 0: none */
    const hm_raft_entry *entries; /* valid until hm_raft_advance */
    size_t n_entries;
    const hm_raft_msg *msgs;
    size_t n_msgs;
    uint64_t apply_lo, apply_hi;  /* apply (lo, hi]; equal: nothing */
    const hm_raft_read *reads;    /* 5. reads released (see hm_raft_read_index) */
    size_t n_reads;
} hm_raft_ready;

typedef struct hm_raft_opts {
    uint64_t id;                  /* this node, not 0 */
    /* The membership before the log's first entry; the log's HM_RAFT_CONF
     * entries change it (hm_raft_boot.confs).  This node need not be in
     * it: a node waiting to be added is a member of nothing. */
    const uint64_t *voters;
    size_t n_voters;              /* 1..HM_RAFT_VOTERS_MAX */
    const uint64_t *learners;
    size_t n_learners;            /* voters + learners <= HM_RAFT_MEMBERS_MAX */
    uint32_t election_ticks;      /* election timeout: randomised in [t, 2t) */
    uint32_t heartbeat_ticks;     /* < election_ticks */
    uint64_t seed;                /* election jitter; a seed replays a run */
    uint32_t append_entries_max;  /* entries per append; 0: HM_RAFT_APPEND_ENTRIES_MAX */
} hm_raft_opts;

/* What the node found on its disk at start: hard state and the term of
 * every index of its log, as runs: run i covers indexes
 * run_index[i] .. run_index[i + 1] - 1 (the last run up to last_index).
 * applied: what its state machine already holds (<= last_index). */
typedef struct hm_raft_boot {
    hm_raft_hardstate hs;
    uint64_t last_index;
    const uint64_t *run_index, *run_term;
    size_t n_runs;
    uint64_t applied;
    /* every HM_RAFT_CONF entry of the log, in index order (index and data) */
    const hm_raft_entry *confs;
    size_t n_confs;
} hm_raft_boot;

/* Test-only planted bugs (docs/simulation.md): each breaks one rule so
 * that the simulator's checkers are shown able to fail.  Never set
 * outside tests. */
enum hm_raft_plant {
    HM_RAFT_PLANT_NONE = 0,
    HM_RAFT_PLANT_VOTE_BEFORE_PERSIST, /* vote replies leave before the vote is durable */
    HM_RAFT_PLANT_VOTE_IGNORES_LOG,    /* votes granted without the up-to-date check */
    HM_RAFT_PLANT_APPEND_SKIPS_MATCH,  /* appends accepted without the previous-term check */
    HM_RAFT_PLANT_COMMIT_ON_MINORITY,  /* a commit counts one voter too many */
    HM_RAFT_PLANT_COMMIT_OLD_TERM,     /* earlier-term entries committed by counting */
    HM_RAFT_PLANT_ACK_BEFORE_PERSIST,  /* append replies leave before the entries
                                        * they acknowledge are durable */
    HM_RAFT_PLANT_NO_PRE_VOTE,         /* an election timeout starts a real election */
    HM_RAFT_PLANT_CONF_BEFORE_TERM_COMMIT, /* a membership change proposed before the
                                            * leader committed an entry of its term */
    HM_RAFT_PLANT_CONF_SURVIVES_TRUNCATE,  /* a truncated membership change stays in force */
    HM_RAFT_PLANT_READ_WITHOUT_READ_INDEX, /* a read is released at once with the
                                            * node's own commit index */
    HM_RAFT_PLANT_APPLY_BEFORE_PERSIST,/* the leader counts its own unsynced entries
                                        * toward a commit; the shell under test then
                                        * applies a ready before writing it */
};
extern enum hm_raft_plant hm_raft_plant;

/* 0, HM_EINVAL (opts or boot inconsistent), HM_ENOMEM. */
int hm_raft_new(hm_raft **out, const hm_raft_opts *o, const hm_raft_boot *b);
void hm_raft_free(hm_raft *r);

void hm_raft_tick(hm_raft *r);

/* 0, or HM_EINVAL for a message that is malformed (unknown type, not for
 * this node, from a non-voter, entries that do not follow log_index): it
 * changes nothing.  HM_ENOMEM leaves the core as before the step. */
int hm_raft_step(hm_raft *r, const hm_raft_msg *m);

/* Append a command on the leader; *index gets its log index.  HM_ENOTLEADER
 * when not the leader (lead tells who is), HM_EBUSY while it hands
 * leadership over, HM_ENOMEM. */
int hm_raft_propose(hm_raft *r, const void *data, size_t len, uint64_t *index);

/* Ask for a linearizable read under the caller's id; it comes back in a
 * later ready's reads.  A read is lost (never released) when leadership
 * changes meanwhile: the caller retries after its own timeout.  HM_ENOTLEADER
 * when no leader is known, HM_ENOMEM. */
int hm_raft_read_index(hm_raft *r, uint64_t id);

/* Propose a membership change of node (leader only); *index gets its
 * entry's index.  HM_ENOTLEADER; HM_EBUSY before the leader committed an
 * entry of its term, while another change is uncommitted, or while a
 * transfer runs; HM_EINVAL when the change does not fit the membership
 * (adding a member, promoting a non-learner or one that has not caught up
 * to the commit index, removing this node or a non-member, more than
 * HM_RAFT_VOTERS_MAX voters or HM_RAFT_MEMBERS_MAX members, no voter left). */
int hm_raft_propose_conf(hm_raft *r, enum hm_raft_conf_op op, uint64_t node, uint64_t *index);

/* Membership as this node's log says now. */
bool hm_raft_is_voter(const hm_raft *r, uint64_t id);
bool hm_raft_is_member(const hm_raft *r, uint64_t id);

/* Hand leadership to voter `to`.  0 once under way (its end shows in
 * the role and lead), HM_ENOTLEADER, HM_EINVAL (not a voter, or this
 * node).  Proposals answer HM_EBUSY while it runs. */
int hm_raft_transfer(hm_raft *r, uint64_t to);

/* True when there is something to do; fills rd (see the top). */
bool hm_raft_take_ready(hm_raft *r, hm_raft_ready *rd);
void hm_raft_advance(hm_raft *r, const hm_raft_ready *rd);

enum hm_raft_role hm_raft_role_of(const hm_raft *r);
uint64_t hm_raft_term(const hm_raft *r);
uint64_t hm_raft_lead(const hm_raft *r);
uint64_t hm_raft_commit(const hm_raft *r);
uint64_t hm_raft_last_index(const hm_raft *r);
/* The term of index (0 for 0 and for indexes past the log). */
uint64_t hm_raft_term_at(const hm_raft *r, uint64_t index);

#endif
