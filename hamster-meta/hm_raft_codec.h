/* hm_raft_codec.h - Raft messages on the wire (proto/hm_raft.proto).
 *
 * A peer's message is hostile even with a valid certificate: decoding
 * bounds every field before the core sees it, and a message that fails
 * is refused (HM_ECORRUPT, or HM_EVERSION for a format this build does
 * not read), never half-taken.  The core's own checks (hm_raft_step) come
 * on top: which node, which type, entries that follow log_index.
 */
#ifndef HM_RAFT_CODEC_H
#define HM_RAFT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "hm_raft.h"

#define HM_RAFT_WIRE_VERSION 1u
#define HM_RAFT_MSG_ENTRIES_MAX 1024u               /* entries in one message */
#define HM_RAFT_ENTRY_BYTES_MAX (4u << 20)          /* one entry's data */
#define HM_RAFT_MSG_BYTES_MAX (8u << 20)            /* one encoded message */

/* Encode m (its entries included) into a malloc'd buffer *out of *len
 * bytes (free it).  HM_ETOOBIG past the bounds above, HM_ENOMEM. */
int hm_raft_msg_encode(const hm_raft_msg *m, uint8_t **out, size_t *len);

/* A decoded message: msg points into it; free with hm_raft_msg_decoded_free. */
typedef struct hm_raft_msg_decoded {
    hm_raft_msg msg;
    hm_raft_entry *entries;
    void *pb;               /* the protobuf-c message the entries' data live in */
} hm_raft_msg_decoded;

/* Decode len bytes.  0, HM_ECORRUPT (not a message, an unknown or tag-0
 * field, a field out of its bounds: type, kind, entry count or size),
 * HM_EVERSION (a format_version this build does not read), HM_ENOMEM. */
int hm_raft_msg_decode(const uint8_t *buf, size_t len, hm_raft_msg_decoded *out);
void hm_raft_msg_decoded_free(hm_raft_msg_decoded *d);

#endif
