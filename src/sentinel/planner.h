/*
 * src/sentinel/planner.h
 *    The sentinel's planner: the pure function that maps what the leader sentinel knows (the cluster data as
 *    read, the keepers' and proxies' reports, its own monotonic clock and what it remembers from earlier rounds)
 *    to the new cluster data: who is master, who follows, which standbys are synchronous, where proxies route,
 *    and when to fail over (docs/design.md, sections 4-7; after Stolon's sentinel).
 *
 * Purity. planner_run does no I/O, reads no clock and draws no randomness of its own: time comes in as
 * PlannerInput.now_ms (the sentinel's CLOCK_MONOTONIC, which judges liveness) and wall_ms (only stamped into
 * changeTime and lastHealthyTime, and compared with lastHealthyTime for the coarse dead keeper removal), and
 * randomness through the PlannerInput.random callback. The same inputs give the same outputs, which is what
 * makes the table-driven tests and the randomized property check possible.
 *
 * Memory. What the sentinel must remember between rounds (when each keeper's and proxy's infoUID last changed,
 * error timers, when each DB generation first appeared, WAL progress counters, when this sentinel became
 * leader) lives in a PlannerMemory the caller owns and passes to every round; planner_run updates it in place.
 * A sentinel that (re)gains leadership calls planner_memory_reset so that it forgets observations made under an
 * earlier leader and, for failInterval, only observes (a fresh leader never fails over a master it has not
 * watched).
 */
#ifndef BULWARK_SENTINEL_PLANNER_H
#define BULWARK_SENTINEL_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

/* The application name a master lists when it has too few synchronous standbys, so that commits block (I4). */
#define PLANNER_FAKE_STANDBY_NAME "bulwarkfakestandby"

/* A standby whose reported WAL position did not move in this many rounds counts as "not increasing". */
#define PLANNER_NOT_INCREASING_ROUNDS 10

/* ---- decisions, for the log and history/ ---- */

typedef enum PlannerEventKind
{
	PLANNER_EVENT_KEEPER_ADDED = 0,	/* a keeper reported for the first time */
	PLANNER_EVENT_KEEPER_FAILED,	/* a keeper turned unhealthy */
	PLANNER_EVENT_KEEPER_RECOVERED, /* an unhealthy keeper turned healthy */
	PLANNER_EVENT_KEEPER_REMOVED,	/* a dead keeper without a DB was removed */
	PLANNER_EVENT_KEEPER_RESTARTED, /* a keeper reported a new bootUUID (I6) */
	PLANNER_EVENT_INIT_STARTED,	/* the initial master DB was assigned */
	PLANNER_EVENT_INIT_FAILED,	/* it did not converge in time: another keeper will be tried */
	PLANNER_EVENT_INIT_DONE,	/* the cluster left the initializing phase */
	PLANNER_EVENT_MASTER_FAILED,	/* the master was found failed */
	PLANNER_EVENT_MASTER_ELECTED,	/* a new master DB was chosen */
	PLANNER_EVENT_NO_ELIGIBLE_MASTER,	/* the master failed and no standby may replace it */
	PLANNER_EVENT_PROXIES_ROUTED,	/* every live proxy acknowledged "no master": the master is published */
	PLANNER_EVENT_ENABLED_PROXIES_CHANGED,
	PLANNER_EVENT_READ_ONLY_CHANGED,	/* the proxies' read-only set changed */
	PLANNER_EVENT_SYNC_STANDBYS_CHANGED,	/* the master's synchronous standby set changed */
	PLANNER_EVENT_STANDBY_ADDED,	/* a new standby DB was assigned to a free keeper */
	PLANNER_EVENT_DB_REMOVED,	/* a DB was removed (invalid, cannot sync, in excess, old master) */
	PLANNER_EVENT_PAUSED,		/* maintenance mode seen, or a failure left alone because of it */
	PLANNER_EVENT_RESUMED,		/* maintenance mode ended: decisions resume */
	PLANNER_EVENT_SWITCHOVER_STARTED,	/* switchover validated: proxies told "no master" */
	PLANNER_EVENT_SWITCHOVER_DEMOTING,	/* every live proxy acknowledged: the old master stops writes */
	PLANNER_EVENT_SWITCHOVER_CATCHING_UP,	/* the old master stopped at its final LSN: the target must reach it */
	PLANNER_EVENT_SWITCHOVER_ABORTED,	/* refused or timed out: the old master stays (or becomes again) master */
} PlannerEventKind;

