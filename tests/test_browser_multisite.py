"""The multi-site console in Chromium: sign-in, control handover, telestration, chat, observers.

One operation (a SQLite database with one invitation per participant), one gateway that signs
consoles in with those tokens and one browser serve the module; three pages in their own browser
contexts, each opened with its token in the URL (the role comes from the token): the remote lead
(``rome-lead``, user rossi), the bedside surgeon (``bed``, user wang) and an observer (``hall``).
The tests run in file order.

While the arm changes hands through the UI, a watcher samples the patient side's state (every
servo sample the gateway publishes) and checks that the tool never jumps (< 0.1 mm at each change
and at each engage) and that PSM1 follows exactly one console at a time. Screenshots go to
``artifacts/screenshots/multisite_*.png``.

The gateway runs with a 15 fps camera, relaxed latency thresholds and a 5 s link-loss delay (the
shared test machine is loaded: a page stalled for half a second would otherwise lose its arms to
the bedside; the latency policy and the link-loss handover have their own deterministic tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from browser_support import (
    chromium,
    chromium_available,
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
from telesurgery.operation.provision import provision
from telesurgery.operation.roles import Role
from telesurgery.operation.store import OperationStore
from telesurgery.record.audit import AuditTrail
from telesurgery.record.db import make_engine
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.sim.camera import CameraConfig
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.safety.config import LatencyConfig, SafetyConfig
from telesurgery.safety.state import ArmState

pytestmark = [
    pytest.mark.browser,
    pytest.mark.sim,
    pytest.mark.timeout(600),  # per test, setup included: three consoles on a loaded host
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium and playwright"),
    pytest.mark.asyncio(loop_scope="module"),
]

QUERY = "adaptive=off&control_hz=125"
USERS = {"rossi": Role.LEAD, "wang": Role.BEDSIDE, "hall": Role.OBSERVER, "li": Role.OBSERVER}
CONSOLES = (("rome-lead", "rossi"), ("bed", "wang"), ("hall", "hall"))
"""(console id, user): the lead joins first and is given every free arm; the bedside none."""
MAX_JUMP_M = 1e-4  # issue #6: no pose jump at a change of control (< 0.1 mm)
SURGEON_WAIT_S = 10.0
OBSERVER_WAIT_S = 30.0
"""How long a message may take to show on a page. Observers are served by the observer relay
under SCHED_IDLE: with the two cores busy (servo, camera, three Chromium pages) it runs only in
what the surgeons' processes leave, by design, and CI once saw the observer's copy of a stroke
still missing after 10 s while the bedside had it in 3.9 s."""
KINEMATICS = PsmKinematics()


@dataclass(frozen=True, slots=True)
class Sample:
    """PSM1 at one servo tick, as the patient side published it."""

    time_s: float
    controller: str | None
    state: ArmState
    tip_m: np.ndarray


class RobotWatch:
    """Samples PSM1 from the gateway's patient side every few ms (an owned task, stopped)."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.samples: list[Sample] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        last = None
        while True:
            assert self.gateway.sampler is not None
            for s in self.gateway.sampler.latest:
                if s.arm == "PSM1" and s.time_s != last:
                    last = s.time_s
                    tip = KINEMATICS.forward(np.asarray(s.q_setpoint, dtype=np.float64))[:3, 3]
                    self.samples.append(Sample(s.time_s, s.controller, s.supervisor_state, tip))
            await asyncio.sleep(0.004)

    def latest(self) -> Sample:
        return self.samples[-1]

    def since(self, index: int) -> list[Sample]:
        return self.samples[index:]


