"""The browser surgeon console in real Chromium against an in-process gateway (MuJoCo cart).

One gateway, one browser and one console page serve the whole module (each connection costs a
WebRTC handshake and an encoder warm-up); the tests run in file order and each leaves the console
released. Screenshots of every state go to ``artifacts/screenshots/``.

The gateway runs with relaxed latency thresholds and command-age limit, 100 Hz state and a 15 fps
camera, and the page with a 400 ms input-gap limit: the test machine is shared and loaded (with
the servo loop and rendering on the same 2 cores the page's sample loop has periods over 100 ms
during a drag; CI saw 101-122 ms gaps in 5 of 5 trials), and the latency policy and the input-gap
restart have their own deterministic tests (``tests/test_safety_latency.py``,
``tests/test_teleop_tremor.py``); the watchdog keeps its real 100 ms / 1000 ms deadlines.
``bench/browser.py`` measures the full-rate path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pytest
import pytest_asyncio

from browser_support import (
    chromium,
    chromium_available,
    eventually,
    open_console,
    running_gateway,
    screenshot,
    snapshot,
    wait_for,
    wait_for_page,
)
from telesurgery.gateway.app import Gateway
from telesurgery.gateway.config import GatewayConfig
from telesurgery.media.playout_delay import PLAYOUT_DELAY_URI
from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw
from telesurgery.safety.config import LatencyConfig, SafetyConfig
from telesurgery.safety.state import ArmState

pytestmark = [
    pytest.mark.browser,
    pytest.mark.sim,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium and playwright"),
    pytest.mark.asyncio(loop_scope="module"),
]

T = TypeVar("T")
MOUSE_M_PER_PX = 1e-4  # console/web/js/input/mouse.js
INPUT_GAP_MS = 400  # the page's tremor.max_input_gap_s (default 100 ms), see the module docstring
RATIO = 3.0  # the console's default scaling, 3:1


class Console:
    """The page and the gateway it drives."""

    def __init__(self, page: Any, gateway: Gateway) -> None:
        self.page = page
        self.gateway = gateway
        self._still: dict[str, Any] | None = None  # the page at the end of a trial's window

    def arm_sample(self, arm: str) -> Any:
        assert self.gateway.sampler is not None
        return next(s for s in self.gateway.sampler.latest if s.arm == arm)

    def supervisor(self, arm: str) -> ArmState:
        state: ArmState = self.arm_sample(arm).supervisor_state
        return state

    def q_setpoint(self, arm: str) -> np.ndarray:
        return np.array(self.arm_sample(arm).q_setpoint, dtype=np.float64)

    async def geometry(self) -> dict[str, Any]:
        """Tool setpoint (RCM frame), camera pose and RCM pose from the page's latest state."""
        data: dict[str, Any] = await self.page.evaluate(
            """() => {
                const app = window.consoleApp;
                const g = app.session.geometry;
                const arms = app.connection.latestState.arms.map((a) => ({
                    arm: a.arm, p: a.setpoint_position_m, q: a.measured_quat_xyzw,
                    pm: a.measured_position_m}));
                return {T_world_rcm: g.T_world_rcm, arms};
            }"""
        )
        return data

    async def tool_in_camera(self, arm: str = "PSM1") -> np.ndarray:
        """The tool's setpoint position expressed in the endoscope's camera frame [m]."""
        data = await self.geometry()
        arms = {a["arm"]: a for a in data["arms"]}
        T_world_ecm_rcm = np.array(data["T_world_rcm"]["ECM"])
        T_rcm_cam = np.eye(4)
        T_rcm_cam[:3, :3] = matrix_from_quat_xyzw(np.array(arms["ECM"]["q"]))
        T_rcm_cam[:3, 3] = arms["ECM"]["pm"]
        T_world_camera = T_world_ecm_rcm @ T_rcm_cam
        p_world = np.array(data["T_world_rcm"][arm]) @ np.array([*arms[arm]["p"], 1.0])
        p_camera: np.ndarray = (np.linalg.inv(T_world_camera) @ p_world)[:3]
        return p_camera

    async def ensure_connected(self) -> None:
        """Reload the console if the shared machine's load made its connection fail."""
        page = await snapshot(self.page)
        if page["phase"] == "connected" and not any(
            a["key"] == "connection" for a in page["alarms"]
        ):
            return
        await self.page.reload()
        await wait_for_page(self.page, "window.consoleApp?.phase === 'connected'", 20.0)

    async def link_alarm_cleared(self) -> None:
        """Wait until the page has cleared its LINK LOST alarm (after the link came back)."""
        await wait_for_page(
            self.page,
            "!window.consoleApp.snapshot().alarms.some((a) => a.key === 'link')",
            10.0,
        )

    def events_since(self, start: int) -> list[dict[str, Any]]:
        """The gateway's logged events from index ``start`` on, cut to what a failure shows."""
        return [
            {k: v for k, v in e.items() if k in ("event", "arm", "cause", "reason", "detail")}
            for e in list(self.gateway.event_log)[start:]
        ]

    async def engage(self, arm: str = "PSM1") -> None:
        await self.ensure_connected()
        if not (await snapshot(self.page))["engaged"]:
            await self.page.keyboard.press("Enter")
        try:
            await wait_for(lambda: self.supervisor(arm) is ArmState.FOLLOWING, 15.0)
        except AssertionError:
            recent = self.events_since(-12)
            page = await snapshot(self.page)
            pytest.fail(f"{arm} not following: {recent}; page: {page['teleop']}, {page['alarms']}")

    async def release(self) -> None:
        if (await snapshot(self.page))["engaged"]:
            await self.page.keyboard.press("Enter")

    def supervisor_events_since(self, index: int) -> list[str]:
        """Names of the events after ``index`` that end a following period.

        A watchdog hold that resumes loses nothing (targets are absolute: the arm goes on to the
        latest one); a disengage drops the motion made until the next engage.
        """
        return [
            e["event"]
            for e in list(self.gateway.event_log)[index:]
            if e["event"] in ("Disengaged", "EngageRefused")
        ]

    async def undisturbed(self, attempt: Callable[[], Awaitable[T]], tries: int = 5) -> T:
        """Run a motion trial until one is not interrupted by the watchdog or a page stall.

        The machine is shared: a stall of the gateway's event loop longer than 100 ms makes the
        supervisor hold (correctly), a stall beyond 1 s disengages the arm, and a stall of the page
        longer than the page's input-gap limit (``INPUT_GAP_MS``) re-anchors the mapping (spec
        section 4: the hand motion made during the gap is not applied). None of these is what
        the trials measure; a disturbed trial is repeated and the mapping is checked on an
        undisturbed one.

        Page stalls count until the trial calls :meth:`hand_still` (if it does): once the hand has
        stopped and the tremor filter has settled, a restart of the filter moves the target by
        its remaining ringing only (< 0.1 mm of hand motion 0.3 s after a 30 mm drag).
        """
        disturbances: list[list[str]] = []
        for _ in range(tries):
            await self.engage()
            await asyncio.sleep(0.3)
            start = len(self.gateway.event_log)
            before = await snapshot(self.page)
            self._still = None
            result = await attempt()
            events = self.supervisor_events_since(start)
            after = self._still if self._still is not None else await snapshot(self.page)
            if after["input_gaps"] > before["input_gaps"]:
                events.append(
                    f"console input gap of {after['last_input_gap_ms']:.0f} ms > {INPUT_GAP_MS} ms "
                    f"(page sample loop's longest period so far "
                    f"{after['max_tick_interval_ms']:.0f} ms, before the trial "
                    f"{before['max_tick_interval_ms']:.0f} ms)"
                )
            if not events:
                return result
            disturbances.append(events)
        pytest.fail(f"every trial was interrupted by the supervisor: {disturbances}")

    async def hand_still(self, settle_s: float = 0.3) -> None:
        """Wait until the tremor filter has settled after the hand stopped, and mark the end of
        the trial's window for page stalls (see :meth:`undisturbed`)."""
        await asyncio.sleep(settle_s)
        self._still = await snapshot(self.page)

    async def drag(self, dx_px: int, dy_px: int, steps: int = 40, period_s: float = 0.015) -> None:
        """A smooth mouse drag over the video (steps x period), as a hand would make it."""
        mouse = self.page.mouse
        x0, y0 = 640.0, 360.0
        await mouse.move(x0, y0)
        await mouse.down()
        for i in range(1, steps + 1):
            await mouse.move(x0 + dx_px * i / steps, y0 + dy_px * i / steps)
            await asyncio.sleep(period_s)
        await mouse.up()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console() -> AsyncIterator[Console]:
    safety = SafetyConfig(
        latency=LatencyConfig(warn_ms=2000.0, stop_ms=5000.0), max_command_age_ms=2000.0
    )
    async with (
        running_gateway(
            GatewayConfig(port=0, link="lan", state_rate_hz=100.0),
            safety_config=safety,
        ) as (url, gw),
        chromium() as browser,
    ):
        page = await open_console(
            browser,
            url,
            "console_id=rome-lead&role=lead&adaptive=off&control_hz=125"
            f"&input_gap_ms={INPUT_GAP_MS}",
        )
        yield Console(page, gw)
        assert page.errors == []


