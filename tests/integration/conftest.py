"""pytest fixtures shared by the integration tests.

etcd:  a fresh one-member etcd 3.4 for each test.
etcd3: a fresh three-member etcd 3.4 for each test (heartbeat 100 ms, election timeout 1 s).
cluster_factory: make(**LocalCluster options) starts a whole cluster on the test's etcd (local_cluster.py);
    every cluster made is stopped after the test; when the test failed, every daemon's log tail and every
    PostgreSQL's own log tail are printed first.
Both expose .endpoints, .members (with .client_url, .pid, .kill(), .stop(), .start()) and .stop_all(), and are
always stopped and removed after the test, passed or failed. See etcd_fixture.py.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from etcd_fixture import BUILD, REPO, start_cluster  # noqa: E402,F401 - re-exported for the tests


def _etcd_cluster(request, size):
    cluster = start_cluster(size)
    try:
        yield cluster
    finally:
        if getattr(request.node, "rep_call_failed", False):
            sys.stderr.write(cluster.logs())
        cluster.cleanup()


@pytest.fixture
def etcd(request):
    yield from _etcd_cluster(request, 1)


@pytest.fixture
def cluster_factory(request, etcd):
    from local_cluster import LocalCluster
    made = []

    def make(**kw):
        lc = LocalCluster(etcd, **kw)
        made.append(lc)
        return lc.start()
    yield make
    for lc in made:
        if getattr(request.node, "rep_call_failed", False):
            # every daemon's log tail and each PostgreSQL's own log: a flaky failure explains itself
            sys.stderr.write(lc.logs(tail=80) + "\n")
        lc.cleanup()


@pytest.fixture
def etcd3(request):
    yield from _etcd_cluster(request, 3)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # lets the fixtures print the etcd logs of a failed test
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call_failed = rep.failed


def pytest_sessionfinish(session, exitstatus):
    # how much of the port range a run uses (free_ports never hands a port out twice in a run)
    import etcd_fixture
    sys.stderr.write(f"\nports handed out in this run: {len(etcd_fixture._handed_out)} of "
                     f"{etcd_fixture.PORT_HIGH - etcd_fixture.PORT_LOW}\n")
