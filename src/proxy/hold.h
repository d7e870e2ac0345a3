/*
 * src/proxy/hold.h
 *    Holding new connections while the proxy has nowhere to send them (a failover, a switchover, the read-only
 *    set briefly empty), as pure rules and counters with no I/O, so that every rule is a unit test: whether a
 *    connection is routed, held or refused; how long a hold may last by default, derived from the cluster
 *    spec; when a held connection whose database refused it tries again; and the held connections' wait times
 *    for /metrics. forwarder.c applies them.
 *
 * Why hold: a client that reconnects at once after its connection was cut (psql's reset, a pool's retry, the
 * next web request) would otherwise be refused during the few seconds a failover takes, although a master is
 * seconds away. Why bounded (in time and in count): a hold is a promise that a target will come; past the
 * longest a failover takes with this spec it is no longer one, and every held connection keeps a socket and
 * its buffers.
 */
#ifndef BULWARK_HOLD_H
#define BULWARK_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cluster.h"

/* --hold-timeout auto (the default): derived from the cluster spec the proxy reads (hold_timeout_for_spec) */
#define HOLD_TIMEOUT_FROM_SPEC (-1)

/* --max-held-connections default: see hold.c for why */
#define HOLD_DEFAULT_MAX_HELD 1024

/* The buckets of the wait-time histogram, in milliseconds (and +Inf). */
#define HOLD_WAIT_BUCKETS 10

typedef enum HoldVerdict
{
	HOLD_VERDICT_ROUTE = 0,		/* there is a target: connect to it */
	HOLD_VERDICT_HOLD,			/* keep the client, unread, until a target is published */
	HOLD_VERDICT_REFUSE,		/* close the client now */
} HoldVerdict;

typedef enum HoldRefusal
{
	HOLD_REFUSAL_NONE = 0,
	HOLD_REFUSAL_DISABLED,		/* --hold-timeout 0: refuse at once, as before holding existed */
	HOLD_REFUSAL_FENCED,		/* the store is not readable (docs/design.md I2): refuse, never hold */
	HOLD_REFUSAL_TIMEOUT,		/* held as long as the hold timeout allows */
	HOLD_REFUSAL_LIMIT,			/* --max-held-connections are held already */
} HoldRefusal;

/* How a held connection's wait ended. */
typedef enum HoldOutcome
{
	HOLD_OUTCOME_FORWARDED = 0, /* connected to a database */
	HOLD_OUTCOME_REFUSED,		/* closed at the hold timeout */
	HOLD_OUTCOME_CLOSED,		/* the client went away, or the proxy fenced or stopped */
} HoldOutcome;

#define HOLD_OUTCOMES 3

typedef struct HoldPolicy
{
	int64_t		timeout_ms;		/* 0 = never hold */
	int64_t		max_held;		/* connections held at once, over the whole proxy */
} HoldPolicy;

/* One connection's situation, for hold_decide. */
typedef struct HoldInput
{
	bool		fenced;			/* the worker is fenced by its watchdog (or has not read the store yet) */
	bool		have_target;	/* the route table has a target for this connection now */
	bool		already_held;	/* this connection is counted among the held already */
	int64_t		held;			/* connections held over the whole proxy, this one not counted */
	int64_t		now_ms;
	int64_t		deadline_ms;	/* the connection's accept time + the hold timeout */
} HoldInput;

/* The wait times of held connections: a histogram per outcome, and the longest wait. */
typedef struct HoldStats
{
	uint64_t	bucket[HOLD_OUTCOMES][HOLD_WAIT_BUCKETS + 1];	/* non-cumulative; the last one is +Inf */
	uint64_t	count[HOLD_OUTCOMES];
	uint64_t	sum_ms[HOLD_OUTCOMES];
	uint64_t	max_ms;
} HoldStats;

const char *hold_verdict_to_string(HoldVerdict v);
const char *hold_refusal_to_string(HoldRefusal r);
const char *hold_outcome_to_string(HoldOutcome o);

/*
 * hold_decide: what to do with a connection now. The rules, in order: a fenced proxy refuses (I2: a load
 * balancer in front must see it down, and a held connection must not outlive the proof that its routes are
 * current); a connection with a target is routed; with --hold-timeout 0 it is refused; past its deadline it
 * is refused; a connection not held yet is refused when policy->max_held are held; otherwise it is held. *why
 * says why a connection is refused (HOLD_REFUSAL_NONE otherwise).
 */
HoldVerdict hold_decide(const HoldPolicy *policy, const HoldInput *in, HoldRefusal *why);

/*
 * hold_timeout_for_spec: the default hold timeout under spec: the longest an unplanned failover takes with
 * this spec when nothing else fails (see hold.c for the terms), so that a client held at the start of a
 * failover is still held when the new master is published.
 */
int64_t hold_timeout_for_spec(const ClusterSpec *spec);

/*
 * hold_retry_delay_ms: how long a held connection waits before it tries again the database that refused its
 * connection failures times (failures >= 1), while no other target is published: 100 ms, doubling up to 1 s.
 */
int64_t hold_retry_delay_ms(int failures);

/* hold_stats_record: one held connection's wait ended with outcome after wait_ms. */
void hold_stats_record(HoldStats *s, HoldOutcome outcome, int64_t wait_ms);

/* hold_stats_add: dst += src (summing the workers' copies; the longest wait is the longest of both). */
void hold_stats_add(HoldStats *dst, const HoldStats *src);

/*
 * hold_stats_format: s as Prometheus text: the histogram bulwark_proxy_hold_wait_seconds{outcome} and the
 * gauge bulwark_proxy_hold_wait_max_seconds. False when out fills up.
 */
bool hold_stats_format(Buf *out, const HoldStats *s) __attribute__((warn_unused_result));

#endif
