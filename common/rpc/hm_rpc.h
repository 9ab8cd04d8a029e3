/* hm_rpc.h - framed protobuf RPC over mutually authenticated TLS 1.3.
 *
 * Wire format (version HM_WIRE_VERSION), every integer little-endian:
 *
 *   offset size field
 *   0      4    magic        0x50524d48 ("HMRP")
 *   4      2    wire version 1
 *   6      2    msg type     hm.MsgType (proto/hm_rpc.proto)
 *   8      8    request id   chosen by the caller, echoed in replies
 *   16     4    flags        HM_FRAME_F_*
 *   20     4    proto length bytes of protobuf that follow the header
 *   24     4    bulk length  raw bytes that follow the protobuf
 *   28     4    header CRC32C of bytes 0..27
 *
 * then proto_len bytes of one packed protobuf message, then bulk_len raw
 * bytes (shard data travels as bulk, never inside protobuf).  A stream is a
 * run of frames with the same request id, all but the last flagged MORE.
 *
 * Model: a connection carries one call at a time.  A client borrows a
 * connection from a per-peer pool for the whole call (or stream) and gives
 * it back; a server runs one thread per connection that reads a request,
 * calls the handler and loops.  Blocking I/O with per-call deadlines gives
 * back-pressure without an event loop; the gateway is thread-per-connection
 * too, so a stream never buffers more than one frame.
 *
 * Security: TLS 1.3 only, both sides present a certificate signed by the
 * cluster CA; a peer with no certificate, one from another CA, or an expired
 * one fails the handshake (HM_ETLS).  The peer's node name is the subject CN.
 */
#ifndef HM_RPC_H
#define HM_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "hm_limits.h"

#define HM_WIRE_VERSION 1u
#define HM_FRAME_MAGIC 0x50524d48u

enum {
    HM_FRAME_F_MORE = 1u << 0, /* another frame of this stream follows */
};

typedef struct hm_frame_hdr {
    uint16_t type;
    uint64_t req_id;
    uint32_t flags;
    uint32_t proto_len;
    uint32_t bulk_len;
} hm_frame_hdr;

/* Encode a header into out (HM_RPC_FRAME_HDR_BYTES bytes).  Pure. */
void hm_frame_hdr_encode(const hm_frame_hdr *h, uint8_t out[32]);

/* Decode and validate a header: magic, wire version, CRC, lengths within
 * HM_RPC_PROTO_BYTES_MAX / HM_RPC_BULK_BYTES_MAX, unknown flag bits zero.
 * HM_EPROTO on any violation, HM_EVERSION on a wire version we do not speak.
 * Pure: safe on hostile bytes. */
int hm_frame_hdr_decode(const uint8_t in[32], hm_frame_hdr *out);

/* ---- TLS context ------------------------------------------------------- */

typedef struct hm_tls hm_tls;

/* Load the cluster CA certificate and this node's certificate and key (PEM
 * files).  The context serves both client and server roles.  HM_ETLS if the
 * files do not load or the key does not match the certificate. */
int hm_tls_new(hm_tls **out, const char *ca_cert_path, const char *cert_path,
               const char *key_path);

/* Convenience: the files `hamster-ctl init` wrote under data_dir. */
int hm_tls_new_from_data_dir(hm_tls **out, const char *data_dir);
void hm_tls_free(hm_tls *tls);

/* ---- connections ------------------------------------------------------- */

typedef struct hm_rpc_conn hm_rpc_conn;

/* A received frame.  proto and bulk point into the connection's buffer and
 * stay valid until the next hm_rpc_recv on the same connection. */
typedef struct hm_frame {
    hm_frame_hdr hdr;
    const uint8_t *proto;
    const uint8_t *bulk;
} hm_frame;

/* Send one frame.  msg may be NULL (proto_len 0); bulk may be NULL.  */
int hm_rpc_send(hm_rpc_conn *c, uint16_t type, uint64_t req_id, uint32_t flags,
                const ProtobufCMessage *msg, const void *bulk, uint32_t bulk_len);

/* Receive one frame, waiting until the connection's deadline.
 * HM_ECLOSED on an orderly close before a header, HM_ETIMEDOUT past the
 * deadline, HM_EPROTO on a malformed frame (the connection is then unusable). */
int hm_rpc_recv(hm_rpc_conn *c, hm_frame *out);

/* Send an MSG_ERROR frame carrying code and message. */
int hm_rpc_send_error(hm_rpc_conn *c, uint64_t req_id, int code, const char *msg);

/* Deadline for the following sends and receives, as a timeout from now;
 * <= 0 means none. */
void hm_rpc_set_timeout(hm_rpc_conn *c, int timeout_ms);

/* Node name (certificate CN) of the authenticated peer. */
const char *hm_rpc_peer_name(const hm_rpc_conn *c);

/* ---- client ------------------------------------------------------------ */

typedef struct hm_rpc_client hm_rpc_client;

