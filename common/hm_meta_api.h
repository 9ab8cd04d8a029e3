/* hm_meta_api.h - how the gateway (and anyone else) talks to metadata.
 *
 * One call: a MetaRequest in, a MetaResponse out (proto/hm_meta.proto).  Two
 * bindings implement it and behave identically:
 *   - in-process (hm_meta_api_local, hamster-meta/hm_meta_node.h), used by the
 *     all-in-one launcher and the simulator;
 *   - RPC (hm_meta_api_rpc_new, common/rpc/hm_meta_client.c), used by a
 *     separate hamster-gw talking to hamster-meta over mTLS.
 * Because the response always comes back unpacked from bytes (the local
 * binding packs and unpacks too), callers cannot tell which one they hold.
 */
#ifndef HM_META_API_H
#define HM_META_API_H

#include "hm_meta.pb-c.h"

typedef struct hm_meta_api hm_meta_api;

struct hm_meta_api_ops {
    /* Perform req.  On 0, *resp is set: check (*resp)->err (0 or HM_E*),
     * free with hm__meta_response__free_unpacked(*resp, NULL).  A negative
     * return is a transport failure (HM_ECONN, HM_ETIMEDOUT, HM_ENOMEM,...)
     * and *resp is untouched: a mutation may or may not have been applied. */
    int (*call)(hm_meta_api *api, const Hm__MetaRequest *req, Hm__MetaResponse **resp);
    void (*free)(hm_meta_api *api);
};

struct hm_meta_api {
    const struct hm_meta_api_ops *ops;
    void *impl;
};

static inline int hm_meta_call(hm_meta_api *a, const Hm__MetaRequest *req,
                               Hm__MetaResponse **resp)
{
    return a->ops->call(a, req, resp);
}

/* RPC binding to a hamster-meta at addr.  tls is borrowed (outlives api). */
struct hm_tls;
int hm_meta_api_rpc_new(hm_meta_api **out, struct hm_tls *tls, const char *addr);

#endif
