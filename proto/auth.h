/* auth.h - who is on the other end of a connection.
 * Public: any component may include it.
 *
 * Local connections (process -> node agent over a Unix socket) are checked
 * with SO_PEERCRED: the kernel vouches for the peer's uid. Connections that
 * may cross nodes (ckpt CLI or a node agent -> the job's coordinator over
 * TCP) open with a "register" message carrying a munge credential made by
 * proto_auth_make_hello(). Its payload binds a random nonce to a purpose
 * string, so a credential captured for one purpose is useless for another,
 * and munged refuses to decode the same credential twice on a host.
 * Only the job's owner and root are ever accepted.
 */
#ifndef CKPT_PROTO_AUTH_H
#define CKPT_PROTO_AUTH_H

#include <stdbool.h>
#include <sys/types.h>

/* Longest purpose string, e.g. "coord:1234" (job id) or "agent:1234:cn1". */
#define PROTO_AUTH_PURPOSE_MAX 128
/* Seconds a hello credential stays valid: long enough for a slow TCP connect
 * across a busy cluster, short enough to keep munged's replay cache small. */
#define PROTO_AUTH_TTL 60

/* True when a peer with @uid may act on a job owned by @allowed: the owner
 * itself or root. */
bool proto_auth_uid_allowed(uid_t uid, uid_t allowed);

/* Creates a munge credential for @purpose (1..PROTO_AUTH_PURPOSE_MAX bytes,
 * printable, no spaces) in *@cred (malloc'd; caller frees).
 * Returns 0, -EINVAL for a bad @purpose, -ECONNREFUSED when munged cannot be
 * reached (logged with a hint), -ENOMEM, or -EKEYREJECTED for another munge
 * failure. */
int proto_auth_make_hello(const char *purpose, char **cred);

/* Decodes @cred, checks that it was made for @purpose by @allowed_uid or by
 * root, and returns the sender's identity in *@uid and *@gid (either may be
 * NULL). Returns
 *   0             accepted,
 *   -EALREADY     credential replayed (munged saw it before): refuse, it is
 *                 either an attack or a client bug resending a hello,
 *   -EKEYEXPIRED  credential expired or from the future (clock skew),
 *   -EKEYREJECTED invalid credential, or made for another purpose,
 *   -EACCES       valid, but the sender is neither @allowed_uid nor root,
 *   -ECONNREFUSED munged cannot be reached, -ENOMEM.
 * Every refusal is logged once with the reason and, when known, the uid. */
int proto_auth_check_hello(const char *cred, const char *purpose, uid_t allowed_uid, uid_t *uid,
			   gid_t *gid);

/* Identity of the peer of Unix socket @fd (any of the outputs may be NULL).
 * Returns 0 or -errno. */
int proto_peercred_get(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/* Accepts the peer of Unix socket @fd only if it runs as @allowed or root.
 * Returns 0, -EACCES (logged with the peer's pid and uid), or -errno. */
int proto_peercred_check(int fd, uid_t allowed);

#endif
