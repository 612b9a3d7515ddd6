"""Three network namespaces joined by two veth pairs: a black-box WAN for integration tests.

::

    <prefix>-gw                 <prefix>-wan                  <prefix>-con
    [ gw0 10.99.0.1/24 ] <-veth-> [ wan-gw    wan-con ] <-veth-> [ con0 10.99.0.2/24 ]
                                  (no addresses; a userspace bridge forwards frames)

The two end hosts share one private subnet and know nothing about the middle namespace: it has no
addresses and does not route, so every frame crosses it only through whatever forwards it there
(``telesurgery.link.wan_bridge``). Traffic never leaves the namespaces created here. The end
hosts get permanent neighbour (ARP) entries for each other, so address resolution never crosses
the emulated link (on a real WAN each router resolves only its own segment).

IPv6 is disabled in all three namespaces, so no router solicitations or duplicate-address probes
cross the link: the only frames are the ones the test sends, and counters can be checked exactly.

Devices are created directly inside their namespaces, so their short fixed names never collide with
devices of other runs. TX checksum offload, TSO, GSO and GRO are switched off on every veth end:
a frame read from a packet socket and re-sent must carry a complete checksum and fit one MTU.

Namespace names carry the creating process id (``tswan-<pid>-gw``); :func:`remove_stale` deletes
the namespaces of runs whose process no longer exists (crashed runs), never those of live ones.

Typical use (root; pytest fixtures in ``tests/netns_fixtures.py`` do the same)::

    remove_stale()
    with WanTopology() as wan:
        wan.python("wan", ["-m", "telesurgery.link.wan_bridge", "--dev-a", WAN_GW_DEV,
                           "--dev-b", WAN_CON_DEV, "--control", ctl, "--link", "lan"])
        WanBridgeClient(ctl).wait_ready()
        gateway = wan.python("gw", [...])   # serves on wan.config.gw_ip
        console = wan.python("con", [...])  # connects to wan.config.gw_ip
        WanBridgeClient(ctl).cut()          # fault injection: the link fails now
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from telesurgery.exceptions import ConfigError, TelesurgeryError

logger = logging.getLogger(__name__)

BASE_PREFIX = "tswan"
"""Prefix of every namespace this module creates; the pid follows it."""

GW_DEV = "gw0"
"""Device name of the gateway host's veth end (inside ``<prefix>-gw``)."""

CON_DEV = "con0"
"""Device name of the console host's veth end (inside ``<prefix>-con``)."""

WAN_GW_DEV = "wan-gw"
"""Device name, inside ``<prefix>-wan``, of the veth end that faces the gateway host."""

WAN_CON_DEV = "wan-con"
"""Device name, inside ``<prefix>-wan``, of the veth end that faces the console host."""

ROLES = ("gw", "wan", "con")
"""The three namespace roles, in topology order."""

VETH_ENDS = (("gw", GW_DEV), ("wan", WAN_GW_DEV), ("wan", WAN_CON_DEV), ("con", CON_DEV))
"""Every veth end as (namespace role, device name), from the gateway host to the console host."""

