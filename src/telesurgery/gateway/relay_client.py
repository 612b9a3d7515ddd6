"""The gateway's side of the observer relay (:mod:`telesurgery.gateway.observer_relay`).

:class:`ObserverRelayClient` starts the relay process (``spawn``, one socket pair), answers
observers' offers through it and keeps one :class:`RelayedPeerConnection` per relayed observer.
That object stands in for the aiortc peer connection a :class:`~telesurgery.gateway.peer.
ConsolePeer` is built on: its data channels (:class:`RelayedChannel`) send through the relay,
and what the observer sends arrives from the relay as channel messages. Every check the gateway
makes on a console's messages is therefore made on an observer's too, in the same code.

Never blocking the gateway: writes go to the socket's asyncio transport. While more than
``max_backlog_bytes`` wait there (the relay is starved of CPU, or stuck), video frames and robot
state are not sent (counted in ``frames_skipped`` / ``states_skipped``; on the unreliable
channel the newest state wins anyway); video resumes at the next keyframe, which is then
requested once. The few data-channel messages (pings, events) are always sent. A relay that
says nothing for ``silent_after_s`` (30 s; it reports every second, but at idle priority a
busy machine may starve it for a while) or lets ``dead_backlog_bytes``
pile up is declared dead and killed. When the relay process is gone, every relayed observer's
connection turns ``failed`` (the gateway drops them, and starts a new relay for the next
observer); surgeons are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import multiprocessing
import socket
import time
from collections.abc import Callable
from typing import Any

from telesurgery.exceptions import TelesurgeryError
from telesurgery.gateway import relay_wire as wire
from telesurgery.gateway.observer_relay import RelayConfig, run_relay
from telesurgery.media.fanout import EncodedFrame

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
"""How long the relay process may take to start [s]."""


class RelayError(TelesurgeryError):
    """The relay could not start, or could not answer an observer's offer."""


class _Emitter:
    """The ``on(event, handler)`` registration of aiortc objects (pyee), as the gateway uses it:
    as a call with a handler, or as a decorator; coroutine handlers run as tasks."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        if handler is None:

            def register(f: Callable[..., Any]) -> Callable[..., Any]:
                self._handlers.setdefault(event, []).append(f)
                return f

            return register
        self._handlers.setdefault(event, []).append(handler)
        return handler

    def emit(self, event: str, *args: Any) -> None:
        for handler in list(self._handlers.get(event, ())):
            try:
                result = handler(*args)
            except Exception:  # as pyee: one handler's failure stays with its peer
                logger.exception("relayed %s handler failed", event)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)


class RelayedChannel(_Emitter):
    """One of a relayed observer's data channels, as the gateway sees it."""

    def __init__(self, label: str, send: Callable[[bytes | str], None]) -> None:
        super().__init__()
        self.label = label
        self.readyState = "open"
        self._send = send

    def send(self, data: bytes | str) -> None:
        if self.readyState == "open":
            self._send(data)


class RelayedPeerConnection(_Emitter):
    """A relayed observer's peer connection, as the gateway sees it (the real one is in the
    relay process): ``connectionState``, ``on("datachannel" | "connectionstatechange")``,
    ``close()``."""

    sctp = None
    """No SCTP association here (the relay owns it)."""

    def __init__(self, session_id: int, relay: ObserverRelayClient) -> None:
        super().__init__()
        self.session_id = session_id
        self.connectionState = "new"
        self._relay = relay
        self.channels: dict[str, RelayedChannel] = {}

    async def close(self) -> None:
        """Close it in the relay (once) and here."""
        self._relay._close(self)
        self._set_state("closed")

    def _set_state(self, state: str) -> None:
        if state != self.connectionState:
            self.connectionState = state
            if state in ("failed", "closed"):
                for channel in self.channels.values():
                    channel.readyState = "closed"
            self.emit("connectionstatechange")

    def _open_channel(self, label: str) -> None:
        tag = wire.SEND_CONTROL if label == "control" else wire.SEND_EVENT
        session_id, relay = self.session_id, self._relay
        channel = RelayedChannel(label, lambda data: relay._write((tag, session_id, data)))
        self.channels[label] = channel
        self.emit("datachannel", channel)
        channel.emit("open")


