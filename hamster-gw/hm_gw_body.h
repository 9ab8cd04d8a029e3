/* hm_gw_body.h - the request body pipeline PutObject and UploadPart share:
 * framing (plain or aws-chunked), payload signatures, and every digest a
 * client can send (Content-MD5, x-amz-content-sha256, x-amz-checksum-*
 * headers and trailers).
 *
 * References: AWS S3 API Reference, "PutObject", "UploadPart", "Common
 * Request Headers"; "Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks"; S3 User Guide, "Checking object
 * integrity in Amazon S3".
 *
 * Use (one pipeline per request, one thread at a time):
 *
 *   gw_body *b; hm_s3err e; const char *msg;
 *   if (gw_body_begin(r, &b, &e, &msg) != 0) answer gw_send_error(r, e, msg)
 *   store args: size = gw_body_size(b), content_md5 = gw_body_content_md5(b),
 *               sha256 = gw_body_sha256(b) (the store checks these two),
 *               Content-Encoding = gw_body_content_encoding(b) (aws-chunked
 *               removed; NULL: store none)
 *   each upload piece: gw_body_feed(b, data, len, sink, sink_ctx)
 *       sink gets the decoded bytes (gw_body_sink_put for hm_objsvc_put)
 *   end of body: gw_body_finish(b, &ck, &has_ck)
 *       0: every check passed; when has_ck, ck is the verified flexible
 *          checksum to store (ObjectVersion.checksums / PartRecord.checksums)
 *       else: abort the store, answer gw_body_error(b, &msg)
 *   gw_body_free(b)
 *
 * Shaping decisions:
 *  - The mode comes from the signed x-amz-content-sha256: a STREAMING-*
 *    value means aws-chunked (hm_chunked.h), with x-amz-decoded-content-
 *    length the object's size; anything else is a plain body of
 *    Content-Length bytes.  Content-Encoding: aws-chunked is neither
 *    required nor stored.
 *  - Bytes reach the sink as they arrive and are provisional until finish
 *    returns 0 (a chunk's signature follows its data, a trailer checksum
 *    the whole body): the caller aborts its store on any failure, so
 *    nothing half-checked is ever visible.  Memory: one control line.
 *  - One flexible checksum per request, as S3 allows: an x-amz-checksum-
 *    <algo> header, or a trailer named by x-amz-trailer (aws-chunked
 *    trailer forms only).  x-amz-sdk-checksum-algorithm must agree.
 *  - The first failure sticks and carries the S3 error AWS sends for it.
 */
#ifndef HM_GW_BODY_H
#define HM_GW_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_checksum.h"
#include "hm_chunked.h"
#include "hm_gw_int.h"

typedef struct gw_body gw_body;

/* Read the request's headers (and its verified auth, r->auth) and prepare
 * the pipeline.  0 and *out; on a refused request a negative HM_E* with
 * *err and *msg (static or NULL: the default message) to answer:
 * MissingContentLength, InvalidArgument (bad lengths), InvalidDigest (bad
 * Content-MD5), InvalidRequest (bad, repeated or conflicting checksum
 * headers), NotImplemented (an unsupported STREAMING-* form),
 * ServiceUnavailable (HM_ENOMEM). */
int gw_body_begin(gw_req *r, gw_body **out, hm_s3err *err, const char **msg);

/* The object's (decoded) size in bytes. */
uint64_t gw_body_size(const gw_body *b);

/* 16 bytes of Content-MD5, or NULL; valid until gw_body_free. */
const uint8_t *gw_body_content_md5(const gw_body *b);

/* 32 bytes of a signed plain payload's SHA-256, or NULL. */
const uint8_t *gw_body_sha256(const gw_body *b);

/* The Content-Encoding to store: the request's without "aws-chunked";
 * NULL when nothing is left.  Valid until gw_body_free. */
const char *gw_body_content_encoding(const gw_body *b);

/* The flexible checksum algorithm the request carries (NONE if none). */
hm_cksum_algo gw_body_checksum_algo(const gw_body *b);

/* Where decoded bytes go: 0 or a negative HM_E* to stop. */
typedef int (*gw_body_sink)(void *ctx, const void *data, size_t len);

/* The sink for an hm_objsvc_put (ctx): hm_objsvc_put_write. */
int gw_body_sink_put(void *ctx, const void *data, size_t len);

/* Take the next len raw body bytes.  0, or the sticky error (see
 * gw_body_error); after an error later calls do nothing and return it. */
int gw_body_feed(gw_body *b, const void *data, size_t len, gw_body_sink sink, void *ctx);

/* The body has ended: check the length, the framing, the signatures and
 * the flexible checksum.  0 with *has_cksum and *cksum (the verified value)
 * set; else the sticky error.  Content-MD5 and the plain SHA-256 are left
 * to the store (hm_objsvc_put_args). */
int gw_body_finish(gw_body *b, hm_cksum_value *cksum, bool *has_cksum);

/* The S3 error of the failure (and its message, valid until gw_body_free;
 * NULL: the default); HM_S3_INTERNAL_ERROR if there was none. */
hm_s3err gw_body_error(const gw_body *b, const char **msg);

void gw_body_free(gw_body *b);

#endif
