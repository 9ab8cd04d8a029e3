/* tls.c - the OpenSSL context for cluster RPC: TLS 1.3, mutual auth.
 *
 * The decision that shaped it: trust exactly one CA, the cluster's.  The
 * system trust store is never loaded, so a certificate from a public CA (or
 * any other cluster) cannot talk to us, and both sides must present a
 * certificate (SSL_VERIFY_FAIL_IF_NO_PEER_CERT).  Peers are named by their
 * subject CN, which `hamster-ctl init` and join set to the node name; the
 * client does not match the CN against the dialled address, because nodes
 * are dialled by IP and identified by CN (callers compare hm_rpc_peer_name
 * with the member they meant when it matters).
 *
 * One context serves both roles.  Session tickets and the session cache are
 * off: connections are pooled and long-lived, resumption would buy little,
 * and an idle pooled connection must have nothing unread on it (see
 * hm_rpc_conn_idle_ok).
 */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include "hm_rpc.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "hm_err.h"
#include "hm_log.h"

struct hm_tls {
    SSL_CTX *ctx;
};

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

/* A peer that resets a connection would otherwise kill the process with
 * SIGPIPE from inside SSL_write (OpenSSL's socket BIO cannot pass
 * MSG_NOSIGNAL).  Only the default disposition is replaced: an application
 * that installed its own handler keeps it. */
static void tls_ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        struct sigaction sa = {0};
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGPIPE, &sa, NULL);
    }
}

/* Log and clear OpenSSL's error queue for this thread. */
static void tls_log_errors(const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        hm_warn("tls", NULL, "%s: %s", what, buf);
    }
}

/* See hm_rpc.h. */
int hm_tls_new(hm_tls **out, const char *ca_cert_path, const char *cert_path,
               const char *key_path)
{
    (void)pthread_once(&tls_once, tls_ignore_sigpipe);
    ERR_clear_error();

    hm_tls *tls = calloc(1, sizeof(*tls));
    if (tls == NULL) return HM_ENOMEM;
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) goto err_free;

    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
        goto err_ctx;
    /* Only the cluster CA; SSL_CTX_set_default_verify_paths is never
     * called, so the system store stays out. */
    if (SSL_CTX_load_verify_file(ctx, ca_cert_path) != 1) goto err_ctx;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_cert_path);
    if (names == NULL) goto err_ctx;
    SSL_CTX_set_client_CA_list(ctx, names); /* takes ownership */
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) goto err_ctx;
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) goto err_ctx;
    if (SSL_CTX_check_private_key(ctx) != 1) goto err_ctx;

    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* CA -> node: nothing deeper is ours. */
    SSL_CTX_set_verify_depth(ctx, 2);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1) goto err_ctx;
    /* Frames are length-delimited and checksummed, so a peer that drops the
     * TCP connection without close_notify is a plain close, not an attack
     * on truncation. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);

    tls->ctx = ctx;
    *out = tls;
    return 0;

err_ctx:
    tls_log_errors("tls context");
    SSL_CTX_free(ctx);
err_free:
    ERR_clear_error();
    free(tls);
    return HM_ETLS;
}

/* See hm_rpc.h.  The paths are <data_dir>/tls/{ca.crt,node.crt,node.key}. */
int hm_tls_new_from_data_dir(hm_tls **out, const char *data_dir)
{
    char ca[4096], crt[4096], key[4096];
    int n1 = snprintf(ca, sizeof(ca), "%s/tls/ca.crt", data_dir);
    int n2 = snprintf(crt, sizeof(crt), "%s/tls/node.crt", data_dir);
    int n3 = snprintf(key, sizeof(key), "%s/tls/node.key", data_dir);
    if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n1 >= sizeof(ca) ||
        (size_t)n2 >= sizeof(crt) || (size_t)n3 >= sizeof(key))
        return HM_EINVAL;
    return hm_tls_new(out, ca, crt, key);
}

/* See hm_rpc.h.  Every connection made from tls must be closed first. */
void hm_tls_free(hm_tls *tls)
{
    if (tls == NULL) return;
    SSL_CTX_free(tls->ctx);
    free(tls);
}

struct ssl_ctx_st *hm_tls_ssl_ctx(hm_tls *tls)
{
    return tls->ctx;
}
