/* sim_env.h - an hm_env over a seeded virtual world, for the simulator.
 *
 * The world holds a virtual clock, seeded random streams, an in-memory file
 * system and in-memory ordered key-value stores.  Everything a core can do
 * through hm_env lands here, so one seed replays a run exactly.
 *
 * The decision that shaped it: durability is explicit state, not a side
 * effect.  Every file has the bytes a reader sees now and the bytes that
 * survived the last sync(); every directory has the entries a reader sees
 * now and the entries that survived the last sync_dir(); every KV store has
 * its committed state and its durable state.  A crash throws away the
 * difference (sim_world_crash), or, in the torn mode, keeps what a real
 * disk may keep of it, as SQLite's test6.c and FoundationDB's
 * AsyncFileNonDurable do: any subset of the unsynced sectors of every file,
 * some of them torn (half new, half garbage), independently per file (so
 * writes to two files reorder), and any subset of the unsynced directory
 * changes (a create, rename or unlink is durable only once its directory
 * is synced; a rename stays atomic).
 *
 * A crash of a process (as opposed to a power loss) is modelled in three
 * steps: sim_world_freeze() makes the disk refuse every call with HM_EIO
 * (the dead process can change nothing any more), the caller then closes
 * the abandoned roles only to reclaim their memory and threads, and
 * sim_world_crash() reverts to the durable state and thaws the disk.
 * Handles opened before the crash stay dead (HM_EIO) afterwards.
 *
 * Thread safety: one mutex guards the world, so a role's internal thread
 * may call in; determinism, though, holds only when calls are not
 * concurrent (the simulator drives everything from one thread).
 * Memory is bounded by what the run writes; sim_world_gc() frees files that
 * are no longer reachable.
 */
#ifndef SIM_ENV_H
#define SIM_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_env.h"

typedef struct sim_world sim_world;

/* ---- seeded randomness ----------------------------------------------------- */

/* xoshiro256** state; seeded through splitmix64 so that any 64-bit seed
 * (0 included) gives a good stream. */
typedef struct sim_rng {
    uint64_t s[4];
} sim_rng;

/* Seed rng from (seed, stream): distinct streams of one seed are
 * independent, so consuming more of one never shifts another. */
