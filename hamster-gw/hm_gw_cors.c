/* hm_gw_cors.c - bucket CORS: the configuration parser, renderer and rule
 * matcher (pure; see hm_gw_cors.h), PutBucketCors / GetBucketCors /
 * DeleteBucketCors (?cors on a bucket), the OPTIONS preflight and the
 * Access-Control-* headers of actual requests.
 *
 * Shaping decision: the configuration is validated and stored in normal
 * form (rendered back from the parsed rules) in the bucket record through
 * the BucketSetCors metadata command; every request that carries an
 * Origin header re-reads and re-parses it (one metadata query, a document
 * of at most HM_HTTP_XML_BODY_BYTES_MAX), so a change is seen by every
 * gateway at once with no cache to invalidate.  The preflight is answered
 * without authentication: browsers send it without credentials.
 *
 * References: AWS S3 API Reference, "PutBucketCors", "GetBucketCors",
 * "DeleteBucketCors"; AWS S3 User Guide, "Using cross-origin resource
 * sharing (CORS)" and "Troubleshooting CORS"; the Fetch standard, "CORS
 * protocol" (preflight request and response headers).
 */
#include "hm_gw_cors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_gw_int.h"
#include "hm_limits.h"
#include "hm_log.h"

/* The Access-Control-* values we build: every name of one rule, bounded by
 * the stored document. */
#define GW_CORS_HEADER_BYTES_MAX (8u << 10)

typedef struct cors_priv {
    hm_xml_doc *doc;
    const char **strs;
} cors_priv;

static const struct {
    const char *name;
    unsigned bit;
} cors_methods[] = {
    {"GET", HM_CORS_GET}, {"PUT", HM_CORS_PUT}, {"POST", HM_CORS_POST},
    {"DELETE", HM_CORS_DELETE}, {"HEAD", HM_CORS_HEAD},
};
#define CORS_METHODS_COUNT (sizeof(cors_methods) / sizeof(cors_methods[0]))

/* ---- pure part -------------------------------------------------------------------- */

unsigned hm_cors_method_bit(const char *method)
{
    if (method == NULL) return 0;
    for (size_t i = 0; i < CORS_METHODS_COUNT; i++)
        if (strcmp(method, cors_methods[i].name) == 0) return cors_methods[i].bit;
    return 0;
}

