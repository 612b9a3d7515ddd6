"""Tests of the three-namespace topology helper (``netns`` marker: root and ``ip netns``)."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

from telesurgery.link.netns import (
    GW_DEV,
    VETH_ENDS,
    WanTopology,
    WanTopologyConfig,
    list_namespaces,
    remove_stale,
    skip_reason,
)


def require_netns() -> None:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.netns
def test_end_hosts_are_configured_and_unreachable_without_a_bridge() -> None:
    require_netns()
    config = WanTopologyConfig(prefix=f"tswan-{os.getpid()}-cfg")
    with WanTopology(config) as topology:
        assert f"inet {config.gw_cidr}" in topology.run("gw", ["ip", "-4", "addr"]).stdout
        assert f"inet {config.con_cidr}" in topology.run("con", ["ip", "-4", "addr"]).stdout
        wan_addresses = topology.run("wan", ["ip", "-4", "addr", "show", "scope", "global"])
        assert "inet " not in wan_addresses.stdout
        for role, dev in VETH_ENDS:
            features = topology.run(role, ["ethtool", "-k", dev]).stdout
            assert "tx-checksumming: off" in features
            assert "generic-receive-offload: off" in features
        neigh = topology.run("con", ["ip", "neigh", "show", config.gw_ip]).stdout
        assert topology.mac("gw", GW_DEV) in neigh
        assert "PERMANENT" in neigh
        # Nothing forwards in the middle namespace: the hosts cannot reach each other.
        probe = f"import socket; socket.create_connection(({config.gw_ip!r}, 9), timeout=0.5)"
        result = topology.run_python("con", ["-c", probe], check=False)
        assert result.returncode != 0
        assert "timed out" in result.stderr


@pytest.mark.netns
def test_topology_is_removed_on_exit_even_after_an_error() -> None:
    require_netns()
    config = WanTopologyConfig(prefix=f"tswan-{os.getpid()}-t")
    with pytest.raises(RuntimeError), WanTopology(config) as topology:
        assert topology.gw in list_namespaces()
        topology.popen("wan", ["sleep", "30"])
        raise RuntimeError("test failure inside the topology")
    assert not [n for n in list_namespaces() if n.startswith(config.prefix)]


@pytest.mark.netns
def test_remove_stale_deletes_only_namespaces_of_dead_processes() -> None:
    require_netns()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"tswan-{dead.pid}-x-gw"
    live = f"tswan-{os.getpid()}-live"
    for name in (stale, live):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        removed = remove_stale()
        assert stale in removed
        assert live in list_namespaces()
    finally:
        for name in (stale, live):
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"gw_cidr": "10.999.0.1/24"}, "invalid gw_cidr='10.999.0.1/24': valid is a private"),
        ({"gw_cidr": "10.99.0.1"}, "invalid gw_cidr='10.99.0.1': valid is a private"),
        ({"gw_cidr": "10.99.0.0/24"}, "invalid gw_cidr='10.99.0.0/24': valid is a private"),
        ({"con_cidr": "10.98.0.2/24"}, "invalid con_cidr='10.98.0.2/24': valid is another host"),
        ({"con_cidr": "10.99.0.1/24"}, "invalid con_cidr='10.99.0.1/24': valid is another host"),
        ({"mtu": 100}, "invalid mtu=100: valid is 576..9000"),
        ({"prefix": "a b"}, "invalid prefix='a b': valid is 1-40 characters"),
    ],
)
def test_topology_config_errors_name_field_and_valid_values(
    fields: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError) as excinfo:
        WanTopologyConfig(**fields)
    assert str(excinfo.value).startswith(error)


def test_topology_config_rejects_public_addresses() -> None:
    with pytest.raises(
        ValueError, match=r"invalid gw_cidr='8\.8\.8\.8/24': valid is a private IPv4"
    ):
        WanTopologyConfig(gw_cidr="8.8.8.8/24")


def test_topology_config_names_namespaces_by_role() -> None:
    config = WanTopologyConfig(prefix="tswan-1-x")
    assert [config.namespace(r) for r in ("gw", "wan", "con")] == [
        "tswan-1-x-gw",
        "tswan-1-x-wan",
        "tswan-1-x-con",
    ]
    with pytest.raises(ValueError, match="invalid role='dmz': valid is one of gw, wan, con"):
        config.namespace("dmz")
