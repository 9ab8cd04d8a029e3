/* test_sim_env.c - the simulator's env keeps exactly the promises a real
 * disk and LMDB keep, and breaks exactly the ones they break on a crash.
 *
 * If these fail, every simulator result is suspect: a sim disk that kept
 * unsynced bytes would hide durability bugs, one that lost synced bytes
 * would invent them.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "sim_env.h"

static sim_world *w;
static hm_env *env;

static void setup(void)
{
    ck_assert_int_eq(sim_world_new(&w, 42), 0);
    env = sim_world_env(w);
    ck_assert_int_eq(env->ops->mkdir(env, "/d"), 0);
    ck_assert_int_eq(env->ops->sync_dir(env, "/"), 0);
}

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

/* Contents of path into buf (NUL-terminated); a negative code if absent. */
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

/* Writes nobody synced are gone after a crash; the file's name too. */
START_TEST(test_unsynced_write_lost)
{
    char buf[64];
    write_file("/d/a", "hello", false);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "hello");
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), HM_ENOENT);
}
END_TEST

/* A synced file in a synced directory survives; later unsynced bytes and
 * a later truncate do not. */
START_TEST(test_synced_kept)
{
    char buf[64];
    write_file("/d/a", "hello", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    hm_file *f;
    ck_assert_int_eq(env->ops->open(env, "/d/a", HM_O_RDWR, &f), 0);
    ck_assert_int_eq(env->ops->pwrite(f, "J", 1, 0), 0);
    ck_assert_int_eq(env->ops->truncate(f, 2), 0);
    env->ops->close(f);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "Je");
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "hello");
}
END_TEST

/* A synced file whose directory entry was never synced is lost. */
START_TEST(test_create_needs_sync_dir)
{
    char buf[64];
    write_file("/d/a", "hello", true);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), HM_ENOENT);
}
END_TEST

/* rename is durable only after sync_dir of the target directory; before
 * that a crash shows the old name. */
START_TEST(test_rename_durable_after_sync_dir)
{
    char buf[64];
    write_file("/d/tmp", "new", true);
    write_file("/d/x", "old", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    ck_assert_int_eq(env->ops->rename(env, "/d/tmp", "/d/x"), 0);
    ck_assert_int_eq(read_file("/d/x", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "new");
    ck_assert_int_eq(read_file("/d/tmp", buf, sizeof(buf)), HM_ENOENT);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/x", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "old");
    ck_assert_int_eq(read_file("/d/tmp", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "new");

    ck_assert_int_eq(env->ops->rename(env, "/d/tmp", "/d/x"), 0);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/x", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "new");
    ck_assert_int_eq(read_file("/d/tmp", buf, sizeof(buf)), HM_ENOENT);
}
END_TEST

/* unlink is undone by a crash until the directory is synced. */
START_TEST(test_unlink_durable_after_sync_dir)
{
    char buf[64];
    write_file("/d/a", "x", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    ck_assert_int_eq(env->ops->unlink(env, "/d/a"), 0);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), 0);
    ck_assert_int_eq(env->ops->unlink(env, "/d/a"), 0);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), HM_ENOENT);
}
END_TEST

/* A torn crash keeps any subset of the sectors of an unsynced write: some
 * sectors new, some old, some torn (a prefix new, then garbage), in any
 * order (a lost sector before a kept one too); bytes outside the write
 * never change. */
