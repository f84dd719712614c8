/* timestr.h - Slurm time strings and checkpoint intervals <-> seconds.
 * Public: any component may include it.
 *
 * Slurm writes durations as "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM" and
 * "D-HH:MM:SS" (sbatch --time). NERSC's convention for the total compute time
 * a job wants is the same syntax in the job comment (--comment=96:00:00),
 * which we read on submit and rewrite with the remaining time on requeue.
 * --checkpoint-interval also takes "1h", "30m", "90s", "2d", "1h30m" or
 * plain seconds.
 *
 * The parsers do not log: the caller knows which option or comment the
 * string came from and says so in its one message.
 */
#ifndef CKPT_PROTO_TIMESTR_H
#define CKPT_PROTO_TIMESTR_H

#include <stddef.h>
#include <stdint.h>

/* Buffer size that holds any formatted duration: "106751991167300-15:30:07"
 * (INT64_MAX seconds) is 24 bytes with its NUL. */
#define PROTO_TIME_STR_MAX 32

/* Parses a Slurm time string strictly into seconds. Only digits, ':' and one
 * '-' are accepted: no sign, no spaces, no empty field. Minutes and seconds
 * after a ':' must be below 60, hours after "D-" below 24; the leading field
 * is unbounded ("90" is 90 minutes, "96:00:00" is 96 hours).
 * Returns 0, or -EINVAL (junk, empty field, out-of-range field, overflow);
 * *@secs is untouched on failure. "UNLIMITED" is refused: it is not a
 * duration. */
int proto_time_parse(const char *s, int64_t *secs);

/* Formats @secs canonically as "[D-]HH:MM:SS" (days only when >= 1 day, as
 * squeue prints). Returns 0, -EINVAL for negative @secs, -ENOSPC when @size
 * is too small (PROTO_TIME_STR_MAX always suffices). */
int proto_time_format(int64_t secs, char *buf, size_t size);

/* Formats @secs as "HH:MM:SS" with unbounded hours ("96:00:00"), the form
 * of the NERSC comment convention. Same returns as proto_time_format(). */
int proto_time_format_hours(int64_t secs, char *buf, size_t size);

/* Parses a checkpoint interval: plain seconds ("3600"), number+unit pairs
 * with units d, h, m, s in that order, each at most once ("2d", "1h30m",
 * "90s"), or a Slurm time string ("01:00:00"). Returns 0 or -EINVAL. */
int proto_interval_parse(const char *s, int64_t *secs);

#endif
