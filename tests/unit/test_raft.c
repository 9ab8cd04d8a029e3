/* test_raft.c - the Raft core's contract (hamster-meta/hm_raft.h) on one
 * core at a time: what it refuses, and the order its ready hands work out
 * in.  Many nodes, faults and the safety checkers are the simulator's
 * (tests/sim/raft_sim.c, hamster-raft-sim). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_raft.h"
#include "hm_raft.pb-c.h"
#include "hm_raft_codec.h"

static const uint64_t three[3] = {1, 2, 3};

static hm_raft *make(uint64_t id, const uint64_t *voters, size_t n)
{
    hm_raft_opts o = {.id = id, .voters = voters, .n_voters = n, .election_ticks = 10,
                      .heartbeat_ticks = 2, .seed = 7};
    hm_raft_boot b = {0};
    hm_raft *r = NULL;
    ck_assert_int_eq(hm_raft_new(&r, &o, &b), 0);
    return r;
}

/* Inconsistent options and boot states are refused. */
START_TEST(test_refuses_bad_config)
{
    hm_raft *r = NULL;
    uint64_t dup[2] = {1, 1}, zero[2] = {2, 0};
    hm_raft_opts o = {.id = 1, .voters = three, .n_voters = 3, .election_ticks = 10,
                      .heartbeat_ticks = 2};
    hm_raft_boot b = {0};
    hm_raft_opts bad = o;
    bad.voters = dup;
    bad.n_voters = 2;
    ck_assert_int_eq(hm_raft_new(&r, &bad, &b), HM_EINVAL);
    bad = o;
    bad.voters = zero;
    bad.n_voters = 2;
    ck_assert_int_eq(hm_raft_new(&r, &bad, &b), HM_EINVAL); /* node id 0 */
    bad = o;
    bad.learners = three; /* a learner that is also a voter */
    bad.n_learners = 1;
    ck_assert_int_eq(hm_raft_new(&r, &bad, &b), HM_EINVAL);
    bad = o;
    bad.heartbeat_ticks = 10;
    ck_assert_int_eq(hm_raft_new(&r, &bad, &b), HM_EINVAL);
    /* a log whose terms exceed the hard state's, or runs that go back */
    uint64_t ri[2] = {1, 3}, rt[2] = {2, 5};
    hm_raft_boot lb = {.hs = {.term = 4}, .last_index = 4, .run_index = ri, .run_term = rt,
                       .n_runs = 2};
    ck_assert_int_eq(hm_raft_new(&r, &o, &lb), HM_EINVAL);
    lb.hs.term = 5;
    lb.hs.commit = 9;
    ck_assert_int_eq(hm_raft_new(&r, &o, &lb), HM_EINVAL);
    lb.hs.commit = 2;
    ck_assert_int_eq(hm_raft_new(&r, &o, &lb), 0);
    ck_assert_uint_eq(hm_raft_term_at(r, 2), 2);
    ck_assert_uint_eq(hm_raft_term_at(r, 3), 5);
    ck_assert_uint_eq(hm_raft_term_at(r, 5), 0);
    hm_raft_free(r);
}
END_TEST

/* One voter: it elects itself, and an entry is applied only in a ready
 * that also writes it, never before (apply comes after persist). */
START_TEST(test_single_voter_applies_after_persist)
{
    uint64_t one[1] = {1};
    hm_raft *r = make(1, one, 1);
    hm_raft_ready rd;
    for (int i = 0; i < 20 && hm_raft_role_of(r) != HM_RAFT_LEADER; i++) hm_raft_tick(r);
    ck_assert_int_eq(hm_raft_role_of(r), HM_RAFT_LEADER);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert(rd.hs_changed);
    ck_assert_uint_eq(rd.hs.vote, 1);
    ck_assert_uint_eq(rd.n_entries, 1); /* the no-op of its term */
    ck_assert_int_eq(rd.entries[0].kind, HM_RAFT_NOOP);
    ck_assert_uint_eq(rd.apply_hi, rd.apply_lo); /* not durable yet: not committed */
    hm_raft_advance(r, &rd);
    ck_assert_uint_eq(hm_raft_commit(r), 1);
    uint64_t idx = 0;
    ck_assert_int_eq(hm_raft_propose(r, "abc", 3, &idx), 0);
    ck_assert_uint_eq(idx, 2);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.n_entries, 1);
    ck_assert_uint_eq(rd.entries[0].len, 3);
    ck_assert(memcmp(rd.entries[0].data, "abc", 3) == 0);
    ck_assert_uint_le(rd.apply_hi, 1); /* index 2 is written by this very ready */
    hm_raft_advance(r, &rd);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.n_entries, 0);
    ck_assert_uint_eq(rd.apply_hi, 2);
    hm_raft_advance(r, &rd);
    ck_assert(!hm_raft_take_ready(r, &rd));
    hm_raft_free(r);
}
END_TEST

