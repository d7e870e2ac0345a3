/*
 * src/proxy/hold.c
 *    The hold rules and the held connections' wait-time counters (see hold.h).
 *
 * Why HOLD_DEFAULT_MAX_HELD is 1024: a failover cuts every connection of the master at once and their clients
 * reconnect together, so the held connections of one failover are about as many as the master had: at most
 * PostgreSQL's max_connections, 100 by default and rarely above a thousand. Each held connection keeps a
 * socket and its ProxyConn (about 17 KiB with its two buffers), 17 MiB for 1024. Held connections also count
 * against --max-connections.
 */
#include "hold.h"

#include <stdio.h>

/* upper bounds of the wait-time buckets, in ms: the failover and switchover times of the defaults land mid-range */
static const int64_t hold_wait_bucket_ms[HOLD_WAIT_BUCKETS] = {
	50, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000,
};

#define HOLD_RETRY_FIRST_MS 100
#define HOLD_RETRY_MAX_MS 1000

const char *
hold_verdict_to_string(HoldVerdict v)
{
	switch (v)
	{
		case HOLD_VERDICT_ROUTE:
			return "route";
		case HOLD_VERDICT_HOLD:
			return "hold";
		case HOLD_VERDICT_REFUSE:
			return "refuse";
	}
	return "?";
}

const char *
hold_refusal_to_string(HoldRefusal r)
{
	switch (r)
	{
		case HOLD_REFUSAL_NONE:
			return "none";
		case HOLD_REFUSAL_DISABLED:
			return "disabled";
		case HOLD_REFUSAL_FENCED:
			return "fenced";
		case HOLD_REFUSAL_TIMEOUT:
			return "timeout";
		case HOLD_REFUSAL_LIMIT:
			return "limit";
	}
	return "?";
}

const char *
hold_outcome_to_string(HoldOutcome o)
{
	switch (o)
	{
		case HOLD_OUTCOME_FORWARDED:
			return "forwarded";
		case HOLD_OUTCOME_REFUSED:
			return "refused";
		case HOLD_OUTCOME_CLOSED:
			return "closed";
	}
	return "?";
}

HoldVerdict
hold_decide(const HoldPolicy *policy, const HoldInput *in, HoldRefusal *why)
{
	*why = HOLD_REFUSAL_NONE;
	if (in->fenced)
		*why = HOLD_REFUSAL_FENCED;
	else if (in->have_target)
		return HOLD_VERDICT_ROUTE;
	else if (policy->timeout_ms <= 0)
		*why = HOLD_REFUSAL_DISABLED;
	else if (in->now_ms >= in->deadline_ms)
		*why = HOLD_REFUSAL_TIMEOUT;
	else if (!in->already_held && in->held >= policy->max_held)
		*why = HOLD_REFUSAL_LIMIT;
	else
		return HOLD_VERDICT_HOLD;
	return HOLD_VERDICT_REFUSE;
}

/*
 * The terms of an unplanned failover, each at its longest, so that a client that reconnects the moment the
 * master dies is still held when the new master is published (docs/design.md section 7):
 *   failInterval        the sentinel fails the master's keeper after this long without a fresh report;
 *   + sleepInterval     the keeper's last report may be that old when it dies (it reports once per interval);
 *   + sleepInterval     the elected standby's keeper promotes it and reports it healthy (one pass of its loop);
 *   + sleepInterval     the sentinel's pass that publishes the new master to the proxies;
 *   + 2 * proxyTimeout  the longest the sentinel waits for a silent proxy's acknowledgement of "no master"
 *                       before it publishes the new master (I3): a proxy on the dead master's host is silent.
 * With the default spec: 3 + 1 + 1 + 1 + 6 = 12 s, where a failover measures 3.5 s (bench/failover) and a
 * switchover's write unavailability 0.7 s (bench/switchover). The terms are summed although some overlap: the
 * margin is deliberate, since a hold that ends a second before the master is published turns a delay into the
 * very error holding is for, while a longer one only makes a client for whom no master is coming wait longer
 * for its refusal. A failover that also loses the leader sentinel takes up to failInterval more (a new leader
 * waits that long before deciding): set --hold-timeout to cover it if that case matters more than the wait.
 */
int64_t
hold_timeout_for_spec(const ClusterSpec *spec)
{
	return spec->fail_interval_ms + 3 * spec->sleep_interval_ms + 2 * spec->proxy_timeout_ms;
}

int64_t
hold_retry_delay_ms(int failures)
{
	int64_t		delay = HOLD_RETRY_FIRST_MS;

	for (int i = 1; i < failures && delay < HOLD_RETRY_MAX_MS; i++)
		delay *= 2;
	return delay < HOLD_RETRY_MAX_MS ? delay : HOLD_RETRY_MAX_MS;
}

void
hold_stats_record(HoldStats *s, HoldOutcome outcome, int64_t wait_ms)
{
	int			b = 0;

	if (wait_ms < 0)
		wait_ms = 0;
	while (b < HOLD_WAIT_BUCKETS && wait_ms > hold_wait_bucket_ms[b])
		b++;
	s->bucket[outcome][b]++;
	s->count[outcome]++;
	s->sum_ms[outcome] += (uint64_t) wait_ms;
	if ((uint64_t) wait_ms > s->max_ms)
		s->max_ms = (uint64_t) wait_ms;
}

void
hold_stats_add(HoldStats *dst, const HoldStats *src)
{
	for (int o = 0; o < HOLD_OUTCOMES; o++)
	{
		for (int b = 0; b <= HOLD_WAIT_BUCKETS; b++)
			dst->bucket[o][b] += src->bucket[o][b];
		dst->count[o] += src->count[o];
		dst->sum_ms[o] += src->sum_ms[o];
	}
	if (src->max_ms > dst->max_ms)
		dst->max_ms = src->max_ms;
}

bool
hold_stats_format(Buf *out, const HoldStats *s)
{
	bool		ok = buf_append_str(out,
									"# HELP bulwark_proxy_hold_wait_seconds Time held connections waited for a "
									"database, by how the wait ended.\n"
									"# TYPE bulwark_proxy_hold_wait_seconds histogram\n");

	for (int o = 0; ok && o < HOLD_OUTCOMES; o++)
	{
		const char *name = hold_outcome_to_string((HoldOutcome) o);
		uint64_t	cumulative = 0;

		for (int b = 0; ok && b < HOLD_WAIT_BUCKETS; b++)
		{
			cumulative += s->bucket[o][b];
			ok = buf_printf(out, "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"%s\",le=\"%g\"} %llu\n", name,
							(double) hold_wait_bucket_ms[b] / 1000.0, (unsigned long long) cumulative);
		}
		cumulative += s->bucket[o][HOLD_WAIT_BUCKETS];
		ok = ok && buf_printf(out,
							  "bulwark_proxy_hold_wait_seconds_bucket{outcome=\"%s\",le=\"+Inf\"} %llu\n"
							  "bulwark_proxy_hold_wait_seconds_sum{outcome=\"%s\"} %.3f\n"
							  "bulwark_proxy_hold_wait_seconds_count{outcome=\"%s\"} %llu\n",
							  name, (unsigned long long) cumulative, name, (double) s->sum_ms[o] / 1000.0, name,
							  (unsigned long long) s->count[o]);
	}
	return ok && buf_printf(out,
							"# HELP bulwark_proxy_hold_wait_max_seconds The longest wait of a held connection.\n"
							"# TYPE bulwark_proxy_hold_wait_max_seconds gauge\n"
							"bulwark_proxy_hold_wait_max_seconds %.3f\n", (double) s->max_ms / 1000.0);
}