class Site:
    """The three pages and the gateway."""

    def __init__(
        self,
        gateway: Gateway,
        url: str,
        browser: Any,
        tokens: dict[str, str],
        pages: dict[str, Any],
        watch: RobotWatch,
    ) -> None:
        self.gateway = gateway
        self.url = url
        self.browser = browser
        self.tokens = tokens
        self.pages = pages
        self.watch = watch

    @property
    def lead(self) -> Any:
        return self.pages["rome-lead"]

    @property
    def bedside(self) -> Any:
        return self.pages["bed"]

    @property
    def observer(self) -> Any:
        return self.pages["hall"]

    def wait_s(self, page: Any) -> float:
        return OBSERVER_WAIT_S if page is self.observer else SURGEON_WAIT_S

    def psm1(self) -> Any:
        assert self.gateway.sampler is not None
        return next(s for s in self.gateway.sampler.latest if s.arm == "PSM1")

    async def controller_seen(self, page: Any, holder: str | None) -> None:
        await until(
            page,
            f"window.consoleApp.snapshot().team.controllers.PSM1 === {_js(holder)}",
        )

    async def click(self, page: Any, arm: str, act: str) -> None:
        """Press a button of the control panel (it must be shown to this console's role)."""
        button = page.locator(f"#control-rows tr[data-arm='{arm}'] button[data-act='{act}']")
        if not await button.is_visible():
            team = (await snapshot(page))["team"]
            pytest.fail(f"no {act} button for {arm}: {team['controllers']}, {team['pending']}")
        await button.click()

    async def drag(self, page: Any, dx_px: int, dy_px: int, steps: int = 30) -> None:
        """A smooth mouse drag over the video (moves the driven arm when following)."""
        x0, y0 = 640.0, 360.0
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        for i in range(1, steps + 1):
            await page.mouse.move(x0 + dx_px * i / steps, y0 + dy_px * i / steps)
            await asyncio.sleep(0.015)
        await page.mouse.up()

    async def following(self, console_id: str) -> None:
        await wait_for(
            lambda: (
                self.psm1().supervisor_state is ArmState.FOLLOWING
                and self.psm1().controller == console_id
            ),
            15.0,
            f"PSM1 following {console_id}",
        )

    def check_still(self, start: int, what: str) -> float:
        """Largest tool displacement [m] over the samples since ``start`` (nobody moves it)."""
        samples = self.watch.since(max(0, start - 1))
        assert len(samples) >= 5, (what, len(samples))
        tips = np.array([s.tip_m for s in samples])
        jump = float(np.linalg.norm(tips - tips[0], axis=1).max())
        assert jump < MAX_JUMP_M, f"{what}: the tool moved {jump * 1000:.4f} mm"
        return jump

    def moved_from(self, p0: np.ndarray) -> bool:
        """True once PSM1's tool is more than 1 mm from ``p0``."""
        return float(np.linalg.norm(self.watch.latest().tip_m - p0)) > 0.001

    async def drag_moves_tool(self, page: Any, console_id: str, dy_px: int, what: str) -> None:
        """Drag on ``page`` until PSM1 moves more than 1 mm: that console drives it.

        The machine is shared and loaded: a stalled page or event loop can make the supervisor
        hold or disengage the arm mid-drag (correctly; the console re-engages with alignment by
        itself). Such a disturbed drag is repeated, up to three times.
        """
        failures = []
        for _ in range(3):
            await self.following(console_id)
            p0 = self.watch.latest().tip_m
            start = len(self.gateway.event_log)
            await self.drag(page, 0, dy_px)
            with contextlib.suppress(AssertionError):
                await wait_for(partial(self.moved_from, p0), 5.0, what)
                return
            s = await snapshot(page)
            keys = ("event", "arm", "cause", "reason", "detail", "console_id")
            events = [
                {k: v for k, v in e.items() if k in keys}
                for e in list(self.gateway.event_log)[start:]
            ]
            failures.append(
                f"moved {np.linalg.norm(self.watch.latest().tip_m - p0) * 1e3:.2f} mm; page "
                f"engaged={s['engaged']} teleop={s['teleop']} gaps={s['input_gaps']} "
                f"alarms={[a['text'] for a in s['alarms']]}; events {events[-8:]}"
            )
        pytest.fail(f"{what}: {failures}")

    def check_one_follower(self) -> None:
        """Every FOLLOWING sample follows the console that holds the arm, one at a time."""
        followers = [s.controller for s in self.watch.samples if s.state is ArmState.FOLLOWING]
        assert None not in followers
        # a follower only changes through a non-following gap (hold, then engage)
        samples = self.watch.samples
        for a, b in itertools.pairwise(samples):
            if a.state is ArmState.FOLLOWING and b.state is ArmState.FOLLOWING:
                assert a.controller == b.controller, (a, b)


