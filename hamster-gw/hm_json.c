/* hm_json.c - a strict, bounded JSON parser (RFC 8259); see hm_json.h.
 *
 * Shaping decision: the whole tree lives in two allocations sized from the
 * document's length once it is checked against HM_JSON_DOC_BYTES_MAX: the
 * nodes (every value takes at least one byte of source) and a string pool
 * (a decoded string is never longer than its source).
 */
#include "hm_json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_utf8.h"

struct hm_json_doc {
    hm_json_node *nodes;
    size_t count;
    size_t cap;
    char *pool;       /* decoded strings; never longer than their source */
    size_t pool_len;
    size_t pool_cap;
};

typedef struct json_parser {
    const char *s;
    size_t len;
    size_t pos;
    hm_json_doc *doc;
    const char *why;
} json_parser;

static void json_ws(json_parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int json_fail(json_parser *p, const char *why)
{
    if (p->why == NULL) p->why = why;
    return HM_EPROTO;
}

static int json_hex4(json_parser *p, uint32_t *out)
{
    if (p->len - p->pos < 4) return json_fail(p, "short \\u escape");
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return json_fail(p, "bad \\u escape");
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* A string at p->pos (the opening quote) into the pool. */
static int json_string(json_parser *p, const char **out, size_t *out_len)
{
    hm_json_doc *d = p->doc;
    p->pos++; /* '"' */
    char *dst = d->pool + d->pool_len;
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) return json_fail(p, "unterminated string");
        uint8_t c = (uint8_t)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) return json_fail(p, "control character in a string");
        if (c == '\\') {
            p->pos++;
            if (p->pos >= p->len) return json_fail(p, "unterminated escape");
            char e = p->s[p->pos++];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e != '\0' && simple != NULL) {
                static const char map[] = "\"\\/\b\f\n\r\t";
                dst[n++] = map[simple - "\"\\/bfnrt"];
                continue;
            }
            if (e != 'u') return json_fail(p, "bad escape");
            uint32_t cp = 0;
            int rc = json_hex4(p, &cp);
            if (rc != 0) return rc;
            if (cp >= 0xdc00 && cp <= 0xdfff) return json_fail(p, "lone low surrogate");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo = 0;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return json_fail(p, "lone high surrogate");
                p->pos += 2;
                rc = json_hex4(p, &lo);
                if (rc != 0) return rc;
                if (lo < 0xdc00 || lo > 0xdfff) return json_fail(p, "lone high surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) return json_fail(p, "NUL in a string");
            n += hm_utf8_encode(cp, dst + n);
            continue;
        }
        uint32_t ucp = 0;
        size_t ul = hm_utf8_decode((const unsigned char *)p->s + p->pos, p->len - p->pos, &ucp);
        if (ul == 0) return json_fail(p, "invalid UTF-8");
        memcpy(dst + n, p->s + p->pos, ul);
        n += ul;
        p->pos += ul;
    }
    dst[n] = '\0';
    /* Decoded text plus its NUL never outgrows its quoted source, so the
     * pool (source length + 1) cannot overflow. */
    d->pool_len += n + 1;
    *out = dst;
    *out_len = n;
    return 0;
}

