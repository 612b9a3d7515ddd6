"""The post-operative report: one self-contained HTML file built from a recording.

Sections: a summary table (with the seconds of recorded voice and who spoke), the damage found
in the file (if any), latency components over time against the warn/stop thresholds, command rate
with drops and rejections, tracking error between the commanded and the measured tool pose, a
timeline of state changes, alarms, e-stops and control changes, and endoscope thumbnails decoded
(PyAV) at the key events. Figures are matplotlib PNGs embedded as base64, so the file can be
archived or mailed as it is.
"""

from __future__ import annotations

import base64
import bisect
import html
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from telesurgery.record import channels as ch
from telesurgery.record.reader import RecordedMessage, Recording, read_recording
from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw, rotation_angle_rad

KEY_EVENTS = (
    "Engaged",
    "Disengaged",
    "WatchdogHold",
    "LatencyAlarm",
    "EStopLatched",
    "EStopCleared",
    "ControllerChanged",
)
"""Event types that get a video thumbnail (the first ``max_thumbnails`` of them)."""

_DROP_EVENTS = (
    "CommandRejected",
    "StaleCommandDropped",
    "DuplicateCommandDropped",
    "OutOfOrderCommandDropped",
)
_TIMELINE_ROWS = {
    "ArmStateChanged": "arm state",
    "Engaged": "arm state",
    "Disengaged": "arm state",
    "WatchdogHold": "alarm",
    "LatencyAlarm": "alarm",
    "LatencyRecovered": "alarm",
    "EStopLatched": "e-stop",
    "EStopCleared": "e-stop",
    "EStopRefused": "e-stop",
    "ControllerChanged": "control",
    "EngageRefused": "control",
    "LimitClamped": "limit",
    "CommandRejected": "dropped",
    "StaleCommandDropped": "dropped",
}
_COLORS = {
    "arm state": "tab:blue",
    "alarm": "tab:orange",
    "e-stop": "tab:red",
    "control": "tab:purple",
    "limit": "tab:olive",
    "dropped": "tab:gray",
    "chat": "tab:green",
}


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """One decoded picture at a key event."""

    time_s: float
    """Time since the start of the recording [s]."""
    label: str
    """The event."""
    png: bytes
    """The picture."""


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(data_b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data_b64}">'


class _Timebase:
    def __init__(self, recording: Recording) -> None:
        span = recording.content_time_range_ns
        self.t0_ns = span[0] if span is not None else 0
        self.duration_s = 0.0 if span is None else (span[1] - span[0]) / 1e9

    def s(self, log_time_ns: int) -> float:
        return (log_time_ns - self.t0_ns) / 1e9

    def of_now(self, now_s: float) -> float:
        return now_s - self.t0_ns / 1e9


def _event_messages(recording: Recording) -> list[RecordedMessage]:
    return recording.topic(ch.SUPERVISOR_EVENTS)


def latency_figure(recording: Recording, tb: _Timebase) -> Figure:
    """RTT samples and latency component percentiles over time, with the thresholds."""
    fig = Figure(figsize=(11, 3.6))
    ax = fig.add_subplot()
    rtt = [
        (tb.of_now(i[2]), float(i[3]))
        for i in recording.items(ch.SUPERVISOR_INPUTS)
        if i[1] == "rtt"
    ]
    if rtt:
        t, v = zip(*rtt, strict=True)
        ax.plot(t, v, ".", ms=2, color="tab:blue", label="network RTT (samples)")
    snapshots = recording.topic(ch.LATENCY)
    keys = sorted({k for m in snapshots for k in m.data["values"] if k.endswith("_p99_ms")})
    for key in keys:
        points = [
            (tb.s(m.log_time_ns), m.data["values"][key])
            for m in snapshots
            if m.data["values"].get(key) is not None
        ]
        if points:
            t, v = zip(*points, strict=True)
            ax.plot(t, v, "-o", ms=3, label=key.replace("_", " "))
    session = recording.session
    if session is not None:
        latency = session.safety.latency
        ax.axhline(latency.warn_ms, color="tab:orange", ls="--", label=f"warn {latency.warn_ms} ms")
        ax.axhline(latency.stop_ms, color="tab:red", ls="--", label=f"stop {latency.stop_ms} ms")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("latency [ms]")
    ax.set_xlim(0, max(tb.duration_s, 1e-3))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # an empty recording has nothing to label
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    ax.set_title("Latency components")
    return fig


