"""TLS for the gateway's HTTPS/WSS endpoint: where the certificate lives and the server context.

Development: ``scripts/dev-cert.sh`` writes a self-signed pair to :data:`DEV_CERT_PATH` and
:data:`DEV_KEY_PATH` (localhost, 127.0.0.1, ::1). Production: a CA-issued chain and its key, passed
as ``--tls-cert``/``--tls-key`` (see the header of ``scripts/dev-cert.sh``). The gateway builds
its context once at start-up::

    ssl_context = server_ssl_context(args.tls_cert, args.tls_key)
    web.TCPSite(runner, host, port, ssl_context=ssl_context)
"""

from __future__ import annotations

import ssl
from pathlib import Path

from telesurgery.exceptions import ConfigError

DEV_CERT_PATH = Path("var/tls/dev-cert.pem")
"""The development certificate written by ``scripts/dev-cert.sh`` (relative to the repo)."""
DEV_KEY_PATH = Path("var/tls/dev-key.pem")
"""Its private key."""


def server_ssl_context(cert_path: str | Path, key_path: str | Path) -> ssl.SSLContext:
    """A server context (TLS >= 1.2) with the PEM chain ``cert_path`` and key ``key_path``."""
    cert, key = Path(cert_path), Path(key_path)
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        if not path.is_file():
            raise ConfigError(
                flag,
                str(path),
                "a readable PEM file (run scripts/dev-cert.sh for a development pair in "
                f"{DEV_CERT_PATH.parent}/, or pass a CA-issued certificate and its key)",
            )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigError(
            "--tls-cert/--tls-key",
            f"{cert}, {key}",
            f"a PEM certificate chain and the private key that matches it ({exc.reason})",
        ) from None
    return context
