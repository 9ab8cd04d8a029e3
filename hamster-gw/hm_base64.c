/* hm_base64.c - standard base64 (RFC 4648 §4); see hm_base64.h. */
#include "hm_base64.h"

#include <string.h>

#include "hm_err.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int hm_base64_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int hm_base64_decode_n(const char *in, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    if (n % 4 != 0) return HM_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        size_t pad = 0;
        for (size_t k = 0; k < 4; k++) {
            int d;
            if (in[i + k] == '=') {
                /* padding only at the very end, at most two */
                if (i + 4 != n || k < 2) return HM_EINVAL;
                pad++;
                d = 0;
            } else {
                if (pad > 0) return HM_EINVAL;
                d = hm_base64_val(in[i + k]);
                if (d < 0) return HM_EINVAL;
            }
            v = (v << 6) | (uint32_t)d;
        }
        size_t bytes = 3 - pad;
        if (bytes > cap - o) return HM_EINVAL;
        for (size_t k = 0; k < bytes; k++) out[o++] = (uint8_t)(v >> (16 - 8 * k));
    }
    *len = o;
    return 0;
}

int hm_base64_decode(const char *in, uint8_t *out, size_t cap, size_t *len)
{
    return hm_base64_decode_n(in, strlen(in), out, cap, len);
}

void hm_base64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 <= cap; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    if (cap > 0) out[o < cap ? o : cap - 1] = '\0';
}
