"""The largest message a real page sends fits the socket's limit with a margin (issue 17, item 1).

Real Chromium on the real server, with the worst case a device can hold: MINE_KEEP saved runs
with the longest run ids and names, and the top best. Every frame the page sends (the
socket.io connect, restore_mine, run_began, score_saved, NiceGUI's acks) is measured in
UTF-8 bytes, as uvicorn's ws_max_size counts them. docs/DECISIONS.md section 10 records them.
"""

import json

import pytest
from playwright.sync_api import Page, WebSocket

from drafty_bird.ops.socket_limits import MAX_MESSAGE_BYTES
from drafty_bird.ui.board import MINE_KEEP
from tests.server import RunningServer
from tests.ui.helpers import open_game, play_stepped_to

pytestmark = pytest.mark.browser

MARGIN = 4  # the limit is at least this many times the largest message measured


def test_the_largest_message_a_page_sends_is_well_under_the_limit(page: Page, game_server: RunningServer) -> None:
    sent: list[bytes] = []

    def on_socket(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: sent.append(payload.encode() if isinstance(payload, str) else payload))

    page.on("websocket", on_socket)
    open_game(page, game_server.url)
    runs = [
        # 64 characters: the longest run_id the API takes; 24 four-byte characters: the longest name.
        {"run_id": f"{i:02d}" + "f" * 62, "player": "\U0001f426" * 24, "score": 100_000, "createdAt": "x" * 24}
        for i in range(MINE_KEEP)
    ]
    page.evaluate("m => localStorage.setItem('draftyBird.mine', JSON.stringify(m))", {"best": 100_000, "runs": runs})
    sent.clear()
    open_game(page, game_server.url)  # loads the page again, with the device's runs in its storage
    play_stepped_to(page, 1)
    page.wait_for_function("window.__draftyBird.state().placeText !== ''", timeout=15_000)
    page.wait_for_timeout(3_500)  # NiceGUI acks every 3 s

    # An "event" frame names its listener, not the event: tell them apart by their arguments.
    events = [f for f in sent if f.startswith(b'42["event"')]
    restore = [f for f in events if b"run_ids" in f]
    saved = [f for f in events if b'\\"run_id\\"' in f]
    began = [f for f in events if b'"args":["{}"]' in f]
    acks = [f for f in sent if f.startswith(b'42["ack"')]
    assert len(restore) == 1 and len(saved) == 1 and len(began) == 1 and acks, [f[:60] for f in sent]
    assert restore[0].count(b"f" * 62) == MINE_KEEP, "every run id goes out"
    assert "\U0001f426".encode() not in restore[0], "no names: the server looks the runs up"
    largest = max(len(f) for f in sent)
    sizes = {
        name: max(len(f) for f in frames)
        for name, frames in (
            ("restore_mine", restore),
            ("score_saved", saved),
            ("run_began", began),
            ("ack", acks),
            ("any", sent),
        )
    }
    # The same device's restore_mine in the old shape (whole runs) for the record.
    old = json.dumps({"best": 100_000, "runs": runs}, ensure_ascii=False, separators=(",", ":"))
    sizes["old restore_mine args"] = len(old.encode())
    print("socket frames sent by the page, bytes:", sizes)
    assert largest * MARGIN <= MAX_MESSAGE_BYTES, sizes
