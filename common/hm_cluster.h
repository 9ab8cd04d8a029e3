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
 * The root key fingerprint is HMAC-SHA256(key = secret, msg = cluster id):
 * every node of a cluster must run with the same HAMSTER_SECRET_ACCESS_KEY,
 * and a node whose environment differs refuses to start.
 */
#ifndef HM_CLUSTER_H
#define HM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "hm_env.h"
#include "hm_rpc.pb-c.h"

/* Initialise data_dir for a node: mint the CA (only if absent), the node's
 * key and certificate (only if absent), write cluster.pb.  Idempotent: on an
 * initialised dir it checks the root key fingerprint and sets *created
 * false.  HM_EPERM if root_secret does not match the stored fingerprint. */
int hm_cluster_init(hm_env *env, const char *data_dir, const char *node_name,
                    const char *listen, const char *root_secret, bool *created);

/* Load cluster.pb and check the root key fingerprint.  HM_ENOENT if the
 * directory was never initialised, HM_EPERM on a fingerprint mismatch.
 * *out (optional) is freed with hm__cluster_identity__free_unpacked. */
int hm_cluster_check(hm_env *env, const char *data_dir, const char *root_secret,
                     Hm__ClusterIdentity **out);

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
