/* hm_s3err.h - S3 error codes, their HTTP status and message as AWS sends
 * them, the one mapping from HM_E* and SigV4 reasons, and the error body.
 *
 * Shaping decision: one X-macro table is the only place a code, its status
 * and its default message are written, so they cannot drift; every other
 * module names errors by enum and never by string.  Internal errors map to
 * S3 errors here and nowhere else (STYLE: "map to S3 codes once").
 * Reference: AWS S3 API Reference, "Error Responses" (List of error codes,
 * REST error responses).
 */
#ifndef HM_S3ERR_H
#define HM_S3ERR_H

#include <stddef.h>

#include "hm_sigv4.h"
#include "hm_xml.h"

/* X(enum, Code, HTTP status, default Message) */
#define HM_S3_ERRORS(X)                                                       \
    X(HM_S3_ACCESS_DENIED, "AccessDenied", 403, "Access Denied")              \
    X(HM_S3_ACCESS_FORBIDDEN, "AccessForbidden", 403,                         \
      "CORSResponse: This CORS request is not allowed.")                     \
    X(HM_S3_AUTH_HEADER_MALFORMED, "AuthorizationHeaderMalformed", 400,       \
      "The authorization header is malformed.")                              \
    X(HM_S3_AUTH_QUERY_ERROR, "AuthorizationQueryParametersError", 400,       \
      "Query-string authentication version 4 requires the X-Amz-Algorithm, "  \
      "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "  \
      "and X-Amz-Expires parameters.")                                       \
    X(HM_S3_BAD_DIGEST, "BadDigest", 400,                                     \
      "The Content-MD5 you specified did not match what we received.")        \
    X(HM_S3_BUCKET_ALREADY_EXISTS, "BucketAlreadyExists", 409,                \
      "The requested bucket name is not available. The bucket namespace is "  \
      "shared by all users of the system. Please select a different name "    \
      "and try again.")                                                      \
    X(HM_S3_BUCKET_ALREADY_OWNED, "BucketAlreadyOwnedByYou", 409,             \
      "Your previous request to create the named bucket succeeded and you "   \
      "already own it.")                                                     \
    X(HM_S3_BUCKET_NOT_EMPTY, "BucketNotEmpty", 409,                          \
      "The bucket you tried to delete is not empty")                         \
    X(HM_S3_ENTITY_TOO_LARGE, "EntityTooLarge", 400,                          \
      "Your proposed upload exceeds the maximum allowed size")               \
    X(HM_S3_ENTITY_TOO_SMALL, "EntityTooSmall", 400,                          \
      "Your proposed upload is smaller than the minimum allowed size")       \
    X(HM_S3_EXPIRED_TOKEN, "ExpiredToken", 400,                               \
      "The provided token has expired.")                                     \
    X(HM_S3_INCOMPLETE_BODY, "IncompleteBody", 400,                           \
      "You did not provide the number of bytes specified by the "             \
      "Content-Length HTTP header.")                                         \
    X(HM_S3_INTERNAL_ERROR, "InternalError", 500,                             \
      "We encountered an internal error. Please try again.")                 \
    X(HM_S3_INVALID_ACCESS_KEY_ID, "InvalidAccessKeyId", 403,                 \
      "The AWS Access Key Id you provided does not exist in our records.")    \
    X(HM_S3_INVALID_ARGUMENT, "InvalidArgument", 400, "Invalid Argument")     \
    X(HM_S3_INVALID_BUCKET_NAME, "InvalidBucketName", 400,                    \
      "The specified bucket is not valid.")                                  \
    X(HM_S3_INVALID_BUCKET_STATE, "InvalidBucketState", 409,                  \
      "The request is not valid with the current state of the bucket.")      \
    X(HM_S3_INVALID_CHUNK_SIZE, "InvalidChunkSizeError", 403,                 \
      "Only the last chunk is allowed to have a size less than 8192 bytes")   \
    X(HM_S3_INVALID_DIGEST, "InvalidDigest", 400,                             \
      "The Content-MD5 you specified is not valid.")                         \
    X(HM_S3_INVALID_LOCATION_CONSTRAINT, "InvalidLocationConstraint", 400,    \
      "The specified location-constraint is not valid")                      \
    X(HM_S3_INVALID_OBJECT_STATE, "InvalidObjectState", 403,                  \
      "The operation is not valid for the object's storage class")           \
    X(HM_S3_INVALID_PART, "InvalidPart", 400,                                 \
      "One or more of the specified parts could not be found.  The part may " \
      "not have been uploaded, or the specified entity tag may not match the "\
      "part's entity tag.")                                                  \
    X(HM_S3_INVALID_PART_NUMBER, "InvalidPartNumber", 416,                    \
      "The requested partnumber is not satisfiable")                         \
    X(HM_S3_INVALID_PART_ORDER, "InvalidPartOrder", 400,                      \
      "The list of parts was not in ascending order. Parts must be ordered "  \
      "by part number.")                                                     \
    X(HM_S3_INVALID_POLICY_DOCUMENT, "InvalidPolicyDocument", 400,            \
      "The content of the form does not meet the conditions specified in "    \
      "the policy document.")                                                \
    X(HM_S3_INVALID_RANGE, "InvalidRange", 416,                               \
      "The requested range is not satisfiable")                              \
    X(HM_S3_INVALID_REQUEST, "InvalidRequest", 400, "Invalid Request")        \
    X(HM_S3_INVALID_STORAGE_CLASS, "InvalidStorageClass", 400,                \
      "The storage class you specified is not valid")                        \
    X(HM_S3_INVALID_TAG, "InvalidTag", 400,                                   \
      "The TagValue you have provided is invalid")                           \
    X(HM_S3_KEY_TOO_LONG, "KeyTooLongError", 400, "Your key is too long")     \
    X(HM_S3_MALFORMED_POST, "MalformedPOSTRequest", 400,                      \
      "The body of your POST request is not well-formed "                     \
      "multipart/form-data.")                                                \
    X(HM_S3_MALFORMED_TRAILER, "MalformedTrailerError", 400,                  \
      "The request contained trailing data that was not well-formed or did "  \
      "not conform to our published schema.")                                \
    X(HM_S3_MALFORMED_XML, "MalformedXML", 400,                               \
      "The XML you provided was not well-formed or did not validate against " \
      "our published schema")                                                \
    X(HM_S3_METADATA_TOO_LARGE, "MetadataTooLarge", 400,                      \
      "Your metadata headers exceed the maximum allowed metadata size.")      \
    X(HM_S3_METHOD_NOT_ALLOWED, "MethodNotAllowed", 405,                      \
      "The specified method is not allowed against this resource.")          \
    X(HM_S3_MISSING_CONTENT_LENGTH, "MissingContentLength", 411,              \
      "You must provide the Content-Length HTTP header.")                    \
    X(HM_S3_MISSING_REQUEST_BODY, "MissingRequestBodyError", 400,             \
      "Request Body is empty")                                               \
    X(HM_S3_NO_SUCH_BUCKET, "NoSuchBucket", 404,                              \
      "The specified bucket does not exist")                                 \
    X(HM_S3_NO_SUCH_CORS, "NoSuchCORSConfiguration", 404,                     \
      "The CORS configuration does not exist")                               \
    X(HM_S3_NO_SUCH_KEY, "NoSuchKey", 404, "The specified key does not exist.") \
    X(HM_S3_NO_SUCH_LIFECYCLE, "NoSuchLifecycleConfiguration", 404,           \
      "The lifecycle configuration does not exist")                          \
    X(HM_S3_NO_SUCH_TAG_SET, "NoSuchTagSet", 404, "The TagSet does not exist") \
    X(HM_S3_NO_SUCH_UPLOAD, "NoSuchUpload", 404,                              \
      "The specified upload does not exist. The upload ID may be invalid, "   \
      "or the upload may have been aborted or completed.")                   \
    X(HM_S3_NO_SUCH_VERSION, "NoSuchVersion", 404,                            \
      "The specified version does not exist.")                               \
    X(HM_S3_NOT_IMPLEMENTED, "NotImplemented", 501,                           \
      "A header you provided implies functionality that is not implemented") \
    X(HM_S3_OBJECT_LOCK_NOT_FOUND, "ObjectLockConfigurationNotFoundError",    \
      404, "Object Lock configuration does not exist for this bucket")       \
    X(HM_S3_PRECONDITION_FAILED, "PreconditionFailed", 412,                   \
      "At least one of the pre-conditions you specified did not hold")       \
    X(HM_S3_REQUEST_HEADER_TOO_LARGE, "RequestHeaderSectionTooLarge", 400,    \
      "Your request header section exceeds the maximum allowed size.")       \
    X(HM_S3_REQUEST_TIME_TOO_SKEWED, "RequestTimeTooSkewed", 403,             \
      "The difference between the request time and the current time is too " \
      "large.")                                                              \
    X(HM_S3_REQUEST_TIMEOUT, "RequestTimeout", 400,                           \
      "Your socket connection to the server was not read from or written to " \
      "within the timeout period.")                                          \
    X(HM_S3_SSE_CONFIG_NOT_FOUND,                                             \
      "ServerSideEncryptionConfigurationNotFoundError", 404,                  \
      "The server side encryption configuration was not found")              \
    X(HM_S3_SERVICE_UNAVAILABLE, "ServiceUnavailable", 503,                   \
      "Service is unable to handle request.")                                \
    X(HM_S3_INSUFFICIENT_STORAGE, "InsufficientStorage", 507,                 \
      "Insufficient storage to complete the request.")                       \
    X(HM_S3_SIGNATURE_DOES_NOT_MATCH, "SignatureDoesNotMatch", 403,           \
      "The request signature we calculated does not match the signature you " \
      "provided. Check your key and signing method.")                        \
    X(HM_S3_SLOW_DOWN, "SlowDown", 503, "Please reduce your request rate.")   \
    X(HM_S3_CONTENT_SHA256_MISMATCH, "XAmzContentSHA256Mismatch", 400,        \
      "The provided 'x-amz-content-sha256' header does not match what was "   \
      "computed.")