_COMMAND_TIMEOUT_S = 10.0
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class NetnsError(TelesurgeryError):
    """A namespace set-up or tear-down command failed. Names the command and its stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(
            f"command {' '.join(self.argv)!r} failed with exit code {returncode}: "
            f"{stderr.strip() or '(no stderr)'}"
        )


def skip_reason() -> str | None:
    """Why namespaces cannot be used here (not root, a tool missing), or None if they can.

    Tests skip with this text; CI runs as root and runs them.
    """
    if sys.platform != "linux":
        return f"network namespaces need Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return f"network namespaces need root, running as uid {os.geteuid()}"
    for tool, package in (("ip", "iproute2"), ("ethtool", "ethtool"), ("sysctl", "procps")):
        if shutil.which(tool) is None:
            return f"{tool!r} not found on PATH (Debian package {package})"
    probe = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S
    )
    if probe.returncode != 0:
        return f"'ip netns' is unavailable: {probe.stderr.strip()}"
    return None


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S, check=False
    )
    if check and result.returncode != 0:
        raise NetnsError(argv, result.returncode, result.stderr)
    return result


def list_namespaces() -> list[str]:
    """Names of all named network namespaces (``ip netns list``)."""
    out = _run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(base_prefix: str = BASE_PREFIX) -> list[str]:
    """Delete ``<base_prefix>-<pid>-*`` namespaces whose creating process is gone.

    Returns the deleted names. Namespaces of live processes (parallel runs) are left alone.
    """
    pattern = re.compile(rf"^{re.escape(base_prefix)}-(\d+)-[A-Za-z0-9_.-]+$")
    removed: list[str] = []
    for name in list_namespaces():
        match = pattern.match(name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        _kill_namespace_processes(name)
        if _run(["ip", "netns", "delete", name], check=False).returncode == 0:
            removed.append(name)
            logger.info("removed stale namespace %s", name)
    return removed


def _kill_namespace_processes(name: str) -> None:
    pids = _run(["ip", "netns", "pids", name], check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


@dataclass(frozen=True)
class WanTopologyConfig:
    """Names and addresses of the three-namespace topology."""

    prefix: str = field(default_factory=lambda: f"{BASE_PREFIX}-{os.getpid()}")
    """Namespace name prefix; ``-gw``, ``-wan`` and ``-con`` are appended. Must be unique per run
    (the default carries the pid)."""

    gw_cidr: str = "10.99.0.1/24"
    """Address/prefix length of the gateway host's interface (private range only)."""

    con_cidr: str = "10.99.0.2/24"
    """Address/prefix length of the console host's interface (same subnet as ``gw_cidr``)."""

    mtu: int = 1500
    """MTU of all four veth ends [bytes]."""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.prefix):
            raise ConfigError("prefix", self.prefix, "1-40 characters of [A-Za-z0-9_.-]")
        interfaces = {name: _private_interface(name, getattr(self, name)) for name in _CIDR_FIELDS}
        gw, con = interfaces["gw_cidr"], interfaces["con_cidr"]
        if con.network != gw.network or con.ip == gw.ip or con.ip == gw.network.broadcast_address:
            raise ConfigError(
                "con_cidr", self.con_cidr, f"another host address in {gw.network} than {gw.ip}"
            )
        if not 576 <= self.mtu <= 9000:
            raise ConfigError("mtu", self.mtu, "576..9000")

    def namespace(self, role: str) -> str:
        """Namespace name for ``role`` (one of :data:`ROLES`)."""
        if role not in ROLES:
            raise ConfigError("role", role, f"one of {', '.join(ROLES)}")
        return f"{self.prefix}-{role}"

    @property
    def gw_ip(self) -> str:
        """The gateway host's IPv4 address (without prefix length)."""
        return str(ipaddress.IPv4Interface(self.gw_cidr).ip)

    @property
    def con_ip(self) -> str:
        """The console host's IPv4 address (without prefix length)."""
        return str(ipaddress.IPv4Interface(self.con_cidr).ip)


_CIDR_FIELDS = ("gw_cidr", "con_cidr")


def _private_interface(field: str, value: str) -> ipaddress.IPv4Interface:
    valid = "a private IPv4 host address with prefix length, e.g. 10.99.0.1/24"
    try:
        interface = ipaddress.IPv4Interface(value)
    except ValueError:
        raise ConfigError(field, value, valid) from None
    if "/" not in value or not interface.ip.is_private or interface.ip.is_loopback:
        raise ConfigError(field, value, valid)
    if interface.ip in (interface.network.network_address, interface.network.broadcast_address):
        raise ConfigError(field, value, valid)
    return interface


