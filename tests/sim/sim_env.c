/* sim_env.c - the simulator's hm_env: virtual clock, seeded rng, in-memory
 * file system and key-value stores that lose unsynced state on a crash.
 *
 * Shaping decision: every piece of state exists twice, as seen now and as
 * durable, and a crash copies durable over seen.  Files keep a list of the
 * unsynced changes made since the last sync so a torn crash can replay a
 * random subset of them; KV stores share immutable, reference-counted
 * tables between the committed state, the durable state and every reader's
 * snapshot, so a snapshot costs one reference per table and a write
 * transaction copies only the tables it touches (an array of entry
 * pointers, not the bytes).  See sim_env.h for the contract.
 */
#include "sim_env.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_limits.h"

#define SIM_PATH_BYTES_MAX 4096u
#define SIM_PATH_DEPTH_MAX 64u
#define SIM_PENDING_MAX 4096u       /* unsynced changes remembered per file */
#define SIM_NSOPS_MAX 65536u        /* unsynced directory changes remembered */
#define SIM_SECTOR_BYTES 512u
#define SIM_DISK_BYTES (64ull << 30) /* what statfs reports as the total */
#define SIM_PREFIX_BYTES 256u

/* ---- rng ------------------------------------------------------------------- */

static uint64_t sim_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sim_rng_seed(sim_rng *rng, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull);
    for (int i = 0; i < 4; i++) rng->s[i] = sim_splitmix64(&x);
}

static uint64_t sim_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** (Blackman and Vigna). */
uint64_t sim_rng_next(sim_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t r = sim_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sim_rotl(s[3], 45);
    return r;
}

/* Rejection sampling: no modulo bias. */
uint64_t sim_rng_below(sim_rng *rng, uint64_t n)
{
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do {
        r = sim_rng_next(rng);
    } while (r >= limit);
    return r % n;
}

bool sim_rng_chance(sim_rng *rng, uint32_t permille)
{
    return sim_rng_below(rng, 1000) < permille;
}

void sim_rng_fill(sim_rng *rng, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t r = sim_rng_next(rng);
        size_t n = len < 8 ? len : 8;
        memcpy(p, &r, n);
        p += n;
        len -= n;
    }
}

/* ---- world types ------------------------------------------------------------ */

typedef struct sim_buf {
    uint8_t *p;
    size_t len, cap;
} sim_buf;

/* One unsynced change to a file's data. */
typedef struct sim_pending {
    bool is_truncate;
    uint64_t off; /* write offset, or the new length of a truncate */
    size_t len;
    uint8_t *data;
} sim_pending;

typedef struct sim_node sim_node;

typedef struct sim_dirent {
    char *name;
    sim_node *node;
} sim_dirent;

/* Directory entries, sorted by name (so listings are deterministic). */
typedef struct sim_dir {
    sim_dirent *e;
    size_t n, cap;
} sim_dir;

struct sim_node {
    bool is_dir;
    sim_buf cur, dur;          /* file data: seen now, survived the last sync */
    sim_pending *pend;         /* unsynced changes since the last sync */
    size_t npend, cap_pend;
    bool pend_overflow;        /* too many to remember: a torn crash keeps none */
    sim_dir ents_cur, ents_dur;
    int handles;               /* live hm_file handles */
    bool mark;
    sim_node *all_next;
};

/* One side of an unsynced directory change: name in dir now binds node
 * (link) or no longer does (unlink).  A rename is two sides of one group;
 * a crash keeps or drops a group whole (rename is atomic on a journaling
 * file system), but a side whose directory was synced since is settled
 * and no longer up to chance. */
typedef struct sim_nsop {
    uint64_t group;
    bool link;
    bool settled;
    sim_node *dir;
    sim_node *node;
    char *name;
} sim_nsop;

typedef struct sim_blob {
    uint32_t refs;
    size_t len;
    uint8_t data[];
} sim_blob;

typedef struct sim_kent {
    sim_blob *k, *v;
} sim_kent;

/* An immutable (once shared) sorted table; a write transaction mutates only
 * tables it owns alone. */
typedef struct sim_table {
    uint32_t refs;
    size_t n, cap;
    sim_kent *e;
} sim_table;

typedef struct sim_kvstore {
    char *dir;      /* the path it was last opened at (traces, fault prefixes) */
    sim_node *node; /* its directory: the store moves with a rename of it */
    sim_table *cur[HM_KV_TABLE_COUNT];
    sim_table *dur[HM_KV_TABLE_COUNT];
    bool writer_active;
    pthread_t writer;
    bool poisoned;
    struct sim_kvstore *next;
} sim_kvstore;

typedef struct sim_fault {
    bool countdown_on;
    uint32_t countdown;
    int countdown_err;
    char countdown_prefix[SIM_PREFIX_BYTES];
    uint32_t permille;
    int prob_err;
    char prob_prefix[SIM_PREFIX_BYTES];
} sim_fault;

/* A disk's state: every path equal to prefix or under it (prefix + '/'). */
typedef struct sim_disk_rule {
    bool used;
    char prefix[SIM_PREFIX_BYTES];
    sim_disk_state st;
} sim_disk_rule;

struct hm_file {
    sim_world *w;
    sim_node *node; /* NULL once killed by a crash */
    uint64_t gen;
    bool writable;
    bool poisoned;
    hm_file *prev, *next; /* open handles */
    char path[];
};

struct hm_kv {
    sim_world *w;
    sim_kvstore *st;
    uint64_t gen;
};

struct hm_kv_txn {
    hm_kv *kv;
    uint64_t gen;
    bool write;
    sim_table *t[HM_KV_TABLE_COUNT];
    bool owned[HM_KV_TABLE_COUNT];
    hm_kv_cursor *cursors;
};

/* A cursor remembers its current key, not an index, and finds its place
 * again on every move: writes in its transaction cannot strand it. */
struct hm_kv_cursor {
    sim_world *w;
    hm_kv_txn *txn; /* NULL once the transaction ended */
    enum hm_kv_table table;
    sim_blob *key;  /* current key (a reference), NULL when not positioned */
    hm_kv_cursor *prev, *next;
};

struct sim_world {
    hm_env env;
    pthread_mutex_t mu;
    pthread_cond_t kv_cond;
    int64_t mono_ns;
    int64_t wall_ms;
    sim_rng rng_env;   /* env random() */
    sim_rng rng_crash; /* torn-crash choices */
    sim_rng rng_fault; /* probabilistic faults */
    uint64_t gen;      /* bumped by every crash */
    bool frozen;
    bool sync_noop;
    uint64_t trace;
    uint64_t fault_fired;
    sim_fault faults[SIM_FAULT_OP_COUNT];
    sim_disk_rule disks[SIM_DISK_RULES_MAX]; /* per-disk states (sim_disk_set) */
    uint64_t disk_refused, disk_stalled;
    sim_node *root;
    sim_node *all;     /* every node */
    hm_file *files;    /* open handles */
    sim_kvstore *stores;
    sim_nsop *ns;       /* unsynced directory changes, in order */
    size_t nns, cap_ns;
    uint64_t ns_group;
    bool ns_overflow;   /* too many to remember: a torn crash keeps none */
    uint64_t mutations; /* disk and KV calls that change state, so far */
    uint64_t freeze_at; /* freeze before mutation number freeze_at (0: off) */
    sim_world_stats stats;
};

/* ---- small helpers ------------------------------------------------------- */

static sim_world *sim_of(hm_env *env) { return env->impl; }

static void sim_lock(sim_world *w) { pthread_mutex_lock(&w->mu); }
static void sim_unlock(sim_world *w) { pthread_mutex_unlock(&w->mu); }

static void sim_hash(sim_world *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = w->trace;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    w->trace = h;
}

static void sim_hash_u64(sim_world *w, uint64_t v) { sim_hash(w, &v, sizeof(v)); }

static void sim_hash_str(sim_world *w, const char *s) { sim_hash(w, s, strlen(s) + 1); }

/* Record one call: its op letter, the path, two numbers and the result. */
static int sim_trace(sim_world *w, char op, const char *path, uint64_t a, uint64_t b,
                     int rc)
{
    sim_hash(w, &op, 1);
    if (path != NULL) sim_hash_str(w, path);
    sim_hash_u64(w, a);
    sim_hash_u64(w, b);
    sim_hash_u64(w, (uint64_t)(int64_t)rc);
    return rc;
}

static int sim_buf_reserve(sim_buf *b, size_t need)
{
    if (need <= b->cap) return 0;
    size_t cap = b->cap < 4096 ? 4096 : b->cap;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) return HM_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int sim_buf_copy(sim_buf *dst, const sim_buf *src)
{
    int rc = sim_buf_reserve(dst, src->len);
    if (rc != 0) return rc;
    if (src->len > 0) memcpy(dst->p, src->p, src->len);
    dst->len = src->len;
    return 0;
}

/* Write len bytes at off, zero-filling a hole. */
static int sim_buf_write(sim_buf *b, uint64_t off, const void *data, size_t len)
{
    if (off > SIZE_MAX - len) return HM_ETOOBIG;
    size_t end = (size_t)off + len;
    int rc = sim_buf_reserve(b, end);
    if (rc != 0) return rc;
    if ((size_t)off > b->len) memset(b->p + b->len, 0, (size_t)off - b->len);
    if (len > 0) memcpy(b->p + off, data, len);
    if (end > b->len) b->len = end;
    return 0;
}