/* A granted vote leaves only with the ready that makes it durable (msgs,
 * with hs_changed), never among the early messages. */
START_TEST(test_vote_reply_after_persist)
{
    hm_raft *r = make(2, three, 3);
    hm_raft_msg m = {.type = HM_RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 3,
                     .log_index = 0, .log_term = 0};
    ck_assert_int_eq(hm_raft_step(r, &m), 0);
    hm_raft_ready rd;
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert(rd.hs_changed);
    ck_assert_uint_eq(rd.hs.term, 3);
    ck_assert_uint_eq(rd.hs.vote, 1);
    ck_assert_uint_eq(rd.n_early, 0);
    ck_assert_uint_eq(rd.n_msgs, 1);
    ck_assert_int_eq(rd.msgs[0].type, HM_RAFT_MSG_VOTE_RESP);
    ck_assert(!rd.msgs[0].reject);
    hm_raft_advance(r, &rd);
    /* a second candidate of the same term is refused */
    m.from = 3;
    ck_assert_int_eq(hm_raft_step(r, &m), 0);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.n_msgs, 1);
    ck_assert(rd.msgs[0].reject);
    hm_raft_advance(r, &rd);
    hm_raft_free(r);
}
END_TEST

/* Messages that are not for this node, from no voter, of no known type,
 * or whose entries do not follow log_index are refused, changing nothing;
 * a vote request from a node that is no member is dropped. */
START_TEST(test_refuses_bad_messages)
{
    hm_raft *r = make(2, three, 3);
    hm_raft_entry e[2] = {{.term = 1, .index = 1, .kind = HM_RAFT_CMD, .data = "x", .len = 1},
                          {.term = 1, .index = 3, .kind = HM_RAFT_CMD, .data = "y", .len = 1}};
    hm_raft_msg ok = {.type = HM_RAFT_MSG_APP, .from = 1, .to = 2, .term = 1,
                      .entries = e, .n_entries = 1};
    hm_raft_msg m = ok;
    m.to = 3;
    ck_assert_int_eq(hm_raft_step(r, &m), HM_EINVAL);
    m = ok;
    m.from = 0;
    ck_assert_int_eq(hm_raft_step(r, &m), HM_EINVAL);
    hm_raft_msg v9 = {.type = HM_RAFT_MSG_VOTE, .from = 9, .to = 2, .term = 7};
    ck_assert_int_eq(hm_raft_step(r, &v9), 0);
    ck_assert_uint_eq(hm_raft_term(r), 0); /* dropped: no term taken, no reply */
    hm_raft_entry badconf = {.term = 1, .index = 1, .kind = HM_RAFT_CONF, .data = "xx", .len = 2};
    m = ok;
    m.entries = &badconf;
    ck_assert_int_eq(hm_raft_step(r, &m), HM_EINVAL);
    m = ok;
    m.type = 99;
    ck_assert_int_eq(hm_raft_step(r, &m), HM_EINVAL);
    m = ok;
    m.n_entries = 2; /* index 3 after 1 */
    ck_assert_int_eq(hm_raft_step(r, &m), HM_EINVAL);
    m = ok;
    m.term = 0; /* an entry of a later term than the message */
    ck_assert_int_eq(hm_raft_step(r, &m), HM_EINVAL);
    m = ok;
    m.log_index = UINT64_MAX;
    ck_assert_int_eq(hm_raft_step(r, &m), HM_EINVAL);
    ck_assert_uint_eq(hm_raft_term(r), 0);
    ck_assert_uint_eq(hm_raft_last_index(r), 0);
    /* the good one is taken, and answered only after the write */
    ck_assert_int_eq(hm_raft_step(r, &ok), 0);
    ck_assert_uint_eq(hm_raft_last_index(r), 1);
    hm_raft_ready rd;
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.n_entries, 1);
    ck_assert_uint_eq(rd.n_early, 0);
    ck_assert_uint_eq(rd.n_msgs, 1);
    ck_assert_int_eq(rd.msgs[0].type, HM_RAFT_MSG_APP_RESP);
    ck_assert_uint_eq(rd.msgs[0].match, 1);
    hm_raft_advance(r, &rd);
    hm_raft_free(r);
}
END_TEST

