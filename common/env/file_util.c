/* file_util.c - whole-file helpers built only on the hm_env vtable.
 *
 * They go through env->ops rather than POSIX so that the simulator's crash
 * model applies to them too: the atomic write is exactly the sequence a
 * crash test must survive (temp file, write, sync, rename, sync directory).
 */
#include "hm_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"

/* Directory part of path into out ("." when path has no slash). */
static int file_dirname(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n;
    if (slash == NULL) {
        out[0] = '.';
        out[1] = '\0';
        return 0;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= cap) return HM_ETOOBIG;
    memcpy(out, path, n);
    out[n] = '\0';
    return 0;
}

/* See hm_env.h.  On failure the temp file is removed and path is left as it
 * was.  A failed sync or rename is returned as is: the caller must not retry
 * the same write (the env's poisoning rule). */
int hm_env_write_file_atomic(hm_env *env, const char *path, const void *buf,
                             size_t len)
{
    const struct hm_env_ops *ops = env->ops;
    size_t plen = strlen(path);
    char dir[4096];
    char tmp[4096 + 64];
    uint8_t nonce[8];
    hm_file *f = NULL;
    int rc;

    if (plen == 0 || plen + 64 > sizeof(dir)) return HM_EINVAL;
    rc = file_dirname(path, dir, sizeof(dir));
    if (rc != 0) return rc;
    /* A random suffix: two writers of the same path never share a temp. */
    hm_random(env, nonce, sizeof(nonce));
    (void)snprintf(tmp, sizeof(tmp), "%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path,
                   nonce[0], nonce[1], nonce[2], nonce[3], nonce[4], nonce[5],
                   nonce[6], nonce[7]);

    rc = ops->open(env, tmp, HM_O_RDWR | HM_O_CREAT | HM_O_EXCL, &f);
    if (rc != 0) return rc;
    rc = ops->pwrite(f, buf, len, 0);
    if (rc != 0) goto err_after_open;
    rc = ops->sync(f);
    if (rc != 0) goto err_after_open;
    ops->close(f);
    f = NULL;
    rc = ops->rename(env, tmp, path);
    if (rc != 0) goto err_after_open;
    return ops->sync_dir(env, dir);

err_after_open:
    if (f != NULL) ops->close(f);
    (void)ops->unlink(env, tmp);
    return rc;
}

/* See hm_env.h.  HM_ETOOBIG when the file is longer than max; the buffer
 * is NUL-terminated one byte past *len for the convenience of text callers.
 * On failure nothing is allocated. */
int hm_env_read_file(hm_env *env, const char *path, size_t max, void **buf,
                     size_t *len)
{
    const struct hm_env_ops *ops = env->ops;
    hm_file *f;
    uint64_t size;
    size_t got;
    char *p;
    int rc;

    rc = ops->open(env, path, HM_O_RDONLY, &f);
    if (rc != 0) return rc;
    rc = ops->size(f, &size);
    if (rc != 0) goto err_after_open;
    if (size > max) {
        rc = HM_ETOOBIG;
        goto err_after_open;
    }
    p = malloc((size_t)size + 1);
    if (p == NULL) {
        rc = HM_ENOMEM;
        goto err_after_open;
    }
    /* Ask for one byte more than the size: a file that grew since the size
     * check is refused rather than silently cut. */
    rc = ops->pread(f, p, (size_t)size + 1, 0, &got);
    if (rc != 0) goto err_after_alloc;
    if (got > size) {
        rc = HM_ETOOBIG;
        goto err_after_alloc;
    }
    p[got] = '\0';
    ops->close(f);
    *buf = p;
    *len = got;
    return 0;

err_after_alloc:
    free(p);
err_after_open:
    ops->close(f);
    return rc;
}