async def test_console_connects_and_video_frames_advance(console: Console) -> None:
    page = console.page
    await wait_for_page(page, "window.consoleApp.snapshot().video.stamps_read >= 5", 20.0)
    first = await snapshot(page)
    await asyncio.sleep(1.0)
    later = await snapshot(page)
    assert later["video"]["frame_number"] > first["video"]["frame_number"]
    assert later["video"]["stamps_read"] >= first["video"]["stamps_read"] + 5
    # robot state streams (200 Hz nominal; a loaded shared machine delivers less)
    assert later["states_received"] - first["states_received"] >= 50
    assert later["pings_answered"] > first["pings_answered"]  # the gateway's clock sync works
    assert later["g2g_ms"] is not None and 0.0 < later["g2g_ms"] < 2000.0
    # Chromium reports each frame's receive time: the browser's share is part of the whole
    receive_to_display = later["video"]["receive_to_display_ms"]
    assert receive_to_display is not None and 0.0 < receive_to_display < later["g2g_ms"]
    assert later["rtt_ms"] is not None and later["rtt_ms"] > 0.0
    assert {a["arm"] for a in later["arms"]} == {"PSM1", "PSM2", "ECM"}
    assert all(a["controller"] == "rome-lead" for a in later["arms"])
    assert later["protocol_errors"] == 0
    # the stamps are read from the decoded frame's Y plane, not through a canvas (Chromium
    # decodes in software here and exposes the planes)
    assert later["video"]["stamp_source"] == "y-plane"
    await wait_for_page(page, "window.consoleApp.snapshot().video.bitrate_bps > 0", 5.0)
    await screenshot(page, "console_connected")


