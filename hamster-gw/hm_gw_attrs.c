/* hm_gw_attrs.c - returning stored checksums: the x-amz-checksum-* headers
 * of GetObject / HeadObject in checksum mode, and GetObjectAttributes.
 *
 * References: AWS S3 API Reference, "GetObjectAttributes", "GetObject"
 * (x-amz-checksum-mode), "HeadObject"; S3 User Guide, "Checking object
 * integrity in Amazon S3" (full object and composite checksum types).
 *
 * Shaping decision: everything here reads the committed ObjectVersion
 * only (one metadata query, no shard touched).  The version keeps the
 * object's checksum and its part sizes, not each part's checksum, so
 * GetObjectAttributes lists a multipart object's parts by number and size
 * without per-part checksums.
 */
#include "hm_gw_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_checksum.h"
#include "hm_err.h"
#include "hm_xml.h"

#define GW_ATTRS_MAX_PARTS_DEFAULT 1000u

/* The stored checksum of v as a value (composite "-N" from the part
 * count), or false when there is none usable. */
static bool gw_attrs_checksum(const Hm__ObjectVersion *v, hm_cksum_value *out)
{
    for (size_t i = 0; i < v->n_checksums; i++) {
        const Hm__Checksum *c = v->checksums[i];
        hm_cksum_algo a;
        if (c->algorithm == NULL || !c->has_value ||
            hm_cksum_from_name(c->algorithm, strlen(c->algorithm), &a) != 0 ||
            c->value.len != hm_cksum_size(a))
            continue;
        memset(out, 0, sizeof(*out));
        out->algo = a;
        out->len = c->value.len;
        memcpy(out->raw, c->value.data, c->value.len);
        out->composite = c->has_composite && c->composite;
        if (out->composite) {
            if (v->n_part_sizes == 0 || v->n_part_sizes > HM_CKSUM_PARTS_MAX) continue;
            out->parts = (uint32_t)v->n_part_sizes;
        }
        return true;
    }
    return false;
}

void gw_checksum_response_headers(gw_req *r, struct MHD_Response *resp,
                                  const Hm__ObjectVersion *v)
{
    const char *mode = gw_header(r, "x-amz-checksum-mode");
    if (mode == NULL || strcasecmp(mode, "ENABLED") != 0) return;
    hm_cksum_value ck;
    char text[HM_CKSUM_TEXT_BYTES_MAX];
    if (!gw_attrs_checksum(v, &ck) || hm_cksum_render(&ck, text) != 0) return;
    MHD_add_response_header(resp, hm_cksum_header(ck.algo), text);
    MHD_add_response_header(resp, "x-amz-checksum-type",
                            ck.composite ? "COMPOSITE" : "FULL_OBJECT");
}

/* ---- GetObjectAttributes --------------------------------------------------- */

enum {
    GW_ATTR_ETAG = 1u << 0,
    GW_ATTR_CHECKSUM = 1u << 1,
    GW_ATTR_PARTS = 1u << 2,
    GW_ATTR_STORAGE_CLASS = 1u << 3,
    GW_ATTR_SIZE = 1u << 4,
};

/* The comma-separated x-amz-object-attributes list into a bit set.
 * false on an unknown name. */
static bool gw_attrs_parse(const char *s, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"ETag", GW_ATTR_ETAG},
        {"Checksum", GW_ATTR_CHECKSUM},
        {"ObjectParts", GW_ATTR_PARTS},
        {"StorageClass", GW_ATTR_STORAGE_CLASS},
        {"ObjectSize", GW_ATTR_SIZE},
    };
    unsigned set = 0;
    while (*s != '\0') {
        while (*s == ' ' || *s == '\t' || *s == ',') s++;
        if (*s == '\0') break;
        const char *e = s;
        while (*e != '\0' && *e != ',') e++;
        size_t n = (size_t)(e - s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
        bool found = false;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            if (strlen(names[i].name) == n && strncmp(names[i].name, s, n) == 0) {
                set |= names[i].bit;
                found = true;
            }
        }
        if (!found) return false;
        s = e;
    }
    *out = set;
    return true;
}

