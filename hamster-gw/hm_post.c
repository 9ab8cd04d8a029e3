/* hm_post.c - browser form uploads: multipart/form-data, the POST policy
 * and its signature; see hm_post.h.
 *
 * Shaping decision: one byte-exact state machine for the form, fed pieces of
 * any size, so a piece boundary anywhere (inside a delimiter, a header
 * line, a CRLF) parses the same as the whole body at once; the unit tests
 * split every body at every offset to hold it to that.
 *
 * References: AWS S3 API Reference, "POST Object", "Creating a POST
 * Policy", "Browser-Based Uploads Using POST (AWS Signature Version 4)";
 * RFC 7578, RFC 2046 §5.1, RFC 8259, RFC 4648 §4.
 */
#include "hm_post.h"
#include "hm_sigv2.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_base64.h"
#include "hm_err.h"
#include "hm_limits.h"

#define POST_DELIM_BYTES_MAX (4u + HM_POST_BOUNDARY_BYTES_MAX)

static char post_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

static bool post_eq_ci(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++)
        if (post_lower(*a) != post_lower(*b)) return false;
    return *a == *b;
}

static bool post_prefix_ci(const char *s, const char *prefix)
{
    for (; *prefix != '\0'; s++, prefix++)
        if (*s == '\0' || post_lower(*s) != post_lower(*prefix)) return false;
    return true;
}

/* ---- multipart/form-data -------------------------------------------------------- */

enum post_state {
    POST_PREAMBLE = 0, /* before the first delimiter: discarded */
    POST_DELIM_TAIL,   /* right after "CRLF--boundary" */
    POST_DELIM_PAD,    /* in transport padding */
    POST_DELIM_DASH,   /* one '-' of the closing "--" */
    POST_DELIM_CR,     /* CR of the CRLF that ends the delimiter line */
    POST_HEADERS,      /* a part's header lines */
    POST_HEADER_LF,    /* CR seen in a header line */
    POST_FIELD,        /* a field's value */
    POST_FILE,         /* the file's bytes, to the sink */
    POST_SKIP,         /* a part after the file: ignored */
    POST_EPILOGUE,     /* after the closing delimiter: ignored */
};

typedef struct post_field {
    char *name;
    char *value;
} post_field;

struct hm_post_form {
    int err;                              /* sticky */
    enum post_state state;
    uint8_t delim[POST_DELIM_BYTES_MAX];  /* "\r\n--" boundary */
    size_t dlen;
    uint8_t fail[POST_DELIM_BYTES_MAX];   /* KMP failure function of delim */
    size_t k;                             /* delimiter bytes matched */
    size_t prev;                          /* of those, bytes from earlier pieces */
    size_t padding;
    /* the part being read */
    char line[HM_POST_HEADER_LINE_BYTES_MAX + 1];
    size_t line_len;
    size_t header_count;
    bool has_disposition;
    char part_name[HM_POST_NAME_BYTES_MAX + 1];
    char part_filename[HM_POST_HEADER_LINE_BYTES_MAX + 1];
    char part_ctype[HM_POST_HEADER_LINE_BYTES_MAX + 1];
    bool has_ctype;
    /* fields */
    post_field fields[HM_POST_FIELDS_MAX];
    size_t field_count;
    size_t form_bytes;
    char *cur;                            /* value being collected */
    size_t cur_len;
    size_t cur_cap;
    bool file_seen;
    bool file_done;
    size_t parts_after_file;
};

/* RFC 2046 bchars. */
static bool post_bchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           strchr("'()+_,-./:=? ", c) != NULL;
}

