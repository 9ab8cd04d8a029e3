/* hm_pb.h - checks on protobuf-c messages decoded from hostile bytes.
 *
 * protobuf-c keeps an unknown field whose tag came as an over-long varint
 * of field number 0 (which protobuf forbids) and packs it back as the
 * single byte 00, which its own unpack then refuses: a message accepted
 * once would not read back after a read-modify-write.  Every decoder of
 * bytes from the network or a disk refuses such a message. */
#ifndef HM_PB_H
#define HM_PB_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

/* False when m or any message inside it holds an unknown field of tag 0.
 * Nesting is bounded by the schema (no proto in proto/ is recursive). */
bool hm_pb_tags_valid(const ProtobufCMessage *m);

#endif
