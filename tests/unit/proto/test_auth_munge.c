/* Tests of proto/auth.c against a running munged (suite 'slurm'): a hello
 * round trip, purpose binding, replay refusal, garbage credentials. */
#include "auth.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Test(auth_munge, hello_roundtrip)
{
	char *cred = NULL;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	cr_assert_eq(proto_auth_make_hello("coord:1234", &cred), 0, "is munged running?");
	cr_assert_not_null(cred);
	cr_assert_eq(proto_auth_check_hello(cred, "coord:1234", getuid(), &uid, &gid), 0);
	cr_assert_eq(uid, getuid());
	cr_assert_eq(gid, getgid());
	free(cred);
}

Test(auth_munge, replay_refused)
{
	char *cred = NULL;

	cr_assert_eq(proto_auth_make_hello("coord:1", &cred), 0);
	cr_assert_eq(proto_auth_check_hello(cred, "coord:1", getuid(), NULL, NULL), 0);
	cr_assert_eq(proto_auth_check_hello(cred, "coord:1", getuid(), NULL, NULL), -EALREADY);
	free(cred);
}

Test(auth_munge, purpose_is_bound)
{
	char *cred = NULL;

	cr_assert_eq(proto_auth_make_hello("coord:1", &cred), 0);
	cr_assert_eq(proto_auth_check_hello(cred, "coord:2", getuid(), NULL, NULL), -EKEYREJECTED);
	free(cred);
}

/* A hello is refused for a job of another uid. As root (CI), the hello is
 * made by a child that dropped to nobody, since root is accepted everywhere. */
