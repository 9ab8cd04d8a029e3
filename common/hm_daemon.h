/* hm_daemon.h - what every daemon (hamster-meta, hamster-shard,
 * hamster-gw, and `hamster serve` which runs them all) does around its
 * role: block the stop signals before any thread starts, check its data
 * directory before touching it, lock it against a second process, prove it
 * belongs to the cluster in it, load the node certificate, and later wait
 * for SIGINT or SIGTERM.  One place, so every binary says the same words:
 * each start-up failure names the path and the cause.
 *
 * These are process shells, not cores: they call the system directly. */
#ifndef HM_DAEMON_H
#define HM_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "hm_env.h"
#include "hm_rpc.h"

/* Block SIGINT and SIGTERM in the calling thread (every thread started later
 * inherits the mask, so only hm_daemon_wait sees them) and ignore SIGPIPE. */
void hm_daemon_block_signals(sigset_t *sigs);

/* The name of the lock file a daemon keeps in each directory it owns. */
#define HM_DAEMON_LOCK_FILE "hamster.lock"

/* Check that dir can be used as a data directory before anything is
 * written: an existing directory must be a directory and writable; a
 * missing one (create true) needs an existing, writable parent.  0 when it
 * can; otherwise HM_E* with why (cap bytes) set to words naming the path
 * and the cause, e.g. "./data is a file, not a directory". */
int hm_daemon_check_dir(const char *dir, bool create, char *why, size_t cap);

/* Take an exclusive lock (flock) on dir for the life of the process: the
 * file dir/HM_DAEMON_LOCK_FILE is created if needed and our pid written in
 * it.  *fd gets the descriptor that holds the lock (hm_daemon_unlock
 * releases it; exit does too, even on SIGKILL, so a crash never leaves a
 * stale lock).  HM_EBUSY when another process holds it, with why naming
 * that process's pid; other HM_E* with why saying what failed. */
int hm_daemon_lock(const char *dir, int *fd, char *why, size_t cap);
void hm_daemon_unlock(int fd);

/* The reason a data directory's identity cannot be used, in words naming
 * the path, for rc from hm_cluster_check or hm_cluster_init. */
void hm_daemon_identity_why(const char *data_dir, int rc, char *why, size_t cap);

/* Check data_dir's cluster identity against the root key in the
 * environment (HAMSTER_ACCESS_KEY_ID, HAMSTER_SECRET_ACCESS_KEY) and load
 * the node's TLS context into *tls.  Logs a message saying what to do (set
 * the key, run hamster-ctl init) under component comp and returns non-zero
 * on any failure. */
int hm_daemon_identity(hm_env *env, const char *comp, const char *data_dir, hm_tls **tls);

/* Run the erasure-coding self-test (hm_ec_selftest) before the daemon
 * encodes or decodes anything.  0 when it passes; otherwise logs under comp
 * that the daemon refuses to start, says so on stderr as prog, and returns
 * non-zero: the coding matrix is an on-disk format, so a build whose ISA-L
 * disagrees with the known answers must not write or rebuild a byte. */
int hm_daemon_ec_selftest(const char *prog, const char *comp);

/* Wait for one of sigs and log it. */
void hm_daemon_wait(const sigset_t *sigs, const char *comp);

#endif
