/* hm_crc.h - CRC32C (Castagnoli) through ISA-L.
 *
 * ISA-L's crc32_iscsi() leaves the pre- and post-inversion to the caller;
 * hm_crc32c does both, so hm_crc32c(0, "123456789", 9) == 0xE3069283, the
 * standard check value (RFC 3720 B.4), and calls chain:
 * hm_crc32c(hm_crc32c(0, a, n), b, m) == hm_crc32c(0, a||b, n+m).
 */
#ifndef HM_CRC_H
#define HM_CRC_H

#include <stddef.h>
#include <stdint.h>

uint32_t hm_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