Test(auth_munge, other_user_refused)
{
	const uid_t nobody = 65534;
	pid_t child = fork();
	int st;

	cr_assert_geq(child, 0);
	if (child == 0) {
		char *cred = NULL;

		if (getuid() == 0 && (setgid(nobody) || setuid(nobody)))
			_exit(1);
		if (proto_auth_make_hello("coord:1", &cred))
			_exit(2);
		_exit(proto_auth_check_hello(cred, "coord:1", getuid() + 1, NULL, NULL) == -EACCES
			      ? 0
			      : 3);
	}
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

/* As root, a credential made by a child running as nobody must be refused
 * for a job owned by another uid, and accepted for nobody's own job. */
Test(auth_munge, other_user_refused_as_root)
{
	const uid_t nobody = 65534;
	char buf[1024] = "";
	uid_t uid;
	pid_t child;
	ssize_t n;
	int p[2];
	int st;

	if (getuid() != 0) {
		/* Without root no credential of another uid can be made; the
		 * refusal itself is covered by other_user_refused. */
		cr_assert_eq(proto_auth_uid_allowed(getuid(), getuid() + 1), false);
		return;
	}
	cr_assert_eq(pipe(p), 0);
	child = fork();
	if (child == 0) {
		char *cred = NULL;

		if (setgid(nobody) || setuid(nobody) || proto_auth_make_hello("coord:9", &cred))
			_exit(1);
		if (write(p[1], cred, strlen(cred)) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	waitpid(child, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert_eq(proto_auth_check_hello(buf, "coord:9", 1000, NULL, NULL), -EACCES);
	child = fork();
	if (child == 0) {
		char *cred = NULL;

		if (setgid(nobody) || setuid(nobody) || proto_auth_make_hello("coord:9", &cred))
			_exit(1);
		_exit(proto_auth_check_hello(cred, "coord:9", nobody, &uid, NULL) == 0 &&
				      uid == nobody
			      ? 0
			      : 2);
	}
	waitpid(child, &st, 0);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "nobody's own hello accepted");
}

Test(auth_munge, garbage_refused)
{
	cr_assert_eq(proto_auth_check_hello("MUNGE:garbage:", "coord:1", getuid(), NULL, NULL),
		     -EKEYREJECTED);
	cr_assert_eq(proto_auth_check_hello("", "coord:1", getuid(), NULL, NULL), -EKEYREJECTED);
}

/* ---- the coordinator's proof ------------------------------------------- */

Test(auth_munge, proof_roundtrip)
{
	char nonce[PROTO_AUTH_NONCE_LEN + 1] = "";
	char seen[PROTO_AUTH_NONCE_LEN + 1] = "";
	char *hello = NULL;
	char *proof = NULL;
	uid_t uid = (uid_t)-1;

	cr_assert_eq(proto_auth_make_hello_nonce("coord:77", &hello, nonce), 0,
		     "is munged running?");
	cr_assert_eq(strlen(nonce), PROTO_AUTH_NONCE_LEN);
	/* The coordinator learns the nonce from the hello... */
	cr_assert_eq(proto_auth_check_hello_nonce(hello, "coord:77", getuid(), NULL, NULL, seen),
		     0);
	cr_assert_str_eq(seen, nonce);
	/* ... and proves itself with it. */
	cr_assert_eq(proto_auth_make_proof("coord:77", seen, "127.0.0.1:5000", &proof), 0);
	cr_assert_eq(proto_auth_check_proof(proof, "coord:77", nonce, "127.0.0.1:5000", getuid(),
					    &uid),
		     0);
	cr_assert_eq(uid, getuid());
	/* Decoded once: the same proof again is a replay. */
	cr_assert_eq(proto_auth_check_proof(proof, "coord:77", nonce, "127.0.0.1:5000", getuid(),
					    NULL),
		     -EALREADY);
	free(hello);
	free(proof);
}

Test(auth_munge, proof_bound_to_nonce_peer_and_owner)
{
	char nonce[PROTO_AUTH_NONCE_LEN + 1] = "00000000000000000000000000000000";
	const char *other_nonce = "ffffffffffffffffffffffffffffffff";
	char *proof = NULL;

	cr_assert_eq(proto_auth_make_proof("coord:78", nonce, "127.0.0.1:5000", &proof), 0);
	cr_assert_eq(proto_auth_check_proof(proof, "coord:78", other_nonce, "127.0.0.1:5000",
					    getuid(), NULL),
		     -EKEYREJECTED);
	free(proof);
	cr_assert_eq(proto_auth_make_proof("coord:78", nonce, "127.0.0.1:5000", &proof), 0);
	cr_assert_eq(proto_auth_check_proof(proof, "coord:78", nonce, "127.0.0.1:5001", getuid(),
					    NULL),
		     -EKEYREJECTED, "a proof for another connection (a relay)");
	free(proof);
	cr_assert_eq(proto_auth_make_proof("coord:78", nonce, "127.0.0.1:5000", &proof), 0);
	cr_assert_eq(proto_auth_check_proof(proof, "coord:78", nonce, "127.0.0.1:5000",
					    getuid() + 1, NULL),
		     -EACCES, "made by someone else than the owner");
	free(proof);
}

Test(auth_munge, reflected_hello_is_no_proof)
{
	char nonce[PROTO_AUTH_NONCE_LEN + 1] = "";
	char *hello = NULL;

	cr_assert_eq(proto_auth_make_hello_nonce("coord:79", &hello, nonce), 0);
	cr_assert_eq(proto_auth_check_proof(hello, "coord:79", nonce, "127.0.0.1:5000", getuid(),
					    NULL),
		     -EKEYREJECTED);
	free(hello);
}

Test(auth_munge, root_proof_refused_for_another_owner)
{
	char nonce[PROTO_AUTH_NONCE_LEN + 1] = "11111111111111111111111111111111";
	char *proof = NULL;

	/* Not even root may stand in for the job's coordinator. */
	cr_assert_eq(proto_auth_make_proof("coord:80", nonce, "127.0.0.1:5000", &proof), 0);
	cr_assert_eq(proto_auth_check_proof(proof, "coord:80", nonce, "127.0.0.1:5000",
					    getuid() == 0 ? 1000 : getuid() + 1, NULL),
		     -EACCES);
	free(proof);
}