int hm_post_form_new(const char *content_type, hm_post_form **out)
{
    static const char mt[] = "multipart/form-data";
    if (content_type == NULL || !post_prefix_ci(content_type, mt)) return HM_EINVAL;
    const char *s = content_type + sizeof(mt) - 1;
    char boundary[HM_POST_BOUNDARY_BYTES_MAX + 1];
    size_t blen = 0;
    bool found = false;
    /* parameters: *( OWS ";" OWS name "=" ( token / quoted-string ) ) */
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\0') break;
        if (*s != ';') return HM_EINVAL;
        s++;
        while (*s == ' ' || *s == '\t') s++;
        const char *name = s;
        while (*s != '\0' && *s != '=' && *s != ';' && *s != ' ') s++;
        size_t nlen = (size_t)(s - name);
        if (*s != '=') return HM_EINVAL;
        s++;
        char val[HM_POST_BOUNDARY_BYTES_MAX + 1];
        size_t vlen = 0;
        bool too_long = false;
        if (*s == '"') {
            s++;
            while (*s != '"') {
                if (*s == '\0') return HM_EINVAL;
                if (*s == '\\' && s[1] != '\0') s++;
                if (vlen == HM_POST_BOUNDARY_BYTES_MAX) too_long = true;
                else val[vlen++] = *s;
                s++;
            }
            s++;
        } else {
            while (*s != '\0' && *s != ';' && *s != ' ' && *s != '\t') {
                if (vlen == HM_POST_BOUNDARY_BYTES_MAX) too_long = true;
                else val[vlen++] = *s;
                s++;
            }
        }
        val[vlen] = '\0';
        if (nlen == 8 && post_prefix_ci(name, "boundary")) {
            if (found || too_long || vlen == 0 || val[vlen - 1] == ' ') return HM_EINVAL;
            for (size_t i = 0; i < vlen; i++)
                if (!post_bchar(val[i])) return HM_EINVAL;
            memcpy(boundary, val, vlen + 1);
            blen = vlen;
            found = true;
        }
    }
    if (!found) return HM_EINVAL;
    hm_post_form *f = calloc(1, sizeof(*f));
    if (f == NULL) return HM_ENOMEM;
    memcpy(f->delim, "\r\n--", 4);
    memcpy(f->delim + 4, boundary, blen);
    f->dlen = 4 + blen;
    /* KMP: fail[j] = longest proper prefix of delim[0..j] that is also its
     * suffix. */
    f->fail[0] = 0;
    for (size_t j = 1, len = 0; j < f->dlen;) {
        if (f->delim[j] == f->delim[len]) {
            f->fail[j++] = (uint8_t)++len;
        } else if (len > 0) {
            len = f->fail[len - 1];
        } else {
            f->fail[j++] = 0;
        }
    }
    /* The body may start with the delimiter itself: behave as if a CRLF
     * came before it (RFC 2046: the CRLF belongs to the delimiter). */
    f->state = POST_PREAMBLE;
    f->k = 2;
    f->prev = 2;
    *out = f;
    return 0;
}

void hm_post_form_free(hm_post_form *f)
{
    if (f == NULL) return;
    for (size_t i = 0; i < f->field_count; i++) {
        free(f->fields[i].name);
        free(f->fields[i].value);
    }
    free(f->cur);
    free(f);
}

const char *hm_post_form_get(const hm_post_form *f, const char *name)
{
    for (size_t i = 0; i < f->field_count; i++)
        if (post_eq_ci(f->fields[i].name, name)) return f->fields[i].value;
    return NULL;
}

size_t hm_post_form_count(const hm_post_form *f) { return f->field_count; }
const char *hm_post_form_name(const hm_post_form *f, size_t i) { return f->fields[i].name; }
const char *hm_post_form_value(const hm_post_form *f, size_t i) { return f->fields[i].value; }
bool hm_post_form_file_seen(const hm_post_form *f) { return f->file_seen; }

/* Bytes of the current part's content, in order. */
static int post_emit(hm_post_form *f, const uint8_t *data, size_t len, const hm_post_sink *sink)
{
    if (len == 0) return 0;
    switch (f->state) {
    case POST_FILE: return sink->file_data(sink->ctx, data, len);
    case POST_FIELD:
        if (memchr(data, '\0', len) != NULL) return HM_EPROTO;
        if (len > HM_POST_VALUE_BYTES_MAX - f->cur_len ||
            len > HM_POST_FORM_BYTES_MAX - f->form_bytes)
            return HM_ETOOBIG;
        if (f->cur_len + len + 1 > f->cur_cap) {
            size_t cap = f->cur_cap > 0 ? f->cur_cap : 256;
            while (cap < f->cur_len + len + 1) cap *= 2;
            if (cap > HM_POST_VALUE_BYTES_MAX + 1) cap = HM_POST_VALUE_BYTES_MAX + 1;
            char *n = realloc(f->cur, cap);
            if (n == NULL) return HM_ENOMEM;
            f->cur = n;
            f->cur_cap = cap;
        }
        memcpy(f->cur + f->cur_len, data, len);
        f->cur_len += len;
        f->form_bytes += len;
        return 0;
    default: return 0; /* preamble, parts after the file */
    }
}

