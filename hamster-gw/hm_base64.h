/* hm_base64.h - standard base64 (RFC 4648 §4, with padding) for the
 * gateway: Content-MD5, checksum headers, POST policies, list continuation
 * tokens.  Pure. */
#ifndef HM_BASE64_H
#define HM_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The value of one base64 alphabet character, or -1 for any other byte
 * (padding included). */
int hm_base64_val(char c);

/* Decode in[0..n) (a multiple of 4 characters; "=" padding only in the
 * last group, at most two) into out (cap bytes); *len gets the length.
 * HM_EINVAL on bad input or when the output would exceed cap. */
int hm_base64_decode_n(const char *in, size_t n, uint8_t *out, size_t cap, size_t *len);

/* hm_base64_decode_n of the NUL-terminated in. */
int hm_base64_decode(const char *in, uint8_t *out, size_t cap, size_t *len);

/* Encode in[0..len) with padding into out (cap bytes), NUL-terminated;
 * groups that do not fit (with the NUL) are left off. */
void hm_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

#endif
