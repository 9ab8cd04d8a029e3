/* test_sim_env_disks.c - the simulator's per-disk faults: a disk that dies,
 * fills, stalls or loses its contents does exactly that, to the paths on
 * it and to no other, and keeps doing it across crashes.
 *
 * The simulator's disk checkers (docs/simulation.md) trust these: a dead
 * disk that still answered a read would hide a data path that never falls
 * back to parity; a lost disk whose files came back after a crash would
 * hide a lost shard.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "sim_env.h"

static sim_world *w;
static hm_env *env;

static void make_world(uint64_t seed)
{
    ck_assert_int_eq(sim_world_new(&w, seed), 0);
    env = sim_world_env(w);
    ck_assert_int_eq(env->ops->mkdir(env, "/d"), 0);
    ck_assert_int_eq(env->ops->mkdir(env, "/d/disk1"), 0);
    ck_assert_int_eq(env->ops->mkdir(env, "/d/disk10"), 0);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    ck_assert_int_eq(env->ops->sync_dir(env, "/"), 0);
}

static void setup(void) { make_world(42); }

static void teardown(void)
{
    sim_world_free(w);
    w = NULL;
}

static void write_file(const char *path, const char *data, bool sync)
{
    hm_file *f;
    ck_assert_int_eq(env->ops->open(env, path, HM_O_RDWR | HM_O_CREAT, &f), 0);
    ck_assert_int_eq(env->ops->pwrite(f, data, strlen(data), 0), 0);
    if (sync) ck_assert_int_eq(env->ops->sync(f), 0);
    env->ops->close(f);
}

/* Contents of path into buf (NUL-terminated); the error if it fails. */
static int read_file(const char *path, char *buf, size_t cap)
{
    hm_file *f;
    size_t got;
    int rc = env->ops->open(env, path, HM_O_RDONLY, &f);
    if (rc != 0) return rc;
    rc = env->ops->pread(f, buf, cap - 1, 0, &got);
    env->ops->close(f);
    if (rc == 0) buf[got] = '\0';
    return rc;
}

static int count_fn(void *arg, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(int *)arg)++;
    return 0;
}

/* A dead disk fails every call with HM_EIO, on a handle opened before it
 * died too; the disk next to it (whose name it prefixes) is untouched; the
 * injected faults' counter does not move (the node is not restarted for a
 * disk); the state outlives a power loss; clearing it brings the synced
 * bytes back. */
