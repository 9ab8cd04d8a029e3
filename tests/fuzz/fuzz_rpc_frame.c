/* fuzz_rpc_frame.c - RPC frames from a hostile peer: the 32-byte header
 * decoder, then the protobuf body unpacked as the messages a node accepts
 * (MetaRequest, ShardPutReq, RpcError) with hm_rpc_unpack's format-version
 * check.  A header that decodes re-encodes to the same bytes; a message
 * that unpacks packs and unpacks again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_meta.pb-c.h"
#include "hm_rpc.h"
#include "hm_rpc.pb-c.h"
#include "hm_shard.pb-c.h"

#define FUZZ_HDR_BYTES 32u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    hm_frame f;
    memset(&f, 0, sizeof(f));
    if (size >= FUZZ_HDR_BYTES) {
        int rc = hm_frame_hdr_decode(data, &f.hdr);
        if (rc == 0) {
            uint8_t back[FUZZ_HDR_BYTES];
            hm_frame_hdr_encode(&f.hdr, back);
            if (memcmp(back, data, FUZZ_HDR_BYTES) != 0) abort();
            if (f.hdr.proto_len > HM_RPC_PROTO_BYTES_MAX || f.hdr.bulk_len > HM_RPC_BULK_BYTES_MAX)
                abort();
        } else if (rc != HM_EPROTO && rc != HM_EVERSION) {
            abort();
        }
        data += FUZZ_HDR_BYTES;
        size -= FUZZ_HDR_BYTES;
    }
    /* The body as the receiver sees it: proto_len bytes (the rest). */
    if (size > HM_RPC_PROTO_BYTES_MAX) return 0;
    f.hdr.proto_len = (uint32_t)size;
    f.proto = data;
    static const ProtobufCMessageDescriptor *const descs[] = {
        &hm__meta_request__descriptor, &hm__shard_put_req__descriptor,
        &hm__rpc_error__descriptor,    &hm__meta_response__descriptor,
        &hm__shard_header__descriptor,
    };
    const ProtobufCMessageDescriptor *d = descs[sel % (sizeof(descs) / sizeof(descs[0]))];
    ProtobufCMessage *m = NULL;
    int rc = hm_rpc_unpack(&f, d, &m);
    if (rc == 0) {
        /* What was accepted packs again and unpacks again: a record a
         * node stores after a read-modify-write stays readable. */
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n + 1);
        if (buf == NULL) abort();
        if (protobuf_c_message_pack(m, buf) != n) abort();
        hm_frame g = f;
        g.hdr.proto_len = (uint32_t)n;
        g.proto = buf;
        ProtobufCMessage *m2 = NULL;
        if (hm_rpc_unpack(&g, d, &m2) != 0) abort();
        if (protobuf_c_message_get_packed_size(m2) != n) abort();
        protobuf_c_message_free_unpacked(m2, NULL);
        free(buf);
        protobuf_c_message_free_unpacked(m, NULL);
    } else if (rc != HM_EPROTO && rc != HM_EVERSION) {
        abort();
    }
    return 0;
}
