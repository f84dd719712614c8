/* auth.c - munge-authenticated hello and SO_PEERCRED checks. */
#define LOG_PREFIX "auth: "
#include "auth.h"
#include "auth_internal.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <munge.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

/* Payload tag: names the protocol so a credential made by another munge
 * client (Slurm's own) can never be taken for a hello. */
#define AUTH_TAG "slurm-ckpt-hello/1"
/* Tag of the coordinator's answer: distinct from AUTH_TAG, so a client's
 * own hello (made by the job's owner, with the client's nonce) reflected
 * back by an impostor is no proof. */
#define AUTH_PROOF_TAG "slurm-ckpt-proof/1"
/* Random bytes in the nonce: 128 bits never collide in practice. */
#define AUTH_NONCE_BYTES 16
/* Largest payload: tag, purpose, nonce in hex, peer and separators. */
#define AUTH_PAYLOAD_MAX                                                          \
	(sizeof(AUTH_PROOF_TAG) + PROTO_AUTH_PURPOSE_MAX + PROTO_AUTH_NONCE_LEN + \
	 PROTO_AUTH_PEER_MAX + 16)

bool proto_auth_uid_allowed(uid_t uid, uid_t allowed)
{
	return uid == allowed || uid == 0;
}

/* A purpose is printable ASCII without spaces, so the payload parses back
 * unambiguously. */
