/* hm_raft_codec.c - Raft messages on the wire (hm_raft_codec.h). */
#include "hm_raft_codec.h"

#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_pb.h"
#include "hm_raft.pb-c.h"

int hm_raft_msg_encode(const hm_raft_msg *m, uint8_t **out, size_t *len)
{
    if (m->n_entries > HM_RAFT_MSG_ENTRIES_MAX) return HM_ETOOBIG;
    Hm__RaftMessage pm = HM__RAFT_MESSAGE__INIT;
    Hm__RaftEntry *ents = NULL, **ep = NULL;
    if (m->n_entries > 0) {
        ents = calloc(m->n_entries, sizeof *ents);
        ep = calloc(m->n_entries, sizeof *ep);
        if (ents == NULL || ep == NULL) {
            free(ents);
            free(ep);
            return HM_ENOMEM;
        }
    }
    for (size_t i = 0; i < m->n_entries; i++) {
        const hm_raft_entry *e = &m->entries[i];
        if (e->len > HM_RAFT_ENTRY_BYTES_MAX) {
            free(ents);
            free(ep);
            return HM_ETOOBIG;
        }
        hm__raft_entry__init(&ents[i]);
        ents[i].has_term = ents[i].has_index = ents[i].has_kind = ents[i].has_data = true;
        ents[i].term = e->term;
        ents[i].index = e->index;
        ents[i].kind = e->kind;
        ents[i].data.data = (uint8_t *)e->data;
        ents[i].data.len = e->len;
        ep[i] = &ents[i];
    }
    pm.has_format_version = true;
    pm.format_version = HM_RAFT_WIRE_VERSION;
    pm.has_type = pm.has_from = pm.has_to = pm.has_term = true;
    pm.type = m->type;
    pm.from = m->from;
    pm.to = m->to;
    pm.term = m->term;
    /* the rest only when set: heartbeats stay small */
    pm.has_log_index = m->log_index != 0;
    pm.log_index = m->log_index;
    pm.has_log_term = m->log_term != 0;
    pm.log_term = m->log_term;
    pm.has_commit = m->commit != 0;
    pm.commit = m->commit;
    pm.has_reject = m->reject;
    pm.reject = m->reject;
    pm.has_match = m->match != 0;
    pm.match = m->match;
    pm.has_ctx = m->ctx != 0;
    pm.ctx = m->ctx;
    pm.n_entries = m->n_entries;
    pm.entries = ep;
    size_t n = hm__raft_message__get_packed_size(&pm);
    int rc = 0;
    uint8_t *buf = NULL;
    if (n > HM_RAFT_MSG_BYTES_MAX) rc = HM_ETOOBIG;
    else if ((buf = malloc(n ? n : 1)) == NULL) rc = HM_ENOMEM;
    else hm__raft_message__pack(&pm, buf);
    free(ents);
    free(ep);
    if (rc != 0) return rc;
    *out = buf;
    *len = n;
    return 0;
}

int hm_raft_msg_decode(const uint8_t *buf, size_t len, hm_raft_msg_decoded *out)
{
    memset(out, 0, sizeof *out);
    if (len > HM_RAFT_MSG_BYTES_MAX) return HM_ECORRUPT;
    Hm__RaftMessage *pm = hm__raft_message__unpack(NULL, len, buf);
    if (pm == NULL) return HM_ECORRUPT;
    int rc = 0;
    if (!hm_pb_tags_valid(&pm->base) || pm->base.n_unknown_fields > 0) rc = HM_ECORRUPT;
    else if (!pm->has_format_version || pm->format_version == 0) rc = HM_ECORRUPT;
    else if (pm->format_version > HM_RAFT_WIRE_VERSION) rc = HM_EVERSION;
    else if (!pm->has_type || pm->type < HM_RAFT_MSG_PREVOTE ||
             pm->type > HM_RAFT_MSG_TIMEOUT_NOW || !pm->has_from || pm->from == 0 ||
             !pm->has_to || pm->to == 0 || !pm->has_term)
        rc = HM_ECORRUPT;
    else if (pm->n_entries > HM_RAFT_MSG_ENTRIES_MAX ||
             (pm->n_entries > 0 && pm->type != HM_RAFT_MSG_APP))
        rc = HM_ECORRUPT;
    if (rc == 0 && pm->n_entries > 0) {
        out->entries = calloc(pm->n_entries, sizeof *out->entries);
        if (out->entries == NULL) rc = HM_ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < pm->n_entries; i++) {
        const Hm__RaftEntry *e = pm->entries[i];
        if (e->base.n_unknown_fields > 0 || !e->has_term || !e->has_index || !e->has_kind ||
            (e->kind != HM_RAFT_CMD && e->kind != HM_RAFT_NOOP && e->kind != HM_RAFT_CONF) ||
            e->data.len > HM_RAFT_ENTRY_BYTES_MAX) {
            rc = HM_ECORRUPT;
            break;
        }
        out->entries[i] = (hm_raft_entry){.term = e->term, .index = e->index,
                                          .kind = (uint8_t)e->kind, .data = e->data.data,
                                          .len = e->has_data ? e->data.len : 0};
    }
    if (rc != 0) {
        free(out->entries);
        out->entries = NULL;
        hm__raft_message__free_unpacked(pm, NULL);
        return rc;
    }
    hm_raft_msg *m = &out->msg;
    m->type = (uint8_t)pm->type;
    m->from = pm->from;
    m->to = pm->to;
    m->term = pm->term;
    m->log_index = pm->log_index;
    m->log_term = pm->log_term;
    m->commit = pm->commit;
    m->reject = pm->has_reject && pm->reject;
    m->match = pm->match;
    m->ctx = pm->ctx;
    m->entries = out->entries;
    m->n_entries = pm->n_entries;
    out->pb = pm;
    return 0;
}

void hm_raft_msg_decoded_free(hm_raft_msg_decoded *d)
{
    if (d == NULL) return;
    free(d->entries);
    if (d->pb != NULL) hm__raft_message__free_unpacked(d->pb, NULL);
    memset(d, 0, sizeof *d);
}
