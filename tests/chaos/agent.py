"""The chaos harness's client side. It runs inside the client network namespace (the root namespace has no route
to the harness's private subnet), started by chaos.py as `ip netns exec <ns> python3 agent.py <command> ...`.

  workload  writers through the proxies' read-write ports (unique ids and a read-modify-write counter), readers
            through the read-only ports, a direct writer that bypasses the proxies (it writes to the keeper whose
            /primary answers 200, as HAProxy or libpq target_session_attrs would pick it; its events carry d=1),
            and a watcher that records every version of the cluster data; runs until SIGTERM and writes one JSON
            line per event into --out.
  probe     one JSON object on stdout: each PostgreSQL's role, timeline and LSNs, and the cluster data.
  final     the ids and the counter held by one PostgreSQL, and its timeline history files (for the checker).
"""
import argparse
import base64
import http.client
import json
import os
import random
import signal
import sys
import threading
import time

import psycopg

STOP = threading.Event()
# Set once the watcher has recorded a cluster data version: writers start only then, so the checker knows which
# version was current for every write (I2); a write acknowledged before the first record could not be checked.
WATCHING = threading.Event()
PACE = 0.01   # seconds between two writes of a client: leaves CPU to the cluster on a small machine


def conninfo(host, port, password, timeout=2):
    # keepalives and tcp_user_timeout so a client on a cut connection notices it; no statement_timeout: cancelling
    # a commit that waits for the synchronous standby would "acknowledge" a commit that is not replicated.
    return dict(host=host, port=port, user="postgres", password=password, dbname="postgres",
                connect_timeout=timeout, autocommit=True, keepalives=1, keepalives_idle=1, keepalives_interval=1,
                keepalives_count=3, tcp_user_timeout=4000)


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, **rec):
        line = json.dumps(rec, separators=(",", ":"))
        with self.lock:
            self.f.write(line + "\n")


def writer(n, proxies, password, log):
    seq = 0
    conn = None
    rng = random.Random(n)
    WATCHING.wait(60)
    while not STOP.is_set():
        if conn is None:
            host, port = proxies[(n + seq) % len(proxies)]
            try:
                conn = psycopg.connect(**conninfo(host, port, password))
            except psycopg.Error:
                time.sleep(0.2)
                seq += 1
                continue
        try:
            if rng.random() < 0.2:
                t0 = time.time()
                row = conn.execute("update chaos_counter set v = v + 1 where k = 0 returning v, "
                                   "inet_server_addr()::text, pg_walfile_name(pg_current_wal_lsn())").fetchone()
                log.write(k="ctr", v=row[0], srv=row[1].split("/")[0], tl=int(row[2][:8], 16), t0=t0, t1=time.time())
            else:
                seq += 1
                ident = n * 1_000_000_000 + seq
                t0 = time.time()
                log.write(k="try", id=ident, t0=t0)
                row = conn.execute("insert into chaos_ids (id, client) values (%s, %s) returning "
                                   "inet_server_addr()::text, pg_walfile_name(pg_current_wal_lsn()), "
                                   "pg_current_wal_lsn()::text", (ident, n)).fetchone()
                log.write(k="ack", id=ident, srv=row[0].split("/")[0], tl=int(row[1][:8], 16), lsn=row[2], t0=t0,
                          t1=time.time())
            time.sleep(PACE)
        except psycopg.Error as e:
            log.write(k="err", t=time.time(), e=str(e).strip()[:160])
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            conn = None
            time.sleep(0.1)


def http_status(host, port, path, timeout=0.5):
    try:
        c = http.client.HTTPConnection(host, port, timeout=timeout)
        c.request("GET", path)
        status = c.getresponse().status
        c.close()
        return status
    except (OSError, http.client.HTTPException):
        return None


