"""TLS for the gateway's HTTPS/WSS endpoint: where the certificate lives and the server context.

Development: ``scripts/dev-cert.sh`` writes a self-signed pair to :data:`DEV_CERT_PATH` and
:data:`DEV_KEY_PATH` (localhost, 127.0.0.1, ::1). Production: a CA-issued chain and its key, passed
as ``--tls-cert``/``--tls-key`` (see the header of ``scripts/dev-cert.sh``). The gateway builds
its context once at start-up::

    ssl_context = server_ssl_context(args.tls_cert, args.tls_key)
    web.TCPSite(runner, host, port, ssl_context=ssl_context)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
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


DEV_CERT_DAYS = 397
"""Validity of a development certificate [days] (the longest browsers accept)."""


def ensure_dev_certificate(
    cert_path: Path = DEV_CERT_PATH, key_path: Path = DEV_KEY_PATH
) -> tuple[Path, Path]:
    """A self-signed development pair at ``cert_path``/``key_path`` (made if either is missing).

    The same certificate as ``scripts/dev-cert.sh`` makes (ECDSA P-256; localhost, 127.0.0.1 and
    ::1; server authentication only), written without a shell: the key 0600, the directory with
    a ``.gitignore``. Never for a real operation: browsers warn about it (accept it once, or trust
    the certificate in the browser).
    """
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Telesurgery development"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=DEV_CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    for directory in {cert_path.parent, key_path.parent}:
        directory.mkdir(parents=True, exist_ok=True)
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