static int sim_buf_truncate(sim_buf *b, uint64_t len)
{
    if (len > SIZE_MAX) return HM_ETOOBIG;
    if ((size_t)len > b->len) {
        int rc = sim_buf_reserve(b, (size_t)len);
        if (rc != 0) return rc;
        memset(b->p + b->len, 0, (size_t)len - b->len);
    }
    b->len = (size_t)len;
    return 0;
}

/* ---- directories ----------------------------------------------------------- */

static void sim_dir_clear(sim_dir *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->e[i].name);
    d->n = 0;
}

static void sim_dir_free(sim_dir *d)
{
    sim_dir_clear(d);
    free(d->e);
    d->e = NULL;
    d->cap = 0;
}

/* Index of name, or of where it would go; *found says which. */
static size_t sim_dir_find(const sim_dir *d, const char *name, bool *found)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->e[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

static sim_node *sim_dir_get(const sim_dir *d, const char *name)
{
    bool found;
    size_t i = sim_dir_find(d, name, &found);
    return found ? d->e[i].node : NULL;
}

/* Insert or replace name -> node. */
static int sim_dir_set(sim_dir *d, const char *name, sim_node *node)
{
    bool found;
    size_t i = sim_dir_find(d, name, &found);
    if (found) {
        d->e[i].node = node;
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap == 0 ? 8 : d->cap * 2;
        sim_dirent *e = realloc(d->e, cap * sizeof(*e));
        if (e == NULL) return HM_ENOMEM;
        d->e = e;
        d->cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL) return HM_ENOMEM;
    memmove(d->e + i + 1, d->e + i, (d->n - i) * sizeof(*d->e));
    d->e[i].name = copy;
    d->e[i].node = node;
    d->n++;
    return 0;
}

static void sim_dir_del(sim_dir *d, const char *name)
{
    bool found;
    size_t i = sim_dir_find(d, name, &found);
    if (!found) return;
    free(d->e[i].name);
    memmove(d->e + i, d->e + i + 1, (d->n - i - 1) * sizeof(*d->e));
    d->n--;
}

static int sim_dir_copy(sim_dir *dst, const sim_dir *src)
{
    sim_dir_clear(dst);
    for (size_t i = 0; i < src->n; i++) {
        int rc = sim_dir_set(dst, src->e[i].name, src->e[i].node);
        if (rc != 0) return rc;
    }
    return 0;
}

/* ---- nodes ------------------------------------------------------------------ */

static sim_node *sim_node_new(sim_world *w, bool is_dir)
{
    sim_node *n = calloc(1, sizeof(*n));
    if (n == NULL) return NULL;
    n->is_dir = is_dir;
    n->all_next = w->all;
    w->all = n;
    return n;
}

static void sim_pending_clear(sim_node *n)
{
    for (size_t i = 0; i < n->npend; i++) free(n->pend[i].data);
    n->npend = 0;
    n->pend_overflow = false;
}

static void sim_node_free(sim_node *n)
{
    free(n->cur.p);
    free(n->dur.p);
    sim_pending_clear(n);
    free(n->pend);
    sim_dir_free(&n->ents_cur);
    sim_dir_free(&n->ents_dur);
    free(n);
}

/* Remember an unsynced change for a torn crash; past SIM_PENDING_MAX the
 * file just forgets them all (a torn crash then keeps none: still a state
 * a real disk may show). */
static void sim_pending_add(sim_node *n, bool is_truncate, uint64_t off,
                            const void *data, size_t len)
{
    if (n->pend_overflow) return;
    if (n->npend == SIM_PENDING_MAX) {
        sim_pending_clear(n);
        n->pend_overflow = true;
        return;
    }
    if (n->npend == n->cap_pend) {
        size_t cap = n->cap_pend == 0 ? 8 : n->cap_pend * 2;
        sim_pending *p = realloc(n->pend, cap * sizeof(*p));
        if (p == NULL) {
            sim_pending_clear(n);
            n->pend_overflow = true;
            return;
        }
        n->pend = p;
        n->cap_pend = cap;
    }
    sim_pending *p = &n->pend[n->npend];
    p->is_truncate = is_truncate;
    p->off = off;
    p->len = len;
    p->data = NULL;
    if (len > 0) {
        p->data = malloc(len);
        if (p->data == NULL) {
            sim_pending_clear(n);
            n->pend_overflow = true;
            return;
        }
        memcpy(p->data, data, len);
    }
    n->npend++;
}

/* ---- unsynced directory changes -------------------------------------------- */

static void sim_ns_forget(sim_world *w)
{
    for (size_t i = 0; i < w->nns; i++) free(w->ns[i].name);
    w->nns = 0;
}

/* Remember one side of a directory change (group: sim_ns_begin's value).
 * Past SIM_NSOPS_MAX the world forgets them all, and a torn crash keeps
 * none of the directory changes made since: still a state a real file
 * system may show. */
static void sim_ns_add(sim_world *w, uint64_t group, bool link, sim_node *dir,
                       const char *name, sim_node *node)
{
    if (w->ns_overflow) return;
    if (w->nns == SIM_NSOPS_MAX) {
        sim_ns_forget(w);
        w->ns_overflow = true;
        return;
    }
    if (w->nns == w->cap_ns) {
        size_t cap = w->cap_ns == 0 ? 64 : w->cap_ns * 2;
        sim_nsop *p = realloc(w->ns, cap * sizeof(*p));
        if (p == NULL) {
            sim_ns_forget(w);
            w->ns_overflow = true;
            return;
        }
        w->ns = p;
        w->cap_ns = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        sim_ns_forget(w);
        w->ns_overflow = true;
        return;
    }
    w->ns[w->nns++] = (sim_nsop){.group = group, .link = link, .dir = dir, .node = node,
                                 .name = copy};
}

static uint64_t sim_ns_begin(sim_world *w) { return ++w->ns_group; }

/* sync_dir(dir): its sides are durable now; forget every settled side. */
static void sim_ns_settle(sim_world *w, const sim_node *dir)
{
    size_t k = 0;
    for (size_t i = 0; i < w->nns; i++) {
        if (w->ns[i].dir == dir) {
            free(w->ns[i].name);
            continue;
        }
        w->ns[k++] = w->ns[i];
    }
    w->nns = k;
}

/* A torn crash: each group of unsynced directory changes reaches the disk
 * with p = 1/2, whole, in any subset ("any subset" is what POSIX allows
 * without fsync of the directory; journaling file systems keep a prefix,
 * which is one of the subsets).  Applied to the durable entries. */
static void sim_ns_crash(sim_world *w)
{
    uint64_t group = 0;
    bool keep = false;
    for (size_t i = 0; i < w->nns; i++) {
        sim_nsop *op = &w->ns[i];
        if (op->group != group) {
            group = op->group;
            keep = sim_rng_chance(&w->rng_crash, 500);
        }
        if (!keep) continue;
        if (op->link) {
            (void)sim_dir_set(&op->dir->ents_dur, op->name, op->node);
        } else if (sim_dir_get(&op->dir->ents_dur, op->name) == op->node) {
            sim_dir_del(&op->dir->ents_dur, op->name);
        }
    }
}

/* Count one call that changes state; at the planned crash point
 * (sim_world_freeze_after) the disk freezes before the call takes effect. */
static int sim_mutation(sim_world *w)
{
    if (w->frozen) return HM_EIO;
    w->mutations++;
    if (w->freeze_at != 0 && w->mutations >= w->freeze_at) {
        w->freeze_at = 0;
        w->frozen = true;
        pthread_cond_broadcast(&w->kv_cond);
        return HM_EIO;
    }
    return 0;
}

/* ---- paths ------------------------------------------------------------------ */

/* A path split into components (in a private copy). */
typedef struct sim_path {
    char buf[SIM_PATH_BYTES_MAX];
    const char *comp[SIM_PATH_DEPTH_MAX];
    size_t n;
} sim_path;

static int sim_path_split(const char *path, sim_path *sp)
{
    size_t len = strlen(path);
    if (len >= sizeof(sp->buf)) return HM_ETOOBIG;
    memcpy(sp->buf, path, len + 1);
    sp->n = 0;
    char *save = NULL;
    for (char *c = strtok_r(sp->buf, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0) continue;
        if (strcmp(c, "..") == 0) return HM_EINVAL; /* never needed; refuse */
        if (sp->n == SIM_PATH_DEPTH_MAX) return HM_ETOOBIG;
        sp->comp[sp->n++] = c;
    }
    return 0;
}

/* Resolve path: *parent gets the directory holding the last component
 * (NULL for the root), *name that component, *node the node or NULL.
 * HM_ENOENT when an intermediate directory is missing. */
static int sim_resolve(sim_world *w, const char *path, sim_path *sp, sim_node **parent,
                       const char **name, sim_node **node)
{
    int rc = sim_path_split(path, sp);
    if (rc != 0) return rc;
    if (sp->n == 0) {
        *parent = NULL;
        *name = "";
        *node = w->root;
        return 0;
    }
    sim_node *d = w->root;
    for (size_t i = 0; i + 1 < sp->n; i++) {
        d = sim_dir_get(&d->ents_cur, sp->comp[i]);
        if (d == NULL) return HM_ENOENT;
        if (!d->is_dir) return HM_ENOENT;
    }
    *parent = d;
    *name = sp->comp[sp->n - 1];
    *node = sim_dir_get(&d->ents_cur, *name);
    return 0;
}

static bool sim_prefix_match(const char *prefix, const char *path)
{
    return prefix[0] == '\0' || strncmp(prefix, path, strlen(prefix)) == 0;
}

/* The error to inject into this call of op on path, or 0. */
static int sim_fault_hit(sim_world *w, enum sim_fault_op op, const char *path)
{
    sim_fault *f = &w->faults[op];
    if (f->countdown_on && sim_prefix_match(f->countdown_prefix, path)) {
        if (--f->countdown == 0) {
            f->countdown_on = false;
            w->fault_fired++;
            return f->countdown_err;
        }
    }
    if (f->permille > 0 && sim_prefix_match(f->prob_prefix, path) &&
        sim_rng_chance(&w->rng_fault, f->permille)) {
        w->fault_fired++;
        return f->prob_err;
    }
    return 0;
}

/* True when path is the disk at prefix or under it ("/d/disk1" is not
 * under "/d/disk"). */
static bool sim_on_disk(const char *prefix, const char *path)
{
    size_t n = strlen(prefix);
    return strncmp(prefix, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void sim_advance_locked(sim_world *w, int64_t ms);

/* PLAIN: any call; GROW: one that needs space; NEW: the space check of a
 * create or mkdir once the name is known to be new (no stall counted
 * again: the call's PLAIN gate already ran). */
enum sim_io { SIM_IO_PLAIN = 0, SIM_IO_GROW, SIM_IO_NEW };

/* The per-disk state's answer to a call on path (under the lock): a stalled
 * disk first lets the virtual clocks run, a dead one fails everything with
 * HM_EIO, a full one fails what needs space with HM_ENOSPC. */
static int sim_disk_gate(sim_world *w, const char *path, enum sim_io io)
{
    for (size_t i = 0; i < SIM_DISK_RULES_MAX; i++) {
        const sim_disk_rule *d = &w->disks[i];
        if (!d->used || !sim_on_disk(d->prefix, path)) continue;
        if (d->st.stall_ms > 0 && io != SIM_IO_NEW) {
            sim_advance_locked(w, d->st.stall_ms);
            w->disk_stalled++;
        }
        if (d->st.dead && io != SIM_IO_NEW) {
            w->disk_refused++;
            return HM_EIO;
        }
        if (d->st.full && io != SIM_IO_PLAIN) {
            w->disk_refused++;
            return HM_ENOSPC;
        }
    }
    return 0;
}

/* ---- clock and rng ------------------------------------------------------- */

static int64_t sim_mono_ns(hm_env *env)
{
    sim_world *w = sim_of(env);
    sim_lock(w);
    int64_t v = w->mono_ns;
    sim_unlock(w);
    return v;
}

static int64_t sim_wall_ms(hm_env *env)
{
    sim_world *w = sim_of(env);
    sim_lock(w);
    int64_t v = w->wall_ms;
    sim_unlock(w);
    return v;
}

static void sim_advance_locked(sim_world *w, int64_t ms)
{
    if (ms <= 0) return;
    w->mono_ns += ms * 1000000;
    w->wall_ms += ms;
}

static void sim_sleep_ms(hm_env *env, int64_t ms)
{
    sim_world *w = sim_of(env);
    sim_lock(w);
    sim_advance_locked(w, ms);
    sim_trace(w, 'z', NULL, (uint64_t)ms, 0, 0);
    sim_unlock(w);
}

static void sim_random(hm_env *env, void *buf, size_t len)
{
    sim_world *w = sim_of(env);
    sim_lock(w);
    sim_rng_fill(&w->rng_env, buf, len);
    sim_trace(w, 'r', NULL, len, 0, 0);
    sim_unlock(w);
}

/* ---- files ------------------------------------------------------------------ */

static int sim_open(hm_env *env, const char *path, int flags, hm_file **out)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    bool writable = (flags & HM_O_RDWR) != 0;
    int rc;

    if (!writable && (flags & HM_O_RDONLY) == 0) return HM_EINVAL;
    size_t plen = strlen(path);
    hm_file *f = malloc(sizeof(*f) + plen + 1);
    if (f == NULL) return HM_ENOMEM;
    memcpy(f->path, path, plen + 1);

    sim_lock(w);
    if (w->frozen) {
        rc = HM_EIO;
        goto out;
    }
    if ((flags & (HM_O_CREAT | HM_O_TRUNC)) != 0 && (rc = sim_mutation(w)) != 0) goto out;
    rc = sim_disk_gate(w, path, SIM_IO_PLAIN);
    if (rc != 0) goto out;
    rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc != 0) goto out;
    if (node == NULL) {
        if ((flags & HM_O_CREAT) == 0 || parent == NULL) {
            rc = HM_ENOENT;
            goto out;
        }
        if ((rc = sim_disk_gate(w, path, SIM_IO_NEW)) != 0) goto out;
        node = sim_node_new(w, false);
        if (node == NULL) {
            rc = HM_ENOMEM;
            goto out;
        }
        rc = sim_dir_set(&parent->ents_cur, name, node);
        if (rc != 0) goto out;
        sim_ns_add(w, sim_ns_begin(w), true, parent, name, node);
    } else {
        if ((flags & HM_O_CREAT) != 0 && (flags & HM_O_EXCL) != 0) {
            rc = HM_EEXIST;
            goto out;
        }
        if (node->is_dir) {
            rc = HM_EINVAL;
            goto out;
        }
        if ((flags & HM_O_TRUNC) != 0 && writable && node->cur.len > 0) {
            sim_buf_truncate(&node->cur, 0);
            sim_pending_add(node, true, 0, NULL, 0);
        }
    }
    f->w = w;
    f->node = node;
    f->gen = w->gen;
    f->writable = writable;
    f->poisoned = false;
    f->prev = NULL;
    f->next = w->files;
    if (w->files != NULL) w->files->prev = f;
    w->files = f;
    node->handles++;
    *out = f;
out:
    sim_trace(w, 'o', path, (uint64_t)flags, 0, rc);
    sim_unlock(w);
    if (rc != 0) free(f);
    return rc;
}

/* Common entry check of a handle call: dead handles and a frozen disk get
 * HM_EIO, poisoned ones HM_EPOISONED. */
static int sim_file_check(hm_file *f)
{
    if (f->node == NULL || f->w->frozen || f->gen != f->w->gen) return HM_EIO;
    if (f->poisoned) return HM_EPOISONED;
    return 0;
}

static int sim_pread(hm_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    sim_world *w = f->w;
    sim_lock(w);
    int rc = sim_file_check(f);
    if (rc == 0) rc = sim_disk_gate(w, f->path, SIM_IO_PLAIN);
    if (rc == 0) {
        const sim_buf *b = &f->node->cur;
        size_t n = 0;
        if (off < b->len) {
            n = b->len - (size_t)off;
            if (n > len) n = len;
            memcpy(buf, b->p + off, n);
        }
        *got = n;
    }
    sim_trace(w, 'R', f->path, off, len, rc);
    sim_unlock(w);
    return rc;
}

static int sim_pwrite(hm_file *f, const void *buf, size_t len, uint64_t off)
{
    sim_world *w = f->w;
    sim_lock(w);
    int rc = sim_file_check(f);
    if (rc == 0 && !f->writable) rc = HM_EPERM;
    if (rc == 0) rc = sim_mutation(w);
    if (rc == 0) rc = sim_disk_gate(w, f->path, SIM_IO_GROW);
    if (rc == 0) rc = sim_fault_hit(w, SIM_FAULT_WRITE, f->path);
    if (rc == 0) rc = sim_buf_write(&f->node->cur, off, buf, len);
    if (rc == 0) {
        sim_pending_add(f->node, false, off, buf, len);
        w->stats.writes++;
        w->stats.bytes_written += len;
    }
    sim_trace(w, 'W', f->path, off, len, rc);
    sim_unlock(w);
    return rc;
}

static int sim_sync(hm_file *f)
{
    sim_world *w = f->w;
    sim_lock(w);
    int rc = sim_file_check(f);
    if (rc == 0) rc = sim_mutation(w);
    if (rc == 0) {
        rc = sim_disk_gate(w, f->path, SIM_IO_PLAIN);
        if (rc == 0) rc = sim_fault_hit(w, SIM_FAULT_SYNC, f->path);
        /* A failed fdatasync is final (see posix.c): poison the handle.
         * The unsynced bytes stay visible but never became durable. */
        if (rc != 0) f->poisoned = true;
    }
    if (rc == 0) {
        w->stats.syncs++;
        if (!w->sync_noop) {
            rc = sim_buf_copy(&f->node->dur, &f->node->cur);
            if (rc == 0) sim_pending_clear(f->node);
        }
    }
    sim_trace(w, 'S', f->path, 0, 0, rc);
    sim_unlock(w);
    return rc;
}

static int sim_size(hm_file *f, uint64_t *out)
{
    sim_world *w = f->w;
    sim_lock(w);
    int rc = sim_file_check(f);
    if (rc == 0) rc = sim_disk_gate(w, f->path, SIM_IO_PLAIN);
    if (rc == 0) *out = f->node->cur.len;
    sim_unlock(w);
    return rc;
}

static int sim_truncate(hm_file *f, uint64_t len)
{
    sim_world *w = f->w;
    sim_lock(w);
    int rc = sim_file_check(f);
    if (rc == 0 && !f->writable) rc = HM_EPERM;
    if (rc == 0) rc = sim_mutation(w);
    if (rc == 0) rc = sim_disk_gate(w, f->path, len > f->node->cur.len ? SIM_IO_GROW : SIM_IO_PLAIN);
    if (rc == 0) rc = sim_fault_hit(w, SIM_FAULT_WRITE, f->path);
    if (rc == 0) rc = sim_buf_truncate(&f->node->cur, len);
    if (rc == 0) sim_pending_add(f->node, true, len, NULL, 0);
    sim_trace(w, 'T', f->path, len, 0, rc);
    sim_unlock(w);
    return rc;
}

static int sim_fd(hm_file *f)
{
    (void)f;
    return -1;
}

static void sim_close(hm_file *f)
{
    if (f == NULL) return;
    sim_world *w = f->w;
    sim_lock(w);
    if (f->node != NULL) f->node->handles--;
    if (f->prev != NULL) f->prev->next = f->next;
    else w->files = f->next;
    if (f->next != NULL) f->next->prev = f->prev;
    sim_unlock(w);
    free(f);
}

static int sim_rename(hm_env *env, const char *from, const char *to)
{
    sim_world *w = sim_of(env);
    sim_path spa, spb;
    sim_node *pa, *pb, *na, *nb;
    const char *a, *b;
    sim_lock(w);
    int rc = sim_mutation(w);
    if (rc == 0) rc = sim_disk_gate(w, from, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_disk_gate(w, to, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, from, &spa, &pa, &a, &na);
    if (rc == 0 && (na == NULL || pa == NULL)) rc = HM_ENOENT;
    if (rc == 0) rc = sim_resolve(w, to, &spb, &pb, &b, &nb);
    if (rc == 0 && pb == NULL) rc = HM_EINVAL;
    if (rc == 0 && nb != NULL && nb != na) {
        if (na->is_dir != nb->is_dir) rc = HM_EINVAL;
        else if (nb->is_dir && nb->ents_cur.n > 0) rc = HM_ENOTEMPTY;
    }
    /* Moving a directory into itself would orphan it (only the direct
     * parent is checked: no caller nests deeper). */
    if (rc == 0 && na->is_dir && pb == na) rc = HM_EINVAL;
    if (rc == 0 && nb != na) {
        rc = sim_dir_set(&pb->ents_cur, b, na);
        if (rc == 0) {
            sim_dir_del(&pa->ents_cur, a);
            uint64_t g = sim_ns_begin(w);
            sim_ns_add(w, g, false, pa, a, na);
            sim_ns_add(w, g, true, pb, b, na);
        }
    }
    sim_trace(w, 'N', from, 0, 0, rc);
    sim_trace(w, 'n', to, 0, 0, rc);
    sim_unlock(w);
    return rc;
}

static int sim_unlink(hm_env *env, const char *path)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    sim_lock(w);
    int rc = sim_mutation(w);
    if (rc == 0) rc = sim_disk_gate(w, path, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc == 0 && (node == NULL || parent == NULL)) rc = HM_ENOENT;
    if (rc == 0 && node->is_dir) rc = HM_EINVAL;
    if (rc == 0) {
        sim_ns_add(w, sim_ns_begin(w), false, parent, name, node);
        sim_dir_del(&parent->ents_cur, name);
    }
    sim_trace(w, 'U', path, 0, 0, rc);
    sim_unlock(w);
    return rc;
}

static int sim_mkdir(hm_env *env, const char *path)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    sim_lock(w);
    int rc = sim_mutation(w);
    if (rc == 0) rc = sim_disk_gate(w, path, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc == 0 && parent == NULL) rc = HM_EEXIST; /* the root */
    if (rc == 0 && node != NULL) rc = HM_EEXIST;
    if (rc == 0) rc = sim_disk_gate(w, path, SIM_IO_NEW);
    if (rc == 0) {
        node = sim_node_new(w, true);
        rc = node == NULL ? HM_ENOMEM : sim_dir_set(&parent->ents_cur, name, node);
        if (rc == 0) sim_ns_add(w, sim_ns_begin(w), true, parent, name, node);
    }
    sim_trace(w, 'M', path, 0, 0, rc);
    sim_unlock(w);
    return rc;
}