/* A pool of connections to one peer ("host:port").  No connection is made
 * until the first acquire.  Thread-safe. */
int hm_rpc_client_new(hm_rpc_client **out, hm_tls *tls, const char *addr);
void hm_rpc_client_free(hm_rpc_client *cl);

/* Borrow a connection (an idle one, or a new one: connect + handshake within
 * HM_RPC_CONNECT_TIMEOUT_MS).  The call's timeout is set on it. */
int hm_rpc_client_acquire(hm_rpc_client *cl, int timeout_ms, hm_rpc_conn **out);

/* Give a connection back.  reusable false (any error mid-call) closes it. */
void hm_rpc_client_release(hm_rpc_client *cl, hm_rpc_conn *c, bool reusable);

/* A unary call: send req (+ optional bulk), receive one frame of resp_type
 * and unpack it with resp_desc into *resp (free with
 * protobuf_c_message_free_unpacked(*resp, NULL)).  An MSG_ERROR reply
 * returns its code (negative) and no message.  A connection that failed is
 * not reused; a call that failed to connect is retried once on a fresh
 * connection when an idle one turned out to be dead. */
int hm_rpc_call(hm_rpc_client *cl, uint16_t req_type, const ProtobufCMessage *req,
                const void *bulk, uint32_t bulk_len, uint16_t resp_type,
                const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, int timeout_ms);

/* Unpack a frame's protobuf with desc; HM_EPROTO when it does not parse,
 * HM_EVERSION when its format_version (field 1, if the message has one) is
 * outside HM_FORMAT_VERSION_MIN..MAX. */
int hm_rpc_unpack(const hm_frame *f, const ProtobufCMessageDescriptor *desc,
                  ProtobufCMessage **out);

/* ---- server ------------------------------------------------------------ */

typedef struct hm_rpc_server hm_rpc_server;

/* Called on the connection's thread for each request frame.  The handler
 * replies with hm_rpc_send (reading further frames of a stream with
 * hm_rpc_recv).  Return 0 to keep the connection, non-zero to close it. */
typedef int (*hm_rpc_handler)(void *ctx, hm_rpc_conn *c, const hm_frame *req);

/* Listen on addr ("host:port"; port 0 picks one, see bound_port) and serve
 * until stopped.  Handshakes and idle reads time out so a silent peer cannot
 * hold a thread forever. */
int hm_rpc_server_start(hm_rpc_server **out, hm_tls *tls, const char *addr,
                        hm_rpc_handler handler, void *ctx);
int hm_rpc_server_bound_port(const hm_rpc_server *s);
/* Stop accepting, close every connection, join every thread. */
void hm_rpc_server_stop(hm_rpc_server *s);

/* ---- transport pieces shared by conn.c, client.c and server.c ----------
 * Also usable on their own: a tool that wants one connection and no pool. */

struct ssl_ctx_st;

/* The OpenSSL context behind tls (both roles).  Owned by tls. */
struct ssl_ctx_st *hm_tls_ssl_ctx(hm_tls *tls);

/* Split "host:port" or "[v6 address]:port" into host (NUL-terminated) and
 * port.  Port 0 is allowed (a listener picks one).  HM_EINVAL otherwise. */
int hm_rpc_parse_addr(const char *addr, char *host, size_t host_cap,
                      uint16_t *port);

/* Connect to addr and complete the TLS handshake within timeout_ms.
 * HM_ECONN when no TCP connection is made, HM_ETIMEDOUT past the deadline,
 * HM_ETLS when the handshake or the peer's certificate is refused. */
int hm_rpc_conn_connect(hm_tls *tls, const char *addr, int timeout_ms,
                        hm_rpc_conn **out);

/* Run the server side of the handshake on an accepted socket within
 * timeout_ms.  On success the connection owns fd; on failure fd is left
 * open for the caller to close. */
int hm_rpc_conn_accept(hm_tls *tls, int fd, int timeout_ms, hm_rpc_conn **out);

/* Close: send close_notify if the connection is healthy, free it and close
 * its socket.  NULL is allowed. */
void hm_rpc_conn_close(hm_rpc_conn *c);

/* True when an error made the connection unusable. */
bool hm_rpc_conn_broken(const hm_rpc_conn *c);

/* Check an idle connection without blocking: false when the peer closed it,
 * sent something unexpected, or the connection is broken. */
bool hm_rpc_conn_idle_ok(hm_rpc_conn *c);

/* Give back memory a large frame made the receive buffer grow to. */
void hm_rpc_conn_trim(hm_rpc_conn *c);

/* Connections this client has opened so far (pool reuse is visible as a
 * count that does not grow). */
uint64_t hm_rpc_client_conns_opened(hm_rpc_client *cl);

/* Sockets accepted, and of those, the ones whose peer was authenticated. */
void hm_rpc_server_counters(hm_rpc_server *s, uint64_t *accepted,
                            uint64_t *authenticated);

#endif
