"""The etcd client (src/common/store_etcd.c) against real etcd 3.4, through build/tools/store_tool.

Each test proves one behaviour the HA manager relies on: CAS has one winner, leases expire unless kept alive,
watches miss nothing and repeat nothing across member failures, the client survives a dead member, and it fails
in bounded time (with a clear error) when the store cannot answer.
"""

import base64
import json
import subprocess
import time
import urllib.request

import pytest

from etcd_fixture import free_ports, start_cluster, tool_path

STORE_TOOL = str(tool_path("store_tool"))


def tool(endpoints, *args, timeout_ms=5000, stdin=None, timeout=60):
    """Run store_tool once; the CompletedProcess (text output)."""
    argv = [STORE_TOOL, "--endpoints", endpoints, "--timeout-ms", str(timeout_ms)] + [str(a) for a in args]
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout,
                          text=not isinstance(stdin, bytes))


def ok(endpoints, *args, **kwargs):
    """Run store_tool and require success; its stdout lines."""
    r = tool(endpoints, *args, **kwargs)
    assert r.returncode == 0, f"store_tool {args} failed ({r.returncode}): {r.stderr}"
    return r.stdout.splitlines()


def start_watch(endpoints, prefix, from_rev, count, max_seconds, silence_ms=3000):
    argv = [STORE_TOOL, "--endpoints", endpoints, "watch", prefix, "--from", str(from_rev), "--count", str(count),
            "--max-seconds", str(max_seconds), "--silence-ms", str(silence_ms)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_watch(proc, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"watch did not finish; got so far:\n{out}\n{err}")
    return proc.returncode, out.splitlines(), err


def current_revision(endpoints):
    """The store revision now (a put's revision)."""
    return int(ok(endpoints, "put", "/test/revision-probe", "x")[0])


def test_cas_race_from_the_same_revision_has_exactly_one_winner(etcd):
    rev = int(ok(etcd.endpoints, "put", "/test/cas", "v0")[0])
    for round_no in range(25):
        racers = [
            subprocess.Popen([STORE_TOOL, "--endpoints", etcd.endpoints, "cas", "/test/cas", str(rev),
                              f"r{round_no}-w{w}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for w in (1, 2)
        ]
        results = [(p.wait(timeout=30), p.stdout.read(), p.stderr.read()) for p in racers]
        for p in racers:
            p.stdout.close()
            p.stderr.close()
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 5], f"round {round_no}: {results}"
        winner = next(r for r in results if r[0] == 0)
        loser = next(r for r in results if r[0] == 5)
        assert "store_tool: compare-failed:" in loser[2]
        rev = int(winner[1].strip())
        key, value, mod_rev = ok(etcd.endpoints, "get", "/test/cas")[0].split(" ")
        assert int(mod_rev) == rev
        assert value == f"r{round_no}-w{[r[0] for r in results].index(0) + 1}"


def test_create_succeeds_once_then_reports_compare_failed(etcd):
    ok(etcd.endpoints, "create", "/test/leader", "me")
    r = tool(etcd.endpoints, "create", "/test/leader", "other")
    assert r.returncode == 5
    assert "compare-failed" in r.stderr and "already exists" in r.stderr
    assert ok(etcd.endpoints, "get", "/test/leader")[0].split(" ")[1] == "me"


def test_guarded_cas_writes_only_while_the_guard_key_is_on_the_writers_lease(etcd):
    """The sentinel's write: cluster data CAS + "the leader key is still bound to my lease", in one txn."""
    mine = ok(etcd.endpoints, "lease-grant", 30)[0]
    other = ok(etcd.endpoints, "lease-grant", 30)[0]
    rev = int(ok(etcd.endpoints, "put", "/test/gcd", "v0")[0])
    ok(etcd.endpoints, "create", "/test/gleader", "s1", "--lease", mine)
    rev = int(ok(etcd.endpoints, "cas-guarded", "/test/gcd", rev, "v1", "/test/gleader", mine)[0])
    # the leader key is gone (our lease revoked) and another sentinel holds it on its lease: no write
    ok(etcd.endpoints, "lease-revoke", mine)
    ok(etcd.endpoints, "create", "/test/gleader", "s2", "--lease", other)
    r = tool(etcd.endpoints, "cas-guarded", "/test/gcd", rev, "v2", "/test/gleader", mine)
    assert r.returncode == 5, r.stderr
    assert "guard key \"/test/gleader\" is held by another lease" in r.stderr
    assert "store_tool: guard-lost:" in r.stderr       # a lost leadership is an error kind of its own
    assert ok(etcd.endpoints, "get", "/test/gcd")[0].split(" ")[1] == "v1"
    # the right lease but a stale revision: the ordinary compare failure
    r = tool(etcd.endpoints, "cas-guarded", "/test/gcd", rev - 1, "v2", "/test/gleader", other)
    assert r.returncode == 5 and "has mod_revision" in r.stderr, r.stderr
    assert "store_tool: compare-failed:" in r.stderr
    # no leader key at all
    ok(etcd.endpoints, "lease-revoke", other)
    r = tool(etcd.endpoints, "cas-guarded", "/test/gcd", rev, "v2", "/test/gleader", other)
    assert r.returncode == 5 and "gone or without a lease" in r.stderr, r.stderr
    assert "store_tool: guard-lost:" in r.stderr


def test_lease_not_kept_alive_expires_and_its_key_disappears(etcd):
    lease = ok(etcd.endpoints, "lease-grant", 2)[0]
    ok(etcd.endpoints, "put", "/test/ephemeral", "alive", "--lease", lease)
    assert ok(etcd.endpoints, "get", "/test/ephemeral")[0].startswith("/test/ephemeral alive ")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = tool(etcd.endpoints, "get", "/test/ephemeral")
        if r.returncode == 6:
            break
        time.sleep(0.25)
    assert r.returncode == 6, "the key of an expired lease is still there"
    r = tool(etcd.endpoints, "lease-keepalive", lease)
    assert r.returncode == 4 and "store_tool: lease-not-found:" in r.stderr


def test_lease_kept_alive_survives_beyond_its_ttl(etcd):
    lease = ok(etcd.endpoints, "lease-grant", 2)[0]
    ok(etcd.endpoints, "put", "/test/kept", "alive", "--lease", lease)
    end = time.monotonic() + 5
    while time.monotonic() < end:
        ttl = int(ok(etcd.endpoints, "lease-keepalive", lease)[0])
        assert ttl > 0
        time.sleep(0.5)
    assert ok(etcd.endpoints, "get", "/test/kept")[0].startswith("/test/kept alive ")


def test_watch_sees_puts_and_deletes_in_order_and_only_under_its_prefix(etcd):
    start = current_revision(etcd.endpoints) + 1
    watch = start_watch(etcd.endpoints, "/test/w/", start, 4, 20)
    r1 = ok(etcd.endpoints, "put", "/test/w/a", "1")[0]
    ok(etcd.endpoints, "put", "/test/other", "x")
    r2 = ok(etcd.endpoints, "put", "/test/w/b", "2")[0]
    r3 = ok(etcd.endpoints, "del", "/test/w/a")
    assert r3 == ["1"]
    r4 = ok(etcd.endpoints, "put", "/test/w/a", "3")[0]
    code, lines, err = finish_watch(watch, 30)
    assert code == 0, err
    rev_del = int(r2) + 1
    assert lines == [f"PUT /test/w/a 1 {r1}", f"PUT /test/w/b 2 {r2}", f"DELETE /test/w/a {rev_del}",
                     f"PUT /test/w/a 3 {r4}"]


def test_watch_resumes_after_member_restart_without_missing_or_repeating_events(etcd):
    member = etcd.members[0]
    start = current_revision(etcd.endpoints) + 1
    expected = []
    watch = start_watch(etcd.endpoints, "/test/r/", start, 10, 60)
    for i in range(3):
        rev = ok(etcd.endpoints, "put", f"/test/r/k{i}", f"before{i}")[0]
        expected.append(f"PUT /test/r/k{i} before{i} {rev}")
    ok(etcd.endpoints, "del", "/test/r/k0")
    expected.append(f"DELETE /test/r/k0 {int(rev) + 1}")
    time.sleep(0.5)  # let the watch deliver them before the crash

    member.kill()
    time.sleep(1.0)
    member.start()

    for i in range(3, 9):
        rev = ok(etcd.endpoints, "put", f"/test/r/k{i}", f"after{i}")[0]
        expected.append(f"PUT /test/r/k{i} after{i} {rev}")
    code, lines, err = finish_watch(watch, 45)
    assert code == 0, err
    assert lines == expected


def test_watch_moves_to_another_member_when_its_member_dies(etcd3):
    first = etcd3.members[0]
    start = current_revision(etcd3.endpoints) + 1
    watch = start_watch(etcd3.endpoints, "/test/m/", start, 6, 60)
    expected = []
    for i in range(3):
        rev = ok(etcd3.endpoints, "put", f"/test/m/k{i}", f"v{i}")[0]
        expected.append(f"PUT /test/m/k{i} v{i} {rev}")
    time.sleep(0.5)
    first.kill()  # the watch was on the first endpoint
    others = ",".join(m.client_url for m in etcd3.members[1:])
    for i in range(3, 6):
        rev = ok(others, "put", f"/test/m/k{i}", f"v{i}", timeout_ms=8000)[0]
        expected.append(f"PUT /test/m/k{i} v{i} {rev}")
    code, lines, err = finish_watch(watch, 45)
    assert code == 0, err
    assert lines == expected


def test_watch_from_a_compacted_revision_reports_compacted(etcd):
    first = int(ok(etcd.endpoints, "put", "/test/c/a", "1")[0])
    last = int(ok(etcd.endpoints, "put", "/test/c/a", "2")[0])
    req = urllib.request.Request(etcd.members[0].client_url + "/v3/kv/compaction",
                                 data=json.dumps({"revision": str(last), "physical": True}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
    r = tool(etcd.endpoints, "watch", "/test/c/", "--from", first, "--count", 1, "--max-seconds", 10, timeout=30)
    assert r.returncode == 4
    assert "store_tool: compacted:" in r.stderr


def test_three_members_keep_working_with_the_first_listed_member_dead(etcd3):
    dead = etcd3.members[0]
    dead.kill()
    endpoints = etcd3.endpoints  # the dead member is listed first
    t0 = time.monotonic()
    rev = ok(endpoints, "put", "/test/ha", "v1", timeout_ms=8000)[0]
    ok(endpoints, "cas", "/test/ha", rev, "v2", timeout_ms=8000)
    assert ok(endpoints, "get", "/test/ha", timeout_ms=8000)[0].split(" ")[1] == "v2"
    assert [line.split(" ")[0] for line in ok(endpoints, "list", "/test/", timeout_ms=8000)] == ["/test/ha"]
    lease = ok(endpoints, "lease-grant", 5, timeout_ms=8000)[0]
    ok(endpoints, "lease-keepalive", lease, timeout_ms=8000)
    assert time.monotonic() - t0 < 20


def test_quorum_loss_fails_within_the_request_timeout(etcd3):
    etcd3.members[1].kill()
    etcd3.members[2].kill()
    timeout_ms = 3000
    for args in (["put", "/test/q", "x"], ["get", "/test/q"], ["cas", "/test/q", "5", "y"]):
        t0 = time.monotonic()
        r = tool(etcd3.endpoints, *args, timeout_ms=timeout_ms, timeout=30)
        elapsed = time.monotonic() - t0
        assert r.returncode == 4, f"{args}: {r.returncode} {r.stdout} {r.stderr}"
        assert elapsed < timeout_ms / 1000 + 1.5, f"{args} took {elapsed:.1f} s"
        assert ("store_tool: timeout: store request timed out" in r.stderr
                or "store_tool: unreachable: store unreachable" in r.stderr), r.stderr
        assert etcd3.members[1].client_url in r.stderr and etcd3.members[2].client_url in r.stderr, r.stderr
    put = tool(etcd3.endpoints, "put", "/test/q", "x", timeout_ms=timeout_ms, timeout=30)
    assert "a write may have been applied" in put.stderr, put.stderr


def test_unreachable_endpoints_only_give_an_error_naming_each_endpoint():
    p1, p2 = free_ports(2)
    endpoints = f"http://127.0.0.1:{p1},http://127.0.0.1:{p2}"
    t0 = time.monotonic()
    r = tool(endpoints, "get", "/test/x", timeout_ms=3000)
    assert time.monotonic() - t0 < 4
    assert r.returncode == 4
    assert r.stderr.strip() == (f"store_tool: unreachable: store unreachable: tried http://127.0.0.1:{p1} "
                                f"(connection refused), http://127.0.0.1:{p2} (connection refused)")


@pytest.mark.parametrize("size, refused_by", [
    (1600 * 1024, b"request is too large"),  # over etcd's --max-request-bytes (1.5 MiB)
    (3 * 1024 * 1024, b"larger than max"),  # over gRPC's message limit, before etcd sees it
])
def test_value_larger_than_the_etcd_request_limit_is_too_large(etcd, size, refused_by):
    r = tool(etcd.endpoints, "put", "/test/big", "-", stdin=b"a" * size)
    assert r.returncode == 4
    assert r.stderr.startswith(b"store_tool: too-large:") and refused_by in r.stderr, r.stderr


def test_values_come_back_byte_for_byte(etcd):
    value = "línea with spaces, \"quotes\", {json} and +/= base64 characters"
    ok(etcd.endpoints, "put", "/test/bin", value)
    assert ok(etcd.endpoints, "get", "/test/bin")[0].startswith("/test/bin " + value + " ")
    # what etcd stored is exactly those bytes
    req = urllib.request.Request(etcd.members[0].client_url + "/v3/kv/range",
                                 data=json.dumps({"key": base64.b64encode(b"/test/bin").decode()}).encode())
    with urllib.request.urlopen(req, timeout=10) as resp:
        kv = json.loads(resp.read())["kvs"][0]
    assert base64.b64decode(kv["value"]) == value.encode()


def enable_auth(endpoints, password):
    """Create etcd's root user and turn authentication on (etcdctl from etcd-client)."""
    for argv in (["user", "add", f"root:{password}", "--interactive=false"], ["auth", "enable"]):
        r = subprocess.run(["etcdctl", "--endpoints", endpoints] + argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, f"etcdctl {argv}: {r.stderr}"


def test_auth_token_is_used_and_a_bad_password_or_no_user_is_an_auth_error(etcd, tmp_path):
    enable_auth(etcd.endpoints, "s3cret")
    good = tmp_path / "good"
    good.write_text("s3cret\n")
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    rev = ok(etcd.endpoints, "--user", "root", "--password-file", good, "put", "/test/auth", "v")[0]
    assert ok(etcd.endpoints, "--user", "root", "--password-file", good, "get", "/test/auth") == [
        f"/test/auth v {rev}"]
    r = tool(etcd.endpoints, "--user", "root", "--password-file", bad, "get", "/test/auth")
    assert r.returncode == 4
    assert r.stderr.startswith('store_tool: auth: authentication as "root" failed:'), r.stderr
    r = tool(etcd.endpoints, "get", "/test/auth")
    assert r.returncode == 4 and r.stderr.startswith("store_tool: auth:"), r.stderr
    assert "s3cret" not in r.stderr


def test_watch_with_auth_resumes_after_member_restart_with_a_fresh_token(etcd, tmp_path):
    enable_auth(etcd.endpoints, "s3cret")
    pw = tmp_path / "pw"
    pw.write_text("s3cret")
    auth = ["--user", "root", "--password-file", str(pw)]
    start = int(ok(etcd.endpoints, *auth, "put", "/test/probe", "x")[0]) + 1
    argv = [STORE_TOOL, "--endpoints", etcd.endpoints] + auth + [
        "watch", "/test/a/", "--from", str(start), "--count", "4", "--max-seconds", "60", "--silence-ms", "3000"]
    watch = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    expected = []
    for i in range(2):
        rev = ok(etcd.endpoints, *auth, "put", f"/test/a/k{i}", f"v{i}")[0]
        expected.append(f"PUT /test/a/k{i} v{i} {rev}")
    time.sleep(0.5)
    etcd.members[0].kill()
    time.sleep(0.5)
    etcd.members[0].start()  # simple tokens live in memory: the watch's token is now unknown to etcd
    for i in range(2, 4):
        rev = ok(etcd.endpoints, *auth, "put", f"/test/a/k{i}", f"v{i}")[0]
        expected.append(f"PUT /test/a/k{i} v{i} {rev}")
    code, lines, err = finish_watch(watch, 45)
    assert code == 0, err
    assert lines == expected


def test_https_endpoints_work_with_ca_and_client_certificate_and_fail_without_them():
    cluster = start_cluster(1, tls=True)
    try:
        tls = cluster.tls
        opts = ["--ca-file", tls.ca, "--cert-file", tls.cert, "--key-file", tls.key]
        assert cluster.endpoints.startswith("https://")
        rev = ok(cluster.endpoints, *opts, "put", "/test/tls", "secure")[0]
        assert ok(cluster.endpoints, *opts, "get", "/test/tls") == [f"/test/tls secure {rev}"]
        watch = subprocess.run([STORE_TOOL, "--endpoints", cluster.endpoints] + [str(o) for o in opts] +
                               ["watch", "/test/", "--from", rev, "--count", "1", "--max-seconds", "10"],
                               capture_output=True, text=True, timeout=30)
        assert watch.stdout.splitlines() == [f"PUT /test/tls secure {rev}"], watch.stderr
        # without the CA the server certificate cannot be verified: unreachable, and the message says why
        r = tool(cluster.endpoints, "--cert-file", tls.cert, "--key-file", tls.key, "get", "/test/tls")
        assert r.returncode == 4 and "store_tool: unreachable:" in r.stderr and "certificate" in r.stderr, r.stderr
    finally:
        cluster.cleanup()
