/* Unit tests of proto/auth.c that need no munged: uid policy, argument
 * checks, SO_PEERCRED. The munge round trip is in test_auth_munge.c. */
#include "auth.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

Test(auth, uid_policy)
{
	cr_assert(proto_auth_uid_allowed(1000, 1000));
	cr_assert(proto_auth_uid_allowed(0, 1000), "root may act on any job");
	cr_assert_not(proto_auth_uid_allowed(1001, 1000));
	cr_assert_not(proto_auth_uid_allowed((uid_t)-1, 1000));
}

Test(auth, bad_purpose_refused_before_munge)
{
	char *cred = (char *)1;
	char longp[PROTO_AUTH_PURPOSE_MAX + 2];

	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	cr_assert_eq(proto_auth_make_hello(NULL, &cred), -EINVAL);
	cr_assert_null(cred);
	cr_assert_eq(proto_auth_make_hello("", &cred), -EINVAL);
	cr_assert_eq(proto_auth_make_hello("has space", &cred), -EINVAL);
	cr_assert_eq(proto_auth_make_hello("tab\t", &cred), -EINVAL);
	cr_assert_eq(proto_auth_make_hello(longp, &cred), -EINVAL);
	cr_assert_eq(proto_auth_check_hello("x", "has space", 0, NULL, NULL), -EINVAL);
	cr_assert_eq(proto_auth_check_hello(NULL, "coord:1", 0, NULL, NULL), -EINVAL);
}

Test(auth, peercred_of_socketpair_is_self)
{
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(proto_peercred_get(sv[0], &pid, &uid, &gid), 0);
	cr_assert_eq(pid, getpid());
	cr_assert_eq(uid, getuid());
	cr_assert_eq(gid, getgid());
	cr_assert_eq(proto_peercred_check(sv[0], getuid()), 0);
	if (getuid() != 0)
		cr_assert_eq(proto_peercred_check(sv[0], getuid() + 1), -EACCES);
	close(sv[0]);
	close(sv[1]);
}

Test(auth, peercred_not_a_socket)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(proto_peercred_check(p[0], getuid()), -ENOTSOCK);
	cr_assert_eq(proto_peercred_get(-1, NULL, NULL, NULL), -EBADF);
}

/* Run as root, a child that drops to nobody must be refused for a job of
 * another user, and accepted for its own uid. */
Test(auth, peercred_other_user_refused)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const uid_t nobody = 65534;
	pid_t child;
	int lfd;
	int cfd;
	int st;

	if (getuid() != 0) {
		/* Without root no peer of another uid exists; check the refusal
		 * against a uid that is not ours instead. */
		int sv[2];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		cr_assert_eq(proto_peercred_check(sv[0], getuid() + 1), -EACCES);
		close(sv[0]);
		close(sv[1]);
		return;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/proto-auth-%d.sock", (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	chmod(sa.sun_path, 0777);
	cr_assert_eq(listen(lfd, 1), 0);
	child = fork();
	if (child == 0) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (setgid(nobody) || setuid(nobody) ||
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(1);
		pause();
		_exit(0);
	}
	cfd = accept(lfd, NULL, NULL);
	cr_assert_geq(cfd, 0);
	cr_assert_eq(proto_peercred_check(cfd, 1000), -EACCES);
	cr_assert_eq(proto_peercred_check(cfd, nobody), 0);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	unlink(sa.sun_path);
}

/* ---- the coordinator's proof (pure payload encode/verify) --------------- */

#define NONCE "0123456789abcdef0123456789abcdef"

Test(auth, proof_payload_format)
{
	char out[512];

	cr_assert_eq(proto_auth_proof_payload("coord:42", NONCE, "10.0.0.5:4242", out, sizeof(out)),
		     0);
	cr_assert_str_eq(out, "slurm-ckpt-proof/1 coord:42 " NONCE " 10.0.0.5:4242");
	cr_assert_eq(proto_auth_proof_payload("coord:42", NONCE, "10.0.0.5:4242", out, 20),
		     -ENAMETOOLONG);
}

