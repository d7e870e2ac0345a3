"""bulwarkctl against a real etcd: init, spec, update, clusterdata, status, and every kind of bad input.

Each test runs bulwarkctl as a user would (a subprocess with flags or BULWARK_* variables) and checks the
exit code, the message and, for failures, that the stored cluster data did not change.
"""
import json
import os
import subprocess
import time

import jsonschema
import pytest

from etcd_fixture import BUILD, REPO

CTL = os.path.join(BUILD, "bin", "bulwarkctl")
STORE_TOOL = os.path.join(BUILD, "tools", "store_tool")

EXIT_BAD_ARGS = 2
EXIT_BAD_SPEC = 3
EXIT_STORE = 4
EXIT_CONFLICT = 5
EXIT_NOT_FOUND = 6


def ctl(etcd, *args, cluster="c1", stdin=None, env_extra=None, timeout=30):
    env = dict(os.environ)
    env.pop("BULWARK_STORE_ENDPOINTS", None)
    env["BULWARK_STORE_ENDPOINTS"] = etcd.endpoints if etcd else "http://127.0.0.1:1"
    if cluster is not None:
        env["BULWARK_CLUSTER_NAME"] = cluster
    if env_extra:
        env.update(env_extra)
    return subprocess.run([CTL, *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout)


def raw_clusterdata(etcd, cluster="c1"):
    out = subprocess.run([STORE_TOOL, "--endpoints", etcd.endpoints, "get", f"/bulwark/{cluster}/clusterdata"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout


@pytest.fixture
def initialized(etcd):
    r = ctl(etcd, "init")
    assert r.returncode == 0, r.stderr
    return etcd


def test_init_creates_cluster_in_initializing_phase(etcd):
    r = ctl(etcd, "init")
    assert r.returncode == 0, r.stderr
    r = ctl(etcd, "clusterdata", "read")
    assert r.returncode == 0, r.stderr
    cd = json.loads(r.stdout)
    assert cd["formatVersion"] == 1
    assert cd["cluster"]["spec"] == {"initMode": "new"}
    assert cd["cluster"]["status"]["phase"] == "initializing"
    assert len(cd["cluster"]["uid"]) == 8


def test_init_refuses_to_replace_existing_cluster_without_yes(initialized):
    before = raw_clusterdata(initialized)
    r = ctl(initialized, "init")
    assert r.returncode == EXIT_CONFLICT
    assert "already exists" in r.stderr and "--yes" in r.stderr
    assert raw_clusterdata(initialized) == before


def test_init_yes_replaces_existing_cluster_with_new_uid(initialized):
    uid1 = json.loads(ctl(initialized, "clusterdata", "read").stdout)["cluster"]["uid"]
    r = ctl(initialized, "init", "--yes", "-f", "-", stdin='{"initMode": "new", "failInterval": "9s"}')
    assert r.returncode == 0, r.stderr
    cd = json.loads(ctl(initialized, "clusterdata", "read").stdout)
    assert cd["cluster"]["uid"] != uid1
    assert cd["cluster"]["spec"] == {"initMode": "new", "failInterval": "9s"}


def test_init_takes_spec_as_argument(etcd):
    r = ctl(etcd, "init", '{"initMode":"new","synchronousReplication":true}')
    assert r.returncode == 0, r.stderr
    spec = json.loads(ctl(etcd, "spec").stdout)
    assert spec == {"initMode": "new", "synchronousReplication": True}


@pytest.mark.parametrize("spec, expect", [
    ('{"initMode": "new",', "invalid JSON"),
    ('{"initMode": "new", "failIntervl": "5s"}', 'unknown field "failIntervl"'),
    ('{"initMode": "new", "failInterval": "-3s"}', "failInterval"),
    ('{"initMode": "new", "failInterval": 5}', "failInterval"),
    ('{"initMode": "new", "maxStandbys": 0}', "maxStandbys"),
    ('{"failInterval": "5s"}', "initMode"),
    ('[1, 2]', "object"),
])
def test_init_with_bad_spec_fails_and_writes_nothing(etcd, spec, expect):
    r = ctl(etcd, "init", "-f", "-", stdin=spec)
    assert r.returncode == EXIT_BAD_SPEC, (r.returncode, r.stderr)
    assert expect in r.stderr
    assert raw_clusterdata(etcd) == ""
    r = ctl(etcd, "status")
    assert r.returncode == EXIT_NOT_FOUND


def test_update_patch_merges_into_spec(initialized):
    r = ctl(initialized, "update", "--patch", '{"synchronousReplication": true, "pgParameters": {"work_mem": "8MB"}}')
    assert r.returncode == 0, r.stderr
    r = ctl(initialized, "update", "--patch", '{"pgParameters": {"work_mem": null, "max_connections": "200"}}')
    assert r.returncode == 0, r.stderr
    spec = json.loads(ctl(initialized, "spec").stdout)
    assert spec == {"initMode": "new", "synchronousReplication": True, "pgParameters": {"max_connections": "200"}}
    full = json.loads(ctl(initialized, "spec", "--defaults").stdout)
    assert full["synchronousReplication"] is True
    assert full["failInterval"].endswith("s")
    assert "maxStandbyLag" in full


def test_update_replaces_spec_from_file(initialized, tmp_path):
    f = tmp_path / "spec.json"
    f.write_text('{"initMode": "new", "usePgrewind": false}')
    r = ctl(initialized, "update", "-f", str(f))
    assert r.returncode == 0, r.stderr
    assert json.loads(ctl(initialized, "spec").stdout) == {"initMode": "new", "usePgrewind": False}


@pytest.mark.parametrize("patch, expect", [
    ('{"sleepInterval": "2s",', "invalid JSON"),
    ('{"sleepIntervall": "2s"}', 'unknown field "sleepIntervall"'),
    ('{"failInterval": "-1s"}', "failInterval"),
    ('{"sleepInterval": "10s", "failInterval": "5s"}', "failInterval"),
    ('{"initMode": "existing", "existingConfig": {"keeperUID": "k1"}}', "initMode"),
    ('{"maxSynchronousStandbys": 1, "minSynchronousStandbys": 2}', "SynchronousStandbys"),
    ('{"pgParameters": {"port": "5433"}}', "port"),
])
def test_update_with_bad_patch_fails_and_leaves_data_unchanged(initialized, patch, expect):
    before = raw_clusterdata(initialized)
    r = ctl(initialized, "update", "--patch", patch)
    assert r.returncode == EXIT_BAD_SPEC, (r.returncode, r.stderr)
    assert expect in r.stderr
    assert raw_clusterdata(initialized) == before


def test_commands_on_missing_cluster_exit_not_found(etcd):
    for args in (["status"], ["spec"], ["update", "--patch", "{}"], ["clusterdata", "read"]):
        r = ctl(etcd, *args, cluster="nosuch")
        assert r.returncode == EXIT_NOT_FOUND, (args, r.stderr)
        assert 'cluster "nosuch" not found' in r.stderr


def test_clusters_sharing_one_etcd_are_independent(etcd):
    assert ctl(etcd, "init", cluster="a").returncode == 0
    assert ctl(etcd, "init", '{"initMode":"new","usePgrewind":false}', cluster="b").returncode == 0
    assert json.loads(ctl(etcd, "spec", cluster="a").stdout) == {"initMode": "new"}
    assert json.loads(ctl(etcd, "spec", cluster="b").stdout) == {"initMode": "new", "usePgrewind": False}


def test_clusterdata_write_round_trips_and_refuses_garbage(initialized, tmp_path):
    r = ctl(initialized, "clusterdata", "read", "--pretty")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    before = raw_clusterdata(initialized)

    r = ctl(initialized, "clusterdata", "write", "-f", "-", stdin=json.dumps(doc))
    assert r.returncode == EXIT_CONFLICT and "--yes" in r.stderr
    r = ctl(initialized, "clusterdata", "write", "-f", "-", stdin='{"formatVersion": 1, "bogus": 1}')
    assert r.returncode == EXIT_BAD_SPEC and "bogus" in r.stderr
    r = ctl(initialized, "clusterdata", "write", "--yes", "-f", "-", stdin='not json')
    assert r.returncode == EXIT_BAD_SPEC
    doc2 = dict(doc)
    doc2["formatVersion"] = 2
    r = ctl(initialized, "clusterdata", "write", "--yes", "-f", "-", stdin=json.dumps(doc2))
    assert r.returncode == EXIT_BAD_SPEC and "formatVersion" in r.stderr
    assert raw_clusterdata(initialized) == before

    doc["cluster"]["spec"]["usePgrewind"] = False
    f = tmp_path / "cd.json"
    f.write_text(json.dumps(doc))
    r = ctl(initialized, "clusterdata", "write", "--yes", "-f", str(f))
    assert r.returncode == 0, r.stderr
    assert json.loads(ctl(initialized, "spec").stdout)["usePgrewind"] is False


def test_clusterdata_write_creates_missing_cluster(etcd, tmp_path):
    assert ctl(etcd, "init", cluster="src").returncode == 0
    doc = ctl(etcd, "clusterdata", "read", cluster="src").stdout
    r = ctl(etcd, "clusterdata", "write", "-f", "-", stdin=doc, cluster="copy")
    assert r.returncode == 0, r.stderr
    assert json.loads(ctl(etcd, "clusterdata", "read", cluster="copy").stdout) == json.loads(doc)


def test_status_shows_spec_and_reports(initialized):
    # publish a keeper, a sentinel and a proxy report the way the daemons do
    cd = json.loads(ctl(initialized, "clusterdata", "read").stdout)
    cuid = cd["cluster"]["uid"]
    keeper = {"infoUID": "aaaa1111", "uid": "keeper1", "clusterUID": cuid, "bootUUID": "b00t",
              "postgresBinaryVersion": {"maj": 15, "min": 20},
              "postgresState": {"uid": "db1", "generation": 0, "listenAddress": "127.0.0.1", "port": 5432,
                                "healthy": True, "systemID": "7300000000000000001", "timelineID": 1,
                                "xLogPos": "0/1E240", "timelinesHistory": [], "pgParameters": {},
                                "synchronousStandbys": [], "olderWalFile": ""},
              "canBeMaster": True, "canBeSynchronousReplica": True}
    for key, value in ((f"/bulwark/c1/keepers/keeper1", keeper),
                       ("/bulwark/c1/sentinels/s1", {"infoUID": "bbbb", "uid": "s1"}),
                       ("/bulwark/c1/proxies/p1", {"infoUID": "cccc", "uid": "p1", "generation": 1,
                                                   "proxyTimeout": "3s"})):
        r = subprocess.run([STORE_TOOL, "--endpoints", initialized.endpoints, "put", key, json.dumps(value)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    r = ctl(initialized, "status")
    assert r.returncode == 0, r.stderr
    assert "keeper1" in r.stdout and "s1" in r.stdout and "p1" in r.stdout
    assert "initializing" in r.stdout
    r = ctl(initialized, "status", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    with open(os.path.join(REPO, "docs", "status.schema.json")) as f:
        jsonschema.validate(st, json.load(f), cls=jsonschema.Draft202012Validator)
    assert st["cluster"]["phase"] == "initializing"
    assert [k["uid"] for k in st["keepers"]] == ["keeper1"]
    # not yet in the cluster data, so no role; no master, so no lag and no replication tree
    assert st["keepers"][0]["inClusterData"] is False
    assert st["keepers"][0]["db"]["role"] == "none" and st["keepers"][0]["db"]["lagBytes"] is None
    assert st["keepers"][0]["db"]["xLogPos"] == "0/1E240" and st["keepers"][0]["db"]["listenAddress"] == "127.0.0.1:5432"
    assert st["replication"] is None
    assert st["proxies"][0]["generation"] == 1
    assert st["keepers"][0]["report"]["postgresState"]["healthy"] is True
    assert [s["uid"] for s in st["sentinels"]] == ["s1"]
    assert [p["uid"] for p in st["proxies"]] == ["p1"]


def test_status_reports_invalid_member_report_without_failing(initialized):
    r = subprocess.run([STORE_TOOL, "--endpoints", initialized.endpoints, "put", "/bulwark/c1/keepers/bad",
                        "{not json"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    r = ctl(initialized, "status")
    assert r.returncode == 0, r.stderr
    assert "bad" in r.stdout and "invalid" in r.stdout


def test_flags_come_from_environment_and_command_line_wins(initialized):
    r = ctl(initialized, "status", cluster=None, env_extra={"BULWARK_CLUSTER_NAME": "c1"})
    assert r.returncode == 0, r.stderr
    r = ctl(initialized, "status", "--cluster-name", "nosuch", cluster="c1")
    assert r.returncode == EXIT_NOT_FOUND
    r = ctl(initialized, "--cluster-name", "c1", "status", cluster=None)
    assert r.returncode == 0, r.stderr


def test_a_flag_before_the_command_wins_over_the_environment(initialized):
    # the environment names an endpoint where nothing listens; the flag, given before the command, the real one
    r = ctl(None, "--store-endpoints", initialized.endpoints, "status", env_extra={"BULWARK_STORE_TIMEOUT": "2s"})
    assert r.returncode == 0, r.stderr
    r = ctl(None, "--cluster-name", "nosuch", "--store-endpoints", initialized.endpoints, "status")
    assert r.returncode == EXIT_NOT_FOUND, r.stderr


@pytest.mark.parametrize("args, expect", [
    (["frobnicate"], 'unknown command "frobnicate"'),
    (["status", "--bogus"], "unknown flag"),
    (["status", "--store-timeout", "soon"], "--store-timeout"),
    (["status", "--cluster-name", "a/b"], "--cluster-name"),
    (["update"], "--patch"),
    (["init", "-f"], "needs a value"),
])
def test_bad_arguments_exit_2_with_message(etcd, args, expect):
    r = ctl(etcd, *args)
    assert r.returncode == EXIT_BAD_ARGS, (r.returncode, r.stderr)
    assert expect in r.stderr


def test_missing_cluster_name_is_a_clear_error(etcd):
    r = ctl(etcd, "status", cluster=None)
    assert r.returncode == EXIT_BAD_ARGS
    assert "--cluster-name is required" in r.stderr


def test_unreachable_store_fails_within_timeout_naming_endpoints():
    start = time.monotonic()
    r = ctl(None, "status", "--store-endpoints", "http://127.0.0.1:1,http://127.0.0.1:2", "--store-timeout", "2s")
    elapsed = time.monotonic() - start
    assert r.returncode == EXIT_STORE
    assert "127.0.0.1:1" in r.stderr and "127.0.0.1:2" in r.stderr
    assert elapsed < 10


def test_help_and_version(etcd):
    r = ctl(etcd, "--help")
    assert r.returncode == 0 and "Commands:" in r.stdout
    for cmd in ("init", "status", "spec", "update", "clusterdata", "version"):
        r = ctl(etcd, cmd, "--help")
        assert r.returncode == 0 and f"bulwarkctl {cmd}" in r.stdout, cmd
    r = ctl(etcd, "version")
    assert r.returncode == 0 and "bulwarkctl" in r.stdout
