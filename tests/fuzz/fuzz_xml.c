/* fuzz_xml.c - the request-body XML parser on hostile bytes, and a walk
 * over every tree it accepts checking the tree's own invariants (child
 * counts, depths, text lengths, parent links). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_xml.h"

static size_t fuzz_walk(const hm_xml_node *n, const hm_xml_node *parent, size_t depth)
{
    if (n->parent != parent || n->depth != depth || depth >= HM_XML_DEPTH_MAX + 1u) abort();
    if (n->name == NULL || n->text == NULL || strlen(n->text) != n->text_len) abort();
    size_t count = 0, total = 1;
    for (const hm_xml_node *c = n->first_child; c != NULL; c = c->next_sibling) {
        count++;
        total += fuzz_walk(c, n, depth + 1);
        /* named lookups agree with the walk */
        if (hm_xml_child(n, c->name) == NULL) abort();
        if (hm_xml_child_count_named(n, c->name) == 0) abort();
    }
    if (count != n->child_count) abort();
    if (count > 0 && n->text_len != 0) abort();
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hm_xml_doc *doc = NULL;
    const char *why = NULL;
    size_t where = 0;
    int rc = hm_xml_parse((const char *)data, size, &doc, &why, &where);
    if (rc == 0) {
        size_t n = fuzz_walk(hm_xml_root(doc), NULL, 0);
        if (n > HM_XML_ELEMENTS_MAX) abort();
        hm_xml_doc_free(doc);
    } else if (rc != HM_EPROTO && rc != HM_ETOOBIG && rc != HM_ENOMEM) {
        abort();
    } else if (rc == HM_EPROTO && (why == NULL || where > size)) {
        abort();
    }
    /* The writer escapes anything into something the parser reads back. */
    if (size <= 4096) {
        hm_xml_writer w;
        hm_xml_writer_init(&w, 0);
        hm_xml_elem_n(&w, "K", (const char *)data, size);
        const char *out = NULL;
        size_t len = 0;
        if (hm_xml_writer_finish(&w, &out, &len) != 0) abort();
        if (hm_xml_parse(out, len, &doc, NULL, NULL) == 0) hm_xml_doc_free(doc);
        hm_xml_writer_free(&w);
    }
    return 0;
}