async def test_the_browser_shows_frames_with_a_low_latency_playout_delay(console: Console) -> None:
    """The gateway's answer carries the playout-delay extension (min 0, max 50 ms): Chromium
    hands each frame to its decoder as soon as it is complete, without the jitter-buffer delay
    it otherwise keeps (7-9 ms per frame measured here without the extension, 0.3 ms with it)."""
    page = console.page
    answer = await page.evaluate("() => window.consoleApp.connection.pc.remoteDescription.sdp")
    assert re.search(r"a=extmap:\d+ " + re.escape(PLAYOUT_DELAY_URI), answer)
    await wait_for_page(page, "window.consoleApp.snapshot().video.stamps_read >= 30", 20.0)
    read_stats = """async () => {
        const stats = await window.consoleApp.connection.pc.getStats(); let video = null;
        stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") video = s; });
        return [video.jitterBufferDelay, video.jitterBufferEmittedCount];
    }"""
    delay_s, frames = await page.evaluate(read_stats)
    await asyncio.sleep(3.0)
    later_delay_s, later_frames = await page.evaluate(read_stats)
    assert later_frames - frames >= 30
    per_frame_ms = 1000.0 * (later_delay_s - delay_s) / (later_frames - frames)
    assert per_frame_ms < 3.0, f"{per_frame_ms:.2f} ms per frame in Chromium's jitter buffer"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("input_gap_ms=5", "invalid input_gap_ms=5: valid is 10..1000"),
        (
            "input_gap_ms=20&control_hz=120",
            "invalid input_gap_ms=20: valid is 25..1000 (at least 3 sample periods at "
            "control_hz=120)",
        ),
        ("control_hz=50", "invalid control_hz=50: valid is 120..1000"),
    ],
)
async def test_a_bad_page_option_is_refused_with_the_valid_values(
    console: Console, query: str, message: str
) -> None:
    url = console.page.url.split("?")[0]
    page = await console.page.context.browser.new_page()
    try:
        await page.goto(f"{url}?console_id=typo&{query}")
        await wait_for_page(page, "!document.querySelector('#banner').hidden", 10.0)
        assert await page.inner_text("#banner") == message
        assert not any(p.console_id == "typo" for p in console.gateway.peers.values())
    finally:
        await page.close()


