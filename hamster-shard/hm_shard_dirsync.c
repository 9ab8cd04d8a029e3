/* hm_shard_dirsync.c - group commit for directory syncs; see
 * hm_shard_dirsync.h.
 *
 * A caller queues its directories, each tagged with its own waiter, and
 * waits.  Whoever finds no batch running takes everything queued, syncs it
 * without the lock (parents first, each distinct directory once, or one
 * sync_fs) and then tells each waiter whether all its directories were
 * synced.  So a caller's directories are always synced by a sync that
 * started after they were queued.
 */
#include "hm_shard_dirsync.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_log.h"

#define DIRSYNC_ARGS_MAX 8u

typedef struct dirsync_waiter {
    int rc;
    bool done;
} dirsync_waiter;

typedef struct dirsync_item {
    char *path;
    dirsync_waiter *w;
} dirsync_item;

struct hm_dirsync {
    hm_env *env;
    char *fs_dir;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dirsync_item *pending; /* under mu */
    size_t n_pending, cap_pending;
    bool running;          /* a leader is syncing a batch */
};

int hm_dirsync_new(hm_dirsync **out, hm_env *env, const char *fs_dir)
{
    hm_dirsync *d = calloc(1, sizeof *d);
    if (d == NULL) return HM_ENOMEM;
    d->env = env;
    d->fs_dir = strdup(fs_dir);
    if (d->fs_dir == NULL) {
        free(d);
        return HM_ENOMEM;
    }
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    *out = d;
    return 0;
}

void hm_dirsync_free(hm_dirsync *d)
{
    if (d == NULL) return;
    for (size_t i = 0; i < d->n_pending; i++) free(d->pending[i].path);
    free(d->pending);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->fs_dir);
    free(d);
}

/* Parents (shorter paths) first; equal paths next to each other. */
static int dirsync_cmp(const void *a, const void *b)
{
    const char *pa = ((const dirsync_item *)a)->path, *pb = ((const dirsync_item *)b)->path;
    size_t la = strlen(pa), lb = strlen(pb);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(pa, pb);
}

/* Sync a batch without the lock and set each item's outcome in its
 * waiter's rc (the first error wins).  One by one, each distinct directory
 * once, parents first, stopping at the first failure: the directories after
 * it are not synced and their callers fail, so no entry is made durable in
 * a directory whose own entry is not.  With sync_fs and several
 * directories: one call for all. */
static void dirsync_run(hm_dirsync *d, dirsync_item *items, size_t n)
{
    hm_env *env = d->env;
    qsort(items, n, sizeof *items, dirsync_cmp);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(items[i].path, items[i - 1].path) != 0) distinct++;
    if (distinct > 1 && env->ops->version >= 2 && env->ops->sync_fs != NULL) {
        int rc = env->ops->sync_fs(env, d->fs_dir);
        for (size_t i = 0; i < n; i++)
            if (items[i].w->rc == 0) items[i].w->rc = rc;
        return;
    }
    int failed = 0, rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(items[i].path, items[i - 1].path) != 0)
            rc = failed != 0 ? failed : env->ops->sync_dir(env, items[i].path);
        if (rc != 0 && failed == 0) {
            failed = rc;
            hm_error("shard", NULL, "directory sync of %s failed: %s", items[i].path,
                     hm_err_name(rc));
        }
        if (items[i].w->rc == 0) items[i].w->rc = rc;
    }
}

int hm_dirsync_sync(hm_dirsync *d, const char *const *dirs, size_t n)
{
    if (n == 0 || n > DIRSYNC_ARGS_MAX) return HM_EINVAL;
    dirsync_waiter w = {.rc = 0, .done = false};
    pthread_mutex_lock(&d->mu);
    if (d->cap_pending - d->n_pending < n) {
        size_t cap = d->cap_pending ? 2 * d->cap_pending : 32;
        while (cap - d->n_pending < n) cap *= 2;
        dirsync_item *p = realloc(d->pending, cap * sizeof *p);
        if (p == NULL) {
            pthread_mutex_unlock(&d->mu);
            return HM_ENOMEM;
        }
        d->pending = p;
        d->cap_pending = cap;
    }
    for (size_t i = 0; i < n; i++) {
        char *c = strdup(dirs[i]);
        if (c == NULL) {
            /* Take back what we queued: nobody has seen it yet. */
            d->n_pending -= i;
            for (size_t j = 0; j < i; j++) free(d->pending[d->n_pending + j].path);
            pthread_mutex_unlock(&d->mu);
            return HM_ENOMEM;
        }
        d->pending[d->n_pending++] = (dirsync_item){.path = c, .w = &w};
    }
    while (!w.done) {
        if (d->running) {
            pthread_cond_wait(&d->cv, &d->mu);
            continue;
        }
        /* Lead a batch of everything queued, ours included. */
        dirsync_item *batch = d->pending;
        size_t nb = d->n_pending;
        d->pending = NULL;
        d->n_pending = d->cap_pending = 0;
        d->running = true;
        pthread_mutex_unlock(&d->mu);
        dirsync_run(d, batch, nb);
        pthread_mutex_lock(&d->mu);
        for (size_t i = 0; i < nb; i++) {
            batch[i].w->done = true;
            free(batch[i].path);
        }
        free(batch);
        d->running = false;
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
    return w.rc;
}
