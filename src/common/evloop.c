/*
 * src/common/evloop.c
 *    The epoll loop. Registrations live in an array indexed by fd (grown on demand). Before each callback the
 *    fd's registration is checked again, so a callback that deleted or replaced another fd's registration in
 *    the same pass does not get that fd's stale event delivered (Redis aeProcessEvents does the same).
 */
#include "evloop.h"
#include "timestamp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define EVLOOP_MAX_EVENTS 256

typedef struct EvFile
{
	int			mask;			/* -1 = not registered */
	EvFileProc	proc;
	void	   *data;
	uint32_t	serial;			/* changes on every evloop_set/del, to recognise stale events */
} EvFile;

typedef struct EvTimer
{
	int64_t		interval_ms;
	int64_t		next_ms;
	EvTimerProc proc;
	void	   *data;
} EvTimer;

struct EvLoop
{
	int			epfd;
	EvFile	   *files;
	int			nfiles;
	EvTimer    *timers;
	int			ntimers;
	EvHookProc	after_pass;
	void	   *after_pass_data;
	bool		stop;
	uint32_t	serial;
	struct epoll_event events[EVLOOP_MAX_EVENTS];
};

int64_t
evloop_now_ms(void)
{
	return timestamp_monotonic_ms();
}

EvLoop *
evloop_new(void)
{
	EvLoop	   *loop = calloc(1, sizeof(*loop));

	if (loop == NULL)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
	{
		free(loop);
		return NULL;
	}
	return loop;
}

void
evloop_free(EvLoop *loop)
{
	if (loop == NULL)
		return;
	close(loop->epfd);
	free(loop->files);
	free(loop->timers);
	free(loop);
}

static bool
evloop_grow(EvLoop *loop, int fd)
{
	int			n = loop->nfiles ? loop->nfiles : 64;
	EvFile	   *files;

	if (fd < loop->nfiles)
		return true;
	while (n <= fd)
		n *= 2;
	files = realloc(loop->files, (size_t) n * sizeof(EvFile));
	if (files == NULL)
		return false;
	for (int i = loop->nfiles; i < n; i++)
		files[i] = (EvFile) {-1, NULL, NULL, 0};
	loop->files = files;
	loop->nfiles = n;
	return true;
}

static uint32_t
evloop_epoll_events(int mask)
{
	return ((mask & EV_READ) ? EPOLLIN : 0) | ((mask & EV_WRITE) ? EPOLLOUT : 0);
}

int
evloop_set(EvLoop *loop, int fd, int mask, EvFileProc proc, void *data)
{
	struct epoll_event ev;
	bool		existed;

	if (fd < 0 || !evloop_grow(loop, fd))
		return -ENOMEM;
	existed = loop->files[fd].mask >= 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = evloop_epoll_events(mask);
	ev.data.fd = fd;
	if (epoll_ctl(loop->epfd, existed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	loop->files[fd] = (EvFile) {mask, proc, data, ++loop->serial};
	return 0;
}

int
evloop_mask(EvLoop *loop, int fd, int mask)
{
	struct epoll_event ev;

	if (fd < 0 || fd >= loop->nfiles || loop->files[fd].mask < 0)
		return -EBADF;
	if (loop->files[fd].mask == mask)
		return 0;
	memset(&ev, 0, sizeof(ev));
	ev.events = evloop_epoll_events(mask);
	ev.data.fd = fd;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	loop->files[fd].mask = mask;
	return 0;
}

int
evloop_get_mask(const EvLoop *loop, int fd)
{
	if (fd < 0 || fd >= loop->nfiles)
		return -1;
	return loop->files[fd].mask;
}

void
evloop_del(EvLoop *loop, int fd)
{
	if (fd < 0 || fd >= loop->nfiles || loop->files[fd].mask < 0)
		return;
	(void) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	loop->files[fd] = (EvFile) {-1, NULL, NULL, ++loop->serial};
}

void
evloop_forget(EvLoop *loop, int fd)
{
	if (fd < 0 || fd >= loop->nfiles || loop->files[fd].mask < 0)
		return;
	loop->files[fd] = (EvFile) {-1, NULL, NULL, ++loop->serial};
}

bool
evloop_add_timer(EvLoop *loop, int64_t interval_ms, EvTimerProc proc, void *data)
{
	EvTimer    *t = realloc(loop->timers, (size_t) (loop->ntimers + 1) * sizeof(EvTimer));

	if (t == NULL)
		return false;
	loop->timers = t;
	t[loop->ntimers++] = (EvTimer) {interval_ms < 1 ? 1 : interval_ms, evloop_now_ms() + interval_ms, proc, data};
	return true;
}

void
evloop_set_after_pass(EvLoop *loop, EvHookProc proc, void *data)
{
	loop->after_pass = proc;
	loop->after_pass_data = data;
}

int
evloop_run_once(EvLoop *loop, int timeout_ms)
{
	int64_t		now = evloop_now_ms();
	int			n;
	uint32_t	serials[EVLOOP_MAX_EVENTS];

	if (timeout_ms < 0 || loop->ntimers > 0)
	{
		for (int i = 0; i < loop->ntimers; i++)
		{
			int64_t		wait = loop->timers[i].next_ms - now;

			if (wait < 0)
				wait = 0;
			if (timeout_ms < 0 || wait < timeout_ms)
				timeout_ms = (int) wait;
		}
	}
	n = epoll_wait(loop->epfd, loop->events, EVLOOP_MAX_EVENTS, timeout_ms);
	if (n < 0)
		n = 0;					/* EINTR: timers and the hook still run */

	/* remember each fd's registration as it was when the events were collected */
	for (int i = 0; i < n; i++)
		serials[i] = loop->files[loop->events[i].data.fd].serial;
	for (int i = 0; i < n; i++)
	{
		int			fd = loop->events[i].data.fd;
		uint32_t	ev = loop->events[i].events;
		EvFile	   *f = &loop->files[fd];
		int			mask = 0;

		if (f->mask < 0 || f->serial != serials[i])
			continue;
		if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
			mask |= EV_READ;
		if (ev & (EPOLLOUT | EPOLLERR))
			mask |= EV_WRITE;
		mask &= f->mask | ((ev & (EPOLLHUP | EPOLLERR)) ? EV_READ : 0);
		if (mask)
			f->proc(loop, fd, f->data, mask);
	}

	if (loop->ntimers > 0)
	{
		now = evloop_now_ms();
		for (int i = 0; i < loop->ntimers; i++)
		{
			EvTimer    *t = &loop->timers[i];

			if (t->next_ms <= now)
			{
				t->next_ms = now + t->interval_ms;
				t->proc(loop, t->data);
			}
		}
	}
	if (loop->after_pass)
		loop->after_pass(loop, loop->after_pass_data);
	return n;
}

void
evloop_run(EvLoop *loop)
{
	loop->stop = false;
	while (!loop->stop)
		(void) evloop_run_once(loop, -1);
}

void
evloop_stop(EvLoop *loop)
{
	loop->stop = true;
}
