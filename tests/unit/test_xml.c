/* test_xml.c - the S3 XML writer (escaping, structure, limits) and the
 * strict request-body parser (well-formed bodies, hostile inputs). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_xml.h"

static char *finish_copy(hm_xml_writer *w)
{
    const char *d;
    size_t n;
    ck_assert_int_eq(hm_xml_writer_finish(w, &d, &n), 0);
    ck_assert_uint_eq(strlen(d), n);
    char *c = strdup(d);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* The five specials become entities; TAB, LF, CR and other controls become
 * character references; U+FFFE/U+FFFF too; invalid UTF-8 becomes U+FFFD;
 * valid UTF-8 passes through. */
START_TEST(writer_escaping)
{
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    static const char in[] = "a&b<c>d\"e'f\tg\nh\ri\x01j\x1f"
                             "k\xc3\xa9l\xe2\x98\x83m\xf0\x9f\x90\xb9n"
                             "\xef\xbf\xbe" "o\xff" "p\xc3" "q\xed\xa0\x80" "r\x7f";
    hm_xml_elem_n(&w, "Key", in, sizeof in - 1);
    char *out = finish_copy(&w);
    ck_assert_str_eq(out, "<Key>a&amp;b&lt;c&gt;d&quot;e&apos;f&#x9;g&#xA;h&#xD;i&#x1;j&#x1F;"
                          "k\xc3\xa9l\xe2\x98\x83m\xf0\x9f\x90\xb9n&#xFFFE;"
                          "o\xef\xbf\xbdp\xef\xbf\xbdq\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdr\x7f</Key>");
    free(out);
    hm_xml_writer_free(&w);

    /* NUL inside a length-delimited string is a reference, not a cut */
    hm_xml_writer_init(&w, 0);
    hm_xml_elem_n(&w, "K", "a\0b", 3);
    out = finish_copy(&w);
    ck_assert_str_eq(out, "<K>a&#x0;b</K>");
    free(out);
    hm_xml_writer_free(&w);
}
END_TEST

/* A ListBucketResult-like document: prolog, S3 namespace, nesting,
 * numbers and booleans, closed in order. */
START_TEST(writer_document)
{
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_xml_prolog(&w);
    hm_xml_open_s3(&w, "ListBucketResult");
    hm_xml_elem(&w, "Name", "bucket");
    hm_xml_elem_u64(&w, "MaxKeys", 1000);
    hm_xml_elem_bool(&w, "IsTruncated", false);
    hm_xml_open(&w, "Contents");
    hm_xml_elem(&w, "Key", "a&b");
    hm_xml_elem_i64(&w, "Size", -1);
    hm_xml_elem(&w, "ETag", NULL);
    hm_xml_close(&w);
    hm_xml_close(&w);
    char *out = finish_copy(&w);
    ck_assert_str_eq(out,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                     "<Name>bucket</Name><MaxKeys>1000</MaxKeys>"
                     "<IsTruncated>false</IsTruncated><Contents><Key>a&amp;b</Key>"
                     "<Size>-1</Size><ETag></ETag></Contents></ListBucketResult>");
    /* and the parser reads it back */
    hm_xml_doc *doc;
    ck_assert_int_eq(hm_xml_parse(out, strlen(out), &doc, NULL, NULL), 0);
    const hm_xml_node *root = hm_xml_root(doc);
    ck_assert_str_eq(root->name, "ListBucketResult");
    ck_assert_str_eq(hm_xml_child_text(hm_xml_child(root, "Contents"), "Key", NULL),
                     "a&b");
    hm_xml_doc_free(doc);
    free(out);
    hm_xml_writer_free(&w);
}
END_TEST

/* Misuse and limits set the sticky error: bad names, unbalanced closes,
 * open elements at finish, too deep, over bytes_max. */
