/* hm_meta_node.h - a metadata node: log + state machine + group commit.
 *
 * Today a node is a one-voter group: a command is appended to the metadata
 * log, fsync'd, then applied to the LMDB state machine together with
 * applied_index, and only then answered.  Raft (v0.2) replaces the log's
 * single-voter commit rule, not the state machine.
 *
 * Thread-safe: any number of threads may call hm_meta_node_handle at once;
 * mutations are drained by one commit thread in batches (one log fsync and
 * one lazy LMDB transaction per batch; the log is the durability point, see
 * docs/adr/0006-fsync-budget.md).
 */
#ifndef HM_META_NODE_H
#define HM_META_NODE_H

#include "hm_env.h"
#include "hm_meta_api.h"
#include "hm_meta_sm.h"
#include "hm_rpc.h"

typedef struct hm_meta_node hm_meta_node;

/* Open (creating on first use) the node whose state lives under dir
 * (dir/log/, dir/kv/).  Replays log entries past applied_index.  env is
 * borrowed and must outlive the node. */
int hm_meta_node_open(hm_meta_node **out, hm_env *env, const char *dir);

/* Tuning and test switches for hm_meta_node_open_opts; zero means default. */
typedef struct hm_meta_node_opts {
    /* Log segment size (the simulator uses small ones so that compaction
     * runs); 0: HM_META_LOG_SEGMENT_BYTES. */
    uint64_t log_segment_bytes;
    /* Batches are applied with lazy LMDB commits; every durable_every-th
     * batch, or the first one durable_ms after the last durable commit, is
     * committed durably, and only then may the log be compacted, up to the
     * index that commit applied.  0: HM_META_DURABLE_EVERY / _MS. */
    uint32_t durable_every;
    int64_t durable_ms;
    /* How long the commit thread may wait for more commands when the last
     * batch held several (writers are concurrent); 0: HM_META_COMMIT_DELAY_US,
     * negative: never wait. */
    int32_t commit_delay_us;
    /* Test only (a planted bug the simulator must catch): compact the log up
     * to the last applied index even when that state is not yet durable. */
    bool plant_compact_past_durable;
} hm_meta_node_opts;

int hm_meta_node_open_opts(hm_meta_node **out, hm_env *env, const char *dir,
                           const hm_meta_node_opts *opts);

/* Stop the commit thread after the current batch and close everything. */
void hm_meta_node_close(hm_meta_node *node);

/* Handle one request: queries read a consistent LMDB snapshot; commands go
 * through the log.  *resp is a freshly allocated message (free with
 * hm__meta_response__free_unpacked(resp, NULL)). */
int hm_meta_node_handle(hm_meta_node *node, const Hm__MetaRequest *req,
                        Hm__MetaResponse **resp);

/* Test only: hm_meta_sm_names_audit over a read snapshot of node's state
 * (the simulator's names checker).  HM_EPOISONED when the node stopped
 * after a failed write; otherwise as hm_meta_sm_names_audit. */
int hm_meta_node_names_audit(hm_meta_node *node, hm_meta_names_audit *out, char *msg,
                             size_t msg_cap);

/* The in-process hm_meta_api binding over node (borrowed). */
int hm_meta_api_local_new(hm_meta_api **out, hm_meta_node *node);

/* RPC handler for hm_rpc_server_start; ctx is the hm_meta_node *. */
int hm_meta_service_handle(void *ctx, hm_rpc_conn *c, const hm_frame *req);

#endif