START_TEST(test_torn_crash_sectors)
{
    enum { N = 4096, LO = 100, HI = 3700 };
    static uint8_t base[N], ones[N], got[N];
    memset(base, 0x11, sizeof(base));
    memset(ones, 0xAB, sizeof(ones));
    hm_file *f;
    int saw_hole_before_kept = 0, saw_torn = 0;
    for (int round = 0; round < 64; round++) {
        ck_assert_int_eq(env->ops->open(env, "/d/t", HM_O_RDWR | HM_O_CREAT | HM_O_TRUNC, &f), 0);
        ck_assert_int_eq(env->ops->pwrite(f, base, N, 0), 0);
        ck_assert_int_eq(env->ops->sync(f), 0);
        ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
        ck_assert_int_eq(env->ops->pwrite(f, ones, HI - LO, LO), 0);
        env->ops->close(f);
        sim_world_crash(w, SIM_CRASH_TORN);
        size_t n;
        ck_assert_int_eq(env->ops->open(env, "/d/t", HM_O_RDONLY, &f), 0);
        ck_assert_int_eq(env->ops->pread(f, got, N, 0, &n), 0);
        env->ops->close(f);
        ck_assert_uint_eq(n, N);
        for (size_t i = 0; i < LO; i++) ck_assert_uint_eq(got[i], 0x11);
        for (size_t i = HI; i < N; i++) ck_assert_uint_eq(got[i], 0x11);
        bool lost_seen = false;
        for (size_t s0 = 0; s0 < N; s0 += 512) {
            size_t a = s0 < LO ? LO : s0, b = s0 + 512 > HI ? HI : s0 + 512;
            size_t nnew = 0, nold = 0;
            for (size_t i = a; i < b; i++) {
                nnew += got[i] == 0xAB;
                nold += got[i] == 0x11;
            }
            if (nnew == b - a) {
                if (lost_seen) saw_hole_before_kept++;
            } else {
                if (nold == b - a) lost_seen = true;
                else saw_torn++;
            }
        }
    }
    ck_assert_int_gt(saw_hole_before_kept, 0);
    ck_assert_int_gt(saw_torn, 0);
}
END_TEST

/* Two files' unsynced writes reach the disk independently: after torn
 * crashes each of the four outcomes (neither, only the first, only the
 * second, both) shows up, so the disk reorders writes between files. */
START_TEST(test_torn_crash_reorders_files)
{
    int seen[4] = {0};
    char buf[64];
    write_file("/d/a", "0", true);
    write_file("/d/b", "0", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    for (int round = 0; round < 64; round++) {
        write_file("/d/a", "1", false);
        write_file("/d/b", "1", false);
        sim_world_crash(w, SIM_CRASH_TORN);
        ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), 0);
        int a = buf[0] == '1';
        ck_assert_int_eq(read_file("/d/b", buf, sizeof(buf)), 0);
        int b = buf[0] == '1';
        seen[a * 2 + b]++;
        write_file("/d/a", "0", true);
        write_file("/d/b", "0", true);
    }
    for (int i = 0; i < 4; i++) ck_assert_int_gt(seen[i], 0);
}
END_TEST

/* Unsynced directory changes survive a torn crash in any subset: of two
 * unlinks, the later one alone may land (a state no prefix shows), and a
 * rename never loses the file: the old name or the new one is there. */
START_TEST(test_torn_crash_directory_subsets)
{
    char buf[64];
    int later_only = 0, renamed = 0, not_renamed = 0;
    for (int round = 0; round < 64; round++) {
        write_file("/d/x", "x", true);
        write_file("/d/y", "y", true);
        write_file("/d/r", "r", true);
        ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
        ck_assert_int_eq(env->ops->unlink(env, "/d/x"), 0);
        ck_assert_int_eq(env->ops->unlink(env, "/d/y"), 0);
        ck_assert_int_eq(env->ops->rename(env, "/d/r", "/d/s"), 0);
        sim_world_crash(w, SIM_CRASH_TORN);
        bool x = read_file("/d/x", buf, sizeof(buf)) == 0;
        bool y = read_file("/d/y", buf, sizeof(buf)) == 0;
        later_only += x && !y;
        bool r = read_file("/d/r", buf, sizeof(buf)) == 0;
        bool s = read_file("/d/s", buf, sizeof(buf)) == 0;
        ck_assert(r != s);
        renamed += s;
        not_renamed += r;
        if (s) ck_assert_int_eq(env->ops->unlink(env, "/d/s"), 0);
        if (x) ck_assert_int_eq(env->ops->unlink(env, "/d/x"), 0);
        if (y) ck_assert_int_eq(env->ops->unlink(env, "/d/y"), 0);
        if (r) ck_assert_int_eq(env->ops->unlink(env, "/d/r"), 0);
        ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    }
    ck_assert_int_gt(later_only, 0);
    ck_assert_int_gt(renamed, 0);
    ck_assert_int_gt(not_renamed, 0);
}
END_TEST

