/* hm_meta_local.c - the in-process hm_meta_api binding.
 *
 * Shaping decision: the response is packed and unpacked once, exactly as it
 * would be over RPC, so a caller always frees it the same way and can never
 * come to depend on memory shared with the node (or on fields the wire would
 * drop).  The copy is small next to the two syncs every command costs.
 */
#include <stdlib.h>

#include "hm_err.h"
#include "hm_meta_node.h"

static int local_call(hm_meta_api *api, const Hm__MetaRequest *req, Hm__MetaResponse **out)
{
    Hm__MetaResponse *resp = NULL;
    int rc = hm_meta_node_handle(api->impl, req, &resp);
    if (rc != 0)
        return rc;
    size_t len = hm__meta_response__get_packed_size(resp);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL) {
        hm__meta_response__free_unpacked(resp, NULL);
        return HM_ENOMEM;
    }
    hm__meta_response__pack(resp, buf);
    hm__meta_response__free_unpacked(resp, NULL);
    Hm__MetaResponse *copy = hm__meta_response__unpack(NULL, len, buf);
    free(buf);
    if (copy == NULL)
        return HM_ENOMEM; /* we packed it ourselves: only allocation can fail */
    *out = copy;
    return 0;
}

static void local_free(hm_meta_api *api)
{
    free(api);
}

static const struct hm_meta_api_ops local_ops = {
    .call = local_call,
    .free = local_free,
};

int hm_meta_api_local_new(hm_meta_api **out, hm_meta_node *node)
{
    hm_meta_api *api = calloc(1, sizeof *api);
    if (api == NULL)
        return HM_ENOMEM;
    api->ops = &local_ops;
    api->impl = node;
    *out = api;
    return 0;
}
