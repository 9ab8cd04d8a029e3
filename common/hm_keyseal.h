/* hm_keyseal.h - access key secrets sealed at rest.
 *
 * A SigV4 or SigV2 verifier needs each key's secret in the clear, so the
 * secret cannot be stored as a hash.  It is sealed instead:
 *
 *   seal key = HKDF-SHA256(ikm = root secret, salt = "hamster-keyseal",
 *                          info = "hamster access key secret v1")  (RFC 5869,
 *              through OpenSSL 3's EVP_KDF "HKDF")
 *   sealed   = nonce (12 random bytes) | AES-256-GCM(secret) | tag (16)
 *              with the access key id as additional authenticated data,
 *
 * so a sealed secret cannot be moved to another key id, and the metadata
 * (log, LMDB, snapshots, backups) never holds a secret in the clear.  The
 * proposer (hamster-ctl / hamster key) seals; the gateway opens.  Every
 * node of a cluster runs with the same root secret (hm_cluster.h), so every
 * gateway derives the same seal key.  Seal version 1 is this scheme; a new
 * scheme gets a new version and the reader keeps opening version 1.
 *
 * Nonces come from the caller (hm_random), so cores stay deterministic.
 * Thread safety: reentrant, no global state.
 */
#ifndef HM_KEYSEAL_H
#define HM_KEYSEAL_H

#include <stddef.h>
#include <stdint.h>

#define HM_KEYSEAL_VERSION 1u
#define HM_KEYSEAL_KEY_BYTES 32u
#define HM_KEYSEAL_NONCE_BYTES 12u
#define HM_KEYSEAL_TAG_BYTES 16u
#define HM_KEYSEAL_SECRET_BYTES_MAX 128u   /* = HM_SIGV4_SECRET_BYTES_MAX */
#define HM_KEYSEAL_SEALED_BYTES_MAX                                         \
    (HM_KEYSEAL_NONCE_BYTES + HM_KEYSEAL_SECRET_BYTES_MAX + HM_KEYSEAL_TAG_BYTES)

/* Derive the seal key from the root secret.  Returns 0, HM_EINVAL (empty
 * secret) or HM_EINTERNAL (crypto failure). */
int hm_keyseal_derive(const char *root_secret, uint8_t key_out[HM_KEYSEAL_KEY_BYTES]);

/* Seal secret (1..HM_KEYSEAL_SECRET_BYTES_MAX bytes, NUL-terminated) for
 * access_key_id with the given nonce into out (cap bytes; the result is
 * strlen(secret) + 28 bytes, length in *len_out).  Returns 0, HM_EINVAL,
 * HM_ETOOBIG (cap) or HM_EINTERNAL. */
int hm_keyseal_seal(const uint8_t key[HM_KEYSEAL_KEY_BYTES], const char *access_key_id,
                    const char *secret, const uint8_t nonce[HM_KEYSEAL_NONCE_BYTES],
                    uint8_t *out, size_t cap, size_t *len_out);

/* Open a sealed secret of access_key_id into secret_out (NUL-terminated;
 * secret_cap bytes).  Returns 0; HM_EPERM when the tag does not verify
 * (another root secret, another key id, or tampered bytes); HM_ECORRUPT
 * for a length that cannot be a sealed secret or a secret holding NUL;
 * HM_ETOOBIG (secret_cap); HM_EINTERNAL.  On failure secret_out is
 * cleared. */
int hm_keyseal_open(const uint8_t key[HM_KEYSEAL_KEY_BYTES], const char *access_key_id,
                    const uint8_t *sealed, size_t sealed_len, char *secret_out,
                    size_t secret_cap);

#endif
