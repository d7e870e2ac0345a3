/*
 * src/common/fencing.h
 *    When a master may accept writes, as pure functions of the cluster spec, time and what it has observed
 *    (docs/design.md, "Fencing and the failsafe"). No I/O and no clock: the keeper's watchdog and its HTTP
 *    endpoints, and the unit tests, pass the monotonic time in.
 *
 *    The timing argument in one paragraph. The leader sentinel fails a master over only after its keeper's
 *    report has not changed for failInterval, measured on the sentinel's monotonic clock from the moment it saw
 *    the last change, which is no earlier than the moment the keeper sent that publish. A master keeper counts its
 *    role as confirmed from the send time of its last publish that succeeded and the send time of its last
 *    cluster data read that named it master, whichever is older; it stops accepting writes fence_after later,
 *    fence_after = failInterval - margin. So it has stopped at least `margin` before the earliest moment another
 *    DB can be promoted, as long as the two monotonic clocks run at rates that differ by less than
 *    margin / failInterval (20%; NTP-disciplined clocks differ by less than 0.01%). The margin also covers the
 *    watchdog's tick and the time PostgreSQL takes to act on a fast shutdown request.
 *
 *    The failsafe (spec failsafeMode). With the store unreachable the master may stay writable on confirmations
 *    it collects directly from the other keepers: each electable keeper that cannot reach the store either, and
 *    still sees it as master, promises not to promote for promise_ms from when it received the request, and
 *    keeps that promise even if the cluster data it reads afterwards tells it to promote. The master counts each
 *    promise from the moment it sent the request, minus the margin, and needs one from every keeper that could be
 *    elected (failsafe_required_keepers): any keeper missing or refusing ends the failsafe, and the master fences
 *    itself as above. A keeper that reaches the store refuses, so a master cut off alone is failed over as usual.
 *    What the master cannot know of, a DB created after its cluster data was read, the planner does not elect
 *    in failsafe mode unless it existed before the master was last heard from (planner.c).
 */
#ifndef BULWARK_FENCING_H
#define BULWARK_FENCING_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"

typedef struct FencingTimes
{
	int64_t		margin_ms;		/* clock-rate drift, the watchdog's tick, the time a stop takes */
	int64_t		fence_after_ms; /* a master whose role was confirmed this long ago stops accepting writes */
	int64_t		promise_ms;		/* how long a standby's failsafe promise lasts */
	int64_t		publish_every_ms;	/* how often the keeper must publish so that fence_after is never reached */
} FencingTimes;

/* fencing_times: the bounds the spec implies (failInterval, sleepInterval). */
FencingTimes fencing_times(const ClusterSpec *spec);

/* What a master keeper knows of its own role; every time is monotonic milliseconds, 0 = never. */
typedef struct MasterConfirmation
{
	int64_t		read_sent_ms;	/* send time of the last cluster data read that named this DB master */
	int64_t		publish_sent_ms;	/* send time of the last report publish that succeeded */
	int64_t		failsafe_until_ms;	/* the failsafe's confirmation holds until then */
} MasterConfirmation;

/*
 * fencing_confirmed_until: the monotonic time until which the master may accept writes: fence_after after the
 * older of its last master read and its last publish, or the failsafe's bound when later. 0 = not confirmed.
 */
int64_t fencing_confirmed_until(const MasterConfirmation *c, const FencingTimes *t);

/*
 * failsafe_required_keepers: the keepers whose promise the master (db master) needs: every keeper holding a DB
 * in cd other than the master's, except those that reported they cannot be master; in synchronous mode only
 * those whose DB the master lists as synchronous (no other can be elected, I4). Keeper uids into out (appended).
 * False when memory runs out.
 */
bool failsafe_required_keepers(const ClusterData *cd, const Db *master, StringList *out)
	__attribute__((warn_unused_result));

/* A master's request for a promise, as the standby's HTTP endpoint receives it. */
typedef struct FailsafeRequest
{
	const char *cluster_uid;
	const char *master_db;
	const char *master_keeper;
	int64_t		want_ms;
} FailsafeRequest;

/*
 * failsafe_answer: a keeper's answer (my_keeper, with cd its last valid cluster data or NULL) to a request.
 * True with *granted_ms (at most promise_ms) when it cannot reach the store itself (store_blind), its cluster
 * data still names that DB, on that keeper, master and its own DB is a standby; false with *reason (static text)
 * otherwise. A keeper that reaches the store never promises: the sentinel decides through the store, and a
 * master that only it cannot reach is failed over as usual, without delay.
 */
bool failsafe_answer(const ClusterData *cd, const char *my_keeper, bool store_blind, const FailsafeRequest *req,
					 const FencingTimes *t, int64_t *granted_ms, const char **reason);

/* One keeper's reply in a master's failsafe round. */
typedef struct FailsafeGrant
{
	char		keeper[UID_SIZE];
	bool		granted;
	int64_t		sent_ms;		/* when the master sent the request (monotonic) */
	int64_t		granted_ms;
} FailsafeGrant;

/*
 * failsafe_until: the bound a round of grants gives: the earliest (sent + granted - margin) over the required
 * keepers; 0 when one of them is missing or refused. With no keeper required, nobody can be elected: the bound
 * is round_sent_ms + promise_ms - margin.
 */
int64_t failsafe_until(const StringList *required, const FailsafeGrant *grants, size_t n, int64_t round_sent_ms,
					   const FencingTimes *t);

#endif
