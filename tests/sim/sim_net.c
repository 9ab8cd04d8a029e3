/* sim_net.c - lossy, partitionable wrappers around the in-process meta and
 * shard bindings; see sim_net.h.
 *
 * Shaping decision: a message's fate is drawn before the call, from the
 * net's own stream, in a fixed order (delay, lose request, duplicate, lose
 * reply), so the same seed loses the same messages whatever the roles do
 * with their own randomness.
 */
#include "sim_net.h"

#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_shard_format.h"

#define SIM_NET_EPS (1u + SIM_NET_SHARDS_MAX)
#define SIM_NET_REFUSE_MS 1 /* a refused connection answers at once */
#define SIM_NET_LATE_MAX 16u /* late copies in flight at once */
#define SIM_NET_LATE_CALLS_MAX 8u /* a late copy arrives within this many calls */
/* A late copy older than this is dropped, as a real network's packets
 * outlive no bound (TCP's maximum segment lifetime): a retried RPC arrives
 * well inside an intent tombstone's life (hm_limits.h). */
#define SIM_NET_LATE_MS_MAX (HM_INTENT_RETIRED_MS / 2)
#define SIM_NET_LATE_PERMILLE 50u /* intent commands copied late, --late-dups */

/* A duplicated command held back by the network (--late-dups). */
typedef struct sim_late {
    uint8_t *buf; /* the packed MetaRequest */
    size_t len;
    uint32_t calls_left; /* delivered before the call that makes it 0 */
    int64_t sent_ms;
} sim_late;

typedef struct sim_stream sim_stream;

typedef struct sim_ep {
    hm_meta_api *meta;   /* endpoint 0 */
    hm_shard_api *shard; /* endpoints 1.. */
    bool partitioned;
    sim_stream *streams; /* open streams through this endpoint */
    size_t nstreams;
} sim_ep;

/* One open put or get; inner is NULL once the stream broke. */
struct sim_stream {
    sim_net *net;
    size_t ep;
    bool is_put;
    bool is_manifest; /* a put of a multipart manifest shard */
    void *inner; /* hm_shard_put * or hm_shard_get * of the role */
    sim_stream *prev, *next;
};

struct sim_net {
    sim_world *w;
    sim_rng rng;
    sim_net_faults f;
    sim_net_stats stats;
    sim_ep ep[SIM_NET_EPS];
    hm_meta_api meta_api;
    hm_shard_api shard_api[SIM_NET_SHARDS_MAX];
    size_t shard_ep[SIM_NET_SHARDS_MAX]; /* impl of shard_api[i] points here */
    bool plant_lose_manifest;
    bool late_dups;
    sim_rng rng_late; /* its own stream: pinned seeds keep theirs */
    sim_late late[SIM_NET_LATE_MAX];
    size_t nlate;
    uint64_t late_delivered;
};

/* The fate of one message. */
typedef struct sim_fate {
    bool drop_request, drop_reply, dup;
} sim_fate;

static sim_fate sim_net_fate(sim_net *n, bool may_dup)
{
    sim_fate fate = {false, false, false};
    if (n->f.delay_ms_max > 0)
        sim_world_advance_ms(n->w, (int64_t)sim_rng_below(&n->rng, (uint64_t)n->f.delay_ms_max + 1));
    fate.drop_request = sim_rng_chance(&n->rng, n->f.drop_request_permille);
    bool dup = sim_rng_chance(&n->rng, n->f.dup_permille);
    fate.dup = may_dup && dup;
    fate.drop_reply = sim_rng_chance(&n->rng, n->f.drop_reply_permille);
    n->stats.calls++;
    if (fate.drop_request) n->stats.drops_request++;
    else if (fate.drop_reply) n->stats.drops_reply++;
    if (fate.dup && !fate.drop_request) n->stats.dups++;
    return fate;
}

/* The caller waited for an answer that never came. */
static int sim_net_timeout(sim_net *n)
{
    sim_world_advance_ms(n->w, HM_RPC_CALL_TIMEOUT_MS);
    return HM_ETIMEDOUT;
}

static int sim_net_refused(sim_net *n)
{
    n->stats.refused++;
    sim_world_advance_ms(n->w, SIM_NET_REFUSE_MS);
    return HM_ECONN;
}