typedef enum hm_s3err {
#define HM_S3ERR_ENUM(e, code, status, msg) e,
    HM_S3_ERRORS(HM_S3ERR_ENUM)
#undef HM_S3ERR_ENUM
    HM_S3ERR_COUNT
} hm_s3err;

/* The AWS code ("NoSuchKey").  Out-of-range values give "InternalError". */
const char *hm_s3err_code(hm_s3err err);

/* The HTTP status (404).  Out-of-range values give 500. */
int hm_s3err_status(hm_s3err err);

/* The default message.  Out-of-range values give InternalError's. */
const char *hm_s3err_message(hm_s3err err);

/* Reverse lookup by exact code string (clients and tests).  Returns 0 and
 * *out, or HM_ENOENT. */
int hm_s3err_by_code(const char *code, hm_s3err *out);

/* The one mapping from an internal error to the S3 error:
 *   HM_ENOBUCKET -> NoSuchBucket       HM_ENOKEY -> NoSuchKey
 *   HM_ENOTEMPTY -> BucketNotEmpty     HM_ENOUPLOAD -> NoSuchUpload
 *   HM_EBUCKETEXISTS -> BucketAlreadyOwnedByYou (one namespace, one owner)
 *   HM_EPRECOND -> PreconditionFailed  HM_EPERM -> AccessDenied
 *   HM_EBUSY -> SlowDown (back-pressure: the client should back off)
 *   HM_EFLOOR -> SlowDown (a write below the write-ack floor: fewer disks
 *     took its shards than it needs; nothing became visible)
 *   HM_ENOSPC -> InsufficientStorage (507: a disk is full, one disk or
 *     below the floor of several)
 *   HM_EUNAVAIL, HM_ENOMEM, HM_ETIMEDOUT, HM_ECONN
 *     -> ServiceUnavailable (503, retried by every SDK)
 *   anything else (0 included, which is a caller bug) -> InternalError.
 * Request-shape errors (InvalidArgument, EntityTooLarge, ...) are chosen by
 * the handler that knows the context, not from an HM_E* code. */