/* Search piece in for the delimiter, handing the content before it to
 * post_emit.  *used gets the bytes consumed (through the delimiter when
 * *found). */
static int post_scan(hm_post_form *f, const uint8_t *in, size_t len, const hm_post_sink *sink,
                     size_t *used, bool *found)
{
    /* Invariant: the k pending bytes are delim[0..k); the first prev of
     * them came from earlier pieces, the rest are in[i - (k - prev) .. i).
     * in[run .. i - (k - prev)) is content not yet emitted. */
    size_t i = 0, run = 0;
    int rc;
    *found = false;
    while (i < len) {
        if (f->k == 0) {
            const uint8_t *cr = memchr(in + i, '\r', len - i);
            i = cr != NULL ? (size_t)(cr - in) : len;
            if (i == len) break;
        }
        uint8_t c = in[i];
        size_t k = f->k, nk = k;
        while (nk > 0 && f->delim[nk] != c) nk = f->fail[nk - 1];
        if (f->delim[nk] == c) nk++;
        size_t released = k + 1 - nk;
        if (f->prev > 0 && released > 0) {
            /* Earlier pieces' pending bytes go first (no input byte is
             * released while any of them is pending). */
            size_t from_prev = released < f->prev ? released : f->prev;
            rc = post_emit(f, f->delim, from_prev, sink);
            if (rc != 0) return rc;
            f->prev -= from_prev;
        }
        f->k = nk;
        i++;
        if (nk == f->dlen) {
            size_t end = i - (f->dlen - f->prev);
            rc = post_emit(f, in + run, end - run, sink);
            if (rc != 0) return rc;
            f->k = 0;
            f->prev = 0;
            *used = i;
            *found = true;
            return 0;
        }
    }
    size_t end = len - (f->k - f->prev);
    rc = post_emit(f, in + run, end - run, sink);
    if (rc != 0) return rc;
    f->prev = f->k;
    *used = len;
    return 0;
}

/* Copy a Content-Disposition parameter value (token or quoted-string with
 * backslash escapes) from *sp into out (cap bytes).  HM_EPROTO, HM_ETOOBIG. */
