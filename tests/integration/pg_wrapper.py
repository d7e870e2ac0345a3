"""A PostgreSQL bin directory whose programs the tests can interrupt at a chosen point, to kill a host in the
middle of a pg_rewind, a base backup or a promotion deterministically.

PgBinWrapper() makes <tmp>/bin with a symlink to every program of PostgreSQL's bin directory, and a small
shell wrapper in place of the programs named in WRAPPED. A keeper started with `--pg-bin-path <root>/bin` runs
them as usual. The wrapper reads a control file named for the keeper (the parent directory of the program's -D
argument) and the program (with pg_ctl's sub-command): `<keeper>.pg_rewind`, `<keeper>.pg_ctl.promote`. Without
one it execs the real program. With one, it acts on its first line:

  after           run the real program to its end, then stop there (as if the host died just after it)
  kill-after MS   start the real program, SIGKILL it after MS milliseconds (as if the host died in the middle)
  nowait          pg_ctl only: run it without -w (promote: the request is sent, the promotion not waited for)

and then writes `<control>.hit` and sleeps, holding the keeper in that step until the test kills the host. The
keeper runs its programs with a parent-death signal, which execve keeps, so the sleeping wrapper dies with the
keeper. The control file is removed when it fires (one shot).
"""
import os
import shutil
import tempfile
import time
from pathlib import Path

REAL_BIN = Path("/usr/lib/postgresql/15/bin")
WRAPPED = ("pg_rewind", "pg_basebackup", "pg_ctl")

_SCRIPT = r"""#!/bin/sh
# test wrapper written by tests/integration/pg_wrapper.py: see there
prog=$(basename "$0")
real=@REAL@/$prog
control=@CONTROL@
pgdata=""
prev=""
for a in "$@"; do
    [ "$prev" = "-D" ] && pgdata=$a
    prev=$a
done
keeper=$(basename "$(dirname "$pgdata")")
name="$keeper.$prog"
[ "$prog" = pg_ctl ] && name="$name.$1"
f="$control/$name"
[ -n "$pgdata" ] && [ -f "$f" ] || exec "$real" "$@"
read -r mode arg < "$f"
rm -f "$f"
case "$mode" in
after)
    "$real" "$@"
    echo "$?" > "$f.hit"
    ;;
kill-after)
    "$real" "$@" &
    child=$!
    sleep "$(awk "BEGIN { print $arg / 1000 }")"
    kill -9 "$child" 2>/dev/null
    wait "$child"
    echo "killed" > "$f.hit"
    ;;
nowait)
    args=""
    for a in "$@"; do [ "$a" = "-w" ] || args="$args $a"; done
    # shellcheck disable=SC2086
    "$real" $args -W
    echo "$?" > "$f.hit"
    ;;
*)
    echo "pg_wrapper: unknown mode '$mode' in $f" >&2
    exit 1
    ;;
esac
exec sleep 600
"""


class PgBinWrapper:
    def __init__(self):
        # under /tmp, traversable: the keepers run their programs as the postgres user
        self.root = Path(tempfile.mkdtemp(prefix="bkbin", dir="/tmp"))
        self.bin = self.root / "bin"
        self.control = self.root / "control"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.control.mkdir(exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.control, 0o777)
        for prog in REAL_BIN.iterdir():
            dst = self.bin / prog.name
            if prog.name in WRAPPED:
                dst.write_text(_SCRIPT.replace("@REAL@", str(REAL_BIN)).replace("@CONTROL@", str(self.control)))
                os.chmod(dst, 0o755)
            else:
                dst.symlink_to(prog)

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def arm(self, keeper_uid, program, mode):
        """program: "pg_rewind", "pg_basebackup" or "pg_ctl.promote"; mode: a line as in the module doc."""
        path = self.control / f"{keeper_uid}.{program}"
        path.write_text(mode + "\n")
        os.chmod(path, 0o666)
        return path

    def wait_hit(self, keeper_uid, program, timeout):
        hit = self.control / f"{keeper_uid}.{program}.hit"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if hit.exists():
                return hit.read_text().strip()
            time.sleep(0.05)
        raise AssertionError(f"{keeper_uid} did not run {program} within {timeout}s")