hm_s3err hm_s3err_from_hm(int err);

/* The S3 error for a SigV4 refusal, and (if message_out is not NULL) the
 * message AWS sends for it (static).  HM_SIGV4_OK maps to InternalError
 * (a caller bug). */
hm_s3err hm_s3err_from_sigv4(hm_sigv4_reason reason, const char **message_out);

/* An extra element of the error body (<BucketName>, <Key>, <UploadId>,
 * <HeadersNotSigned>, ...). name must be an XML name. */
typedef struct hm_s3err_extra {
    const char *name;
    const char *value;
} hm_s3err_extra;

typedef struct hm_s3err_body {
    hm_s3err err;
    const char *message;       /* NULL: the default message */
    const char *resource;      /* e.g. "/bucket/key"; NULL: omitted */
    const char *request_id;    /* NULL: omitted */
    const char *host_id;       /* NULL: omitted */
    const hm_s3err_extra *extra;
    size_t extra_count;        /* at most HM_S3ERR_EXTRA_MAX */
} hm_s3err_body;

#define HM_S3ERR_EXTRA_MAX 8u

/* Append the AWS error document to w:
 *   <?xml version="1.0" encoding="UTF-8"?>
 *   <Error><Code>..</Code><Message>..</Message>(extras)<Resource>..</Resource>
 *   <RequestId>..</RequestId><HostId>..</HostId></Error>
 * (no namespace on <Error>, as S3 sends it).  All text is escaped.
 * Returns 0, HM_EINVAL (err out of range, too many extras, bad extra name)
 * or the writer's sticky error. */
int hm_s3err_render(const hm_s3err_body *body, hm_xml_writer *w);

#endif