START_TEST(test_disk_dead)
{
    char buf[64];
    write_file("/d/disk1/a", "alpha", true);
    write_file("/d/disk10/b", "beta", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk1"), 0);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk10"), 0);
    hm_file *held;
    ck_assert_int_eq(env->ops->open(env, "/d/disk1/a", HM_O_RDWR, &held), 0);

    sim_disk_state dead = {.dead = true};
    ck_assert_int_eq(sim_disk_set(w, "/d/disk1", &dead), 0);
    size_t got;
    uint64_t size;
    ck_assert_int_eq(env->ops->pread(held, buf, sizeof(buf), 0, &got), HM_EIO);
    ck_assert_int_eq(env->ops->pwrite(held, "x", 1, 0), HM_EIO);
    ck_assert_int_eq(env->ops->size(held, &size), HM_EIO);
    ck_assert_int_eq(env->ops->sync(held), HM_EIO); /* and poisons it, as a failed fsync */
    env->ops->close(held);
    ck_assert_int_eq(read_file("/d/disk1/a", buf, sizeof(buf)), HM_EIO);
    hm_file *f;
    ck_assert_int_eq(env->ops->open(env, "/d/disk1/new", HM_O_RDWR | HM_O_CREAT, &f), HM_EIO);
    ck_assert_int_eq(env->ops->mkdir(env, "/d/disk1/sub"), HM_EIO);
    ck_assert_int_eq(env->ops->unlink(env, "/d/disk1/a"), HM_EIO);
    ck_assert_int_eq(env->ops->rename(env, "/d/disk10/b", "/d/disk1/b"), HM_EIO);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk1"), HM_EIO);
    int n = 0;
    ck_assert_int_eq(env->ops->list_dir(env, "/d/disk1", count_fn, &n), HM_EIO);
    ck_assert_int_eq(env->ops->exists(env, "/d/disk1", NULL), HM_EIO);
    uint64_t total, avail;
    ck_assert_int_eq(env->ops->statfs(env, "/d/disk1", &total, &avail), HM_EIO);

    /* the neighbour whose name the dead one prefixes */
    ck_assert_int_eq(read_file("/d/disk10/b", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "beta");
    write_file("/d/disk10/c", "gamma", true);
    ck_assert_int_eq(env->ops->list_dir(env, "/d", count_fn, &n), 0);

    ck_assert_uint_eq(sim_fault_fired(w), 0);
    uint64_t refused = 0;
    sim_disk_get_stats(w, &refused, NULL);
    ck_assert_uint_ge(refused, 12);

    sim_world_crash(w, SIM_CRASH_TORN);
    ck_assert_int_eq(read_file("/d/disk1/a", buf, sizeof(buf)), HM_EIO);
    sim_disk_state ok = {0};
    ck_assert_int_eq(sim_disk_set(w, "/d/disk1", &ok), 0);
    ck_assert_int_eq(read_file("/d/disk1/a", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "alpha");
}
END_TEST

/* A full disk refuses what needs space with HM_ENOSPC and nothing else:
 * reads, syncs, a shrinking truncate, renames and unlinks still work, and
 * statfs reports no free bytes.  A write it refused changed nothing. */
START_TEST(test_disk_full)
{
    char buf[64];
    write_file("/d/disk1/a", "alpha", false);
    hm_file *f;
    ck_assert_int_eq(env->ops->open(env, "/d/disk1/a", HM_O_RDWR, &f), 0);
    sim_disk_state full = {.full = true};
    ck_assert_int_eq(sim_disk_set(w, "/d/disk1", &full), 0);

    ck_assert_int_eq(env->ops->pwrite(f, "ZZ", 2, 0), HM_ENOSPC);
    ck_assert_int_eq(env->ops->truncate(f, 100), HM_ENOSPC);
    ck_assert_int_eq(env->ops->sync(f), 0);
    ck_assert_int_eq(env->ops->truncate(f, 3), 0);
    env->ops->close(f);
    ck_assert_int_eq(read_file("/d/disk1/a", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "alp");
    ck_assert_int_eq(env->ops->open(env, "/d/disk1/new", HM_O_RDWR | HM_O_CREAT, &f), HM_ENOSPC);
    ck_assert_int_eq(env->ops->exists(env, "/d/disk1/new", NULL), HM_ENOENT);
    ck_assert_int_eq(env->ops->mkdir(env, "/d/disk1/sub"), HM_ENOSPC);
    /* what exists already needs no room: EEXIST, and an open with create */
    ck_assert_int_eq(env->ops->mkdir(env, "/d/disk1"), HM_EEXIST);
    ck_assert_int_eq(env->ops->open(env, "/d/disk1/a", HM_O_RDWR | HM_O_CREAT, &f), 0);
    env->ops->close(f);
    ck_assert_int_eq(env->ops->rename(env, "/d/disk1/a", "/d/disk1/b"), 0);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk1"), 0);
    uint64_t total = 0, avail = 1;
    ck_assert_int_eq(env->ops->statfs(env, "/d/disk1/b", &total, &avail), 0);
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_eq(avail, 0);
    ck_assert_int_eq(env->ops->statfs(env, "/d/disk10", &total, &avail), 0);
    ck_assert_uint_gt(avail, 0);
    write_file("/d/disk10/ok", "fits", true);
    ck_assert_int_eq(env->ops->unlink(env, "/d/disk1/b"), 0);

    sim_disk_state ok = {0};
    ck_assert_int_eq(sim_disk_set(w, "/d/disk1", &ok), 0);
    write_file("/d/disk1/again", "room", true);
}
END_TEST

/* A stalled disk answers, late: each call on it first lets the virtual
 * clocks run the stall; calls elsewhere take no time. */
START_TEST(test_disk_stall)
{
    char buf[64];
    write_file("/d/disk1/a", "alpha", true);
    sim_disk_state slow = {.stall_ms = 7000};
    ck_assert_int_eq(sim_disk_set(w, "/d/disk1", &slow), 0);
    int64_t t0 = sim_world_now_ms(w);
    ck_assert_int_eq(read_file("/d/disk1/a", buf, sizeof(buf)), 0); /* open + pread */
    ck_assert_str_eq(buf, "alpha");
    ck_assert_int_eq(sim_world_now_ms(w) - t0, 14000);
    int64_t wall0 = env->ops->wall_ms(env);
    t0 = sim_world_now_ms(w);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk1"), 0);
    ck_assert_int_eq(sim_world_now_ms(w) - t0, 7000);
    ck_assert_int_eq(env->ops->wall_ms(env) - wall0, 7000);
    t0 = sim_world_now_ms(w);
    write_file("/d/disk10/b", "beta", true);
    ck_assert_int_eq(sim_world_now_ms(w) - t0, 0);
    uint64_t stalled = 0;
    sim_disk_get_stats(w, NULL, &stalled);
    ck_assert_uint_eq(stalled, 3);

    /* a stalled disk that also died: late, then HM_EIO */
    sim_disk_state both = {.dead = true, .stall_ms = 500};
    ck_assert_int_eq(sim_disk_set(w, "/d/disk1", &both), 0);
    t0 = sim_world_now_ms(w);
    ck_assert_int_eq(read_file("/d/disk1/a", buf, sizeof(buf)), HM_EIO);
    ck_assert_int_eq(sim_world_now_ms(w) - t0, 500);
}
END_TEST

/* Losing a disk's contents is durable and whole: no power loss, torn or
 * clean, brings back a file (synced or not) or a directory that was on it,
 * nor an unsynced create or rename inside it; the disk's directory stays
 * (keep_root) or goes (whole directory lost); a handle open on a lost file
 * still reads it, as on POSIX. */
START_TEST(test_disk_lose_contents)
{
    teardown(); /* the loop makes a world per seed */
    for (uint64_t seed = 1; seed <= 24; seed++) {
        make_world(seed);
        char buf[64];
        ck_assert_int_eq(env->ops->mkdir(env, "/d/disk1/shards"), 0);
        ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk1"), 0);
        write_file("/d/disk1/shards/s1", "one", true);
        ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk1/shards"), 0);
        write_file("/d/disk1/shards/s2", "two", false);           /* unsynced create */
        write_file("/d/disk1/tmp", "three", true);
        ck_assert_int_eq(env->ops->rename(env, "/d/disk1/tmp", "/d/disk1/shards/s3"), 0);
        write_file("/d/disk10/keep", "kept", true);
        ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk10"), 0);
        hm_file *held;
        ck_assert_int_eq(env->ops->open(env, "/d/disk1/shards/s1", HM_O_RDONLY, &held), 0);

        bool keep_root = seed % 2 == 0;
        ck_assert_int_eq(sim_world_remove_tree(w, "/d/disk1", keep_root), 0);
        size_t got;
        ck_assert_int_eq(env->ops->pread(held, buf, sizeof(buf) - 1, 0, &got), 0);
        ck_assert_uint_eq(got, 3);
        env->ops->close(held);
        ck_assert_int_eq(read_file("/d/disk1/shards/s1", buf, sizeof(buf)), HM_ENOENT);

        sim_world_crash(w, seed % 3 == 0 ? SIM_CRASH_CLEAN : SIM_CRASH_TORN);
        bool is_dir = false;
        if (keep_root) {
            ck_assert_int_eq(env->ops->exists(env, "/d/disk1", &is_dir), 0);
            ck_assert(is_dir);
            int n = 0;
            ck_assert_int_eq(env->ops->list_dir(env, "/d/disk1", count_fn, &n), 0);
            ck_assert_int_eq(n, 0);
        } else {
            ck_assert_int_eq(env->ops->exists(env, "/d/disk1", NULL), HM_ENOENT);
        }
        ck_assert_int_eq(env->ops->exists(env, "/d/disk1/shards", NULL), HM_ENOENT);
        ck_assert_int_eq(env->ops->exists(env, "/d/disk1/tmp", NULL), HM_ENOENT);
        ck_assert_int_eq(read_file("/d/disk10/keep", buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, "kept");
        teardown();
    }
    make_world(42); /* for the fixture's teardown */
}
END_TEST

/* A whole directory lost while its own creation was not yet durable (an
 * unsynced mkdir in the parent) stays lost after a torn crash. */
START_TEST(test_disk_lose_unsynced_dir)
{
    teardown(); /* the loop makes a world per seed */
    for (uint64_t seed = 1; seed <= 16; seed++) {
        make_world(seed);
        ck_assert_int_eq(env->ops->mkdir(env, "/d/disk2"), 0); /* parent not synced */
        write_file("/d/disk2/x", "x", true);
        ck_assert_int_eq(sim_world_remove_tree(w, "/d/disk2", false), 0);
        sim_world_crash(w, SIM_CRASH_TORN);
        ck_assert_int_eq(env->ops->exists(env, "/d/disk2", NULL), HM_ENOENT);
        teardown();
    }
    make_world(42);
}
END_TEST

/* Bad arguments: an empty prefix, one ending in '/', the root, a file, an
 * absent directory; a table with no room left; clearing frees a slot. */
START_TEST(test_disk_bad_args)
{
    sim_disk_state dead = {.dead = true}, ok = {0};
    ck_assert_int_eq(sim_disk_set(w, "", &dead), HM_EINVAL);
    ck_assert_int_eq(sim_disk_set(w, "/d/disk1/", &dead), HM_EINVAL);
    ck_assert_int_eq(sim_world_remove_tree(w, "/", true), HM_EINVAL);
    write_file("/d/f", "f", true);
    ck_assert_int_eq(sim_world_remove_tree(w, "/d/f", true), HM_EINVAL);
    ck_assert_int_eq(sim_world_remove_tree(w, "/d/none", true), HM_ENOENT);
    char prefix[32];
    for (int i = 0; i < SIM_DISK_RULES_MAX; i++) {
        snprintf(prefix, sizeof(prefix), "/x/disk%d", i);
        ck_assert_int_eq(sim_disk_set(w, prefix, &dead), 0);
    }
    ck_assert_int_eq(sim_disk_set(w, "/x/one-more", &dead), HM_ENOSPC);
    ck_assert_int_eq(sim_disk_set(w, "/x/disk3", &dead), 0); /* replacing needs no room */
    ck_assert_int_eq(sim_disk_set(w, "/x/disk3", &ok), 0);
    ck_assert_int_eq(sim_disk_set(w, "/x/one-more", &dead), 0);
    /* /d/disk1 was never set: it works */
    write_file("/d/disk1/a", "a", true);
}
END_TEST

/* sim_world_durable: a file is durable once its bytes are synced and every
 * name on its path is; not before, and not after an unsynced change. */
START_TEST(test_durable_query)
{
    ck_assert_int_eq(env->ops->mkdir(env, "/d/disk1/s"), 0);
    write_file("/d/disk1/s/x", "x", true);
    ck_assert(!sim_world_durable(w, "/d/disk1/s/x")); /* s and x not in synced dirs */
    ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk1/s"), 0);
    ck_assert(!sim_world_durable(w, "/d/disk1/s/x")); /* s itself not yet */
    ck_assert_int_eq(env->ops->sync_dir(env, "/d/disk1"), 0);
    ck_assert(sim_world_durable(w, "/d/disk1/s/x"));
    hm_file *f;
    ck_assert_int_eq(env->ops->open(env, "/d/disk1/s/x", HM_O_RDWR, &f), 0);
    ck_assert_int_eq(env->ops->pwrite(f, "y", 1, 0), 0);
    ck_assert(!sim_world_durable(w, "/d/disk1/s/x"));
    ck_assert_int_eq(env->ops->sync(f), 0);
    env->ops->close(f);
    ck_assert(sim_world_durable(w, "/d/disk1/s/x"));
    ck_assert(!sim_world_durable(w, "/d/disk1/s"));    /* a directory */
    ck_assert(!sim_world_durable(w, "/d/disk1/s/no")); /* absent */
    ck_assert_int_eq(sim_world_remove_tree(w, "/d/disk1", true), 0);
    ck_assert(!sim_world_durable(w, "/d/disk1/s/x"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_env_disks");
    TCase *tc = tcase_create("disks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_disk_dead);
    tcase_add_test(tc, test_disk_full);
    tcase_add_test(tc, test_disk_stall);
    tcase_add_test(tc, test_disk_lose_contents);
    tcase_add_test(tc, test_disk_lose_unsynced_dir);
    tcase_add_test(tc, test_disk_bad_args);
    tcase_add_test(tc, test_durable_query);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
