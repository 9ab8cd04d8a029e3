/* hm_ctl.h - the admin verbs and the all-in-one launcher.
 *
 * Each verb is a function taking the arguments after its name, so the same
 * code serves `hamster-ctl init ...` and `hamster cluster init ...`, and
 * `hamster serve ...` runs every role in one process.  Verbs print what a
 * person needs on stdout, errors on stderr, and return a process exit code.
 */
#ifndef HM_CTL_H
#define HM_CTL_H

/* Root key, from the environment.  Every verb that touches a data directory
 * needs the secret: it is checked against the cluster's fingerprint. */
#define HM_ENV_ACCESS_KEY "HAMSTER_ACCESS_KEY_ID"
#define HM_ENV_SECRET_KEY "HAMSTER_SECRET_ACCESS_KEY"

/* init -data-dir D -node NAME -listen ADDR: mint the cluster CA (once) and
 * this node's certificate; idempotent. */
int hm_ctl_init(int argc, char **argv);

/* serve -data-dir D [-s3 ADDR] [-disks P,P] ...: initialise on first start,
 * then run meta, one shard store per disk and the gateway in this process
 * until SIGINT or SIGTERM. */
int hm_ctl_serve(int argc, char **argv);

/* key create|list|delete|grant|revoke ...: access keys and per-bucket
 * grants, over mTLS RPC to the running metadata service (hm_ctl_key.c). */
int hm_ctl_key(int argc, char **argv);

/* disk list|add|replace ...: the disk registry (hm_ctl_disk.c); add and
 * replace format the new disk and queue its rebuild. */
int hm_ctl_disk(int argc, char **argv);

/* status -data-dir D: the node's disks (state, path, id, reason) and its
 * erasure-coding profile with its tolerance. */
int hm_ctl_status(int argc, char **argv);

/* Read the root key from the environment; prints a message and returns
 * non-zero when either part is missing or unusable. */
int hm_ctl_root_key(const char **access_key, const char **secret_key);

#endif