static int post_param_value(const char **sp, char *out, size_t cap)
{
    const char *s = *sp;
    size_t n = 0;
    if (*s == '"') {
        s++;
        while (*s != '"') {
            if (*s == '\0') return HM_EPROTO;
            if (*s == '\\' && s[1] != '\0') s++;
            if (n + 1 >= cap) return HM_ETOOBIG;
            out[n++] = *s++;
        }
        s++;
    } else {
        while (*s != '\0' && *s != ';' && *s != ' ' && *s != '\t') {
            if (n + 1 >= cap) return HM_ETOOBIG;
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    *sp = s;
    return 0;
}

/* Content-Disposition: form-data; name="..."; filename="..." */
static int post_disposition(hm_post_form *f, const char *v)
{
    static const char fd[] = "form-data";
    if (f->has_disposition || !post_prefix_ci(v, fd)) return HM_EPROTO;
    f->has_disposition = true;
    const char *s = v + sizeof(fd) - 1;
    bool has_name = false, has_filename = false;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\0') break;
        if (*s != ';') return HM_EPROTO;
        s++;
        while (*s == ' ' || *s == '\t') s++;
        const char *pn = s;
        while (*s != '\0' && *s != '=' && *s != ';' && *s != ' ' && *s != '\t') s++;
        size_t pl = (size_t)(s - pn);
        while (*s == ' ' || *s == '\t') s++;
        if (*s != '=' || pl == 0) return HM_EPROTO;
        s++;
        while (*s == ' ' || *s == '\t') s++;
        char scratch[HM_POST_HEADER_LINE_BYTES_MAX + 1];
        char *dst = scratch;
        size_t cap = sizeof(scratch);
        if (pl == 4 && post_prefix_ci(pn, "name")) {
            if (has_name) return HM_EPROTO;
            has_name = true;
            dst = f->part_name;
            cap = sizeof(f->part_name);
        } else if (pl == 8 && post_prefix_ci(pn, "filename")) {
            if (has_filename) return HM_EPROTO;
            has_filename = true;
            dst = f->part_filename;
            cap = sizeof(f->part_filename);
        }
        int rc = post_param_value(&s, dst, cap);
        if (rc != 0) return rc;
    }
    if (!has_name || f->part_name[0] == '\0') return HM_EPROTO;
    return 0;
}

/* One complete header line of a part (without CRLF). */
static int post_header_line(hm_post_form *f)
{
    if (f->header_count == HM_POST_PART_HEADERS_MAX) return HM_ETOOBIG;
    f->header_count++;
    f->line[f->line_len] = '\0';
    char *colon = strchr(f->line, ':');
    /* No folded lines (RFC 7578 §4.8 / RFC 7230 §3.2.4) and a name. */
    if (colon == NULL || colon == f->line || f->line[0] == ' ' || f->line[0] == '\t')
        return HM_EPROTO;
    *colon = '\0';
    for (const char *c = f->line; *c != '\0'; c++)
        if (*c == ' ' || *c == '\t') return HM_EPROTO;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    size_t vl = strlen(v);
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) v[--vl] = '\0';
    if (post_eq_ci(f->line, "Content-Disposition")) return post_disposition(f, v);
    if (post_eq_ci(f->line, "Content-Type")) {
        if (f->has_ctype) return HM_EPROTO;
        f->has_ctype = true;
        memcpy(f->part_ctype, v, vl + 1);
    }
    return 0; /* other headers (Content-Transfer-Encoding, ...) are ignored */
}

/* The empty line after a part's headers: decide what the part is. */
static int post_part_start(hm_post_form *f, const hm_post_sink *sink)
{
    if (!f->has_disposition) return HM_EPROTO;
    if (f->file_done) {
        f->state = POST_SKIP;
        return 0;
    }
    if (post_eq_ci(f->part_name, "file")) {
        f->file_seen = true;
        f->state = POST_FILE;
        return sink->file_begin(sink->ctx, f, f->part_filename,
                                f->has_ctype ? f->part_ctype : NULL);
    }
    if (f->field_count == HM_POST_FIELDS_MAX) return HM_ETOOBIG;
    if (hm_post_form_get(f, f->part_name) != NULL) return HM_EPROTO;
    size_t nl = strlen(f->part_name);
    if (nl > HM_POST_FORM_BYTES_MAX - f->form_bytes) return HM_ETOOBIG;
    f->form_bytes += nl;
    f->cur_len = 0;
    f->state = POST_FIELD;
    return 0;
}

/* A delimiter ended the current state's content. */
static int post_delimiter(hm_post_form *f)
{
    if (f->state == POST_FIELD) {
        post_field *fl = &f->fields[f->field_count];
        fl->name = strdup(f->part_name);
        fl->value = malloc(f->cur_len + 1);
        if (fl->name == NULL || fl->value == NULL) {
            free(fl->name);
            free(fl->value);
            fl->name = fl->value = NULL;
            return HM_ENOMEM;
        }
        if (f->cur_len > 0) memcpy(fl->value, f->cur, f->cur_len);
        fl->value[f->cur_len] = '\0';
        f->field_count++;
    } else if (f->state == POST_FILE) {
        f->file_done = true;
    }
    f->state = POST_DELIM_TAIL;
    f->padding = 0;
    return 0;
}

static void post_part_reset(hm_post_form *f)
{
    f->line_len = 0;
    f->header_count = 0;
    f->has_disposition = false;
    f->part_name[0] = '\0';
    f->part_filename[0] = '\0';
    f->part_ctype[0] = '\0';
    f->has_ctype = false;
}

