/* hm_err.h - error codes shared by every module.
 *
 * Functions return 0 on success or a negative HM_E* code; results travel
 * through out parameters.  Names and messages come from one X-macro table so
 * they cannot drift apart.  The numeric values are part of the RPC wire format
 * (RpcError.code, MetaResponse.err): append new codes, never renumber.
 * Mapping to S3 error codes happens once, in hamster-gw.
 */
#ifndef HM_ERR_H
#define HM_ERR_H

#define HM_ERRORS(X)                                                        \
    X(HM_OK,             0,  "success")                                    \
    X(HM_EINVAL,        -1,  "invalid argument")                           \
    X(HM_ENOMEM,        -2,  "out of memory")                              \
    X(HM_EIO,           -3,  "I/O error")                                  \
    X(HM_ENOSPC,        -4,  "no space left on device")                    \
    X(HM_ENOENT,        -5,  "not found")                                  \
    X(HM_EEXIST,        -6,  "already exists")                             \
    X(HM_ETIMEDOUT,     -7,  "timed out")                                  \
    X(HM_ECONN,         -8,  "connection failed")                          \
    X(HM_ETLS,          -9,  "TLS failure")                                \
    X(HM_EPROTO,        -10, "malformed message")                          \
    X(HM_ECORRUPT,      -11, "checksum mismatch")                          \
    X(HM_ETOOBIG,       -12, "too large")                                  \
    X(HM_EBUSY,         -13, "busy")                                       \
    X(HM_ECLOSED,       -14, "closed")                                     \
    X(HM_EPERM,         -15, "permission denied")                          \
    X(HM_EPOISONED,     -16, "handle poisoned by an earlier failure")      \
    X(HM_EVERSION,      -17, "unsupported format version")                 \
    X(HM_ENOBUCKET,     -18, "no such bucket")                             \
    X(HM_ENOKEY,        -19, "no such key")                                \
    X(HM_EBUCKETEXISTS, -20, "bucket already exists")                      \
    X(HM_ENOTEMPTY,     -21, "bucket not empty")                           \
    X(HM_EPRECOND,      -22, "precondition failed")                        \
    X(HM_EINTENT,       -23, "write intent expired")                       \
    X(HM_ECANCELED,     -24, "canceled")                                   \
    X(HM_EUNAVAIL,      -25, "service unavailable")                        \
    X(HM_ENOUPLOAD,     -26, "no such upload")                             \
    X(HM_EINTERNAL,     -27, "internal error")                             \
    X(HM_EFLOOR,        -28, "fewer shards durable than the write-ack floor") \
    X(HM_ENOTLEADER,    -29, "not the Raft leader")

enum hm_err {
#define HM_ERR_ENUM(name, value, msg) name = (value),
    HM_ERRORS(HM_ERR_ENUM)
#undef HM_ERR_ENUM
    HM_ERR_LAST = -28
};

/* Symbolic name of an error code ("HM_ENOENT"); "HM_E?" for unknown codes. */
const char *hm_err_name(int err);

/* Human message for an error code; "unknown error" for unknown codes. */
const char *hm_err_msg(int err);

/* Map an errno value (positive) to an HM_E* code. */
int hm_err_from_errno(int errnum);

#endif