static int sim_rmdir(hm_env *env, const char *path)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    sim_lock(w);
    int rc = sim_mutation(w);
    if (rc == 0) rc = sim_disk_gate(w, path, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc == 0 && (node == NULL || parent == NULL)) rc = HM_ENOENT;
    if (rc == 0 && !node->is_dir) rc = HM_EINVAL;
    if (rc == 0 && node->ents_cur.n > 0) rc = HM_ENOTEMPTY;
    if (rc == 0) {
        sim_ns_add(w, sim_ns_begin(w), false, parent, name, node);
        sim_dir_del(&parent->ents_cur, name);
    }
    sim_trace(w, 'D', path, 0, 0, rc);
    sim_unlock(w);
    return rc;
}

static int sim_sync_dir(hm_env *env, const char *path)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    sim_lock(w);
    int rc = sim_mutation(w);
    if (rc == 0) rc = sim_disk_gate(w, path, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc == 0 && node == NULL) rc = HM_ENOENT;
    if (rc == 0 && !node->is_dir) rc = HM_EINVAL;
    if (rc == 0) rc = sim_fault_hit(w, SIM_FAULT_SYNC_DIR, path);
    if (rc == 0) {
        w->stats.dir_syncs++;
        if (!w->sync_noop) {
            rc = sim_dir_copy(&node->ents_dur, &node->ents_cur);
            if (rc == 0) sim_ns_settle(w, node);
        }
    }
    sim_trace(w, 'Y', path, 0, 0, rc);
    sim_unlock(w);
    return rc;
}

