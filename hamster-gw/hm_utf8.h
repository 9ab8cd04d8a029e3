/* hm_utf8.h - strict UTF-8 (RFC 3629) for the gateway's parsers: the XML
 * parser and writer (hm_xml.c) and the JSON parser (hm_json.c).  Pure. */
#ifndef HM_UTF8_H
#define HM_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The longest UTF-8 sequence hm_utf8_encode writes. */
#define HM_UTF8_SEQ_BYTES_MAX 4u

/* Decode one strict UTF-8 sequence (no overlongs, no surrogates, at most
 * U+10FFFF) from p[0..n).  Returns its length with the code point in *cp,
 * or 0 when invalid or n is 0 (*cp then unchanged). */
size_t hm_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

/* Write code point cp (at most U+10FFFF; the caller checked) as UTF-8 into
 * out, which holds HM_UTF8_SEQ_BYTES_MAX bytes.  Returns the length. */
size_t hm_utf8_encode(uint32_t cp, char *out);

#endif