/* ---- streams --------------------------------------------------------------- */

static sim_stream *sim_stream_new(sim_net *n, size_t ep, bool is_put, void *inner)
{
    sim_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->net = n;
    s->ep = ep;
    s->is_put = is_put;
    s->inner = inner;
    s->next = n->ep[ep].streams;
    if (s->next != NULL) s->next->prev = s;
    n->ep[ep].streams = s;
    n->ep[ep].nstreams++;
    return s;
}

/* The server side ends the stream (put aborted, get closed). */
static void sim_stream_break(sim_stream *s)
{
    if (s->inner == NULL) return;
    hm_shard_api *api = s->net->ep[s->ep].shard;
    if (s->is_put) api->ops->put_abort(s->inner);
    else api->ops->get_close(s->inner);
    s->inner = NULL;
}

static void sim_stream_free(sim_stream *s)
{
    sim_net *n = s->net;
    sim_stream_break(s);
    if (s->prev != NULL) s->prev->next = s->next;
    else n->ep[s->ep].streams = s->next;
    if (s->next != NULL) s->next->prev = s->prev;
    n->ep[s->ep].nstreams--;
    free(s);
}

/* Shared front of a stream call: a broken stream or a cut link fails. */
static int sim_stream_enter(sim_stream *s)
{
    sim_net *n = s->net;
    if (s->inner == NULL) return sim_net_refused(n);
    if (n->ep[s->ep].partitioned) {
        sim_stream_break(s);
        return sim_net_refused(n);
    }
    return 0;
}

/* ---- meta ------------------------------------------------------------------ */

/* --late-dups: deliver the held-back copies whose turn has come, before
 * the call in hand; their answers go nowhere. */
static void sim_late_deliver(sim_net *n, hm_meta_api *meta)
{
    int64_t now = sim_world_now_ms(n->w);
    size_t keep = 0;
    for (size_t i = 0; i < n->nlate; i++) {
        sim_late *l = &n->late[i];
        if (now - l->sent_ms > SIM_NET_LATE_MS_MAX) {
            free(l->buf); /* outlived the network: lost */
            continue;
        }
        if (--l->calls_left > 0) {
            n->late[keep++] = *l;
            continue;
        }
        Hm__MetaRequest *req = hm__meta_request__unpack(NULL, l->len, l->buf);
        Hm__MetaResponse *r = NULL;
        if (req != NULL && hm_meta_call(meta, req, &r) == 0)
            hm__meta_response__free_unpacked(r, NULL);
        if (req != NULL) hm__meta_request__free_unpacked(req, NULL);
        free(l->buf);
        n->late_delivered++;
    }
    n->nlate = keep;
}

/* --late-dups: hold a copy of an intent command back, to arrive a few
 * calls later (a retried RPC whose first try was only slow): true when it
 * was taken. */
static bool sim_late_hold(sim_net *n, const Hm__MetaRequest *req)
{
    if (!n->late_dups || req->command == NULL) return false;
    Hm__MetaCommand__OpCase op = req->command->op_case;
    if (op != HM__META_COMMAND__OP_INTENT_PUT && op != HM__META_COMMAND__OP_INTENT_DELETE)
        return false;
    if (!sim_rng_chance(&n->rng_late, SIM_NET_LATE_PERMILLE) || n->nlate == SIM_NET_LATE_MAX)
        return false;
    sim_late *l = &n->late[n->nlate];
    l->len = hm__meta_request__get_packed_size(req);
    l->buf = malloc(l->len);
    if (l->buf == NULL) return false;
    hm__meta_request__pack(req, l->buf);
    l->calls_left = 1 + (uint32_t)sim_rng_below(&n->rng_late, SIM_NET_LATE_CALLS_MAX);
    l->sent_ms = sim_world_now_ms(n->w);
    n->nlate++;
    return true;
}