/* Entries are copied before the callbacks run so fn may call back into the
 * env (the lock is not held across fn). */
static int sim_list_dir(hm_env *env, const char *path, hm_dir_fn fn, void *arg)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    char **names = NULL;
    bool *dirs = NULL;
    size_t n = 0;
    sim_lock(w);
    int rc = w->frozen ? HM_EIO : 0;
    if (rc == 0) rc = sim_disk_gate(w, path, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc == 0 && node == NULL) rc = HM_ENOENT;
    if (rc == 0 && !node->is_dir) rc = HM_EINVAL;
    if (rc == 0 && node->ents_cur.n > 0) {
        names = calloc(node->ents_cur.n, sizeof(*names));
        dirs = calloc(node->ents_cur.n, sizeof(*dirs));
        if (names == NULL || dirs == NULL) rc = HM_ENOMEM;
        for (size_t i = 0; rc == 0 && i < node->ents_cur.n; i++) {
            names[i] = strdup(node->ents_cur.e[i].name);
            if (names[i] == NULL) rc = HM_ENOMEM;
            dirs[i] = node->ents_cur.e[i].node->is_dir;
            n = i + 1;
        }
    }
    sim_trace(w, 'L', path, n, 0, rc);
    sim_unlock(w);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = fn(arg, names[i], dirs[i]);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(dirs);
    return rc;
}

static int sim_exists(hm_env *env, const char *path, bool *is_dir)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    sim_lock(w);
    int rc = w->frozen ? HM_EIO : 0;
    if (rc == 0) rc = sim_disk_gate(w, path, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc == 0 && node == NULL) rc = HM_ENOENT;
    if (rc == 0 && is_dir != NULL) *is_dir = node->is_dir;
    sim_trace(w, 'E', path, 0, 0, rc);
    sim_unlock(w);
    return rc;
}

static int sim_statfs(hm_env *env, const char *path, uint64_t *bytes_total,
                      uint64_t *bytes_free)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    sim_lock(w);
    int rc = w->frozen ? HM_EIO : 0;
    if (rc == 0) rc = sim_disk_gate(w, path, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc == 0 && node == NULL) rc = HM_ENOENT;
    if (rc == 0) {
        uint64_t used = 0;
        for (sim_node *n = w->all; n != NULL; n = n->all_next) used += n->cur.len;
        *bytes_total = SIM_DISK_BYTES;
        *bytes_free = used < SIM_DISK_BYTES ? SIM_DISK_BYTES - used : 0;
        for (size_t i = 0; i < SIM_DISK_RULES_MAX; i++)
            if (w->disks[i].used && w->disks[i].st.full && sim_on_disk(w->disks[i].prefix, path))
                *bytes_free = 0;
    }
    sim_unlock(w);
    return rc;
}

/* ---- key-value stores ------------------------------------------------------ */

