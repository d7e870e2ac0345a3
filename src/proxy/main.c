/*
 * src/proxy/main.c
 *    bulwark-proxy: the clients' access point. Its read-write port forwards only to the master of the newest
 *    cluster data it has read (and only while that read is younger than proxyTimeout); its read-only port
 *    balances over the planner's read-only standbys. main() parses the flags, starts the forwarding workers,
 *    the store watcher thread and the HTTP endpoint, and runs forwarding worker 0 on the main thread until
 *    SIGINT/SIGTERM.
 */
#include <curl/curl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "duration.h"
#include "exitcode.h"
#include "http_server.h"
#include "log.h"
#include "proxy.h"
#include "uid.h"

static volatile sig_atomic_t proxy_stop_requested = 0;

static void
proxy_handle_signal(int sig)
{
	(void) sig;
	proxy_stop_requested = 1;
}

static void
proxy_check_stop(EvLoop *loop, void *data)
{
	(void) loop;
	if (proxy_stop_requested)
		forwarder_stop(data);
}

static void
proxy_http_handler(void *ctx, const HttpRequest *req, HttpResponse *resp)
{
	ProxyDaemon	   *p = ctx;
	ProxySnapshot s;
	const ProxyMetrics *m = &s.total;
	bool		fenced;
	int64_t		gen;
	int64_t		last = atomic_load(&p->last_read_ok_ms);
	bool		ok = true;

	forwarder_snapshot(p, &s);
	fenced = s.fenced;
	gen = s.acked_generation;

	if (strcmp(req->path, "/health") == 0)
	{
		/* healthy = routing (not fenced by the watchdog): a load balancer should skip a fenced proxy */
		resp->status = fenced ? 503 : 200;
		ok = buf_printf(&resp->body, "%s\n", fenced ? "fenced: the store is not readable" : "ok");
	}
	else if (strcmp(req->path, "/metrics") == 0)
	{
		resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
		ok = buf_printf(&resp->body,
						"# HELP bulwark_proxy_connections Open client connections per port.\n"
						"# TYPE bulwark_proxy_connections gauge\n"
						"bulwark_proxy_connections{port=\"rw\"} %llu\nbulwark_proxy_connections{port=\"ro\"} %llu\n"
						"# HELP bulwark_proxy_accepted_total Client connections accepted per port.\n"
						"# TYPE bulwark_proxy_accepted_total counter\n"
						"bulwark_proxy_accepted_total{port=\"rw\"} %llu\nbulwark_proxy_accepted_total{port=\"ro\"} %llu\n"
						"# HELP bulwark_proxy_refused_total Client connections closed without a backend.\n"
						"# TYPE bulwark_proxy_refused_total counter\n"
						"bulwark_proxy_refused_total{port=\"rw\"} %llu\nbulwark_proxy_refused_total{port=\"ro\"} %llu\n"
						"# HELP bulwark_proxy_bytes_total Bytes forwarded.\n"
						"# TYPE bulwark_proxy_bytes_total counter\n"
						"bulwark_proxy_bytes_total{direction=\"to_backend\"} %llu\n"
						"bulwark_proxy_bytes_total{direction=\"to_client\"} %llu\n"
						"# HELP bulwark_proxy_backend_switches_total Changes of the read-write target.\n"
						"# TYPE bulwark_proxy_backend_switches_total counter\n"
						"bulwark_proxy_backend_switches_total %llu\n"
						"# HELP bulwark_proxy_closed_by_route_change_total Connections closed because their target left.\n"
						"# TYPE bulwark_proxy_closed_by_route_change_total counter\n"
						"bulwark_proxy_closed_by_route_change_total %llu\n"
						"# HELP bulwark_proxy_watchdog_fences_total Times the store was unreadable for proxyTimeout.\n"
						"# TYPE bulwark_proxy_watchdog_fences_total counter\n"
						"bulwark_proxy_watchdog_fences_total %llu\n"
						"# HELP bulwark_proxy_fenced 1 while fenced by the watchdog.\n"
						"# TYPE bulwark_proxy_fenced gauge\nbulwark_proxy_fenced %d\n"
						"# HELP bulwark_proxy_generation The proxy generation applied and acknowledged.\n"
						"# TYPE bulwark_proxy_generation gauge\nbulwark_proxy_generation %lld\n"
						"# HELP bulwark_proxy_last_store_read_age_seconds Time since the last successful store read.\n"
						"# TYPE bulwark_proxy_last_store_read_age_seconds gauge\n"
						"bulwark_proxy_last_store_read_age_seconds %.3f\n"
						"# HELP bulwark_proxy_worker_connections Open client connections per forwarding thread.\n"
						"# TYPE bulwark_proxy_worker_connections gauge\n",
						(unsigned long long) m->current[LISTENER_RW], (unsigned long long) m->current[LISTENER_RO],
						(unsigned long long) m->accepted[LISTENER_RW], (unsigned long long) m->accepted[LISTENER_RO],
						(unsigned long long) m->refused[LISTENER_RW], (unsigned long long) m->refused[LISTENER_RO],
						(unsigned long long) m->bytes_to_backend, (unsigned long long) m->bytes_to_client,
						(unsigned long long) m->backend_switches, (unsigned long long) m->closed_by_route_change,
						(unsigned long long) m->watchdog_fences, fenced ? 1 : 0, (long long) gen,
						last ? (double) (evloop_now_ms() - last) / 1000.0 : -1.0);
		for (size_t i = 0; ok && i < s.nworkers; i++)
			ok = buf_printf(&resp->body, "bulwark_proxy_worker_connections{worker=\"%zu\"} %llu\n", i,
							(unsigned long long) s.worker_conns[i]);
		ok = ok && buf_printf(&resp->body,
							  "# HELP bulwark_proxy_held_connections Connections held now, waiting for a target.\n"
							  "# TYPE bulwark_proxy_held_connections gauge\n"
							  "bulwark_proxy_held_connections{port=\"rw\"} %llu\n"
							  "bulwark_proxy_held_connections{port=\"ro\"} %llu\n"
							  "# HELP bulwark_proxy_held_total Connections held while there was no target.\n"
							  "# TYPE bulwark_proxy_held_total counter\n"
							  "bulwark_proxy_held_total{port=\"rw\"} %llu\nbulwark_proxy_held_total{port=\"ro\"} %llu\n"
							  "# HELP bulwark_proxy_hold_refused_total Connections refused by a bound of the hold.\n"
							  "# TYPE bulwark_proxy_hold_refused_total counter\n"
							  "bulwark_proxy_hold_refused_total{port=\"rw\",reason=\"timeout\"} %llu\n"
							  "bulwark_proxy_hold_refused_total{port=\"ro\",reason=\"timeout\"} %llu\n"
							  "bulwark_proxy_hold_refused_total{port=\"rw\",reason=\"limit\"} %llu\n"
							  "bulwark_proxy_hold_refused_total{port=\"ro\",reason=\"limit\"} %llu\n"
							  "# HELP bulwark_proxy_hold_timeout_seconds The hold timeout in force.\n"
							  "# TYPE bulwark_proxy_hold_timeout_seconds gauge\n"
							  "bulwark_proxy_hold_timeout_seconds %.3f\n",
							  (unsigned long long) m->held[LISTENER_RW], (unsigned long long) m->held[LISTENER_RO],
							  (unsigned long long) m->held_total[LISTENER_RW],
							  (unsigned long long) m->held_total[LISTENER_RO],
							  (unsigned long long) m->hold_refused_timeout[LISTENER_RW],
							  (unsigned long long) m->hold_refused_timeout[LISTENER_RO],
							  (unsigned long long) m->hold_refused_limit[LISTENER_RW],
							  (unsigned long long) m->hold_refused_limit[LISTENER_RO],
							  (double) s.hold_timeout_ms / 1000.0);
		ok = ok && hold_stats_format(&resp->body, &m->hold);
	}
	else
	{
		resp->status = 404;
		ok = buf_append_str(&resp->body, "not found\n");
	}
	if (!ok)
		resp->status = 500;
}

