/* log.c - formatting and dispatch for log.h. */
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static log_backend_fn log_backend;
static enum log_level log_level = LOG_LEVEL_INFO;
static bool log_level_set;
static const char *log_ident = "slurm-ckpt";

void log_set_backend(log_backend_fn backend)
{
	log_backend = backend;
}

void log_set_level(enum log_level level)
{
	log_level = level;
	log_level_set = true;
}

static void log_level_from_env(void)
{
	const char *env = getenv("CKPT_LOG_LEVEL");

	log_level_set = true;
	if (env && env[0] >= '0' && env[0] <= '3' && env[1] == '\0')
		log_level = (enum log_level)(env[0] - '0');
}

enum log_level log_get_level(void)
{
	if (!log_level_set)
		log_level_from_env();
	return log_level;
}

void log_set_ident(const char *ident)
{
	log_ident = ident;
}

static const char *const level_names[] = { "error", "warning", "info", "debug" };

static void log_to_stderr(enum log_level level, const char *msg)
{
	fprintf(stderr, "%s: %s: %s\n", log_ident, level_names[level], msg);
}

void log_message(enum log_level level, int errnum, const char *file, int line, const char *fmt, ...)
{
	/* 1 KiB fits any message we write; longer ones are cut, not lost. */
	char msg[1024];
	size_t len = 0;
	va_list ap;

	if (level > log_get_level())
		return;

	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = n < 0 ? 0 : ((size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n);

	if (errnum && len < sizeof(msg) - 1)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(errnum));
	if (file && len < sizeof(msg) - 1)
		snprintf(msg + len, sizeof(msg) - len, " [%s:%d]", file, line);

	(log_backend ? log_backend : log_to_stderr)(level, msg);
}
