/* The coordinator's check of memory shared in a tree (agent_tree_check.c):
 * lines of /proc/PID/maps are untrusted input, each field checked; an
 * object mapped by two processes is refused unless its kind comes back
 * shared, naming both holders and their ranges; a descriptor on a memfd or
 * /dev/shm object the restart hands to the mappings is refused, named. */
#include "agent_tree_check.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

Test(tree_shm, parses_a_shared_anonymous_line)
{
	struct agent_shm_map m;
	const char *path;

	cr_assert_eq(agent_tree_maps_line_parse("7f2883e16000-7f2883e27000 rw-s 00002000 00:01 "
						"1042                       /dev/zero (deleted)",
						&m, &path),
		     0);
	cr_assert_eq(m.start, 0x7f2883e16000ull);
	cr_assert_eq(m.end, 0x7f2883e27000ull);
	cr_assert_eq(m.offset, 0x2000ull);
	cr_assert_eq(m.dev, 1ull);
	cr_assert_eq(m.inode, 1042ull);
	cr_assert(m.shared);
	cr_assert_str_eq(path, "/dev/zero (deleted)");
}

Test(tree_shm, parses_a_line_without_path)
{
	struct agent_shm_map m;
	const char *path;

	cr_assert_eq(agent_tree_maps_line_parse("1000-3000 r--p 00000000 00:00 0", &m, &path), 0);
	cr_assert_not(m.shared);
	cr_assert_str_eq(path, "");
}

Test(tree_shm, refuses_malformed_lines)
{
	static const char *const bad[] = {
		"",
		"zz-3000 rw-s 0 00:01 1 x",
		"3000-1000 rw-s 0 00:01 1 x",				/* end before start */
		"1000-1000 rw-s 0 00:01 1 x",				/* empty */
		"1001-3000 rw-s 0 00:01 1 x",				/* not page aligned */
		"1000-3000 rwxq 0 00:01 1 x",				/* bad sharing letter */
		"1000-3000 rw-s 0 1000:01 1 x",				/* major past 12 bits */
		"1000-3000 rw-s 0 00:100000 1 x",			/* minor past 20 bits */
		"1000-3000 rw-s 0 00:01 99999999999999999999 x",	/* inode past 64 bits */
		"1000-3000 rw-s 0 00:01",				/* no inode */
		"10000000000000000-10000000000001000 rw-s 0 00:01 1 x", /* 17 hex digits */
		"1000-3000 rw-s 0 00:01 12x /p",			/* junk after the inode */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct agent_shm_map m;
		const char *path;

		cr_assert_eq(agent_tree_maps_line_parse(bad[i], &m, &path), -EINVAL, "line %zu: %s",
			     i, bad[i]);
	}
}

static struct agent_shm_map map(pid_t pid, uint64_t inode, uint64_t start, enum agent_shm_kind kind)
{
	struct agent_shm_map m = { .start = start,
				   .end = start + 0x1000,
				   .dev = 1,
				   .inode = inode,
				   .pid = pid,
				   .shared = true,
				   .kind = kind };

	snprintf(m.name, sizeof(m.name), "object %llu", (unsigned long long)inode);
	return m;
}

Test(tree_shm, refuses_an_object_of_two_processes_naming_both)
{
	struct agent_shm_map maps[] = {
		map(20, 7, 0x5000, AGENT_SHM_FILE),    map(30, 9, 0xa000, AGENT_SHM_DELETED),
		map(20, 9, 0xb000, AGENT_SHM_DELETED), map(20, 9, 0xc000, AGENT_SHM_DELETED),
		map(30, 7, 0x6000, AGENT_SHM_FILE),
	};
	char why[1024] = "";

	cr_assert_eq(agent_tree_shm_judge(maps, 5, AGENT_SHM_RESTORABLE, why, sizeof(why)),
		     -EAGAIN);
	cr_assert(strstr(why, "object 9 is mapped by pid 20"), "%s", why);
	cr_assert(strstr(why, "at b000-c000 and by pid 30"), "%s", why);
	cr_assert(strstr(why, "at a000-b000"), "%s", why);
	cr_assert(strstr(why, "unmap it"), "%s", why);
}

Test(tree_shm, accepts_files_and_objects_of_one_process)
{
	struct agent_shm_map maps[] = {
		map(20, 7, 0x5000, AGENT_SHM_FILE),	map(30, 7, 0x6000, AGENT_SHM_FILE),
		map(20, 9, 0xb000, AGENT_SHM_ANON),	map(20, 9, 0xc000, AGENT_SHM_ANON),
		map(30, 11, 0xb000, AGENT_SHM_DELETED), map(30, 9, 0xb000, AGENT_SHM_ANON),
	};
	char why[1024] = "";

	cr_assert_eq(agent_tree_shm_judge(maps, 6, AGENT_SHM_RESTORABLE, why, sizeof(why)), 0, "%s",
		     why);
	cr_assert_eq(agent_tree_shm_judge(maps, 0, AGENT_SHM_RESTORABLE, why, sizeof(why)), 0);
}

