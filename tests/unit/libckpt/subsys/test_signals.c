/* test_signals.c - unit tests of the signals subsystem (libckpt/signals.c). */
#include <errno.h>
#include <signal.h>
#include <sys/time.h>

#include "subsys_test.h"

/* Record layout of docs/files-and-state.md, used to corrupt records. */
#define S_NSIG	   8
#define S_ACT	   24
#define S_ACT_SIZE 40
#define S_TIMER	   (S_ACT + 64 * S_ACT_SIZE)

static const struct ckpt_subsys *ss = &ckpt_signals_subsys;

static void setup(void)
{
	test_setup();
	ckpt_signals_set_reserved(0);
}

TestSuite(signals, .init = setup);

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
}

static void on_other(int sig)
{
	(void)sig;
}

Test(signals, actions_come_back_with_flags_and_mask)
{
	struct sigaction sa = { .sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct sigaction got;
	size_t len;
	char *rec;

	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGRTMIN + 3);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	/* The test may inherit SIGHUP ignored (nohup, a CI runner): start from
	 * the default so the capture below sees a change. */
	cr_assert_neq(signal(SIGHUP, SIG_DFL), SIG_ERR);
	cr_assert_eq(signal(SIGHUP, SIG_IGN), SIG_DFL);

	rec = test_capture(ss, &len);
	cr_assert_eq(sigaction(SIGUSR1, NULL, &got), 0);
	cr_assert_eq(got.sa_sigaction, on_usr1);
	cr_assert_neq(signal(SIGUSR1, on_other), SIG_ERR);
	cr_assert_eq(signal(SIGHUP, SIG_DFL), SIG_IGN);
	cr_assert_eq(ss->restore(rec, len), 0, "%s", test_logs);

	cr_assert_eq(sigaction(SIGUSR1, NULL, &got), 0);
	cr_assert_eq(got.sa_sigaction, on_usr1);
	cr_assert_eq(got.sa_flags & (SA_SIGINFO | SA_RESTART | SA_NODEFER),
		     SA_SIGINFO | SA_RESTART);
	cr_assert(sigismember(&got.sa_mask, SIGUSR2));
	cr_assert(sigismember(&got.sa_mask, SIGRTMIN + 3));
	cr_assert_not(sigismember(&got.sa_mask, SIGTERM));
	cr_assert_eq(sigaction(SIGHUP, NULL, &got), 0);
	cr_assert_eq(got.sa_handler, SIG_IGN);
	free(rec);
}

Test(signals, restored_handler_runs)
{
	struct sigaction sa = { .sa_handler = on_other };
	static volatile sig_atomic_t hits;
	size_t len;
	char *rec;

	(void)hits;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	rec = test_capture(ss, &len);
	cr_assert_eq(signal(SIGUSR2, SIG_DFL), on_other);
	cr_assert_eq(ss->restore(rec, len), 0, "%s", test_logs);
	/* With SIG_DFL this would end the test with a signal. */
	cr_assert_eq(raise(SIGUSR2), 0);
	free(rec);
}