START_TEST(writer_errors)
{
    hm_xml_writer w;
    const char *d;
    size_t n;
    static const char *bad_names[] = {"", "1a", "a b", "a<", "a:b", "-a"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        hm_xml_writer_init(&w, 0);
        hm_xml_open(&w, bad_names[i]);
        ck_assert_int_eq(hm_xml_writer_err(&w), HM_EINVAL);
        hm_xml_writer_free(&w);
    }
    hm_xml_writer_init(&w, 0);
    hm_xml_close(&w);
    ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), HM_EINVAL);
    hm_xml_writer_free(&w);

    hm_xml_writer_init(&w, 0);
    hm_xml_open(&w, "A");
    ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), HM_EINVAL);
    hm_xml_writer_free(&w);

    hm_xml_writer_init(&w, 0);
    for (unsigned i = 0; i < HM_XML_DEPTH_MAX; i++)
        hm_xml_open(&w, "A");
    ck_assert_int_eq(hm_xml_writer_err(&w), 0);
    hm_xml_open(&w, "A");
    ck_assert_int_eq(hm_xml_writer_err(&w), HM_EINVAL);
    hm_xml_writer_free(&w);

    hm_xml_writer_init(&w, 16);
    hm_xml_elem(&w, "A", "0123456789");
    ck_assert_int_eq(hm_xml_writer_err(&w), HM_ETOOBIG);
    hm_xml_elem(&w, "A", "");
    ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), HM_ETOOBIG);
    hm_xml_writer_free(&w);

    /* exactly at the cap is fine */
    hm_xml_writer_init(&w, 17);
    hm_xml_elem(&w, "A", "0123456789");
    ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), 0);
    ck_assert_uint_eq(n, 17);
    hm_xml_writer_free(&w);

    /* an empty writer finishes as "" */
    hm_xml_writer_init(&w, 0);
    ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), 0);
    ck_assert_str_eq(d, "");
    hm_xml_writer_free(&w);
    hm_xml_writer_free(NULL);
}
END_TEST

/* A growing document crosses several reallocations intact. */
START_TEST(writer_growth)
{
    hm_xml_writer w;
    hm_xml_writer_init(&w, 0);
    hm_xml_open_s3(&w, "R");
    for (int i = 0; i < 5000; i++)
        hm_xml_elem_u64(&w, "N", (uint64_t)i);
    hm_xml_close(&w);
    const char *d;
    size_t n;
    ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), 0);
    hm_xml_doc *doc;
    ck_assert_int_eq(hm_xml_parse(d, n, &doc, NULL, NULL), 0);
    ck_assert_uint_eq(hm_xml_child_count_named(hm_xml_root(doc), "N"), 5000);
    hm_xml_doc_free(doc);
    hm_xml_writer_free(&w);
}
END_TEST

/* Any text written (escapable UTF-8, spaces, LF, CR) comes back identical
 * through the parser. */
START_TEST(round_trip_text)
{
    static const char *texts[] = {
        "", "plain", "  spaced  ", "a&b<c>d\"e'f", "tab\tlf\ncr\rcrlf\r\n",
        "\xc3\xa9t\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\xb9", "]]>", "&amp;",
        "x=1&y=2",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        hm_xml_writer w;
        hm_xml_writer_init(&w, 0);
        hm_xml_prolog(&w);
        hm_xml_open_s3(&w, "Delete");
        hm_xml_open(&w, "Object");
        hm_xml_elem(&w, "Key", texts[i]);
        hm_xml_close(&w);
        hm_xml_close(&w);
        const char *d;
        size_t n;
        ck_assert_int_eq(hm_xml_writer_finish(&w, &d, &n), 0);
        hm_xml_doc *doc;
        ck_assert_int_eq(hm_xml_parse(d, n, &doc, NULL, NULL), 0);
        size_t len;
        const char *t = hm_xml_child_text(hm_xml_child(hm_xml_root(doc), "Object"),
                                          "Key", &len);
        ck_assert_ptr_nonnull(t);
        ck_assert_uint_eq(len, strlen(texts[i]));
        ck_assert_str_eq(t, texts[i]);
        hm_xml_doc_free(doc);
        hm_xml_writer_free(&w);
    }
}
END_TEST

/* A CompleteMultipartUpload body as SDKs send it: namespace, prolog,
 * quoted ETags as entities, a checksum, whitespace between elements. */