Test(auth, proof_payload_refuses_bad_inputs)
{
	char out[512];

	cr_assert_eq(proto_auth_proof_payload("coord 42", NONCE, "h:1", out, sizeof(out)), -EINVAL);
	cr_assert_eq(proto_auth_proof_payload("coord:42", "0123", "h:1", out, sizeof(out)), -EINVAL,
		     "short nonce");
	cr_assert_eq(proto_auth_proof_payload("coord:42", "0123456789ABCDEF0123456789abcdef", "h:1",
					      out, sizeof(out)),
		     -EINVAL, "upper-case hex is not what hellos carry");
	cr_assert_eq(proto_auth_proof_payload("coord:42", NONCE, "a b:1", out, sizeof(out)),
		     -EINVAL, "a space would make the payload ambiguous");
	cr_assert_eq(proto_auth_proof_payload("coord:42", NONCE, NULL, out, sizeof(out)), -EINVAL);
	cr_assert_eq(proto_auth_proof_payload("coord:42", NULL, "h:1", out, sizeof(out)), -EINVAL);
}

Test(auth, proof_payload_binds_job_nonce_and_peer)
{
	const char *good = "slurm-ckpt-proof/1 coord:42 " NONCE " 10.0.0.5:4242";
	size_t len = strlen(good);

	cr_assert(proto_auth_proof_payload_ok(good, len, "coord:42", NONCE, "10.0.0.5:4242"));
	cr_assert_not(proto_auth_proof_payload_ok(good, len, "coord:43", NONCE, "10.0.0.5:4242"),
		      "another job");
	cr_assert_not(proto_auth_proof_payload_ok(good, len, "coord:42",
						  "1123456789abcdef0123456789abcdef",
						  "10.0.0.5:4242"),
		      "another client's nonce: a replayed proof");
	cr_assert_not(proto_auth_proof_payload_ok(good, len, "coord:42", NONCE, "10.0.0.6:4242"),
		      "another connection: a relay");
	cr_assert_not(proto_auth_proof_payload_ok(good, len - 1, "coord:42", NONCE,
						  "10.0.0.5:4242"),
		      "truncated");
	cr_assert_not(proto_auth_proof_payload_ok(NULL, 0, "coord:42", NONCE, "10.0.0.5:4242"));
}

Test(auth, hello_payload_is_no_proof)
{
	/* What a client's own hello decodes to: made by the owner, carrying
	 * the client's nonce. Reflected back, it must not pass as a proof. */
	const char *hello = "slurm-ckpt-hello/1 coord:42 " NONCE;
	const char *hello_peer = "slurm-ckpt-hello/1 coord:42 " NONCE " 10.0.0.5:4242";

	cr_assert_not(proto_auth_proof_payload_ok(hello, strlen(hello), "coord:42", NONCE,
						  "10.0.0.5:4242"));
	cr_assert_not(proto_auth_proof_payload_ok(hello_peer, strlen(hello_peer), "coord:42", NONCE,
						  "10.0.0.5:4242"));
}

Test(auth, proof_missing_is_refused)
{
	uid_t uid = 7;

	cr_assert_eq(proto_auth_check_proof(NULL, "coord:42", NONCE, "h:1", 1000, &uid), -ENOKEY);
	cr_assert_eq(uid, (uid_t)-1);
	cr_assert_str_neq(proto_auth_proof_strerror(-ENOKEY), "");
}

Test(auth, sockaddr_str)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(4242) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(7) };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char out[PROTO_AUTH_PEER_MAX + 1];

	in.sin_addr.s_addr = htonl(0x0a000005);
	cr_assert_eq(proto_auth_sockaddr_str((struct sockaddr *)&in, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "10.0.0.5:4242");
	in6.sin6_addr = in6addr_loopback;
	cr_assert_eq(proto_auth_sockaddr_str((struct sockaddr *)&in6, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "[::1]:7");
	cr_assert_eq(proto_auth_sockaddr_str((struct sockaddr *)&un, out, sizeof(out)),
		     -EAFNOSUPPORT);
	cr_assert_eq(proto_auth_sockaddr_str((struct sockaddr *)&in, out, 5), -ENAMETOOLONG);
}

Test(auth, coord_purpose_names_job_and_server)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(40001) };
	char out[PROTO_AUTH_PURPOSE_MAX + 1];

	in.sin_addr.s_addr = htonl(0x0a000005);
	cr_assert_eq(proto_auth_coord_purpose(42, (struct sockaddr *)&in, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "coord:42@10.0.0.5:40001");
	/* A hello relayed by an impostor names the impostor's port. */
	in.sin_port = htons(40002);
	cr_assert_eq(proto_auth_coord_purpose(42, (struct sockaddr *)&in, out, sizeof(out)), 0);
	cr_assert_str_neq(out, "coord:42@10.0.0.5:40001");
	cr_assert_eq(proto_auth_coord_purpose(42, (struct sockaddr *)&in, out, 10), -ENAMETOOLONG);
}
