/* hm_chunked.h - a resumable decoder for S3's aws-chunked request bodies.
 *
 * Reference: AWS S3 API Reference, "Signature Calculations for the
 * Authorization Header: Transferring Payload in Multiple Chunks (Chunked
 * Upload) (AWS Signature Version 4)" and "... Including Trailing Headers";
 * S3 User Guide, "Checking object integrity" (trailing checksums).
 *
 * The three forms, chosen by x-amz-content-sha256:
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD
 *     <hex>;chunk-signature=<64 hex>\r\n <data> \r\n ... 0;chunk-signature=<sig>\r\n \r\n
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
 *     as above, then after the 0-size chunk the trailer lines
 *     x-amz-checksum-<algo>:<base64>\r\n x-amz-trailer-signature:<64 hex>\r\n \r\n
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER
 *     <hex>\r\n <data> \r\n ... 0\r\n x-amz-checksum-<algo>:<base64>\r\n \r\n
 * Chunk signature i signs "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n"
 * sig(i-1) "\n" hex(SHA256("")) "\n" hex(SHA256(data i)), sig(0) being the
 * request's seed signature; the trailer signature chains from the last
 * chunk's and covers the trailer lines as "name:value\n".
 *
 * Shaping decisions (nginx's ngx_http_parse_chunked is the model):
 *  - Push parser: input arrives in arbitrary slices; decoded bytes are
 *    handed to a sink as they arrive, so the only buffer is one control
 *    line (HM_CHUNKED_LINE_BYTES_MAX).  A signed chunk's bytes reach the
 *    sink before its signature can be checked (the signature follows the
 *    data it covers only logically: it is checked at the chunk's end); the
 *    caller must therefore treat everything as provisional until
 *    hm_chunked_finish returns 0, and discard it otherwise (the gateway
 *    aborts the put: nothing is stored).
 *  - Strict: bounded control lines, CRLF only, hex sizes with overflow
 *    checked before the shift, a chunk size cap, the decoded total must
 *    equal x-amz-decoded-content-length, every chunk signature and the
 *    trailer signature checked in constant time, only the declared
 *    checksum trailer (and, signed, the trailer signature) accepted, each
 *    once.  Lenient in one place: the final empty line may be missing at
 *    the end of input (some clients stop after the last trailer).
 *  - S3's minimum of 8 KiB for non-final signed chunks is not enforced:
 *    SDKs that stream without buffering send smaller ones.
 *  - The declared checksum trailer is computed over the decoded bytes here
 *    and compared with the trailer at the end (BAD_DIGEST on mismatch); the
 *    verified value is then available to store.
 *  - Errors: 0 or a negative HM_E* plus a reason (hm_chunked_reason) that
 *    names the S3 error; the first error sticks.  No allocation happens
 *    after hm_chunked_new.
 *
 * Thread safety: a decoder belongs to one thread at a time.
 */
#ifndef HM_CHUNKED_H
#define HM_CHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_checksum.h"
#include "hm_sigv4.h"

/* Longest control line (chunk header or trailer line) without its CRLF:
 * "ffffffff;chunk-signature=" + 64 hex is 89 bytes, the trailer signature
 * line 88, the longest checksum trailer 65. */
#define HM_CHUNKED_LINE_BYTES_MAX 256u
/* Largest single chunk: SDKs send 8 KiB to 1 MiB; a signed chunk's bytes
 * are provisional until its signature is checked, so this also bounds how
 * much unverified data passes before a forgery is caught. */
#define HM_CHUNKED_CHUNK_BYTES_MAX (16u << 20)
/* Trailer lines accepted (one checksum, one signature). */
#define HM_CHUNKED_TRAILERS_MAX 2u

typedef enum hm_chunked_mode {
    HM_CHUNKED_SIGNED = 1,          /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    HM_CHUNKED_SIGNED_TRAILER,      /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    HM_CHUNKED_UNSIGNED_TRAILER,    /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
} hm_chunked_mode;

/* The mode of an x-amz-content-sha256 value.  0, or HM_EINVAL when it is
 * not one of the three (STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, SigV4a,
 * is not supported). */