static int sim_meta_call(hm_meta_api *api, const Hm__MetaRequest *req,
                         Hm__MetaResponse **resp)
{
    sim_net *n = api->impl;
    sim_ep *ep = &n->ep[0];
    if (ep->meta == NULL || ep->partitioned) return sim_net_refused(n);
    if (n->nlate > 0) sim_late_deliver(n, ep->meta);
    bool mutation = req->op_case == HM__META_REQUEST__OP_COMMAND;
    if (mutation) (void)sim_late_hold(n, req);
    sim_fate fate = sim_net_fate(n, mutation);
    if (fate.drop_request) return sim_net_timeout(n);
    Hm__MetaResponse *r = NULL;
    int rc = hm_meta_call(ep->meta, req, &r);
    if (rc != 0) return rc;
    if (fate.dup) {
        /* The copy arrives second; its answer goes nowhere. */
        Hm__MetaResponse *r2 = NULL;
        if (hm_meta_call(ep->meta, req, &r2) == 0) hm__meta_response__free_unpacked(r2, NULL);
    }
    if (fate.drop_reply) {
        hm__meta_response__free_unpacked(r, NULL);
        return sim_net_timeout(n);
    }
    *resp = r;
    return 0;
}

static void sim_meta_free(hm_meta_api *api) { (void)api; }

static const struct hm_meta_api_ops sim_meta_ops = {
    .call = sim_meta_call,
    .free = sim_meta_free,
};

/* ---- shard ------------------------------------------------------------------ */

static size_t sim_shard_ep(hm_shard_api *api) { return *(size_t *)api->impl; }

/* The net owning a wrapper api: shard_ep[i] lives inside struct sim_net. */
static sim_net *sim_shard_net(hm_shard_api *api)
{
    size_t *slot = api->impl;
    size_t i = *slot - 1;
    return (sim_net *)((char *)(slot - i) - offsetof(sim_net, shard_ep));
}

/* Front of a one-shot shard call: the role's api, or a refusal. */
static int sim_shard_enter(hm_shard_api *api, sim_net **np, hm_shard_api **inner)
{
    sim_net *n = sim_shard_net(api);
    sim_ep *ep = &n->ep[sim_shard_ep(api)];
    *np = n;
    if (ep->shard == NULL || ep->partitioned) return sim_net_refused(n);
    *inner = ep->shard;
    return 0;
}

static int sim_shard_info(hm_shard_api *api, Hm__ShardInfoResp **out)
{
    sim_net *n;
    hm_shard_api *in;
    int rc = sim_shard_enter(api, &n, &in);
    if (rc != 0) return rc;
    sim_fate fate = sim_net_fate(n, false);
    if (fate.drop_request) return sim_net_timeout(n);
    Hm__ShardInfoResp *r = NULL;
    rc = in->ops->info(in, &r);
    if (rc != 0) return rc;
    if (fate.drop_reply) {
        hm__shard_info_resp__free_unpacked(r, NULL);
        return sim_net_timeout(n);
    }
    *out = r;
    return 0;
}

static int sim_shard_put_open(hm_shard_api *api, const Hm__ShardHeader *hdr,
                              hm_shard_put **out)
{
    sim_net *n;
    hm_shard_api *in;
    int rc = sim_shard_enter(api, &n, &in);
    if (rc != 0) return rc;
    sim_fate fate = sim_net_fate(n, false);
    if (fate.drop_request) return sim_net_timeout(n);
    hm_shard_put *p = NULL;
    rc = in->ops->put_open(in, hdr, &p);
    if (rc != 0) return rc;
    if (fate.drop_reply) {
        in->ops->put_abort(p); /* the server drops a put whose client left */
        return sim_net_timeout(n);
    }
    sim_stream *s = sim_stream_new(n, sim_shard_ep(api), true, p);
    if (s == NULL) {
        in->ops->put_abort(p);
        return HM_ENOMEM;
    }
    s->is_manifest = hdr->has_shard_index && hdr->shard_index == HM_SHARD_INDEX_MANIFEST;
    *out = (hm_shard_put *)s;
    return 0;
}

static int sim_shard_put_write(hm_shard_put *p, const void *buf, size_t len)
{
    sim_stream *s = (sim_stream *)p;
    sim_net *n = s->net;
    int rc = sim_stream_enter(s);
    if (rc != 0) return rc;
    sim_fate fate = sim_net_fate(n, false);
    if (fate.drop_request || fate.drop_reply) {
        if (fate.drop_reply) (void)n->ep[s->ep].shard->ops->put_write(s->inner, buf, len);
        sim_stream_break(s);
        return sim_net_timeout(n);
    }
    return n->ep[s->ep].shard->ops->put_write(s->inner, buf, len);
}

