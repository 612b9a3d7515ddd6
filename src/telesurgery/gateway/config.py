"""Configuration of the patient-side gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.voice import VoiceConfig
from telesurgery.media.encoder import EncoderConfig
from telesurgery.media.playout_delay import PlayoutDelay
from telesurgery.scheduling import check_realtime_priority


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
    """Robot state messages per second sent to each console that may operate (every role but
    observer)."""
    observer_state_rate_hz: float = 30.0
    """Robot state messages per second sent to each observer (at most ``state_rate_hz``: every
    n-th message). An observer's view (HUD, arm states, who controls what) needs no more than
    the video's frame rate, and every state message costs the gateway's event loop per peer:
    twenty observers at the surgeons' rate would be ~2500 more messages a second."""
    observer_relay: bool = True
    """Serve observers from the observer relay, a process of its own at a lower CPU priority
    (:mod:`telesurgery.gateway.observer_relay`), so that they do not take the surgeons' CPU;
    False (or observers allowed to hear the voice) serves them in the gateway's event loop."""
    observer_relay_niceness: int = 10
    """Niceness the relay process adds to its own (0..19)."""
    switch_interval_s: float | None = 0.0005
    """``sys.setswitchinterval`` of the gateway process while it runs (restored at stop). The
    event loop shares the GIL with the video encoder's thread and the executors (Opus, argon2):
    with Python's default 5 ms, a control message that arrives while one of them runs Python
    code can wait that long for the loop to get the GIL back. None leaves the interpreter's."""
    ping_interval_ms: float = 100.0
    """Gateway-initiated clock-sync pings per console [ms between pings]; also the interval the
    gateway asks each console that may operate to ping at (the offer's answer)."""
    observer_ping_interval_ms: float = 1000.0
    """The same for observers (every n-th ping round; at most as often as ``ping_interval_ms``).
    An observer moves nothing: its clock offset (the video age it sees) and round trip
    (presence's link colour) need no 10 Hz, while every ping and pong, both ways, is an SCTP
    packet to build or parse and a DTLS record to encrypt or decrypt on the event loop, per
    observer. Its link counts as lost after ``observer_link_lost_after_ms``."""
    max_message_bytes: int = 2048
    """Largest accepted data-channel message [bytes]."""
    max_control_rate_hz: float = 2000.0
    """Per-console control message rate limit [messages/s] (token bucket, burst 10 % of it)."""
    video: EncoderConfig = field(default_factory=EncoderConfig)
    """Shared video encoder settings."""
    video_encode_priority: int | None = 3
    """SCHED_FIFO priority of the shared encoder's thread (``FanoutConfig.realtime_priority``:
    below the cart's camera and servo loop); None keeps the default scheduler."""
    event_loop_priority: int | None = 4
    """SCHED_FIFO priority of the gateway's event loop thread while it runs (restored at stop;
    threads and processes it starts do not inherit it): below the cart's camera (5) and servo
    loop (10), above the encoder. The loop carries every console's WebRTC (ICE, DTLS, SCTP,
    SRTP) in Python: under the default scheduler a control message or a frame's packets wait
    behind the browser or anything else runnable on a loaded host. None keeps the default
    scheduler."""
    playout_delay: PlayoutDelay | None = field(default_factory=PlayoutDelay)
    """Playout delay asked of every browser's video receiver (the RTP playout-delay extension,
    :mod:`telesurgery.media.playout_delay`); the default (0, 50 ms) has Chromium decode each
    frame as soon as it is complete and show it at the next display interval. None leaves it to
    the browser's jitter buffer (smoother on a jittery link, ~20 ms later on a clean one)."""
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
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    """The consoles' voice conference (who hears whom, jitter queues)."""
    auth_db: str | None = None
    """Database URL of the operations, users and invitations: every console signs in with an
    invitation token of ``operation_id`` and gets the role the token grants. None: no
    authentication - the offer states its role (development and tests only; the gateway logs a
    warning and ``/status`` shows ``"auth": "none"``). ``telesurgery gateway`` authenticates
    unless given ``--no-auth``."""
    claim_free_arms: bool = True
    """A joining lead is given every free arm (as if it had requested them), a joining bedside
    takes them; False: every arm must be asked for on the events channel."""
    grant_timeout_ms: float = 10_000.0
    """Time the holder of an arm has to answer a handover request (then it is denied) [ms]."""
    link_lost_after_ms: float = 500.0
    """A console whose control channel stays silent this long has lost its link [ms]: its
    requests end, and its arms go to the bedside after the watchdog's ``disengage_after_ms``."""
    tls_cert: Path | None = None
    """PEM certificate (chain) of HTTPS for the console page, API and signalling; None: HTTP."""
    tls_key: Path | None = None
    """PEM private key of ``tls_cert``."""

    @property
    def observer_state_every(self) -> int:
        """Observers get every n-th state message (n >= 1) so that they see about
        ``observer_state_rate_hz``."""
        return max(1, round(self.state_rate_hz / self.observer_state_rate_hz))

    @property
    def observer_ping_every(self) -> int:
        """Observers are pinged every n-th ping round (n >= 1)."""
        return max(1, round(self.observer_ping_interval_ms / self.ping_interval_ms))

    @property
    def observer_link_lost_after_ms(self) -> float:
        """An observer's silence before its link counts as lost [ms]: ``link_lost_after_ms``, or
        two and a half observer ping intervals if longer (it is heard about twice per interval:
        its own ping and its pong to the gateway's)."""
        return max(self.link_lost_after_ms, 2.5 * self.observer_ping_interval_ms)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError("port", self.port, "0..65535")
        if not 1.0 <= self.state_rate_hz <= 1000.0:
            raise ConfigError("state_rate_hz", self.state_rate_hz, "1..1000")
        if self.switch_interval_s is not None and not 1e-5 <= self.switch_interval_s <= 0.1:
            raise ConfigError("switch_interval_s", self.switch_interval_s, "None or 1e-05..0.1")
        check_realtime_priority("event_loop_priority", self.event_loop_priority)
        if not 1.0 <= self.observer_state_rate_hz <= 1000.0:
            raise ConfigError("observer_state_rate_hz", self.observer_state_rate_hz, "1..1000")
        if not 0 <= self.observer_relay_niceness <= 19:
            raise ConfigError("observer_relay_niceness", self.observer_relay_niceness, "0..19")
        if not 10.0 <= self.ping_interval_ms <= 10_000.0:
            raise ConfigError("ping_interval_ms", self.ping_interval_ms, "10..10000")
        if not 10.0 <= self.observer_ping_interval_ms <= 10_000.0:
            raise ConfigError(
                "observer_ping_interval_ms", self.observer_ping_interval_ms, "10..10000"
            )
        if not 64 <= self.max_message_bytes <= 65536:
            raise ConfigError("max_message_bytes", self.max_message_bytes, "64..65536")
        if not 10.0 <= self.max_control_rate_hz <= 100_000.0:
            raise ConfigError("max_control_rate_hz", self.max_control_rate_hz, "10..100000")
        if not 100.0 <= self.grant_timeout_ms <= 600_000.0:
            raise ConfigError("grant_timeout_ms", self.grant_timeout_ms, "100..600000")
        if not 100.0 <= self.link_lost_after_ms <= 60_000.0:
            raise ConfigError("link_lost_after_ms", self.link_lost_after_ms, "100..60000")
        check_realtime_priority("video_encode_priority", self.video_encode_priority)
        if self.playout_delay is not None and not isinstance(self.playout_delay, PlayoutDelay):
            raise ConfigError(
                "playout_delay", self.playout_delay, "None or a PlayoutDelay(min_ms, max_ms)"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(
                "tls_cert/tls_key", (self.tls_cert, self.tls_key), "both set (HTTPS) or neither"
            )
        if self.auth_db is not None and not self.operation_id:
            raise ConfigError(
                "operation_id", self.operation_id, "the id of the operation (op_...) to sign in to"
            )
