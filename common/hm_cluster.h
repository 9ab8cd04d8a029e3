/* hm_cluster.h - cluster identity and certificates in a data directory.
 *
 * Layout written by hm_cluster_init (directories 0700, keys 0600):
 *   <data-dir>/cluster.pb      ClusterIdentity (proto/hm_rpc.proto)
 *   <data-dir>/tls/ca.crt      cluster CA certificate (PEM)
 *   <data-dir>/tls/ca.key      cluster CA private key (PEM, 0600)
 *   <data-dir>/tls/node.crt    this node's certificate, CN = node name,
 *                              signed by the CA, usable as TLS client and server
 *   <data-dir>/tls/node.key    this node's private key (PEM, 0600)
 *   <data-dir>/meta/           metadata node state
 *   <data-dir>/disks/disk0/    default shard store
 *
 * Keys are EC P-256.  The CA is minted once and never overwritten.
 * The root key is the pair HAMSTER_ACCESS_KEY_ID / HAMSTER_SECRET_ACCESS_KEY
 * and both halves are fingerprinted: root_key_fingerprint is
 * HMAC-SHA256(key = secret, msg = cluster id), root_key_id_fingerprint
 * HMAC-SHA256(key = secret, msg = cluster id 0x00 access key id).  Every
 * node of a cluster must run with the same pair; a node whose environment
 * differs in either half refuses to start.
 *
 * cluster.pb versions (HM_CLUSTER_FORMAT_VERSION_MIN..MAX, pinned by
 * tests/golden/cluster_identity_v*.bin):
 *   1  root_key_fingerprint only (the secret);
 *   2  adds root_key_id_fingerprint.
 * A version-1 file is upgraded in place (atomically) by the first check
 * that proves the secret: the access key id it ran with becomes the
 * recorded one.
 */
#ifndef HM_CLUSTER_H
#define HM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "hm_env.h"
#include "hm_rpc.pb-c.h"

#define HM_CLUSTER_FORMAT_VERSION_MIN 1u
#define HM_CLUSTER_FORMAT_VERSION 2u

/* Initialise data_dir for a node: mint the CA (only if absent), the node's
 * key and certificate (only if absent), write cluster.pb.  Idempotent: on an
 * initialised dir it checks the root key (hm_cluster_check) and sets
 * *created false.  HM_EPERM if the root key does not match the stored
 * fingerprints, HM_EINVAL if node_name differs from the stored one. */
int hm_cluster_init(hm_env *env, const char *data_dir, const char *node_name,
                    const char *listen, const char *root_access_key_id,
                    const char *root_secret, bool *created);

/* Load cluster.pb and check both halves of the root key.  HM_ENOENT if the
 * directory was never initialised, HM_EPERM on a fingerprint mismatch (the
 * secret, or the access key id of a version-2 identity), HM_EVERSION for a
 * version outside MIN..MAX, HM_ECORRUPT when it does not parse.  A
 * version-1 identity whose secret matches is rewritten as version 2 with
 * the access key id's fingerprint (write errors are returned).
 * *out (optional) is freed with hm__cluster_identity__free_unpacked. */
int hm_cluster_check(hm_env *env, const char *data_dir, const char *root_access_key_id,
                     const char *root_secret, Hm__ClusterIdentity **out);

/* Lower-level, used by init and by tests:
 * Mint a CA key and self-signed certificate valid [not_before, not_after)
 * (unix seconds) into ca_cert_path / ca_key_path. */
int hm_pki_make_ca(const char *ca_cert_path, const char *ca_key_path,
                   const char *common_name, int64_t not_before_s, int64_t not_after_s);

/* Mint a key and a certificate for node_name signed by the CA. */
int hm_pki_make_node_cert(const char *ca_cert_path, const char *ca_key_path,
                          const char *node_name, int64_t not_before_s,
                          int64_t not_after_s, const char *cert_path,
                          const char *key_path);

#endif