static char cors_lower(char c, bool nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool cors_eq_n(const char *a, const char *b, size_t n, bool nocase)
{
    for (size_t i = 0; i < n; i++)
        if (cors_lower(a[i], nocase) != cors_lower(b[i], nocase)) return false;
    return true;
}

/* pattern (NUL-terminated, at most one '*') against n bytes of s. */
static bool cors_match_n(const char *pattern, const char *s, size_t n, bool nocase)
{
    const char *star = strchr(pattern, '*');
    size_t pl = strlen(pattern);
    if (star == NULL) return pl == n && cors_eq_n(pattern, s, n, nocase);
    size_t head = (size_t)(star - pattern), tail = pl - head - 1;
    if (head + tail > n) return false;
    return cors_eq_n(pattern, s, head, nocase) &&
           cors_eq_n(star + 1, s + n - tail, tail, nocase);
}

bool hm_cors_wildcard_match(const char *pattern, const char *s, bool nocase)
{
    return cors_match_n(pattern, s, strlen(s), nocase);
}

static bool cors_one_star(const char *s)
{
    const char *p = strchr(s, '*');
    return p == NULL || strchr(p + 1, '*') == NULL;
}

/* Every header named in list (comma-separated, blanks around names) matches
 * one of the rule's AllowedHeader patterns. */
static bool cors_headers_allowed(const hm_cors_rule *rule, const char *list)
{
    const char *s = list;
    while (s != NULL && *s != '\0') {
        while (*s == ' ' || *s == '\t' || *s == ',') s++;
        if (*s == '\0') break;
        const char *e = s;
        while (*e != '\0' && *e != ',') e++;
        size_t n = (size_t)(e - s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
        bool ok = false;
        for (size_t i = 0; i < rule->header_count && !ok; i++)
            ok = cors_match_n(rule->headers[i], s, n, true);
        if (!ok) return false;
        s = e;
    }
    return true;
}

const hm_cors_rule *hm_cors_match(const hm_cors_config *c, const char *origin,
                                  const char *method, const char *request_headers,
                                  size_t *origin_index)
{
    unsigned bit = hm_cors_method_bit(method);
    if (c == NULL || origin == NULL || bit == 0) return NULL;
    for (size_t i = 0; i < c->rule_count; i++) {
        const hm_cors_rule *rule = &c->rules[i];
        if ((rule->methods & bit) == 0) continue;
        size_t oi = 0;
        while (oi < rule->origin_count && !hm_cors_wildcard_match(rule->origins[oi], origin,
                                                                  false))
            oi++;
        if (oi == rule->origin_count) continue;
        if (!cors_headers_allowed(rule, request_headers)) continue;
        if (origin_index != NULL) *origin_index = oi;
        return rule;
    }
    return NULL;
}

void hm_cors_free(hm_cors_config *c)
{
    if (c == NULL) return;
    cors_priv *p = c->priv;
    if (p != NULL) {
        hm_xml_doc_free(p->doc);
        free(p->strs);
        free(p);
    }
    free(c->rules);
    free(c);
}

static bool cors_parse_age(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (s == NULL || *s == '\0') return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (*s - '0');
        if (v > HM_CORS_MAX_AGE_S_MAX) return false;
    }
    *out = v;
    return true;
}

/* Collect the texts of every child of rule named name into strs[*at..]. */
static const char **cors_collect(const hm_xml_node *rule, const char *name, const char **strs,
                                 size_t *at, size_t *count)
{
    const char **first = strs + *at;
    *count = 0;
    for (const hm_xml_node *n = hm_xml_child(rule, name); n != NULL; n = hm_xml_next_named(n)) {
        strs[(*at)++] = n->text;
        (*count)++;
    }
    return first;
}

int hm_cors_parse(const char *xml, size_t len, hm_cors_config **out, const char **why)
{
    static const char *const lists[] = {"AllowedOrigin", "AllowedHeader", "ExposeHeader"};
    hm_xml_doc *doc = NULL;
    int rc = hm_xml_parse(xml, len, &doc, NULL, NULL);
    if (rc == HM_ETOOBIG) rc = HM_EPROTO;
    if (rc != 0) return rc;
    hm_cors_config *c = NULL;
    cors_priv *p = NULL;
    const hm_xml_node *root = hm_xml_root(doc);
    size_t rules = hm_xml_child_count_named(root, "CORSRule");
    if (strcmp(root->name, "CORSConfiguration") != 0 || rules == 0) {
        rc = HM_EPROTO;
        goto err;
    }
    if (rules > HM_CORS_RULES_MAX) {
        *why = "The number of CORS rules should not exceed allowed limit of 100 rules.";
        rc = HM_EINVAL;
        goto err;
    }
    /* Validate every rule and count the strings. */
    size_t strings = 0;
    for (const hm_xml_node *r = hm_xml_child(root, "CORSRule"); r != NULL;
         r = hm_xml_next_named(r)) {
        if (hm_xml_child_count_named(r, "AllowedOrigin") == 0 ||
            hm_xml_child_count_named(r, "AllowedMethod") == 0 ||
            hm_xml_child_count_named(r, "ID") > 1 ||
            hm_xml_child_count_named(r, "MaxAgeSeconds") > 1) {
            rc = HM_EPROTO;
            goto err;
        }
        size_t idl = 0;
        const char *id = hm_xml_child_text(r, "ID", &idl);
        int64_t age = 0;
        const char *ages = hm_xml_child_text(r, "MaxAgeSeconds", NULL);
        if ((id != NULL && idl > HM_CORS_ID_BYTES_MAX) ||
            (ages != NULL && !cors_parse_age(ages, &age))) {
            rc = HM_EPROTO;
            goto err;
        }
        for (const hm_xml_node *m = hm_xml_child(r, "AllowedMethod"); m != NULL;
             m = hm_xml_next_named(m)) {
            if (hm_cors_method_bit(m->text) == 0) {
                *why = "Found unsupported HTTP method in CORS config.";
                rc = HM_EINVAL;
                goto err;
            }
        }
        for (const hm_xml_node *o = hm_xml_child(r, "AllowedOrigin"); o != NULL;
             o = hm_xml_next_named(o)) {
            if (!cors_one_star(o->text)) {
                *why = "AllowedOrigin can not have more than one wildcard.";
                rc = HM_EINVAL;
                goto err;
            }
        }
        for (const hm_xml_node *h = hm_xml_child(r, "AllowedHeader"); h != NULL;
             h = hm_xml_next_named(h)) {
            if (!cors_one_star(h->text)) {
                *why = "AllowedHeader can not have more than one wildcard.";
                rc = HM_EINVAL;
                goto err;
            }
        }
        for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
            strings += hm_xml_child_count_named(r, lists[i]);
    }

    rc = HM_ENOMEM;
    c = calloc(1, sizeof(*c));
    p = calloc(1, sizeof(*p));
    if (c == NULL || p == NULL) goto err;
    c->priv = p;
    p->doc = doc;
    doc = NULL;
    c->rules = calloc(rules, sizeof(*c->rules));
    p->strs = calloc(strings > 0 ? strings : 1, sizeof(*p->strs));
    if (c->rules == NULL || p->strs == NULL) goto err;
    size_t at = 0;
    for (const hm_xml_node *r = hm_xml_child(hm_xml_root(p->doc), "CORSRule"); r != NULL;
         r = hm_xml_next_named(r)) {
        hm_cors_rule *rule = &c->rules[c->rule_count++];
        rule->id = hm_xml_child_text(r, "ID", NULL);
        rule->origins = cors_collect(r, "AllowedOrigin", p->strs, &at, &rule->origin_count);
        rule->headers = cors_collect(r, "AllowedHeader", p->strs, &at, &rule->header_count);
        rule->expose = cors_collect(r, "ExposeHeader", p->strs, &at, &rule->expose_count);
        for (const hm_xml_node *m = hm_xml_child(r, "AllowedMethod"); m != NULL;
             m = hm_xml_next_named(m))
            rule->methods |= hm_cors_method_bit(m->text);
        const char *ages = hm_xml_child_text(r, "MaxAgeSeconds", NULL);
        rule->has_max_age = ages != NULL && cors_parse_age(ages, &rule->max_age_s);
    }
    *out = c;
    return 0;

err:
    hm_xml_doc_free(doc);
    if (c == NULL || c->priv == NULL) free(p);
    hm_cors_free(c);
    return rc;
}

int hm_cors_render(const hm_cors_config *c, hm_xml_writer *w)
{
    hm_xml_prolog(w);
    hm_xml_open_s3(w, "CORSConfiguration");
    for (size_t i = 0; i < c->rule_count; i++) {
        const hm_cors_rule *r = &c->rules[i];
        hm_xml_open(w, "CORSRule");
        if (r->id != NULL) hm_xml_elem(w, "ID", r->id);
        for (size_t k = 0; k < r->header_count; k++) hm_xml_elem(w, "AllowedHeader", r->headers[k]);
        for (size_t k = 0; k < CORS_METHODS_COUNT; k++)
            if (r->methods & cors_methods[k].bit)
                hm_xml_elem(w, "AllowedMethod", cors_methods[k].name);
        for (size_t k = 0; k < r->origin_count; k++) hm_xml_elem(w, "AllowedOrigin", r->origins[k]);
        for (size_t k = 0; k < r->expose_count; k++) hm_xml_elem(w, "ExposeHeader", r->expose[k]);
        if (r->has_max_age) hm_xml_elem_i64(w, "MaxAgeSeconds", r->max_age_s);
        hm_xml_close(w);
    }
    hm_xml_close(w);
    return hm_xml_writer_err(w);
}

/* ---- handlers ------------------------------------------------------------------------ */

enum MHD_Result gw_get_bucket_cors(gw_req *r)
{
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_bucket_get(r->gw->svc, r->id, r->bucket, &resp);
    if (rc != 0) return gw_send_hm_error(r, rc);
    const char *xml = resp->bucket->cors_xml;
    if (xml == NULL || xml[0] == '\0') {
        hm__meta_response__free_unpacked(resp, NULL);
        hm_s3err_extra ex = {"BucketName", r->bucket};
        return gw_send_error(r, HM_S3_NO_SUCH_CORS, NULL, &ex, 1);
    }
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(strlen(xml), (void *)xml, MHD_RESPMEM_MUST_COPY);
    hm__meta_response__free_unpacked(resp, NULL);
    if (mr == NULL) return gw_send_hm_error(r, HM_ENOMEM);
    MHD_add_response_header(mr, "Content-Type", "application/xml");
    return gw_send(r, MHD_HTTP_OK, mr);
}

enum MHD_Result gw_put_bucket_cors_begin(gw_req *r)
{
    return gw_small_body_begin(r, GW_OP_PUT_BUCKET_CORS);
}

enum MHD_Result gw_put_bucket_cors_finish(gw_req *r)
{
    bool ok = false;
    enum MHD_Result ret = gw_small_body_check(r, false, &ok);
    if (!ok) return ret;
    if (r->body_len == 0) return gw_send_error(r, HM_S3_MISSING_REQUEST_BODY, NULL, NULL, 0);
    hm_cors_config *c = NULL;
    const char *why = NULL;
    int rc = hm_cors_parse(r->body, r->body_len, &c, &why);
    if (rc == HM_ENOMEM) return gw_send_hm_error(r, rc);
    if (rc == HM_EINVAL) return gw_send_error(r, HM_S3_INVALID_REQUEST, why, NULL, 0);
    if (rc != 0) return gw_send_error(r, HM_S3_MALFORMED_XML, NULL, NULL, 0);
    hm_xml_writer w;
    hm_xml_writer_init(&w, HM_HTTP_XML_BODY_BYTES_MAX);
    rc = hm_cors_render(c, &w);
    hm_cors_free(c);
    const char *xml = NULL;
    size_t len = 0;
    if (rc == 0) rc = hm_xml_writer_finish(&w, &xml, &len);
    if (rc == HM_ETOOBIG) {
        hm_xml_writer_free(&w);
        return gw_send_error(r, HM_S3_INVALID_REQUEST, "The CORS configuration is too large",
                             NULL, 0);
    }
    if (rc == 0) rc = hm_objsvc_bucket_set_cors(r->gw->svc, r->id, r->bucket, xml);
    hm_xml_writer_free(&w);
    if (rc != 0) return gw_send_hm_error(r, rc);
    return gw_send_empty(r, MHD_HTTP_OK);
}

enum MHD_Result gw_delete_bucket_cors(gw_req *r)
{
    int rc = hm_objsvc_bucket_set_cors(r->gw->svc, r->id, r->bucket, NULL);
    if (rc != 0) return gw_send_hm_error(r, rc);
    return gw_send_empty(r, MHD_HTTP_NO_CONTENT);
}

/* The bucket's parsed configuration.  HM_ENOENT when it has none; the
 * bucket's own errors pass through. */
static int gw_cors_load(gw_req *r, hm_cors_config **out)
{
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_bucket_get(r->gw->svc, r->id, r->bucket, &resp);
    if (rc != 0) return rc;
    const char *xml = resp->bucket->cors_xml;
    if (xml == NULL || xml[0] == '\0') rc = HM_ENOENT;
    else rc = hm_cors_parse(xml, strlen(xml), out, &(const char *){NULL});
    hm__meta_response__free_unpacked(resp, NULL);
    return rc;
}

/* names joined with ", " into out (cap bytes; truncated at a name). */
static void gw_cors_join(const char *const *names, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (o + l + 3 > cap) break;
        if (o > 0) {
            memcpy(out + o, ", ", 2);
            o += 2;
        }
        memcpy(out + o, names[i], l);
        o += l;
        out[o] = '\0';
    }
}

