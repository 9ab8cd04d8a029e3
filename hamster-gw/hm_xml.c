/* hm_xml.c - S3 XML writer and strict bounded parser (see hm_xml.h).
 *
 * Reference: W3C XML 1.0 (Fifth Edition): 2.2 Characters (the Char
 * production), 2.3 Common Syntactic Constructs (names), 2.4 Character Data,
 * 2.5 Comments, 2.7 CDATA Sections, 2.11 End-of-Line Handling, 4.1
 * Character and Entity References, 4.6 Predefined Entities.
 *
 * Shaping decision: the parser is iterative (an explicit stack of at most
 * HM_XML_DEPTH_MAX open elements, no recursion) and writes every name and
 * decoded text into one arena allocated once at len + 1 bytes: decoding
 * never grows text (an entity or escape is longer than what it stands for)
 * and each element's name, text and terminators fit in the bytes of its
 * own tags, so the arena cannot overflow; the check stays anyway.
 */
#include "hm_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_utf8.h"

/* ---- XML characters --------------------------------------------- */

/* XML 1.0 section 2.2, production [2] Char. */
static bool xml_is_char(uint32_t cp)
{
    return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
           (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

static bool xml_is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- writer --------------------------------------------------------------- */

void hm_xml_writer_init(hm_xml_writer *w, size_t bytes_max)
{
    memset(w, 0, sizeof *w);
    w->bytes_max = (bytes_max == 0 || bytes_max > HM_XML_WRITER_BYTES_MAX)
                       ? HM_XML_WRITER_BYTES_MAX
                       : bytes_max;
}

void hm_xml_writer_free(hm_xml_writer *w)
{
    if (w == NULL)
        return;
    free(w->buf);
    memset(w, 0, sizeof *w);
}

int hm_xml_writer_err(const hm_xml_writer *w)
{
    return w->err;
}

static void xml_fail(hm_xml_writer *w, int err)
{
    if (w->err == 0)
        w->err = err;
}

/* Make room for n more bytes plus the NUL. */
static bool xml_reserve(hm_xml_writer *w, size_t n)
{
    if (w->err != 0)
        return false;
    if (n > w->bytes_max - w->len) {
        xml_fail(w, HM_ETOOBIG);
        return false;
    }
    size_t need = w->len + n + 1;
    if (need <= w->cap)
        return true;
    size_t cap = w->cap != 0 ? w->cap : 1024;
    while (cap < need)
        cap = cap > (SIZE_MAX / 2) ? need : cap * 2;
    if (cap > w->bytes_max + 1)
        cap = w->bytes_max + 1;
    char *b = realloc(w->buf, cap);
    if (b == NULL) {
        xml_fail(w, HM_ENOMEM);
        return false;
    }
    w->buf = b;
    w->cap = cap;
    return true;
}

static void xml_raw(hm_xml_writer *w, const char *s, size_t n)
{
    if (!xml_reserve(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void xml_raw_str(hm_xml_writer *w, const char *s)
{
    xml_raw(w, s, strlen(s));
}

/* Writer element names: [A-Za-z_][A-Za-z0-9._-]*, bounded. */
static bool xml_writer_name_ok(const char *name)
{
    if (name == NULL)
        return false;
    size_t n = 0;
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        bool more = (c >= '0' && c <= '9') || c == '.' || c == '-';
        if (n >= HM_XML_NAME_BYTES_MAX || !(alpha || (n > 0 && more)))
            return false;
    }
    return n > 0;
}

void hm_xml_prolog(hm_xml_writer *w)
{
    xml_raw_str(w, HM_XML_PROLOG);
}

static void xml_open_common(hm_xml_writer *w, const char *name, bool s3ns)
{
    if (w->err != 0)
        return;
    if (!xml_writer_name_ok(name) || w->depth >= HM_XML_DEPTH_MAX) {
        xml_fail(w, HM_EINVAL);
        return;
    }
    xml_raw(w, "<", 1);
    xml_raw_str(w, name);
    if (s3ns)
        xml_raw_str(w, " xmlns=\"" HM_XML_S3_NS "\"");
    xml_raw(w, ">", 1);
    if (w->err == 0)
        w->open[w->depth++] = name;
}

void hm_xml_open(hm_xml_writer *w, const char *name)
{
    xml_open_common(w, name, false);
}

void hm_xml_open_s3(hm_xml_writer *w, const char *name)
{
    xml_open_common(w, name, true);
}

void hm_xml_close(hm_xml_writer *w)
{
    if (w->err != 0)
        return;
    if (w->depth == 0) {
        xml_fail(w, HM_EINVAL);
        return;
    }
    const char *name = w->open[w->depth - 1];
    xml_raw(w, "</", 2);
    xml_raw_str(w, name);
    xml_raw(w, ">", 1);
    if (w->err == 0)
        w->depth--;
}

void hm_xml_text(hm_xml_writer *w, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (w->err != 0 || len == 0)
        return;
    if (s == NULL) {
        xml_fail(w, HM_EINVAL);
        return;
    }
    while (i < len && w->err == 0) {
        /* copy the longest run that needs no escaping in one go */
        size_t run = i;
        while (run < len) {
            unsigned char c = p[run];
            if (c < 0x20 || c == '&' || c == '<' || c == '>' || c == '"' ||
                c == '\'' || c >= 0x80)
                break;
            run++;
        }
        if (run > i) {
            xml_raw(w, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        char ref[16];
        switch (c) {
        case '&': xml_raw(w, "&amp;", 5); i++; continue;
        case '<': xml_raw(w, "&lt;", 4); i++; continue;
        case '>': xml_raw(w, "&gt;", 4); i++; continue;
        case '"': xml_raw(w, "&quot;", 6); i++; continue;
        case '\'': xml_raw(w, "&apos;", 6); i++; continue;
        default: break;
        }
        if (c < 0x20) {
            int n = snprintf(ref, sizeof ref, "&#x%X;", c);
            xml_raw(w, ref, (size_t)n);
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = hm_utf8_decode(p + i, len - i, &cp);
        if (n == 0) {
            xml_raw(w, "\xEF\xBF\xBD", 3); /* U+FFFD for an invalid byte */
            i++;
        } else if (cp == 0xfffe || cp == 0xffff) {
            int m = snprintf(ref, sizeof ref, "&#x%X;", (unsigned)cp);
            xml_raw(w, ref, (size_t)m);
            i += n;
        } else {
            xml_raw(w, s + i, n);
            i += n;
        }
    }
}

void hm_xml_elem_n(hm_xml_writer *w, const char *name, const char *text,
                   size_t len)
{
    hm_xml_open(w, name);
    if (text != NULL)
        hm_xml_text(w, text, len);
    hm_xml_close(w);
}

void hm_xml_elem(hm_xml_writer *w, const char *name, const char *text)
{
    hm_xml_elem_n(w, name, text, text != NULL ? strlen(text) : 0);
}

void hm_xml_elem_u64(hm_xml_writer *w, const char *name, uint64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    hm_xml_elem_n(w, name, num, (size_t)n);
}

void hm_xml_elem_i64(hm_xml_writer *w, const char *name, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    hm_xml_elem_n(w, name, num, (size_t)n);
}

void hm_xml_elem_bool(hm_xml_writer *w, const char *name, bool v)
{
    hm_xml_elem(w, name, v ? "true" : "false");
}

int hm_xml_writer_finish(hm_xml_writer *w, const char **data, size_t *len)
{
    if (w->err == 0 && w->depth != 0)
        xml_fail(w, HM_EINVAL);
    if (w->err != 0)
        return w->err;
    *data = w->buf != NULL ? w->buf : "";
    *len = w->len;
    return 0;
}

/* ---- parser --------------------------------------------------------------- */

#define XML_NONE UINT32_MAX

typedef struct xml_inode {
    uint32_t name_off;     /* arena */
    uint32_t text_off;     /* arena; XML_NONE for "" */
    uint32_t text_len;
    uint32_t parent, first_child, last_child, next_sibling;
    uint32_t child_count;
    uint32_t depth;
} xml_inode;

struct hm_xml_doc {
    hm_xml_node *nodes;
    size_t count;
    char *arena;
};

typedef struct xml_open {
    uint32_t node;
    size_t qname_off, qname_len;   /* raw qualified name in the input */
    size_t text_start;             /* arena offset where char data began */
    bool has_children;
} xml_open;

typedef struct xml_parser {
    const unsigned char *b;
    size_t len, pos;
    char *arena;
    size_t arena_cap, arena_len;
    xml_inode *nodes;
    size_t count, nodes_cap;
    xml_open stack[HM_XML_DEPTH_MAX];
    size_t depth;
    int err;
    const char *why;
    size_t where;
} xml_parser;

static int xml_perr(xml_parser *x, int err, const char *why)
{
    if (x->err == 0) {
        x->err = err;
        x->why = why;
        x->where = x->pos;
    }
    return x->err;
}

static bool xml_starts(const xml_parser *x, const char *s)
{
    size_t n = strlen(s);
    return x->len - x->pos >= n && memcmp(x->b + x->pos, s, n) == 0;
}

static int xml_arena_put(xml_parser *x, const char *s, size_t n)
{
    if (n > x->arena_cap - x->arena_len)
        return xml_perr(x, HM_EINTERNAL, "arena overflow");
    memcpy(x->arena + x->arena_len, s, n);
    x->arena_len += n;
    return 0;
}

/* Names (section 2.3), bytes: ASCII letters, '_', ':' and any non-ASCII
 * byte may start a name; digits, '-' and '.' may follow. Non-ASCII is
 * checked as UTF-8 by the caller. */
static bool xml_name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == ':' || c >= 0x80;
}

static bool xml_name_char(unsigned char c)
{
    return xml_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* Read a qualified name at pos; *local_off is the offset of the part after
 * the one ':' (if any). */
static int xml_read_name(xml_parser *x, size_t *off, size_t *n, size_t *local_off)
{
    size_t start = x->pos, colon = 0, colons = 0;
    if (x->pos >= x->len || !xml_name_start(x->b[x->pos]) || x->b[x->pos] == ':')
        return xml_perr(x, HM_EPROTO, "expected a name");
    while (x->pos < x->len && xml_name_char(x->b[x->pos])) {
        unsigned char c = x->b[x->pos];
        if (c >= 0x80) {
            uint32_t cp;
            size_t k = hm_utf8_decode(x->b + x->pos, x->len - x->pos, &cp);
            if (k == 0)
                return xml_perr(x, HM_EPROTO, "invalid UTF-8 in a name");
            x->pos += k;
        } else {
            if (c == ':') {
                colons++;
                colon = x->pos;
            }
            x->pos++;
        }
        if (x->pos - start > HM_XML_NAME_BYTES_MAX)
            return xml_perr(x, HM_ETOOBIG, "name too long");
    }
    if (colons > 1 || (colons == 1 && colon + 1 == x->pos))
        return xml_perr(x, HM_EPROTO, "bad qualified name");
    *off = start;
    *n = x->pos - start;
    *local_off = colons == 1 ? colon + 1 : start;
    return 0;
}

static void xml_skip_space(xml_parser *x)
{
    while (x->pos < x->len && xml_is_space(x->b[x->pos]))
        x->pos++;
}

/* Decode a reference at pos ('&'): the five predefined entities or a
 * character reference to a Char.  Writes the UTF-8 into out (4 bytes). */
static int xml_read_ref(xml_parser *x, char out[4], size_t *out_len)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'},
                 {"quot;", '"'}, {"apos;", '\''}};
    x->pos++; /* '&' */
    if (x->pos < x->len && x->b[x->pos] == '#') {
        x->pos++;
        bool hex = x->pos < x->len && x->b[x->pos] == 'x';
        if (hex)
            x->pos++;
        uint32_t v = 0;
        size_t digits = 0;
        while (x->pos < x->len && x->b[x->pos] != ';') {
            unsigned char c = x->b[x->pos];
            int d = -1;
            if (c >= '0' && c <= '9')
                d = c - '0';
            else if (hex && c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (hex && c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            if (d < 0)
                return xml_perr(x, HM_EPROTO, "bad character reference");
            /* stop before the value can pass U+10FFFF: no overflow */
            v = v * (hex ? 16u : 10u) + (uint32_t)d;
            if (v > 0x10ffff || ++digits > 16)
                return xml_perr(x, HM_EPROTO, "character reference out of range");
            x->pos++;
        }
        if (x->pos >= x->len || digits == 0)
            return xml_perr(x, HM_EPROTO, "unterminated character reference");
        x->pos++; /* ';' */
        if (!xml_is_char(v))
            return xml_perr(x, HM_EPROTO, "reference to a non-XML character");
        *out_len = hm_utf8_encode(v, out);
        return 0;
    }
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        if (xml_starts(x, named[i].name)) {
            x->pos += strlen(named[i].name);
            out[0] = named[i].c;
            *out_len = 1;
            return 0;
        }
    }
    return xml_perr(x, HM_EPROTO, "unknown entity (only the five predefined)");
}

/* One raw character of text or CDATA at pos: validated, CR LF and lone CR
 * become LF (section 2.11).  Appends to the arena. */
static int xml_text_char(xml_parser *x)
{
    unsigned char c = x->b[x->pos];
    if (c == '\r') {
        x->pos++;
        if (x->pos < x->len && x->b[x->pos] == '\n')
            x->pos++;
        return xml_arena_put(x, "\n", 1);
    }
    uint32_t cp;
    size_t k = hm_utf8_decode(x->b + x->pos, x->len - x->pos, &cp);
    if (k == 0)
        return xml_perr(x, HM_EPROTO, "invalid UTF-8 in text");
    if (!xml_is_char(cp))
        return xml_perr(x, HM_EPROTO, "character not allowed in XML 1.0");
    int rc = xml_arena_put(x, (const char *)x->b + x->pos, k);
    x->pos += k;
    return rc;
}

static int xml_skip_comment(xml_parser *x)
{
    x->pos += 4; /* "<!--" */
    while (x->pos < x->len) {
        if (xml_starts(x, "--")) {
            if (xml_starts(x, "-->")) {
                x->pos += 3;
                return 0;
            }
            return xml_perr(x, HM_EPROTO, "'--' inside a comment");
        }
        uint32_t cp;
        size_t k = hm_utf8_decode(x->b + x->pos, x->len - x->pos, &cp);
        if (k == 0 || !xml_is_char(cp))
            return xml_perr(x, HM_EPROTO, "bad character in a comment");
        x->pos += k;
    }
    return xml_perr(x, HM_EPROTO, "unterminated comment");
}

/* Attribute values are validated and dropped (S3 bodies need none). */
static int xml_skip_attr_value(xml_parser *x)
{
    if (x->pos >= x->len || (x->b[x->pos] != '"' && x->b[x->pos] != '\''))
        return xml_perr(x, HM_EPROTO, "attribute value not quoted");
    unsigned char q = x->b[x->pos++];
    while (x->pos < x->len && x->b[x->pos] != q) {
        unsigned char c = x->b[x->pos];
        if (c == '<')
            return xml_perr(x, HM_EPROTO, "'<' in an attribute value");
        if (c == '&') {
            char tmp[4];
            size_t n;
            if (xml_read_ref(x, tmp, &n) != 0)
                return x->err;
            continue;
        }
        uint32_t cp;
        size_t k = hm_utf8_decode(x->b + x->pos, x->len - x->pos, &cp);
        if (k == 0 || !xml_is_char(cp))
            return xml_perr(x, HM_EPROTO, "bad character in an attribute");
        x->pos += k;
    }
    if (x->pos >= x->len)
        return xml_perr(x, HM_EPROTO, "unterminated attribute value");
    x->pos++;
    return 0;
}

static bool xml_text_is_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!xml_is_space((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Char data seen since the last markup inside an element that has
 * children must be whitespace; it is then dropped. */
static int xml_settle_text(xml_parser *x)
{
    xml_open *o = &x->stack[x->depth - 1];
    if (!o->has_children)
        return 0;
    if (!xml_text_is_space(x->arena + o->text_start,
                           x->arena_len - o->text_start))
        return xml_perr(x, HM_EPROTO, "mixed content");
    x->arena_len = o->text_start;
    return 0;
}

static int xml_new_node(xml_parser *x, uint32_t *idx)
{
    if (x->count >= HM_XML_ELEMENTS_MAX)
        return xml_perr(x, HM_ETOOBIG, "too many elements");
    if (x->count == x->nodes_cap) {
        size_t cap = x->nodes_cap != 0 ? x->nodes_cap * 2 : 64;
        if (cap > HM_XML_ELEMENTS_MAX)
            cap = HM_XML_ELEMENTS_MAX;
        xml_inode *n = realloc(x->nodes, cap * sizeof *n);
        if (n == NULL)
            return xml_perr(x, HM_ENOMEM, "out of memory");
        x->nodes = n;
        x->nodes_cap = cap;
    }
    *idx = (uint32_t)x->count++;
    return 0;
}

static int xml_start_tag(xml_parser *x)
{
    size_t qoff = 0, qlen = 0, loff = 0;
    x->pos++; /* '<' */
    if (xml_read_name(x, &qoff, &qlen, &loff) != 0)
        return x->err;
    if (x->depth >= HM_XML_DEPTH_MAX)
        return xml_perr(x, HM_ETOOBIG, "nesting too deep");
    uint32_t parent = XML_NONE;
    if (x->depth > 0) {
        xml_open *po = &x->stack[x->depth - 1];
        if (!po->has_children) {
            /* the leaf text so far becomes whitespace between children */
            if (!xml_text_is_space(x->arena + po->text_start,
                                   x->arena_len - po->text_start))
                return xml_perr(x, HM_EPROTO, "mixed content");
            x->arena_len = po->text_start;
            po->has_children = true;
        } else if (xml_settle_text(x) != 0) {
            return x->err;
        }
        parent = po->node;
    }
    uint32_t idx = 0;
    if (xml_new_node(x, &idx) != 0)
        return x->err;
    xml_inode *nd = &x->nodes[idx];
    memset(nd, 0, sizeof *nd);
    nd->parent = parent;
    nd->first_child = nd->last_child = nd->next_sibling = XML_NONE;
    nd->text_off = XML_NONE;
    nd->depth = (uint32_t)x->depth;
    nd->name_off = (uint32_t)x->arena_len;
    if (xml_arena_put(x, (const char *)x->b + loff, qlen - (loff - qoff)) != 0 ||
        xml_arena_put(x, "", 1) != 0)
        return x->err;
    if (parent != XML_NONE) {
        xml_inode *p = &x->nodes[parent];
        if (p->last_child == XML_NONE)
            p->first_child = idx;
        else
            x->nodes[p->last_child].next_sibling = idx;
        p->last_child = idx;
        p->child_count++;
    }
    /* attributes */
    size_t attrs = 0;
    size_t attr_off[HM_XML_ATTRS_MAX], attr_len[HM_XML_ATTRS_MAX];
    for (;;) {
        size_t before = x->pos;
        xml_skip_space(x);
        if (x->pos >= x->len)
            return xml_perr(x, HM_EPROTO, "unterminated start tag");
        if (x->b[x->pos] == '>' || xml_starts(x, "/>"))
            break;
        if (x->pos == before)
            return xml_perr(x, HM_EPROTO, "expected space before an attribute");
        size_t aoff = 0, alen = 0, alocal = 0;
        if (xml_read_name(x, &aoff, &alen, &alocal) != 0)
            return x->err;
        if (attrs == HM_XML_ATTRS_MAX)
            return xml_perr(x, HM_ETOOBIG, "too many attributes");
        for (size_t i = 0; i < attrs; i++) {
            if (attr_len[i] == alen && memcmp(x->b + attr_off[i], x->b + aoff, alen) == 0)
                return xml_perr(x, HM_EPROTO, "duplicate attribute");
        }
        attr_off[attrs] = aoff;
        attr_len[attrs] = alen;
        attrs++;
        xml_skip_space(x);
        if (x->pos >= x->len || x->b[x->pos] != '=')
            return xml_perr(x, HM_EPROTO, "expected '=' after an attribute name");
        x->pos++;
        xml_skip_space(x);
        if (xml_skip_attr_value(x) != 0)
            return x->err;
    }
    if (x->b[x->pos] == '/') {
        x->pos += 2; /* empty-element tag: a leaf with no text */
        nd = &x->nodes[idx];
        nd->text_off = (uint32_t)x->arena_len;
        nd->text_len = 0;
        if (xml_arena_put(x, "", 1) != 0)
            return x->err;
        if (x->depth > 0) /* the parent's char data starts after us */
            x->stack[x->depth - 1].text_start = x->arena_len;
        return 0;
    }
    x->pos++; /* '>' */
    xml_open *o = &x->stack[x->depth++];
    o->node = idx;
    o->qname_off = qoff;
    o->qname_len = qlen;
    o->text_start = x->arena_len;
    o->has_children = false;
    return 0;
}

static int xml_end_tag(xml_parser *x)
{
    size_t qoff = 0, qlen = 0, loff = 0;
    x->pos += 2; /* "</" */
    if (x->depth == 0)
        return xml_perr(x, HM_EPROTO, "end tag with nothing open");
    if (xml_read_name(x, &qoff, &qlen, &loff) != 0)
        return x->err;
    xml_open *o = &x->stack[x->depth - 1];
    if (qlen != o->qname_len || memcmp(x->b + qoff, x->b + o->qname_off, qlen) != 0)
        return xml_perr(x, HM_EPROTO, "mismatched end tag");
    xml_skip_space(x);
    if (x->pos >= x->len || x->b[x->pos] != '>')
        return xml_perr(x, HM_EPROTO, "unterminated end tag");
    x->pos++;
    xml_inode *nd = &x->nodes[o->node];
    if (o->has_children) {
        if (xml_settle_text(x) != 0)
            return x->err;
    } else {
        nd->text_off = (uint32_t)o->text_start;
        nd->text_len = (uint32_t)(x->arena_len - o->text_start);
        if (xml_arena_put(x, "", 1) != 0)
            return x->err;
    }
    x->depth--;
    if (x->depth > 0) /* the parent's char data starts after us */
        x->stack[x->depth - 1].text_start = x->arena_len;
    return 0;
}

static int xml_cdata(xml_parser *x)
{
    x->pos += 9; /* "<![CDATA[" */
    while (x->pos < x->len) {
        if (xml_starts(x, "]]>")) {
            x->pos += 3;
            return 0;
        }
        if (xml_text_char(x) != 0)
            return x->err;
    }
    return xml_perr(x, HM_EPROTO, "unterminated CDATA section");
}

/* Markup allowed outside the root element: whitespace and comments. */
static int xml_misc(xml_parser *x)
{
    for (;;) {
        xml_skip_space(x);
        if (xml_starts(x, "<!--")) {
            if (xml_skip_comment(x) != 0)
                return x->err;
            continue;
        }
        return 0;
    }
}

static int xml_run(xml_parser *x)
{
    if (xml_starts(x, "\xEF\xBB\xBF"))
        x->pos += 3;
    /* the XML declaration, only as the very first thing */
    if (xml_starts(x, "<?xml") && x->len - x->pos > 5 &&
        (xml_is_space(x->b[x->pos + 5]) || x->b[x->pos + 5] == '?')) {
        x->pos += 5;
        while (x->pos < x->len && !xml_starts(x, "?>")) {
            unsigned char c = x->b[x->pos];
            if (c < 0x20 && !xml_is_space(c))
                return xml_perr(x, HM_EPROTO, "bad XML declaration");
            if (c == '<' || c >= 0x80)
                return xml_perr(x, HM_EPROTO, "bad XML declaration");
            x->pos++;
        }
        if (x->pos >= x->len)
            return xml_perr(x, HM_EPROTO, "unterminated XML declaration");
        x->pos += 2;
    }
    if (xml_misc(x) != 0)
        return x->err;
    if (xml_starts(x, "<!DOCTYPE") || xml_starts(x, "<!ENTITY"))
        return xml_perr(x, HM_EPROTO, "DOCTYPE and ENTITY are refused");
    if (xml_starts(x, "<!") || xml_starts(x, "<?"))
        return xml_perr(x, HM_EPROTO, "markup declaration or PI refused");
    if (x->pos >= x->len || x->b[x->pos] != '<')
        return xml_perr(x, HM_EPROTO, "expected the root element");
    if (xml_start_tag(x) != 0)
        return x->err;
    while (x->depth > 0) {
        if (x->pos >= x->len)
            return xml_perr(x, HM_EPROTO, "unclosed element");
        unsigned char c = x->b[x->pos];
        if (c == '<') {
            int rc;
            if (xml_starts(x, "</"))
                rc = xml_end_tag(x);
            else if (xml_starts(x, "<!--"))
                rc = xml_skip_comment(x);
            else if (xml_starts(x, "<![CDATA["))
                rc = xml_cdata(x);
            else if (xml_starts(x, "<!DOCTYPE") || xml_starts(x, "<!ENTITY"))
                rc = xml_perr(x, HM_EPROTO, "DOCTYPE and ENTITY are refused");
            else if (xml_starts(x, "<!") || xml_starts(x, "<?"))
                rc = xml_perr(x, HM_EPROTO, "markup declaration or PI refused");
            else
                rc = xml_start_tag(x);
            if (rc != 0)
                return rc;
        } else if (c == '&') {
            char tmp[4];
            size_t n;
            if (xml_read_ref(x, tmp, &n) != 0 || xml_arena_put(x, tmp, n) != 0)
                return x->err;
        } else {
            if (c == '>' && x->pos >= 2 && x->b[x->pos - 1] == ']' &&
                x->b[x->pos - 2] == ']')
                return xml_perr(x, HM_EPROTO, "']]>' in text");
            if (xml_text_char(x) != 0)
                return x->err;
        }
    }
    if (xml_misc(x) != 0)
        return x->err;
    if (x->pos != x->len)
        return xml_perr(x, HM_EPROTO, "content after the root element");
    return 0;
}

int hm_xml_parse(const char *buf, size_t len, hm_xml_doc **out,
                 const char **why, size_t *where)
{
    xml_parser x;
    memset(&x, 0, sizeof x);
    if (why != NULL)
        *why = NULL;
    if (where != NULL)
        *where = 0;
    if (out == NULL || (buf == NULL && len > 0))
        return HM_EINVAL;
    *out = NULL;
    if (len > HM_HTTP_XML_BODY_BYTES_MAX) {
        if (why != NULL)
            *why = "body too large";
        return HM_ETOOBIG;
    }
    x.b = (const unsigned char *)buf;
    x.len = len;
    x.arena_cap = len + 1; /* bounded above; see the top of the file */
    x.arena = malloc(x.arena_cap);
    hm_xml_doc *doc = calloc(1, sizeof *doc);
    if (x.arena == NULL || doc == NULL) {
        free(x.arena);
        free(doc);
        return HM_ENOMEM;
    }
    int rc = buf != NULL ? xml_run(&x) : xml_perr(&x, HM_EPROTO, "empty body");
    if (rc == 0) {
        doc->nodes = calloc(x.count, sizeof *doc->nodes);
        if (doc->nodes == NULL)
            rc = xml_perr(&x, HM_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        if (why != NULL)
            *why = x.why;
        if (where != NULL)
            *where = x.where;
        free(x.nodes);
        free(x.arena);
        free(doc);
        return rc;
    }
    for (size_t i = 0; i < x.count; i++) {
        const xml_inode *in = &x.nodes[i];
        hm_xml_node *n = &doc->nodes[i];
        n->name = x.arena + in->name_off;
        if (in->first_child == XML_NONE && in->text_off != XML_NONE) {
            n->text = x.arena + in->text_off;
            n->text_len = in->text_len;
        } else {
            n->text = "";
            n->text_len = 0;
        }
        n->parent = in->parent != XML_NONE ? &doc->nodes[in->parent] : NULL;
        n->first_child =
            in->first_child != XML_NONE ? &doc->nodes[in->first_child] : NULL;
        n->next_sibling =
            in->next_sibling != XML_NONE ? &doc->nodes[in->next_sibling] : NULL;
        n->child_count = in->child_count;
        n->depth = in->depth;
    }
    free(x.nodes);
    doc->count = x.count;
    doc->arena = x.arena;
    *out = doc;
    return 0;
}

void hm_xml_doc_free(hm_xml_doc *doc)
{
    if (doc == NULL)
        return;
    free(doc->nodes);
    free(doc->arena);
    free(doc);
}

const hm_xml_node *hm_xml_root(const hm_xml_doc *doc)
{
    return doc != NULL && doc->count > 0 ? &doc->nodes[0] : NULL;
}

const hm_xml_node *hm_xml_child(const hm_xml_node *node, const char *name)
{
    if (node == NULL || name == NULL)
        return NULL;
    for (const hm_xml_node *c = node->first_child; c != NULL; c = c->next_sibling) {
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

const hm_xml_node *hm_xml_next_named(const hm_xml_node *node)
{
    if (node == NULL)
        return NULL;
    for (const hm_xml_node *c = node->next_sibling; c != NULL; c = c->next_sibling) {
        if (strcmp(c->name, node->name) == 0)
            return c;
    }
    return NULL;
}

size_t hm_xml_child_count_named(const hm_xml_node *node, const char *name)
{
    size_t n = 0;
    for (const hm_xml_node *c = hm_xml_child(node, name); c != NULL;
         c = hm_xml_next_named(c))
        n++;
    return n;
}

const char *hm_xml_child_text(const hm_xml_node *node, const char *name,
                              size_t *len_out)
{
    const hm_xml_node *c = hm_xml_child(node, name);
    if (c == NULL)
        return NULL;
    if (len_out != NULL)
        *len_out = c->text_len;
    return c->text;
}
