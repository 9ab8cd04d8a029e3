/* hm_log.h - structured logging: one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-25T09:32:39.123Z","level":"info","component":"gw",
 *    "req":"4F1C...","msg":"..."}
 *
 * The request id follows a request across daemons (it travels in
 * MetaRequest.request_id and in shard RPCs).  Thread-safe: a line is written
 * with one write(2).  The level threshold comes from HAMSTER_LOG_LEVEL
 * (debug, info, warn, error; default info).
 */
#ifndef HM_LOG_H
#define HM_LOG_H

enum hm_log_level { HM_LOG_DEBUG = 0, HM_LOG_INFO, HM_LOG_WARN, HM_LOG_ERROR };

/* Set the threshold; lines below it are dropped. */
void hm_log_set_level(enum hm_log_level level);

/* Read HAMSTER_LOG_LEVEL; unknown values leave the default. */
void hm_log_init_from_env(void);

/* Log one line.  component and req_id may be NULL.  The formatted message is
 * JSON-escaped and truncated at 2 KiB. */
void hm_log(enum hm_log_level level, const char *component, const char *req_id,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define hm_debug(comp, req, ...) hm_log(HM_LOG_DEBUG, comp, req, __VA_ARGS__)
#define hm_info(comp, req, ...)  hm_log(HM_LOG_INFO, comp, req, __VA_ARGS__)
#define hm_warn(comp, req, ...)  hm_log(HM_LOG_WARN, comp, req, __VA_ARGS__)
#define hm_error(comp, req, ...) hm_log(HM_LOG_ERROR, comp, req, __VA_ARGS__)

#endif