int hm_chunked_mode_parse(const char *content_sha256, hm_chunked_mode *out);

/* Why decoding stopped. */
typedef enum hm_chunked_reason {
    HM_CHUNKED_OK = 0,
    HM_CHUNKED_MALFORMED,       /* framing: bad size line, missing CRLF, data
                                 * after the end, over-long line (HM_EPROTO) */
    HM_CHUNKED_CHUNK_TOO_BIG,   /* a chunk over HM_CHUNKED_CHUNK_BYTES_MAX
                                 * (HM_ETOOBIG) */
    HM_CHUNKED_TOO_LONG,        /* more data than the decoded length
                                 * (HM_ETOOBIG) */
    HM_CHUNKED_INCOMPLETE,      /* the body ended early, or the final chunk
                                 * came before the decoded length (HM_EPROTO) */
    HM_CHUNKED_SIGNATURE,       /* a chunk or trailer signature is wrong
                                 * (HM_EPERM) */
    HM_CHUNKED_BAD_TRAILER,     /* malformed, unknown, repeated or missing
                                 * trailer (HM_EPROTO) */
    HM_CHUNKED_BAD_DIGEST,      /* the checksum trailer does not match the
                                 * data (HM_ECORRUPT) */
    HM_CHUNKED_SINK,            /* the sink failed; its code is returned */
    HM_CHUNKED_INTERNAL,        /* crypto failure (HM_EINTERNAL) */
} hm_chunked_reason;

/* Stable short name of a reason ("SIGNATURE"), for logs. */
const char *hm_chunked_reason_name(hm_chunked_reason reason);

typedef struct hm_chunked_config {
    hm_chunked_mode mode;
    uint64_t decoded_length;        /* x-amz-decoded-content-length */
    hm_cksum_algo trailer_algo;     /* named by x-amz-trailer; NONE: no
                                     * checksum trailer allowed */
    /* signed modes: what the request's verification proved (borrowed for
     * the call; copied) */
    const uint8_t *signing_key;     /* HM_SIGV4_KEY_BYTES */
    const char *amz_date;           /* "20130524T000000Z" */
    const char *scope;              /* "20130524/us-east-1/s3/aws4_request" */
    const char *seed_signature;     /* 64 lower hex */
} hm_chunked_config;

typedef struct hm_chunked hm_chunked;

/* Where decoded bytes go.  Return 0, or a negative HM_E* to stop decoding
 * (hm_chunked_feed then returns it with reason SINK). */
typedef int (*hm_chunked_sink)(void *ctx, const void *data, size_t len);

/* Make a decoder.  HM_EINVAL for a bad config (a signed mode without key,
 * date, scope or a 64-hex seed; an unsigned mode with a checksum algo out
 * of range), HM_ENOMEM, HM_EINTERNAL. */
int hm_chunked_new(hm_chunked **out, const hm_chunked_config *cfg);

void hm_chunked_free(hm_chunked *d);

/* Decode the next len bytes of the body (any slicing, len 0 allowed),
 * passing decoded data to sink(ctx, ...) in order.  0 when all of in was
 * consumed without error; otherwise the error (see hm_chunked_reason) and
 * every later call returns it again. */
int hm_chunked_feed(hm_chunked *d, const void *in, size_t len, hm_chunked_sink sink,
                    void *ctx);

/* The body has ended.  0 when the encoding was complete and every check
 * passed (the data handed to the sink is then genuine); HM_EPROTO with
 * reason INCOMPLETE when the body stopped early, or the sticky error. */
int hm_chunked_finish(hm_chunked *d);

/* The reason for the error returned, HM_CHUNKED_OK if none. */
hm_chunked_reason hm_chunked_reason_of(const hm_chunked *d);

/* After hm_chunked_finish returned 0: the verified checksum trailer into
 * *out, or HM_ENOENT when none was declared. */
int hm_chunked_trailer_checksum(const hm_chunked *d, hm_cksum_value *out);

/* Decoded bytes so far. */
uint64_t hm_chunked_decoded(const hm_chunked *d);

#endif