START_TEST(parse_complete_multipart)
{
    static const char body[] =
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
        "<!-- written by a client -->\n"
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
        "  <Part>\n"
        "    <ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag>\n"
        "    <PartNumber>1</PartNumber>\n"
        "  </Part>\n"
        "  <Part><PartNumber>2</PartNumber><ETag>\"0c78aef83f66abc1fa1e8477f296d394\"</ETag>"
        "<ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>\n"
        "  <Part><PartNumber>3</PartNumber><ETag><![CDATA[\"acbd18db4cc2f85cedef654fccc4a4d8\"]]></ETag></Part>\n"
        "</CompleteMultipartUpload>\n";
    hm_xml_doc *doc;
    const char *why = NULL;
    ck_assert_int_eq(hm_xml_parse(body, sizeof body - 1, &doc, &why, NULL), 0);
    const hm_xml_node *root = hm_xml_root(doc);
    ck_assert_str_eq(root->name, "CompleteMultipartUpload");
    ck_assert_ptr_null(root->parent);
    ck_assert_uint_eq(root->child_count, 3);
    ck_assert_str_eq(root->text, "");
    ck_assert_uint_eq(hm_xml_child_count_named(root, "Part"), 3);
    static const char *etags[] = {"\"a54357aff0632cce46d942af68356b38\"",
                                  "\"0c78aef83f66abc1fa1e8477f296d394\"",
                                  "\"acbd18db4cc2f85cedef654fccc4a4d8\""};
    size_t k = 0;
    for (const hm_xml_node *p = hm_xml_child(root, "Part"); p != NULL;
         p = hm_xml_next_named(p), k++) {
        char num[4];
        snprintf(num, sizeof num, "%zu", k + 1);
        ck_assert_str_eq(hm_xml_child_text(p, "PartNumber", NULL), num);
        ck_assert_str_eq(hm_xml_child_text(p, "ETag", NULL), etags[k]);
        ck_assert_ptr_eq(p->parent, root);
        ck_assert_uint_eq(p->depth, 1);
    }
    ck_assert_uint_eq(k, 3);
    const hm_xml_node *p2 = hm_xml_next_named(hm_xml_child(root, "Part"));
    ck_assert_str_eq(hm_xml_child_text(p2, "ChecksumCRC32", NULL), "AAAAAA==");
    ck_assert_ptr_null(hm_xml_child_text(p2, "ChecksumSHA1", NULL));
    hm_xml_doc_free(doc);
}
END_TEST

/* Namespace prefixes are dropped, attributes are ignored, references
 * decode, CR LF normalizes, empty elements have empty text. */
START_TEST(parse_details)
{
    static const char body[] =
        "<s3:Tagging xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\" a='1'>"
        "<s3:TagSet><s3:Tag><s3:Key>k&#65;&#x42;&#x1F439;&lt;&gt;&amp;&apos;</s3:Key>"
        "<s3:Value>line1\r\nline2\rline3&#xD;</s3:Value></s3:Tag>"
        "<s3:Tag><s3:Key/><s3:Value></s3:Value></s3:Tag></s3:TagSet></s3:Tagging>";
    hm_xml_doc *doc;
    ck_assert_int_eq(hm_xml_parse(body, sizeof body - 1, &doc, NULL, NULL), 0);
    const hm_xml_node *root = hm_xml_root(doc);
    ck_assert_str_eq(root->name, "Tagging");
    const hm_xml_node *set = hm_xml_child(root, "TagSet");
    const hm_xml_node *t1 = hm_xml_child(set, "Tag");
    ck_assert_str_eq(hm_xml_child_text(t1, "Key", NULL),
                     "kAB\xf0\x9f\x90\xb9<>&'");
    ck_assert_str_eq(hm_xml_child_text(t1, "Value", NULL), "line1\nline2\nline3\r");
    const hm_xml_node *t2 = hm_xml_next_named(t1);
    size_t len = 99;
    ck_assert_str_eq(hm_xml_child_text(t2, "Key", &len), "");
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(hm_xml_child_text(t2, "Value", NULL), "");
    ck_assert_ptr_null(hm_xml_next_named(t2));
    hm_xml_doc_free(doc);

    /* a lone root with text, no prolog */
    ck_assert_int_eq(hm_xml_parse("<LocationConstraint>eu</LocationConstraint>", 43,
                                  &doc, NULL, NULL),
                     0);
    ck_assert_str_eq(hm_xml_root(doc)->text, "eu");
    hm_xml_doc_free(doc);
}
END_TEST

/* Hostile and malformed inputs are refused with HM_EPROTO (or HM_ETOOBIG
 * for limits), never crash, and leave no document behind. */