class ObserverRelayClient:
    """Starts, feeds and stops the relay process; see the module docstring."""

    def __init__(
        self,
        config: RelayConfig,
        *,
        on_keyframe_request: Callable[[str], None],
        max_backlog_bytes: int = 2 * 1024 * 1024,
        dead_backlog_bytes: int = 16 * 1024 * 1024,
        silent_after_s: float = 30.0,
        target: Callable[[socket.socket, RelayConfig], None] = run_relay,
    ) -> None:
        """``target`` is the relay process's entry point (tests give one that fails)."""
        self.config = config
        self._on_keyframe_request = on_keyframe_request
        self.max_backlog_bytes = max_backlog_bytes
        """Bytes that may wait for the relay before video frames and states are skipped."""
        self.dead_backlog_bytes = dead_backlog_bytes
        """Bytes waiting for the relay at which it is declared dead."""
        self.silent_after_s = silent_after_s
        """A relay that sends nothing this long is declared dead [s]."""
        self._target = target
        self._last_heard_s = time.monotonic()
        self._watchdog: asyncio.Task[None] | None = None
        self._keyframe_asked = False
        self.resumes = 0
        """Times video resumed (at a keyframe) after frames were skipped."""
        self.states_skipped = 0
        """State messages not sent: the relay was behind."""
        self._process: Any = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._peers: dict[int, RelayedPeerConnection] = {}
        self._answers: dict[int, asyncio.Future[str]] = {}
        self._waiting_keyframe = True
        self.frames_sent = 0
        """Frames written to the relay."""
        self.frames_skipped = 0
        """Frames not written: the relay was behind, or a keyframe was awaited."""
        self.states_sent = 0
        """State messages written to the relay (each goes to every relayed observer)."""
        self.relay_stats: dict[str, Any] = {}
        """The relay's newest counters."""
        self.exit_detail: str | None = None
        """Why the relay ended, once it has."""

    @property
    def alive(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    @property
    def peers(self) -> tuple[RelayedPeerConnection, ...]:
        return tuple(self._peers.values())

    async def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the relay process and wait for it to say it serves; raises :class:`RelayError`
        (the process killed) if it does not within ``timeout_s``."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        loop = asyncio.get_running_loop()
        try:
            context = multiprocessing.get_context("spawn")
            process = context.Process(
                target=self._target, args=(child, self.config), name="observer-relay", daemon=True
            )
            await loop.run_in_executor(None, process.start)
        except Exception as error:
            parent.close()
            raise RelayError(f"the observer relay did not start: {error}") from error
        finally:
            child.close()
        self._process = process
        self._reader, self._writer = await asyncio.open_connection(sock=parent)
        try:
            ready = await asyncio.wait_for(wire.read_message(self._reader), timeout_s)
            if ready[0] != wire.READY:
                raise wire.RelayWireError(f"first message {ready[0]!r}; expected {wire.READY!r}")
        except (TimeoutError, asyncio.IncompleteReadError, wire.RelayWireError) as error:
            detail = "no answer in time" if isinstance(error, TimeoutError) else str(error)
            await self._kill(f"it did not start: {detail}")
            raise RelayError(f"the observer relay did not start: {detail}") from None
        self._last_heard_s = time.monotonic()
        self._read_task = asyncio.create_task(self._read_loop(), name="observer-relay-reader")
        self._watchdog = asyncio.create_task(self._watch(), name="observer-relay-watchdog")
        logger.info(
            "observer relay started (pid %s, niceness +%d)", process.pid, self.config.niceness
        )

    async def _kill(self, detail: str) -> None:
        """End the relay now: kill the process, close the socket (the reader then fails every
        relayed observer)."""
        if self.exit_detail is None:
            self.exit_detail = detail
        process = self._process
        if process is not None and process.is_alive():
            process.kill()
            await asyncio.get_running_loop().run_in_executor(None, process.join, 5.0)
        if self._writer is not None:
            self._writer.close()

    async def _watch(self) -> None:
        """Declare a silent or hopelessly behind relay dead (it reports every second)."""
        while self.alive:
            await asyncio.sleep(1.0)
            silent_s = time.monotonic() - self._last_heard_s
            if silent_s > self.silent_after_s:
                detail = f"silent for {silent_s:.1f} s"
            elif self._backlog() > self.dead_backlog_bytes:
                detail = f"{self._backlog()} bytes waiting for it"
            else:
                continue
            logger.error("observer relay declared dead: %s", detail)
            await self._kill(detail)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Close every relayed connection and the socket; wait for the process to end."""
        for pc in list(self._peers.values()):
            await pc.close()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        for task in (self._read_task, self._watchdog):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        process = self._process
        if process is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, process.join, timeout_s)
            if process.is_alive():
                logger.error("the observer relay did not stop in %s s: killing it", timeout_s)
                process.kill()
                await loop.run_in_executor(None, process.join, 5.0)

    # -- observers --------------------------------------------------------------------------------

    def new_peer(self, session_id: int) -> RelayedPeerConnection:
        """The gateway-side stand-in of an observer's peer connection (answer it next)."""
        pc = RelayedPeerConnection(session_id, self)
        self._peers[session_id] = pc
        return pc

    async def answer(
        self, pc: RelayedPeerConnection, console_id: str, sdp: str, timeout_s: float = 20.0
    ) -> str:
        """Have the relay answer the observer's offer; the answer SDP. Raises
        :class:`RelayError` if the relay refuses the offer, is gone, or takes too long."""
        if not self.alive:
            raise RelayError(f"the observer relay is not running ({self.exit_detail})")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._answers[pc.session_id] = future
        self._write((wire.OFFER, pc.session_id, console_id, sdp))
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise RelayError(f"the observer relay did not answer within {timeout_s} s") from None
        finally:
            self._answers.pop(pc.session_id, None)

    def set_cut(self, session_id: int, cut: bool) -> None:
        """Cut or restore a relayed observer's emulated link."""
        if session_id in self._peers:
            self._write((wire.CUT, session_id, cut))

    def _close(self, pc: RelayedPeerConnection) -> None:
        if self._peers.pop(pc.session_id, None) is not None and self.alive:
            self._write((wire.CLOSE, pc.session_id))

    # -- streams ----------------------------------------------------------------------------------

    def send_frame(self, frame: EncodedFrame) -> None:
        """An encoded frame for every relayed observer (an ``encoded_listeners`` callback)."""
        if not self._peers or not self.alive or not frame.payloads:
            self._waiting_keyframe = True
            return
        if self._backlog() > self.max_backlog_bytes:
            self.frames_skipped += 1
            if not self._waiting_keyframe:
                self._waiting_keyframe = True
                self._keyframe_asked = False
                logger.warning("observer relay behind: video skipped until the next keyframe")
            return
        if self._waiting_keyframe:
            if not frame.keyframe:
                self.frames_skipped += 1
                if not self._keyframe_asked:  # once per gap: a keyframe costs every console
                    self._keyframe_asked = True
                    self._on_keyframe_request("observer relay resumes")
                return
            self._waiting_keyframe = False
            self._keyframe_asked = False
            self.resumes += 1
        packets = tuple((p.payloads, p.timestamp) for p in frame.payloads)
        self._write(
            (wire.FRAME, frame.frame_number, frame.capture_monotonic_ns, frame.keyframe, packets)
        )
        self.frames_sent += 1

    def broadcast_state(self, data: bytes) -> None:
        """One robot state message for every relayed observer."""
        if self._peers and self.alive:
            if self._backlog() > self.max_backlog_bytes:
                self.states_skipped += 1
                return
            self._write((wire.STATE, data))
            self.states_sent += 1

    def _backlog(self) -> int:
        writer = self._writer
        return 0 if writer is None else writer.transport.get_write_buffer_size()

    def _write(self, message: tuple[Any, ...]) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(wire.pack(message))

    async def _read_loop(self) -> None:
        assert self._reader is not None
        handlers: dict[str, Callable[..., None]] = {
            wire.ANSWER: self._on_answer,
            wire.FAILED: self._on_failed,
            wire.CHANNEL: self._on_channel,
            wire.CONTROL: functools.partial(self._on_message, "control"),
            wire.EVENTS: functools.partial(self._on_message, "events"),
            wire.CONNECTION: self._on_connection,
            wire.KEYFRAME: self._on_keyframe_request,
            wire.STATS: self._on_stats,
        }
        try:
            while True:
                message = await wire.read_message(self._reader)
                self._last_heard_s = time.monotonic()
                handler = handlers.get(message[0])
                if handler is None:
                    logger.error("unknown message %r from the observer relay", message[0])
                    continue
                try:
                    handler(*message[1:])
                except Exception:  # the peer's own checks failed: the others go on
                    logger.exception("handling %r from the observer relay failed", message[0])
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            if self.exit_detail is None:
                self.exit_detail = f"its socket closed ({type(error).__name__})"
        except wire.RelayWireError as error:
            self.exit_detail = f"unreadable message: {error}"
            logger.error("observer relay: %s", self.exit_detail)
        finally:
            if self._writer is not None:
                self._writer.close()
            for future in self._answers.values():
                if not future.done():
                    future.set_exception(
                        RelayError(f"the observer relay ended: {self.exit_detail}")
                    )
            for pc in list(self._peers.values()):
                pc._set_state("failed")  # the gateway drops them; surgeons are not affected

    def _on_answer(self, session_id: int, sdp: str) -> None:
        future = self._answers.get(session_id)
        if future is not None and not future.done():
            future.set_result(sdp)

    def _on_failed(self, session_id: int, detail: str) -> None:
        future = self._answers.get(session_id)
        if future is not None and not future.done():
            future.set_exception(RelayError(f"the observer relay refused the offer: {detail}"))

    def _on_channel(self, session_id: int, label: str) -> None:
        pc = self._peers.get(session_id)
        if pc is not None and label not in pc.channels:
            pc._open_channel(label)

    def _on_message(self, label: str, session_id: int, data: bytes | str) -> None:
        pc = self._peers.get(session_id)
        if pc is None:
            return
        channel = pc.channels.get(label)
        if channel is not None and channel.readyState == "open":
            channel.emit("message", data)

    def _on_connection(self, session_id: int, state: str) -> None:
        pc = self._peers.get(session_id)
        if pc is not None:
            pc._set_state(state)

    def _on_stats(self, stats: dict[str, Any]) -> None:
        self.relay_stats = stats

    def status(self) -> dict[str, Any]:
        """For the gateway's ``/status``."""
        return {
            "alive": self.alive,
            "pid": None if self._process is None else self._process.pid,
            "observers": len(self._peers),
            "frames_sent": self.frames_sent,
            "frames_skipped": self.frames_skipped,
            "resumes": self.resumes,
            "states_sent": self.states_sent,
            "states_skipped": self.states_skipped,
            "backlog_bytes": self._backlog(),
            "exit_detail": self.exit_detail,
            "relay": self.relay_stats,
        }