static bool auth_purpose_ok(const char *purpose)
{
	size_t len = purpose ? strlen(purpose) : 0;
	size_t i;

	if (len == 0 || len > PROTO_AUTH_PURPOSE_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (purpose[i] <= ' ' || purpose[i] > '~')
			return false;
	return true;
}

_Static_assert(PROTO_AUTH_NONCE_LEN == 2 * AUTH_NONCE_BYTES, "nonce: two hex digits a byte");

/* Fills @hex (PROTO_AUTH_NONCE_LEN + 1 bytes) with a random nonce. */
static int auth_nonce(char *hex)
{
	unsigned char raw[AUTH_NONCE_BYTES];
	ssize_t n;
	int i;

	do
		n = getrandom(raw, sizeof(raw), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(raw)) {
		log_perror("cannot get random bytes for a hello nonce");
		return -EIO;
	}
	for (i = 0; i < AUTH_NONCE_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* Maps a munge failure to -errno and logs it once, with a hint. */
static int auth_munge_err(munge_err_t e, const char *what)
{
	switch (e) {
	case EMUNGE_SOCKET:
		log_err("%s: cannot reach munged (%s); is the munge service running?", what,
			munge_strerror(e));
		return -ECONNREFUSED;
	case EMUNGE_NO_MEMORY:
		log_err("%s: out of memory in libmunge", what);
		return -ENOMEM;
	case EMUNGE_CRED_REPLAYED:
		log_err("%s: credential replayed (already decoded once); refusing the connection",
			what);
		return -EALREADY;
	case EMUNGE_CRED_EXPIRED:
	case EMUNGE_CRED_REWOUND:
		log_err("%s: %s; check that node clocks are synchronized", what, munge_strerror(e));
		return -EKEYEXPIRED;
	default:
		log_err("%s: %s", what, munge_strerror(e));
		return -EKEYREJECTED;
	}
}

/* Maps a munge decoding failure to -errno without logging: a refused proof
 * is reported once by the caller, which knows where it came from. */
static int auth_munge_errno(munge_err_t e)
{
	switch (e) {
	case EMUNGE_SOCKET:
		return -ECONNREFUSED;
	case EMUNGE_NO_MEMORY:
		return -ENOMEM;
	case EMUNGE_CRED_REPLAYED:
		return -EALREADY;
	case EMUNGE_CRED_EXPIRED:
	case EMUNGE_CRED_REWOUND:
		return -EKEYEXPIRED;
	default:
		return -EKEYREJECTED;
	}
}

/* Encodes @payload in a munge credential valid PROTO_AUTH_TTL seconds. */
static int auth_encode(const char *payload, char **cred, const char *what)
{
	munge_ctx_t ctx;
	munge_err_t e;
	int ret = 0;

	ctx = munge_ctx_create();
	if (!ctx) {
		log_err("cannot create a munge context: out of memory");
		return -ENOMEM;
	}
	e = munge_ctx_set(ctx, MUNGE_OPT_TTL, PROTO_AUTH_TTL);
	if (e == EMUNGE_SUCCESS)
		e = munge_encode(cred, ctx, payload, (int)strlen(payload));
	if (e != EMUNGE_SUCCESS) {
		*cred = NULL;
		ret = auth_munge_err(e, what);
	}
	munge_ctx_destroy(ctx);
	return ret;
}

int proto_auth_make_hello_nonce(const char *purpose, char **cred, char *nonce)
{
	char payload[AUTH_PAYLOAD_MAX];
	char hex[PROTO_AUTH_NONCE_LEN + 1];
	int ret;

	*cred = NULL;
	if (!auth_purpose_ok(purpose)) {
		log_err("invalid hello purpose \"%s\"", purpose ? purpose : "(null)");
		return -EINVAL;
	}
	ret = auth_nonce(hex);
	if (ret)
		return ret;
	snprintf(payload, sizeof(payload), AUTH_TAG " %s %s", purpose, hex);
	ret = auth_encode(payload, cred, "cannot create a hello credential");
	if (!ret && nonce)
		memcpy(nonce, hex, sizeof(hex));
	return ret;
}

int proto_auth_make_hello(const char *purpose, char **cred)
{
	return proto_auth_make_hello_nonce(purpose, cred, NULL);
}

/* Checks a decoded payload: tag, exact @purpose, and a well-formed nonce. */
static bool auth_payload_ok(const char *buf, int len, const char *purpose)
{
	size_t plen = strlen(purpose);
	size_t tlen = strlen(AUTH_TAG);
	const char *p = buf;
	size_t i;

	if (len != (int)(tlen + 1 + plen + 1 + 2 * AUTH_NONCE_BYTES))
		return false;
	if (memcmp(p, AUTH_TAG " ", tlen + 1) != 0)
		return false;
	p += tlen + 1;
	if (memcmp(p, purpose, plen) != 0 || p[plen] != ' ')
		return false;
	p += plen + 1;
	for (i = 0; i < 2 * AUTH_NONCE_BYTES; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

int proto_auth_check_hello_nonce(const char *cred, const char *purpose, uid_t allowed_uid,
				 uid_t *uid, gid_t *gid, char *nonce)
{
	void *buf = NULL;
	int len = 0;
	uid_t u = (uid_t)-1;
	gid_t g = (gid_t)-1;
	munge_err_t e;
	int ret = 0;

	if (!cred || !auth_purpose_ok(purpose))
		return -EINVAL;
	e = munge_decode(cred, NULL, &buf, &len, &u, &g);
	if (e == EMUNGE_SOCKET || e == EMUNGE_NO_MEMORY) {
		/* Our own trouble, not the peer's: say it here. */
		ret = auth_munge_err(e, "cannot check a hello");
		goto out_free;
	}
	if (e != EMUNGE_SUCCESS) {
		ret = auth_munge_errno(e);
		goto out_free;
	}
	if (!buf || !auth_payload_ok(buf, len, purpose)) {
		ret = -EKEYREJECTED;
		goto out_free;
	}
	if (uid)
		*uid = u;
	if (!proto_auth_uid_allowed(u, allowed_uid)) {
		ret = -EACCES;
		goto out_free;
	}
	if (gid)
		*gid = g;
	/* The nonce ends the payload (checked by auth_payload_ok). */
	if (nonce) {
		memcpy(nonce, (const char *)buf + len - PROTO_AUTH_NONCE_LEN, PROTO_AUTH_NONCE_LEN);
		nonce[PROTO_AUTH_NONCE_LEN] = '\0';
	}
out_free:
	free(buf);
	return ret;
}

int proto_auth_check_hello(const char *cred, const char *purpose, uid_t allowed_uid, uid_t *uid,
			   gid_t *gid)
{
	return proto_auth_check_hello_nonce(cred, purpose, allowed_uid, uid, gid, NULL);
}

/* A nonce is exactly PROTO_AUTH_NONCE_LEN lowercase hex digits. */
static bool auth_nonce_ok(const char *nonce)
{
	size_t i;

	if (!nonce || strlen(nonce) != PROTO_AUTH_NONCE_LEN)
		return false;
	for (i = 0; i < PROTO_AUTH_NONCE_LEN; i++)
		if (!((nonce[i] >= '0' && nonce[i] <= '9') || (nonce[i] >= 'a' && nonce[i] <= 'f')))
			return false;
	return true;
}

int proto_auth_proof_payload(const char *purpose, const char *nonce, const char *peer, char *out,
			     size_t size)
{
	int n;

	if (!auth_purpose_ok(purpose) || !auth_nonce_ok(nonce) || !peer ||
	    strlen(peer) > PROTO_AUTH_PEER_MAX || !auth_purpose_ok(peer))
		return -EINVAL;
	n = snprintf(out, size, AUTH_PROOF_TAG " %s %s %s", purpose, nonce, peer);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

bool proto_auth_proof_payload_ok(const void *buf, size_t len, const char *purpose,
				 const char *nonce, const char *peer)
{
	char want[AUTH_PAYLOAD_MAX];

	if (!buf || proto_auth_proof_payload(purpose, nonce, peer, want, sizeof(want)))
		return false;
	return len == strlen(want) && memcmp(buf, want, len) == 0;
}

int proto_auth_make_proof(const char *purpose, const char *nonce, const char *peer, char **cred)
{
	char payload[AUTH_PAYLOAD_MAX];
	int ret;

	*cred = NULL;
	ret = proto_auth_proof_payload(purpose, nonce, peer, payload, sizeof(payload));
	if (ret) {
		log_err("cannot make a proof for \"%s\": invalid nonce or peer",
			purpose ? purpose : "(null)");
		return ret;
	}
	return auth_encode(payload, cred, "cannot create a proof credential");
}

int proto_auth_check_proof(const char *cred, const char *purpose, const char *nonce,
			   const char *peer, uid_t owner, uid_t *uid)
{
	void *buf = NULL;
	int len = 0;
	uid_t u = (uid_t)-1;
	munge_err_t e;
	int ret = 0;

	if (uid)
		*uid = (uid_t)-1;
	if (!cred)
		return -ENOKEY;
	e = munge_decode(cred, NULL, &buf, &len, &u, NULL);
	if (e != EMUNGE_SUCCESS) {
		ret = auth_munge_errno(e);
		goto out_free;
	}
	if (uid)
		*uid = u;
	if (len < 0 || !proto_auth_proof_payload_ok(buf, (size_t)len, purpose, nonce, peer)) {
		ret = -EKEYREJECTED;
		goto out_free;
	}
	/* Exactly the owner, not root: the coordinator runs as the job's user. */
	if (u != owner)
		ret = -EACCES;
out_free:
	free(buf);
	return ret;
}

const char *proto_auth_proof_strerror(int err)
{
	switch (err) {
	case 0:
		return "proof accepted";
	case -ENOKEY:
		return "it sent no proof (a coordinator older than this client, or an impostor)";
	case -EACCES:
		return "its munge credential was made by another user";
	case -EKEYREJECTED:
		return "its credential is invalid, or not made for this job, this connection and "
		       "this client's nonce";
	case -EALREADY:
		return "its credential was replayed";
	case -EKEYEXPIRED:
		return "its credential expired or comes from the future (check the node clocks)";
	case -ECONNREFUSED:
		return "munged cannot be reached on this node to check it";
	case -ENOMEM:
		return "out of memory checking it";
	default:
		return "its proof could not be checked";
	}
}

int proto_auth_coord_purpose(uint32_t job, const struct sockaddr *server, char *out, size_t size)
{
	char addr[PROTO_AUTH_PEER_MAX + 1];
	int ret = proto_auth_sockaddr_str(server, addr, sizeof(addr));
	int n;

	if (ret)
		return ret;
	n = snprintf(out, size, "coord:%u@%s", job, addr);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int proto_auth_sockaddr_str(const struct sockaddr *sa, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		if (!inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)))
			return -EINVAL;
		n = snprintf(out, size, "%s:%u", ip, (unsigned int)ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		if (!inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)))
			return -EINVAL;
		n = snprintf(out, size, "[%s]:%u", ip, (unsigned int)ntohs(in6->sin6_port));
	} else {
		return -EAFNOSUPPORT;
	}
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int proto_peercred_get(int fd, pid_t *pid, uid_t *uid, gid_t *gid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return -errno;
	if (pid)
		*pid = cr.pid;
	if (uid)
		*uid = cr.uid;
	if (gid)
		*gid = cr.gid;
	return 0;
}

int proto_peercred_check(int fd, uid_t allowed)
{
	pid_t pid = 0;
	uid_t uid = (uid_t)-1;
	int ret;

	ret = proto_peercred_get(fd, &pid, &uid, NULL);
	if (ret) {
		log_err("cannot read the peer credentials of fd %d: %s", fd, strerror(-ret));
		return ret;
	}
	if (!proto_auth_uid_allowed(uid, allowed)) {
		log_err("refusing local connection from pid %d uid %u: only uid %u or root may "
			"connect",
			(int)pid, (unsigned int)uid, (unsigned int)allowed);
		return -EACCES;
	}
	return 0;
}

bool proto_auth_payload_check(const char *buf, int len, const char *purpose)
{
	return buf && len >= 0 && auth_purpose_ok(purpose) && auth_payload_ok(buf, len, purpose);
}
