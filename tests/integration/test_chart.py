"""The Helm chart and the Containerfile, checked by scripts/chart-check (see its docstring for each check).

test_chart_checks runs every check once and fails, naming them, when any fails. The other tests break a copy of
the chart, the binaries or the Containerfile on purpose and require the checks to notice, so that a check that
passes vacuously (a parser that finds nothing, a validator that accepts anything) is caught too.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "scripts" / "chart-check"
CHART = REPO / "deploy" / "helm" / "bulwark"
BIN = REPO / "build" / "bin"
BINARIES = ("bulwark-keeper", "bulwark-sentinel", "bulwark-proxy", "bulwarkctl")


def run_check(tmp_path, *args, timeout=300):
    report = tmp_path / "report.json"
    r = subprocess.run([sys.executable, str(CHECK), "--report", str(report), *args], cwd=REPO,
                       capture_output=True, text=True, timeout=timeout)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    results = json.loads(report.read_text()) if report.exists() else []
    return r.returncode, {i["name"]: i for i in results}


@pytest.fixture(scope="module", autouse=True)
def binaries():
    missing = [b for b in BINARIES if not os.access(BIN / b, os.X_OK)]
    if missing:
        subprocess.run(["make", "-s", "-j2", "all"], cwd=REPO, check=True)


def test_chart_checks(tmp_path):
    rc, results = run_check(tmp_path)
    failed = {n: i["errors"] for n, i in results.items() if not i["ok"]}
    assert rc == 0 and not failed, f"chart checks failed: {json.dumps(failed, indent=2)}"
    # every kind of check ran, for the defaults and every ci values file
    sets = ["default"] + sorted(p.name[: -len("-values.yaml")] for p in (CHART / "ci").glob("*-values.yaml"))
    for s in sets:
        for check in ("lint", "template", "schema", "consistency", "pod-security", "flags", "files", "cluster-spec"):
            assert f"{check}[{s}]" in results, f"{check}[{s}] did not run"
    assert {"tools", "bad-values", "containerfile"} <= results.keys()
    assert len(sets) >= 4, "the chart needs non-default values sets in deploy/helm/bulwark/ci"


def broken_chart(tmp_path, template, old, new):
    chart = tmp_path / "bulwark"
    shutil.copytree(CHART, chart)
    path = chart / "templates" / template
    text = path.read_text()
    assert old in text, f"{old!r} not in {template}: update this test"
    path.write_text(text.replace(old, new, 1))
    return chart


def failures(results):
    return {n: i["errors"] for n, i in results.items() if not i["ok"]}


def test_a_flag_the_binary_lacks_fails(tmp_path):
    chart = broken_chart(tmp_path, "proxy.yaml", "- --listen-address=0.0.0.0", "- --listen-addr=0.0.0.0")
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    assert any("has no flag --listen-addr" in e for e in results["flags[default]"]["errors"]), failures(results)


def test_an_env_variable_the_binary_lacks_fails(tmp_path):
    chart = broken_chart(tmp_path, "_helpers.tpl", "- name: BULWARK_STORE_PREFIX", "- name: BULWARK_STORE_PREFIXES")
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    assert any("reads no variable BULWARK_STORE_PREFIXES" in e for e in results["flags[default]"]["errors"]), \
        failures(results)


def test_a_missing_binary_fails(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for b in BINARIES:
        if b != "bulwark-sentinel":
            os.symlink(BIN / b, bindir / b)
    rc, results = run_check(tmp_path, "--bin", str(bindir), "--default-only")
    assert rc == 1
    assert any("bulwark-sentinel" in e and "missing" in e for e in results["flags[default]"]["errors"]), \
        failures(results)


def test_an_unknown_field_fails_the_schema_check(tmp_path):
    chart = broken_chart(tmp_path, "keeper.yaml", "readinessProbe:", "readinesProbe:")
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    assert any('unknown field "readinesProbe"' in e for e in results["schema[default]"]["errors"]), failures(results)


def test_a_wrong_type_fails_the_schema_check(tmp_path):
    chart = broken_chart(tmp_path, "keeper.yaml", "containerPort: {{ $k.httpPort }}", "containerPort: \"{{ $k.httpPort }}\"")
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    assert any("containerPort" in e and "integer" in e for e in results["schema[default]"]["errors"]), \
        failures(results)


def test_a_password_file_outside_its_secret_fails(tmp_path):
    chart = broken_chart(tmp_path, "keeper.yaml", "--pg-repl-password-file=/etc/bulwark/auth/replication-password",
                         "--pg-repl-password-file=/etc/bulwark/auth/repl-password")
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    assert any("repl-password" in e for e in results["files[default]"]["errors"]), failures(results)


def test_a_cluster_spec_bulwarkctl_refuses_fails(tmp_path):
    chart = tmp_path / "bulwark"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text().replace("  synchronousReplication: false\n",
                                                 "  synchronousReplication: false\n  failIntervall: 5s\n", 1))
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    assert any("failIntervall" in e for e in results["cluster-spec[default]"]["errors"]), failures(results)


def test_a_service_pointing_at_no_port_fails(tmp_path):
    chart = broken_chart(tmp_path, "proxy.yaml", "targetPort: postgresql-ro", "targetPort: postgres-ro")
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    assert any("targetPort postgres-ro" in e for e in results["consistency[default]"]["errors"]), failures(results)


def test_a_containerfile_copying_what_make_install_does_not_make_fails(tmp_path):
    cf = tmp_path / "Containerfile"
    text = (REPO / "deploy" / "container" / "Containerfile").read_text()
    old = "COPY --from=build /out/usr/local/bin/ /usr/local/bin/"
    assert old in text
    cf.write_text(text.replace(old, old + "\nCOPY --from=build /out/usr/local/lib/ /usr/local/lib/\nCOPY docs/nope.md /x")
                  .replace("useradd --uid 10001", "useradd --uid 10002"))
    rc, results = run_check(tmp_path, "--containerfile", str(cf), "--default-only")
    assert rc == 1
    errors = results["containerfile"]["errors"]
    assert any("/out/usr/local/lib/" in e and "nothing there" in e for e in errors), errors
    assert any("docs/nope.md" in e for e in errors), errors
    assert any("useradd --uid 10001" in e for e in errors), errors


def test_a_pod_the_restricted_pod_security_standard_refuses_fails(tmp_path):
    # what Pod Security admission refused on the live cluster would refuse: host network, a hostPath volume
    chart = broken_chart(tmp_path, "keeper.yaml", "      enableServiceLinks: false\n",
                         "      enableServiceLinks: false\n      hostNetwork: true\n")
    path = chart / "templates" / "proxy.yaml"
    path.write_text(path.read_text().replace("      volumes:\n", "      volumes:\n        - name: host\n"
                                             "          hostPath: {path: /var/run}\n", 1)
                    .replace("{{- if $vols }}", "{{- if true }}", 1))
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    errors = results["pod-security[default]"]["errors"]
    assert any("keeper" in e and "hostNetwork" in e for e in errors), failures(results)
    assert any("proxy" in e and "hostPath" in e for e in errors), failures(results)


def test_a_proxy_memory_limit_below_its_connections_fails(tmp_path):
    chart = tmp_path / "bulwark"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    text = values.read_text()
    assert "  maxConnections: 8192\n" in text
    values.write_text(text.replace("  maxConnections: 8192\n", "  maxConnections: 20000\n", 1))
    rc, results = run_check(tmp_path, "--chart", str(chart), "--default-only")
    assert rc == 1
    assert any("--max-connections=20000" in e and "limits.memory" in e
               for e in results["consistency[default]"]["errors"]), failures(results)
