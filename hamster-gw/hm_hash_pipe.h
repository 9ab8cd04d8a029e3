/* hm_hash_pipe.h - one request body's digests, computed on a worker thread
 * while the caller stores the same bytes.
 *
 * A large PUT has three per-byte costs on one stream: receiving the body,
 * digesting it (MD5 for the ETag, SHA-256 for a signed payload) and writing
 * it to the shard.  MD5 is the slowest by far; run in line it adds to the
 * rest.  The pipe overlaps it: the caller's bytes are copied into one of
 * HM_HASH_PIPE_BUFS buffers; a full buffer goes to the pipe's worker, which
 * updates every digest with it, and then, on the caller's thread, to the
 * sink (the shard write); the caller fills the next buffer meanwhile.
 *
 * Contract:
 *  - One pipe per body, driven by one thread at a time (write, finish,
 *    free).  The worker thread is the pipe's own: created by new, joined by
 *    finish or free.
 *  - The digest contexts stay the caller's, but belong to the worker from
 *    new until finish or free returns: the caller must not touch them in
 *    between.  After a finish that returned 0 they hold every byte written,
 *    in order, and are ready for EVP_DigestFinal_ex.
 *  - The sink sees every byte written, in order, in pieces of at most
 *    buf_bytes (the last may be shorter; none is empty), on the caller's
 *    thread.  A buffer is refilled only after its sink call returned and the
 *    worker digested it, so the sink and the worker read it unchanged.
 *  - Memory: HM_HASH_PIPE_BUFS buffers of buf_bytes, whatever the body size.
 *  - The first failure (a sink error or a digest error) sticks: write and
 *    finish return it from then on.  free after any failure (or instead of
 *    finish, to abort) stops the worker without digesting what is queued
 *    and releases everything.
 */
#ifndef HM_HASH_PIPE_H
#define HM_HASH_PIPE_H

#include <stddef.h>

#include <openssl/evp.h>

#define HM_HASH_PIPE_BUFS 2u
#define HM_HASH_PIPE_DIGESTS_MAX 2u

typedef struct hm_hash_pipe hm_hash_pipe;

/* Where buffered bytes go once handed to the worker: 0 or a negative HM_E*. */
typedef int (*hm_hash_pipe_sink)(void *ctx, const void *buf, size_t len);

/* Start a pipe updating mds[0..n_mds) (1..HM_HASH_PIPE_DIGESTS_MAX
 * initialised contexts).  sink may be NULL (digests only).  0, or
 * HM_EINVAL, HM_ENOMEM, HM_EINTERNAL (no thread). */
int hm_hash_pipe_new(hm_hash_pipe **out, EVP_MD_CTX *const *mds, size_t n_mds,
                     size_t buf_bytes, hm_hash_pipe_sink sink, void *sink_ctx);

/* Take len more bytes of the body (copied; data may be reused on return). */
int hm_hash_pipe_write(hm_hash_pipe *hp, const void *data, size_t len);

/* Hand over the partial buffer, wait for the worker to digest everything
 * and join it.  0 or the sticky failure.  Call once; then free. */
int hm_hash_pipe_finish(hm_hash_pipe *hp);

/* Stop the worker (abandoning queued buffers), join it, free everything.
 * NULL is fine. */
void hm_hash_pipe_free(hm_hash_pipe *hp);

#endif
