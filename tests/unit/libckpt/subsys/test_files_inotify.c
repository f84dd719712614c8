/* test_files_inotify.c - unit tests of libckpt/files_inotify.c and its hooks
 * in files.c: the fdinfo parser, the path table, the strict check of an
 * INOTIFY entry's data, watches captured and added again with the same wds
 * (a gap included), and the refusals: a path unknown, renamed away or
 * replaced, unread events, hostile records. The interpose.c wrappers are
 * not linked here: the tests fill the table as they would. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "files_inotify.h"
#include "subsys_test.h"

static const struct ckpt_subsys *fs = &ckpt_files_subsys;
/* The scratch directory of a test. */
static char dir[64];

static void setup(void)
{
	test_setup();
	ckpt_inotify_table_reset();
	snprintf(dir, sizeof(dir), "/tmp/ckpt-inotify-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

/* Removes the scratch directory (what a test left in it included). */
static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(files_inotify, .init = setup, .fini = teardown);

/* @name inside the scratch directory. */
static const char *in_dir(const char *name)
{
	static char p[4][128];
	static int n;

	n = (n + 1) % 4;
	snprintf(p[n], sizeof(p[n]), "%s/%s", dir, name);
	return p[n];
}

static void touch(const char *name)
{
	int fd = open(in_dir(name), O_CREAT | O_WRONLY, 0600);

	cr_assert_geq(fd, 0, "%s", name);
	close(fd);
}

/* What the inotify_add_watch() wrapper does. */
static int watch(int fd, const char *path, uint32_t mask)
{
	int wd = inotify_add_watch(fd, path, mask);

	cr_assert_gt(wd, 0, "inotify_add_watch %s: %s", path, strerror(errno));
	cr_assert_eq(ckpt_inotify_table_add(fd, wd, path, mask), 0);
	return wd;
}

/* ---- fdinfo parser ------------------------------------------------------ */

Test(files_inotify, parses_a_kernel_watch_line)
{
	static const char l[] = "inotify wd:1f ino:6286d sdev:fe00000 mask:102 ignored_mask:0 "
				"fhandle-bytes:8 fhandle-type:1 f_handle:6d28060000000000";
	struct ckpt_inotify_mark mk;

	cr_assert_eq(ckpt_inotify_fdinfo_line(l, sizeof(l) - 1, &mk), 1);
	cr_assert_eq(mk.wd, 0x1f);
	cr_assert_eq(mk.ino, 0x6286d);
	cr_assert_eq(mk.sdev, 0xfe00000);
	cr_assert_eq(mk.mask, 0x102);
}

Test(files_inotify, other_lines_are_skipped_and_malformed_ones_refused)
{
	static const char *const bad[] = {
		"inotify wd:0 ino:1 sdev:1 mask:2 ignored_mask:0",
		"inotify wd:80000000 ino:1 sdev:1 mask:2 ignored_mask:0",
		"inotify wd:x ino:1 sdev:1 mask:2 ignored_mask:0",
		"inotify wd:1 sdev:1 mask:2 ignored_mask:0",
		"inotify wd:1 ino:1 sdev:100000000 mask:2 ignored_mask:0",
		"inotify wd:1 ino:1 sdev:1 mask:100000000 ignored_mask:0",
		"inotify wd:1 ino:1 sdev:1 mask:2 ignored_mask:4",
		"inotify wd:1 ino:1 sdev:1 mask:2",
		"inotify wd:1 ino:1 sdev:1 mask:2 ignored_mask:0junk",
		"inotify wd:1 ino:10000000000000000 sdev:1 mask:2 ignored_mask:0",
		"inotify ",
	};
	struct ckpt_inotify_mark mk;

	cr_assert_eq(ckpt_inotify_fdinfo_line("pos:\t0", 6, &mk), 0);
	cr_assert_eq(ckpt_inotify_fdinfo_line("flags:\t02", 9, &mk), 0);
	cr_assert_eq(ckpt_inotify_fdinfo_line("", 0, &mk), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(ckpt_inotify_fdinfo_line(bad[i], strlen(bad[i]), &mk), -EINVAL, "%s",
			     bad[i]);
}

Test(files_inotify, parses_the_fdinfo_of_a_real_inotify)
{
	int fd = inotify_init1(0);
	int wd = inotify_add_watch(fd, dir, IN_CREATE | IN_ONESHOT | IN_DONT_FOLLOW);
	struct ckpt_inotify_mark mk;
	struct stat st;
	char path[64];
	char text[4096];
	char *nl;
	char *line;
	ssize_t n;
	int f;

	cr_assert_gt(wd, 0);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	n = read(f, text, sizeof(text) - 1);
	cr_assert_gt(n, 0);
	text[n] = '\0';
	line = strstr(text, "inotify ");
	cr_assert_not_null(line, "%s", text);
	nl = strchr(line, '\n');
	cr_assert_eq(ckpt_inotify_fdinfo_line(line, (size_t)(nl - line), &mk), 1, "%s", line);
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(mk.wd, wd);
	cr_assert_eq(mk.ino, st.st_ino);
	cr_assert_eq(mk.sdev >> 20, major(st.st_dev));
	cr_assert_eq(mk.sdev & 0xfffff, minor(st.st_dev));
	/* The kernel keeps IN_ONESHOT, not IN_DONT_FOLLOW: the table must. */
	cr_assert_eq(mk.mask, IN_CREATE | IN_ONESHOT);
	close(f);
	close(fd);
}

/* ---- the path table ------------------------------------------------------ */

Test(files_inotify, table_makes_paths_absolute_and_finds_dups)
{
	char cwd[PATH_MAX];
	unsigned int cur = 0;
	uint32_t flags = 0;
	const char *p;
	int fd = inotify_init1(0);
	int dup_fd = dup(fd);
	int other = inotify_init1(0);

	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(ckpt_inotify_table_add(fd, 3, "sub/x", IN_MODIFY | IN_DONT_FOLLOW), 0);
	cr_assert_eq(chdir(cwd), 0);
	p = ckpt_inotify_table_find(getpid(), fd, 3, &flags, &cur);
	cr_assert_not_null(p);
	cr_assert_str_eq(p, in_dir("sub/x"));
	cr_assert_eq(flags, IN_DONT_FOLLOW);
	cr_assert_null(ckpt_inotify_table_find(getpid(), fd, 3, &flags, &cur), "one slot only");

	/* Found through a dup, not through another inotify. */
	cur = 0;
	cr_assert_not_null(ckpt_inotify_table_find(getpid(), dup_fd, 3, &flags, &cur));
	cur = 0;
	cr_assert_null(ckpt_inotify_table_find(getpid(), other, 3, &flags, &cur));
	cur = 0;
	cr_assert_null(ckpt_inotify_table_find(getpid(), fd, 4, &flags, &cur));

	/* Added again: replaced; removed through the dup: gone. */
	cr_assert_eq(ckpt_inotify_table_add(fd, 3, "/a/b", IN_MODIFY), 0);
	cur = 0;
	cr_assert_str_eq(ckpt_inotify_table_find(getpid(), fd, 3, &flags, &cur), "/a/b");
	cr_assert_eq(flags, 0);
	ckpt_inotify_table_remove(dup_fd, 3);
	cur = 0;
	cr_assert_null(ckpt_inotify_table_find(getpid(), fd, 3, &flags, &cur));
	close(fd);
	close(dup_fd);
	close(other);
}

Test(files_inotify, table_is_bounded_and_drops_dead_slots_when_full)
{
	char longp[PATH_MAX + 8];
	int fd = inotify_init1(0);
	int wd = watch(fd, dir, IN_CREATE);
	unsigned int cur = 0;
	uint32_t flags;

	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	cr_assert_eq(ckpt_inotify_table_add(fd, 99, longp, IN_CREATE), -ENAMETOOLONG);
	/* Fill it with watches the kernel does not have. */
	for (int i = 0; i < (int)CKPT_INOTIFY_WATCHES_MAX - 1; i++)
		cr_assert_eq(ckpt_inotify_table_add(fd, 1000 + i, "/x", IN_CREATE), 0);
	/* Full: the dead slots are dropped, the live one stays. */
	cr_assert_eq(ckpt_inotify_table_add(fd, 5000, "/y", IN_CREATE), 0);
	cr_assert_str_eq(ckpt_inotify_table_find(getpid(), fd, wd, &flags, &cur), dir);
	cur = 0;
	cr_assert_null(ckpt_inotify_table_find(getpid(), fd, 1000, &flags, &cur));
	/* Full of live watches: refused. */
	ckpt_inotify_table_reset();
	for (unsigned int i = 0; i < CKPT_INOTIFY_WATCHES_MAX; i++) {
		char name[16];

		snprintf(name, sizeof(name), "w%u", i);
		touch(name);
		watch(fd, in_dir(name), IN_MODIFY);
	}
	wd = inotify_add_watch(fd, dir, IN_MODIFY);
	cr_assert_gt(wd, 0);
	cr_assert_eq(ckpt_inotify_table_add(fd, wd, dir, IN_MODIFY), -ENOSPC);
	close(fd);
}

/* ---- capture and restore ------------------------------------------------- */

/* Reads the events waiting on @fd into "wd:mask:name;" items. */
static void events(int fd, char *out, size_t cap)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(fd, buf, sizeof(buf));

	out[0] = '\0';
	for (ssize_t off = 0; n > 0 && off < n;) {
		const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
		size_t l = strlen(out);

		snprintf(out + l, cap - l, "%d:%x:%s;", ev->wd, ev->mask, ev->len ? ev->name : "");
		off += (ssize_t)(sizeof(*ev) + ev->len);
	}
}

/* inotify 80 (non-blocking, close-on-exec) with a dup at 81: wd 1 on the
 * directory, wd 2 removed (a gap), wd 3 on file f, wd 4 on symlink l itself
 * (IN_DONT_FOLLOW), wd 5..9 removed, wd 10 on file g. */
static void build(void)
{
	int fd;

	touch("f");
	touch("g");
	touch("tmp");
	cr_assert_eq(symlink("f", in_dir("l")), 0);
	test_move_to(inotify_init1(IN_NONBLOCK | IN_CLOEXEC), 80);
	fcntl(80, F_SETFD, FD_CLOEXEC);
	cr_assert_eq(dup2(80, 81), 81);
	fd = 80;
	cr_assert_eq(watch(fd, dir, IN_CREATE | IN_DELETE | IN_ONLYDIR), 1);
	cr_assert_eq(watch(81, in_dir("tmp"), IN_MODIFY), 2);
	cr_assert_eq(inotify_rm_watch(fd, 2), 0);
	ckpt_inotify_table_remove(fd, 2);
	cr_assert_eq(watch(fd, in_dir("f"), IN_MODIFY | IN_CLOSE_WRITE), 3);
	cr_assert_eq(watch(81, in_dir("l"), IN_ATTRIB | IN_DONT_FOLLOW), 4);
	for (int i = 5; i <= 9; i++) {
		cr_assert_eq(watch(fd, in_dir("tmp"), IN_MODIFY), i);
		cr_assert_eq(inotify_rm_watch(fd, i), 0);
	}
	cr_assert_eq(watch(fd, in_dir("g"), IN_MODIFY), 10);
	{
		char ev[4096];

		events(80, ev, sizeof(ev)); /* the IN_IGNORED of the removed ones */
	}
}

static void close_all(void)
{
	for (int fd = 70; fd <= 82; fd++)
		close(fd);
}

/* Checks that inotify @fd has exactly the watches of build(). */
static void check_watches(int fd)
{
	char ev[4096];
	int w;

	w = open(in_dir("f"), O_WRONLY);
	cr_assert_eq(write(w, "x", 1), 1);
	close(w);
	cr_assert_eq(lchown(in_dir("l"), getuid(), getgid()), 0);
	touch("new");
	w = open(in_dir("g"), O_WRONLY);
	cr_assert_eq(write(w, "y", 1), 1);
	close(w);
	cr_assert_eq(unlink(in_dir("new")), 0);
	w = open(in_dir("tmp"), O_WRONLY);
	cr_assert_eq(write(w, "z", 1), 1);
	close(w);
	events(fd, ev, sizeof(ev));
	cr_assert_str_eq(ev, "3:2:;3:8:;4:4:;1:100:new;10:2:;1:200:new;");
}

Test(files_inotify, watches_come_back_with_their_wds_gaps_included)
{
	size_t len;
	char *rec;

	build();
	rec = test_capture(fs, &len);
	cr_assert_eq(test_warnings[0], '\0', "%s", test_warnings);
	close_all();
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fcntl(80, F_GETFD), FD_CLOEXEC);
	cr_assert(fcntl(80, F_GETFL) & O_NONBLOCK);
	cr_assert_eq(fcntl(81, F_GETFD), 0);
	check_watches(81);
	/* A new watch gets the wd after the highest one. */
	cr_assert_eq(inotify_add_watch(80, in_dir("tmp"), IN_MODIFY), 11);
	close_all();
	free(rec);
}

Test(files_inotify, a_second_cycle_captures_the_same_watches)
{
	size_t len;
	size_t len2;
	char *rec;
	char *rec2;

	build();
	rec = test_capture(fs, &len);
	close_all();
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	rec2 = test_capture(fs, &len2);
	cr_assert_eq(len, len2);
	cr_assert_eq(memcmp(rec, rec2, len), 0, "the record differs after a restore");
	close_all();
	free(rec);
	free(rec2);
}

Test(files_inotify, a_blocking_inotify_stays_blocking)
{
	size_t len;
	char *rec;

	test_move_to(inotify_init1(0), 80);
	cr_assert_eq(watch(80, dir, IN_CREATE), 1);
	rec = test_capture(fs, &len);
	close_all();
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	cr_assert_eq(fcntl(80, F_GETFL) & O_NONBLOCK, 0);
	close_all();
	free(rec);
}

Test(files_inotify, throwaways_pass_over_a_device_the_program_watches)
{
	size_t len;
	char *rec;
	char ev[256];

	/* wd 1 on /dev/null, the first spare of the throwaway watches. For
	 * an event no other process of the machine makes (IN_CLOSE_WRITE
	 * came from every process closing /dev/null after writing to it: an
	 * event left unread refused the capture now and then). */
	test_move_to(inotify_init1(IN_NONBLOCK), 80);
	cr_assert_eq(watch(80, "/dev/null", IN_MOVE_SELF), 1);
	cr_assert_eq(inotify_rm_watch(80, watch(80, dir, IN_CREATE)), 0);
	cr_assert_eq(inotify_rm_watch(80, watch(80, in_dir(""), IN_CREATE)), 0);
	cr_assert_eq(watch(80, dir, IN_CREATE), 4);
	events(80, ev, sizeof(ev));
	rec = test_capture(fs, &len);
	cr_assert_eq(test_warnings[0], '\0', "%s", test_warnings);
	close_all();
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	touch("x");
	events(80, ev, sizeof(ev));
	cr_assert_str_eq(ev, "4:100:x;", "no event of a throwaway is left");
	cr_assert_eq(inotify_add_watch(80, "/dev/null", IN_MOVE_SELF), 1);
	close_all();
	free(rec);
}

/* Capture that must be refused with a warning containing @what. */
static void refused(const char *what)
{
	char *buf = malloc(TEST_REC_CAP);
	ssize_t n;

	test_warnings[0] = '\0';
	n = fs->capture(buf, TEST_REC_CAP, test_warn);
	cr_assert_eq(n, -ENOTRECOVERABLE, "capture gave %zd: %s", n, test_warnings);
	cr_assert(strstr(test_warnings, what), "no \"%s\" in: %s", what, test_warnings);
	free(buf);
}

Test(files_inotify, unknown_path_is_refused_naming_fd_and_wd)
{
	char want[256];
	struct stat st;

	test_move_to(inotify_init1(0), 80);
	cr_assert_eq(watch(80, dir, IN_CREATE), 1);
	/* Not through the wrapper: the table has no path for it. */
	cr_assert_eq(inotify_add_watch(80, "/", IN_CREATE), 2);
	cr_assert_eq(stat("/", &st), 0);
	snprintf(want, sizeof(want),
		 "pid %d: fd 80: inotify watch wd 2 (inode %llu) cannot be restored: its path is "
		 "unknown",
		 getpid(), (unsigned long long)st.st_ino);
	refused(want);
	close_all();
}

Test(files_inotify, renamed_or_replaced_path_is_refused_naming_it)
{
	char want[256];

	touch("f");
	touch("g");
	test_move_to(inotify_init1(0), 80);
	cr_assert_eq(watch(80, in_dir("f"), IN_MODIFY), 1);
	cr_assert_eq(watch(80, in_dir("g"), IN_MODIFY), 2);
	cr_assert_eq(rename(in_dir("f"), in_dir("f2")), 0);
	snprintf(want, sizeof(want),
		 "fd 80: inotify watch wd 1 on %s cannot be restored: that path is gone",
		 in_dir("f"));
	refused(want);
	/* Replaced: the path names another file. */
	touch("f");
	snprintf(want, sizeof(want),
		 "fd 80: inotify watch wd 1 on %s cannot be restored: that path names another "
		 "file now",
		 in_dir("f"));
	refused(want);
	cr_assert(strstr(test_warnings, "checkpoint refused"));
	close_all();
}

Test(files_inotify, unread_events_are_refused_naming_their_bytes)
{
	test_move_to(inotify_init1(IN_NONBLOCK), 80);
	cr_assert_eq(watch(80, dir, IN_CREATE), 1);
	touch("x");
	refused("fd 80: inotify has 32 bytes of events not read yet");
	close_all();
}

/* ---- record data check --------------------------------------------------- */

/* INOTIFY data of watches wd 1, 3 on "/a", "/bc" in @buf; returns its
 * length. */
static size_t make_data(unsigned char *buf)
{
	struct ckpt_inotify_hdr h = { .count = 2 };
	struct ckpt_inotify_watch w[2] = {
		{ .wd = 1, .mask = IN_CREATE, .path_len = 3 },
		{ .wd = 3, .mask = IN_MODIFY | IN_DONT_FOLLOW, .path_len = 4 },
	};

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), w, sizeof(w));
	memcpy(buf + sizeof(h) + sizeof(w), "/a\0/bc", 7);
	return sizeof(h) + sizeof(w) + 7;
}

