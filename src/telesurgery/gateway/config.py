"""Configuration of the patient-side gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from telesurgery.exceptions import ConfigError
from telesurgery.media.encoder import EncoderConfig


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything ``telesurgery gateway`` needs; each field is a CLI flag."""

    host: str = "127.0.0.1"
    """Address the HTTP API and signalling listen on."""
    port: int = 8080
    """TCP port of the HTTP API and signalling (0 picks a free port)."""
    link: str = "none"
    """Link emulation applied to every peer: "none" (real network only), a profile name
    (lan, 5g-regional, rome-beijing-dedicated, rome-beijing-internet, geo-satellite) or a
    custom spec such as ``delay=67.5ms,jitter=2ms,loss=0.01%``."""
    link_seed: int = 1
    """Seed of the link emulator's random numbers (reproducible runs)."""
    state_rate_hz: float = 125.0
    """Robot state messages per second sent to each console."""
    ping_interval_ms: float = 100.0
    """Gateway-initiated clock-sync pings per console [ms between pings]."""
    max_message_bytes: int = 2048
    """Largest accepted data-channel message [bytes]."""
    max_control_rate_hz: float = 2000.0
    """Per-console control message rate limit [messages/s] (token bucket, burst 10 % of it)."""
    video: EncoderConfig = field(default_factory=EncoderConfig)
    """Shared video encoder settings."""
    record_dir: Path | None = None
    """Where each operation's MCAP recording is written (``operation-<UTC time>.mcap``);
    None records nothing (the ``telesurgery gateway`` command records by default)."""
    audit_db: str | None = None
    """Database URL of the audit trail (control changes, alarms, e-stops, participants); None
    keeps no trail (the ``telesurgery gateway`` command uses the site database by default)."""
    operation_id: str = ""
    """The operation this gateway serves (recorded, and the audit trail's key)."""
    ice_servers: tuple[str, ...] = ()
    """STUN/TURN URLs; none by default (no public STUN reachable from an operating room LAN)."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("port", self.port, "0..65535")
        if not 1.0 <= self.state_rate_hz <= 1000.0:
            raise ConfigError("state_rate_hz", self.state_rate_hz, "1..1000")
        if not 10.0 <= self.ping_interval_ms <= 10_000.0:
            raise ConfigError("ping_interval_ms", self.ping_interval_ms, "10..10000")
        if not 64 <= self.max_message_bytes <= 65536:
            raise ConfigError("max_message_bytes", self.max_message_bytes, "64..65536")
        if not 10.0 <= self.max_control_rate_hz <= 100_000.0:
            raise ConfigError("max_control_rate_hz", self.max_control_rate_hz, "10..100000")