/*
 * proxy_default_threads: one forwarding thread per CPU this process may run on (the online CPUs, or fewer
 * under taskset or a cpuset), at most PROXY_DEFAULT_MAX_THREADS: past that a proxy in front of one
 * PostgreSQL master saturates the database long before its own threads.
 */
static int64_t
proxy_default_threads(void)
{
	cpu_set_t	set;
	long		n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	return n > PROXY_DEFAULT_MAX_THREADS ? PROXY_DEFAULT_MAX_THREADS : n;
}

static bool
proxy_validate(ProxyDaemon *p, char *err, size_t errlen)
{
	if (!store_options_validate(&p->store_opts, err, errlen))
		return false;
	if (p->uid[0] == '\0')
	{
		if (!uid_generate(p->uid_buf, sizeof(p->uid_buf)))
		{
			snprintf(err, errlen, "could not generate a proxy uid");
			return false;
		}
		p->uid = p->uid_buf;
	}
	else if (!uid_is_valid(p->uid))
	{
		snprintf(err, errlen, "--uid: \"%s\" must match ^[a-z0-9_]+$ (at most 63 characters)", p->uid);
		return false;
	}
	if (p->port < 1 || p->port > 65535)
	{
		snprintf(err, errlen, "--port: %lld is not a TCP port (1-65535)", (long long) p->port);
		return false;
	}
	if (p->ro_port < 0 || p->ro_port > 65535 || (p->ro_port != 0 && p->ro_port == p->port))
	{
		snprintf(err, errlen, "--ro-port: %lld must be a TCP port other than --port, or 0 (off)", (long long) p->ro_port);
		return false;
	}
	if (strcmp(p->ro_fallback, "master") != 0 && strcmp(p->ro_fallback, "none") != 0)
	{
		snprintf(err, errlen, "--ro-fallback: \"%s\" must be master or none", p->ro_fallback);
		return false;
	}
	if (p->max_connections < 1)
	{
		snprintf(err, errlen, "--max-connections: must be at least 1");
		return false;
	}
	if (strcmp(p->hold_timeout_arg, "auto") == 0)
		p->hold_timeout_ms = HOLD_TIMEOUT_FROM_SPEC;
	else
	{
		char		why[128];

		if (!duration_parse(p->hold_timeout_arg, &p->hold_timeout_ms, why, sizeof(why)))
		{
			snprintf(err, errlen, "--hold-timeout: expected \"auto\" or a duration like \"10s\" (0 = never hold), "
					 "got \"%s\" (%s)", p->hold_timeout_arg, why);
			return false;
		}
	}
	if (p->max_held_connections < 1)
	{
		snprintf(err, errlen, "--max-held-connections: must be at least 1 (--hold-timeout 0 turns holding off)");
		return false;
	}
	if (p->backend_connect_timeout_ms < 1)
	{
		snprintf(err, errlen, "--backend-connect-timeout: must be greater than 0");
		return false;
	}
	if (p->keepalive_idle_s < 0 || p->keepalive_interval_s < 0 || p->keepalive_count < 0)
	{
		snprintf(err, errlen, "--tcp-keepalive-*: must not be negative (0 = the OS default)");
		return false;
	}
	if (p->threads < 0 || p->threads > PROXY_MAX_THREADS)
	{
		snprintf(err, errlen, "--threads: %lld must be between 1 and %d, or 0 (one per CPU, at most %d)",
				 (long long) p->threads, PROXY_MAX_THREADS, PROXY_DEFAULT_MAX_THREADS);
		return false;
	}
	if (p->threads == 0)
		p->threads = proxy_default_threads();
	return true;
}

