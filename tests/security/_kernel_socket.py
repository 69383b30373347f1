"""A raw Jupyter kernel websocket, as an attacker (or a script) drives a console page's
widgets without a browser: list the widgets, read their state, click, type."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from websockets.sync.client import ClientConnection, connect


class KernelSocket:
    def __init__(self, url: str, *, cookie: str | None = None) -> None:
        headers = {"Cookie": cookie} if cookie else {}
        self.session = uuid.uuid4().hex
        self.ws: ClientConnection = connect(
            f"{url}?session_id={self.session}", additional_headers=headers, open_timeout=15
        ).__enter__()  # entered now, closed by close()
        self.states: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.ws.close()

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        self.ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": msg_type,
                        "session": self.session,
                        "username": "",
                        "date": datetime.now(timezone.utc).isoformat(),
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": content,
                    "channel": channel,
                    "buffers": [],
                }
            )
        )
        return msg_id

    def drain(self, until: Callable[[dict[str, Any]], bool], timeout: float = 20) -> bool:
        """Read messages (keeping widget states) until ``until(msg)`` or the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                raw = self.ws.recv(timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                return False
            if isinstance(raw, bytes):
                continue
            msg = json.loads(raw)
            content = msg.get("content", {})
            kind = msg.get("msg_type") or msg.get("header", {}).get("msg_type")
            if kind in ("comm_open", "comm_msg"):
                data = content.get("data", {})
                state = data.get("state")
                if isinstance(state, dict):
                    self.states.setdefault(content["comm_id"], {}).update(state)
            if until(msg):
                return True
        return False

    def refresh_widgets(self) -> None:
        """Every widget comm and its full state (comm_info_request + request_state)."""
        request = self.send("comm_info_request", {"target_name": "jupyter.widget"})
        comms: dict[str, Any] = {}

        def reply(msg: dict[str, Any]) -> bool:
            if (
                msg.get("parent_header", {}).get("msg_id") == request
                and msg.get("msg_type") == "comm_info_reply"
            ):
                comms.update(msg["content"]["comms"])
                return True
            return False

        assert self.drain(reply), "no comm_info_reply"
        for comm_id in comms:
            self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}})
        self.drain(lambda m: set(comms) <= set(self.states), timeout=20)

    def find(self, dom_class: str, **state: Any) -> list[str]:
        return [
            comm
            for comm, s in self.states.items()
            if dom_class in (s.get("_dom_classes") or [])
            and all(s.get(k) == v for k, v in state.items())
        ]

    def click(self, comm_id: str) -> None:
        self.send(
            "comm_msg",
            {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}},
        )

    def type(self, comm_id: str, value: str) -> None:
        self.send(
            "comm_msg",
            {
                "comm_id": comm_id,
                "data": {"method": "update", "state": {"value": value}, "buffer_paths": []},
            },
        )
