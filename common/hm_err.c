/* hm_err.c - names and messages for HM_E* codes, from the X-macro table. */
#include "hm_err.h"

#include <errno.h>

const char *hm_err_name(int err)
{
    switch (err) {
#define HM_ERR_NAME(name, value, msg) case value: return #name;
    HM_ERRORS(HM_ERR_NAME)
#undef HM_ERR_NAME
    default: return "HM_E?";
    }
}

const char *hm_err_msg(int err)
{
    switch (err) {
#define HM_ERR_MSG(name, value, msg) case value: return msg;
    HM_ERRORS(HM_ERR_MSG)
#undef HM_ERR_MSG
    default: return "unknown error";
    }
}

int hm_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0: return HM_OK;
    case ENOMEM: return HM_ENOMEM;
    case ENOSPC: case EDQUOT: return HM_ENOSPC;
    case ENOENT: return HM_ENOENT;
    case EEXIST: return HM_EEXIST;
    case ETIMEDOUT: case EAGAIN: return HM_ETIMEDOUT;
    case ECONNREFUSED: case ECONNRESET: case EPIPE: case EHOSTUNREACH:
    case ENETUNREACH: case ECONNABORTED: return HM_ECONN;
    case EACCES: case EPERM: case EROFS: return HM_EPERM;
    case EINVAL: return HM_EINVAL;
    case ENOTEMPTY: return HM_ENOTEMPTY;
    case EFBIG: case ENAMETOOLONG: return HM_ETOOBIG;
    default: return HM_EIO;
    }
}