/* A follower that heard from its leader within the election timeout
 * ignores a higher-term vote request (stickiness), and only a leader
 * takes proposals. */
START_TEST(test_sticky_and_propose)
{
    hm_raft *r = make(2, three, 3);
    hm_raft_msg hb = {.type = HM_RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 2};
    ck_assert_int_eq(hm_raft_step(r, &hb), 0);
    ck_assert_uint_eq(hm_raft_lead(r), 1);
    hm_raft_msg v = {.type = HM_RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 5};
    ck_assert_int_eq(hm_raft_step(r, &v), 0);
    ck_assert_uint_eq(hm_raft_term(r), 2);
    ck_assert_int_eq(hm_raft_propose(r, "x", 1, NULL), HM_ENOTLEADER);
    hm_raft_free(r);
}
END_TEST

/* ReadIndex on one voter: a read asked before the leader committed an
 * entry of its term waits for it, then comes back at the commit index; a
 * follower forwards its read to the leader and releases the leader's
 * answer; one with no leader refuses. */
START_TEST(test_read_index)
{
    uint64_t one[1] = {1};
    hm_raft *r = make(1, one, 1);
    hm_raft_ready rd;
    for (int i = 0; i < 20 && hm_raft_role_of(r) != HM_RAFT_LEADER; i++) hm_raft_tick(r);
    ck_assert_int_eq(hm_raft_read_index(r, 42), 0);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.n_reads, 0); /* the no-op is not committed yet */
    hm_raft_advance(r, &rd);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.n_reads, 1);
    ck_assert_uint_eq(rd.reads[0].id, 42);
    ck_assert_uint_eq(rd.reads[0].index, 1);
    hm_raft_advance(r, &rd);
    hm_raft_free(r);

    r = make(2, three, 3);
    ck_assert_int_eq(hm_raft_read_index(r, 7), HM_ENOTLEADER);
    hm_raft_msg hb = {.type = HM_RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 2};
    ck_assert_int_eq(hm_raft_step(r, &hb), 0);
    ck_assert(hm_raft_take_ready(r, &rd));
    hm_raft_advance(r, &rd);
    ck_assert_int_eq(hm_raft_read_index(r, 7), 0);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.n_early, 1);
    ck_assert_int_eq(rd.early[0].type, HM_RAFT_MSG_READ_INDEX);
    ck_assert_uint_eq(rd.early[0].to, 1);
    ck_assert_uint_eq(rd.early[0].ctx, 7);
    hm_raft_advance(r, &rd);
    /* an answer from a node that is not its leader is ignored */
    hm_raft_msg resp = {.type = HM_RAFT_MSG_READ_INDEX_RESP, .from = 3, .to = 2, .term = 2,
                        .ctx = 7, .commit = 0};
    ck_assert_int_eq(hm_raft_step(r, &resp), 0);
    ck_assert(!hm_raft_take_ready(r, &rd));
    resp.from = 1;
    ck_assert_int_eq(hm_raft_step(r, &resp), 0);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.n_reads, 1);
    ck_assert_uint_eq(rd.reads[0].id, 7);
    hm_raft_advance(r, &rd);
    hm_raft_free(r);
}
END_TEST

/* The wire bytes of an append with two entries are pinned by
 * tests/golden/raft_message_v1.bin (HM_GOLDEN_UPDATE=1 writes it), and
 * decode back to the same message. */
