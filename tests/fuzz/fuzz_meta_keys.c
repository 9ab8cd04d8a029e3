/* fuzz_meta_keys.c - the metadata key encodings: the order-preserving key
 * encoding (decodes back, keeps memcmp order, bounded), names, uploads,
 * parts and versions keys, and the prefix successor. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_meta_keys.h"

static uint8_t fuzz_enc_a[HM_META_KEY_ENC_BYTES_MAX + 2];
static uint8_t fuzz_enc_b[HM_META_KEY_ENC_BYTES_MAX + 2];
static uint8_t fuzz_dec[HM_KEY_BYTES_MAX + 1];

/* Decode an encoding: 00 FF -> 00, a lone 00 ends it.  Returns the key
 * length; aborts on anything the encoder cannot have made. */
static size_t fuzz_decode(const uint8_t *e, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (e[i] != 0) {
            fuzz_dec[o++] = e[i];
            continue;
        }
        if (i + 1 < len && e[i + 1] == 0xff) {
            fuzz_dec[o++] = 0;
            i++;
            continue;
        }
        if (i + 1 != len) abort(); /* the terminator is last */
        return o;
    }
    abort();
}

static int fuzz_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c != 0) return c < 0 ? -1 : 1;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 10) return 0;
    uint64_t bucket_id = 0;
    memcpy(&bucket_id, data, 8);
    size_t split = data[8] | (size_t)data[9] << 8;
    data += 10;
    size -= 10;
    if (split > size) split = size;
    const uint8_t *a = data, *b = data + split;
    size_t al = split, bl = size - split;
    if (al > HM_KEY_BYTES_MAX || bl > HM_KEY_BYTES_MAX) return 0;

    size_t ea = 0, eb = 0;
    if (hm_meta_key_encode(a, al, fuzz_enc_a, sizeof(fuzz_enc_a), &ea) != 0) abort();
    if (hm_meta_key_encode(b, bl, fuzz_enc_b, sizeof(fuzz_enc_b), &eb) != 0) abort();
    if (ea > HM_META_KEY_ENC_BYTES_MAX || eb > HM_META_KEY_ENC_BYTES_MAX) abort();
    if (fuzz_decode(fuzz_enc_a, ea) != al || memcmp(fuzz_dec, a, al) != 0) abort();
    if (fuzz_decode(fuzz_enc_b, eb) != bl || memcmp(fuzz_dec, b, bl) != 0) abort();
    if (fuzz_cmp(a, al, b, bl) != fuzz_cmp(fuzz_enc_a, ea, fuzz_enc_b, eb)) abort();
    /* a buffer one byte short is refused, not overrun */
    if (ea > 0 && hm_meta_key_encode(a, al, fuzz_enc_b, ea - 1, &eb) != HM_ETOOBIG) abort();

    uint8_t nk[HM_META_NAMES_KEY_BYTES_MAX];
    size_t nl = 0;
    if (hm_meta_names_key(bucket_id, a, al, nk, &nl) != 0) abort();
    uint8_t pre[HM_META_BUCKET_ID_BYTES];
    hm_meta_bucket_prefix(bucket_id, pre);
    if (nl > sizeof(nk) || nl < sizeof(pre) || memcmp(nk, pre, sizeof(pre)) != 0) abort();
    if (hm_meta_get_u64be(pre) != bucket_id) abort();

    /* versions key round trip */
    uint8_t oid[HM_META_OBJECT_ID_BYTES] = {0};
    memcpy(oid, a, al < sizeof(oid) ? al : sizeof(oid));
    uint64_t stamp = bucket_id ^ 0x9e3779b97f4a7c15ull;
    uint8_t vk[HM_META_VERSIONS_KEY_BYTES];
    hm_meta_versions_key(oid, stamp, vk);
    uint8_t oid2[HM_META_OBJECT_ID_BYTES];
    uint64_t stamp2 = 0;
    if (hm_meta_versions_key_parse(vk, sizeof(vk), oid2, &stamp2) != 0) abort();
    if (stamp2 != stamp || memcmp(oid, oid2, sizeof(oid)) != 0) abort();
    if (hm_meta_versions_key_parse(a, al, oid2, &stamp2) != (al == sizeof(vk) ? 0 : HM_EPROTO))
        abort();

    /* uploads and parts keys of b as an upload id (text without NUL) */
    if (bl <= HM_UPLOAD_ID_BYTES_MAX && memchr(b, 0, bl) == NULL) {
        char uid[HM_UPLOAD_ID_BYTES_MAX + 1];
        memcpy(uid, b, bl);
        uid[bl] = '\0';
        uint8_t uk[HM_META_UPLOADS_KEY_BYTES_MAX], pk[HM_META_PARTS_KEY_BYTES_MAX];
        size_t ul = 0, pl = 0;
        int ru = hm_meta_uploads_key(bucket_id, uid, uk, &ul);
        int rp = hm_meta_parts_key(bucket_id, uid, (uint32_t)stamp, pk, &pl);
        if (ru != rp) abort();
        if (ru == 0 && (pl != ul + 5 || memcmp(uk, pk, ul) != 0 || pk[ul] != 0)) abort();
        if (ru != 0 && (ru != HM_EINVAL || bl != 0)) abort();
    }

    /* prefix successor: greater than every string with the prefix */
    uint8_t succ[HM_KEY_BYTES_MAX];
    size_t sl = 0;
    if (hm_meta_prefix_successor(a, al, succ, &sl)) {
        if (sl == 0 || sl > al) abort();
        if (fuzz_cmp(succ, sl, a, al) <= 0) abort();
        if (al <= bl && memcmp(a, b, al) == 0 && fuzz_cmp(succ, sl, b, bl) <= 0) abort();
    } else {
        for (size_t i = 0; i < al; i++)
            if (a[i] != 0xff) abort();
    }
    return 0;
}
