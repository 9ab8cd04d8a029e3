/* hm_gw_guard.h - refuse every protection Hamster does not provide yet.
 *
 * A request header (or POST form field) that asks for server-side
 * encryption, Object Lock, an access grant, an archive storage class or
 * another effect the store does not have must never be accepted and
 * silently dropped: the client would believe its data is encrypted,
 * undeletable or private when it is not.  One table, in hm_gw_guard.c,
 * lists every such header with the operations that carry it and the S3
 * error it gets; each write handler (and GetObject/HeadObject for the
 * SSE-C read headers) asks hm_guard_check before it reads a body byte or
 * creates anything, so a refused request leaves nothing behind.
 *
 * Shaping decision: the check is pure (headers come through a lookup
 * callback, the transport's security as a flag), so the same table serves
 * request headers and POST form fields and is tested without a server.
 * docs/s3-compatibility.md carries the table in prose ("honoured",
 * "harmless to ignore", "refused"); when a protection is implemented its
 * rows leave this table.
 *
 * References: AWS S3 API Reference, "PutObject", "CopyObject",
 * "CreateMultipartUpload", "UploadPart", "UploadPartCopy",
 * "CompleteMultipartUpload", "CreateBucket", "GetObject", "POST Object";
 * S3 User Guide, "Using server-side encryption with customer-provided keys
 * (SSE-C)" (HTTPS required), "Locking objects with Object Lock", "Access
 * control list (ACL) overview" (canned ACLs), "Storage classes".
 */
#ifndef HM_GW_GUARD_H
#define HM_GW_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "hm_s3err.h"

/* The operations a row applies to (a bit mask). */
enum {
    HM_GUARD_PUT_OBJECT = 1u << 0,
    HM_GUARD_POST_OBJECT = 1u << 1,     /* form fields of a browser upload */
    HM_GUARD_COPY_OBJECT = 1u << 2,
    HM_GUARD_CREATE_MPU = 1u << 3,
    HM_GUARD_UPLOAD_PART = 1u << 4,
    HM_GUARD_UPLOAD_PART_COPY = 1u << 5,
    HM_GUARD_COMPLETE_MPU = 1u << 6,
    HM_GUARD_CREATE_BUCKET = 1u << 7,
    HM_GUARD_GET_OBJECT = 1u << 8,      /* GetObject and HeadObject */
};
#define HM_GUARD_OPS_ALL 0x1ffu

/* How a row judges the value it finds. */
typedef enum hm_guard_kind {
    HM_GUARD_ANY = 0,      /* present at all: refused with err */
    HM_GUARD_VALUES,       /* accepted[] pass; known[] refused with err;
                            * any other value refused with err_unknown */
    HM_GUARD_SSE_C,        /* plain HTTP: 400 InvalidRequest (AWS refuses
                            * customer keys in clear text); HTTPS: err */
    HM_GUARD_CHECKSUM_TYPE /* x-amz-checksum-type: passes only for the type
                            * Hamster stores for x-amz-checksum-algorithm */
} hm_guard_kind;

typedef struct hm_guard_row {
    const char *name;              /* header or form field (case-insensitive) */
    unsigned ops;                  /* HM_GUARD_* mask */
    hm_guard_kind kind;
    const char *const *accepted;   /* HM_GUARD_VALUES: NULL-terminated */
    const char *const *known;      /* HM_GUARD_VALUES: NULL-terminated, may be NULL */
    bool values_nocase;            /* compare values case-insensitively */
    hm_s3err err;                  /* the refusal */
    hm_s3err err_unknown;          /* HM_GUARD_VALUES: a value AWS does not define */
    const char *lead;              /* message start (AWS's wording), or NULL */
    const char *why;               /* message end: what Hamster lacks */
    bool echo_value;               /* name the value in the message (never keys) */
    const char *example;           /* a value this row refuses (tests, docs) */
} hm_guard_row;

/* A header's value ("" for present without value), or NULL when absent. */
typedef const char *(*hm_guard_lookup_fn)(void *ctx, const char *name);

#define HM_GUARD_MESSAGE_BYTES 320u
#define HM_GUARD_ECHO_BYTES_MAX 64u  /* of a refused value, printable ASCII */

typedef struct hm_guard_refusal {
    hm_s3err err;
    const hm_guard_row *row;
    char message[HM_GUARD_MESSAGE_BYTES]; /* names the header */
} hm_guard_refusal;

/* The table, in the order it is checked (SSE-C first: AWS refuses a
 * customer key over plain HTTP before anything else). */
const hm_guard_row *hm_guard_rows(size_t *count);

/* Check the request of operation op (one HM_GUARD_* bit) against every
 * row for it.  secure: the request came over TLS.  Returns false when
 * nothing is refused; true with *out filled for the first refusal.  Never
 * allocates; lookup is called once per row that applies. */
bool hm_guard_check(unsigned op, bool secure, hm_guard_lookup_fn lookup, void *ctx,
                    hm_guard_refusal *out);

#endif