int hm_post_form_feed(hm_post_form *f, const void *data, size_t len, const hm_post_sink *sink)
{
    const uint8_t *in = data;
    size_t i = 0;
    int rc = f->err;
    while (rc == 0 && i < len) {
        switch (f->state) {
        case POST_PREAMBLE:
        case POST_FIELD:
        case POST_FILE:
        case POST_SKIP: {
            size_t used = 0;
            bool found = false;
            rc = post_scan(f, in + i, len - i, sink, &used, &found);
            i += used;
            if (rc == 0 && found) rc = post_delimiter(f);
            break;
        }
        case POST_EPILOGUE: i = len; break;
        case POST_DELIM_TAIL:
        case POST_DELIM_PAD: {
            uint8_t c = in[i++];
            if (c == '-' && f->state == POST_DELIM_TAIL) {
                f->state = POST_DELIM_DASH;
            } else if (c == ' ' || c == '\t') {
                f->state = POST_DELIM_PAD;
                if (++f->padding > HM_POST_PADDING_BYTES_MAX) rc = HM_EPROTO;
            } else if (c == '\r') {
                f->state = POST_DELIM_CR;
            } else {
                rc = HM_EPROTO;
            }
            break;
        }
        case POST_DELIM_DASH:
            if (in[i++] != '-') rc = HM_EPROTO;
            else f->state = POST_EPILOGUE;
            break;
        case POST_DELIM_CR:
            if (in[i++] != '\n') {
                rc = HM_EPROTO;
                break;
            }
            if (f->file_done && ++f->parts_after_file > HM_POST_PARTS_AFTER_FILE_MAX) {
                rc = HM_ETOOBIG;
                break;
            }
            post_part_reset(f);
            f->state = POST_HEADERS;
            break;
        case POST_HEADERS: {
            uint8_t c = in[i++];
            if (c == '\r') {
                f->state = POST_HEADER_LF;
            } else if (c == '\n' || c == '\0') {
                rc = HM_EPROTO;
            } else if (f->line_len == HM_POST_HEADER_LINE_BYTES_MAX) {
                rc = HM_ETOOBIG;
            } else {
                f->line[f->line_len++] = (char)c;
            }
            break;
        }
        case POST_HEADER_LF:
            if (in[i++] != '\n') {
                rc = HM_EPROTO;
                break;
            }
            if (f->line_len == 0) {
                rc = post_part_start(f, sink);
            } else {
                rc = post_header_line(f);
                f->line_len = 0;
                f->state = POST_HEADERS;
            }
            break;
        }
    }
    f->err = rc;
    return rc;
}

int hm_post_form_finish(hm_post_form *f)
{
    if (f->err != 0) return f->err;
    if (f->state != POST_EPILOGUE) return HM_EPROTO;
    if (!f->file_seen) return HM_ENOENT;
    return 0;
}

/* ---- the policy --------------------------------------------------------------------- */

static int post_digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return HM_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t post_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" into unix ms. */
static int post_iso8601(const char *s, int64_t *ms_out)
{
    size_t n = strlen(s);
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[n - 1] != 'Z')
        return HM_EINVAL;
    int y, mo, d, h, mi, se, frac_ms = 0;
    if (post_digits(s, 4, &y) || post_digits(s + 5, 2, &mo) || post_digits(s + 8, 2, &d) ||
        post_digits(s + 11, 2, &h) || post_digits(s + 14, 2, &mi) ||
        post_digits(s + 17, 2, &se))
        return HM_EINVAL;
    if (n > 20) {
        size_t fl = n - 21; /* digits between '.' and 'Z' */
        if (s[19] != '.' || fl == 0 || fl > 9) return HM_EINVAL;
        int f = 0;
        if (post_digits(s + 20, fl, &f)) return HM_EINVAL;
        for (size_t i = fl; i < 3; i++) f *= 10;
        for (size_t i = 3; i < fl; i++) f /= 10;
        frac_ms = f;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        se > 60)
        return HM_EINVAL;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return HM_EINVAL;
    int64_t days = post_days_from_civil(y, mo, d);
    *ms_out = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000 + frac_ms;
    return 0;
}