START_TEST(test_codec_golden)
{
    hm_raft_entry e[2] = {{.term = 3, .index = 8, .kind = HM_RAFT_NOOP},
                          {.term = 3, .index = 9, .kind = HM_RAFT_CMD, .data = "put k", .len = 5}};
    hm_raft_msg m = {.type = HM_RAFT_MSG_APP, .from = 1, .to = 3, .term = 3, .log_index = 7,
                     .log_term = 2, .commit = 6, .entries = e, .n_entries = 2, .ctx = 11};
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(hm_raft_msg_encode(&m, &buf, &len), 0);
    const char *gdir = getenv("HM_GOLDEN_DIR");
    ck_assert_ptr_nonnull(gdir);
    char path[1024];
    snprintf(path, sizeof path, "%s/raft_message_v1.bin", gdir);
    const char *upd = getenv("HM_GOLDEN_UPDATE");
    if (upd != NULL && strcmp(upd, "1") == 0) {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
        fclose(f);
    }
    uint8_t want[256];
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "missing %s", path);
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(want, buf, len) == 0);
    hm_raft_msg_decoded d;
    ck_assert_int_eq(hm_raft_msg_decode(want, n, &d), 0);
    ck_assert_int_eq(d.msg.type, HM_RAFT_MSG_APP);
    ck_assert_uint_eq(d.msg.from, 1);
    ck_assert_uint_eq(d.msg.log_index, 7);
    ck_assert_uint_eq(d.msg.commit, 6);
    ck_assert_uint_eq(d.msg.ctx, 11);
    ck_assert_uint_eq(d.msg.n_entries, 2);
    ck_assert_uint_eq(d.msg.entries[1].index, 9);
    ck_assert_uint_eq(d.msg.entries[1].len, 5);
    ck_assert(memcmp(d.msg.entries[1].data, "put k", 5) == 0);
    ck_assert_int_eq(d.msg.entries[0].kind, HM_RAFT_NOOP);
    hm_raft_msg_decoded_free(&d);
    free(buf);
}
END_TEST

/* Decode refuses what is out of bounds, whatever the peer's certificate. */
START_TEST(test_codec_hostile)
{
    hm_raft_msg_decoded d;
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    ck_assert_int_eq(hm_raft_msg_decode(junk, sizeof junk, &d), HM_ECORRUPT);
    Hm__RaftMessage pm = HM__RAFT_MESSAGE__INIT;
    Hm__RaftEntry pe = HM__RAFT_ENTRY__INIT, *pep = &pe;
    uint8_t buf[256];
    size_t n;
#define TRY(want)                                                   \
    do {                                                            \
        n = hm__raft_message__pack(&pm, buf);                       \
        ck_assert_int_eq(hm_raft_msg_decode(buf, n, &d), want);     \
        if (want == 0) hm_raft_msg_decoded_free(&d);                \
    } while (0)
    pm.has_format_version = pm.has_type = pm.has_from = pm.has_to = pm.has_term = true;
    pm.format_version = 1;
    pm.type = HM_RAFT_MSG_HEARTBEAT;
    pm.from = 1;
    pm.to = 2;
    pm.term = 4;
    TRY(0);
    pm.format_version = 2;
    TRY(HM_EVERSION);
    pm.format_version = 1;
    pm.type = 99;
    TRY(HM_ECORRUPT);
    pm.type = HM_RAFT_MSG_HEARTBEAT;
    pm.from = 0;
    TRY(HM_ECORRUPT);
    pm.from = 1;
    pe.has_term = pe.has_index = pe.has_kind = true;
    pe.term = 4;
    pe.index = 1;
    pe.kind = HM_RAFT_CMD;
    pm.n_entries = 1;
    pm.entries = &pep;
    TRY(HM_ECORRUPT); /* entries on a heartbeat */
    pm.type = HM_RAFT_MSG_APP;
    TRY(0);
    pe.kind = 4;
    TRY(HM_ECORRUPT);
#undef TRY
}
END_TEST

/* Membership on one leader: a change waits for the leader's first commit
 * of its term, one at a time; a learner is promoted only once caught up;
 * the leader never removes itself; a truncated change reverts on a
 * follower. */