/* The seal rides on the commit's frame: no network event of its own. */
static int sim_shard_put_seal(hm_shard_put *p, const Hm__ShardHeader *seal)
{
    sim_stream *s = (sim_stream *)p;
    if (s->inner == NULL) return HM_EPOISONED;
    return s->net->ep[s->ep].shard->ops->put_seal(s->inner, seal);
}

/* The role frees its put whatever commit returns; so does the wrapper. */
static int sim_shard_put_commit(hm_shard_put *p, uint64_t *length, uint32_t *crc32c)
{
    sim_stream *s = (sim_stream *)p;
    sim_net *n = s->net;
    int rc = sim_stream_enter(s);
    if (rc != 0) {
        sim_stream_free(s);
        return rc;
    }
    sim_fate fate = sim_net_fate(n, false);
    if (fate.drop_request) {
        sim_stream_free(s); /* aborts on the server */
        return sim_net_timeout(n);
    }
    hm_shard_api *in = n->ep[s->ep].shard;
    void *inner = s->inner;
    bool lose = s->is_manifest && n->plant_lose_manifest;
    s->inner = NULL; /* commit frees it, whatever it returns */
    sim_stream_free(s);
    if (lose) {
        /* The planted bug: a manifest acknowledged but never written. */
        in->ops->put_abort(inner);
        return 0;
    }
    rc = in->ops->put_commit(inner, length, crc32c);
    if (rc == 0 && fate.drop_reply) return sim_net_timeout(n);
    return rc;
}

static void sim_shard_put_abort(hm_shard_put *p)
{
    sim_stream_free((sim_stream *)p);
}

static int sim_shard_get_open(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                              uint32_t shard_index, uint64_t offset, uint64_t len,
                              hm_shard_get **out, uint64_t *total, Hm__ShardHeader **hdr)
{
    sim_net *n;
    hm_shard_api *in;
    int rc = sim_shard_enter(api, &n, &in);
    if (rc != 0) return rc;
    sim_fate fate = sim_net_fate(n, false);
    if (fate.drop_request) return sim_net_timeout(n);
    hm_shard_get *g = NULL;
    Hm__ShardHeader *h = NULL;
    uint64_t t = 0;
    rc = in->ops->get_open(in, blob_id, shard_index, offset, len, &g, &t,
                           hdr != NULL ? &h : NULL);
    if (rc != 0) return rc;
    if (fate.drop_reply) {
        in->ops->get_close(g);
        if (h != NULL) hm__shard_header__free_unpacked(h, NULL);
        return sim_net_timeout(n);
    }
    sim_stream *s = sim_stream_new(n, sim_shard_ep(api), false, g);
    if (s == NULL) {
        in->ops->get_close(g);
        if (h != NULL) hm__shard_header__free_unpacked(h, NULL);
        return HM_ENOMEM;
    }
    *out = (hm_shard_get *)s;
    if (total != NULL) *total = t;
    if (hdr != NULL) *hdr = h;
    return 0;
}

static int sim_shard_get_read(hm_shard_get *g, void *buf, size_t cap, size_t *got)
{
    sim_stream *s = (sim_stream *)g;
    sim_net *n = s->net;
    int rc = sim_stream_enter(s);
    if (rc != 0) return rc;
    sim_fate fate = sim_net_fate(n, false);
    if (fate.drop_request || fate.drop_reply) {
        sim_stream_break(s);
        return sim_net_timeout(n);
    }
    return n->ep[s->ep].shard->ops->get_read(s->inner, buf, cap, got);
}

static void sim_shard_get_close(hm_shard_get *g)
{
    sim_stream_free((sim_stream *)g);
}

static int sim_shard_del(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                         uint32_t shard_index)
{
    sim_net *n;
    hm_shard_api *in;
    int rc = sim_shard_enter(api, &n, &in);
    if (rc != 0) return rc;
    sim_fate fate = sim_net_fate(n, true);
    if (fate.drop_request) return sim_net_timeout(n);
    rc = in->ops->del(in, blob_id, shard_index);
    if (fate.dup) (void)in->ops->del(in, blob_id, shard_index);
    if (fate.drop_reply) return sim_net_timeout(n);
    return rc;
}