/* A content-length-range bound: an integer or a string of digits. */
static int post_range_bound(const hm_json_node *n, int64_t *out)
{
    if (n->type == HM_JSON_INT) {
        *out = n->num;
        return n->num >= 0 ? 0 : HM_EPROTO;
    }
    if (n->type != HM_JSON_STRING || n->str_len == 0 || n->str_len > 18) return HM_EPROTO;
    int64_t v = 0;
    for (size_t i = 0; i < n->str_len; i++) {
        if (n->str[i] < '0' || n->str[i] > '9') return HM_EPROTO;
        v = v * 10 + (n->str[i] - '0');
    }
    *out = v;
    return 0;
}

static int post_policy_cond(const hm_json_node *c, hm_post_cond *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (c->type == HM_JSON_OBJECT) {
        const hm_json_node *m = c->first_child;
        if (c->child_count != 1 || m->type != HM_JSON_STRING) {
            *why = "a condition object must have exactly one string member";
            return HM_EPROTO;
        }
        out->kind = HM_POST_COND_EQ;
        out->field = m->key[0] == '$' ? m->key + 1 : m->key;
        out->value = m->str;
        return 0;
    }
    if (c->type != HM_JSON_ARRAY || c->child_count != 3 ||
        c->first_child->type != HM_JSON_STRING) {
        *why = "a condition must be an object or a three-element array";
        return HM_EPROTO;
    }
    const hm_json_node *op = c->first_child, *a = op->next_sibling, *b = a->next_sibling;
    if (post_eq_ci(op->str, "content-length-range")) {
        out->kind = HM_POST_COND_LENGTH_RANGE;
        if (post_range_bound(a, &out->min) != 0 || post_range_bound(b, &out->max) != 0 ||
            out->min > out->max) {
            *why = "bad content-length-range";
            return HM_EPROTO;
        }
        return 0;
    }
    if (post_eq_ci(op->str, "eq")) out->kind = HM_POST_COND_EQ;
    else if (post_eq_ci(op->str, "starts-with")) out->kind = HM_POST_COND_STARTS_WITH;
    else {
        *why = "unknown condition operator";
        return HM_EPROTO;
    }
    if (a->type != HM_JSON_STRING || a->str[0] != '$' || a->str[1] == '\0' ||
        b->type != HM_JSON_STRING) {
        *why = "a condition names a field as \"$name\" and a string value";
        return HM_EPROTO;
    }
    out->field = a->str + 1;
    out->value = b->str;
    return 0;
}

int hm_post_policy_parse(const char *b64, hm_post_policy *out, const char **why)
{
    const char *dummy;
    if (why == NULL) why = &dummy;
    *why = NULL;
    memset(out, 0, sizeof(*out));
    size_t n = strlen(b64);
    if (n > HM_POST_POLICY_BYTES_MAX) {
        *why = "policy too large";
        return HM_ETOOBIG;
    }
    uint8_t *json = malloc(n / 4 * 3 + 1);
    if (json == NULL) return HM_ENOMEM;
    size_t jl = 0;
    int rc = hm_base64_decode_n(b64, n, json, n / 4 * 3 + 1, &jl);
    if (rc != 0) {
        free(json);
        *why = "policy is not base64";
        return HM_EINVAL;
    }
    hm_json_doc *doc = NULL;
    rc = hm_json_parse((const char *)json, jl, &doc, why);
    free(json);
    if (rc != 0) return rc;
    out->doc = doc;
    const hm_json_node *root = hm_json_root(doc);
    const hm_json_node *exp = hm_json_get(root, "expiration");
    const hm_json_node *conds = hm_json_get(root, "conditions");
    rc = HM_EPROTO;
    if (root->type != HM_JSON_OBJECT) {
        *why = "policy is not a JSON object";
        goto err;
    }
    for (const hm_json_node *m = root->first_child; m != NULL; m = m->next_sibling) {
        if (strcmp(m->key, "expiration") != 0 && strcmp(m->key, "conditions") != 0) {
            *why = "unknown policy member";
            goto err;
        }
    }
    if (exp == NULL || exp->type != HM_JSON_STRING ||
        post_iso8601(exp->str, &out->expiration_ms) != 0) {
        *why = "policy needs an ISO 8601 expiration";
        goto err;
    }
    if (conds == NULL || conds->type != HM_JSON_ARRAY) {
        *why = "policy needs a conditions array";
        goto err;
    }
    if (conds->child_count > HM_POST_CONDITIONS_MAX) {
        *why = "too many conditions";
        rc = HM_ETOOBIG;
        goto err;
    }
    for (const hm_json_node *c = conds->first_child; c != NULL; c = c->next_sibling) {
        rc = post_policy_cond(c, &out->conds[out->cond_count], why);
        if (rc != 0) goto err;
        out->cond_count++;
    }
    return 0;

err:
    hm_post_policy_free(out);
    return rc;
}

