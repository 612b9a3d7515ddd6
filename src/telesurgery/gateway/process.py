"""Run ``telesurgery gateway`` as a child process (the demo's "Beijing", benchmarks).

A gateway in its own process has its own interpreter lock: the patient side's servo loop,
camera and encoder do not compete with a console's Python work, as on two real sites.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from telesurgery.exceptions import TelesurgeryError


class GatewayProcessError(TelesurgeryError):
    """The gateway process did not start or exited."""


@dataclass(frozen=True, slots=True)
class RunningGateway:
    """A started gateway process."""

    url: str
    """Base URL of its HTTP API."""
    pid: int
    """Process id (for CPU accounting)."""

    async def status(self) -> dict[str, Any]:
        """``GET /status``."""
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/status") as response:
            result: dict[str, Any] = await response.json()
            return result


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def gateway_process(
    args: Sequence[str] = (), *, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 60.0
) -> AsyncIterator[RunningGateway]:
    """Start ``telesurgery gateway --host HOST --port PORT *args``; stop it on exit."""
    port = port or free_port(host)
    argv = [sys.executable, "-m", "telesurgery.cli", "gateway", "--host", host, "--port", str(port)]
    proc = subprocess.Popen(
        [*argv, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    running = RunningGateway(url=f"http://{host}:{port}", pid=proc.pid)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read() if proc.stderr is not None else ""
                raise GatewayProcessError(f"gateway exited with {proc.returncode}: {err[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                await running.status()
                break
            if time.monotonic() > deadline:
                raise GatewayProcessError(f"gateway did not answer within {timeout_s} s")
            await asyncio.sleep(0.2)
        yield running
    finally:
        proc.terminate()
        try:
            await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
