/* hm_shard_dirsync.c - group commit for directory syncs; see
 * hm_shard_dirsync.h.
 *
 * Batches are numbered.  A caller adds its directories to the pending set,
 * which the next batch will take, and waits until that batch is done; if no
 * batch is running it runs it itself.  So a caller's directories are always
 * synced by a sync that started after they were added.
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

struct hm_dirsync {
    hm_env *env;
    char *fs_dir;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **pending;        /* distinct paths, malloc'd; under mu */
    size_t n_pending, cap_pending;
    uint64_t next_batch;   /* the batch that will take the pending set */
    uint64_t done_batch;   /* every batch <= this one has finished */
    bool running;
    uint64_t failed_batch; /* first failed batch; 0: none */
    int failed_rc;
    /* The directories that failed batch did sync before it stopped: their
     * callers' entries are durable, the others' are not. */
    char **failed_ok;
    size_t n_failed_ok;
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
    d->next_batch = 1;
    *out = d;
    return 0;
}

void hm_dirsync_free(hm_dirsync *d)
{
    if (d == NULL) return;
    for (size_t i = 0; i < d->n_pending; i++) free(d->pending[i]);
    free(d->pending);
    for (size_t i = 0; i < d->n_failed_ok; i++) free(d->failed_ok[i]);
    free(d->failed_ok);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->fs_dir);
    free(d);
}

/* Add path to the pending set unless it is there.  Under mu. */
static int dirsync_add(hm_dirsync *d, const char *path)
{
    for (size_t i = 0; i < d->n_pending; i++)
        if (strcmp(d->pending[i], path) == 0) return 0;
    if (d->n_pending == d->cap_pending) {
        size_t cap = d->cap_pending ? 2 * d->cap_pending : 16;
        char **p = realloc(d->pending, cap * sizeof *p);
        if (p == NULL) return HM_ENOMEM;
        d->pending = p;
        d->cap_pending = cap;
    }
    char *c = strdup(path);
    if (c == NULL) return HM_ENOMEM;
    d->pending[d->n_pending++] = c;
    return 0;
}

static int dirsync_cmp_len(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? -1 : la > lb;
}

/* Sync a batch's directories, without the lock.  One by one, parents
 * (shorter paths) first, stopping at the first failure: *n_ok tells how many
 * of the sorted dirs were synced.  So when a sync fails, no file's entry
 * has been made durable in a directory whose own entry was not. */
static int dirsync_run(hm_dirsync *d, char **dirs, size_t n, size_t *n_ok)
{
    hm_env *env = d->env;
    *n_ok = 0;
    if (n > 1 && env->ops->version >= 2 && env->ops->sync_fs != NULL) {
        int rc = env->ops->sync_fs(env, d->fs_dir);
        if (rc == 0) *n_ok = n;
        return rc;
    }
    qsort(dirs, n, sizeof *dirs, dirsync_cmp_len);
    for (size_t i = 0; i < n; i++) {
        int rc = env->ops->sync_dir(env, dirs[i]);
        if (rc != 0) return rc;
        *n_ok = i + 1;
    }
    return 0;
}

/* Did the failed batch sync path?  Under mu. */
static bool dirsync_failed_ok(const hm_dirsync *d, const char *path)
{
    for (size_t i = 0; i < d->n_failed_ok; i++)
        if (strcmp(d->failed_ok[i], path) == 0) return true;
    return false;
}

int hm_dirsync_sync(hm_dirsync *d, const char *const *dirs, size_t n)
{
    if (n == 0 || n > DIRSYNC_ARGS_MAX) return HM_EINVAL;
    pthread_mutex_lock(&d->mu);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = dirsync_add(d, dirs[i]);
    uint64_t mine = d->next_batch;
    while (rc == 0 && d->done_batch < mine && d->failed_batch == 0) {
        if (d->running) {
            pthread_cond_wait(&d->cv, &d->mu);
            continue;
        }
        /* Lead the batch that holds our directories. */
        char **batch = d->pending;
        size_t nb = d->n_pending;
        uint64_t id = d->next_batch++;
        d->pending = NULL;
        d->n_pending = d->cap_pending = 0;
        d->running = true;
        pthread_mutex_unlock(&d->mu);
        size_t n_ok = 0;
        int src = dirsync_run(d, batch, nb, &n_ok);
        pthread_mutex_lock(&d->mu);
        d->running = false;
        d->done_batch = id;
        if (src != 0 && d->failed_batch == 0) {
            d->failed_batch = id;
            d->failed_rc = src;
            d->failed_ok = batch; /* the first n_ok were synced */
            d->n_failed_ok = n_ok;
            for (size_t i = n_ok; i < nb; i++) free(batch[i]);
            batch = NULL;
            hm_error("shard", NULL, "directory sync failed (%s): disk failed until restart",
                     hm_err_name(src));
        }
        for (size_t i = 0; batch != NULL && i < nb; i++) free(batch[i]);
        free(batch);
        pthread_cond_broadcast(&d->cv);
    }
    /* After a failed batch nothing more is synced: a later caller fails; one
     * of that batch succeeded only if all its directories were synced. */
    if (rc == 0 && d->failed_batch != 0 && mine >= d->failed_batch) {
        bool ok = mine == d->failed_batch;
        for (size_t i = 0; ok && i < n; i++) ok = dirsync_failed_ok(d, dirs[i]);
        if (!ok) rc = d->failed_rc;
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}
