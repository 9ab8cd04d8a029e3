/* hm_meta_keys.c - byte encodings of the metadata tables' keys.
 *
 * The escape is the one FoundationDB's tuple layer uses for byte strings:
 * NUL -> 00 FF and a 00 terminator.  It keeps memcmp order because the
 * terminator 00 sorts below every escaped or plain byte that could follow a
 * shared prefix, and it is self-delimiting because a 00 not followed by FF
 * only ever appears at the end.
 */
#include "hm_meta_keys.h"

#include <string.h>

#include "hm_err.h"

void hm_meta_put_u64be(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t hm_meta_get_u64be(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

int hm_meta_key_encode(const void *key, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len)
{
    const uint8_t *k = key;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        size_t need = k[i] == 0 ? 2 : 1;
        if (cap - n < need)
            return HM_ETOOBIG;
        out[n++] = k[i];
        if (k[i] == 0)
            out[n++] = 0xFF;
    }
    if (cap - n < 1)
        return HM_ETOOBIG;
    out[n++] = 0;
    *out_len = n;
    return 0;
}

int hm_meta_names_key(uint64_t bucket_id, const void *key, size_t len,
                      uint8_t out[HM_META_NAMES_KEY_BYTES_MAX], size_t *out_len)
{
    if (len > HM_KEY_BYTES_MAX)
        return HM_EINVAL;
    uint8_t enc[HM_META_KEY_ENC_BYTES_MAX];
    size_t enc_len = 0;
    int rc = hm_meta_key_encode(key, len, enc, sizeof enc, &enc_len);
    if (rc != 0)
        return rc;
    if (enc_len > HM_NAMES_PREFIX_BYTES)
        enc_len = HM_NAMES_PREFIX_BYTES;
    hm_meta_put_u64be(out, bucket_id);
    memcpy(out + HM_META_BUCKET_ID_BYTES, enc, enc_len);
    *out_len = HM_META_BUCKET_ID_BYTES + enc_len;
    return 0;
}

void hm_meta_names_cont_key(const uint8_t head[HM_META_NAMES_HEAD_KEY_BYTES_MAX], uint32_t seq,
                            uint8_t out[HM_META_NAMES_CONT_KEY_BYTES])
{
    memcpy(out, head, HM_META_NAMES_HEAD_KEY_BYTES_MAX);
    uint8_t *p = out + HM_META_NAMES_HEAD_KEY_BYTES_MAX;
    p[0] = (uint8_t)(seq >> 24);
    p[1] = (uint8_t)(seq >> 16);
    p[2] = (uint8_t)(seq >> 8);
    p[3] = (uint8_t)seq;
}

bool hm_meta_names_key_is_cont(const void *k, size_t len, const uint8_t *head, size_t head_len,
                               uint32_t *seq)
{
    if (head_len != HM_META_NAMES_HEAD_KEY_BYTES_MAX || len != HM_META_NAMES_CONT_KEY_BYTES ||
        memcmp(k, head, head_len) != 0)
        return false;
    const uint8_t *p = (const uint8_t *)k + HM_META_NAMES_HEAD_KEY_BYTES_MAX;
    *seq = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return true;
}

void hm_meta_bucket_prefix(uint64_t bucket_id, uint8_t out[HM_META_BUCKET_ID_BYTES])
{
    hm_meta_put_u64be(out, bucket_id);
}

void hm_meta_versions_key(const uint8_t oid[HM_META_OBJECT_ID_BYTES], uint64_t stamp,
                          uint8_t out[HM_META_VERSIONS_KEY_BYTES])
{
    memcpy(out, oid, HM_META_OBJECT_ID_BYTES);
    hm_meta_put_u64be(out + HM_META_OBJECT_ID_BYTES, ~stamp);
}

int hm_meta_versions_key_parse(const void *k, size_t len,
                               uint8_t oid[HM_META_OBJECT_ID_BYTES], uint64_t *stamp)
{
    if (len != HM_META_VERSIONS_KEY_BYTES)
        return HM_EPROTO;
    memcpy(oid, k, HM_META_OBJECT_ID_BYTES);
    *stamp = ~hm_meta_get_u64be((const uint8_t *)k + HM_META_OBJECT_ID_BYTES);
    return 0;
}

int hm_meta_uploads_key(uint64_t bucket_id, const char *upload_id,
                        uint8_t out[HM_META_UPLOADS_KEY_BYTES_MAX], size_t *out_len)
{
    size_t n = upload_id != NULL ? strnlen(upload_id, HM_UPLOAD_ID_BYTES_MAX + 1) : 0;
    if (n == 0 || n > HM_UPLOAD_ID_BYTES_MAX)
        return HM_EINVAL;
    hm_meta_put_u64be(out, bucket_id);
    memcpy(out + HM_META_BUCKET_ID_BYTES, upload_id, n);
    *out_len = HM_META_BUCKET_ID_BYTES + n;
    return 0;
}

int hm_meta_parts_key(uint64_t bucket_id, const char *upload_id, uint32_t part_number,
                      uint8_t out[HM_META_PARTS_KEY_BYTES_MAX], size_t *out_len)
{
    size_t n = 0;
    int rc = hm_meta_uploads_key(bucket_id, upload_id, out, &n);
    if (rc != 0)
        return rc;
    out[n++] = 0;
    out[n++] = (uint8_t)(part_number >> 24);
    out[n++] = (uint8_t)(part_number >> 16);
    out[n++] = (uint8_t)(part_number >> 8);
    out[n++] = (uint8_t)part_number;
    *out_len = n;
    return 0;
}

bool hm_meta_prefix_successor(const uint8_t *p, size_t len, uint8_t *out,
                              size_t *out_len)
{
    while (len > 0 && p[len - 1] == 0xFF)
        len--;
    if (len == 0)
        return false;
    memmove(out, p, len);
    out[len - 1]++;
    *out_len = len;
    return true;
}