def direct_writer(n, keepers, password, log):
    """Like writer, but to whichever keeper's /primary says 200: a client that trusts the keepers' role checks."""
    seq = 0
    conn = None
    WATCHING.wait(60)
    while not STOP.is_set():
        if conn is None:
            target = next(((ip, pg) for ip, http_port, pg in keepers
                           if http_status(ip, http_port, "/primary") == 200), None)
            if target is None:
                time.sleep(0.2)
                continue
            try:
                conn = psycopg.connect(**conninfo(target[0], target[1], password))
            except psycopg.Error:
                time.sleep(0.2)
                continue
        try:
            seq += 1
            ident = n * 1_000_000_000 + seq
            t0 = time.time()
            log.write(k="try", id=ident, t0=t0)
            row = conn.execute("insert into chaos_ids (id, client) values (%s, %s) returning "
                               "inet_server_addr()::text, pg_walfile_name(pg_current_wal_lsn()), "
                               "pg_current_wal_lsn()::text", (ident, n)).fetchone()
            log.write(k="ack", id=ident, srv=row[0].split("/")[0], tl=int(row[1][:8], 16), lsn=row[2], t0=t0,
                      t1=time.time(), d=1)
            time.sleep(PACE)
        except psycopg.Error as e:
            log.write(k="err", t=time.time(), e=str(e).strip()[:160], d=1)
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            conn = None
            time.sleep(0.1)


def reader(n, proxies, password, log):
    ok = err = 0
    conn = None
    while not STOP.is_set():
        try:
            if conn is None:
                host, port = proxies[n % len(proxies)]
                conn = psycopg.connect(**conninfo(host, port, password))
            conn.execute("select count(*) from chaos_ids where id % 97 = 0").fetchone()
            ok += 1
            time.sleep(0.2)
        except psycopg.Error:
            err += 1
            conn = None
            time.sleep(0.3)
    log.write(k="reads", n=n, ok=ok, err=err)


def b64(s):
    return base64.b64encode(s.encode()).decode()


def summarize_cd(cd):
    dbs = cd.get("dbs", {})
    return {"master": cd["cluster"]["status"].get("master", ""),
            "phase": cd["cluster"]["status"].get("phase", ""),
            "proxyMaster": cd["proxy"]["spec"].get("masterDbUid", ""),
            "proxyGen": cd["proxy"].get("generation"),
            "roles": {u: d["spec"]["role"] for u, d in dbs.items()},
            "addr": {u: d["status"].get("listenAddress", "") for u, d in dbs.items()},
            "keeper": {u: d["spec"].get("keeperUID", "") for u, d in dbs.items()},
            "maxStandbyLag": cd["cluster"]["spec"].get("maxStandbyLag", 1048576),
            "sync": {u: d["spec"].get("synchronousStandbys", []) for u, d in dbs.items()},
            "enabledProxies": cd["proxy"]["spec"].get("enabledProxies", []),
            "boots": {u: k.get("status", {}).get("bootUUID", "") for u, k in cd.get("keepers", {}).items()}}


def prefix_end(key):
    """The etcd range end that covers every key starting with key."""
    b = bytearray(key.encode())
    b[-1] += 1
    return base64.b64encode(bytes(b)).decode()


def etcd_post(endpoint, path, body, timeout=3):
    host, port = endpoint.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=timeout)
    c.request("POST", path, json.dumps(body))
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise OSError(f"etcd {r.status}")
    return json.loads(data)


def read_cd(endpoints, cluster):
    key = f"/bulwark/{cluster}/clusterdata"
    for ep in endpoints:
        try:
            r = etcd_post(ep, "/v3/kv/range", {"key": b64(key)})
            kvs = r.get("kvs")
            if not kvs:
                return None, int(r["header"]["revision"])
            return json.loads(base64.b64decode(kvs[0]["value"])), int(kvs[0]["mod_revision"])
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            continue
    return None, None


def record(log, key, ev, rev, prefix):
    """One watch event: a cluster data version ("cd"), or a proxy report written or gone ("px")."""
    rel = key[len(prefix):]
    kv = ev.get("kv", {})
    if rel == "clusterdata" and ev.get("type") != "DELETE":
        log.write(k="cd", t=time.time(), rev=rev, cd=summarize_cd(json.loads(base64.b64decode(kv["value"]))))
        WATCHING.set()
    elif rel.startswith("proxies/"):
        gen = None
        if ev.get("type") != "DELETE":
            gen = json.loads(base64.b64decode(kv["value"])).get("generation")
        log.write(k="px", t=time.time(), rev=rev, uid=rel[len("proxies/"):], gen=gen)


