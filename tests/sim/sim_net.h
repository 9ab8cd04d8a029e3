/* sim_net.h - a virtual network between the object service and the roles.
 *
 * The object service calls hm_meta_api and hm_shard_api synchronously, so
 * the network is a layer of wrappers around the in-process bindings: every
 * call is a message that may be delayed (the virtual clock advances), lost
 * on the way in (not applied; HM_ETIMEDOUT after the RPC timeout), lost on
 * the way back (applied, but the caller gets HM_ETIMEDOUT), duplicated (a
 * mutation applied twice; the caller sees the first answer), or refused by
 * a partition or a role that is down (HM_ECONN).
 *
 * The decision that shaped it: a stream (shard put or get) rides one
 * connection, as in the RPC binding.  A lost message breaks the stream:
 * the server side aborts the put or closes the get at once (the RPC server
 * does the same when its client goes away) and every later call on the
 * stream fails.  When a role goes down (sim_net_detach) every stream open
 * on it is ended on the server side the same way, so the role can be
 * closed and reopened under the wrappers.
 *
 * Endpoint 0 is the metadata node; endpoints 1..SIM_NET_SHARDS_MAX the
 * shard stores.  Single-threaded.  Every decision comes from the net's own
 * random stream, so one seed replays the same losses.
 */
#ifndef SIM_NET_H
#define SIM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_meta_api.h"
#include "hm_shard_api.h"
#include "sim_env.h"

#define SIM_NET_SHARDS_MAX 8u

typedef struct sim_net sim_net;

typedef struct sim_net_faults {
    uint32_t drop_request_permille; /* lost before the server saw it */
    uint32_t drop_reply_permille;   /* applied, answer lost */
    uint32_t dup_permille;          /* mutations delivered twice */
    int64_t delay_ms_max;           /* each message: uniform 0..max */
} sim_net_faults;

typedef struct sim_net_stats {
    uint64_t calls, drops_request, drops_reply, dups, refused;
} sim_net_stats;

/* A network over world w (its clock advances with delays and timeouts),
 * with decisions from (seed, stream 10).  HM_ENOMEM. */
int sim_net_new(sim_net **out, sim_world *w, uint64_t seed);

/* Free the net and its wrapper apis.  Every stream must be finished. */
void sim_net_free(sim_net *n);

void sim_net_set_faults(sim_net *n, const sim_net_faults *f);

/* The wrapper apis the object service holds; valid until sim_net_free.
 * They stay the same across role restarts. */
hm_meta_api *sim_net_meta(sim_net *n);
hm_shard_api *sim_net_shard(sim_net *n, size_t index); /* index < SIM_NET_SHARDS_MAX */

/* Planted bug for the recover checker: a put of a multipart manifest shard
 * is acknowledged but never written (hamster-sim --plant lose-manifest). */
void sim_net_plant_lose_manifest(sim_net *n, bool on);

/* --late-dups: an intent command (IntentPut, IntentDelete) is, with its own
 * small probability, also copied and the copy delivered 1..8 meta calls
 * later (a retried RPC whose first try was only slow), unless it is older
 * than half an intent tombstone's life by then.  Off by default, so pinned
 * seeds keep their runs.  sim_net_late_delivered counts the copies that
 * arrived. */
void sim_net_set_late_dups(sim_net *n, bool on);
uint64_t sim_net_late_delivered(const sim_net *n);

/* Put a role behind endpoint ep (0: meta, 1 + i: shard i).  inner is
 * borrowed until sim_net_detach. */
void sim_net_attach_meta(sim_net *n, hm_meta_api *inner);
void sim_net_attach_shard(sim_net *n, size_t index, hm_shard_api *inner);

/* Take the role at ep down: end its open streams on the server side and
 * refuse calls (HM_ECONN) until attached again. */
void sim_net_detach(sim_net *n, size_t ep);

/* Cut (or heal) the link to ep: calls fail with HM_ECONN, open streams
 * break at their next call. */
void sim_net_partition(sim_net *n, size_t ep, bool cut);
bool sim_net_partitioned(const sim_net *n, size_t ep);

/* Streams open on ep (for the checkers: none may leak). */
size_t sim_net_streams_open(const sim_net *n, size_t ep);

void sim_net_get_stats(const sim_net *n, sim_net_stats *out);

#endif