START_TEST(parse_hostile)
{
    static const char *bad[] = {
        "",
        "   ",
        "text",
        "<a>",
        "<a><b></a>",
        "<a></b>",
        "<a></a><b></b>",
        "<a></a>trailing",
        "</a>",
        "<a><b></b>",
        "<a b></a>",
        "<a b=1></a>",
        "<a b=\"1\"c=\"2\"></a>",
        "<a b=\"1\" b=\"2\"></a>",
        "<a b=\"<\"></a>",
        "<a b=\"1></a>",
        "<1a></1a>",
        "<:a></:a>",
        "<a:></a:>",
        "<a:b:c></a:b:c>",
        "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
        "<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a/>",
        ("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
         "\"&lol;&lol;\">]><lolz>&lol2;</lolz>"),
        "<a><!DOCTYPE x></a>",
        "<a><!ENTITY x \"y\"></a>",
        "<a><!ELEMENT x ANY></a>",
        "<a><?pi data?></a>",
        "<?pi data?><a/>",
        " <?xml version=\"1.0\"?><a/>",
        "<a/><?xml version=\"1.0\"?>",
        "<a>&unknown;</a>",
        "<a>&amp</a>",
        "<a>& b</a>",
        "<a>&#;</a>",
        "<a>&#x;</a>",
        "<a>&#0;</a>",
        "<a>&#x0;</a>",
        "<a>&#x1;</a>",
        "<a>&#xD800;</a>",
        "<a>&#xFFFE;</a>",
        "<a>&#x110000;</a>",
        "<a>&#99999999999999999999999;</a>",
        "<a>&#xFFFFFFFFFFFFFFFFFFFF41;</a>",
        "<a>&#12a;</a>",
        "<a>\x01</a>",
        "<a>\x7f\x00</a>",
        "<a>\xff</a>",
        "<a>\xc3</a>",
        "<a>\xc0\x80</a>",
        "<a>\xe0\x80\x80</a>",
        "<a>\xed\xa0\x80</a>",
        "<a>\xf4\x90\x80\x80</a>",
        "<a>\xef\xbf\xbe</a>",
        "<a>x]]>y</a>",
        "<a><![CDATA[x</a>",
        "<a><!-- x -- y --></a>",
        "<a><!-- unterminated </a>",
        "<a>mixed<b/></a>",
        "<a><b/>mixed</a>",
        "<a><b/>mi<c/>xed</a>",
        "<a\x01></a>",
        "<a></a   x>",
        "<\xc3\xa9\xff></\xc3\xa9\xff>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hm_xml_doc *doc = (hm_xml_doc *)1;
        const char *why = NULL;
        size_t len = strlen(bad[i]);
        if (strcmp(bad[i], "<a>\x7f\x00</a>") == 0)
            len = 9; /* a NUL inside the body */
        int rc = hm_xml_parse(bad[i], len, &doc, &why, NULL);
        ck_assert_msg(rc == HM_EPROTO, "case %zu rc %d: %s", i, rc, bad[i]);
        ck_assert_ptr_null(doc);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

/* Depth, element count, name length, attribute count and body size are
 * bounded; at the limits the parse succeeds. */
START_TEST(parse_limits)
{
    hm_xml_doc *doc;
    char *b = malloc(HM_HTTP_XML_BODY_BYTES_MAX + 2);
    ck_assert_ptr_nonnull(b);

    /* depth: HM_XML_DEPTH_MAX ok, one more refused */
    for (unsigned extra = 0; extra < 2; extra++) {
        size_t o = 0, d = HM_XML_DEPTH_MAX + extra;
        for (size_t i = 0; i < d; i++)
            o += (size_t)sprintf(b + o, "<a>");
        for (size_t i = 0; i < d; i++)
            o += (size_t)sprintf(b + o, "</a>");
        int rc = hm_xml_parse(b, o, &doc, NULL, NULL);
        ck_assert_int_eq(rc, extra ? HM_ETOOBIG : 0);
        if (rc == 0) {
            const hm_xml_node *n = hm_xml_root(doc);
            while (n->first_child != NULL)
                n = n->first_child;
            ck_assert_uint_eq(n->depth, HM_XML_DEPTH_MAX - 1);
            hm_xml_doc_free(doc);
        }
    }
    /* deep nesting far beyond the limit (no recursion to exhaust) */
    size_t o = 0;
    while (o + 3 < HM_HTTP_XML_BODY_BYTES_MAX)
        o += (size_t)sprintf(b + o, "<a>");
    ck_assert_int_eq(hm_xml_parse(b, o, &doc, NULL, NULL), HM_ETOOBIG);

    /* element count */
    for (unsigned extra = 0; extra < 2; extra++) {
        o = (size_t)sprintf(b, "<r>");
        for (size_t i = 0; i + 1 < HM_XML_ELEMENTS_MAX + extra; i++)
            o += (size_t)sprintf(b + o, "<b/>");
        o += (size_t)sprintf(b + o, "</r>");
        int rc = hm_xml_parse(b, o, &doc, NULL, NULL);
        ck_assert_int_eq(rc, extra ? HM_ETOOBIG : 0);
        if (rc == 0) {
            ck_assert_uint_eq(hm_xml_root(doc)->child_count, HM_XML_ELEMENTS_MAX - 1);
            hm_xml_doc_free(doc);
        }
    }
    /* a name longer than HM_XML_NAME_BYTES_MAX */
    b[0] = '<';
    memset(b + 1, 'n', HM_XML_NAME_BYTES_MAX + 1);
    b[HM_XML_NAME_BYTES_MAX + 2] = '/';
    b[HM_XML_NAME_BYTES_MAX + 3] = '>';
    ck_assert_int_eq(hm_xml_parse(b, HM_XML_NAME_BYTES_MAX + 4, &doc, NULL, NULL),
                     HM_ETOOBIG);
    /* too many attributes */
    o = (size_t)sprintf(b, "<a");
    for (unsigned i = 0; i < HM_XML_ATTRS_MAX + 1; i++)
        o += (size_t)sprintf(b + o, " x%u=\"1\"", i);
    o += (size_t)sprintf(b + o, "/>");
    ck_assert_int_eq(hm_xml_parse(b, o, &doc, NULL, NULL), HM_ETOOBIG);
    /* body over the limit, before anything is read */
    ck_assert_int_eq(hm_xml_parse(b, HM_HTTP_XML_BODY_BYTES_MAX + 1, &doc, NULL, NULL),
                     HM_ETOOBIG);
    /* a body of maximal size full of text: one big leaf */
    o = (size_t)sprintf(b, "<a>");
    memset(b + o, 'x', HM_HTTP_XML_BODY_BYTES_MAX - o - 4);
    o = HM_HTTP_XML_BODY_BYTES_MAX - 4;
    memcpy(b + o, "</a>", 4);
    ck_assert_int_eq(hm_xml_parse(b, HM_HTTP_XML_BODY_BYTES_MAX, &doc, NULL, NULL), 0);
    ck_assert_uint_eq(hm_xml_root(doc)->text_len, HM_HTTP_XML_BODY_BYTES_MAX - 7);
    hm_xml_doc_free(doc);
    free(b);
}
END_TEST

/* Every prefix of a valid document fails cleanly: truncation anywhere is
 * malformed, never an overread. */
START_TEST(parse_truncations)
{
    static const char body[] =
        "<?xml version=\"1.0\"?><Delete><Object><Key>a&amp;b&#x41;</Key>"
        "<VersionId><![CDATA[v1]]></VersionId></Object><!-- c --><Quiet>true</Quiet>"
        "</Delete>";
    size_t n = sizeof body - 1;
    for (size_t i = 0; i < n; i++) {
        char *copy = malloc(i + 1); /* exact size so ASan sees overreads */
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, body, i);
        hm_xml_doc *doc;
        ck_assert_int_eq(hm_xml_parse(copy, i, &doc, NULL, NULL), HM_EPROTO);
        free(copy);
    }
    hm_xml_doc *doc;
    ck_assert_int_eq(hm_xml_parse(body, n, &doc, NULL, NULL), 0);
    const hm_xml_node *obj = hm_xml_child(hm_xml_root(doc), "Object");
    ck_assert_str_eq(hm_xml_child_text(obj, "Key", NULL), "a&bA");
    ck_assert_str_eq(hm_xml_child_text(obj, "VersionId", NULL), "v1");
    ck_assert_str_eq(hm_xml_child_text(hm_xml_root(doc), "Quiet", NULL), "true");
    hm_xml_doc_free(doc);
}
END_TEST

static Suite *xml_suite(void)
{
    Suite *s = suite_create("xml");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, writer_escaping);
    tcase_add_test(tc, writer_document);
    tcase_add_test(tc, writer_errors);
    tcase_add_test(tc, writer_growth);
    tcase_add_test(tc, round_trip_text);
    tcase_add_test(tc, parse_complete_multipart);
    tcase_add_test(tc, parse_details);
    tcase_add_test(tc, parse_hostile);
    tcase_add_test(tc, parse_limits);
    tcase_add_test(tc, parse_truncations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(xml_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
