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
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

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
        """``GET /status`` (a development certificate is not checked: this is our own child)."""
        connector = aiohttp.TCPConnector(ssl=False)
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.get(f"{self.url}/status") as response,
        ):
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
    """Start ``telesurgery gateway --host HOST --port PORT *args``; stop it on exit.

    Without ``--operation`` in ``args`` the gateway runs with ``--no-auth`` (a benchmark's or a
    test's gateway on this host); with ``--tls-cert`` its URL is ``https://``.
    """
    port = port or free_port(host)
    argv = [sys.executable, "-m", "telesurgery.cli", "gateway", "--host", host, "--port", str(port)]
    if "--operation" not in args:
        argv.append("--no-auth")
    scheme = "https" if "--tls-cert" in args else "http"
    # the gateway's log goes to a file (a pipe nobody reads would block it once full)
    with tempfile.TemporaryFile(mode="w+", prefix="telesurgery-gateway-") as log_file:
        proc = subprocess.Popen(
            [*argv, *args], stdout=subprocess.DEVNULL, stderr=log_file, text=True
        )
        running = RunningGateway(url=f"{scheme}://{host}:{port}", pid=proc.pid)
        try:
            await _wait_ready(running, proc, log_file, timeout_s)
            yield running
        finally:
            proc.terminate()
            try:
                await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _wait_ready(
    running: RunningGateway, proc: subprocess.Popen[str], log_file: IO[str], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            log_file.seek(0)
            err = log_file.read()
            raise GatewayProcessError(f"gateway exited with {proc.returncode}: {err[-2000:]}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            await running.status()
            return
        if time.monotonic() > deadline:
            raise GatewayProcessError(f"gateway did not answer within {timeout_s} s")
        await asyncio.sleep(0.2)
