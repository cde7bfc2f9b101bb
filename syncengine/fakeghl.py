"""Running the project's fake GHL on loopback: for ``syncengine fake-ghl`` and the demo.

The fake is a Starlette app (``adapters.ghl.fake``) that answers like GHL API v2 over an
in-memory store. Here it is served by uvicorn on 127.0.0.1, in this process, on a port
the OS picks, with one location and one private integration token ready to use.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from adapters.ghl.fake import FakeGhlState, create_app

DEMO_LOCATION = "demoLocation00000001"


@dataclass
class RunningFake:
    base_url: str
    location_id: str
    token: str
    state: FakeGhlState
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def prepare_state(
    *, location_id: str = DEMO_LOCATION, allow_duplicates: bool = True, token: str | None = None
) -> tuple[FakeGhlState, str]:
    state = FakeGhlState()
    state.add_location(location_id, allow_duplicates=allow_duplicates)
    return state, state.issue_token(location_id, token=token)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_in_thread(
    state: FakeGhlState, token: str, location_id: str, port: int | None = None
) -> RunningFake:
    port = port or free_port()
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-ghl", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the fake GHL did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    return RunningFake(f"http://127.0.0.1:{port}", location_id, token, state, server, thread)