static int sim_shard_stat(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                          uint32_t shard_index, Hm__ShardHeader **out)
{
    sim_net *n;
    hm_shard_api *in;
    int rc = sim_shard_enter(api, &n, &in);
    if (rc != 0) return rc;
    sim_fate fate = sim_net_fate(n, false);
    if (fate.drop_request) return sim_net_timeout(n);
    Hm__ShardHeader *h = NULL;
    rc = in->ops->stat(in, blob_id, shard_index, &h);
    if (rc != 0) return rc;
    if (fate.drop_reply) {
        hm__shard_header__free_unpacked(h, NULL);
        return sim_net_timeout(n);
    }
    *out = h;
    return 0;
}

/* The wrappers belong to the net (sim_net_free). */
static void sim_shard_free(hm_shard_api *api) { (void)api; }

static const struct hm_shard_api_ops sim_shard_ops = {
    .info = sim_shard_info,
    .put_open = sim_shard_put_open,
    .put_write = sim_shard_put_write,
    .put_seal = sim_shard_put_seal,
    .put_commit = sim_shard_put_commit,
    .put_abort = sim_shard_put_abort,
    .get_open = sim_shard_get_open,
    .get_read = sim_shard_get_read,
    .get_close = sim_shard_get_close,
    .del = sim_shard_del,
    .stat = sim_shard_stat,
    .free = sim_shard_free,
};

/* ---- net ------------------------------------------------------------------ */

int sim_net_new(sim_net **out, sim_world *w, uint64_t seed)
{
    sim_net *n = calloc(1, sizeof(*n));
    if (n == NULL) return HM_ENOMEM;
    n->w = w;
    sim_rng_seed(&n->rng, seed, 10);
    sim_rng_seed(&n->rng_late, seed, 12);
    n->meta_api.ops = &sim_meta_ops;
    n->meta_api.impl = n;
    for (size_t i = 0; i < SIM_NET_SHARDS_MAX; i++) {
        n->shard_ep[i] = 1 + i;
        n->shard_api[i].ops = &sim_shard_ops;
        n->shard_api[i].impl = &n->shard_ep[i];
    }
    *out = n;
    return 0;
}

void sim_net_free(sim_net *n)
{
    if (n == NULL) return;
    for (size_t e = 0; e < SIM_NET_EPS; e++)
        while (n->ep[e].streams != NULL) sim_stream_free(n->ep[e].streams);
    for (size_t i = 0; i < n->nlate; i++) free(n->late[i].buf);
    free(n);
}

void sim_net_set_faults(sim_net *n, const sim_net_faults *f) { n->f = *f; }

hm_meta_api *sim_net_meta(sim_net *n) { return &n->meta_api; }

void sim_net_plant_lose_manifest(sim_net *n, bool on) { n->plant_lose_manifest = on; }

void sim_net_set_late_dups(sim_net *n, bool on) { n->late_dups = on; }

uint64_t sim_net_late_delivered(const sim_net *n) { return n->late_delivered; }

hm_shard_api *sim_net_shard(sim_net *n, size_t index)
{
    return index < SIM_NET_SHARDS_MAX ? &n->shard_api[index] : NULL;
}

void sim_net_attach_meta(sim_net *n, hm_meta_api *inner) { n->ep[0].meta = inner; }

void sim_net_attach_shard(sim_net *n, size_t index, hm_shard_api *inner)
{
    if (index < SIM_NET_SHARDS_MAX) n->ep[1 + index].shard = inner;
}

void sim_net_detach(sim_net *n, size_t ep)
{
    if (ep >= SIM_NET_EPS) return;
    for (sim_stream *s = n->ep[ep].streams; s != NULL; s = s->next) sim_stream_break(s);
    n->ep[ep].meta = NULL;
    n->ep[ep].shard = NULL;
}

void sim_net_partition(sim_net *n, size_t ep, bool cut)
{
    if (ep < SIM_NET_EPS) n->ep[ep].partitioned = cut;
}

bool sim_net_partitioned(const sim_net *n, size_t ep)
{
    return ep < SIM_NET_EPS && n->ep[ep].partitioned;
}

size_t sim_net_streams_open(const sim_net *n, size_t ep)
{
    return ep < SIM_NET_EPS ? n->ep[ep].nstreams : 0;
}

void sim_net_get_stats(const sim_net *n, sim_net_stats *out) { *out = n->stats; }