static sim_blob *sim_blob_new(const void *p, size_t len)
{
    sim_blob *b = malloc(sizeof(*b) + len);
    if (b == NULL) return NULL;
    b->refs = 1;
    b->len = len;
    if (len > 0) memcpy(b->data, p, len);
    return b;
}

static void sim_blob_unref(sim_blob *b)
{
    if (b != NULL && --b->refs == 0) free(b);
}

static sim_table *sim_table_new(void)
{
    sim_table *t = calloc(1, sizeof(*t));
    if (t != NULL) t->refs = 1;
    return t;
}

static sim_table *sim_table_ref(sim_table *t)
{
    t->refs++;
    return t;
}

static void sim_table_unref(sim_table *t)
{
    if (t == NULL || --t->refs > 0) return;
    for (size_t i = 0; i < t->n; i++) {
        sim_blob_unref(t->e[i].k);
        sim_blob_unref(t->e[i].v);
    }
    free(t->e);
    free(t);
}

/* A private copy sharing the entries' blobs. */
static sim_table *sim_table_clone(const sim_table *src)
{
    sim_table *t = sim_table_new();
    if (t == NULL) return NULL;
    if (src->n > 0) {
        t->e = malloc(src->n * sizeof(*t->e));
        if (t->e == NULL) {
            free(t);
            return NULL;
        }
        t->cap = t->n = src->n;
        for (size_t i = 0; i < src->n; i++) {
            t->e[i] = src->e[i];
            t->e[i].k->refs++;
            t->e[i].v->refs++;
        }
    }
    return t;
}

static int sim_key_cmp(const sim_blob *a, const void *key, size_t len)
{
    size_t n = a->len < len ? a->len : len;
    int c = n > 0 ? memcmp(a->data, key, n) : 0;
    if (c != 0) return c;
    return a->len < len ? -1 : a->len > len ? 1 : 0;
}

/* First index whose key >= key. */
static size_t sim_table_lower(const sim_table *t, const void *key, size_t len, bool *exact)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sim_key_cmp(t->e[mid].k, key, len) < 0) lo = mid + 1;
        else hi = mid;
    }
    *exact = lo < t->n && sim_key_cmp(t->e[lo].k, key, len) == 0;
    return lo;
}

static sim_kvstore *sim_store_find(sim_world *w, const sim_node *node)
{
    for (sim_kvstore *s = w->stores; s != NULL; s = s->next)
        if (s->node == node) return s;
    return NULL;
}

static void sim_store_free(sim_kvstore *s)
{
    for (int t = 0; t < HM_KV_TABLE_COUNT; t++) {
        sim_table_unref(s->cur[t]);
        sim_table_unref(s->dur[t]);
    }
    free(s->dir);
    free(s);
}

/* The store's directory is created (and made durable at once: the LMDB
 * files a real store keeps there are not modelled) when absent.  The
 * store itself lives in the world with that directory, across handles and
 * crashes, and follows it through a rename (as LMDB's files would). */
static int sim_kv_open(hm_env *env, const char *dir, hm_kv **out)
{
    sim_world *w = sim_of(env);
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    hm_kv *kv = calloc(1, sizeof(*kv));
    if (kv == NULL) return HM_ENOMEM;
    sim_lock(w);
    int rc = w->frozen ? HM_EIO : 0;
    if (rc == 0) rc = sim_disk_gate(w, dir, SIM_IO_PLAIN);
    if (rc == 0) rc = sim_resolve(w, dir, &sp, &parent, &name, &node);
    if (rc == 0 && node == NULL) {
        if (parent == NULL) rc = HM_ENOENT;
        else if ((node = sim_node_new(w, true)) == NULL) rc = HM_ENOMEM;
        else rc = sim_dir_set(&parent->ents_cur, name, node);
        if (rc == 0) rc = sim_dir_set(&parent->ents_dur, name, node);
    }
    if (rc == 0 && !node->is_dir) rc = HM_EINVAL;
    sim_kvstore *s = NULL;
    if (rc == 0) {
        /* The store belongs to the directory, not to its name: a store
         * built in one directory and renamed into place is found at its
         * new name, and one whose directory entry a crash took is gone. */
        s = sim_store_find(w, node);
        if (s != NULL && strcmp(s->dir, dir) != 0) {
            char *d = strdup(dir);
            if (d == NULL) {
                rc = HM_ENOMEM;
            } else {
                free(s->dir);
                s->dir = d;
            }
        } else if (s == NULL) {
            s = calloc(1, sizeof(*s));
            if (s == NULL || (s->dir = strdup(dir)) == NULL) rc = HM_ENOMEM;
            else s->node = node;
            for (int t = 0; rc == 0 && t < HM_KV_TABLE_COUNT; t++) {
                s->cur[t] = sim_table_new();
                if (s->cur[t] == NULL) rc = HM_ENOMEM;
                else s->dur[t] = sim_table_ref(s->cur[t]);
            }
            if (rc == 0) {
                s->next = w->stores;
                w->stores = s;
            } else if (s != NULL) {
                sim_store_free(s);
            }
        }
    }
    if (rc == 0) {
        kv->w = w;
        kv->st = s;
        kv->gen = w->gen;
        *out = kv;
    }
    sim_trace(w, 'K', dir, 0, 0, rc);
    sim_unlock(w);
    if (rc != 0) free(kv);
    return rc;
}

static void sim_kv_close(hm_kv *kv)
{
    free(kv);
}

static bool sim_kv_live(const hm_kv *kv) { return kv->gen == kv->w->gen && !kv->w->frozen; }

static int sim_kv_begin(hm_kv *kv, bool write, hm_kv_txn **out)
{
    sim_world *w = kv->w;
    hm_kv_txn *t = calloc(1, sizeof(*t));
    if (t == NULL) return HM_ENOMEM;
    sim_lock(w);
    int rc = sim_kv_live(kv) ? 0 : HM_EIO;
    if (rc == 0 && kv->st->poisoned) rc = HM_EPOISONED;
    if (rc == 0 && write) {
        /* One writer at a time, as LMDB: a second one waits.  The same
         * thread beginning a second write transaction would wait forever;
         * that is a caller bug, so stop loudly. */
        while (kv->st->writer_active && sim_kv_live(kv)) {
            if (pthread_equal(kv->st->writer, pthread_self())) {
                fprintf(stderr, "sim_env: nested write transaction on %s\n", kv->st->dir);
                abort();
            }
            pthread_cond_wait(&w->kv_cond, &w->mu);
        }
        if (!sim_kv_live(kv)) rc = HM_EIO;
        else if (kv->st->poisoned) rc = HM_EPOISONED;
        else {
            kv->st->writer_active = true;
            kv->st->writer = pthread_self();
        }
    }
    if (rc == 0) {
        t->kv = kv;
        t->gen = w->gen;
        t->write = write;
        for (int i = 0; i < HM_KV_TABLE_COUNT; i++) t->t[i] = sim_table_ref(kv->st->cur[i]);
        *out = t;
    }
    sim_trace(w, 'B', NULL, write, 0, rc);
    sim_unlock(w);
    if (rc != 0) free(t);
    return rc;
}

static bool sim_txn_live(const hm_kv_txn *t) { return t->gen == t->kv->w->gen && !t->kv->w->frozen; }

static bool sim_kv_args_ok(enum hm_kv_table tab, size_t key_len)
{
    return (int)tab >= 0 && tab < HM_KV_TABLE_COUNT && key_len > 0 &&
           key_len <= HM_KV_KEY_BYTES_MAX;
}

static int sim_kv_get(hm_kv_txn *txn, enum hm_kv_table tab, const void *key,
                      size_t key_len, const void **val, size_t *val_len)
{
    sim_world *w = txn->kv->w;
    if (!sim_kv_args_ok(tab, key_len)) return HM_EINVAL;
    sim_lock(w);
    int rc = sim_txn_live(txn) ? 0 : HM_EIO;
    if (rc == 0) {
        bool exact;
        sim_table *t = txn->t[tab];
        size_t i = sim_table_lower(t, key, key_len, &exact);
        if (!exact) rc = HM_ENOENT;
        else {
            *val = t->e[i].v->data;
            *val_len = t->e[i].v->len;
        }
    }
    sim_unlock(w);
    return rc;
}

/* Make table tab private to the write transaction before changing it. */
static int sim_txn_own(hm_kv_txn *txn, enum hm_kv_table tab)
{
    if (txn->owned[tab]) return 0;
    sim_table *c = sim_table_clone(txn->t[tab]);
    if (c == NULL) return HM_ENOMEM;
    sim_table_unref(txn->t[tab]);
    txn->t[tab] = c;
    txn->owned[tab] = true;
    return 0;
}