START_TEST(test_membership)
{
    uint64_t one[1] = {1};
    hm_raft *r = make(1, one, 1);
    hm_raft_ready rd;
    for (int i = 0; i < 20 && hm_raft_role_of(r) != HM_RAFT_LEADER; i++) hm_raft_tick(r);
    ck_assert_int_eq(hm_raft_propose_conf(r, HM_RAFT_CONF_ADD_LEARNER, 2, NULL), HM_EBUSY);
    ck_assert(hm_raft_take_ready(r, &rd));
    hm_raft_advance(r, &rd); /* the no-op is durable: committed */
    uint64_t idx = 0;
    ck_assert_int_eq(hm_raft_propose_conf(r, HM_RAFT_CONF_ADD_LEARNER, 2, &idx), 0);
    ck_assert_uint_eq(idx, 2);
    ck_assert(hm_raft_is_member(r, 2));
    ck_assert(!hm_raft_is_voter(r, 2));
    ck_assert_int_eq(hm_raft_propose_conf(r, HM_RAFT_CONF_PROMOTE, 2, NULL), HM_EBUSY);
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_int_eq(rd.entries[0].kind, HM_RAFT_CONF);
    hm_raft_advance(r, &rd); /* a learner does not count: committed on its own */
    ck_assert_uint_eq(hm_raft_commit(r), 2);
    ck_assert_int_eq(hm_raft_propose_conf(r, HM_RAFT_CONF_ADD_LEARNER, 2, NULL), HM_EINVAL);
    ck_assert_int_eq(hm_raft_propose_conf(r, HM_RAFT_CONF_REMOVE, 1, NULL), HM_EINVAL);
    ck_assert_int_eq(hm_raft_propose_conf(r, HM_RAFT_CONF_PROMOTE, 2, NULL), HM_EINVAL);
    /* the learner catches up */
    while (hm_raft_take_ready(r, &rd)) hm_raft_advance(r, &rd);
    hm_raft_msg ack = {.type = HM_RAFT_MSG_APP_RESP, .from = 2, .to = 1,
                       .term = hm_raft_term(r), .match = 2, .log_index = 2};
    ck_assert_int_eq(hm_raft_step(r, &ack), 0);
    while (hm_raft_take_ready(r, &rd)) hm_raft_advance(r, &rd);
    ck_assert_int_eq(hm_raft_propose_conf(r, HM_RAFT_CONF_PROMOTE, 2, &idx), 0);
    ck_assert(hm_raft_is_voter(r, 2));
    ck_assert(hm_raft_take_ready(r, &rd));
    hm_raft_advance(r, &rd);
    ck_assert_uint_eq(hm_raft_commit(r), 2); /* two voters now: node 2 must ack */
    hm_raft_free(r);

    /* a follower: a change takes effect when appended, and reverts when a
     * leader of a later term truncates it */
    r = make(2, three, 3);
    uint8_t add4[HM_RAFT_CONF_BYTES] = {1, HM_RAFT_CONF_ADD_LEARNER, 0, 0, 0, 0, 0, 0, 0, 4};
    hm_raft_entry ce = {.term = 1, .index = 1, .kind = HM_RAFT_CONF, .data = add4,
                        .len = sizeof add4};
    hm_raft_msg app = {.type = HM_RAFT_MSG_APP, .from = 1, .to = 2, .term = 1, .entries = &ce,
                       .n_entries = 1};
    ck_assert_int_eq(hm_raft_step(r, &app), 0);
    ck_assert(hm_raft_is_member(r, 4));
    while (hm_raft_take_ready(r, &rd)) hm_raft_advance(r, &rd);
    hm_raft_entry other = {.term = 2, .index = 1, .kind = HM_RAFT_NOOP};
    hm_raft_msg app2 = {.type = HM_RAFT_MSG_APP, .from = 3, .to = 2, .term = 2, .entries = &other,
                        .n_entries = 1};
    ck_assert_int_eq(hm_raft_step(r, &app2), 0);
    ck_assert(!hm_raft_is_member(r, 4));
    ck_assert(hm_raft_take_ready(r, &rd));
    ck_assert_uint_eq(rd.truncate_from, 1);
    hm_raft_advance(r, &rd);
    hm_raft_free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("raft");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_refuses_bad_config);
    tcase_add_test(tc, test_single_voter_applies_after_persist);
    tcase_add_test(tc, test_vote_reply_after_persist);
    tcase_add_test(tc, test_refuses_bad_messages);
    tcase_add_test(tc, test_sticky_and_propose);
    tcase_add_test(tc, test_read_index);
    tcase_add_test(tc, test_codec_golden);
    tcase_add_test(tc, test_codec_hostile);
    tcase_add_test(tc, test_membership);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