def command_rate_figure(recording: Recording, tb: _Timebase) -> Figure:
    """Commands received per second per arm, and dropped or rejected commands per second."""
    fig = Figure(figsize=(11, 3.2))
    ax = fig.add_subplot()
    bins = np.arange(0.0, math.floor(tb.duration_s) + 2.0, 1.0)
    by_arm: dict[str, list[float]] = {}
    for item in recording.items(ch.COMMANDS_RECEIVED):
        by_arm.setdefault(str(item["arm"]), []).append(tb.of_now(item["now_s"]))
    for arm, times in sorted(by_arm.items()):
        counts, _ = np.histogram(times, bins)
        ax.stairs(counts, bins, label=f"{arm} received [1/s]")
    drops: list[float] = []
    weights: list[float] = []
    for m in _event_messages(recording):
        if m.data["type"] in _DROP_EVENTS:
            drops.append(tb.s(m.log_time_ns))
            weights.append(1.0 + float(m.data["fields"].get("suppressed", 0)))
    if drops:
        counts, _ = np.histogram(drops, bins, weights=weights)
        ax_drops = ax.twinx()
        ax_drops.bar(
            bins[:-1],
            counts,
            width=1.0,
            align="edge",
            color="tab:red",
            alpha=0.4,
            label="dropped / rejected by the supervisor [1/s]",
        )
        ax_drops.set_ylabel("dropped / rejected per second", color="tab:red")
        ax_drops.legend(loc="lower left", fontsize=7)
    recorder_drops = _recorder_drops(recording)
    title = "Command rate and drops"
    if recorder_drops:
        title += f" (recorder dropped {sum(recorder_drops.values())} calls: {recorder_drops})"
    ax.set_title(title)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("commands per second")
    ax.set_xlim(0, max(tb.duration_s, 1e-3))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # an empty recording has nothing to label
        ax.legend(loc="lower right", fontsize=7)
    return fig


