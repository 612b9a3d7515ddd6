"""scripts/dev-cert.sh and the server TLS context: a real handshake against the dev certificate."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.operation.tls import server_ssl_context

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dev-cert.sh"
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")


def dev_cert(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELESURGERY_TLS_DIR": str(directory)}
    return subprocess.run([SCRIPT], env=env, capture_output=True, text=True, check=True)


def test_dev_cert_is_idempotent(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    first = dev_cert(tls)
    assert first.stdout.startswith(f"wrote {tls}/dev-cert.pem and {tls}/dev-key.pem")
    cert = (tls / "dev-cert.pem").read_bytes()
    assert (tls / "dev-key.pem").stat().st_mode & 0o777 == 0o600
    assert (tls / ".gitignore").read_text() == "*\n"
    second = dev_cert(tls)
    assert second.stdout == f"dev certificate exists: {tls}/dev-cert.pem (key {tls}/dev-key.pem)\n"
    assert (tls / "dev-cert.pem").read_bytes() == cert


async def _handshake(context: ssl.SSLContext, cafile: Path, server_hostname: str) -> bytes:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        client = ssl.create_default_context(cafile=cafile)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=server_hostname
        )
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        return data
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
async def test_clients_verify_the_dev_certificate(tmp_path: Path, hostname: str) -> None:
    dev_cert(tmp_path)
    cert, key = tmp_path / "dev-cert.pem", tmp_path / "dev-key.pem"
    assert await _handshake(server_ssl_context(cert, key), cert, hostname) == b"ok"


async def test_other_host_names_are_rejected(tmp_path: Path) -> None:
    dev_cert(tmp_path)
    cert, key = tmp_path / "dev-cert.pem", tmp_path / "dev-key.pem"
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        await _handshake(server_ssl_context(cert, key), cert, "gateway.example.org")


def test_missing_or_mismatched_files_say_what_is_valid(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid --tls-cert=.*run scripts/dev-cert.sh"):
        server_ssl_context(tmp_path / "none.pem", tmp_path / "none-key.pem")
    dev_cert(tmp_path / "a")
    dev_cert(tmp_path / "b")
    with pytest.raises(ConfigError, match="the private key that matches it"):
        server_ssl_context(tmp_path / "a" / "dev-cert.pem", tmp_path / "b" / "dev-key.pem")


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
async def test_the_python_dev_certificate_is_verified_like_the_scripts(
    tmp_path: Path, hostname: str
) -> None:
    from telesurgery.operation.tls import ensure_dev_certificate

    cert, key = ensure_dev_certificate(tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem")
    assert key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tls" / ".gitignore").read_text() == "*\n"
    assert await _handshake(server_ssl_context(cert, key), cert, hostname) == b"ok"
    before = cert.read_bytes()
    assert ensure_dev_certificate(cert, key) == (cert, key)  # idempotent
    assert cert.read_bytes() == before
