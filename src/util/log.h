/*
 * log.h — one JSON object per line on stderr.
 *
 * Every line carries time and level; lines written while a request is being
 * handled also carry its request_id and trace_id (kept in thread-local
 * context by the HTTP layer).  Lines are assembled in a per-thread buffer and
 * written with one write(2) each, so lines from different threads never
 * interleave.  Secrets must never be passed to these functions: callers log
 * ids, never tokens, passwords or codes.
 */
#ifndef MERCATO_UTIL_LOG_H
#define MERCATO_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

void log_set_level(log_level_t lvl);
log_level_t log_get_level(void);
/* Parses "debug|info|warn|error"; -1 when unknown. */
int log_level_parse(const char *s, log_level_t *out);

/* Thread-local request context included in every line (NULL clears). Borrowed:
 * the strings must outlive the context (the request arena owns them). */
void log_set_context(const char *request_id, const char *trace_id);
/* This thread's context, so work done for another thread can log as it. */
void log_get_context(const char **request_id, const char **trace_id, const char **traceparent);
/* Thread-local W3C traceparent of the work in progress (request or job), so
 * that jobs enqueued and outgoing calls made now can carry it on.  Borrowed. */
void log_set_traceparent(const char *traceparent);
const char *log_traceparent(void);

/* Message with printf-style text, e.g. log_msg(LOG_ERROR, "db", "open failed: %s", err). */
void log_msg(log_level_t lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a pre-built JSON object body (without braces) as one line, prefixed
 * with time and level.  Used by the access log. */
void log_raw_fields(log_level_t lvl, const char *fields, size_t len);

#define log_debug(comp, ...) do { if (log_get_level() <= LOG_DEBUG) log_msg(LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define log_info(comp, ...) log_msg(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...) log_msg(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_msg(LOG_ERROR, comp, __VA_ARGS__)

#endif
