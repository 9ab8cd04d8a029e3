/* hm_log.c - JSON-lines logger; see hm_log.h. */
#include "hm_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum hm_log_level log_threshold = HM_LOG_INFO;

void hm_log_set_level(enum hm_log_level level) { log_threshold = level; }

void hm_log_init_from_env(void)
{
    const char *v = getenv("HAMSTER_LOG_LEVEL");
    if (v == NULL) return;
    if (strcmp(v, "debug") == 0) log_threshold = HM_LOG_DEBUG;
    else if (strcmp(v, "info") == 0) log_threshold = HM_LOG_INFO;
    else if (strcmp(v, "warn") == 0) log_threshold = HM_LOG_WARN;
    else if (strcmp(v, "error") == 0) log_threshold = HM_LOG_ERROR;
}

/* Append s to out[*pos..cap) JSON-escaped; stops quietly when full. */
static void log_escape(char *out, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s != '\0' && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[(*pos)++] = '\\';
            out[(*pos)++] = (char)c;
        } else if (c < 0x20) {
            out[(*pos)++] = '\\';
            out[(*pos)++] = 'u';
            out[(*pos)++] = '0';
            out[(*pos)++] = '0';
            out[(*pos)++] = hex[c >> 4];
            out[(*pos)++] = hex[c & 15];
        } else {
            out[(*pos)++] = (char)c;
        }
    }
}

static void log_raw(char *out, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - *pos - 1) n = cap - *pos - 1;
    memcpy(out + *pos, s, n);
    *pos += n;
}

void hm_log(enum hm_log_level level, const char *component, const char *req_id,
            const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char msg[2048];
    char line[4096];
    size_t pos = 0;
    struct timespec ts;
    struct tm tm;
    char stamp[96];
    va_list ap;

    if (level < log_threshold) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000) % 1000);

    log_raw(line, sizeof line, &pos, "{\"ts\":\"");
    log_raw(line, sizeof line, &pos, stamp);
    log_raw(line, sizeof line, &pos, "\",\"level\":\"");
    log_raw(line, sizeof line, &pos, names[level]);
    log_raw(line, sizeof line, &pos, "\"");
    if (component != NULL) {
        log_raw(line, sizeof line, &pos, ",\"component\":\"");
        log_escape(line, sizeof line, &pos, component);
        log_raw(line, sizeof line, &pos, "\"");
    }
    if (req_id != NULL) {
        log_raw(line, sizeof line, &pos, ",\"req\":\"");
        log_escape(line, sizeof line, &pos, req_id);
        log_raw(line, sizeof line, &pos, "\"");
    }
    log_raw(line, sizeof line, &pos, ",\"msg\":\"");
    log_escape(line, sizeof line, &pos, msg);
    log_raw(line, sizeof line, &pos, "\"}\n");
    if (write(STDERR_FILENO, line, pos) < 0) {
        /* Nowhere left to report a failed log write. */
    }
}
