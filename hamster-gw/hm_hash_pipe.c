/* hm_hash_pipe.c - digests on a worker thread; see hm_hash_pipe.h.
 *
 * The buffers form a ring indexed by sequence number: buffer i % BUFS holds
 * the i-th full piece.  `queued` counts the pieces handed to the worker,
 * `digested` the ones it finished; the caller fills piece `queued` into
 * buffer queued % BUFS once queued - digested < BUFS, i.e. once the worker
 * is done with that buffer's previous piece.  The sink runs on the caller's
 * thread right after the hand-over, so it has always returned before the
 * caller refills anything.  One mutex and one condition variable guard the
 * counters, the flags and err; the worker touches a buffer's bytes only
 * between taking its number and counting it digested.
 */
#include "hm_hash_pipe.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"

struct hm_hash_pipe {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    EVP_MD_CTX *mds[HM_HASH_PIPE_DIGESTS_MAX];
    size_t n_mds;
    hm_hash_pipe_sink sink;
    void *sink_ctx;
    size_t buf_bytes;
    uint8_t *buf[HM_HASH_PIPE_BUFS];
    size_t len[HM_HASH_PIPE_BUFS];   /* bytes of a queued piece */
    /* caller side */
    size_t fill;                     /* bytes in buffer queued % BUFS */
    bool finished;
    /* under mu */
    uint64_t queued;
    uint64_t digested;
    bool draining;                   /* finish: digest the rest, then exit */
    bool stopping;                   /* free: exit now */
    int err;
};

static void *hash_pipe_worker(void *arg)
{
    hm_hash_pipe *hp = arg;
    pthread_mutex_lock(&hp->mu);
    for (;;) {
        while (hp->digested == hp->queued && !hp->draining && !hp->stopping)
            pthread_cond_wait(&hp->cv, &hp->mu);
        if (hp->stopping || hp->digested == hp->queued) break;
        size_t i = (size_t)(hp->digested % HM_HASH_PIPE_BUFS);
        size_t len = hp->len[i];
        bool ok = hp->err == 0;
        pthread_mutex_unlock(&hp->mu);
        for (size_t m = 0; ok && m < hp->n_mds; m++)
            ok = EVP_DigestUpdate(hp->mds[m], hp->buf[i], len) == 1;
        pthread_mutex_lock(&hp->mu);
        if (!ok && hp->err == 0) hp->err = HM_EINTERNAL;
        hp->digested++;
        pthread_cond_broadcast(&hp->cv);
    }
    pthread_mutex_unlock(&hp->mu);
    return NULL;
}

int hm_hash_pipe_new(hm_hash_pipe **out, EVP_MD_CTX *const *mds, size_t n_mds,
                     size_t buf_bytes, hm_hash_pipe_sink sink, void *sink_ctx)
{
    if (out == NULL || mds == NULL || n_mds == 0 || n_mds > HM_HASH_PIPE_DIGESTS_MAX ||
        buf_bytes == 0)
        return HM_EINVAL;
    hm_hash_pipe *hp = calloc(1, sizeof *hp);
    if (hp == NULL) return HM_ENOMEM;
    for (size_t m = 0; m < n_mds; m++) {
        if (mds[m] == NULL) {
            free(hp);
            return HM_EINVAL;
        }
        hp->mds[m] = mds[m];
    }
    hp->n_mds = n_mds;
    hp->sink = sink;
    hp->sink_ctx = sink_ctx;
    hp->buf_bytes = buf_bytes;
    int rc = HM_ENOMEM;
    for (size_t i = 0; i < HM_HASH_PIPE_BUFS; i++) {
        hp->buf[i] = malloc(buf_bytes);
        if (hp->buf[i] == NULL) goto err_bufs;
    }
    rc = HM_EINTERNAL;
    if (pthread_mutex_init(&hp->mu, NULL) != 0) goto err_bufs;
    if (pthread_cond_init(&hp->cv, NULL) != 0) goto err_mu;
    if (pthread_create(&hp->thread, NULL, hash_pipe_worker, hp) != 0) goto err_cv;
    *out = hp;
    return 0;

err_cv:
    pthread_cond_destroy(&hp->cv);
err_mu:
    pthread_mutex_destroy(&hp->mu);
err_bufs:
    for (size_t i = 0; i < HM_HASH_PIPE_BUFS; i++) free(hp->buf[i]);
    free(hp);
    return rc;
}