async def test_mouse_drag_right_moves_tool_right_in_the_image(console: Console) -> None:
    async def trial() -> tuple[np.ndarray, np.ndarray]:
        before = await console.tool_in_camera()
        await console.drag(300, 0)  # 300 px = 30 mm of hand motion to the right
        await console.hand_still()
        await asyncio.sleep(1.2)  # the rest of the filter's ringing and the trajectory settle
        return before, await console.tool_in_camera()

    before, after = await console.undisturbed(trial)
    status = (await snapshot(console.page))["teleop"]
    assert status["state"] == "FOLLOWING" and status["scale"] == pytest.approx(1 / RATIO)
    delta = after - before
    expected = 300 * MOUSE_M_PER_PX / RATIO  # 10 mm at 3:1
    assert delta[0] == pytest.approx(expected, abs=0.0005), delta  # right in the image
    assert abs(delta[1]) < 0.0002 and abs(delta[2]) < 0.0002, delta
    # ... so its projection moves right in the picture (pinhole: u = f x / z + c)
    assert after[0] / after[2] > before[0] / before[2]
    await screenshot(console.page, "console_following")


async def test_keyboard_up_moves_tool_up_in_the_image(console: Console) -> None:
    master = "window.consoleApp.master.position"

    async def trial() -> tuple[np.ndarray, np.ndarray]:
        before = await console.tool_in_camera()
        hand_before = np.array(await console.page.evaluate(master))
        await console.page.keyboard.down("KeyR")  # hand up
        await asyncio.sleep(0.5)
        await console.page.keyboard.up("KeyR")
        await console.hand_still()
        await asyncio.sleep(1.2)
        hand = np.array(await console.page.evaluate(master)) - hand_before
        return await console.tool_in_camera() - before, hand

    delta, hand = await console.undisturbed(trial)
    # the hand went up (console +y) by 60 mm/s x the time the key was held ...
    assert 0.015 < hand[1] < 0.05 and abs(hand[0]) < 1e-12 and abs(hand[2]) < 1e-12, hand
    # ... and the tool went up on screen (camera -y) by a third of it
    assert delta[1] == pytest.approx(-hand[1] / RATIO, abs=0.0005), (delta, hand)
    assert abs(delta[0]) < 0.0002 and abs(delta[2]) < 0.0002, delta