void hm_post_policy_free(hm_post_policy *p)
{
    if (p == NULL) return;
    hm_json_free(p->doc);
    memset(p, 0, sizeof(*p));
}

static const char *post_check_value(const hm_post_check_args *a, const char *field)
{
    if (post_eq_ci(field, "bucket")) return a->bucket;
    if (post_eq_ci(field, "key")) return a->key;
    return hm_post_form_get(a->form, field);
}

/* starts-with on Content-Type holds for each comma-separated value. */
static bool post_starts_with(const char *field, const char *value, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (!post_eq_ci(field, "Content-Type")) return strncmp(value, prefix, pl) == 0;
    const char *s = value;
    for (;;) {
        while (*s == ' ') s++;
        if (strncmp(s, prefix, pl) != 0) return false;
        s = strchr(s, ',');
        if (s == NULL) return true;
        s++;
    }
}

/* Fields that need no condition (AWS "Creating a POST Policy"; for a SigV2
 * form, "Browser-based uploads using POST (AWS signature version 2)" also
 * exempts AWSAccessKeyId and signature). */
static bool post_field_exempt(const char *name, bool sigv2)
{
    if (sigv2 && (post_eq_ci(name, "awsaccesskeyid") || post_eq_ci(name, "signature")))
        return true;
    return post_eq_ci(name, "x-amz-signature") || post_eq_ci(name, "file") ||
           post_eq_ci(name, "policy") || post_prefix_ci(name, "x-ignore-");
}

int hm_post_policy_check(const hm_post_policy *p, const hm_post_check_args *a,
                         int64_t *len_min, int64_t *len_max, char *msg, size_t cap)
{
    *len_min = 0;
    *len_max = INT64_MAX;
    if (a->now_ms > p->expiration_ms) {
        snprintf(msg, cap, "Invalid according to Policy: Policy expired.");
        return HM_EPERM;
    }
    for (size_t i = 0; i < p->cond_count; i++) {
        const hm_post_cond *c = &p->conds[i];
        if (c->kind == HM_POST_COND_LENGTH_RANGE) {
            if (c->min > *len_min) *len_min = c->min;
            if (c->max < *len_max) *len_max = c->max;
            continue;
        }
        const char *v = post_check_value(a, c->field);
        if (v == NULL) v = "";
        bool ok = c->kind == HM_POST_COND_EQ ? strcmp(v, c->value) == 0
                                             : post_starts_with(c->field, v, c->value);
        if (!ok) {
            snprintf(msg, cap, "Invalid according to Policy: Policy Condition failed: "
                     "[\"%s\", \"$%s\", \"%s\"]",
                     c->kind == HM_POST_COND_EQ ? "eq" : "starts-with", c->field, c->value);
            return HM_EPERM;
        }
    }
    for (size_t i = 0; i < hm_post_form_count(a->form); i++) {
        const char *name = hm_post_form_name(a->form, i);
        if (post_field_exempt(name, a->sigv2)) continue;
        bool covered = false;
        for (size_t j = 0; j < p->cond_count && !covered; j++)
            covered = p->conds[j].field != NULL && post_eq_ci(p->conds[j].field, name);
        if (!covered) {
            snprintf(msg, cap, "Invalid according to Policy: Extra input fields: %s", name);
            return HM_EPERM;
        }
    }
    return 0;
}