class WanTopology:
    """Owns the three namespaces: created on ``__enter__`` (or :meth:`create`), always removed
    on ``__exit__`` (or :meth:`destroy`), also when creation failed half-way.

    Processes started with :meth:`popen` are killed on tear-down if still running.
    """

    def __init__(self, config: WanTopologyConfig | None = None) -> None:
        self.config = config if config is not None else WanTopologyConfig()
        self._created: list[str] = []
        self._processes: list[subprocess.Popen[Any]] = []

    def __enter__(self) -> WanTopology:
        try:
            self.create()
        except BaseException:
            self.destroy()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()

    @property
    def gw(self) -> str:
        """Name of the gateway host's namespace."""
        return self.config.namespace("gw")

    @property
    def wan(self) -> str:
        """Name of the middle (bridge) namespace."""
        return self.config.namespace("wan")

    @property
    def con(self) -> str:
        """Name of the console host's namespace."""
        return self.config.namespace("con")

    def create(self) -> None:
        """Delete leftovers of crashed runs (:func:`remove_stale`), then create namespaces, veth
        pairs and addresses. Raises :class:`NetnsError` on failure."""
        remove_stale()
        cfg = self.config
        for role in ROLES:
            name = cfg.namespace(role)
            _run(["ip", "netns", "add", name])
            self._created.append(name)
            self.run(role, ["ip", "link", "set", "lo", "up"])
            self.run(role, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
            self.run(role, ["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
        pairs = ((GW_DEV, self.gw, WAN_GW_DEV), (CON_DEV, self.con, WAN_CON_DEV))
        for end_dev, end_ns, wan_dev in pairs:
            _run(
                [
                    "ip", "link", "add", end_dev, "netns", end_ns, "mtu", str(cfg.mtu),
                    "type", "veth", "peer", "name", wan_dev, "netns", self.wan, "mtu", str(cfg.mtu),
                ]
            )  # fmt: skip
        for role, dev in VETH_ENDS:
            self.run(
                role, ["ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off"]
            )
        self.run("gw", ["ip", "addr", "add", cfg.gw_cidr, "dev", GW_DEV])
        self.run("con", ["ip", "addr", "add", cfg.con_cidr, "dev", CON_DEV])
        for role, dev in VETH_ENDS:
            self.run(role, ["ip", "link", "set", dev, "up"])
        for dev in (WAN_GW_DEV, WAN_CON_DEV):
            self.run("wan", ["ip", "link", "set", dev, "promisc", "on"])
        # Permanent neighbour entries: ARP never crosses the emulated link, as on a routed WAN
        # where each router resolves its own segment; a cut does not expire them either.
        gw_mac = self.mac("gw", GW_DEV)
        con_mac = self.mac("con", CON_DEV)
        for role, dev, ip, mac in (
            ("gw", GW_DEV, cfg.con_ip, con_mac),
            ("con", CON_DEV, cfg.gw_ip, gw_mac),
        ):
            self.run(
                role, ["ip", "neigh", "replace", ip, "lladdr", mac, "dev", dev, "nud", "permanent"]
            )
        logger.info("created namespaces %s, %s, %s", self.gw, self.wan, self.con)

    def mac(self, role: str, dev: str) -> str:
        """The MAC address of device ``dev`` in namespace ``role``."""
        out = self.run(role, ["cat", f"/sys/class/net/{dev}/address"]).stdout.strip()
        if not re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", out):
            raise NetnsError(["cat", f"/sys/class/net/{dev}/address"], 0, f"not a MAC: {out!r}")
        return out

    def destroy(self) -> None:
        """Kill started processes and delete every namespace created so far. Idempotent."""
        for proc in self._processes:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_COMMAND_TIMEOUT_S)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        self._processes.clear()
        errors: list[str] = []
        for name in reversed(self._created):
            _kill_namespace_processes(name)
            result = _run(["ip", "netns", "delete", name], check=False)
            if result.returncode != 0:
                errors.append(f"{name}: {result.stderr.strip()}")
        self._created.clear()
        if errors:
            logger.error("namespace tear-down incomplete: %s", "; ".join(errors))

    def _exec_argv(self, role: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.config.namespace(role), *argv]

    def run(
        self, role: str, argv: Sequence[str], *, check: bool = True, timeout_s: float = 10.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` to completion inside namespace ``role``; raise :class:`NetnsError` on a
        non-zero exit when ``check``."""
        full = self._exec_argv(role, argv)
        result = subprocess.run(
            full, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        if check and result.returncode != 0:
            raise NetnsError(full, result.returncode, result.stderr)
        return result

    def popen(
        self,
        role: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` inside namespace ``role``; it is killed on tear-down if still running."""
        proc = subprocess.Popen(
            self._exec_argv(role, argv), env=dict(env) if env is not None else None, **kwargs
        )
        self._processes.append(proc)
        return proc

    def python(self, role: str, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start this interpreter (``sys.executable``) with ``args`` inside namespace ``role``."""
        return self.popen(role, [sys.executable, *args], **kwargs)

    def run_python(
        self, role: str, args: Sequence[str], *, check: bool = True, timeout_s: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """Run this interpreter with ``args`` to completion inside namespace ``role``."""
        return self.run(role, [sys.executable, *args], check=check, timeout_s=timeout_s)
