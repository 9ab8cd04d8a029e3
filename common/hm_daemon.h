/* hm_daemon.h - what every split daemon (hamster-meta, hamster-shard,
 * hamster-gw) does around its role: block the stop signals before any
 * thread starts, prove it belongs to the cluster in its data directory, load
 * the node certificate, and later wait for SIGINT or SIGTERM.  One place, so
 * the daemons refuse a wrong root key with the same words. */
#ifndef HM_DAEMON_H
#define HM_DAEMON_H

#include <signal.h>

#include "hm_env.h"
#include "hm_rpc.h"

/* Block SIGINT and SIGTERM in the calling thread (every thread started later
 * inherits the mask, so only hm_daemon_wait sees them) and ignore SIGPIPE. */
void hm_daemon_block_signals(sigset_t *sigs);

/* Check data_dir's cluster identity against HAMSTER_SECRET_ACCESS_KEY and
 * load the node's TLS context into *tls.  Logs a message saying what to do
 * (set the key, run hamster-ctl init) under component comp and returns
 * non-zero on any failure. */
int hm_daemon_identity(hm_env *env, const char *comp, const char *data_dir, hm_tls **tls);

/* Wait for one of sigs and log it. */
void hm_daemon_wait(const sigset_t *sigs, const char *comp);

#endif
