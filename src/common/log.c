/*
 * src/common/log.c
 *    The log line writer: formats into a stack buffer and writes the whole line with one write(2), so lines from
 *    concurrent processes sharing a stderr do not interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "bulwark";
static LogLevel log_level = LOG_LEVEL_INFO;

void
log_set_program(const char *name)
{
	const char *slash = strrchr(name, '/');

	log_program = slash ? slash + 1 : name;
}

void
log_set_level(LogLevel level)
{
	log_level = level;
}

LogLevel
log_get_level(void)
{
	return log_level;
}

const char *
log_level_to_string(LogLevel level)
{
	switch (level)
	{
		case LOG_LEVEL_DEBUG:
			return "debug";
		case LOG_LEVEL_INFO:
			return "info";
		case LOG_LEVEL_WARN:
			return "warn";
		case LOG_LEVEL_ERROR:
			return "error";
		case LOG_LEVEL_FATAL:
			return "fatal";
		case LOG_LEVEL_OFF:
			return "off";
	}
	return "unknown";
}

bool
log_level_from_string(const char *s, LogLevel *out)
{
	for (int l = LOG_LEVEL_DEBUG; l <= LOG_LEVEL_OFF; l++)
	{
		if (strcmp(s, log_level_to_string((LogLevel) l)) == 0)
		{
			*out = (LogLevel) l;
			return true;
		}
	}
	return false;
}

void
log_log(LogLevel level, const char *fmt, ...)
{
	static const char *const tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "FATAL", "OFF  "};
	char line[4096];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int saved_errno = errno;	/* keep %m meaningful for the caller's message */
	va_list ap;

	if (level < log_level)
		return;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t) snprintf(line + n, sizeof(line) - n, ".%03dZ %s %s: ", (int) (tv.tv_usec / 1000),
						   tags[level], log_program);

	errno = saved_errno;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);

	if (m < 0)
		m = 0;
	n += (size_t) m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;	/* truncated: keep the newline */
	line[n++] = '\n';

	for (size_t off = 0; off < n;)
	{
		ssize_t w = write(STDERR_FILENO, line + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t) w;
	}
	errno = saved_errno;
}
