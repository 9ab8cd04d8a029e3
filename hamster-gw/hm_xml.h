/* hm_xml.h - the S3 XML: a streaming writer for response bodies and a
 * small, strict, bounded parser for request bodies.
 *
 * Writer.  Appends into one growable buffer capped at a caller-chosen size;
 * errors are sticky (the first failure is kept, later calls do nothing), so
 * a handler writes a whole body and checks once at the end.  Escaping
 * decision (S3 object keys may hold any UTF-8, control characters too):
 *   & < > " '                  -> &amp; &lt; &gt; &quot; &apos;
 *   TAB LF CR                  -> &#x9; &#xA; &#xD; (survive parsers that
 *                                 normalize whitespace and line ends)
 *   other C0 controls, NUL,
 *   U+FFFE, U+FFFF             -> &#xN; (what S3 itself sends; not
 *                                 well-formed XML 1.0, which has no way to
 *                                 carry them: clients that need them use
 *                                 encoding-type=url, whose callers pass
 *                                 already-encoded strings here)
 *   invalid UTF-8 bytes        -> U+FFFD (never emitted as raw bytes)
 *   everything else            -> as is.
 *
 * Parser.  Request bodies (CompleteMultipartUpload, Delete, Tagging,
 * CORSConfiguration, CreateBucketConfiguration, ...) are at most
 * HM_HTTP_XML_BODY_BYTES_MAX and have no mixed content, so the parser reads
 * the whole buffer into a read-only tree ("DOM-lite"):
 *   - elements and their text; entity references &amp; &lt; &gt; &quot;
 *     &apos; &#N; &#xN; (a valid XML Char) and CDATA sections are decoded;
 *   - the XML declaration (first thing only), comments, attributes and
 *     namespace prefixes (elements are named by local name) are skipped;
 *   - DOCTYPE, ENTITY and every other "<!" or "<?" construct are refused,
 *     so there is no external entity and no entity expansion at all;
 *   - text must be valid UTF-8 XML 1.0 characters, references too: the
 *     &#x1; the writer emits for a control character does not parse back
 *     (S3 itself refuses such keys in request bodies); CR LF and lone CR
 *     in raw text become LF (XML 1.0 section 2.11);
 *   - text interleaved with child elements must be whitespace (S3 bodies
 *     have no mixed content); an element's text is its leaf text;
 *   - depth, element count, name length and attribute count are bounded.
 * Every refusal is HM_EPROTO, which the gateway maps to MalformedXML.
 * Reference: W3C XML 1.0 (Fifth Edition); AWS S3 API Reference, "Error
 * Responses" and each operation's request syntax.
 */
#ifndef HM_XML_H
#define HM_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_limits.h"

#define HM_XML_S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define HM_XML_PROLOG "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

#define HM_XML_DEPTH_MAX 32u          /* open elements, writer and parser */
#define HM_XML_ELEMENTS_MAX 65536u    /* parser: a 10000-part Complete fits */
#define HM_XML_NAME_BYTES_MAX 256u    /* element / attribute qualified name */
#define HM_XML_ATTRS_MAX 32u          /* attributes on one element */
#define HM_XML_WRITER_BYTES_MAX (64u << 20) /* hard cap for any writer */

_Static_assert(HM_XML_ELEMENTS_MAX >= 1u + 4u * HM_PARTS_MAX,
               "CompleteMultipartUpload with every part and a checksum fits");
_Static_assert(HM_XML_ELEMENTS_MAX >= 1u + 3u * HM_DELETE_KEYS_MAX,
               "Delete with every key and version fits");

/* ---- writer ------------------------------------------------------------- */

typedef struct hm_xml_writer {
    char *buf;          /* owned; NUL-terminated when err == 0 */
    size_t len;         /* bytes written, without the NUL */
    size_t cap;         /* allocated bytes */
    size_t bytes_max;   /* len never exceeds this */
    int err;            /* sticky: 0, HM_ENOMEM or HM_ETOOBIG or HM_EINVAL */
    size_t depth;
    const char *open[HM_XML_DEPTH_MAX]; /* names of the open elements */
} hm_xml_writer;

/* Start an empty writer whose output may grow to bytes_max bytes (at most
 * HM_XML_WRITER_BYTES_MAX; 0 means that).  Allocates nothing until the
 * first write.  Never fails. */
void hm_xml_writer_init(hm_xml_writer *w, size_t bytes_max);

/* Free the buffer; the writer may be initialized again.  NULL-safe. */
void hm_xml_writer_free(hm_xml_writer *w);