/* ---- credential and signature --------------------------------------------------------- */

int hm_post_credential_parse(const char *s, hm_post_credential *out)
{
    const char *parts[5];
    size_t lens[5];
    size_t np = 0;
    const char *p = s;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash != NULL ? (size_t)(slash - p) : strlen(p);
        if (np == 5) return HM_EINVAL;
        parts[np] = p;
        lens[np++] = l;
        if (slash == NULL) break;
        p = slash + 1;
    }
    if (np != 5) return HM_EINVAL;
    if (lens[0] == 0 || lens[0] > HM_SIGV4_ACCESS_KEY_BYTES_MAX) return HM_EINVAL;
    for (size_t i = 0; i < lens[0]; i++)
        if ((unsigned char)parts[0][i] <= 0x20 || parts[0][i] == 0x7f) return HM_EINVAL;
    if (lens[1] != HM_SIGV4_DATE_BYTES) return HM_EINVAL;
    for (size_t i = 0; i < lens[1]; i++)
        if (parts[1][i] < '0' || parts[1][i] > '9') return HM_EINVAL;
    if (lens[2] == 0 || lens[2] > HM_SIGV4_REGION_BYTES_MAX) return HM_EINVAL;
    for (size_t i = 0; i < lens[2]; i++) {
        char c = parts[2][i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return HM_EINVAL;
    }
    if (lens[3] != 2 || memcmp(parts[3], "s3", 2) != 0) return HM_EINVAL;
    if (lens[4] != 12 || memcmp(parts[4], "aws4_request", 12) != 0) return HM_EINVAL;
    memcpy(out->access_key_id, parts[0], lens[0]);
    out->access_key_id[lens[0]] = '\0';
    memcpy(out->date, parts[1], lens[1]);
    out->date[lens[1]] = '\0';
    memcpy(out->region, parts[2], lens[2]);
    out->region[lens[2]] = '\0';
    return 0;
}

int hm_post_signature_check(const char *secret, const hm_post_credential *cred,
                            const char *policy_b64, const char *signature)
{
    uint8_t key[HM_SIGV4_KEY_BYTES];
    char want[HM_SIGV4_HEX_BYTES + 1];
    int rc = hm_sigv4_signing_key(secret, cred->date, cred->region, "s3", key);
    if (rc == 0) rc = hm_sigv4_signature_hex(key, policy_b64, strlen(policy_b64), want);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc != 0) return rc;
    if (strlen(signature) != HM_SIGV4_HEX_BYTES) return HM_EPERM;
    return CRYPTO_memcmp(want, signature, HM_SIGV4_HEX_BYTES) == 0 ? 0 : HM_EPERM;
}

int hm_post_signature_check_v2(const char *secret, const char *policy_b64,
                               const char *signature)
{
    char want[HM_SIGV2_SIGNATURE_BYTES + 1];
    int rc = hm_sigv2_signature(secret, policy_b64, strlen(policy_b64), want);
    if (rc != 0) return rc;
    rc = hm_sigv2_signature_equal(want, signature) ? 0 : HM_EPERM;
    OPENSSL_cleanse(want, sizeof want);
    return rc;
}

int hm_post_key_substitute(const char *key, const char *filename, char **out)
{
    static const char var[] = "${filename}";
    const size_t vl = sizeof(var) - 1;
    size_t fl = strlen(filename), n = 0;
    /* Measure first, bounded by the key limit. */
    for (const char *s = key; *s != '\0';) {
        size_t add = strncmp(s, var, vl) == 0 ? fl : 1;
        if (add > HM_KEY_BYTES_MAX - n) return HM_ETOOBIG;
        n += add;
        s += strncmp(s, var, vl) == 0 ? vl : 1;
    }
    char *d = malloc(n + 1);
    if (d == NULL) return HM_ENOMEM;
    size_t o = 0;
    for (const char *s = key; *s != '\0';) {
        if (strncmp(s, var, vl) == 0) {
            memcpy(d + o, filename, fl);
            o += fl;
            s += vl;
        } else {
            d[o++] = *s++;
        }
    }
    d[o] = '\0';
    *out = d;
    return 0;
}