async def until(page: Any, expression: str, timeout_s: float = 20.0) -> None:
    """Wait for a JavaScript expression in ``page``; on timeout say what the page showed."""
    try:
        await wait_for_page(page, expression, timeout_s)
    except Exception:
        s = await snapshot(page)
        team = s["team"]
        pc = await page.evaluate(
            """() => { const pc = window.consoleApp.connection?.pc;
                return pc ? `${pc.connectionState}/${pc.iceConnectionState}` : null; }"""
        )
        pytest.fail(
            f"{s['console_id']}: not {expression!r} in {timeout_s} s: phase={s['phase']} "
            f"connection/ICE={pc} states_received={s['states_received']} "
            f"link={s['link']} engaged={s['engaged']} note={s['control_note']} "
            f"needs_clutch={s['needs_clutch']} controllers={team['controllers']} "
            f"participants={[p['console_id'] for p in team['participants']]} "
            f"received={team['received']} refusals={team['refusals'][-3:]} alarms={s['alarms']}"
        )


def _js(value: str | None) -> str:
    return "null" if value is None else f"'{value}'"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    db: Path = tmp_path_factory.mktemp("multisite") / "site.db"
    engine = make_engine(f"sqlite:///{db}")
    store = OperationStore(engine, AuditTrail(engine))
    now = dt.datetime.now(dt.UTC)
    case = provision(store, "multisite", USERS, ttl=dt.timedelta(hours=1), now=now, actor="test")
    url_db = str(engine.url)
    safety = SafetyConfig(
        latency=LatencyConfig(warn_ms=2000.0, stop_ms=5000.0), max_command_age_ms=2000.0
    )
    async with (
        running_gateway(
            GatewayConfig(
                port=0,
                link="none",
                state_rate_hz=100.0,
                grant_timeout_ms=20_000.0,
                link_lost_after_ms=5_000.0,
                auth_db=url_db,
                audit_db=url_db,
                operation_id=case.operation.operation_id,
            ),
            safety_config=safety,
            robot_config=SimCartConfig(camera=CameraConfig(fps=15.0)),  # lighter, shared host
        ) as (url, gw),
        chromium() as browser,
    ):
        pages = {}
        for console_id, user in CONSOLES:
            token = case.tokens[user]
            pages[console_id] = await open_console(
                browser, url, f"token={token}&console_id={console_id}&{QUERY}", timeout_s=60.0
            )
        watch = RobotWatch(gw)
        watch.start()
        try:
            yield Site(gw, url, browser, dict(case.tokens), pages, watch)
        finally:
            await watch.stop()
        for page in pages.values():
            assert page.errors == []
    engine.dispose()


async def test_the_token_decides_the_role_and_a_forged_token_is_refused(site: Site) -> None:
    # an observer's token with role=lead in the URL: the page is an observer's
    page = await open_console(
        site.browser,
        site.url,
        f"token={site.tokens['li']}&console_id=li&role=lead&{QUERY}",
        timeout_s=60.0,
    )
    s = await snapshot(page)
    assert (s["role"], s["view_only"], s["console_id"]) == ("observer", True, "li")
    assert not await page.locator("#engage").is_visible()
    await page.close()
    # a closed page says goodbye (pagehide closes its connection): the gateway drops its peer
    # well before ICE consent would fail (~30 s); the following tests see exactly three consoles
    deadline = time.monotonic() + 10.0
    while any(p.console_id == "li" for p in site.gateway.peers.values()):
        assert time.monotonic() < deadline, "the gateway kept a closed page's peer for 10 s"
        await asyncio.sleep(0.1)
    # a forged token: refused with the gateway's reason, nothing connects
    forged = site.tokens["rossi"].split(".")[0] + "." + "A" * 43  # well formed, wrong secret
    page = await site.browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(f"{site.url}/?token={forged}&console_id=intruder&{QUERY}", timeout=60_000)
    await wait_for_page(page, "window.consoleApp && window.consoleApp.phase === 'failed'", 60.0)
    banner = await page.inner_text("#banner")
    assert "(403, forged)" in banner, banner
    await screenshot(page, "multisite_forged_token")
    await page.close()