/* The headers a matching rule grants, for the preflight and for actual
 * requests alike. */
static void gw_cors_grant(struct MHD_Response *resp, const hm_cors_rule *rule,
                          const char *pattern, const char *origin)
{
    char buf[GW_CORS_HEADER_BYTES_MAX];
    bool any = strcmp(pattern, "*") == 0;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", any ? "*" : origin);
    if (!any) MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
    const char *methods[CORS_METHODS_COUNT];
    size_t nm = 0;
    for (size_t k = 0; k < CORS_METHODS_COUNT; k++)
        if (rule->methods & cors_methods[k].bit) methods[nm++] = cors_methods[k].name;
    gw_cors_join(methods, nm, buf, sizeof(buf));
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", buf);
    if (rule->expose_count > 0) {
        gw_cors_join(rule->expose, rule->expose_count, buf, sizeof(buf));
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", buf);
    }
    if (rule->has_max_age) {
        snprintf(buf, sizeof(buf), "%lld", (long long)rule->max_age_s);
        MHD_add_response_header(resp, "Access-Control-Max-Age", buf);
    }
    MHD_add_response_header(resp, "Vary",
                            "Origin, Access-Control-Request-Headers, "
                            "Access-Control-Request-Method");
}

enum MHD_Result gw_cors_preflight(gw_req *r)
{
    const char *origin = gw_header(r, "Origin");
    const char *method = gw_header(r, "Access-Control-Request-Method");
    const char *hdrs = gw_header(r, "Access-Control-Request-Headers");
    if (origin == NULL || origin[0] == '\0')
        return gw_send_error(r, HM_S3_INVALID_REQUEST,
                             "Insufficient information. Origin request header needed.", NULL,
                             0);
    if (method == NULL || hm_cors_method_bit(method) == 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "Invalid Access-Control-Request-Method: %.40s",
                 method != NULL ? method : "null");
        return gw_send_error(r, HM_S3_INVALID_REQUEST, msg, NULL, 0);
    }
    if (r->bucket == NULL || !hm_objsvc_bucket_name_valid(r->bucket))
        return gw_send_error(r, HM_S3_ACCESS_FORBIDDEN, "CORSResponse: Bucket not found",
                             NULL, 0);
    hm_cors_config *c = NULL;
    int rc = gw_cors_load(r, &c);
    if (rc == HM_ENOBUCKET)
        return gw_send_error(r, HM_S3_ACCESS_FORBIDDEN, "CORSResponse: Bucket not found",
                             NULL, 0);
    if (rc == HM_ENOENT)
        return gw_send_error(r, HM_S3_ACCESS_FORBIDDEN,
                             "CORSResponse: CORS is not enabled for this bucket.", NULL, 0);
    if (rc != 0) return gw_send_hm_error(r, rc == HM_EPROTO || rc == HM_EINVAL ? HM_EINTERNAL
                                                                             : rc);
    size_t oi = 0;
    const hm_cors_rule *rule = hm_cors_match(c, origin, method, hdrs, &oi);
    if (rule == NULL) {
        hm_cors_free(c);
        return gw_send_error(r, HM_S3_ACCESS_FORBIDDEN,
                             "CORSResponse: This CORS request is not allowed. This is usually "
                             "because the evalution of Origin, request method / "
                             "Access-Control-Request-Method or Access-Control-Request-Headers "
                             "are not whitelisted by the resource's CORS spec.",
                             NULL, 0);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp != NULL) {
        gw_cors_grant(resp, rule, rule->origins[oi], origin);
        if (hdrs != NULL && hdrs[0] != '\0')
            MHD_add_response_header(resp, "Access-Control-Allow-Headers", hdrs);
    }
    hm_cors_free(c);
    return gw_send(r, MHD_HTTP_OK, resp);
}

void gw_cors_response_headers(gw_req *r, struct MHD_Response *resp)
{
    const char *origin = gw_header(r, "Origin");
    if (origin == NULL || origin[0] == '\0' || r->bucket == NULL ||
        !hm_objsvc_bucket_name_valid(r->bucket))
        return;
    hm_cors_config *c = NULL;
    if (gw_cors_load(r, &c) != 0) return;
    size_t oi = 0;
    const hm_cors_rule *rule = hm_cors_match(c, origin, r->method, NULL, &oi);
    if (rule != NULL) gw_cors_grant(resp, rule, rule->origins[oi], origin);
    hm_cors_free(c);
}
