/* agent_timeout.h - how long the WRITE phase of a generation may take when
 * the site set no phase timeout. Pure functions: included by nodeagent/ and
 * its unit tests.
 *
 * A fixed bound fits no file system: 600 s aborts every checkpoint of a
 * large job on a slow one, and leaves a hung write undetected for 10 minutes
 * on a fast one. So by default the bound follows the job: the size of its
 * newest generation over the write bandwidth its last checkpoint achieved,
 * with room for growth, between a floor and a cap.
 */
#ifndef CKPT_AGENT_TIMEOUT_H
#define CKPT_AGENT_TIMEOUT_H

#include <stdint.h>

/* At most 6 h for one WRITE phase: beyond that a write is hung, not slow,
 * and the walltime of most jobs would be spent on it anyway. */
#define AGENT_WRITE_TIMEOUT_CAP 21600
/* The image may grow (memory use grows) and the file system be busier than
 * last time: 4 times the expected time ... */
#define AGENT_WRITE_TIMEOUT_FACTOR 4
/* ... plus 60 s for opening, fsync and the commit of small images. */
#define AGENT_WRITE_TIMEOUT_SLACK 60

/* Bytes per second of a write of @bytes that took @ms milliseconds; 0 when
 * nothing is known (@bytes or @ms not positive). */
uint64_t agent_timeout_bandwidth(uint64_t bytes, int64_t ms);

/* Seconds the WRITE phase may take: FACTOR times the time @bytes (the total
 * image size of the newest generation) take at @bytes_per_s (the measured
 * bandwidth), plus SLACK; at least @floor_s, at most max(@cap_s, @floor_s).
 * @floor_s when the bandwidth is unknown (0). */
int agent_timeout_write_s(uint64_t bytes, uint64_t bytes_per_s, int floor_s, int cap_s);

#endif
