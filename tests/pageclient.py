"""A game page as the browser opens it, without a browser: GET / with cookies, then the
socket.io websocket with NiceGUI's implicit handshake, answering pings and acking like
nicegui.js. Used by bench/pages_load.py and the capacity tests.

Speaks engine.io 4 / socket.io 5 text frames over aiohttp's websocket directly: one
python-socketio AsyncClient per page would cost the load tool more than the server.
"""

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

# The page's createApp(...) options, rendered by NiceGUI's index.html template.
_QUERY = re.compile(r"query: \{'client_id': '([0-9a-f-]+)', 'next_message_id': (\d+)")
ACK_INTERVAL_S = 3.0  # nicegui.js: setInterval(() => ack(), 3000)


class Busy(Exception):
    """The server answered the page load with the busy page (503 + Retry-After)."""

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"busy: HTTP {status}, Retry-After {retry_after}")
        self.status, self.retry_after = status, retry_after


class Refused(Exception):
    """The socket was refused (handshake failed or the socket cap answered)."""


@dataclass
class Page:
    base_url: str
    session: aiohttp.ClientSession
    headers: dict[str, str] = field(default_factory=dict)
    # Called with (text of the event frame, arrival time) for every event; cheap by design.
    on_event: Callable[[str, float], None] | None = None
    client_id: str = ""
    html: str = ""  # the page as loaded (its elements' ids and listeners)
    next_message_id: int = 0
    acked_id: int = -1
    connected: bool = False
    events: int = 0
    bytes_in: int = 0
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _tasks: list[asyncio.Task] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    handshake: dict = field(default_factory=dict)  # engine.io's open packet

    async def load(self) -> None:
        """GET /, keeping its cookies for the socket; raises Busy on the busy answer."""
        async with self.session.get(self.base_url + "/", headers=self.headers) as response:
            self.html = text = await response.text()
            if response.status != 200:
                raise Busy(response.status, response.headers.get("retry-after"))
            cookies = "; ".join(f"{k}={v.value}" for k, v in response.cookies.items())
        match = _QUERY.search(text)
        if match is None:
            raise AssertionError("no socket.io query in the page: NiceGUI's template changed?")
        self.client_id, self.next_message_id = match.group(1), int(match.group(2))
        if cookies:
            self.headers = {**self.headers, "Cookie": cookies}

    async def connect(self) -> None:
        """Open the socket with the handshake query nicegui.js sends; raises Refused."""
        self.closed.clear()
        query = {
            "client_id": self.client_id,
            "next_message_id": str(self.next_message_id),
            "implicit_handshake": "true",
            "document_id": str(uuid.uuid4()),
            "tab_id": str(uuid.uuid4()),
            "old_tab_id": "null",
            "EIO": "4",
            "transport": "websocket",
        }
        ws_url = self.base_url.replace("http", "ws", 1) + "/_nicegui_ws/socket.io/"
        try:
            # max_msg_size=0: take any size the server sends (abuse tests watch the old server push MBs).
            # compress=15 offers permessage-deflate, as every browser does.
            self._ws = await self.session.ws_connect(
                ws_url, params=query, headers=self.headers, autoping=True, max_msg_size=0, compress=15
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise Refused(f"websocket upgrade refused: HTTP {exc.status}") from None
        opening = await self._ws.receive_str(timeout=30)
        if not opening.startswith("0"):
            raise AssertionError(f"expected the engine.io open packet, got {opening[:80]!r}")
        self.handshake = json.loads(opening[1:])  # sid, pingInterval, pingTimeout (ms), ...
        await self._ws.send_str("40")  # socket.io CONNECT to "/"; the implicit handshake runs now
        reply = await self._ws.receive_str(timeout=30)
        while reply == "2":  # a ping may come first under load
            await self._ws.send_str("3")
            reply = await self._ws.receive_str(timeout=30)
        if not reply.startswith("40"):
            await self._ws.close()
            raise Refused(reply[:200])
        self.connected = True
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._ack_loop())]

    async def open(self) -> None:
        await self.load()
        await self.connect()

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data: str = msg.data
                if data == "2":
                    await ws.send_str("3")
                elif data.startswith("42"):
                    now = time.time()
                    self.events += 1
                    self.bytes_in += len(data)
                    if self.on_event is not None:
                        self.on_event(data, now)
                    # nicegui.js: window.nextMessageId = msg._id + 1 (the outbox appends _id last)
                    at = data.rfind('"_id":')
                    if at >= 0:
                        end = at + 6
                        while end < len(data) and data[end].isdigit():
                            end += 1
                        self.next_message_id = max(self.next_message_id, int(data[at + 6 : end]) + 1)
                elif data.startswith("41"):  # the server disconnected this namespace
                    break
        finally:
            self.connected = False
            self.closed.set()

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(ACK_INTERVAL_S)
            if self._ws is None or self._ws.closed:
                return
            if self.acked_id >= self.next_message_id:
                continue
            payload = {"client_id": self.client_id, "next_message_id": self.next_message_id}
            await self._ws.send_str("42" + json.dumps(["ack", payload]))
            self.acked_id = self.next_message_id

    async def emit(self, event: str, payload: object) -> None:
        await self.send_frame("42" + json.dumps([event, payload]))

    async def send_frame(self, text: str) -> None:
        """One raw engine.io text frame (abuse tests build their own)."""
        assert self._ws is not None
        await self._ws.send_str(text)

    @property
    def close_code(self) -> int | None:
        """The websocket close code once closed (1009: the server refused a too-big message)."""
        return None if self._ws is None else self._ws.close_code

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        self.connected = False
        self.closed.set()
