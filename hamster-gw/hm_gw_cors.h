/* hm_gw_cors.h - bucket CORS configurations: parse and validate the
 * CORSConfiguration document, render it back in normal form, and match a
 * request (Origin, method, requested headers) against its rules.
 *
 * Everything here is pure: no I/O, no HTTP, no clock; the gateway's
 * handlers (hm_gw_cors.c) and the unit tests call it directly.
 * Reference: AWS S3 API Reference, "PutBucketCors" (CORSRule elements and
 * their limits); AWS S3 User Guide, "Using cross-origin resource sharing
 * (CORS)" (how S3 evaluates rules: the first rule whose AllowedOrigin,
 * AllowedMethod and AllowedHeader all match wins).
 */
#ifndef HM_GW_CORS_H
#define HM_GW_CORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_xml.h"

#define HM_CORS_RULES_MAX 100u
#define HM_CORS_ID_BYTES_MAX 255u
#define HM_CORS_MAX_AGE_S_MAX 2147483647

/* AllowedMethod values, as bits. */
#define HM_CORS_GET 1u
#define HM_CORS_PUT 2u
#define HM_CORS_POST 4u
#define HM_CORS_DELETE 8u
#define HM_CORS_HEAD 16u

typedef struct hm_cors_rule {
    const char *id;              /* or NULL */
    const char **origins;        /* AllowedOrigin, at least one */
    size_t origin_count;
    unsigned methods;            /* HM_CORS_* bits, at least one */
    const char **headers;        /* AllowedHeader patterns */
    size_t header_count;
    const char **expose;         /* ExposeHeader */
    size_t expose_count;
    bool has_max_age;
    int64_t max_age_s;
} hm_cors_rule;

/* A parsed configuration; its strings live as long as it does. */
typedef struct hm_cors_config {
    hm_cors_rule *rules;
    size_t rule_count;           /* 1..HM_CORS_RULES_MAX */
    void *priv;                  /* the document and the string table */
} hm_cors_config;

/* Parse and validate len bytes of a CORSConfiguration document.
 * Returns 0 and *out (free with hm_cors_free); HM_EPROTO when it is not a
 * well-formed CORSConfiguration with 1..100 CORSRule each holding at least
 * one AllowedOrigin and one AllowedMethod, at most one ID (<= 255 bytes)
 * and MaxAgeSeconds (a decimal 0..2^31-1) (MalformedXML); HM_EINVAL with
 * *why (static; the InvalidRequest message AWS sends) for a method other
 * than GET PUT POST DELETE HEAD, an origin or header pattern with more
 * than one '*', or more than 100 rules; HM_ENOMEM. */
int hm_cors_parse(const char *xml, size_t len, hm_cors_config **out, const char **why);

void hm_cors_free(hm_cors_config *c);

/* Append the normal form (prolog, CORSConfiguration in the S3 namespace,
 * each rule's ID, AllowedHeader, AllowedMethod (GET PUT POST DELETE HEAD
 * order), AllowedOrigin, ExposeHeader, MaxAgeSeconds) to w.  Returns the
 * writer's sticky error. */
int hm_cors_render(const hm_cors_config *c, hm_xml_writer *w);

/* The HM_CORS_* bit of an HTTP method (exact, upper case), 0 if none. */
unsigned hm_cors_method_bit(const char *method);

/* Whether s matches pattern, where pattern may hold at most one '*'
 * standing for any run of bytes (empty too).  nocase: ASCII letters
 * compare case-insensitively (header names). */
bool hm_cors_wildcard_match(const char *pattern, const char *s, bool nocase);

/* The first rule allowing origin, method (an HTTP method name) and every
 * header of request_headers (the comma-separated
 * Access-Control-Request-Headers value, or NULL for none), or NULL.
 * *origin_index (optional) gets the index of the AllowedOrigin matched. */
const hm_cors_rule *hm_cors_match(const hm_cors_config *c, const char *origin,
                                  const char *method, const char *request_headers,
                                  size_t *origin_index);

#endif