def watcher(endpoints, cluster, log):
    """Records every version of the cluster data and every proxy report (written, or deleted when its lease
    expired): a watch on the cluster's prefix from the last revision seen, on any live member."""
    key = f"/bulwark/{cluster}/clusterdata"
    prefix = f"/bulwark/{cluster}/"
    last_rev = 0
    i = 0
    while not STOP.is_set():
        ep = endpoints[i % len(endpoints)]
        i += 1
        try:
            host, port = ep.split(":")
            c = http.client.HTTPConnection(host, int(port), timeout=4)
            body = {"create_request": {"key": b64(prefix), "range_end": prefix_end(prefix),
                                       "start_revision": last_rev + 1 if last_rev else 0}}
            if not last_rev:
                cd, rev = read_cd([ep], cluster)
                if rev is None:
                    raise OSError("no answer")
                if cd:
                    log.write(k="cd", t=time.time(), rev=rev, cd=summarize_cd(cd))
                    WATCHING.set()
                    last_rev = rev
                body["create_request"]["start_revision"] = (last_rev or rev) + 1
            c.request("POST", "/v3/watch", json.dumps(body))
            r = c.getresponse()
            if r.status != 200:
                raise OSError(f"watch {r.status}")
            dec = json.JSONDecoder()
            buf = ""
            while not STOP.is_set():
                chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
                if not chunk:
                    raise OSError("watch closed")
                buf += chunk.decode()
                while True:
                    buf = buf.lstrip()
                    if not buf:
                        break
                    try:
                        obj, end = dec.raw_decode(buf)
                    except ValueError:
                        break
                    buf = buf[end:]
                    res = obj.get("result", {})
                    for ev in res.get("events", []):
                        kv = ev.get("kv", {})
                        rev = int(kv["mod_revision"])
                        if rev < last_rev:
                            continue
                        record(log, base64.b64decode(kv["key"]).decode(), ev, rev, prefix)
                        last_rev = rev
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            time.sleep(0.2)


def cmd_workload(a):
    proxies = [(p.split(":")[0], int(p.split(":")[1])) for p in a.proxies.split(",")]
    ro = [(p.split(":")[0], int(p.split(":")[1])) for p in a.ro.split(",")] if a.ro else []
    password = open(a.password_file).read().rstrip("\n")
    log = Log(a.out)
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    signal.signal(signal.SIGINT, lambda *_: STOP.set())
    threads = [threading.Thread(target=watcher, args=(a.etcd.split(","), a.cluster, log), daemon=True)]
    threads += [threading.Thread(target=writer, args=(n + 1, proxies, password, log), daemon=True)
                for n in range(a.clients)]
    threads += [threading.Thread(target=reader, args=(n, ro, password, log), daemon=True)
                for n in range(a.readers if ro else 0)]
    if a.direct:
        keepers = [tuple(int(x) if i else x for i, x in enumerate(k.split(":"))) for k in a.direct.split(",")]
        threads.append(threading.Thread(target=direct_writer, args=(a.clients + 1, keepers, password, log),
                                        daemon=True))
    for t in threads:
        t.start()
    while not STOP.is_set():
        STOP.wait(0.5)
    for t in threads[1:]:
        t.join(8)
    log.write(k="end", t=time.time())