def tracking_errors(
    recording: Recording, arm: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(log times [ns], position error [mm], orientation error [deg]) of ``arm``: each measured
    tool pose against the latest command received for that arm before it."""
    commands = [
        i
        for i in recording.items(ch.COMMANDS_RECEIVED)
        if i["arm"] == arm and i["position_m"] is not None and i["quat_xyzw"] is not None
    ]
    measured = recording.topic(ch.measured_cp_topic(arm))
    if not commands or not measured:
        empty = np.zeros(0)
        return empty, empty, empty
    command_times = np.array([round(i["now_s"] * 1e9) for i in commands])
    times, position_mm, angle_deg = [], [], []
    for m in measured:
        i = int(np.searchsorted(command_times, m.log_time_ns, side="right")) - 1
        if i < 0:
            continue
        cmd = commands[i]
        pose = m.data["pose"]
        p = pose["position"]
        o = pose["orientation"]
        dp = np.array([p["x"], p["y"], p["z"]]) - np.array(cmd["position_m"])
        R_meas = matrix_from_quat_xyzw(np.array([o["x"], o["y"], o["z"], o["w"]]))
        R_cmd = matrix_from_quat_xyzw(np.array(cmd["quat_xyzw"], dtype=np.float64))
        times.append(m.log_time_ns)
        position_mm.append(float(np.linalg.norm(dp)) * 1000.0)
        angle_deg.append(math.degrees(rotation_angle_rad(R_meas, R_cmd)))
    return np.array(times), np.array(position_mm), np.array(angle_deg)


def tracking_figure(recording: Recording, tb: _Timebase, arms: Sequence[str]) -> Figure:
    """Position and orientation tracking error per arm."""
    fig = Figure(figsize=(11, 3.6))
    ax_p = fig.add_subplot(1, 2, 1)
    ax_r = fig.add_subplot(1, 2, 2)
    for arm in arms:
        t, p_mm, r_deg = tracking_errors(recording, arm)
        if len(t) == 0:
            continue
        seconds = (t - tb.t0_ns) / 1e9
        ax_p.plot(seconds, p_mm, lw=1, label=arm)
        ax_r.plot(seconds, r_deg, lw=1, label=arm)
    ax_p.set_title("Tracking error: position (commanded vs measured tip)")
    ax_p.set_ylabel("error [mm]")
    ax_r.set_title("Tracking error: orientation")
    ax_r.set_ylabel("error [deg]")
    for ax in (ax_p, ax_r):
        ax.set_xlabel("time [s]")
        ax.grid(alpha=0.3)
        ax.set_xlim(0, max(tb.duration_s, 1e-3))
        if ax.get_legend_handles_labels()[0]:  # an empty recording has nothing to label
            ax.legend(fontsize=7)
    return fig


def timeline_figure(recording: Recording, tb: _Timebase) -> Figure:
    """State changes, alarms, e-stops, control changes, limits, drops and chat on one axis."""
    fig = Figure(figsize=(11, 3.0))
    ax = fig.add_subplot()
    rows = list(dict.fromkeys([*_TIMELINE_ROWS.values(), "chat"]))
    for m in _event_messages(recording):
        row = _TIMELINE_ROWS.get(m.data["type"])
        if row is None:
            continue
        y = rows.index(row)
        ax.plot(tb.s(m.log_time_ns), y, "|", ms=14, mew=2, color=_COLORS[row])
        if m.data["type"] in KEY_EVENTS:
            ax.annotate(
                m.data["type"],
                (tb.s(m.log_time_ns), y),
                xytext=(2, 6),
                textcoords="offset points",
                fontsize=6,
                rotation=30,
            )
    for m in recording.topic(ch.CHAT):
        ax.plot(tb.s(m.log_time_ns), rows.index("chat"), "|", ms=14, mew=2, color=_COLORS["chat"])
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(0, max(tb.duration_s, 1e-3))
    ax.set_xlabel("time [s]")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Timeline")
    return fig


def thumbnails(
    recording: Recording, max_thumbnails: int = 8, width_px: int = 240
) -> list[Thumbnail]:
    """Pictures decoded at the first key events (from the last keyframe before each)."""
    video = recording.topic(ch.VIDEO)
    info = recording.topic(ch.VIDEO_INFO)
    session = recording.session
    if not video or session is None:
        return []
    tb = _Timebase(recording)
    frame_times = np.array([m.log_time_ns for m in video])
    keyframes = {m.log_time_ns for m in info if m.data["keyframe"]}
    key_index = [i for i, m in enumerate(video) if m.log_time_ns in keyframes]
    targets = [m for m in _event_messages(recording) if m.data["type"] in KEY_EVENTS]
    out: list[Thumbnail] = []
    for event in targets[:max_thumbnails]:
        i = int(np.searchsorted(frame_times, event.log_time_ns, side="right")) - 1
        starts = [k for k in key_index if k <= i]
        if i < 0 or not starts:
            continue
        picture = _decode_until(video, starts[-1], i, session.video_codec)
        if picture is None:
            continue
        image = picture.to_image()  # type: ignore[no-untyped-call]
        height = round(image.height * width_px / image.width)
        buffer = io.BytesIO()
        image.resize((width_px, height)).save(buffer, format="PNG")
        label = f"{event.data['type']} {event.data['fields'].get('arm', '')}".strip()
        out.append(Thumbnail(tb.s(event.log_time_ns), label, buffer.getvalue()))
    return out


def load_for_report(path: str | Path, max_thumbnails: int = 8) -> Recording:
    """Read ``path`` for :func:`build_report` without holding its whole video in memory: every
    topic but the video and the voice's audio first (``/voice/mix/info`` says how much voice
    there is and who spoke), then only the video from the keyframe before each key event up to
    the event (what the thumbnails decode)."""
    recording = read_recording(path, keep=lambda topic, _: topic not in (ch.VIDEO, ch.VOICE_MIX))
    key_times = sorted(m.log_time_ns for m in recording.topic(ch.VIDEO_INFO) if m.data["keyframe"])
    windows: list[tuple[int, int]] = []
    events = [m for m in _event_messages(recording) if m.data["type"] in KEY_EVENTS]
    for event in events[:max_thumbnails]:
        k = bisect.bisect_right(key_times, event.log_time_ns) - 1
        if k >= 0:
            windows.append((key_times[k], event.log_time_ns))

    def keep(topic: str, log_time_ns: int) -> bool:
        return any(start <= log_time_ns <= end for start, end in windows)

    if windows:
        video = read_recording(path, topics=[ch.VIDEO], keep=keep)
        recording.messages[ch.VIDEO] = video.topic(ch.VIDEO)
    return recording


def _decode_until(
    video: list[RecordedMessage], start: int, end: int, codec: str
) -> av.VideoFrame | None:
    context: Any = av.CodecContext.create(codec, "r")
    last: av.VideoFrame | None = None
    for message in video[start : end + 1]:
        packet = av.Packet(base64.b64decode(message.data["data"]))
        try:
            for frame in context.decode(packet):
                last = frame
        except av.error.InvalidDataError:
            continue
    return last


def _recorder_drops(recording: Recording) -> dict[str, int]:
    stats = recording.topic(ch.RECORDER_STATS)
    return dict(stats[-1].data["dropped"]) if stats else {}


def voice_summary(recording: Recording) -> str:
    """Seconds of recorded voice and each speaker's speaking time, longest first, from
    ``/voice/mix/info`` (silence is not recorded: this is time with someone in the mix)."""
    info = recording.topic(ch.VOICE_MIX_INFO)
    if not info:
        return "none"
    total_s = sum(float(m.data["duration_s"]) for m in info)
    speaking: dict[str, float] = {}
    for m in info:
        for speaker in m.data["speakers"]:
            console = str(speaker["console_id"])
            speaking[console] = speaking.get(console, 0.0) + float(speaker["speaking_s"])
    most = sorted(speaking.items(), key=lambda kv: -kv[1])
    who = ", ".join(f"{console} {seconds:.1f} s" for console, seconds in most)
    return f"{total_s:.1f} s; speakers: {who or 'none above the speaking threshold'}"


def _percentiles(values: NDArray[np.float64]) -> str:
    if len(values) == 0:
        return "n/a"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:.2f} / p99 {p99:.2f} / max {values.max():.2f}"


def summary_rows(recording: Recording) -> list[tuple[str, str]]:
    """The summary table as (name, value) rows."""
    tb = _Timebase(recording)
    session = recording.session
    events = Counter(m.data["type"] for m in _event_messages(recording))
    inputs = recording.items(ch.SUPERVISOR_INPUTS)
    rtt = np.array([float(i[3]) for i in inputs if i[1] == "rtt"])
    ticks = sum(1 for i in inputs if i[1] == "tick")
    minutes = max(tb.duration_s / 60.0, 1e-9)
    size_mb = recording.size_bytes / 1e6
    rows = [
        ("operation", session.operation_id if session is not None else "(session lost)"),
        ("file", str(recording.path)),
        ("duration", f"{tb.duration_s:.1f} s"),
        (
            "file size",
            f"{size_mb:.2f} MB ({size_mb / minutes:.1f} MB/min)",
        ),
        ("closed cleanly", "yes" if recording.complete else "no (recorder did not stop)"),
        ("damaged parts", str(len(recording.damages))),
        ("commands received", str(len(recording.items(ch.COMMANDS_RECEIVED)))),
        ("servo ticks", str(ticks)),
        ("video frames", str(len(recording.topic(ch.VIDEO_INFO)))),  # load_for_report trims VIDEO
        ("voice recorded", voice_summary(recording)),
        ("network RTT [ms]", _percentiles(rtt)),
        ("e-stops", str(events.get("EStopLatched", 0))),
        ("latency alarms", str(events.get("LatencyAlarm", 0))),
        ("watchdog holds", str(events.get("WatchdogHold", 0))),
        ("control changes", str(events.get("ControllerChanged", 0))),
        ("limit clamps (events)", str(events.get("LimitClamped", 0))),
        ("rejected / dropped commands (events)", str(sum(events.get(k, 0) for k in _DROP_EVENTS))),
        ("recorder drops", str(_recorder_drops(recording) or 0)),
    ]
    if session is not None:
        for arm in session.safety.arms:
            _, p_mm, r_deg = tracking_errors(recording, arm)
            if len(p_mm):
                rows.append((f"{arm} tracking error [mm]", _percentiles(p_mm)))
                rows.append((f"{arm} tracking error [deg]", _percentiles(r_deg)))
    return rows


_CSS = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 24px;
       color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 4px 10px; text-align: left; }
th { background: #f3f3f3; }
.damage { background: #fff3f0; border-left: 4px solid #c0392b; padding: 8px 12px; }
.thumbs { display: flex; flex-wrap: wrap; gap: 12px; }
.thumbs figure { margin: 0; font-size: 12px; text-align: center; }
img { max-width: 100%; }
"""