static int json_int(json_parser *p, int64_t *out)
{
    bool neg = false;
    if (p->s[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return json_fail(p, "bad number");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' &&
        p->s[p->pos + 1] <= '9')
        return json_fail(p, "leading zero");
    uint64_t v = 0;
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        uint64_t dg = (uint64_t)(p->s[p->pos] - '0');
        if (v > (lim - dg) / 10) return json_fail(p, "number out of range");
        v = v * 10 + dg;
        p->pos++;
    }
    if (p->pos < p->len &&
        (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return json_fail(p, "only integers are supported");
    if (neg) *out = v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v;
    else *out = (int64_t)v;
    return 0;
}

static int json_value(json_parser *p, size_t depth, hm_json_node **out);

static hm_json_node *json_node(json_parser *p)
{
    hm_json_doc *d = p->doc;
    if (d->count == d->cap) return NULL;
    hm_json_node *n = &d->nodes[d->count++];
    memset(n, 0, sizeof(*n));
    return n;
}

/* An array or object at p->pos; depth is the container's. */
static int json_container(json_parser *p, size_t depth, hm_json_node *n)
{
    bool obj = p->s[p->pos] == '{';
    char close = obj ? '}' : ']';
    if (depth >= HM_JSON_DEPTH_MAX) return json_fail(p, "nested too deeply");
    n->type = obj ? HM_JSON_OBJECT : HM_JSON_ARRAY;
    p->pos++;
    json_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    hm_json_node *last = NULL;
    for (;;) {
        const char *key = NULL;
        if (obj) {
            size_t kl = 0;
            if (p->pos >= p->len || p->s[p->pos] != '"') return json_fail(p, "expected a name");
            int rc = json_string(p, &key, &kl);
            if (rc != 0) return rc;
            for (const hm_json_node *c = n->first_child; c != NULL; c = c->next_sibling)
                if (strcmp(c->key, key) == 0) return json_fail(p, "duplicate name");
            json_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return json_fail(p, "expected ':'");
            p->pos++;
        }
        hm_json_node *child = NULL;
        int rc = json_value(p, depth + 1, &child);
        if (rc != 0) return rc;
        child->key = key;
        if (last == NULL) n->first_child = child;
        else last->next_sibling = child;
        last = child;
        n->child_count++;
        json_ws(p);
        if (p->pos >= p->len) return json_fail(p, "unterminated container");
        char c = p->s[p->pos++];
        if (c == close) return 0;
        if (c != ',') return json_fail(p, "expected ',' or a close");
        json_ws(p);
    }
}

static int json_value(json_parser *p, size_t depth, hm_json_node **out)
{
    json_ws(p);
    if (p->pos >= p->len) return json_fail(p, "expected a value");
    hm_json_node *n = json_node(p);
    if (n == NULL) {
        p->why = "too many values";
        return HM_ETOOBIG;
    }
    *out = n;
    char c = p->s[p->pos];
    if (c == '{' || c == '[') return json_container(p, depth, n);
    if (c == '"') {
        n->type = HM_JSON_STRING;
        return json_string(p, &n->str, &n->str_len);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        n->type = HM_JSON_INT;
        return json_int(p, &n->num);
    }
    static const struct {
        const char *word;
        hm_json_type type;
    } lits[] = {{"true", HM_JSON_TRUE}, {"false", HM_JSON_FALSE}, {"null", HM_JSON_NULL}};
    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
        size_t wl = strlen(lits[i].word);
        if (p->len - p->pos >= wl && memcmp(p->s + p->pos, lits[i].word, wl) == 0) {
            p->pos += wl;
            n->type = lits[i].type;
            return 0;
        }
    }
    return json_fail(p, "unexpected character");
}

int hm_json_parse(const char *buf, size_t len, hm_json_doc **out, const char **why)
{
    if (why != NULL) *why = NULL;
    if (len > HM_JSON_DOC_BYTES_MAX) {
        if (why != NULL) *why = "document too large";
        return HM_ETOOBIG;
    }
    hm_json_doc *d = calloc(1, sizeof(*d));
    if (d == NULL) return HM_ENOMEM;
    /* Every value takes at least one byte of source. */
    d->cap = len < HM_JSON_NODES_MAX ? len + 1 : HM_JSON_NODES_MAX;
    d->nodes = calloc(d->cap, sizeof(*d->nodes));
    d->pool_cap = len + 1;
    d->pool = malloc(d->pool_cap);
    if (d->nodes == NULL || d->pool == NULL) {
        hm_json_free(d);
        return HM_ENOMEM;
    }
    json_parser p = {.s = buf, .len = len, .doc = d};
    hm_json_node *root = NULL;
    int rc = json_value(&p, 0, &root);
    if (rc == 0) {
        json_ws(&p);
        if (p.pos != len) rc = json_fail(&p, "trailing data");
    }
    if (rc != 0) {
        if (why != NULL) *why = p.why;
        hm_json_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void hm_json_free(hm_json_doc *doc)
{
    if (doc == NULL) return;
    free(doc->nodes);
    free(doc->pool);
    free(doc);
}

const hm_json_node *hm_json_root(const hm_json_doc *doc) { return &doc->nodes[0]; }

const hm_json_node *hm_json_get(const hm_json_node *obj, const char *key)
{
    if (obj == NULL || obj->type != HM_JSON_OBJECT) return NULL;
    for (const hm_json_node *c = obj->first_child; c != NULL; c = c->next_sibling)
        if (strcmp(c->key, key) == 0) return c;
    return NULL;
}
