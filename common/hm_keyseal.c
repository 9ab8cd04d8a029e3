/* hm_keyseal.c - access key secrets sealed at rest (see hm_keyseal.h).
 *
 * References: RFC 5869 (HKDF), NIST SP 800-38D (GCM: 96-bit random nonces,
 * 128-bit tags), OpenSSL 3 EVP_KDF-HKDF(7) and EVP_EncryptInit(3).
 */
#include "hm_keyseal.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "hm_err.h"

static const char keyseal_salt[] = "hamster-keyseal";
static const char keyseal_info[] = "hamster access key secret v1";

int hm_keyseal_derive(const char *root_secret, uint8_t key_out[HM_KEYSEAL_KEY_BYTES])
{
    if (root_secret == NULL || root_secret[0] == '\0') return HM_EINVAL;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL) return HM_EINTERNAL;
    EVP_KDF_CTX *kctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (kctx == NULL) return HM_EINTERNAL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)root_secret,
                                          strlen(root_secret)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)keyseal_salt,
                                          sizeof keyseal_salt - 1),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)keyseal_info,
                                          sizeof keyseal_info - 1),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(kctx, key_out, HM_KEYSEAL_KEY_BYTES, params);
    EVP_KDF_CTX_free(kctx);
    return ok == 1 ? 0 : HM_EINTERNAL;
}

int hm_keyseal_seal(const uint8_t key[HM_KEYSEAL_KEY_BYTES], const char *access_key_id,
                    const char *secret, const uint8_t nonce[HM_KEYSEAL_NONCE_BYTES],
                    uint8_t *out, size_t cap, size_t *len_out)
{
    if (key == NULL || access_key_id == NULL || secret == NULL || nonce == NULL ||
        out == NULL)
        return HM_EINVAL;
    size_t n = strnlen(secret, HM_KEYSEAL_SECRET_BYTES_MAX + 1);
    if (n == 0 || n > HM_KEYSEAL_SECRET_BYTES_MAX) return HM_EINVAL;
    size_t total = HM_KEYSEAL_NONCE_BYTES + n + HM_KEYSEAL_TAG_BYTES;
    if (cap < total) return HM_ETOOBIG;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL) return HM_EINTERNAL;
    int rc = HM_EINTERNAL, l = 0, fl = 0;
    memcpy(out, nonce, HM_KEYSEAL_NONCE_BYTES);
    uint8_t *ct = out + HM_KEYSEAL_NONCE_BYTES;
    if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, HM_KEYSEAL_NONCE_BYTES, NULL) == 1 &&
        EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) == 1 &&
        EVP_EncryptUpdate(c, NULL, &l, (const uint8_t *)access_key_id,
                          (int)strlen(access_key_id)) == 1 &&
        EVP_EncryptUpdate(c, ct, &l, (const uint8_t *)secret, (int)n) == 1 &&
        EVP_EncryptFinal_ex(c, ct + l, &fl) == 1 && (size_t)(l + fl) == n &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, HM_KEYSEAL_TAG_BYTES, ct + n) == 1) {
        *len_out = total;
        rc = 0;
    }
    EVP_CIPHER_CTX_free(c);
    return rc;
}

int hm_keyseal_open(const uint8_t key[HM_KEYSEAL_KEY_BYTES], const char *access_key_id,
                    const uint8_t *sealed, size_t sealed_len, char *secret_out,
                    size_t secret_cap)
{
    if (key == NULL || access_key_id == NULL || secret_out == NULL || secret_cap == 0)
        return HM_EINVAL;
    secret_out[0] = '\0';
    if (sealed == NULL || sealed_len <= HM_KEYSEAL_NONCE_BYTES + HM_KEYSEAL_TAG_BYTES ||
        sealed_len > HM_KEYSEAL_SEALED_BYTES_MAX)
        return HM_ECORRUPT;
    size_t n = sealed_len - HM_KEYSEAL_NONCE_BYTES - HM_KEYSEAL_TAG_BYTES;
    if (n >= secret_cap) return HM_ETOOBIG;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL) return HM_EINTERNAL;
    int rc = HM_EINTERNAL, l = 0, fl = 0;
    const uint8_t *ct = sealed + HM_KEYSEAL_NONCE_BYTES;
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, HM_KEYSEAL_NONCE_BYTES, NULL) == 1 &&
        EVP_DecryptInit_ex(c, NULL, NULL, key, sealed) == 1 &&
        EVP_DecryptUpdate(c, NULL, &l, (const uint8_t *)access_key_id,
                          (int)strlen(access_key_id)) == 1 &&
        EVP_DecryptUpdate(c, (uint8_t *)secret_out, &l, ct, (int)n) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, HM_KEYSEAL_TAG_BYTES,
                            (void *)(ct + n)) == 1) {
        rc = EVP_DecryptFinal_ex(c, (uint8_t *)secret_out + l, &fl) == 1 &&
                     (size_t)(l + fl) == n
                 ? 0
                 : HM_EPERM;
    }
    EVP_CIPHER_CTX_free(c);
    if (rc == 0) {
        secret_out[n] = '\0';
        if (strlen(secret_out) != n) rc = HM_ECORRUPT;
    }
    if (rc != 0) OPENSSL_cleanse(secret_out, secret_cap);
    return rc;
}