void sim_rng_seed(sim_rng *rng, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(sim_rng *rng);
/* Uniform in [0, n); n > 0. */
uint64_t sim_rng_below(sim_rng *rng, uint64_t n);
/* True with probability permille / 1000. */
bool sim_rng_chance(sim_rng *rng, uint32_t permille);
void sim_rng_fill(sim_rng *rng, void *buf, size_t len);

/* ---- the world ------------------------------------------------------------- */

/* Create a world from seed.  Its env's random() and its crash decisions
 * come from streams of seed.  The virtual clocks start at fixed values
 * (monotonic 1000 s, wall 2024-01-01T00:00:00Z plus seed % 1 day).
 * HM_ENOMEM. */
int sim_world_new(sim_world **out, uint64_t seed);

/* Free the world and every file, store and handle in it.  Handles still
 * held by callers become dangling: close them first. */
void sim_world_free(sim_world *w);

/* The env binding (valid until sim_world_free). */
hm_env *sim_world_env(sim_world *w);

/* Advance both virtual clocks. */
void sim_world_advance_ms(sim_world *w, int64_t ms);
int64_t sim_world_now_ms(sim_world *w); /* monotonic, ms */

/* Fold this world's view of every env call (op, path, sizes, result) into
 * a running FNV-1a hash: two runs of one seed must end with the same hash. */
uint64_t sim_world_trace_hash(const sim_world *w);

/* ---- crash ----------------------------------------------------------------- */

enum sim_crash_mode {
    SIM_CRASH_CLEAN = 0, /* every unsynced change is lost */
    SIM_CRASH_TORN,      /* what a real disk may keep: every 512-byte sector
                            of an unsynced write is written (p = 1/2), lost
                            (3/8) or torn (1/8: a prefix of it written, then
                            garbage), independently; bytes a write did not
                            cover never change; an unsynced truncate lands
                            with p = 1/2; a file that grew may keep its new
                            size without its data (p = 1/4, zeros); each
                            unsynced directory change (create, rename,
                            unlink, mkdir, rmdir; a rename whole) lands with
                            p = 1/2, in any subset */
};

/* Refuse every disk and KV call (HM_EIO) until sim_world_crash: the
 * process that owned the handles is dead.  Clock and rng still work. */
void sim_world_freeze(sim_world *w);

/* Power loss: revert every directory, file and KV store to its durable
 * state (see the modes), kill every handle opened so far (later calls on
 * them return HM_EIO; close still frees them), thaw a frozen disk, clear
 * the fault plan, and free unreachable files. */
void sim_world_crash(sim_world *w, enum sim_crash_mode mode);

/* Plan a crash point: the disk freezes (as sim_world_freeze) just before
 * the nth state-changing call from now (1 = the next one), which fails
 * with HM_EIO and changes nothing.  State-changing calls are: open with
 * create or truncate, pwrite, truncate, sync, rename, unlink, mkdir,
 * rmdir, sync_dir and write-transaction commits.  0 cancels, and so do
 * sim_world_crash and sim_world_thaw (the plan is for one life).  Crash tests
 * loop n = 1, 2, ... until a run completes before its crash point. */
void sim_world_freeze_after(sim_world *w, uint64_t n);

/* State-changing calls made since the world was created. */
uint64_t sim_world_mutations(const sim_world *w);

/* Process death without power loss: kill every handle opened so far and
 * thaw a frozen disk, but keep every unsynced change (the page cache
 * outlives the process).  Clears the fault plan. */
void sim_world_thaw(sim_world *w);

/* ---- faults ---------------------------------------------------------------- */

enum sim_fault_op {
    SIM_FAULT_WRITE = 0, /* pwrite and truncate */
    SIM_FAULT_SYNC,      /* file sync (poisons the file) */
    SIM_FAULT_SYNC_DIR,  /* directory sync */
    SIM_FAULT_KV_COMMIT, /* write-transaction commit (poisons the store) */
    SIM_FAULT_OP_COUNT
};

/* Fail the nth call (1 = the next one) of op whose path starts with
 * path_prefix (NULL: any path) with err (HM_EIO or HM_ENOSPC).  A failed
 * write changes nothing.  One countdown per op; a new one replaces it. */
void sim_fault_countdown(sim_world *w, enum sim_fault_op op, const char *path_prefix,
                         uint32_t nth, int err);

/* Fail each matching call of op with probability permille / 1000. */
void sim_fault_probability(sim_world *w, enum sim_fault_op op, const char *path_prefix,
                           uint32_t permille, int err);

/* Drop every countdown and probability. */
void sim_fault_clear(sim_world *w);

/* How many injected faults have fired since the world was made. */
uint64_t sim_fault_fired(const sim_world *w);

/* Planted bug for the simulator's own test: sync, sync_dir and durable KV
 * commits report success but make nothing durable (an ack before fsync). */
void sim_world_set_sync_noop(sim_world *w, bool on);

/* ---- per-disk faults -------------------------------------------------------- */

/* A disk is a directory tree: a path is on the disk at prefix when it is
 * prefix or continues it with '/' ("/sim/disk1" holds "/sim/disk1/x", not
 * "/sim/disk10").  Its state is the hardware's, so it holds across crashes,
 * power losses and restarts until set again. */
typedef struct sim_disk_state {
    bool dead;        /* every call on the disk fails with HM_EIO, on handles
                         opened before too (a drive gone or failing) */
    bool full;        /* calls that need space fail with HM_ENOSPC (pwrite,
                         a truncate that grows, a create, mkdir); statfs says
                         0 bytes free; reads, syncs, renames and unlinks work */
    int64_t stall_ms; /* every call on the disk first lets the virtual clocks
                         run this long (a drive retrying a bad sector) */
} sim_disk_state;

#define SIM_DISK_RULES_MAX 16 /* disks that can have a state at once */

/* Set (replace) the state of the disk at prefix; an all-clear state (not
 * dead, not full, no stall) removes it.  HM_EINVAL for an empty or too long
 * prefix or one ending in '/'; HM_ENOSPC when SIM_DISK_RULES_MAX other disks
 * have a state. */
int sim_disk_set(sim_world *w, const char *prefix, const sim_disk_state *st);

/* Calls a disk state refused (HM_EIO or HM_ENOSPC) and calls it stalled,
 * since the world was made (either pointer may be NULL).  These are not
 * counted by sim_fault_fired. */
void sim_disk_get_stats(const sim_world *w, uint64_t *refused, uint64_t *stalled);

/* Lose the contents of a disk: every file and directory under dir goes,
 * durably (a drive replaced by an empty one, an operator's rm -rf), and the
 * unsynced directory changes inside it are forgotten, so no crash brings
 * any of it back.  keep_root: dir itself stays, empty; otherwise it goes
 * too.  Handles open on removed files keep working, as on POSIX.
 * HM_ENOENT if dir is absent, HM_EINVAL for the root or a file. */
int sim_world_remove_tree(sim_world *w, const char *dir, bool keep_root);

/* True when the file at path would survive any power loss as it reads
 * now: every name on its path is durable (and the same node), and its
 * bytes and size are synced. */
bool sim_world_durable(sim_world *w, const char *path);

/* Flip bit `bit` (counted from the file's first byte) of the file at path,
 * both in what readers see and in the durable copy: rot at rest.
 * HM_ENOENT if absent, HM_EINVAL if bit is past the end or path is a
 * directory. */
int sim_world_flip_bit(sim_world *w, const char *path, uint64_t bit);

/* Call fn for every regular file under dir (recursively, in name order)
 * with its full path and current size; stops at fn's non-zero return,
 * which is returned.  HM_ENOENT if dir is absent. */
typedef int (*sim_file_fn)(void *arg, const char *path, uint64_t size);
int sim_world_walk_files(sim_world *w, const char *dir, sim_file_fn fn, void *arg);

/* Free files and directories that no name, durable or not, and no open
 * handle reaches. */
void sim_world_gc(sim_world *w);

/* Counters for the run summary. */
typedef struct sim_world_stats {
    uint64_t writes, syncs, dir_syncs, kv_commits_durable, kv_commits_lazy;
    uint64_t bytes_written, crashes, files_live;
} sim_world_stats;
void sim_world_get_stats(const sim_world *w, sim_world_stats *out);

#endif