def pg_state(host, password):
    try:
        with psycopg.connect(**conninfo(host, 5432, password)) as c:
            rec = c.execute("select pg_is_in_recovery()").fetchone()[0]
            if rec:
                row = c.execute("select pg_last_wal_replay_lsn()::text, pg_last_wal_receive_lsn()::text, "
                                "(select received_tli from pg_stat_wal_receiver), "
                                "(select status from pg_stat_wal_receiver)").fetchone()
                return {"up": True, "recovery": True, "replay": row[0], "receive": row[1], "tl": row[2],
                        "wal": row[3]}
            row = c.execute("select pg_current_wal_lsn()::text, pg_walfile_name(pg_current_wal_lsn()), "
                            "current_setting('synchronous_standby_names')").fetchone()
            return {"up": True, "recovery": False, "lsn": row[0], "tl": int(row[1][:8], 16), "ssn": row[2]}
    except psycopg.Error as e:
        return {"up": False, "error": str(e).strip()[:160]}


def cmd_probe(a):
    password = open(a.password_file).read().rstrip("\n")
    cd, rev = read_cd(a.etcd.split(","), a.cluster)
    out = {"pgs": {h: pg_state(h, password) for h in a.pgs.split(",")}, "cd": cd, "rev": rev, "leader": None}
    for ep in a.etcd.split(","):
        try:
            r = etcd_post(ep, "/v3/kv/range", {"key": b64(f"/bulwark/{a.cluster}/leader")})
            out["leader"] = base64.b64decode(r["kvs"][0]["value"]).decode() if r.get("kvs") else None
            break
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            continue
    if a.proxies:
        out["proxies"] = {}
        for p in a.proxies.split(","):
            h, port = p.split(":")
            try:
                with psycopg.connect(**conninfo(h, int(port), password)) as c:
                    out["proxies"][p] = c.execute("select inet_server_addr()::text, pg_is_in_recovery()").fetchone()
            except psycopg.Error as e:
                out["proxies"][p] = str(e).strip()[:120]
    if a.setup:
        master = next((h for h, s in out["pgs"].items() if s.get("up") and not s["recovery"]), None)
        with psycopg.connect(**conninfo(a.setup.split(":")[0], int(a.setup.split(":")[1]), password)) as c:
            c.execute("create table if not exists chaos_ids (id bigint primary key, client int not null, "
                      "at timestamptz not null default clock_timestamp())")
            c.execute("create table if not exists chaos_counter (k int primary key, v bigint not null)")
            c.execute("insert into chaos_counter values (0, 0) on conflict do nothing")
        out["setup"] = master
    print(json.dumps(out))


def cmd_final(a):
    password = open(a.password_file).read().rstrip("\n")
    with psycopg.connect(**conninfo(a.host, 5432, password, timeout=5)) as c:
        ids = [r[0] for r in c.execute("select id from chaos_ids")]
        ctr = c.execute("select v from chaos_counter where k = 0").fetchone()
        hist = {}
        for (name,) in c.execute("select name from pg_ls_dir('pg_wal') as name where name like '%.history'"):
            hist[name] = c.execute("select pg_read_file('pg_wal/' || %s)", (name,)).fetchone()[0]
    json.dump({"ids": ids, "counter": ctr[0] if ctr else None, "history": hist}, sys.stdout)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workload")
    w.add_argument("--proxies", required=True)
    w.add_argument("--ro", default="")
    w.add_argument("--etcd", required=True)
    w.add_argument("--cluster", required=True)
    w.add_argument("--clients", type=int, default=4)
    w.add_argument("--readers", type=int, default=2)
    w.add_argument("--direct", default="", help="keepers ip:httpport:pgport,... for the direct writer (none: no direct writer)")
    w.add_argument("--password-file", required=True)
    w.add_argument("--out", required=True)
    pr = sub.add_parser("probe")
    pr.add_argument("--pgs", required=True)
    pr.add_argument("--etcd", required=True)
    pr.add_argument("--cluster", required=True)
    pr.add_argument("--proxies", default="")
    pr.add_argument("--setup", default="")
    pr.add_argument("--password-file", required=True)
    f = sub.add_parser("final")
    f.add_argument("--host", required=True)
    f.add_argument("--password-file", required=True)
    a = p.parse_args()
    {"workload": cmd_workload, "probe": cmd_probe, "final": cmd_final}[a.cmd](a)


if __name__ == "__main__":
    main()