async def test_presence_lists_everyone_with_role_link_and_arms(site: Site) -> None:
    peers = {p.console_id: p.pc.connectionState for p in site.gateway.peers.values()}
    phases = {k: (await snapshot(p))["phase"] for k, p in site.pages.items()}
    alarms = {k: [a["text"] for a in (await snapshot(p))["alarms"]] for k, p in site.pages.items()}
    assert set(peers) == {"rome-lead", "bed", "hall"}, (peers, phases, alarms)
    for page in site.pages.values():
        await until(
            page,
            "window.consoleApp.snapshot().team.participants.map((p) => p.console_id).join() "
            "=== 'rome-lead,bed,hall'",
        )
    team = (await snapshot(site.bedside))["team"]
    people = {p["console_id"]: p for p in team["participants"]}
    assert {k: p["role"] for k, p in people.items()} == {
        "rome-lead": "lead",
        "bed": "bedside",
        "hall": "observer",
    }
    assert people["rome-lead"]["arms"] == ["PSM1", "PSM2", "ECM"]
    assert team["controllers"] == {"PSM1": "rome-lead", "PSM2": "rome-lead", "ECM": "rome-lead"}
    rows = await site.bedside.locator("#presence li").count()
    assert rows == 3
    assert "(you)" in await site.bedside.inner_text("#presence li[data-console-id='bed']")
    await screenshot(site.bedside, "multisite_bedside_presence")


async def test_observer_has_no_control_ui_and_cannot_move_the_robot(site: Site) -> None:
    page = site.observer
    s = await snapshot(page)
    assert s["view_only"] and s["role"] == "observer"
    for selector in ("#engage", "#estop", "#scale-label", "#draw-tools", "#chat-form"):
        assert not await page.locator(selector).is_visible(), selector
    visible_buttons = await page.locator("#control-rows button:visible").count()
    assert visible_buttons == 0
    assert "view only" in await page.inner_text("#role")
    # the relay's answer, like the gateway's, asks Chromium for its low-latency playout
    answer = await page.evaluate("() => window.consoleApp.connection.pc.remoteDescription.sdp")
    assert PLAYOUT_DELAY_URI in answer
    # Enter and Escape do nothing for an observer: no control message at all
    await page.keyboard.press("Enter")
    await page.keyboard.press("Escape")
    await asyncio.sleep(0.3)
    s = await snapshot(page)
    assert not s["engaged"] and s["control_sent"] == 0
    assert not any(e["event"] == "EStopLatched" for e in site.gateway.event_log)
    # a hand-crafted CONTROL (engage, 3 cm away) and a handover_take from the observer's page
    before = site.psm1()
    start = len(site.watch.samples)
    sent = await page.evaluate(
        """async () => {
            const p = await import("/static/js/protocol.js");
            const c = window.consoleApp.connection;
            const a = c.latestState.arms.find((x) => x.arm === "PSM1");
            const target = {arm: "PSM1", position_m: [a.setpoint_position_m[0] + 0.03,
                a.setpoint_position_m[1], a.setpoint_position_m[2]],
                quat_xyzw: a.setpoint_quat_xyzw, jaw_rad: 0.3};
            const flags = p.ControlFlag.OPERATOR_PRESENT | p.ControlFlag.ENGAGE_REQUEST;
            let sent = 0;
            for (let i = 0; i < 60; i++) {
                c.control.send(p.encodeControl({session_id: c.sessionId, seq: 1000 + i,
                    sent_time_ns: BigInt(Math.round(performance.now() * 1e6)), flags,
                    targets: [target]}));
                sent++;
                await new Promise((r) => setTimeout(r, 8));
            }
            c.events.send(JSON.stringify({type: "handover_take", request_id: 1, arm: "PSM1"}));
            return sent;
        }"""
    )
    assert sent == 60
    await until(
        page,
        "window.consoleApp.snapshot().team.refusals.some((r) => r.kind === 'handover_take')",
        5.0,
    )
    refusals = (await snapshot(page))["team"]["refusals"]
    assert any(r["kind"] == "control" and r["code"] == "role" for r in refusals), refusals
    assert "observer" in next(r["reason"] for r in refusals if r["kind"] == "handover_take")
    await asyncio.sleep(0.5)
    after = site.psm1()
    assert after.controller == before.controller == "rome-lead"
    site.check_still(start, "observer's hand-crafted control")
    await screenshot(page, "multisite_observer")


