/*
 * tests/unit/test_keeper_children.c
 *    /health's view of the keeper's child programs (review finding H4): a long pg_basebackup keeps the keeper
 *    alive while its counters move and stops doing so when they stand still; PostgreSQL's own processes, which
 *    are the keeper's children when it is a container's PID 1, do not count. On a real child process and on a
 *    /proc tree written by the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keeper/keeper_children.h"

static pid_t
spawn_named(const char *name)
{
	pid_t		pid = fork();

	if (pid == 0)
	{
		prctl(PR_SET_NAME, name, 0, 0, 0);
		for (;;)
			pause();
	}
	assert_true(pid > 0);
	/* wait until the child has its name */
	for (int i = 0; i < 200; i++)
	{
		char		path[64];
		char		text[256] = "";
		FILE	   *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
		f = fopen(path, "r");
		if (f)
		{
			if (fgets(text, sizeof(text), f) == NULL)
				text[0] = '\0';
			fclose(f);
		}
		if (strncmp(text, name, strlen(name)) == 0)
			break;
		usleep(5000);
	}
	return pid;
}

static void
reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
test_a_running_child_program_is_found_and_postgres_is_not(void **state)
{
	ChildActivity a;
	pid_t		pg,
				backup;

	(void) state;
	assert_true(keeper_children_scan("/proc", getpid(), &a));
	assert_int_equal(a.count, 0);

	pg = spawn_named("postgres");
	assert_true(keeper_children_scan("/proc", getpid(), &a));
	assert_int_equal(a.count, 0);	/* the postmaster is not a step of the keeper's loop */

	backup = spawn_named("pg_basebackup");
	assert_true(keeper_children_scan("/proc", getpid(), &a));
	assert_int_equal(a.count, 1);
	assert_int_equal(a.pid, backup);
	assert_string_equal(a.name, "pg_basebackup");
	reap(backup);
	reap(pg);
	assert_true(keeper_children_scan("/proc", getpid(), &a));
	assert_int_equal(a.count, 0);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char		path[512];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A fake /proc with the keeper (pid 1), its postmaster and a pg_basebackup whose counters the test sets. */
static void
fake_proc(const char *root, unsigned long long rchar, unsigned long long utime)
{
	char		dir[512];
	char		text[512];

	snprintf(dir, sizeof(dir), "%s/1", root);
	mkdir(dir, 0755);
	write_file(dir, "stat", "1 (bulwark-keeper) S 0 1 1 0 -1 4194560 1 0 0 0 5 6 0 0 20 0 3 0 1 0 0\n");
	snprintf(dir, sizeof(dir), "%s/16", root);
	mkdir(dir, 0755);
	write_file(dir, "stat", "16 (postgres) S 1 16 16 0 -1 4194560 1 0 0 0 70 80 0 0 20 0 1 0 1 0 0\n");
	write_file(dir, "io", "rchar: 999999\nwchar: 999999\n");
	snprintf(dir, sizeof(dir), "%s/42", root);
	mkdir(dir, 0755);
	snprintf(text, sizeof(text), "42 (pg_basebackup) S 1 42 42 0 -1 4194560 1 0 0 0 %llu 2 0 0 20 0 1 0 1 0 0\n",
			 utime);
	write_file(dir, "stat", text);
	snprintf(text, sizeof(text), "rchar: %llu\nsyscr: 7\nwchar: 10\n", rchar);
	write_file(dir, "io", text);
}

static void
test_a_long_base_backup_is_alive_while_it_moves(void **state)
{
	char		root[] = "/tmp/bulwark-test-proc-XXXXXX";
	ChildProgress p = {0};
	ChildActivity a;
	const int64_t window = 13000;	/* 3 sleep intervals + 10 s */
	int64_t		t = 1000000;

	(void) state;
	assert_non_null(mkdtemp(root));
	fake_proc(root, 1000, 1);
	assert_true(keeper_children_scan(root, 1, &a));
	assert_int_equal(a.count, 1);
	assert_int_equal(a.pid, 42);
	assert_string_equal(a.name, "pg_basebackup");
	assert_true(keeper_children_progressing(&p, &a, t, window));	/* first seen */

	/* an hour of copying, looked at every 10 s: the bytes read keep moving, so it stays alive */
	for (int i = 1; i <= 360; i++)
	{
		t += 10000;
		fake_proc(root, 1000 + (unsigned long long) i * 8192 * 1024, 1);
		assert_true(keeper_children_scan(root, 1, &a));
		if (!keeper_children_progressing(&p, &a, t, window))
			fail_msg("a moving base backup was judged stalled after %d s", i * 10);
	}
	/* then it hangs: nothing moves; alive until the window has passed since the last move, then not */
	t += 10000;
	assert_true(keeper_children_scan(root, 1, &a));
	assert_true(keeper_children_progressing(&p, &a, t, window));
	t += 10000;
	assert_true(keeper_children_scan(root, 1, &a));
	assert_false(keeper_children_progressing(&p, &a, t, window));
	/* CPU time alone also counts as moving (pg_rewind computing) */
	fake_proc(root, 1000 + 360ULL * 8192 * 1024, 50);
	assert_true(keeper_children_scan(root, 1, &a));
	assert_true(keeper_children_progressing(&p, &a, t + 1, window));
	/* no child program: not progressing, and the next program starts afresh */
	{
		ChildActivity none = {0};

		assert_false(keeper_children_progressing(&p, &none, t + 2, window));
		assert_false(p.seen);
	}
	{
		char		cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		assert_int_equal(system(cmd), 0);
	}
}

static void
test_an_unreadable_proc_root_is_an_error(void **state)
{
	ChildActivity a;

	(void) state;
	assert_false(keeper_children_scan("/nonexistent/proc", 1, &a));
	assert_int_equal(a.count, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_running_child_program_is_found_and_postgres_is_not),
		cmocka_unit_test(test_a_long_base_backup_is_alive_while_it_moves),
		cmocka_unit_test(test_an_unreadable_proc_root_is_an_error),
	};

	return cmocka_run_group_tests_name("keeper_children", tests, NULL, NULL);
}
