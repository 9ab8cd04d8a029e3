/* hm_json.h - a strict, bounded JSON parser (RFC 8259) for the documents
 * the gateway reads: the POST policy (hm_post.h).  It builds a small
 * read-only tree (nodes in one array, strings in one pool, both sized from
 * the document's length after it is checked), depth-limited, integers only
 * (int64, overflow checked): a policy has no use for fractions.
 *
 * Pure: no I/O, no globals; a document belongs to one thread at a time.
 */
#ifndef HM_JSON_H
#define HM_JSON_H

#include <stddef.h>
#include <stdint.h>

#define HM_JSON_DOC_BYTES_MAX (8u << 10) /* a document's length */
#define HM_JSON_DEPTH_MAX 8u
#define HM_JSON_NODES_MAX 1024u

typedef enum hm_json_type {
    HM_JSON_NULL = 0,
    HM_JSON_FALSE,
    HM_JSON_TRUE,
    HM_JSON_INT,
    HM_JSON_STRING,
    HM_JSON_ARRAY,
    HM_JSON_OBJECT,
} hm_json_type;

typedef struct hm_json_node hm_json_node;
struct hm_json_node {
    hm_json_type type;
    const char *key;            /* member name inside an object, else NULL */
    const char *str;            /* HM_JSON_STRING: decoded UTF-8, NUL-terminated */
    size_t str_len;
    int64_t num;                /* HM_JSON_INT */
    const hm_json_node *first_child;   /* arrays and objects */
    const hm_json_node *next_sibling;
    size_t child_count;
};

typedef struct hm_json_doc hm_json_doc;

/* Parse exactly one JSON value (surrounding whitespace allowed) of len
 * bytes (at most HM_JSON_DOC_BYTES_MAX).  Strings: valid UTF-8, the
 * escapes of RFC 8259 §7 with \uXXXX surrogate pairs joined (a lone
 * surrogate and \u0000 are refused); numbers: integers in int64 only
 * (fractions, exponents, leading zeros and overflow refused); duplicate
 * member names refused; depth at most HM_JSON_DEPTH_MAX, nodes at most
 * HM_JSON_NODES_MAX.  Returns 0 with *out (free with hm_json_free);
 * HM_EPROTO (*why, if not NULL, a static reason); HM_ETOOBIG; HM_ENOMEM. */
int hm_json_parse(const char *buf, size_t len, hm_json_doc **out, const char **why);
void hm_json_free(hm_json_doc *doc);
const hm_json_node *hm_json_root(const hm_json_doc *doc);
/* Member of an object by exact name, or NULL. */
const hm_json_node *hm_json_get(const hm_json_node *obj, const char *key);

#endif