async def test_arm_handed_back_and_forth_without_jump_or_two_controllers(site: Site) -> None:
    lead, bed = site.lead, site.bedside
    # the lead drives PSM1
    await lead.keyboard.press("Enter")
    await site.following("rome-lead")
    await site.drag(lead, 120, 0)
    await asyncio.sleep(0.8)
    jumps: list[float] = []
    for round_ in range(2):
        # the bedside takes PSM1 through its control panel: the arm holds where it is
        start = len(site.watch.samples)
        await site.click(bed, "PSM1", "take")
        await wait_for(lambda: site.psm1().controller == "bed", 5.0, "bedside holds PSM1")
        await site.controller_seen(lead, "bed")
        await asyncio.sleep(0.6)
        jumps.append(site.check_still(start, f"round {round_}: bedside takes"))
        assert site.psm1().supervisor_state is not ArmState.FOLLOWING
        ls = await snapshot(lead)
        assert "held by" in (ls["control_note"] or ""), ls["control_note"]
        if round_ == 0:
            await screenshot(lead, "multisite_lead_after_take")
        # the bedside engages with alignment (Enter the first time, the clutch afterwards)
        start = len(site.watch.samples)
        if round_ == 0:
            await bed.keyboard.press("Enter")
        else:
            await until(bed, "window.consoleApp.snapshot().needs_clutch.includes('PSM1')")
            await screenshot(bed, "multisite_bedside_needs_clutch")
            await bed.keyboard.down("Space")
            await asyncio.sleep(0.2)
            await bed.keyboard.up("Space")
        await site.following("bed")
        await asyncio.sleep(0.4)
        jumps.append(site.check_still(start, f"round {round_}: bedside engages"))
        await site.drag_moves_tool(bed, "bed", -90, "the bedside moves PSM1")  # it is in control
        await asyncio.sleep(0.8)
        # the lead asks for it back; the bedside grants it from the prompt
        start = len(site.watch.samples)
        await site.click(lead, "PSM1", "request")
        await until(bed, "!document.getElementById('handover-prompt').hidden", 10.0)
        prompt = await bed.inner_text("#handover-prompt")
        assert "rossi (lead) asks for PSM1" in prompt and "s left" in prompt, prompt
        if round_ == 0:
            await screenshot(bed, "multisite_bedside_prompt")
            await bed.click("#grant")
        else:
            await bed.keyboard.press("KeyG")  # keyboard-only
        await wait_for(lambda: site.psm1().controller == "rome-lead", 5.0, "lead holds PSM1")
        await until(bed, "document.getElementById('handover-prompt').hidden", 10.0)
        await asyncio.sleep(0.5)
        jumps.append(site.check_still(start, f"round {round_}: bedside grants"))
        # the lead's console is still engaged: the arm waits for its clutch
        await until(lead, "window.consoleApp.snapshot().needs_clutch.includes('PSM1')")
        ls = await snapshot(lead)
        assert "press the clutch" in ls["control_note"], ls["control_note"]
        assert "You control PSM1 now" in await lead.inner_text("#banner")
        if round_ == 0:
            await screenshot(lead, "multisite_lead_needs_clutch")
        start = len(site.watch.samples)
        await lead.keyboard.down("Space")
        await asyncio.sleep(0.2)
        await lead.keyboard.up("Space")
        await site.following("rome-lead")
        await asyncio.sleep(0.4)
        jumps.append(site.check_still(start, f"round {round_}: lead engages"))
        await site.drag_moves_tool(lead, "rome-lead", 90, "the lead moves PSM1")
        await asyncio.sleep(0.5)
    site.check_one_follower()
    assert max(jumps) < MAX_JUMP_M
    print(f"tool displacement at each change / engage [mm]: {[round(j * 1e3, 5) for j in jumps]}")
    await screenshot(lead, "multisite_lead_following_again")