static void set_u32(unsigned char *buf, size_t off, uint32_t v)
{
	memcpy(buf + off, &v, sizeof(v));
}

Test(files_inotify, data_check_refuses_every_bad_field)
{
	unsigned char b[256];
	size_t len = make_data(b);
	size_t w0 = sizeof(struct ckpt_inotify_hdr);
	size_t w1 = w0 + sizeof(struct ckpt_inotify_watch);
	size_t paths = w1 + sizeof(struct ckpt_inotify_watch);

	cr_assert_eq(ckpt_inotify_data_check(9, O_RDONLY, b, len), 0, "%s", test_logs);
	cr_assert_eq(ckpt_inotify_data_check(9, O_RDONLY | O_NONBLOCK, b, len), 0);
	cr_assert_eq(ckpt_inotify_data_check(9, O_RDWR, b, len), -EINVAL, "open flags");
	cr_assert_eq(ckpt_inotify_data_check(9, O_RDONLY, b, 7), -EINVAL, "short");
	cr_assert_eq(ckpt_inotify_data_check(9, O_RDONLY, b, len - 1), -EINVAL, "cut path");
	cr_assert_eq(ckpt_inotify_data_check(9, O_RDONLY, b, len + 1), -EINVAL, "trailing");
	struct {
		size_t off;
		uint32_t v;
		const char *what;
	} spoils[] = {
		{ 0, 3, "count beyond the data" },
		{ 0, 0xffffffffu, "huge count" },
		{ 4, 1, "reserved" },
		{ w0, 0, "wd 0" },
		{ w0, 0x80000000u, "negative wd" },
		{ w1, 1, "wd not increasing" },
		{ w1, CKPT_INOTIFY_SKIP_MAX + 3, "too many throwaways" },
		{ w0 + 4, 0, "no event" },
		{ w0 + 4, IN_MASK_ADD | IN_CREATE, "IN_MASK_ADD" },
		{ w0 + 4, IN_ONLYDIR, "flags only" },
		{ w0 + 20, 1, "path of 1 byte" },
		{ w0 + 20, 4, "path length off" },
		{ w1 + 20, PATH_MAX + 1, "path too long" },
		{ paths, 0x0000612f, "path with NUL inside" },
		{ paths, 0x00002f61, "relative path" },
	};
	for (size_t i = 0; i < sizeof(spoils) / sizeof(spoils[0]); i++) {
		unsigned char c[256];

		memcpy(c, b, len);
		set_u32(c, spoils[i].off, spoils[i].v);
		cr_assert_eq(ckpt_inotify_data_check(9, O_RDONLY, c, len), -EINVAL, "%s",
			     spoils[i].what);
	}
	cr_assert(strstr(test_logs, "fd 9: inotify"), "%s", test_logs);
	/* The widest gap allowed. */
	set_u32(b, w1, CKPT_INOTIFY_SKIP_MAX + 2);
	cr_assert_eq(ckpt_inotify_data_check(9, O_RDONLY, b, len), 0, "%s", test_logs);
}