/* A new directory whose parent was never synced may vanish with all it
 * holds, even though its own entries were synced; syncing the parent
 * keeps it. */
START_TEST(test_torn_crash_new_directory)
{
    char buf[64];
    int lost = 0;
    for (int round = 0; round < 32; round++) {
        ck_assert_int_eq(env->ops->mkdir(env, "/d/n"), 0);
        write_file("/d/n/f", "f", true);
        ck_assert_int_eq(env->ops->sync_dir(env, "/d/n"), 0);
        sim_world_crash(w, SIM_CRASH_TORN);
        if (read_file("/d/n/f", buf, sizeof(buf)) != 0) {
            lost++;
            continue;
        }
        ck_assert_int_eq(env->ops->unlink(env, "/d/n/f"), 0);
        ck_assert_int_eq(env->ops->rmdir(env, "/d/n"), 0);
        ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    }
    ck_assert_int_gt(lost, 0);
    ck_assert_int_eq(env->ops->mkdir(env, "/d/n"), 0);
    write_file("/d/n/f", "f", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d/n"), 0);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    for (int round = 0; round < 16; round++) {
        sim_world_crash(w, SIM_CRASH_TORN);
        ck_assert_int_eq(read_file("/d/n/f", buf, sizeof(buf)), 0);
    }
}
END_TEST

/* A file that grew without a sync may come back at its new size with
 * zeros where the data did not land. */
START_TEST(test_torn_crash_size_without_data)
{
    static uint8_t ones[2048], got[2048];
    memset(ones, 0xAB, sizeof(ones));
    int zeros_tail = 0;
    write_file("/d/z", "", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    for (int round = 0; round < 64; round++) {
        hm_file *f;
        ck_assert_int_eq(env->ops->open(env, "/d/z", HM_O_RDWR | HM_O_TRUNC, &f), 0);
        ck_assert_int_eq(env->ops->sync(f), 0);
        ck_assert_int_eq(env->ops->pwrite(f, ones, sizeof(ones), 0), 0);
        env->ops->close(f);
        sim_world_crash(w, SIM_CRASH_TORN);
        size_t n;
        ck_assert_int_eq(env->ops->open(env, "/d/z", HM_O_RDONLY, &f), 0);
        ck_assert_int_eq(env->ops->pread(f, got, sizeof(got), 0, &n), 0);
        env->ops->close(f);
        if (n == sizeof(got) && got[n - 1] == 0) zeros_tail++;
    }
    ck_assert_int_gt(zeros_tail, 0);
}
END_TEST

/* A planned crash point freezes the disk just before the nth
 * state-changing call: that call and every later one fail, nothing of
 * them lands. */
START_TEST(test_freeze_after)
{
    char buf[64];
    hm_file *f;
    ck_assert_int_eq(env->ops->open(env, "/d/a", HM_O_RDWR | HM_O_CREAT, &f), 0);
    uint64_t m0 = sim_world_mutations(w);
    sim_world_freeze_after(w, 2);
    ck_assert_int_eq(env->ops->pwrite(f, "a", 1, 0), 0);
    ck_assert_int_eq(env->ops->sync(f), HM_EIO);
    ck_assert_int_eq(env->ops->pwrite(f, "b", 1, 0), HM_EIO);
    ck_assert_int_eq(env->ops->mkdir(env, "/e"), HM_EIO);
    ck_assert_uint_eq(sim_world_mutations(w), m0 + 2);
    env->ops->close(f);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), HM_ENOENT);
    ck_assert_int_eq(env->ops->mkdir(env, "/e"), 0);
}
END_TEST

/* Handles from before a crash are dead; a frozen disk refuses everything. */
START_TEST(test_crash_kills_handles)
{
    hm_file *f;
    ck_assert_int_eq(env->ops->open(env, "/d/a", HM_O_RDWR | HM_O_CREAT, &f), 0);
    sim_world_freeze(w);
    ck_assert_int_eq(env->ops->pwrite(f, "x", 1, 0), HM_EIO);
    ck_assert_int_eq(env->ops->mkdir(env, "/e"), HM_EIO);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(env->ops->pwrite(f, "x", 1, 0), HM_EIO);
    env->ops->close(f);
    ck_assert_int_eq(env->ops->mkdir(env, "/e"), 0);
}
END_TEST

