/* fuzz_raft_msg.c - a Raft message from a hostile peer (hm_raft_codec.h).
 *
 * Every input either fails with HM_ECORRUPT / HM_EVERSION or decodes into a
 * message within the codec's bounds, which encodes again and decodes back
 * to the same fields; it is then stepped into a fresh follower core, which
 * must take or refuse it without crashing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_raft.h"
#include "hm_raft_codec.h"

static int same(const hm_raft_msg *a, const hm_raft_msg *b)
{
    if (a->type != b->type || a->from != b->from || a->to != b->to || a->term != b->term ||
        a->log_index != b->log_index || a->log_term != b->log_term || a->commit != b->commit ||
        a->reject != b->reject || a->match != b->match || a->ctx != b->ctx ||
        a->n_entries != b->n_entries)
        return 0;
    for (size_t i = 0; i < a->n_entries; i++) {
        const hm_raft_entry *x = &a->entries[i], *y = &b->entries[i];
        if (x->term != y->term || x->index != y->index || x->kind != y->kind || x->len != y->len ||
            (x->len > 0 && memcmp(x->data, y->data, x->len) != 0))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_raft_msg_decoded d, back;
    int rc = hm_raft_msg_decode(data, size, &d);
    if (rc != 0) {
        if (rc != HM_ECORRUPT && rc != HM_EVERSION && rc != HM_ENOMEM) abort();
        return 0;
    }
    const hm_raft_msg *m = &d.msg;
    if (m->type < HM_RAFT_MSG_PREVOTE || m->type > HM_RAFT_MSG_TIMEOUT_NOW || m->from == 0 ||
        m->to == 0 || m->n_entries > HM_RAFT_MSG_ENTRIES_MAX ||
        (m->n_entries > 0 && m->type != HM_RAFT_MSG_APP))
        abort();
    uint8_t *buf = NULL;
    size_t len = 0;
    if (hm_raft_msg_encode(m, &buf, &len) != 0) abort();
    if (hm_raft_msg_decode(buf, len, &back) != 0 || !same(m, &back.msg)) abort();
    hm_raft_msg_decoded_free(&back);
    free(buf);

    static const uint64_t voters[3] = {1, 2, 3};
    hm_raft_opts o = {.id = 2, .voters = voters, .n_voters = 3, .election_ticks = 10,
                      .heartbeat_ticks = 2, .seed = 1};
    hm_raft_boot b = {0};
    hm_raft *r = NULL;
    if (hm_raft_new(&r, &o, &b) == 0) {
        rc = hm_raft_step(r, m);
        if (rc != 0 && rc != HM_EINVAL && rc != HM_ENOMEM) abort();
        hm_raft_ready rd;
        if (hm_raft_take_ready(r, &rd)) hm_raft_advance(r, &rd);
        hm_raft_free(r);
    }
    hm_raft_msg_decoded_free(&d);
    return 0;
}
