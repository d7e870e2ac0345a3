/*
 * src/common/evloop.h
 *    EvLoop: a small epoll event loop (the shape of Redis's ae): file events on fds, periodic timers, and a
 *    hook that runs after each dispatch pass, where objects marked closing during the pass are freed
 *    (docs/hacking.md: a callback never frees the object it runs for). Level-triggered; one thread.
 */
#ifndef BULWARK_EVLOOP_H
#define BULWARK_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#define EV_READ  1
#define EV_WRITE 2

typedef struct EvLoop EvLoop;

/* A file event callback: mask says which of EV_READ/EV_WRITE are ready (EV_READ also on hangup and error). */
typedef void (*EvFileProc) (EvLoop *loop, int fd, void *data, int mask);
typedef void (*EvTimerProc) (EvLoop *loop, void *data);
typedef void (*EvHookProc) (EvLoop *loop, void *data);

/* evloop_new: a loop; NULL when epoll cannot be created. evloop_free(NULL) is a no-op; fds are not closed. */
EvLoop *evloop_new(void);
void evloop_free(EvLoop *loop);

/*
 * evloop_set: watch fd for mask (EV_READ|EV_WRITE, 0 = registered but idle) calling proc(data). Replaces a
 * previous registration of fd. Returns 0 or -errno.
 */
int evloop_set(EvLoop *loop, int fd, int mask, EvFileProc proc, void *data) __attribute__((warn_unused_result));

/* evloop_mask: change the events watched on a registered fd (no-op when unchanged). 0 or -errno. */
int evloop_mask(EvLoop *loop, int fd, int mask) __attribute__((warn_unused_result));

/* evloop_get_mask: the events currently watched on fd, -1 when not registered. */
int evloop_get_mask(const EvLoop *loop, int fd);

/* evloop_del: stop watching fd (before closing it). Events already collected for fd in this pass are dropped. */
void evloop_del(EvLoop *loop, int fd);

/*
 * evloop_forget: as evloop_del for an fd the caller closes right after, without the epoll_ctl call (closing
 * the last reference to a socket removes it from the epoll set). The fd must not have been dup'ed.
 */
void evloop_forget(EvLoop *loop, int fd);

/* evloop_add_timer: call proc(data) every interval_ms (>= 1) from now on. Returns false when out of memory. */
bool evloop_add_timer(EvLoop *loop, int64_t interval_ms, EvTimerProc proc, void *data)
	__attribute__((warn_unused_result));

/* evloop_set_after_pass: hook run after every dispatch pass (free what was marked closing). */
void evloop_set_after_pass(EvLoop *loop, EvHookProc proc, void *data);

/* evloop_run_once: wait at most timeout_ms (-1 = until the next timer) and dispatch; returns events handled. */
int evloop_run_once(EvLoop *loop, int timeout_ms);

/* evloop_run: dispatch until evloop_stop. */
void evloop_run(EvLoop *loop);
void evloop_stop(EvLoop *loop);

/* evloop_now_ms: the monotonic clock in milliseconds, as the loop's timers use it. */
int64_t evloop_now_ms(void);

#endif
