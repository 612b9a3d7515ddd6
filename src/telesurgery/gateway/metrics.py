"""Prometheus metrics of one gateway, in a registry the gateway owns (no module globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS_MS = (
    0.5,
    1,
    2,
    5,
    10,
    20,
    30,
    50,
    75,
    100,
    135,
    150,
    200,
    250,
    300,
    400,
    600,
    1000,
)


class GatewayMetrics:
    """Every metric the gateway exports on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.peers = Gauge("telesurgery_peers", "Connected console peers", registry=r)
        self.control_messages = Counter(
            "telesurgery_control_messages_total",
            "Control-channel messages received, by outcome",
            ["outcome"],
            registry=r,
        )
        self.rejected_messages = Counter(
            "telesurgery_rejected_messages_total",
            "Messages rejected by the gateway before the supervisor, by reason",
            ["reason"],
            registry=r,
        )
        self.supervisor_events = Counter(
            "telesurgery_supervisor_events_total",
            "Safety supervisor events, by type",
            ["event"],
            registry=r,
        )
        self.latency_ms = Histogram(
            "telesurgery_latency_ms",
            "Latency components [ms]",
            ["component"],
            buckets=_LATENCY_BUCKETS_MS,
            registry=r,
        )
        self.latency_p50_ms = Gauge(
            "telesurgery_latency_p50_ms", "Rolling median latency [ms]", ["component"], registry=r
        )
        self.latency_p99_ms = Gauge(
            "telesurgery_latency_p99_ms", "Rolling p99 latency [ms]", ["component"], registry=r
        )
        self.console_latency_p50_ms = Gauge(
            "telesurgery_console_latency_p50_ms",
            "Latency measured and reported by each console (glass-to-glass, motion-to-photon) [ms]",
            ["console", "component"],
            registry=r,
        )
        self.console_latency_p99_ms = Gauge(
            "telesurgery_console_latency_p99_ms",
            "p99 of the latency reported by each console [ms]",
            ["console", "component"],
            registry=r,
        )
        self.servo_period_p99_ms = Gauge(
            "telesurgery_servo_period_p99_ms", "Servo loop period p99 [ms]", registry=r
        )
        self.servo_overruns = Gauge(
            "telesurgery_servo_overruns", "Servo loop overruns since start", registry=r
        )
        self.video_frames_encoded = Gauge(
            "telesurgery_video_frames_encoded",
            "Video frames encoded (once for all peers)",
            registry=r,
        )
        self.video_bitrate_bps = Gauge(
            "telesurgery_video_target_bitrate_bps", "Video encoder target bitrate", registry=r
        )
        self.state_messages_sent = Counter(
            "telesurgery_state_messages_sent_total", "Robot state messages sent", registry=r
        )

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)