async def test_clutch_prevents_motion(console: Console) -> None:
    await console.engage()
    await asyncio.sleep(0.5)
    p0 = await console.tool_in_camera()
    await console.page.keyboard.down("Space")
    await wait_for_page(console.page, "window.consoleApp.snapshot().clutch", 2.0)
    await console.drag(250, -150)  # would move the tool ~9.7 mm if it were not clutched
    await asyncio.sleep(0.3)
    await screenshot(console.page, "console_clutch")
    assert np.abs(await console.tool_in_camera() - p0).max() < 1e-4
    assert (await snapshot(console.page))["teleop"]["state"] == "CLUTCHED"
    await console.page.keyboard.up("Space")
    await asyncio.sleep(0.6)
    # released: re-anchored on the tool, so the hand's clutched motion never reaches the robot
    assert np.abs(await console.tool_in_camera() - p0).max() < 1e-4
    await console.engage()


async def test_release_disengages_at_once_without_alarm(console: Console) -> None:
    await console.engage()
    await asyncio.sleep(0.3)
    start = len(console.gateway.event_log)
    await console.page.keyboard.press("Enter")  # release: a DISENGAGE_REQUEST, then silence
    await wait_for(lambda: console.supervisor("PSM1") is ArmState.DISENGAGED, 0.8, "PSM1 released")

    def released_events() -> list[dict[str, Any]]:
        return [e for e in list(console.gateway.event_log)[start:] if e["event"] == "Disengaged"]

    # the state shows it first (shared memory); the event follows with the next update
    await wait_for(lambda: bool(released_events()), 1.0, "the release's Disengaged event")
    await asyncio.sleep(0.1)  # and nothing else comes after it
    log = list(console.gateway.event_log)[start:]
    events = [e["event"] for e in log]
    assert "WatchdogHold" not in events, events  # released, not timed out
    # one release of following, by this console; control stays with it (no handover records)
    released = [e for e in log if e["event"] == "Disengaged"]
    assert [(e["cause"], e["by_console_id"]) for e in released] == [
        ("operator_release", "rome-lead")
    ], log
    assert "ControllerChanged" not in events, events
    s = await snapshot(console.page)
    assert not s["engaged"]
    assert not any(a["key"].startswith("arm:") for a in s["alarms"]), s["alarms"]


async def test_link_cut_raises_alarm_and_robot_holds(console: Console) -> None:
    await console.engage()
    console.gateway.set_link_cut(True)
    try:
        await wait_for_page(
            console.page,
            "window.consoleApp.snapshot().alarms.some((a) => a.key === 'link')",
            5.0,
        )
        await wait_for(
            lambda: console.supervisor("PSM1") in (ArmState.HOLDING, ArmState.DISENGAGED),
            5.0,
            "PSM1 held by the watchdog",
        )
        held = console.q_setpoint("PSM1")
        await asyncio.sleep(0.4)
        assert np.allclose(console.q_setpoint("PSM1"), held, atol=1e-9)
        assert (await snapshot(console.page))["link"] == "red"
        banner = await console.page.inner_text("#banner")
        assert "LINK LOST" in banner
        await screenshot(console.page, "console_link_lost")
    finally:
        console.gateway.set_link_cut(False)
    await console.link_alarm_cleared()
    assert any(e["event"] == "WatchdogHold" for e in console.gateway.event_log)
    await console.engage()  # the surgeon can take over again after the link returns


async def test_a_link_lost_while_the_page_keeps_stalling_is_still_seen(console: Console) -> None:
    """A stall is discounted from the link's silence (a stalled page has not read its queued
    states), but only for a while: with the link cut and the page stalling 150 ms at a time,
    LINK LOST still comes within a few stalls."""
    await console.engage()
    console.gateway.set_link_cut(True)
    try:
        seen_after_ms = await console.page.evaluate(
            """async () => {
                const app = window.consoleApp;
                const t0 = performance.now();
                while (performance.now() - t0 < 2000) {
                    const s = performance.now();
                    while (performance.now() - s < 150);  // the page does not run
                    await new Promise((r) => setTimeout(r, 0));  // one sample runs
                    if (app.linkLost) return performance.now() - t0;
                }
                return null;
            }"""
        )
        assert seen_after_ms is not None and seen_after_ms < 1000.0, seen_after_ms
    finally:
        console.gateway.set_link_cut(False)
    await console.link_alarm_cleared()


