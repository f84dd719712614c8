/* test_attrs.c - unit tests of the attrs subsystem (libckpt/attrs.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "subsys_test.h"

/* Record layout of docs/files-and-state.md, used to corrupt records. */
#define A_UMASK	      8
#define A_PERSONALITY 12
#define A_RLIM_COUNT  16
#define A_CWD_LEN     20
#define A_COMM	      24
#define A_RLIM	      40
#define A_CWD	      296

static const struct ckpt_subsys *as = &ckpt_attrs_subsys;
static char dir[64];

static void setup(void)
{
	test_setup();
	strcpy(dir, "/tmp/ckpt-attrs-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	rmdir(dir);
}

TestSuite(attrs, .init = setup, .fini = teardown);

static void read_comm(char *buf)
{
	int fd = open("/proc/self/comm", O_RDONLY);
	ssize_t n = read(fd, buf, 16);

	close(fd);
	cr_assert_gt(n, 0);
	buf[n - 1] = '\0';
}

static void write_comm(const char *name)
{
	int fd = open("/proc/self/comm", O_WRONLY);

	cr_assert_eq(write(fd, name, strlen(name)), (ssize_t)strlen(name));
	close(fd);
}

Test(attrs, cwd_umask_limits_and_name_come_back)
{
	struct rlimit nofile0;
	struct rlimit core0;
	struct rlimit rl;
	char cwd[PATH_MAX];
	char comm[17];
	size_t len;
	char *rec;

	cr_assert_eq(chdir(dir), 0);
	umask(0027);
	write_comm("ckpt-attrs-t");
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &nofile0), 0);
	nofile0.rlim_cur = nofile0.rlim_max > 900 ? 900 : nofile0.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &nofile0), 0);
	cr_assert_eq(getrlimit(RLIMIT_CORE, &core0), 0);

	rec = test_capture(as, &len);
	cr_assert_str_empty(test_warnings);
	cr_assert_eq(chdir("/"), 0);
	umask(0);
	write_comm("changed");
	rl = nofile0;
	rl.rlim_cur = 64;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	rl = core0;
	rl.rlim_cur = 0;
	cr_assert_eq(setrlimit(RLIMIT_CORE, &rl), 0);

	cr_assert_eq(as->restore(rec, len), 0, "%s", test_logs);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_str_eq(cwd, dir);
	cr_assert_eq(umask(0), 0027);
	read_comm(comm);
	cr_assert_str_eq(comm, "ckpt-attrs-t");
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_eq(rl.rlim_cur, nofile0.rlim_cur);
	cr_assert_eq(rl.rlim_max, nofile0.rlim_max);
	cr_assert_eq(getrlimit(RLIMIT_CORE, &rl), 0);
	cr_assert_eq(rl.rlim_cur, core0.rlim_cur);
	free(rec);
}

Test(attrs, hard_limit_that_cannot_be_raised_is_a_warning)
{
	struct rlimit rl;
	size_t len;
	char *rec;

	rl.rlim_cur = 4096;
	rl.rlim_max = 8192;
	cr_assert_eq(setrlimit(RLIMIT_STACK, &(struct rlimit){ 8 << 20, 16 << 20 }), 0);
	rec = test_capture(as, &len);
	cr_assert_eq(setrlimit(RLIMIT_STACK, &(struct rlimit){ 4 << 20, 6 << 20 }), 0);
	cr_assert_eq(as->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(getrlimit(RLIMIT_STACK, &rl), 0);
	cr_assert_eq(rl.rlim_max, 6 << 20, "hard limit stays where it is");
	cr_assert_eq(rl.rlim_cur, 6 << 20, "soft limit clamped to it");
	cr_assert(strstr(test_logs, "RLIMIT_STACK"), "%s", test_logs);
	free(rec);
}

Test(attrs, missing_cwd_at_restore_is_an_error)
{
	size_t len;
	char *rec;

	cr_assert_eq(chdir(dir), 0);
	rec = test_capture(as, &len);
	cr_assert_eq(chdir("/"), 0);
	cr_assert_eq(rmdir(dir), 0);
	cr_assert_eq(as->restore(rec, len), -ENOENT);
	cr_assert(strstr(test_logs, dir), "%s", test_logs);
	free(rec);
}

Test(attrs, deleted_cwd_at_capture_is_a_warning)
{
	char sub[128];
	size_t len;
	char *rec;
	uint32_t cwd_len;

	snprintf(sub, sizeof(sub), "%s/sub", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(chdir(sub), 0);
	cr_assert_eq(rmdir(sub), 0);
	rec = test_capture(as, &len);
	cr_assert(strstr(test_warnings, "working directory was deleted"), "%s", test_warnings);
	memcpy(&cwd_len, rec + A_CWD_LEN, 4);
	cr_assert_eq(cwd_len, 0);
	cr_assert_eq(chdir("/"), 0);
	cr_assert_eq(as->restore(rec, len), 0, "%s", test_logs);
	free(rec);
}

Test(attrs, too_small_buffer_is_enospc)
{
	size_t len;
	char *rec;

	rec = test_capture(as, &len);
	test_enospc(as, len);
	free(rec);
}

Test(attrs, hostile_records_are_refused)
{
	size_t len;
	char *rec;
	uint32_t cwd_len;
	char *c;

	cr_assert_eq(chdir(dir), 0);
	rec = test_capture(as, &len);
	memcpy(&cwd_len, rec + A_CWD_LEN, 4);
	test_truncations(as, rec, len);

	cr_assert_eq(test_restore_with_u32(as, rec, len, 0, 0), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_UMASK, 01000), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_PERSONALITY, 0xffffffff), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_RLIM_COUNT, 17), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_RLIM_COUNT, 0xffffffff), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_CWD_LEN, 4097), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_CWD_LEN, 0xffffffff), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_CWD_LEN, cwd_len + 8), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_CWD_LEN, cwd_len - 1), -EINVAL);
	cr_assert_eq(test_restore_with_u32(as, rec, len, A_CWD_LEN, 1), -EINVAL);
	/* soft limit above the hard one: RLIMIT_NOFILE's hard limit set to 0 */
	c = malloc(len);
	memcpy(c, rec, len);
	memset(c + A_RLIM + RLIMIT_NOFILE * 16 + 8, 0, 8);
	cr_assert_eq(as->restore(c, len), -EINVAL, "soft above hard");
	free(c);

	c = malloc(len);
	memcpy(c, rec, len);
	c[A_CWD + cwd_len - 1] = 'x';
	cr_assert_eq(as->restore(c, len), -EINVAL, "unterminated cwd");
	memcpy(c, rec, len);
	c[A_CWD] = 'r';
	cr_assert_eq(as->restore(c, len), -EINVAL, "relative cwd");
	memcpy(c, rec, len);
	memset(c + A_COMM, 'n', 16);
	cr_assert_eq(as->restore(c, len), -EINVAL, "unterminated name");
	free(c);
	free(rec);
}