static int sim_kv_put(hm_kv_txn *txn, enum hm_kv_table tab, const void *key,
                      size_t key_len, const void *val, size_t val_len)
{
    sim_world *w = txn->kv->w;
    if (!txn->write || !sim_kv_args_ok(tab, key_len)) return HM_EINVAL;
    sim_lock(w);
    int rc = sim_txn_live(txn) ? 0 : HM_EIO;
    if (rc == 0) rc = sim_txn_own(txn, tab);
    sim_blob *v = NULL, *k = NULL;
    if (rc == 0 && (v = sim_blob_new(val, val_len)) == NULL) rc = HM_ENOMEM;
    if (rc == 0) {
        sim_table *t = txn->t[tab];
        bool exact;
        size_t i = sim_table_lower(t, key, key_len, &exact);
        if (exact) {
            sim_blob_unref(t->e[i].v);
            t->e[i].v = v;
        } else {
            if (t->n == t->cap) {
                size_t cap = t->cap == 0 ? 16 : t->cap * 2;
                sim_kent *e = realloc(t->e, cap * sizeof(*e));
                if (e == NULL) rc = HM_ENOMEM;
                else {
                    t->e = e;
                    t->cap = cap;
                }
            }
            if (rc == 0 && (k = sim_blob_new(key, key_len)) == NULL) rc = HM_ENOMEM;
            if (rc == 0) {
                memmove(t->e + i + 1, t->e + i, (t->n - i) * sizeof(*t->e));
                t->e[i].k = k;
                t->e[i].v = v;
                t->n++;
            } else {
                sim_blob_unref(v);
            }
        }
    }
    sim_trace(w, 'P', NULL, tab, key_len + val_len, rc);
    if (rc == 0) sim_hash(w, key, key_len);
    sim_unlock(w);
    return rc;
}

static int sim_kv_del(hm_kv_txn *txn, enum hm_kv_table tab, const void *key,
                      size_t key_len)
{
    sim_world *w = txn->kv->w;
    if (!txn->write || !sim_kv_args_ok(tab, key_len)) return HM_EINVAL;
    sim_lock(w);
    int rc = sim_txn_live(txn) ? 0 : HM_EIO;
    bool exact = false;
    size_t i = 0;
    if (rc == 0) {
        i = sim_table_lower(txn->t[tab], key, key_len, &exact);
        if (!exact) rc = HM_ENOENT;
    }
    if (rc == 0) rc = sim_txn_own(txn, tab);
    if (rc == 0) {
        sim_table *t = txn->t[tab];
        sim_blob_unref(t->e[i].k);
        sim_blob_unref(t->e[i].v);
        memmove(t->e + i, t->e + i + 1, (t->n - i - 1) * sizeof(*t->e));
        t->n--;
    }
    sim_trace(w, 'X', NULL, tab, key_len, rc);
    sim_unlock(w);
    return rc;
}

/* End txn under the lock: detach cursors, drop table references, release
 * the writer slot (only if the transaction is of the current generation:
 * a crash already released it). */
static void sim_txn_end_locked(hm_kv_txn *txn)
{
    sim_world *w = txn->kv->w;
    for (hm_kv_cursor *c = txn->cursors; c != NULL; c = c->next) c->txn = NULL;
    txn->cursors = NULL;
    for (int i = 0; i < HM_KV_TABLE_COUNT; i++) sim_table_unref(txn->t[i]);
    if (txn->write && txn->gen == w->gen) {
        txn->kv->st->writer_active = false;
        pthread_cond_broadcast(&w->kv_cond);
    }
}

static int sim_kv_commit(hm_kv_txn *txn, bool durable)
{
    sim_world *w = txn->kv->w;
    sim_kvstore *s = txn->kv->st;
    sim_lock(w);
    int rc = sim_txn_live(txn) ? 0 : HM_EIO;
    if (rc == 0 && s->poisoned) rc = HM_EPOISONED;
    if (rc == 0 && txn->write) rc = sim_mutation(w);
    if (rc == 0 && txn->write) {
        rc = sim_fault_hit(w, SIM_FAULT_KV_COMMIT, s->dir);
        if (rc != 0) s->poisoned = true;
    }
    if (rc == 0 && txn->write) {
        for (int i = 0; i < HM_KV_TABLE_COUNT; i++) {
            if (!txn->owned[i]) continue;
            sim_table_unref(s->cur[i]);
            s->cur[i] = sim_table_ref(txn->t[i]);
        }
        if (durable) w->stats.kv_commits_durable++;
        else w->stats.kv_commits_lazy++;
        if (durable && !w->sync_noop) {
            for (int i = 0; i < HM_KV_TABLE_COUNT; i++) {
                sim_table_unref(s->dur[i]);
                s->dur[i] = sim_table_ref(s->cur[i]);
            }
        }
    }
    sim_trace(w, 'C', s->dir, txn->write, durable, rc);
    sim_txn_end_locked(txn);
    sim_unlock(w);
    free(txn);
    return rc;
}

static void sim_kv_abort(hm_kv_txn *txn)
{
    if (txn == NULL) return;
    sim_world *w = txn->kv->w;
    sim_lock(w);
    sim_txn_end_locked(txn);
    sim_unlock(w);
    free(txn);
}

static int sim_kv_cursor_open(hm_kv_txn *txn, enum hm_kv_table tab, hm_kv_cursor **out)
{
    if ((int)tab < 0 || tab >= HM_KV_TABLE_COUNT) return HM_EINVAL;
    sim_world *w = txn->kv->w;
    hm_kv_cursor *c = calloc(1, sizeof(*c));
    if (c == NULL) return HM_ENOMEM;
    sim_lock(w);
    c->w = w;
    c->txn = txn;
    c->table = tab;
    c->next = txn->cursors;
    if (txn->cursors != NULL) txn->cursors->prev = c;
    txn->cursors = c;
    sim_unlock(w);
    *out = c;
    return 0;
}

/* Position c at index i of its table (or unposition it when i is out of
 * range: HM_ENOENT). */
static int sim_cursor_at(hm_kv_cursor *c, size_t i)
{
    sim_table *t = c->txn->t[c->table];
    sim_blob_unref(c->key);
    c->key = NULL;
    if (i >= t->n) return HM_ENOENT;
    c->key = t->e[i].k;
    c->key->refs++;
    return 0;
}

/* Shared front of the cursor calls: the lock is taken; HM_EINVAL once the
 * transaction ended, HM_EIO after a crash. */
static int sim_cursor_enter(hm_kv_cursor *c, sim_world **wp)
{
    if (c->txn == NULL) return HM_EINVAL;
    *wp = c->txn->kv->w;
    sim_lock(*wp);
    if (!sim_txn_live(c->txn)) {
        sim_unlock(*wp);
        return HM_EIO;
    }
    return 0;
}

static int sim_kv_cursor_seek(hm_kv_cursor *c, const void *key, size_t key_len)
{
    sim_world *w;
    if (key_len > HM_KV_KEY_BYTES_MAX) return HM_EINVAL;
    int rc = sim_cursor_enter(c, &w);
    if (rc != 0) return rc;
    bool exact;
    size_t i = key_len == 0 ? 0 : sim_table_lower(c->txn->t[c->table], key, key_len, &exact);
    rc = sim_cursor_at(c, i);
    sim_unlock(w);
    return rc;
}

static int sim_kv_cursor_next(hm_kv_cursor *c)
{
    sim_world *w;
    if (c->key == NULL) return HM_ENOENT;
    int rc = sim_cursor_enter(c, &w);
    if (rc != 0) return rc;
    bool exact;
    size_t i = sim_table_lower(c->txn->t[c->table], c->key->data, c->key->len, &exact);
    rc = sim_cursor_at(c, exact ? i + 1 : i);
    sim_unlock(w);
    return rc;
}

static int sim_kv_cursor_prev(hm_kv_cursor *c)
{
    sim_world *w;
    if (c->key == NULL) return HM_ENOENT;
    int rc = sim_cursor_enter(c, &w);
    if (rc != 0) return rc;
    bool exact;
    size_t i = sim_table_lower(c->txn->t[c->table], c->key->data, c->key->len, &exact);
    rc = i == 0 ? sim_cursor_at(c, SIZE_MAX) : sim_cursor_at(c, i - 1);
    sim_unlock(w);
    return rc;
}

static int sim_kv_cursor_last(hm_kv_cursor *c)
{
    sim_world *w;
    int rc = sim_cursor_enter(c, &w);
    if (rc != 0) return rc;
    size_t n = c->txn->t[c->table]->n;
    rc = sim_cursor_at(c, n == 0 ? SIZE_MAX : n - 1);
    sim_unlock(w);
    return rc;
}

static int sim_kv_cursor_get(hm_kv_cursor *c, const void **key, size_t *key_len,
                             const void **val, size_t *val_len)
{
    sim_world *w;
    if (c->key == NULL) return HM_ENOENT;
    int rc = sim_cursor_enter(c, &w);
    if (rc != 0) return rc;
    bool exact;
    sim_table *t = c->txn->t[c->table];
    size_t i = sim_table_lower(t, c->key->data, c->key->len, &exact);
    if (!exact) {
        rc = HM_ENOENT; /* deleted under the cursor */
    } else {
        if (key != NULL) *key = t->e[i].k->data;
        if (key_len != NULL) *key_len = t->e[i].k->len;
        if (val != NULL) *val = t->e[i].v->data;
        if (val_len != NULL) *val_len = t->e[i].v->len;
    }
    sim_unlock(w);
    return rc;
}

