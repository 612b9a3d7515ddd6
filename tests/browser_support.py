"""Fixtures for the browser console tests: an in-process gateway and Debian's Chromium.

The gateway runs in the test's event loop (aiohttp runner on a free port, ``link="lan"`` so the
packet-level link shim is installed and ``Gateway.set_link_cut`` works); Chromium is driven with
Playwright's async API. No browser is downloaded: ``/usr/bin/chromium`` is launched directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from telesurgery.gateway.app import Gateway, create_app
from telesurgery.gateway.config import GatewayConfig
from telesurgery.robot.registry import RobotConfig
from telesurgery.safety.config import SafetyConfig

CHROMIUM = os.environ.get("TELESURGERY_CHROMIUM", "/usr/bin/chromium")
"""The browser binary (Debian's Chromium; no Playwright download)."""

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
)
"""Flags measured to give a fast, quiet headless Chromium that reaches host ICE candidates."""

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
"""Where the console's screenshots are saved (gitignored)."""


def chromium_available() -> bool:
    """True when the Chromium binary and the Playwright package are both present."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()


@contextlib.asynccontextmanager
async def running_gateway(
    config: GatewayConfig | None = None,
    *,
    safety_config: SafetyConfig | None = None,
    robot_config: RobotConfig | None = None,
) -> AsyncIterator[tuple[str, Gateway]]:
    """A started gateway (sim cart, camera, encoder) serving the console; yields (url, gateway)."""
    gateway = Gateway(
        config or GatewayConfig(port=0, link="lan"),
        safety_config=safety_config,
        robot_config=robot_config,
    )
    runner = web.AppRunner(create_app(gateway))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", gateway
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium browser (Playwright ``Browser``)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def open_console(
    browser: Any,
    url: str,
    query: str = "",
    *,
    width: int = 1280,
    height: int = 720,
    timeout_s: float = 20.0,
) -> Any:
    """A page with the console loaded and connected (``phase == "connected"``) within
    ``timeout_s``."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    await page.goto(f"{url}/?{query}", timeout=timeout_s * 1000)
    await wait_for_page(
        page, "window.consoleApp && window.consoleApp.phase !== 'connecting'", timeout_s
    )
    phase = await page.evaluate("window.consoleApp.phase")
    assert phase == "connected", (phase, await snapshot(page), errors)
    return page


async def snapshot(page: Any) -> dict[str, Any]:
    """The console's HUD data (``ConsoleApp.snapshot()``)."""
    result: dict[str, Any] = await page.evaluate("window.consoleApp.snapshot()")
    return result


async def wait_for_page(page: Any, expression: str, timeout_s: float = 10.0) -> None:
    """Wait until a JavaScript expression is truthy in the page."""
    await page.wait_for_function(expression, timeout=timeout_s * 1000, polling=20)


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    """Wait until a Python predicate holds (polled every 10 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"condition not met in {timeout_s} s: {what}"
        await asyncio.sleep(0.01)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0, what: str = ""
) -> None:
    """Wait until an async check holds (polled every 20 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        assert loop.time() < deadline, f"condition not met in {timeout_s} s: {what}"
        await asyncio.sleep(0.02)


async def screenshot(page: Any, name: str) -> Path:
    """Save the console as ``artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
