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
 *
 * The coordinator proves itself in return: its answer carries a credential
 * made by proto_auth_make_proof() that binds the same purpose, the nonce of
 * the client's hello and the client's address as the coordinator sees it;
 * the client accepts it only from the job owner's uid
 * (proto_auth_check_proof()). A stale address record whose port another
 * user now holds, or a relay to the real coordinator, fails that check.
 */
#ifndef CKPT_PROTO_AUTH_H
#define CKPT_PROTO_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sockaddr;

/* Longest purpose string, e.g. "coord:1234@10.0.0.5:40001" (job id and the
 * coordinator's address, proto_auth_coord_purpose()). */
#define PROTO_AUTH_PURPOSE_MAX 128
/* Seconds a hello credential stays valid: long enough for a slow TCP connect
 * across a busy cluster, short enough to keep munged's replay cache small. */
#define PROTO_AUTH_TTL 60

/* Hex digits of the random nonce a hello carries (128 bits). */
#define PROTO_AUTH_NONCE_LEN 32
/* Longest peer address a proof binds: "[IPv6]:port". */
#define PROTO_AUTH_PEER_MAX 64

/* True when a peer with @uid may act on a job owned by @allowed: the owner
 * itself or root. */
bool proto_auth_uid_allowed(uid_t uid, uid_t allowed);

/* Creates a munge credential for @purpose (1..PROTO_AUTH_PURPOSE_MAX bytes,
 * printable, no spaces) in *@cred (malloc'd; caller frees).
 * Returns 0, -EINVAL for a bad @purpose, -ECONNREFUSED when munged cannot be
 * reached (logged with a hint), -ENOMEM, or -EKEYREJECTED for another munge
 * failure. */
int proto_auth_make_hello(const char *purpose, char **cred);

/* The same, and copies the nonce bound into the credential to @nonce
 * (PROTO_AUTH_NONCE_LEN + 1 bytes; may be NULL): the client keeps it to
 * check the coordinator's proof. */
int proto_auth_make_hello_nonce(const char *purpose, char **cred, char *nonce);

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
 * *@uid is also set for -EACCES (the refused sender). Refusals are not
 * logged: any user can send hellos, the caller words and rate-limits them;
 * munged unreachable or out of memory is logged. */
int proto_auth_check_hello(const char *cred, const char *purpose, uid_t allowed_uid, uid_t *uid,
			   gid_t *gid);
/* The same, and on success copies the client's nonce to @nonce
 * (PROTO_AUTH_NONCE_LEN + 1 bytes; may be NULL) for the proof. */
int proto_auth_check_hello_nonce(const char *cred, const char *purpose, uid_t allowed_uid,
				 uid_t *uid, gid_t *gid, char *nonce);

/* Writes the payload of a coordinator's proof,
 * "slurm-ckpt-proof/1 <purpose> <nonce> <peer>", to @out. @peer is the
 * client's address as the coordinator sees it (proto_auth_sockaddr_str()).
 * Returns 0, -EINVAL for a bad purpose, nonce or peer, -ENAMETOOLONG. */
int proto_auth_proof_payload(const char *purpose, const char *nonce, const char *peer, char *out,
			     size_t size);
/* True when @buf (@len bytes, a decoded credential's payload) is exactly
 * the proof payload for @purpose, @nonce and @peer. */
bool proto_auth_proof_payload_ok(const void *buf, size_t len, const char *purpose,
				 const char *nonce, const char *peer);
/* Creates the coordinator's proof for a client whose hello carried @nonce,
 * connected from @peer, in *@cred (malloc'd; caller frees). Returns 0,
 * -EINVAL, or a munge failure as proto_auth_make_hello() (logged). */
int proto_auth_make_proof(const char *purpose, const char *nonce, const char *peer, char **cred);
/* Client side: decodes @cred (NULL: none was sent) and accepts it only if
 * made by exactly @owner (not root: the coordinator runs as the job's
 * user) for @purpose, @nonce and @peer (the client's own address,
 * getsockname()). Fills *@uid with the maker's uid when known, else -1.
 * Returns 0, -ENOKEY (no proof), -EACCES (another user's), -EKEYREJECTED
 * (invalid, or for another job, nonce or connection), -EALREADY (replayed),
 * -EKEYEXPIRED, -ECONNREFUSED (munged unreachable), -ENOMEM. Logs nothing:
 * proto_auth_proof_strerror() words the result for the caller's message. */
int proto_auth_check_proof(const char *cred, const char *purpose, const char *nonce,
			   const char *peer, uid_t owner, uid_t *uid);
/* Why proto_auth_check_proof() returned @err, as a phrase. */
const char *proto_auth_proof_strerror(int err);

/* The purpose of a hello to, and proof from, job @job's coordinator
 * reached at @server (the client's getpeername(), the coordinator's
 * getsockname() of the connection): "coord:<job>@<addr>:<port>". Binding
 * the coordinator's own address keeps an impostor from relaying a client's
 * hello to the real coordinator. Returns 0 or as proto_auth_sockaddr_str(). */
int proto_auth_coord_purpose(uint32_t job, const struct sockaddr *server, char *out, size_t size);
/* Writes "a.b.c.d:port" or "[v6]:port" of @sa. Returns 0, -EAFNOSUPPORT,
 * -EINVAL, -ENAMETOOLONG. */
int proto_auth_sockaddr_str(const struct sockaddr *sa, char *out, size_t size);

/* Identity of the peer of Unix socket @fd (any of the outputs may be NULL).
 * Returns 0 or -errno. */
int proto_peercred_get(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/* Accepts the peer of Unix socket @fd only if it runs as @allowed or root.
 * Returns 0, -EACCES (logged with the peer's pid and uid), or -errno. */
int proto_peercred_check(int fd, uid_t allowed);

#endif