static void sim_kv_cursor_close(hm_kv_cursor *c)
{
    if (c == NULL) return;
    sim_world *w = c->w;
    sim_lock(w);
    if (c->txn != NULL) {
        if (c->prev != NULL) c->prev->next = c->next;
        else c->txn->cursors = c->next;
        if (c->next != NULL) c->next->prev = c->prev;
    }
    sim_blob_unref(c->key);
    sim_unlock(w);
    free(c);
}

static const struct hm_env_ops sim_ops = {
    .version = HM_ENV_VERSION,
    .mono_ns = sim_mono_ns,
    .wall_ms = sim_wall_ms,
    .sleep_ms = sim_sleep_ms,
    .random = sim_random,
    .open = sim_open,
    .pread = sim_pread,
    .pwrite = sim_pwrite,
    .sync = sim_sync,
    .size = sim_size,
    .truncate = sim_truncate,
    .fd = sim_fd,
    .close = sim_close,
    .rename = sim_rename,
    .unlink = sim_unlink,
    .mkdir = sim_mkdir,
    .rmdir = sim_rmdir,
    .sync_dir = sim_sync_dir,
    .list_dir = sim_list_dir,
    .exists = sim_exists,
    .statfs = sim_statfs,
    .kv_open = sim_kv_open,
    .kv_close = sim_kv_close,
    .kv_begin = sim_kv_begin,
    .kv_get = sim_kv_get,
    .kv_put = sim_kv_put,
    .kv_del = sim_kv_del,
    .kv_commit = sim_kv_commit,
    .kv_abort = sim_kv_abort,
    .kv_cursor_open = sim_kv_cursor_open,
    .kv_cursor_seek = sim_kv_cursor_seek,
    .kv_cursor_next = sim_kv_cursor_next,
    .kv_cursor_prev = sim_kv_cursor_prev,
    .kv_cursor_last = sim_kv_cursor_last,
    .kv_cursor_get = sim_kv_cursor_get,
    .kv_cursor_close = sim_kv_cursor_close,
};

/* ---- world ------------------------------------------------------------------ */

int sim_world_new(sim_world **out, uint64_t seed)
{
    sim_world *w = calloc(1, sizeof(*w));
    if (w == NULL) return HM_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->kv_cond, NULL);
    w->env.ops = &sim_ops;
    w->env.impl = w;
    w->mono_ns = 1000ll * 1000000000ll;
    w->wall_ms = 1704067200000ll + (int64_t)(seed % 86400000ull);
    sim_rng_seed(&w->rng_env, seed, 1);
    sim_rng_seed(&w->rng_crash, seed, 2);
    sim_rng_seed(&w->rng_fault, seed, 3);
    w->trace = 0xcbf29ce484222325ull;
    w->root = sim_node_new(w, true);
    if (w->root == NULL) {
        free(w);
        return HM_ENOMEM;
    }
    *out = w;
    return 0;
}