def build_report(recording: Recording, *, max_thumbnails: int = 8) -> str:
    """The report of ``recording`` as one HTML document."""
    tb = _Timebase(recording)
    session = recording.session
    arms = list(session.safety.arms) if session is not None else []
    title = f"Post-operative report - {session.operation_id if session else recording.path.name}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<h2>Summary</h2><table>",
    ]
    parts += [
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in summary_rows(recording)
    ]
    parts.append("</table>")
    if recording.damages:
        parts.append(
            '<h2>Damage</h2><div class="damage"><p>Parts of this recording are '
            "damaged; everything below uses only the intact parts.</p><ul>"
        )
        parts += [f"<li>{html.escape(str(d))}</li>" for d in recording.damages]
        parts.append("</ul></div>")
    parts.append("<h2>Latency</h2>" + _img(_png(latency_figure(recording, tb)), "latency"))
    parts.append(
        "<h2>Commands</h2>" + _img(_png(command_rate_figure(recording, tb)), "command rate")
    )
    parts.append(
        "<h2>Tracking</h2>" + _img(_png(tracking_figure(recording, tb, arms)), "tracking error")
    )
    parts.append("<h2>Timeline</h2>" + _img(_png(timeline_figure(recording, tb)), "timeline"))
    thumbs = thumbnails(recording, max_thumbnails)
    parts.append("<h2>Endoscope at key events</h2>")
    if thumbs:
        parts.append('<div class="thumbs">')
        for thumb in thumbs:
            data = base64.b64encode(thumb.png).decode("ascii")
            caption = f"{thumb.time_s:.2f} s - {thumb.label}"
            parts.append(
                f"<figure>{_img(data, caption)}<figcaption>{html.escape(caption)}"
                "</figcaption></figure>"
            )
        parts.append("</div>")
    else:
        parts.append("<p>No video at the key events.</p>")
    parts.append(_event_table(recording, tb))
    parts.append("</body></html>")
    return "\n".join(parts)


def _event_table(recording: Recording, tb: _Timebase, limit: int = 200) -> str:
    rows: list[tuple[float, str, str]] = []
    for m in recording.topic(ch.LOG):
        level = int(m.data["level"])
        if level >= ch.LOG_WARNING or m.data["name"] in ("operation", "chat", "safety"):
            rows.append((tb.s(m.log_time_ns), _LEVELS.get(level, str(level)), m.data["message"]))
    out = [
        "<h2>Events, alarms, e-stops, control and chat</h2><table>",
        "<tr><th>time [s]</th><th>level</th><th>what</th></tr>",
    ]
    out += [
        f"<tr><td>{t:.3f}</td><td>{html.escape(lv)}</td><td>{html.escape(text)}</td></tr>"
        for t, lv, text in rows[:limit]
    ]
    out.append("</table>")
    if len(rows) > limit:
        out.append(f"<p>{len(rows) - limit} more entries are in the recording's /log channel.</p>")
    return "\n".join(out)


_LEVELS: dict[int, str] = {1: "debug", 2: "info", 3: "warning", 4: "error"}