/* Fail the Nth write: exactly that call fails and changes nothing; a
 * failed sync poisons the handle. */
START_TEST(test_fault_countdown)
{
    hm_file *f;
    char buf[8];
    ck_assert_int_eq(env->ops->open(env, "/d/a", HM_O_RDWR | HM_O_CREAT, &f), 0);
    sim_fault_countdown(w, SIM_FAULT_WRITE, "/d/", 2, HM_ENOSPC);
    ck_assert_int_eq(env->ops->pwrite(f, "a", 1, 0), 0);
    ck_assert_int_eq(env->ops->pwrite(f, "b", 1, 1), HM_ENOSPC);
    ck_assert_int_eq(env->ops->pwrite(f, "c", 1, 1), 0);
    sim_fault_countdown(w, SIM_FAULT_SYNC, NULL, 1, HM_EIO);
    ck_assert_int_eq(env->ops->sync(f), HM_EIO);
    ck_assert_int_eq(env->ops->sync(f), HM_EPOISONED);
    ck_assert_int_eq(env->ops->pwrite(f, "d", 1, 0), HM_EPOISONED);
    env->ops->close(f);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "ac");
    ck_assert_uint_eq(sim_fault_fired(w), 2);
}
END_TEST

/* The planted bug: sync reports success and keeps nothing. */
START_TEST(test_sync_noop_loses)
{
    char buf[64];
    sim_world_set_sync_noop(w, true);
    write_file("/d/a", "hello", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), HM_ENOENT);
}
END_TEST

/* A bit flip at rest shows in what readers get and survives a crash. */
START_TEST(test_flip_bit)
{
    char buf[64];
    write_file("/d/a", "aaaa", true);
    ck_assert_int_eq(env->ops->sync_dir(env, "/d"), 0);
    ck_assert_int_eq(sim_world_flip_bit(w, "/d/a", 8 * 2 + 1), 0);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(read_file("/d/a", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "aaca");
    ck_assert_int_eq(sim_world_flip_bit(w, "/d/a", 64), HM_EINVAL);
    ck_assert_int_eq(sim_world_flip_bit(w, "/d/none", 0), HM_ENOENT);
}
END_TEST

static int count_entry(void *arg, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(int *)arg)++;
    return 0;
}

/* mkdir / rmdir / list_dir / exists behave like POSIX. */
START_TEST(test_dirs)
{
    bool is_dir;
    int n = 0;
    ck_assert_int_eq(env->ops->mkdir(env, "/d"), HM_EEXIST);
    ck_assert_int_eq(env->ops->mkdir(env, "/d/s"), 0);
    write_file("/d/s/f", "x", false);
    ck_assert_int_eq(env->ops->rmdir(env, "/d/s"), HM_ENOTEMPTY);
    ck_assert_int_eq(env->ops->exists(env, "/d/s", &is_dir), 0);
    ck_assert(is_dir);
    ck_assert_int_eq(env->ops->exists(env, "/d/s/f", &is_dir), 0);
    ck_assert(!is_dir);
    ck_assert_int_eq(env->ops->list_dir(env, "/d/s", count_entry, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(env->ops->unlink(env, "/d/s/f"), 0);
    ck_assert_int_eq(env->ops->rmdir(env, "/d/s"), 0);
    ck_assert_int_eq(env->ops->exists(env, "/d/s", NULL), HM_ENOENT);
    hm_file *f;
    ck_assert_int_eq(env->ops->open(env, "/nodir/f", HM_O_RDWR | HM_O_CREAT, &f), HM_ENOENT);
    ck_assert_int_eq(env->ops->fd(NULL), -1);
}
END_TEST

static void kv_put1(hm_kv *kv, const char *k, const char *v, bool durable)
{
    hm_kv_txn *t;
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(env->ops->kv_put(t, HM_KV_SYS, k, strlen(k), v, strlen(v)), 0);
    ck_assert_int_eq(env->ops->kv_commit(t, durable), 0);
}

static bool kv_has(hm_kv *kv, const char *k)
{
    hm_kv_txn *t;
    const void *v;
    size_t n;
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &t), 0);
    int rc = env->ops->kv_get(t, HM_KV_SYS, k, strlen(k), &v, &n);
    env->ops->kv_abort(t);
    ck_assert(rc == 0 || rc == HM_ENOENT);
    return rc == 0;
}