Test(tree_shm, same_inode_on_another_device_is_another_object)
{
	struct agent_shm_map maps[] = {
		map(20, 9, 0xb000, AGENT_SHM_SYSV),
		map(30, 9, 0xb000, AGENT_SHM_SYSV),
	};
	char why[1024] = "";

	maps[1].dev = 2;
	cr_assert_eq(agent_tree_shm_judge(maps, 2, AGENT_SHM_RESTORABLE, why, sizeof(why)), 0, "%s",
		     why);
}

Test(tree_shm, accepts_memfds_and_unlinked_dev_shm_objects_of_two_processes)
{
	struct agent_shm_map maps[] = {
		map(20, 5, 0x5000, AGENT_SHM_MEMFD),
		map(30, 5, 0x5000, AGENT_SHM_MEMFD),
		map(40, 6, 0x6000, AGENT_SHM_SHM_DELETED),
		map(30, 6, 0x6000, AGENT_SHM_SHM_DELETED),
	};
	char why[1024] = "";

	cr_assert_eq(agent_tree_shm_judge(maps, 4, AGENT_SHM_RESTORABLE, why, sizeof(why)), 0, "%s",
		     why);
	/* SysV and unlinked files elsewhere stay refused. */
	maps[0].kind = maps[1].kind = AGENT_SHM_SYSV;
	cr_assert_eq(agent_tree_shm_judge(maps, 4, AGENT_SHM_RESTORABLE, why, sizeof(why)),
		     -EAGAIN);
	maps[0].kind = maps[1].kind = AGENT_SHM_DELETED;
	cr_assert_eq(agent_tree_shm_judge(maps, 4, AGENT_SHM_RESTORABLE, why, sizeof(why)),
		     -EAGAIN);
}

Test(tree_shm, refuses_a_descriptor_on_an_object_handed_over_naming_it)
{
	struct agent_shm_map maps[] = {
		map(20, 5, 0x5000, AGENT_SHM_MEMFD),
		map(30, 5, 0x7000, AGENT_SHM_MEMFD),
		map(40, 6, 0x6000, AGENT_SHM_SHM_DELETED),
		map(30, 6, 0x6000, AGENT_SHM_SHM_DELETED),
	};
	char why[1024] = "";

	cr_assert_eq(agent_tree_shm_judge(maps, 4, AGENT_SHM_RESTORABLE, why, sizeof(why)), 0);
	cr_assert_eq(agent_tree_shm_fd_judge(maps, 4, 50, 7, 1, 5, why, sizeof(why)), -EAGAIN);
	cr_assert(strstr(why, "object 5 is mapped by pid 20"), "%s", why);
	cr_assert(strstr(why, "at 5000-6000 and by pid 30"), "%s", why);
	cr_assert(strstr(why, "at 7000-8000"), "%s", why);
	cr_assert(strstr(why, "and pid 50 (pid "), "%s", why);
	cr_assert(strstr(why, "also holds it open as fd 7"), "%s", why);
	cr_assert(strstr(why, "close the descriptor"), "%s", why);
	cr_assert_eq(agent_tree_shm_fd_judge(maps, 4, 30, 3, 1, 6, why, sizeof(why)), -EAGAIN);
}

Test(tree_shm, accepts_descriptors_on_objects_not_handed_over)
{
	struct agent_shm_map maps[] = {
		map(20, 5, 0x5000, AGENT_SHM_MEMFD),
		map(20, 5, 0x7000, AGENT_SHM_MEMFD), /* one process: restored by it alone */
		map(20, 6, 0x6000, AGENT_SHM_FILE),
		map(30, 6, 0x6000, AGENT_SHM_FILE), /* a file: mapped again by path */
		map(20, 8, 0x6000, AGENT_SHM_ANON),
		map(30, 8, 0x6000, AGENT_SHM_ANON), /* no descriptor can name it */
	};
	char why[1024] = "";

	cr_assert_eq(agent_tree_shm_judge(maps, 6, AGENT_SHM_RESTORABLE, why, sizeof(why)), 0);
	for (uint64_t ino = 4; ino <= 9; ino++)
		cr_assert_eq(agent_tree_shm_fd_judge(maps, 6, 20, 3, 1, ino, why, sizeof(why)), 0,
			     "inode %llu: %s", (unsigned long long)ino, why);
	/* Same inode, another device: another object. */
	maps[1].pid = 30;
	cr_assert_eq(agent_tree_shm_judge(maps, 6, AGENT_SHM_RESTORABLE, why, sizeof(why)), 0);
	cr_assert_eq(agent_tree_shm_fd_judge(maps, 6, 20, 3, 2, 5, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(agent_tree_shm_fd_judge(maps, 6, 20, 3, 1, 5, why, sizeof(why)), -EAGAIN);
	cr_assert_eq(agent_tree_shm_fd_judge(maps, 0, 20, 3, 1, 5, why, sizeof(why)), 0);
}