/* Hand the current buffer (fill > 0) to the worker, then to the sink. */
static int hash_pipe_push(hm_hash_pipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    size_t i = (size_t)(hp->queued % HM_HASH_PIPE_BUFS);
    hp->len[i] = hp->fill;
    hp->queued++;
    pthread_cond_broadcast(&hp->cv);
    int err = hp->err;
    pthread_mutex_unlock(&hp->mu);
    hp->fill = 0;
    if (err == 0 && hp->sink != NULL) {
        err = hp->sink(hp->sink_ctx, hp->buf[i], hp->len[i]);
        if (err != 0) {
            pthread_mutex_lock(&hp->mu);
            if (hp->err == 0) hp->err = err;
            err = hp->err;
            pthread_mutex_unlock(&hp->mu);
        }
    }
    return err;
}

/* Before filling buffer queued % BUFS: wait until the worker is done with
 * its previous piece.  The sticky failure, if any. */
static int hash_pipe_wait_free(hm_hash_pipe *hp)
{
    pthread_mutex_lock(&hp->mu);
    while (hp->err == 0 && hp->queued - hp->digested >= HM_HASH_PIPE_BUFS)
        pthread_cond_wait(&hp->cv, &hp->mu);
    int err = hp->err;
    pthread_mutex_unlock(&hp->mu);
    return err;
}

int hm_hash_pipe_write(hm_hash_pipe *hp, const void *data, size_t len)
{
    const uint8_t *src = data;
    if (hp->finished) return HM_EINVAL;
    while (len > 0) {
        int rc;
        if (hp->fill == 0 && (rc = hash_pipe_wait_free(hp)) != 0) return rc;
        size_t i = (size_t)(hp->queued % HM_HASH_PIPE_BUFS);
        size_t n = hp->buf_bytes - hp->fill;
        if (n > len) n = len;
        memcpy(hp->buf[i] + hp->fill, src, n);
        hp->fill += n;
        src += n;
        len -= n;
        if (hp->fill == hp->buf_bytes && (rc = hash_pipe_push(hp)) != 0) return rc;
    }
    pthread_mutex_lock(&hp->mu);
    int err = hp->err;
    pthread_mutex_unlock(&hp->mu);
    return err;
}

int hm_hash_pipe_finish(hm_hash_pipe *hp)
{
    if (hp->finished) return HM_EINVAL;
    hp->finished = true;
    int rc = 0;
    if (hp->fill > 0) rc = hash_pipe_push(hp);
    pthread_mutex_lock(&hp->mu);
    if (rc == 0) hp->draining = true;
    else hp->stopping = true;
    pthread_cond_broadcast(&hp->cv);
    pthread_mutex_unlock(&hp->mu);
    pthread_join(hp->thread, NULL);
    /* The worker has exited: err is stable. */
    return hp->err;
}

void hm_hash_pipe_free(hm_hash_pipe *hp)
{
    if (hp == NULL) return;
    if (!hp->finished) {
        hp->finished = true;
        pthread_mutex_lock(&hp->mu);
        hp->stopping = true;
        pthread_cond_broadcast(&hp->cv);
        pthread_mutex_unlock(&hp->mu);
        pthread_join(hp->thread, NULL);
    }
    pthread_cond_destroy(&hp->cv);
    pthread_mutex_destroy(&hp->mu);
    for (size_t i = 0; i < HM_HASH_PIPE_BUFS; i++) free(hp->buf[i]);
    free(hp);
}