/* A lazy commit is visible at once and lost on a crash unless a later
 * durable commit follows; a durable one survives. */
START_TEST(test_kv_lazy_vs_durable)
{
    hm_kv *kv;
    ck_assert_int_eq(env->ops->kv_open(env, "/d/kv", &kv), 0);
    kv_put1(kv, "a", "1", true);
    kv_put1(kv, "b", "2", false);
    ck_assert(kv_has(kv, "b"));
    env->ops->kv_close(kv);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(env->ops->kv_open(env, "/d/kv", &kv), 0);
    ck_assert(kv_has(kv, "a"));
    ck_assert(!kv_has(kv, "b"));
    kv_put1(kv, "c", "3", false);
    kv_put1(kv, "d", "4", true);
    env->ops->kv_close(kv);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(env->ops->kv_open(env, "/d/kv", &kv), 0);
    ck_assert(kv_has(kv, "c"));
    ck_assert(kv_has(kv, "d"));
    env->ops->kv_close(kv);
}
END_TEST

/* A read transaction sees the snapshot it began with; an aborted write
 * changes nothing; a failed commit poisons the store until a restart. */
START_TEST(test_kv_snapshot_and_poison)
{
    hm_kv *kv;
    hm_kv_txn *r, *t;
    const void *v;
    size_t n;
    ck_assert_int_eq(env->ops->kv_open(env, "/d/kv", &kv), 0);
    kv_put1(kv, "a", "1", true);
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &r), 0);
    kv_put1(kv, "a", "2", true);
    ck_assert_int_eq(env->ops->kv_get(r, HM_KV_SYS, "a", 1, &v, &n), 0);
    ck_assert_int_eq(memcmp(v, "1", 1), 0);
    env->ops->kv_abort(r);
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(env->ops->kv_del(t, HM_KV_SYS, "a", 1), 0);
    ck_assert_int_eq(env->ops->kv_del(t, HM_KV_SYS, "a", 1), HM_ENOENT);
    env->ops->kv_abort(t);
    ck_assert(kv_has(kv, "a"));
    sim_fault_countdown(w, SIM_FAULT_KV_COMMIT, NULL, 1, HM_EIO);
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(env->ops->kv_put(t, HM_KV_SYS, "z", 1, "9", 1), 0);
    ck_assert_int_eq(env->ops->kv_commit(t, true), HM_EIO);
    ck_assert_int_eq(env->ops->kv_begin(kv, false, &t), HM_EPOISONED);
    env->ops->kv_close(kv);
    sim_world_crash(w, SIM_CRASH_CLEAN);
    ck_assert_int_eq(env->ops->kv_open(env, "/d/kv", &kv), 0);
    ck_assert(kv_has(kv, "a"));
    ck_assert(!kv_has(kv, "z"));
    env->ops->kv_close(kv);
}
END_TEST

/* Cursors walk keys in byte order both ways, seek to the first key >= the
 * target, and survive writes in their own transaction. */
