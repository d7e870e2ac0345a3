/*
 * tests/unit/test_evloop.c
 *    The epoll loop with socketpairs: events reach their callbacks, a callback that deletes another fd in the
 *    same pass does not get that fd's stale event delivered, masks change only what is asked, timers fire, and
 *    the after-pass hook is where objects closed during the pass are freed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evloop.h"

typedef struct Pair
{
	int			fds[2];
	int			reads;
	int			writes;
	int			other_fd;		/* an fd this callback deletes and closes, -1 = none */
	bool		closed;			/* marked during the pass */
	bool		freed;			/* by the after-pass hook */
} Pair;

static void
on_event(EvLoop *loop, int fd, void *data, int mask)
{
	Pair	   *p = data;
	char		buf[64];

	if (mask & EV_READ)
	{
		p->reads++;
		if (read(fd, buf, sizeof(buf)) <= 0)
			p->closed = true;
	}
	if (mask & EV_WRITE)
		p->writes++;
	if (p->other_fd >= 0)
	{
		evloop_del(loop, p->other_fd);
		p->other_fd = -1;
	}
}

static void
after_pass(EvLoop *loop, void *data)
{
	Pair	   *p = data;

	(void) loop;
	if (p->closed)
		p->freed = true;
}

static void
test_read_event_reaches_callback(void **state)
{
	EvLoop	   *loop = evloop_new();
	Pair		p = {.other_fd = -1};

	(void) state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p.fds), 0);
	assert_int_equal(evloop_set(loop, p.fds[0], EV_READ, on_event, &p), 0);
	assert_int_equal(evloop_run_once(loop, 0), 0);
	assert_int_equal(p.reads, 0);
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	assert_int_equal(evloop_run_once(loop, 1000), 1);
	assert_int_equal(p.reads, 1);
	close(p.fds[0]);
	close(p.fds[1]);
	evloop_free(loop);
}

static void
test_masks_select_events(void **state)
{
	EvLoop	   *loop = evloop_new();
	Pair		p = {.other_fd = -1};

	(void) state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p.fds), 0);
	/* registered idle: a writable socket reports nothing */
	assert_int_equal(evloop_set(loop, p.fds[0], 0, on_event, &p), 0);
	assert_int_equal(evloop_run_once(loop, 0), 0);
	assert_int_equal(evloop_mask(loop, p.fds[0], EV_WRITE), 0);
	assert_int_equal(evloop_get_mask(loop, p.fds[0]), EV_WRITE);
	(void) evloop_run_once(loop, 100);
	assert_int_equal(p.writes, 1);
	assert_int_equal(evloop_mask(loop, p.fds[0], 0), 0);
	(void) evloop_run_once(loop, 0);
	assert_int_equal(p.writes, 1);
	evloop_del(loop, p.fds[0]);
	assert_int_equal(evloop_get_mask(loop, p.fds[0]), -1);
	assert_true(evloop_mask(loop, p.fds[0], EV_READ) < 0);
	close(p.fds[0]);
	close(p.fds[1]);
	evloop_free(loop);
}

static void
test_deleted_fd_gets_no_stale_event_in_same_pass(void **state)
{
	EvLoop	   *loop = evloop_new();
	Pair		a = {.other_fd = -1};
	Pair		b = {.other_fd = -1};

	(void) state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a.fds), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b.fds), 0);
	assert_int_equal(evloop_set(loop, a.fds[0], EV_READ, on_event, &a), 0);
	assert_int_equal(evloop_set(loop, b.fds[0], EV_READ, on_event, &b), 0);
	/* both readable; whichever runs first deletes the other */
	a.other_fd = b.fds[0];
	b.other_fd = a.fds[0];
	assert_int_equal(write(a.fds[1], "x", 1), 1);
	assert_int_equal(write(b.fds[1], "x", 1), 1);
	assert_int_equal(evloop_run_once(loop, 1000), 2);
	assert_int_equal(a.reads + b.reads, 1);
	close(a.fds[0]);
	close(a.fds[1]);
	close(b.fds[0]);
	close(b.fds[1]);
	evloop_free(loop);
}

static void
test_close_is_freed_after_the_pass(void **state)
{
	EvLoop	   *loop = evloop_new();
	Pair		p = {.other_fd = -1};

	(void) state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p.fds), 0);
	assert_int_equal(evloop_set(loop, p.fds[0], EV_READ, on_event, &p), 0);
	evloop_set_after_pass(loop, after_pass, &p);
	close(p.fds[1]);			/* the peer hangs up: EOF */
	(void) evloop_run_once(loop, 1000);
	assert_true(p.closed);
	assert_true(p.freed);
	evloop_del(loop, p.fds[0]);
	close(p.fds[0]);
	evloop_free(loop);
}

static void
on_timer(EvLoop *loop, void *data)
{
	int		   *count = data;

	if (++*count == 3)
		evloop_stop(loop);
}

static void
test_timers_fire_until_stopped(void **state)
{
	EvLoop	   *loop = evloop_new();
	int			count = 0;
	int64_t		t0 = evloop_now_ms();

	(void) state;
	assert_true(evloop_add_timer(loop, 10, on_timer, &count));
	evloop_run(loop);
	assert_int_equal(count, 3);
	assert_true(evloop_now_ms() - t0 >= 25);
	evloop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_event_reaches_callback),
		cmocka_unit_test(test_masks_select_events),
		cmocka_unit_test(test_deleted_fd_gets_no_stale_event_in_same_pass),
		cmocka_unit_test(test_close_is_freed_after_the_pass),
		cmocka_unit_test(test_timers_fire_until_stopped),
	};

	return cmocka_run_group_tests_name("evloop", tests, NULL, NULL);
}
