/* hm_meta_service.c - hamster-meta's RPC handler: frames in, node calls out.
 *
 * Shaping decision: the service is a pure adapter.  It adds no semantics
 * beyond the frame rules (an unparsable request closes the connection,
 * because the stream can no longer be trusted; a request of a type this
 * service does not serve gets an error and the connection stays), so the
 * RPC binding behaves exactly like the in-process one.
 */
#include <stdlib.h>

#include "hm_err.h"
#include "hm_log.h"
#include "hm_meta_node.h"
#include "hm_rpc.pb-c.h"

int hm_meta_service_handle(void *ctx, hm_rpc_conn *c, const hm_frame *req)
{
    hm_meta_node *node = ctx;
    uint64_t id = req->hdr.req_id;
    if (req->hdr.type != HM__MSG_TYPE__MSG_META_REQ) {
        hm_rpc_send_error(c, id, HM_EPROTO, "hamster-meta serves MSG_META_REQ only");
        return 0;
    }
    Hm__MetaRequest *mreq = NULL;
    int rc = hm_rpc_unpack(req, &hm__meta_request__descriptor, (ProtobufCMessage **)&mreq);
    if (rc != 0) {
        hm_warn("meta", NULL, "malformed request from %s: %s", hm_rpc_peer_name(c),
                hm_err_name(rc));
        hm_rpc_send_error(c, id, rc == HM_EVERSION ? HM_EVERSION : HM_EPROTO,
                          "malformed MetaRequest");
        return 1;
    }
    Hm__MetaResponse *resp = NULL;
    rc = hm_meta_node_handle(node, mreq, &resp);
    hm__meta_request__free_unpacked(mreq, NULL);
    if (rc != 0)
        return hm_rpc_send_error(c, id, rc, hm_err_msg(rc)) != 0;
    rc = hm_rpc_send(c, HM__MSG_TYPE__MSG_META_RESP, id, 0, &resp->base, NULL, 0);
    hm__meta_response__free_unpacked(resp, NULL);
    return rc != 0;
}