async def test_focus_loss_and_unplugged_gamepad_stop_motion(console: Console) -> None:
    page = console.page
    await console.engage()
    await page.evaluate("window.dispatchEvent(new Event('blur'))")
    s = await snapshot(page)
    assert not s["engaged"] and s["suspended"] == "blur"
    assert "Window lost focus" in await page.inner_text("#banner")
    await wait_for(
        lambda: console.supervisor("PSM1") in (ArmState.HOLDING, ArmState.DISENGAGED),
        5.0,
        "held after focus loss",
    )
    await screenshot(page, "console_focus_lost")
    # a tab put in the background
    await console.engage()
    await page.evaluate(
        """() => {
            const hidden = {value: "hidden", configurable: true};
            Object.defineProperty(document, "visibilityState", hidden);
            document.dispatchEvent(new Event("visibilitychange"));
            delete document.visibilityState;
        }"""
    )
    assert (await snapshot(page))["suspended"] == "hidden"
    # a gamepad unplugged mid-motion
    await console.engage()
    await page.evaluate(
        """() => {
            window.consoleApp.gamepad.connect({index: 0, id: "test pad"});
            const e = new Event("gamepaddisconnected");
            e.gamepad = {index: 0, id: "test pad"};
            window.dispatchEvent(e);
        }"""
    )
    s = await snapshot(page)
    assert not s["engaged"] and s["suspended"] == "gamepad"
    assert "Gamepad disconnected" in await page.inner_text("#banner")
    await wait_for(
        lambda: console.supervisor("PSM1") in (ArmState.HOLDING, ArmState.DISENGAGED),
        5.0,
        "held after the gamepad left",
    )


async def test_camera_arm_selected_moves_the_endoscope(console: Console) -> None:
    page = console.page
    await console.engage()  # PSM1 following; it keeps its last target while ECM is driven
    await page.keyboard.press("Digit3")
    assert (await snapshot(page))["arm"] == "ECM"

    async def camera_position() -> tuple[np.ndarray, np.ndarray]:
        data = await console.geometry()
        ecm = next(a for a in data["arms"] if a["arm"] == "ECM")
        T = np.eye(4)
        T[:3, :3] = matrix_from_quat_xyzw(np.array(ecm["q"]))
        T[:3, 3] = ecm["pm"]
        T_world_camera = np.array(data["T_world_rcm"]["ECM"]) @ T
        return T_world_camera[:3, 3], T_world_camera[:3, :3]

    async def trial() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        p0, R0 = await camera_position()
        tool0 = await console.tool_in_camera()
        await console.drag(200, 0)  # hand right: the camera moves right (its own +x)
        await asyncio.sleep(1.5)
        p1, _ = await camera_position()
        return p0, R0, p1, tool0

    try:
        await wait_for(lambda: console.supervisor("ECM") is ArmState.FOLLOWING, 10.0, "ECM")
        p0, R0, p1, _ = await trial()
    finally:
        await page.keyboard.press("Digit1")
    moved = R0.T @ (p1 - p0)  # in the camera frame at the start
    assert moved[0] > 0.003, moved  # 20 mm of hand at 3:1, projected on a 4-DOF scope
    assert abs(moved[0]) > 2 * max(abs(moved[1]), abs(moved[2])), moved
    assert console.supervisor("PSM1") in (ArmState.FOLLOWING, ArmState.HOLDING)
    await screenshot(page, "console_camera_moved")


