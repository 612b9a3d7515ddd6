"""What the machine was doing while a benchmark measured: CPU busy, stolen and speed.

Latency on a 2-core machine depends as much on the machine as on the code. Every benchmark's
JSON line carries, over its measurement window:

* ``machine_cpu_busy_pct``: all CPUs, 100 = every core busy (``/proc/stat``: user + nice +
  system + irq + softirq over the total);
* ``machine_cpu_steal_pct``: time the hypervisor gave the virtual CPUs to someone else (100 =
  every core). On a shared cloud host this varies from run to run and inflates every latency;
* ``machine_speed_ms``: a fixed pure-Python workload, fastest of 5 runs, timed before the window
  (lower is faster): compares the CPU's speed between machines and sessions;
* ``load1_before`` / ``load1_after``: the 1-minute load average;
* ``machine_cpu_by_process``: the CPU each process group took [% of one core], the busiest
  first: the processes the benchmark labels (``MachineWindow(labels={pid: "gateway"})``), the
  others grouped by command name (``chromium``...). Where a run is slower than the last, this
  says who took the cores.

Use::

    with MachineWindow() as machine:
        ...measure...
    result.update(machine.summary())
"""

from __future__ import annotations

import contextlib
import os
import time
from types import TracebackType
from typing import Any

_BUSY_FIELDS = (0, 1, 2, 5, 6)
"""user, nice, system, irq, softirq (the ``cpu`` line of ``/proc/stat``, 0-based)."""
_STEAL_FIELD = 7


def _cpu_times() -> list[int] | None:
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # guest time is already counted in user: total = the first 8 fields
    return [int(v) for v in fields[1:9]]


def speed_ms(runs: int = 5) -> float:
    """Fastest time [ms] of a fixed pure-Python workload (integer arithmetic and dict/list use)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        table: dict[int, int] = {}
        total = 0
        for i in range(60_000):
            table[i & 1023] = i * 7 + total
            total = (total + table.get((i * 13) & 1023, i)) & 0xFFFFFF
        best = min(best, time.perf_counter() - start)
    return round(best * 1e3, 2)


_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat(path: str) -> tuple[str, int] | None:
    """The command name and CPU time so far (user + system) [clock ticks] in a ``/proc``
    ``stat`` file (a process's or a thread's); None if it is gone."""
    try:
        with open(path) as stat:
            line = stat.read()
    except OSError:
        return None
    fields = line[line.rindex(")") + 2 :].split()
    return line[line.index("(") + 1 : line.rindex(")")], int(fields[11]) + int(fields[12])


def thread_cpu_s(pid: int, tid: int | None = None) -> float:
    """CPU time [s] of a process, or of one of its threads."""
    found = _stat(f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat")
    if found is None:
        raise FileNotFoundError(f"no process {pid}" + ("" if tid is None else f" thread {tid}"))
    return found[1] / _TICKS_PER_S


def cpu_seconds(pid: int) -> float:
    """CPU time [s] of a process and its live children (a gateway and its patient process)."""
    pids = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/task/{task}/children") as f:
            pids += [int(c) for c in f.read().split()]
    return sum(found[1] for p in pids if (found := _stat(f"/proc/{p}/stat"))) / _TICKS_PER_S


def _process_ticks() -> dict[int, tuple[str, int]]:
    """Every process's command name and CPU time so far [clock ticks]."""
    out: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := _stat(f"/proc/{entry}/stat")) is not None:
            out[int(entry)] = found
    return out


class MachineWindow:
    """CPU busy / steal over a ``with`` block, plus the load average and a speed probe."""

    def __init__(self, *, probe_speed: bool = True, labels: dict[int, str] | None = None) -> None:
        self._probe_speed = probe_speed
        self._labels = dict(labels or {})
        self._procs_start: dict[int, tuple[str, int]] = {}
        self._procs_end: dict[int, tuple[str, int]] = {}
        self._t0_s = 0.0
        self._wall_s = 0.0
        self._speed_ms: float | None = None
        self._start: list[int] | None = None
        self._end: list[int] | None = None
        self._load_before = 0.0
        self._load_after = 0.0

    def __enter__(self) -> MachineWindow:
        if self._probe_speed:
            self._speed_ms = speed_ms()
        self._load_before = os.getloadavg()[0]
        self._procs_start = _process_ticks()
        self._t0_s = time.monotonic()
        self._start = _cpu_times()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end = _cpu_times()
        self._wall_s = time.monotonic() - self._t0_s
        self._procs_end = _process_ticks()
        self._load_after = os.getloadavg()[0]

    def by_process(self) -> dict[str, float]:
        """CPU [% of one core] per labelled process or command name, over the window."""
        totals: dict[str, int] = {}
        for pid, (name, ticks) in self._procs_end.items():
            before = self._procs_start.get(pid)
            used = ticks - (before[1] if before is not None and before[0] == name else 0)
            label = self._labels.get(pid, name)
            totals[label] = totals.get(label, 0) + used
        if self._wall_s <= 0:
            return {}
        scale = 100.0 / (_TICKS_PER_S * self._wall_s)
        ranked = sorted(totals.items(), key=lambda item: -item[1])
        return {label: round(ticks * scale, 1) for label, ticks in ranked if ticks > 0}

    def summary(self) -> dict[str, Any]:
        """The JSON fields (None where ``/proc/stat`` could not be read)."""
        busy = steal = None
        if self._start is not None and self._end is not None:
            delta = [b - a for a, b in zip(self._start, self._end, strict=True)]
            total = sum(delta)
            if total > 0:
                busy = round(100.0 * sum(delta[i] for i in _BUSY_FIELDS) / total, 1)
                steal = round(100.0 * delta[_STEAL_FIELD] / total, 1)
        return {
            "machine_cpu_busy_pct": busy,
            "machine_cpu_steal_pct": steal,
            "machine_speed_ms": self._speed_ms,
            "load1_before": round(self._load_before, 2),
            "load1_after": round(self._load_after, 2),
            "cpus": os.cpu_count(),
            "machine_cpu_by_process": self.by_process(),
        }