/* A record with the inotify of build() at 80 (and its dup at 81); the
 * offset of the inotify's data in *@d. */
static char *hostile_base(size_t *len, size_t *d)
{
	char *rec;

	build();
	rec = test_capture(fs, len);
	close_all();
	*d = test_data_of(rec, *len, 80);
	return rec;
}

Test(files_inotify, hostile_inotify_entries_are_refused_before_any_descriptor)
{
	size_t len;
	size_t d = 0;
	char *rec = hostile_base(&len, &d);
	size_t w0 = d + sizeof(struct ckpt_inotify_hdr);

	cr_assert_neq(d, 0);
	cr_assert_eq(test_restore_with_u32(fs, rec, len, d, 5), -EINVAL, "count");
	cr_assert_eq(test_restore_with_u32(fs, rec, len, w0, 7), -EINVAL, "order");
	cr_assert_eq(fcntl(80, F_GETFD), -1, "nothing was restored");
	cr_assert_eq(fs->restore(rec, len), 0, "%s", test_logs);
	close_all();
	free(rec);
}

Test(files_inotify, a_wd_that_cannot_be_reproduced_fails_the_restore_naming_it)
{
	size_t len;
	size_t d = 0;
	char *rec = hostile_base(&len, &d);

	/* The file of wd 3 is gone at restart. */
	cr_assert_eq(unlink(in_dir("f")), 0);
	test_logs[0] = '\0';
	cr_assert_lt(fs->restore(rec, len), 0);
	cr_assert(strstr(test_logs, "fd 80: inotify watch wd 3 on "), "%s", test_logs);
	cr_assert(strstr(test_logs, "cannot be added again"), "%s", test_logs);
	close_all();
	free(rec);
}

Test(files_inotify, random_corruption_never_crashes)
{
	size_t len;
	size_t d = 0;
	char *rec = hostile_base(&len, &d);

	/* Half the flips in the 200 bytes of the inotify data, half anywhere. */
	test_flip_restore(fs, rec, len, d, 200, 11, 2000, close_all);
	free(rec);
}