/* proxy_raise_fd_limit: room for --max-connections (two fds each); a warning when the hard limit is lower. */
static void
proxy_raise_fd_limit(ProxyDaemon *p)
{
	struct rlimit rl;
	rlim_t		want = (rlim_t) (2 * p->max_connections + 64);

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_warn("open file limit %llu is too low for --max-connections %lld; raise it (ulimit -n)",
				 (unsigned long long) rl.rlim_cur, (long long) p->max_connections);
}

int
main(int argc, char **argv)
{
	static ProxyDaemon proxy;
	ProxyDaemon	   *p = &proxy;
	int			optind_ = 1;
	bool		help = false;
	char		err[512];
	struct sigaction sa;

	log_set_program("bulwark-proxy");
	store_options_init(&p->store_opts);
	p->uid = "";
	p->listen_address = "127.0.0.1";
	p->port = 5432;
	p->ro_port = 0;
	p->ro_fallback = "master";
	p->hold_timeout_arg = "auto";
	p->max_held_connections = HOLD_DEFAULT_MAX_HELD;
	p->backend_connect_timeout_ms = 3000;
	p->max_connections = 8192;
	p->threads = 0;				/* one per CPU */
	p->stop_listening = true;
	p->http_listen_address = "";

	{
		OptDef		table[] = {
			{"uid", 0, OPT_TYPE_STRING, &p->uid, "UID", "proxy uid (default: random on every start)"},
			{"listen-address", 0, OPT_TYPE_STRING, &p->listen_address, "HOST", "address of the read-write and read-only ports"},
			{"port", 0, OPT_TYPE_INT, &p->port, "PORT", "read-write port: forwards to the master"},
			{"ro-port", 0, OPT_TYPE_INT, &p->ro_port, "PORT", "read-only port: balances over healthy standbys (0 = off)"},
			{"ro-fallback", 0, OPT_TYPE_STRING, &p->ro_fallback, "MODE", "with no standby to read from: master or none"},
			{"hold-timeout", 0, OPT_TYPE_STRING, &p->hold_timeout_arg, "DURATION", "hold new connections up to this long while there is no target, then refuse them (auto = the longest failover of the cluster spec; 0 = refuse at once)"},
			{"max-held-connections", 0, OPT_TYPE_INT, &p->max_held_connections, "N", "connections held at once at most, over all threads; more are refused at once"},
			{"backend-connect-timeout", 0, OPT_TYPE_DURATION, &p->backend_connect_timeout_ms, "DURATION", "deadline to connect to a database"},
			{"max-connections", 0, OPT_TYPE_INT, &p->max_connections, "N", "client connections at most; more are closed at once"},
			{"threads", 0, OPT_TYPE_INT, &p->threads, "N", "forwarding threads, each with its own connections (0 = one per CPU, at most 8)"},
			{"tcp-keepalive-idle", 0, OPT_TYPE_INT, &p->keepalive_idle_s, "SECONDS", "TCP keepalive idle time on client sockets (0 = OS default)"},
			{"tcp-keepalive-interval", 0, OPT_TYPE_INT, &p->keepalive_interval_s, "SECONDS", "TCP keepalive probe interval (0 = OS default)"},
			{"tcp-keepalive-count", 0, OPT_TYPE_INT, &p->keepalive_count, "N", "TCP keepalive probes before dropping (0 = OS default)"},
			{"stop-listening", 0, OPT_TYPE_BOOL, &p->stop_listening, NULL, "stop listening while the store is unreadable (--stop-listening=false to keep listening)"},
			{"http-listen-address", 0, OPT_TYPE_STRING, &p->http_listen_address, "HOST:PORT", "serve /health and /metrics here (empty = off)"},
			OPT_END,
		};
		const OptDef *tables[] = {p->store_opts.table, table, NULL};

		if (!opts_parse(argc, argv, &optind_, tables, false, NULL, 0, NULL, &help, err, sizeof(err)))
		{
			fprintf(stderr, "bulwark-proxy: %s (see bulwark-proxy --help)\n", err);
			return EXIT_CODE_BAD_ARGS;
		}
		if (help)
		{
			printf("bulwark-proxy: route PostgreSQL clients to the elected master (and reads to standbys)\n\n"
				   "Usage: bulwark-proxy [flags]\n\nFlags:\n");
			opts_print_help(tables);
			return EXIT_CODE_OK;
		}
	}
	if (!store_options_apply_log_level(&p->store_opts, err, sizeof(err)) || !proxy_validate(p, err, sizeof(err)))
	{
		fprintf(stderr, "bulwark-proxy: %s\n", err);
		return EXIT_CODE_BAD_ARGS;
	}
	proxy_raise_fd_limit(p);

	p->shared.proxy_timeout_ms = 3000;	/* until the spec says otherwise */
	p->shared.check_interval_ms = 1000;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		log_fatal("could not initialize libcurl");
		return EXIT_CODE_INTERNAL;
	}
	if (!store_options_open(&p->store_opts, &p->store, err, sizeof(err)))
	{
		log_fatal("%s", err);
		return EXIT_CODE_BAD_ARGS;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = proxy_handle_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!forwarder_init(p, err, sizeof(err)) || !evloop_add_timer(p->workers[0].loop, 100, proxy_check_stop, p))
	{
		log_fatal("%s", err);
		return EXIT_CODE_INTERNAL;
	}
	if (p->http_listen_address[0] &&
		!http_server_start(p->http_listen_address, proxy_http_handler, p, &p->http, err, sizeof(err)))
	{
		log_fatal("%s", err);
		return EXIT_CODE_BAD_ARGS;
	}
	if (!forwarder_start(p, err, sizeof(err)) || !watcher_start(p, err, sizeof(err)))
	{
		log_fatal("%s", err);
		return EXIT_CODE_INTERNAL;
	}
	log_info("proxy started uid=%s cluster=%s rw=%s:%lld ro_port=%lld threads=%zu", p->uid,
			 p->store_opts.cluster_name, p->listen_address, (long long) p->port, (long long) p->ro_port, p->nworkers);

	forwarder_run(p);			/* worker 0, here, until SIGINT/SIGTERM; then every worker thread is joined */

	log_info("stopping");
	watcher_stop(p);
	http_server_stop(p->http);
	forwarder_finish(p);
	store_free(p->store);
	curl_global_cleanup();
	return EXIT_CODE_OK;
}
