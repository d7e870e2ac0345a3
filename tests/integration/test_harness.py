"""The test harness itself: what it promises the other tests."""
import etcd_fixture
from etcd_fixture import free_ports


def test_free_ports_never_hands_out_a_port_twice_in_a_run(monkeypatch):
    # Ports are picked before the daemons that bind them start: two daemons handed the same port made a keeper's
    # PostgreSQL fail to start in CI ("Address already in use"). 3,000 draws from the 12,000-port range would
    # repeat a port with near certainty if each draw only checked that the port was free just now.
    monkeypatch.setattr(etcd_fixture, "_handed_out", set(), raising=False)
    seen = []
    for _ in range(1500):
        seen.extend(free_ports(2))
    assert len(seen) == len(set(seen)) == 3000
    assert all(etcd_fixture.PORT_LOW <= p < etcd_fixture.PORT_HIGH for p in seen)
