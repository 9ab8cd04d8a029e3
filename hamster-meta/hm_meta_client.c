/* hm_meta_client.c - the RPC hm_meta_api binding (common/hm_meta_api.h).
 *
 * Shaping decision: one unary hm_rpc_call per request over a pooled
 * connection; the pool gives back-pressure and reuse, so this file holds no
 * state of its own beyond the pool.
 */
#include <stdlib.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_api.h"
#include "hm_rpc.h"
#include "hm_rpc.pb-c.h"

static int client_call(hm_meta_api *api, const Hm__MetaRequest *req, Hm__MetaResponse **out)
{
    ProtobufCMessage *resp = NULL;
    int rc = hm_rpc_call(api->impl, HM__MSG_TYPE__MSG_META_REQ, &req->base, NULL, 0,
                         HM__MSG_TYPE__MSG_META_RESP, &hm__meta_response__descriptor, &resp,
                         HM_RPC_CALL_TIMEOUT_MS);
    if (rc != 0)
        return rc;
    *out = (Hm__MetaResponse *)resp;
    return 0;
}

static void client_free(hm_meta_api *api)
{
    if (api == NULL)
        return;
    hm_rpc_client_free(api->impl);
    free(api);
}

static const struct hm_meta_api_ops client_ops = {
    .call = client_call,
    .free = client_free,
};

int hm_meta_api_rpc_new(hm_meta_api **out, struct hm_tls *tls, const char *addr)
{
    hm_meta_api *api = calloc(1, sizeof *api);
    if (api == NULL)
        return HM_ENOMEM;
    hm_rpc_client *cl = NULL;
    int rc = hm_rpc_client_new(&cl, tls, addr);
    if (rc != 0) {
        free(api);
        return rc;
    }
    api->ops = &client_ops;
    api->impl = cl;
    *out = api;
    return 0;
}