void sim_world_free(sim_world *w)
{
    if (w == NULL) return;
    for (hm_file *f = w->files; f != NULL;) {
        hm_file *next = f->next;
        free(f);
        f = next;
    }
    for (sim_node *n = w->all; n != NULL;) {
        sim_node *next = n->all_next;
        sim_node_free(n);
        n = next;
    }
    for (sim_kvstore *s = w->stores; s != NULL;) {
        sim_kvstore *next = s->next;
        sim_store_free(s);
        s = next;
    }
    sim_ns_forget(w);
    free(w->ns);
    pthread_cond_destroy(&w->kv_cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

hm_env *sim_world_env(sim_world *w) { return &w->env; }

void sim_world_advance_ms(sim_world *w, int64_t ms)
{
    sim_lock(w);
    sim_advance_locked(w, ms);
    sim_unlock(w);
}

int64_t sim_world_now_ms(sim_world *w)
{
    sim_lock(w);
    int64_t v = w->mono_ns / 1000000;
    sim_unlock(w);
    return v;
}

uint64_t sim_world_trace_hash(const sim_world *w) { return w->trace; }

void sim_world_freeze(sim_world *w)
{
    sim_lock(w);
    w->frozen = true;
    pthread_cond_broadcast(&w->kv_cond); /* waiting writers give up */
    sim_unlock(w);
}

/* Mark everything reachable from the root (by durable or current names)
 * and every node a live handle holds; free the rest. */
static void sim_mark(sim_node *n, unsigned depth)
{
    if (n->mark || depth > SIM_PATH_DEPTH_MAX + 1) return;
    n->mark = true;
    for (size_t i = 0; i < n->ents_cur.n; i++) sim_mark(n->ents_cur.e[i].node, depth + 1);
    for (size_t i = 0; i < n->ents_dur.n; i++) sim_mark(n->ents_dur.e[i].node, depth + 1);
}

static void sim_gc_locked(sim_world *w)
{
    for (sim_node *n = w->all; n != NULL; n = n->all_next) n->mark = n->handles > 0;
    sim_mark(w->root, 0);
    for (size_t i = 0; i < w->nns; i++) {
        /* A crash may still bring these back. */
        sim_mark(w->ns[i].dir, 0);
        sim_mark(w->ns[i].node, 0);
    }
    /* A store keeps its directory node (unreachable or not), so no new
     * directory can take its address and be taken for it. */
    for (sim_kvstore *s = w->stores; s != NULL; s = s->next) sim_mark(s->node, 0);
    sim_node **pp = &w->all;
    uint64_t live = 0;
    while (*pp != NULL) {
        sim_node *n = *pp;
        if (!n->mark) {
            *pp = n->all_next;
            sim_node_free(n);
        } else {
            if (!n->is_dir) live++;
            pp = &n->all_next;
        }
    }
    w->stats.files_live = live;
}

void sim_world_gc(sim_world *w)
{
    sim_lock(w);
    sim_gc_locked(w);
    sim_unlock(w);
}

/* Torn crash for one file, after SQLite's test6.c: start from the durable
 * bytes and replay the unsynced changes in order, each write cut into the
 * 512-byte sectors of the file it covers, and each sector independently
 * written (p = 1/2), lost (3/8: the old bytes stay, or a hole reads as
 * zeros) or torn (1/8: a prefix of it written, the rest garbage).  Bytes
 * outside what a write covered never change ("powersafe overwrite", as
 * SQLite assumes by default).  A truncate reaches the disk with p = 1/2.
 * When the file grew, its new size may reach the disk without the data
 * (p = 1/4: zeros to the end, as XFS shows after a crash). */
static void sim_crash_file_torn(sim_world *w, sim_node *n)
{
    for (size_t i = 0; i < n->npend; i++) {
        const sim_pending *p = &n->pend[i];
        if (p->is_truncate) {
            if (sim_rng_chance(&w->rng_crash, 500)) (void)sim_buf_truncate(&n->dur, p->off);
            continue;
        }
        size_t done = 0;
        while (done < p->len) {
            uint64_t off = p->off + done;
            uint64_t sector_end = (off / SIM_SECTOR_BYTES + 1) * SIM_SECTOR_BYTES;
            size_t piece = p->len - done;
            if (piece > sector_end - off) piece = (size_t)(sector_end - off);
            uint64_t pick = sim_rng_below(&w->rng_crash, 8);
            if (pick < 4) {
                (void)sim_buf_write(&n->dur, off, p->data + done, piece);
            } else if (pick == 7) {
                uint8_t junk[SIM_SECTOR_BYTES];
                size_t good = (size_t)sim_rng_below(&w->rng_crash, piece);
                memcpy(junk, p->data + done, good);
                sim_rng_fill(&w->rng_crash, junk + good, piece - good);
                (void)sim_buf_write(&n->dur, off, junk, piece);
            }
            done += piece;
        }
    }
    if (n->cur.len > n->dur.len && sim_rng_chance(&w->rng_crash, 250))
        (void)sim_buf_truncate(&n->dur, n->cur.len);
}

/* Kill every handle and open a new generation; the lock is held. */
static void sim_kill_handles_locked(sim_world *w)
{
    w->gen++;
    w->frozen = false;
    w->freeze_at = 0; /* a planned crash point is for one life */
    for (hm_file *f = w->files; f != NULL; f = f->next) {
        if (f->node != NULL) f->node->handles--;
        f->node = NULL;
    }
    for (sim_kvstore *s = w->stores; s != NULL; s = s->next) {
        s->writer_active = false;
        s->poisoned = false;
    }
    memset(w->faults, 0, sizeof(w->faults));
    pthread_cond_broadcast(&w->kv_cond);
}

void sim_world_thaw(sim_world *w)
{
    sim_lock(w);
    sim_kill_handles_locked(w);
    sim_trace(w, '~', NULL, 0, w->gen, 0);
    sim_gc_locked(w);
    sim_unlock(w);
}

void sim_world_crash(sim_world *w, enum sim_crash_mode mode)
{
    sim_lock(w);
    sim_kill_handles_locked(w);
    w->stats.crashes++;
    sim_trace(w, '!', NULL, (uint64_t)mode, w->gen, 0);
    if (mode == SIM_CRASH_TORN) sim_ns_crash(w);
    sim_ns_forget(w);
    w->ns_overflow = false;
    for (sim_node *n = w->all; n != NULL; n = n->all_next) {
        if (n->is_dir) {
            (void)sim_dir_copy(&n->ents_cur, &n->ents_dur);
            continue;
        }
        if (mode == SIM_CRASH_TORN) sim_crash_file_torn(w, n);
        (void)sim_buf_copy(&n->cur, &n->dur);
        sim_pending_clear(n);
    }
    for (sim_kvstore *s = w->stores; s != NULL; s = s->next) {
        for (int i = 0; i < HM_KV_TABLE_COUNT; i++) {
            sim_table_unref(s->cur[i]);
            s->cur[i] = sim_table_ref(s->dur[i]);
        }
    }
    sim_gc_locked(w);
    sim_unlock(w);
}

static void sim_prefix_set(char dst[SIM_PREFIX_BYTES], const char *prefix)
{
    (void)snprintf(dst, SIM_PREFIX_BYTES, "%s", prefix != NULL ? prefix : "");
}

void sim_fault_countdown(sim_world *w, enum sim_fault_op op, const char *path_prefix,
                         uint32_t nth, int err)
{
    sim_lock(w);
    sim_fault *f = &w->faults[op];
    f->countdown_on = nth > 0;
    f->countdown = nth;
    f->countdown_err = err;
    sim_prefix_set(f->countdown_prefix, path_prefix);
    sim_unlock(w);
}

void sim_fault_probability(sim_world *w, enum sim_fault_op op, const char *path_prefix,
                           uint32_t permille, int err)
{
    sim_lock(w);
    sim_fault *f = &w->faults[op];
    f->permille = permille;
    f->prob_err = err;
    sim_prefix_set(f->prob_prefix, path_prefix);
    sim_unlock(w);
}

void sim_fault_clear(sim_world *w)
{
    sim_lock(w);
    memset(w->faults, 0, sizeof(w->faults));
    sim_unlock(w);
}

uint64_t sim_fault_fired(const sim_world *w) { return w->fault_fired; }

void sim_world_freeze_after(sim_world *w, uint64_t n)
{
    sim_lock(w);
    w->freeze_at = n == 0 ? 0 : w->mutations + n;
    sim_unlock(w);
}

uint64_t sim_world_mutations(const sim_world *w) { return w->mutations; }

void sim_world_set_sync_noop(sim_world *w, bool on)
{
    sim_lock(w);
    w->sync_noop = on;
    sim_unlock(w);
}

int sim_world_flip_bit(sim_world *w, const char *path, uint64_t bit)
{
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    sim_lock(w);
    int rc = sim_resolve(w, path, &sp, &parent, &name, &node);
    if (rc == 0 && node == NULL) rc = HM_ENOENT;
    if (rc == 0 && (node->is_dir || bit / 8 >= node->cur.len)) rc = HM_EINVAL;
    if (rc == 0) {
        uint8_t mask = (uint8_t)(1u << (bit % 8));
        node->cur.p[bit / 8] ^= mask;
        if (bit / 8 < node->dur.len) node->dur.p[bit / 8] ^= mask;
        for (size_t i = 0; i < node->npend; i++) {
            sim_pending *p = &node->pend[i];
            if (!p->is_truncate && bit / 8 >= p->off && bit / 8 - p->off < p->len)
                p->data[bit / 8 - p->off] ^= mask;
        }
    }
    sim_trace(w, 'F', path, bit, 0, rc);
    sim_unlock(w);
    return rc;
}

/* Depth-first walk in name order; the lock is held throughout, so fn must
 * not call into the env (sim_world_flip_bit is fine: it is called after). */
static int sim_walk(sim_node *d, char *path, size_t len, sim_file_fn fn, void *arg)
{
    for (size_t i = 0; i < d->ents_cur.n; i++) {
        const sim_dirent *e = &d->ents_cur.e[i];
        size_t nlen = strlen(e->name);
        if (len + 1 + nlen >= SIM_PATH_BYTES_MAX) continue;
        path[len] = '/';
        memcpy(path + len + 1, e->name, nlen + 1);
        int rc = e->node->is_dir ? sim_walk(e->node, path, len + 1 + nlen, fn, arg)
                                 : fn(arg, path, e->node->cur.len);
        path[len] = '\0';
        if (rc != 0) return rc;
    }
    return 0;
}

int sim_world_walk_files(sim_world *w, const char *dir, sim_file_fn fn, void *arg)
{
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    char path[SIM_PATH_BYTES_MAX];
    sim_lock(w);
    int rc = sim_resolve(w, dir, &sp, &parent, &name, &node);
    if (rc == 0 && (node == NULL || !node->is_dir)) rc = HM_ENOENT;
    if (rc == 0) {
        size_t len = strlen(dir);
        if (len >= sizeof(path)) rc = HM_ETOOBIG;
        else {
            memcpy(path, dir, len + 1);
            while (len > 0 && path[len - 1] == '/') path[--len] = '\0';
            rc = sim_walk(node, path, len, fn, arg);
        }
    }
    sim_unlock(w);
    return rc;
}

void sim_world_get_stats(const sim_world *w, sim_world_stats *out)
{
    *out = w->stats;
}

/* ---- per-disk faults -------------------------------------------------------- */

int sim_disk_set(sim_world *w, const char *prefix, const sim_disk_state *st)
{
    size_t n = strlen(prefix);
    if (n == 0 || n >= SIM_PREFIX_BYTES || prefix[n - 1] == '/') return HM_EINVAL;
    bool clear = !st->dead && !st->full && st->stall_ms <= 0;
    int rc = 0;
    sim_lock(w);
    sim_disk_rule *slot = NULL;
    for (size_t i = 0; i < SIM_DISK_RULES_MAX; i++) {
        sim_disk_rule *d = &w->disks[i];
        if (d->used && strcmp(d->prefix, prefix) == 0) {
            slot = d;
            break;
        }
        if (!d->used && slot == NULL) slot = d;
    }
    if (clear) {
        if (slot != NULL && slot->used && strcmp(slot->prefix, prefix) == 0) slot->used = false;
    } else if (slot == NULL) {
        rc = HM_ENOSPC;
    } else {
        slot->used = true;
        memcpy(slot->prefix, prefix, n + 1);
        slot->st = *st;
        if (slot->st.stall_ms < 0) slot->st.stall_ms = 0;
    }
    sim_trace(w, 'G', prefix, (uint64_t)st->dead | (uint64_t)st->full << 1,
              (uint64_t)(st->stall_ms > 0 ? st->stall_ms : 0), rc);
    sim_unlock(w);
    return rc;
}

void sim_disk_get_stats(const sim_world *w, uint64_t *refused, uint64_t *stalled)
{
    sim_world *mw = (sim_world *)w;
    sim_lock(mw);
    if (refused != NULL) *refused = w->disk_refused;
    if (stalled != NULL) *stalled = w->disk_stalled;
    sim_unlock(mw);
}

int sim_world_remove_tree(sim_world *w, const char *dir, bool keep_root)
{
    sim_path sp;
    sim_node *parent, *node;
    const char *name;
    sim_lock(w);
    int rc = sim_resolve(w, dir, &sp, &parent, &name, &node);
    if (rc == 0 && node == NULL) {
        /* absent now: it may still be durable (a create not yet synced
         * away, or an unlink not yet synced) */
        node = parent != NULL ? sim_dir_get(&parent->ents_dur, name) : NULL;
        if (node == NULL) rc = HM_ENOENT;
    }
    if (rc == 0 && (parent == NULL || !node->is_dir)) rc = HM_EINVAL;
    if (rc == 0) {
        /* Forget the unsynced changes a crash could replay into what is
         * gone: those inside the removed directory, and, when it goes
         * too, its own entry in the parent. */
        size_t k = 0;
        for (size_t i = 0; i < w->nns; i++) {
            sim_nsop *op = &w->ns[i];
            if (op->dir == node || (!keep_root && op->dir == parent && strcmp(op->name, name) == 0)) {
                free(op->name);
                continue;
            }
            w->ns[k++] = *op;
        }
        w->nns = k;
        if (keep_root) {
            sim_dir_clear(&node->ents_cur);
            sim_dir_clear(&node->ents_dur);
        } else {
            char keep[SIM_PATH_BYTES_MAX];
            snprintf(keep, sizeof(keep), "%s", name); /* name points into sp */
            sim_dir_del(&parent->ents_cur, keep);
            sim_dir_del(&parent->ents_dur, keep);
        }
    }
    sim_trace(w, 'X', dir, keep_root, 0, rc);
    sim_unlock(w);
    return rc;
}

bool sim_world_durable(sim_world *w, const char *path)
{
    sim_path sp;
    sim_lock(w);
    bool ok = sim_path_split(path, &sp) == 0 && sp.n > 0;
    sim_node *d = w->root;
    for (size_t i = 0; ok && i < sp.n; i++) {
        sim_node *dur = sim_dir_get(&d->ents_dur, sp.comp[i]);
        ok = dur != NULL && dur == sim_dir_get(&d->ents_cur, sp.comp[i]);
        d = dur;
    }
    ok = ok && !d->is_dir && d->npend == 0 && d->cur.len == d->dur.len &&
         (d->cur.len == 0 || memcmp(d->cur.p, d->dur.p, d->cur.len) == 0);
    sim_unlock(w);
    return ok;
}
