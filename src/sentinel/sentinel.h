/*
 * src/sentinel/sentinel.h
 *    The bulwark-sentinel daemon's context and the I/O modules around the pure planner: leader election on an
 *    etcd lease (election.c) and the append-only decision log under history/ (history.c). main.c runs the loop:
 *    read the cluster data and every report, run the planner when leader, write the result as a CAS.
 */
#ifndef BULWARK_SENTINEL_H
#define BULWARK_SENTINEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "sentinel/planner.h"
#include "store_etcd.h"
#include "store_opts.h"

typedef struct Sentinel
{
	StoreOptions store_opts;
	Store	   *store;
	char		uid[UID_SIZE];
	char		key_leader[512];
	char		key_info[512];
	char		key_clusterdata[512];
	char		key_history[512];	/* "<prefix>/<cluster>/history/" */

	/* election (election.c) */
	int64_t		lease_id;		/* 0 = none */
	int64_t		lease_ttl_s;
	int64_t		lease_ok_sent_ms;	/* monotonic time the last successful keepalive (or grant) was sent */
	bool		is_leader;
	int64_t		leader_since_ms;
	int64_t		last_planned_ms;	/* monotonic time of the last round that read the reports and planned; 0 none */

	/* history (history.c) */
	int64_t		history_next;	/* the next n to try; 0 = unknown, found by listing on first append */
	char		open_event_id[UID_SIZE];	/* a failover in progress: its decisions share this id */

	PlannerMemory memory;
	int64_t		logged_revision;	/* the cluster data revision last complained about (-1 none, 0 absent) */

	/* read by the HTTP thread, under lock */
	pthread_mutex_t lock;
	bool		healthy;		/* the last round reached the store */
	int64_t		rounds;
	int64_t		writes;
	int64_t		conflicts;
	int64_t		elections;
	int64_t		last_round_ok_wall_ms;
} Sentinel;

/* sentinel_now_ms: CLOCK_MONOTONIC in milliseconds. */
int64_t		sentinel_now_ms(void);

/*
 * election_step: one round of the election. Keeps the lease alive (granting a new one when lost), publishes the
 * SentinelInfo on it, and tries to become or stay leader by a create-if-absent of the leader key bound to the
 * lease. Leadership is given up, before the lease could expire on etcd, as soon as no keepalive has succeeded
 * for two thirds of the TTL. Returns whether this sentinel is leader after the step; store errors are logged.
 */
bool		election_step(Sentinel *s, int64_t sleep_interval_ms);

/* election_leader_valid: still safe to write as leader at now (the lease cannot have expired yet). */
bool		election_leader_valid(const Sentinel *s, int64_t now_ms);

/* election_resign: revoke the lease (frees the leader key and the info at once); errors ignored. */
void		election_resign(Sentinel *s);

/*
 * history_append: writes each event of the round as JSON {time, eventId, kind, reason, uids} at
 * history/<n> (n zero-padded, create-if-absent, the next free n on conflict). Errors are logged, not returned:
 * history is for operators and must never block a decision.
 */
void		history_append(Sentinel *s, const PlannerEvent *events, size_t n, int64_t wall_ms);

#endif
