"""Plain PostgreSQL 15 servers for tests that need databases without keepers (the proxy's tests).

PgServer runs initdb, pg_basebackup, pg_ctl as the unprivileged `postgres` user (PostgreSQL refuses root) in
a temporary directory, on a free loopback port, with trust authentication on 127.0.0.1 only. The test holds
the postmaster's PID (from postmaster.pid) and always stops it, with SIGKILL as the last resort.
"""
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

import psycopg

from etcd_fixture import free_ports

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "postgres"


def _as_postgres(argv, **kw):
    return subprocess.run(["runuser", "-u", PG_USER, "--", *argv], cwd="/tmp", capture_output=True, text=True,
                          timeout=kw.pop("timeout", 120), **kw)


def make_base_dir(prefix="bulwark-pg-"):
    """A temporary directory the postgres user owns and every parent of which it can traverse."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    pw = pwd.getpwnam(PG_USER)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


class PgServer:
    def __init__(self, base_dir, name, port=None, settings=None):
        self.name = name
        self.port = port or free_ports(1)[0]
        self.data = os.path.join(base_dir, name)
        self.sock = base_dir
        self.log = os.path.join(base_dir, f"{name}.log")
        self.settings = dict(settings or {})

    def _write_conf(self):
        conf = {
            "listen_addresses": "'127.0.0.1'", "port": str(self.port), "unix_socket_directories": f"'{self.sock}'",
            "wal_level": "replica", "max_wal_senders": "10", "hot_standby": "on", "fsync": "off",
            "max_connections": "100",
        }
        conf.update(self.settings)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")

    def initdb(self):
        r = _as_postgres([f"{PG_BIN}/initdb", "-N", "-D", self.data, "-U", "postgres", "--auth=trust"])
        assert r.returncode == 0, r.stdout + r.stderr
        self._write_conf()

    def basebackup_from(self, primary):
        r = _as_postgres([f"{PG_BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                          "-D", self.data, "-R", "-X", "stream", "-c", "fast"])
        assert r.returncode == 0, r.stdout + r.stderr
        self._write_conf()

    def start(self):
        r = _as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start"])
        assert r.returncode == 0, r.stdout + r.stderr + self.log_tail()

    def pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.pid()
        if pid is None:
            return
        _as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "20", "stop"], timeout=30)
        try:
            os.kill(pid, 0)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log_tail(self, n=20):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def connect(self, **kw):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                               connect_timeout=5, autocommit=True, **kw)


class PgTrio:
    """A primary and two streaming standbys."""

    def __init__(self, settings=None):
        self.base = make_base_dir()
        ports = free_ports(3)
        self.primary = PgServer(self.base, "primary", ports[0], settings)
        self.standbys = [PgServer(self.base, f"standby{i}", ports[i + 1], settings) for i in range(2)]

    def start(self):
        self.primary.initdb()
        self.primary.start()
        for s in self.standbys:
            s.basebackup_from(self.primary)
            s.start()
        return self

    def all(self):
        return [self.primary, *self.standbys]

    def cleanup(self):
        for s in self.all():
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - cleanup goes on whatever happened
                pass
        shutil.rmtree(self.base, ignore_errors=True)
