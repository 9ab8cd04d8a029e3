/* hm_gw_stats.c - GET /_hamster/stats: the process's sync counters, for
 * benchmarks (tests/bench prints syncs per operation from it).
 *
 * Answered only to a client on the loopback interface and without
 * authentication: it tells how many fsyncs the process has made, nothing
 * about any object.  "_hamster" can never be a bucket name (S3 names have no
 * '_'), so the path cannot hide one; from any other address the request is
 * an ordinary S3 request and fails like one.  This is not the metrics
 * endpoint (Prometheus /metrics lives on its own listen address): it stays
 * a plain list of "name value" lines.  Under `hamster serve` the process is
 * the whole store; a split gateway counts only its own syncs.
 */
#include "hm_gw_int.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "hm_env.h"
#include "hm_err.h"

#define GW_STATS_PATH "/_hamster/stats"

static bool gw_stats_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL) return false;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

bool gw_stats_is(struct MHD_Connection *conn, const char *url, const char *method)
{
    return url != NULL && strcmp(url, GW_STATS_PATH) == 0 && strcmp(method, "GET") == 0 &&
           gw_stats_loopback(conn);
}

enum MHD_Result gw_stats_send(gw_req *r)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf,
                     "syncs_total %" PRIu64 "\nsyncs_file %" PRIu64 "\nsyncs_dir %" PRIu64
                     "\nsyncs_kv %" PRIu64 "\n",
                     hm_env_syncs_total(), hm_env_syncs(HM_ENV_SYNC_FILE),
                     hm_env_syncs(HM_ENV_SYNC_DIR), hm_env_syncs(HM_ENV_SYNC_KV));
    if (n < 0 || (size_t)n >= sizeof buf) return gw_send_hm_error(r, HM_EINTERNAL);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) return gw_send_hm_error(r, HM_ENOMEM);
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    return gw_send(r, 200, resp);
}
