/* log.h - the one logging API of slurm-ckpt; any component may include it.
 *
 * Call sites are the same everywhere; only the backend differs (stderr in the
 * CLI and agent, slurm_error()/slurm_info() in the SPANK plugin). A file sets
 * LOG_PREFIX before including this header to tag its messages. Errors carry
 * file:line so a user's report points at the failing check.
 */
#ifndef CKPT_PROTO_LOG_H
#define CKPT_PROTO_LOG_H

#include <stdarg.h>

/* The bare file name: "options.c:47", not "../spank/options.c:47". */
#ifdef __FILE_NAME__
#define LOG_FILE __FILE_NAME__
#else
#define LOG_FILE __FILE__
#endif

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

enum log_level {
	LOG_LEVEL_ERR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* Receives one finished message (no trailing newline). */
typedef void (*log_backend_fn)(enum log_level level, const char *msg);

/* Replaces the stderr backend; NULL restores it. */
void log_set_backend(log_backend_fn backend);
/* Messages above @level are dropped; default LOG_LEVEL_INFO, or the value of
 * the environment variable CKPT_LOG_LEVEL (0-3) read at the first message. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Name printed before every stderr message, e.g. "ckpt". */
void log_set_ident(const char *ident);

void log_message(enum log_level level, int errnum, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define log_err(fmt, ...) \
	log_message(LOG_LEVEL_ERR, 0, LOG_FILE, __LINE__, LOG_PREFIX fmt, ##__VA_ARGS__)
/* Like log_err, with ": strerror(errno)" appended. */
#define log_perror(fmt, ...) \
	log_message(LOG_LEVEL_ERR, errno, LOG_FILE, __LINE__, LOG_PREFIX fmt, ##__VA_ARGS__)
#define log_warn(fmt, ...)  log_message(LOG_LEVEL_WARN, 0, NULL, 0, LOG_PREFIX fmt, ##__VA_ARGS__)
#define log_info(fmt, ...)  log_message(LOG_LEVEL_INFO, 0, NULL, 0, LOG_PREFIX fmt, ##__VA_ARGS__)
#define log_debug(fmt, ...) log_message(LOG_LEVEL_DEBUG, 0, NULL, 0, LOG_PREFIX fmt, ##__VA_ARGS__)

#endif