START_TEST(test_kv_cursor_order)
{
    static const char *keys[] = {"b", "a", "ab", "\xff", "ba", "a\x00"};
    static const size_t lens[] = {1, 1, 2, 1, 2, 2};
    static const char *sorted[] = {"a", "a\x00", "ab", "b", "ba", "\xff"};
    static const size_t sorted_lens[] = {1, 2, 2, 1, 2, 1};
    hm_kv *kv;
    hm_kv_txn *t;
    hm_kv_cursor *c;
    const void *k;
    size_t kl;
    ck_assert_int_eq(env->ops->kv_open(env, "/d/kv", &kv), 0);
    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(env->ops->kv_put(t, HM_KV_NAMES, keys[i], lens[i], "v", 1), 0);
    ck_assert_int_eq(env->ops->kv_commit(t, true), 0);

    ck_assert_int_eq(env->ops->kv_begin(kv, true, &t), 0);
    ck_assert_int_eq(env->ops->kv_cursor_open(t, HM_KV_NAMES, &c), 0);
    ck_assert_int_eq(env->ops->kv_cursor_seek(c, NULL, 0), 0);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(env->ops->kv_cursor_get(c, &k, &kl, NULL, NULL), 0);
        ck_assert_uint_eq(kl, sorted_lens[i]);
        ck_assert_int_eq(memcmp(k, sorted[i], kl), 0);
        if (i == 2) /* delete the next key under the cursor */
            ck_assert_int_eq(env->ops->kv_del(t, HM_KV_NAMES, "b", 1), 0);
        int rc = env->ops->kv_cursor_next(c);
        if (i == 2) i++; /* "b" is gone */
        ck_assert_int_eq(rc, i == 5 ? HM_ENOENT : 0);
    }
    ck_assert_int_eq(env->ops->kv_cursor_last(c), 0);
    ck_assert_int_eq(env->ops->kv_cursor_get(c, &k, &kl, NULL, NULL), 0);
    ck_assert_int_eq(memcmp(k, "\xff", 1), 0);
    ck_assert_int_eq(env->ops->kv_cursor_prev(c), 0);
    ck_assert_int_eq(env->ops->kv_cursor_get(c, &k, &kl, NULL, NULL), 0);
    ck_assert_int_eq(memcmp(k, "ba", 2), 0);
    ck_assert_int_eq(env->ops->kv_cursor_seek(c, "aa", 2), 0);
    ck_assert_int_eq(env->ops->kv_cursor_get(c, &k, &kl, NULL, NULL), 0);
    ck_assert_int_eq(memcmp(k, "ab", 2), 0);
    ck_assert_int_eq(env->ops->kv_cursor_seek(c, "\xff\x01", 2), HM_ENOENT);
    env->ops->kv_abort(t);
    /* The cursor outlives its transaction: close after the end is fine. */
    ck_assert_int_eq(env->ops->kv_cursor_next(c), HM_ENOENT);
    env->ops->kv_cursor_close(c);
    env->ops->kv_close(kv);
}
END_TEST

/* One seed gives one stream; another seed a different one. */
START_TEST(test_seeded_random)
{
    sim_world *w2;
    uint8_t a[32], b[32];
    ck_assert_int_eq(sim_world_new(&w2, 42), 0);
    hm_random(env, a, sizeof(a));
    hm_random(sim_world_env(w2), b, sizeof(b));
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    sim_world_free(w2);
    ck_assert_int_eq(sim_world_new(&w2, 43), 0);
    hm_random(sim_world_env(w2), b, sizeof(b));
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
    int64_t t0 = hm_mono_ms(env);
    env->ops->sleep_ms(env, 250);
    ck_assert_int_eq(hm_mono_ms(env) - t0, 250);
    sim_world_free(w2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_env");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unsynced_write_lost);
    tcase_add_test(tc, test_synced_kept);
    tcase_add_test(tc, test_create_needs_sync_dir);
    tcase_add_test(tc, test_rename_durable_after_sync_dir);
    tcase_add_test(tc, test_unlink_durable_after_sync_dir);
    tcase_add_test(tc, test_torn_crash_sectors);
    tcase_add_test(tc, test_torn_crash_reorders_files);
    tcase_add_test(tc, test_torn_crash_directory_subsets);
    tcase_add_test(tc, test_torn_crash_new_directory);
    tcase_add_test(tc, test_torn_crash_size_without_data);
    tcase_add_test(tc, test_freeze_after);
    tcase_add_test(tc, test_crash_kills_handles);
    tcase_add_test(tc, test_fault_countdown);
    tcase_add_test(tc, test_sync_noop_loses);
    tcase_add_test(tc, test_flip_bit);
    tcase_add_test(tc, test_dirs);
    tcase_add_test(tc, test_kv_lazy_vs_durable);
    tcase_add_test(tc, test_kv_snapshot_and_poison);
    tcase_add_test(tc, test_kv_cursor_order);
    tcase_add_test(tc, test_seeded_random);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