async def test_telestration_round_trip_between_two_consoles(site: Site) -> None:
    lead, bed, hall = site.lead, site.bedside, site.observer
    await lead.keyboard.press("KeyT")
    assert (await snapshot(lead))["team"]["drawing"]
    # draw from (560, 300) to (720, 420): the 640x480 video fills 960x720 from x = 160
    await lead.mouse.move(560, 300)
    await lead.mouse.down()
    for i in range(1, 21):
        await lead.mouse.move(560 + 8 * i, 300 + 6 * i)
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await lead.mouse.up()
    sent = (await snapshot(lead))["team"]["strokes"]
    mine = [s for s in sent if s["author"] == "rome-lead"]
    assert len(mine) == 1 and mine[0]["points"] >= 15, mine
    stroke_id, n_points = mine[0]["stroke_id"], mine[0]["points"]
    expression = (
        "window.consoleApp.snapshot().team.strokes.some((s) => s.author === 'rome-lead' && "
        f"s.stroke_id === {stroke_id} && s.points === {n_points})"
    )
    await until(bed, expression, site.wait_s(bed))
    elapsed_ms = (time.perf_counter() - t0) * 1000
    await until(hall, expression, site.wait_s(hall))  # observers see it too
    print(f"telestration: pen up on one console -> stroke shown on the other: {elapsed_ms:.0f} ms")
    points = await bed.evaluate(
        f"window.consoleApp.team.telestration.board.list().find((s) => s.stroke_id === {stroke_id})"
        ".points"
    )
    assert points[0] == pytest.approx([400 / 960, 300 / 720], abs=0.002)
    assert points[-1] == pytest.approx([560 / 960, 420 / 720], abs=0.002)
    # the author's own echo: one round trip through the gateway
    echo_ms = await lead.evaluate(
        f"""() => {{
            const v = window.consoleApp.team.telestration;
            const at = v.receivedAtMs.get("rome-lead\\u0000{stroke_id}");
            return at === undefined ? null : at;
        }}"""
    )
    assert echo_ms is not None
    await lead.keyboard.press("KeyT")  # draw mode off: the mouse drives again
    assert not (await snapshot(lead))["team"]["drawing"]
    await asyncio.sleep(0.3)
    await screenshot(bed, "multisite_telestration_bedside")
    await screenshot(lead, "multisite_telestration_lead")
    # the bedside clears everyone's strokes
    await bed.click("#clear-all")
    cleared = "window.consoleApp.snapshot().team.strokes.length === 0"
    for page in (lead, bed, hall):
        await until(page, cleared, site.wait_s(page))
    assert elapsed_ms < 2000


async def test_chat_reaches_every_console(site: Site) -> None:
    lead, bed, hall = site.lead, site.bedside, site.observer
    hand = await bed.evaluate("window.consoleApp.master.position")
    engaged = (await snapshot(bed))["engaged"]
    await bed.keyboard.press("KeyC")
    assert await bed.evaluate("document.activeElement.id") == "chat-input"
    await bed.keyboard.type("Irrigation, please. WASD stays in the chat")
    await bed.keyboard.press("Enter")  # sends: it does not engage or release the robot
    delivered = "window.consoleApp.snapshot().team.chat.some((m) => m.text.startsWith('Irr'))"
    for page in (lead, bed, hall):
        await until(page, delivered, site.wait_s(page))
    line = await hall.inner_text("#chat-log li")
    assert "wang" in line and "Irrigation, please." in line  # the bedside's display name
    # the letters typed (W, A, S, D...) went to the chat, not to the hand
    assert await bed.evaluate("window.consoleApp.master.position") == hand
    assert (await snapshot(bed))["engaged"] == engaged
    assert await bed.evaluate("document.activeElement.id") != "chat-input"
    await screenshot(hall, "multisite_chat_observer")


async def test_layout_fits_with_team_panels(site: Site) -> None:
    page = site.lead
    for width, height in ((1280, 720), (1366, 768), (1024, 600)):
        await page.set_viewport_size({"width": width, "height": height})
        await asyncio.sleep(0.3)
        selectors = (
            "#stats",
            "#control-panel",
            "#presence-panel",
            "#draw-tools",
            "#arms-panel",
            "#chat-panel",
            "#controls",
            "#estop",
        )
        # every box from one layout (presence re-renders at 1 Hz: its height may change between
        # two separate measurements)
        measured = await page.evaluate(
            """(selectors) => Object.fromEntries(selectors.map((s) => {
                const e = document.querySelector(s);
                if (e === null || e.getClientRects().length === 0) return [s, null];
                const r = e.getBoundingClientRect();
                return [s, { x: r.x, y: r.y, width: r.width, height: r.height }];
            }))""",
            list(selectors),
        )
        boxes = {}
        for selector in selectors:
            box = measured[selector]
            assert box is not None, selector
            assert box["x"] >= 0 and box["y"] >= 0, (selector, box, width)
            right, bottom = box["x"] + box["width"], box["y"] + box["height"]
            assert right <= width and bottom <= height, (selector, box, width, height)
            boxes[selector] = box
        names = list(boxes)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                ba, bb = boxes[a], boxes[b]
                overlap = not (
                    ba["x"] + ba["width"] <= bb["x"]
                    or bb["x"] + bb["width"] <= ba["x"]
                    or ba["y"] + ba["height"] <= bb["y"]
                    or bb["y"] + bb["height"] <= ba["y"]
                )
                assert not overlap, (a, b, width, height, ba, bb)
        await screenshot(page, f"multisite_lead_{width}x{height}")
    await page.set_viewport_size({"width": 1280, "height": 720})