Test(signals, reserved_signal_is_left_alone)
{
	int sig = SIGRTMIN + 5;
	struct sigaction got;
	size_t len;
	char *rec;

	cr_assert_eq(ckpt_signals_set_reserved(sig), 0);
	cr_assert_eq(signal(sig, on_other), SIG_DFL);
	rec = test_capture(ss, &len);
	cr_assert_eq(signal(sig, SIG_IGN), on_other);
	cr_assert_eq(ss->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(sigaction(sig, NULL, &got), 0);
	cr_assert_eq(got.sa_handler, SIG_IGN);
	cr_assert_eq(ckpt_signals_set_reserved(65), -EINVAL);
	free(rec);
}

Test(signals, timers_are_rearmed_with_remaining_time)
{
	struct itimerval real = { .it_value = { 10, 0 }, .it_interval = { 3, 500000 } };
	struct itimerval prof = { .it_value = { 7, 250000 } };
	struct itimerval zero = { 0 };
	struct itimerval got;
	size_t len;
	char *rec;

	cr_assert_eq(setitimer(ITIMER_REAL, &real, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_PROF, &prof, NULL), 0);
	rec = test_capture(ss, &len);
	cr_assert_eq(setitimer(ITIMER_REAL, &zero, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_PROF, &zero, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_VIRTUAL, &real, NULL), 0);
	usleep(200000); /* downtime must not count */
	cr_assert_eq(ss->restore(rec, len), 0, "%s", test_logs);

	cr_assert_eq(getitimer(ITIMER_REAL, &got), 0);
	double left = (double)got.it_value.tv_sec + got.it_value.tv_usec / 1e6;
	cr_assert(left > 9.5 && left <= 10.0, "REAL left %f", left);
	cr_assert_eq(got.it_interval.tv_sec, 3);
	cr_assert_eq(got.it_interval.tv_usec, 500000);
	cr_assert_eq(getitimer(ITIMER_PROF, &got), 0);
	left = (double)got.it_value.tv_sec + got.it_value.tv_usec / 1e6;
	cr_assert(left > 7.0 && left <= 7.3, "PROF left %f", left);
	cr_assert_eq(getitimer(ITIMER_VIRTUAL, &got), 0);
	cr_assert_eq(got.it_value.tv_sec, 0, "VIRTUAL was disarmed at checkpoint");
	cr_assert_eq(got.it_value.tv_usec, 0);
	setitimer(ITIMER_REAL, &zero, NULL);
	setitimer(ITIMER_PROF, &zero, NULL);
	free(rec);
}

Test(signals, process_pending_signal_is_raised_again)
{
	sigset_t block;
	sigset_t pend;
	struct timespec now = { 0 };
	size_t len;
	char *rec;

	sigfillset(&block);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &block, NULL), 0);
	cr_assert_eq(kill(getpid(), SIGUSR1), 0);
	cr_assert_eq(kill(getpid(), SIGRTMIN + 1), 0);
	rec = test_capture(ss, &len);
	/* Consume them, as the old process's death would lose them. */
	sigemptyset(&pend);
	sigaddset(&pend, SIGUSR1);
	sigaddset(&pend, SIGRTMIN + 1);
	cr_assert_eq(sigtimedwait(&pend, NULL, &now), SIGUSR1);
	cr_assert_eq(sigtimedwait(&pend, NULL, &now), SIGRTMIN + 1);
	cr_assert_eq(sigpending(&pend), 0);
	cr_assert_not(sigismember(&pend, SIGUSR1));

	cr_assert_eq(ss->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(sigpending(&pend), 0);
	cr_assert(sigismember(&pend, SIGUSR1));
	cr_assert(sigismember(&pend, SIGRTMIN + 1));
	cr_assert_not(sigismember(&pend, SIGUSR2));
	free(rec);
}

Test(signals, too_small_buffer_is_enospc)
{
	size_t len;
	char *rec = test_capture(ss, &len);

	test_enospc(ss, len);
	free(rec);
}

Test(signals, hostile_records_are_refused)
{
	size_t len;
	char *rec = test_capture(ss, &len);

	test_truncations(ss, rec, len);
	cr_assert_eq(test_restore_with_u32(ss, rec, len, 0, 0), -EINVAL);
	cr_assert_eq(test_restore_with_u32(ss, rec, len, S_NSIG, 65), -EINVAL);
	cr_assert_eq(test_restore_with_u32(ss, rec, len, S_NSIG, 0xffffffff), -EINVAL);
	for (int s = 0; s < 64; s++) {
		size_t a = S_ACT + (size_t)s * S_ACT_SIZE;

		cr_assert_eq(test_restore_with_u32(ss, rec, len, a + 32, (uint32_t)s + 2), -EINVAL,
			     "signo of slot %d", s);
		cr_assert_eq(test_restore_with_u32(ss, rec, len, a + 36, 2), -EINVAL);
	}
	/* SIGKILL's action marked saved */
	cr_assert_eq(test_restore_with_u32(ss, rec, len, S_ACT + 8 * S_ACT_SIZE + 36, 1), -EINVAL);
	/* a microsecond count of a million, a negative second count */
	cr_assert_eq(test_restore_with_u32(ss, rec, len, S_TIMER + 8, 1000000), -EINVAL);
	cr_assert_eq(test_restore_with_u32(ss, rec, len, S_TIMER + 20, 0x80000000), -EINVAL);
	free(rec);
}
