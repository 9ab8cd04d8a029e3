/* hm_pb.c - see hm_pb.h. */
#include "hm_pb.h"

#include <stdint.h>
#include <string.h>

bool hm_pb_tags_valid(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0) return false;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which;
            memcpy(&which, base + fd->quantifier_offset, sizeof(which));
            if (which != fd->id) continue; /* the union holds another member */
        }
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            ProtobufCMessage **arr;
            memcpy(&n, base + fd->quantifier_offset, sizeof(n));
            memcpy(&arr, base + fd->offset, sizeof(arr));
            for (size_t j = 0; j < n; j++)
                if (!hm_pb_tags_valid(arr[j])) return false;
        } else {
            ProtobufCMessage *sub;
            memcpy(&sub, base + fd->offset, sizeof(sub));
            if (sub != NULL && !hm_pb_tags_valid(sub)) return false;
        }
    }
    return true;
}