/* A decimal header in [0, max]; absent gives dflt.  false when malformed. */
static bool gw_attrs_uint(const char *s, uint32_t max, uint32_t dflt, uint32_t *out)
{
    if (s == NULL) {
        *out = dflt;
        return true;
    }
    uint32_t v = 0;
    if (*s == '\0') return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return false;
        uint32_t d = (uint32_t)(*s - '0');
        if (v > (UINT32_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v > max ? max : v;
    return true;
}

enum MHD_Result gw_get_object_attributes(gw_req *r)
{
    unsigned want = 0;
    const char *list = gw_header(r, "x-amz-object-attributes");
    if (list == NULL || !gw_attrs_parse(list, &want) || want == 0)
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT,
                             list == NULL || list[0] == '\0'
                                 ? "The x-amz-object-attributes header specifying the "
                                   "attributes to be retrieved is either missing or empty"
                                 : "Invalid attribute name specified.",
                             NULL, 0);
    uint32_t max_parts = 0, marker = 0;
    if (!gw_attrs_uint(gw_header(r, "x-amz-max-parts"), GW_ATTRS_MAX_PARTS_DEFAULT,
                       GW_ATTRS_MAX_PARTS_DEFAULT, &max_parts) ||
        !gw_attrs_uint(gw_header(r, "x-amz-part-number-marker"), UINT32_MAX, 0, &marker))
        return gw_send_error(r, HM_S3_INVALID_ARGUMENT, "Invalid part count or marker", NULL,
                             0);

    hm_objsvc_get *g = NULL;
    int rc = hm_objsvc_get_open(r->gw->svc, r->id, r->bucket, r->key, &g);
    if (rc != 0) return gw_send_hm_error(r, rc);
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);

    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "GetObjectAttributesResponse");
    if (want & GW_ATTR_ETAG) hm_xml_elem(&w, "ETag", v->etag != NULL ? v->etag : "");
    hm_cksum_value ck;
    bool has_ck = gw_attrs_checksum(v, &ck);
    char text[HM_CKSUM_TEXT_BYTES_MAX];
    if ((want & GW_ATTR_CHECKSUM) && has_ck && hm_cksum_render(&ck, text) == 0) {
        hm_xml_open(&w, "Checksum");
        hm_xml_elem(&w, hm_cksum_xml_name(ck.algo), text);
        hm_xml_elem(&w, "ChecksumType", ck.composite ? "COMPOSITE" : "FULL_OBJECT");
        hm_xml_close(&w);
    }
    if ((want & GW_ATTR_PARTS) && v->n_part_sizes > 0) {
        size_t total = v->n_part_sizes;
        hm_xml_open(&w, "ObjectParts");
        hm_xml_elem_u64(&w, "PartsCount", total);
        hm_xml_elem_u64(&w, "PartNumberMarker", marker);
        /* parts are listed only when the object carries a checksum, as S3 */
        size_t first = marker < total ? marker : total;
        size_t end = has_ck ? (total - first > max_parts ? first + max_parts : total) : first;
        if (has_ck) {
            for (size_t i = first; i < end; i++) {
                hm_xml_open(&w, "Part");
                hm_xml_elem_u64(&w, "PartNumber", i + 1);
                hm_xml_elem_u64(&w, "Size", v->part_sizes[i]);
                hm_xml_close(&w);
            }
        }
        hm_xml_elem_u64(&w, "NextPartNumberMarker", end);
        hm_xml_elem_u64(&w, "MaxParts", max_parts);
        hm_xml_elem_bool(&w, "IsTruncated", has_ck && end < total);
        hm_xml_close(&w);
    }
    if (want & GW_ATTR_STORAGE_CLASS) hm_xml_elem(&w, "StorageClass", "STANDARD");
    if (want & GW_ATTR_SIZE) hm_xml_elem_u64(&w, "ObjectSize", v->size);
    hm_xml_close(&w);

    const char *data = NULL;
    size_t len = 0;
    char date[32];
    gw_http_date(v->mtime_ms, date);
    rc = hm_xml_writer_finish(&w, &data, &len);
    struct MHD_Response *resp =
        rc == 0 ? MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY)
                : NULL;
    hm_xml_writer_free(&w);
    hm_objsvc_get_close(g);
    if (resp == NULL) return gw_send_hm_error(r, rc == 0 ? HM_ENOMEM : rc);
    MHD_add_response_header(resp, "Content-Type", "application/xml");
    MHD_add_response_header(resp, "Last-Modified", date);
    return gw_send(r, MHD_HTTP_OK, resp);
}