const char *planner_event_kind_to_string(PlannerEventKind kind);

typedef struct PlannerEvent
{
	PlannerEventKind kind;
	char	   *reason;			/* owned: one human-readable line */
	StringList	uids;			/* the keeper and DB uids concerned */
	char		event_id[UID_SIZE]; /* the switchover's eventId for its steps; "" = history picks one */
} PlannerEvent;

/* ---- what the sentinel remembers between rounds ---- */

typedef struct PlannerKeeperMemory
{
	char		uid[UID_SIZE];
	char		info_uid[UID_SIZE]; /* the last infoUID seen ("" = never seen) */
	int64_t		info_changed_ms;	/* when it last changed (or when this leader first looked) */
	int64_t		db_error_since_ms;	/* when its DB was first seen failing (-1 = not failing) */
	char		db_uid[UID_SIZE];	/* the DB the error timer and progress counter are about */
	uint64_t	last_xlog_pos;
	int			not_increasing; /* rounds without WAL progress */
	bool		was_healthy;	/* the health decided last round, to report changes once */
} PlannerKeeperMemory;

typedef struct PlannerDbMemory
{
	char		uid[UID_SIZE];
	int64_t		generation;		/* the generation being timed */
	int64_t		since_ms;		/* when that generation first appeared */
	int64_t		first_seen_ms;	/* when this leader first saw the DB */
} PlannerDbMemory;

typedef struct PlannerProxyMemory
{
	char		uid[UID_SIZE];
	char		info_uid[UID_SIZE];
	int64_t		info_changed_ms;
} PlannerProxyMemory;

typedef struct PlannerMemory
{
	int64_t		leader_since_ms;	/* when this sentinel became leader */
	PlannerKeeperMemory *keepers;
	size_t		keeper_count;
	PlannerDbMemory *dbs;
	size_t		db_count;
	PlannerProxyMemory *proxies;
	size_t		proxy_count;
	char		init_failed_keeper[UID_SIZE];	/* the keeper whose init timed out last; "" = none */
	bool		paused_seen;	/* maintenance mode was reported (PLANNER_EVENT_PAUSED) */
	bool		paused_failure_seen;	/* a master failure during maintenance was reported */
	char		switchover_event[UID_SIZE]; /* the switchover being timed ("" = none) */
	int64_t		switchover_since_ms;	/* when this leader first saw it: its timeout counts from here */
	char	   *last_no_master_reason;	/* owned: to report "no eligible master" once per change */
} PlannerMemory;

/* planner_memory_init: empty memory, leader since now_ms; planner_memory_finish frees what it owns. */
void planner_memory_init(PlannerMemory *mem, int64_t now_ms);
void planner_memory_finish(PlannerMemory *mem);

/* planner_memory_reset: forgets every observation; the sentinel became leader at now_ms (a fresh leader). */
void planner_memory_reset(PlannerMemory *mem, int64_t now_ms);

/* ---- one round ---- */

/* A source of randomness: a uniformly distributed 32-bit value per call. */
typedef uint32_t (*PlannerRandomFn) (void *ctx);

typedef struct PlannerInput
{
	const ClusterData *cd;		/* as read from the store */
	const KeeperInfo *keeper_infos; /* the reports currently published (one per keeper uid) */
	size_t		keeper_info_count;
	const ProxyInfo *proxy_infos;
	size_t		proxy_info_count;
	int64_t		now_ms;			/* the sentinel's monotonic clock */
	int64_t		wall_ms;		/* wall clock: changeTime, lastHealthyTime, dead keeper removal only */
	PlannerRandomFn random;		/* new DB uids and the keeper chosen at init */
	void	   *random_ctx;
} PlannerInput;

typedef struct PlannerOutput
{
	ClusterData cd;				/* the new cluster data (a modified deep copy of the input) */
	bool		changed;		/* cd differs from the input: write it (CAS) */
	PlannerEvent *events;		/* the decisions taken this round, in order */
	size_t		event_count;
} PlannerOutput;

/*
 * planner_run: one round of the leader sentinel. Fills *out (uninitialized storage; release it with
 * planner_output_finish) and updates *mem. False only when memory runs out (logged); *out is then empty and
 * must still be finished, and the round should be skipped.
 */
bool planner_run(const PlannerInput *in, PlannerMemory *mem, PlannerOutput *out) __attribute__((warn_unused_result));

/* planner_output_finish: frees the cluster data and the events of *out. */
void planner_output_finish(PlannerOutput *out);

#endif
