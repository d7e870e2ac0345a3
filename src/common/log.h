/*
 * src/common/log.h
 *    Logging for every bulwark program: one event per line on stderr,
 *    "2026-11-28T15:03:01.123Z INFO  bulwarkctl: message key=value".
 *
 * The level and program name are the only process-wide settings (docs/hacking.md). Messages are lowercase with no full
 * stop, PostgreSQL style; machine-readable details go after the message as key=value pairs. Never log secrets.
 */
#ifndef BULWARK_LOG_H
#define BULWARK_LOG_H

#include <stdbool.h>

typedef enum LogLevel
{
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
	LOG_LEVEL_OFF,
} LogLevel;

/* log_set_program: the name printed on every line; the string must outlive the program (argv[0] is fine). */
void log_set_program(const char *name);
void log_set_level(LogLevel level);
LogLevel log_get_level(void);

/* log_level_from_string: "debug", "info", "warn", "error", "fatal", "off"; false when unknown. */
bool log_level_from_string(const char *s, LogLevel *out) __attribute__((warn_unused_result));
const char *log_level_to_string(LogLevel level);

void log_log(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_get_level() <= LOG_LEVEL_DEBUG) log_log(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_log(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_log(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_log(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_fatal(...) log_log(LOG_LEVEL_FATAL, __VA_ARGS__)

#endif
