/* hm_crc.c - CRC32C via ISA-L; see hm_crc.h. */
#include "hm_crc.h"

#include <isa-l/crc.h>

uint32_t hm_crc32c(uint32_t crc, const void *buf, size_t len)
{
    /* ISA-L takes and returns the raw register: invert in and out. */
    while (len > 0) {
        /* crc32_iscsi takes an int length: feed at most 1 GiB at a time. */
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        crc = ~crc32_iscsi((unsigned char *)buf, (int)n, ~crc);
        buf = (const unsigned char *)buf + n;
        len -= n;
    }
    return crc;
}