/* The sticky error: 0, HM_ENOMEM (allocation), HM_ETOOBIG (would exceed
 * bytes_max) or HM_EINVAL (misuse: bad name, depth over HM_XML_DEPTH_MAX,
 * close with nothing open, finish with elements open). */
int hm_xml_writer_err(const hm_xml_writer *w);

/* Append HM_XML_PROLOG. */
void hm_xml_prolog(hm_xml_writer *w);

/* Open <name>.  name is an XML name ([A-Za-z_][A-Za-z0-9._-]*, no
 * prefix) that stays valid until the matching close (use literals). */
void hm_xml_open(hm_xml_writer *w, const char *name);

/* Open <name xmlns="http://s3.amazonaws.com/doc/2006-03-01/"> (the root
 * element of S3 responses). */
void hm_xml_open_s3(hm_xml_writer *w, const char *name);

/* Close the innermost open element. */
void hm_xml_close(hm_xml_writer *w);

/* Append escaped character data (len bytes; see the top for the rules). */
void hm_xml_text(hm_xml_writer *w, const char *s, size_t len);

/* <name>escaped text</name>.  text NULL writes <name></name>. */
void hm_xml_elem(hm_xml_writer *w, const char *name, const char *text);

/* <name>escaped text of len bytes</name>. */
void hm_xml_elem_n(hm_xml_writer *w, const char *name, const char *text,
                   size_t len);

/* <name>decimal</name>. */
void hm_xml_elem_u64(hm_xml_writer *w, const char *name, uint64_t v);
void hm_xml_elem_i64(hm_xml_writer *w, const char *name, int64_t v);

/* <name>true</name> or <name>false</name>. */
void hm_xml_elem_bool(hm_xml_writer *w, const char *name, bool v);

/* Finish: every element must be closed.  Returns the sticky error, or 0
 * with *data (NUL-terminated, owned by the writer until free) and *len set.
 * An empty writer yields "" and length 0. */
int hm_xml_writer_finish(hm_xml_writer *w, const char **data, size_t *len);

/* ---- parser ------------------------------------------------------------- */

typedef struct hm_xml_node hm_xml_node;
struct hm_xml_node {
    const char *name;          /* local name (prefix dropped), NUL-terminated */
    const char *text;          /* decoded leaf text, NUL-terminated; "" for
                                * elements with children */
    size_t text_len;           /* bytes, may contain no NUL (refused) */
    const hm_xml_node *parent; /* NULL for the root */
    const hm_xml_node *first_child;
    const hm_xml_node *next_sibling;
    size_t child_count;
    size_t depth;              /* root is 0 */
};

typedef struct hm_xml_doc hm_xml_doc;

/* Parse len bytes (at most HM_HTTP_XML_BODY_BYTES_MAX; need not be
 * NUL-terminated) into a tree of exactly one root element.  A UTF-8 BOM and
 * surrounding whitespace, comments and the XML declaration are allowed.
 * Returns 0 with *out (free with hm_xml_doc_free); HM_EPROTO for malformed
 * or refused input (*why, if why is not NULL, gets a static description and
 * *where, if not NULL, the byte offset); HM_ETOOBIG for len over the limit
 * or a limit above hit (also maps to MalformedXML); HM_ENOMEM.  Memory:
 * len + 1 bytes for names and text plus about 100 bytes per element, all
 * allocated only after len is checked. */
int hm_xml_parse(const char *buf, size_t len, hm_xml_doc **out,
                 const char **why, size_t *where);

/* Free a document; every node and string from it dies with it.  NULL-safe. */
void hm_xml_doc_free(hm_xml_doc *doc);

/* The root element (never NULL for a parsed document). */
const hm_xml_node *hm_xml_root(const hm_xml_doc *doc);

/* First child of node named name (local name), or NULL. */
const hm_xml_node *hm_xml_child(const hm_xml_node *node, const char *name);

/* Next sibling after node with the same name as node, or NULL: iterate
 *   for (p = hm_xml_child(root, "Part"); p; p = hm_xml_next_named(p)) */
const hm_xml_node *hm_xml_next_named(const hm_xml_node *node);

/* Number of children of node named name. */
size_t hm_xml_child_count_named(const hm_xml_node *node, const char *name);

/* Text of the first child named name, or NULL when there is no such child;
 * *len_out (if not NULL) gets its length. */
const char *hm_xml_child_text(const hm_xml_node *node, const char *name,
                              size_t *len_out);

#endif