async def test_an_arm_kept_while_another_is_driven_resumes_after_a_short_hold(
    console: Console,
) -> None:
    """PSM1 keeps its last target while the surgeon drives the endoscope. A stalled page (300 ms:
    longer than the watchdog's hold, shorter than its disengage) holds every arm, and the states
    it then reads say PSM1 is HOLDING: the console must keep sending PSM1's target so that it
    follows again, instead of dropping it and letting the watchdog disengage it a second later
    (seen on a loaded CI host)."""
    page = console.page
    await console.engage()
    await page.keyboard.press("Digit3")
    try:
        await wait_for(lambda: console.supervisor("ECM") is ArmState.FOLLOWING, 10.0, "ECM")
        start = len(console.gateway.event_log)
        await page.evaluate(
            "() => { const t = performance.now(); while (performance.now() - t < 300); }"
        )
        await wait_for(  # it did hold
            lambda: any(
                e["event"] == "WatchdogHold" and e.get("arm") == "PSM1"
                for e in list(console.gateway.event_log)[start:]
            ),
            2.0,
            "PSM1 held by the watchdog",
        )
        try:
            await wait_for(lambda: console.supervisor("PSM1") is ArmState.FOLLOWING, 2.0)
        except AssertionError:
            recent = console.events_since(start)
            page_state = await snapshot(page)
            pytest.fail(f"PSM1 did not resume: {recent}; page: {page_state['teleop']}")
        await asyncio.sleep(1.5)  # past the watchdog's disengage
        assert console.supervisor("PSM1") is ArmState.FOLLOWING
        psm1 = [
            (e["event"], e.get("cause"))
            for e in list(console.gateway.event_log)[start:]
            if e.get("arm") == "PSM1"
        ]
        assert ("Disengaged", "watchdog_disengage") not in psm1, psm1
    finally:
        await page.keyboard.press("Digit1")


async def test_layout_fits_laptop_and_1280x720(console: Console) -> None:
    page = console.page
    for width, height in ((1280, 720), (1366, 768), (1024, 600)):
        await page.set_viewport_size({"width": width, "height": height})
        await asyncio.sleep(0.2)
        boxes = {}
        for selector in ("#stats", "#arms-panel", "#controls", "#estop"):
            box = await page.locator(selector).bounding_box()
            assert box is not None, selector
            assert box["x"] >= 0 and box["y"] >= 0, (selector, box, width)
            assert box["x"] + box["width"] <= width and box["y"] + box["height"] <= height, (
                selector,
                box,
                width,
            )
            boxes[selector] = box
        for a, b in (("#stats", "#arms-panel"), ("#controls", "#estop")):
            ba, bb = boxes[a], boxes[b]
            overlap = not (
                ba["x"] + ba["width"] <= bb["x"]
                or bb["x"] + bb["width"] <= ba["x"]
                or ba["y"] + ba["height"] <= bb["y"]
                or bb["y"] + bb["height"] <= ba["y"]
            )
            assert not overlap, (a, b, width, height)
        await screenshot(page, f"console_{width}x{height}")
    await page.set_viewport_size({"width": 1280, "height": 720})


async def test_estop_button_latches_and_holds_every_arm(console: Console) -> None:
    await console.engage()
    await console.page.click("#estop")
    await wait_for(
        lambda: any(e["event"] == "EStopLatched" for e in console.gateway.event_log),
        5.0,
        "EStopLatched",
    )
    await wait_for(
        lambda: all(
            s.supervisor_state is ArmState.ESTOPPED for s in console.gateway.sampler.latest
        ),  # type: ignore[union-attr]
        5.0,
        "every arm ESTOPPED",
    )
    await eventually(
        lambda: console.page.evaluate(
            "window.consoleApp.snapshot().alarms.some((a) => a.key === 'estop')"
        ),
        5.0,
        "e-stop banner",
    )
    assert "E-STOP LATCHED" in await console.page.inner_text("#banner")
    s = await snapshot(console.page)
    assert not s["engaged"]
    assert all(a["supervisor_state"] == "ESTOPPED" for a in s["arms"])
    await screenshot(console.page, "console_estop")
