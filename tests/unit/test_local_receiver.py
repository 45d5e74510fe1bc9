"""The local webhook receiver records only requests that arrived whole."""

from __future__ import annotations

import socket
import time

import requests

from catalog_pipelines.webhooks.receiver import LocalReceiver


def test_a_request_cut_off_mid_body_is_not_recorded() -> None:
    with LocalReceiver() as receiver:
        # a sender killed mid-request: headers promise 100 bytes, 10 arrive, the socket closes
        with socket.create_connection(("127.0.0.1", receiver.port)) as sock:
            sock.sendall(
                b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{" * 10
            )
        time.sleep(0.2)
        reply = requests.post(receiver.url, data=b'{"id": "evt_1"}', timeout=5)
        assert reply.status_code == 200
        assert [r.body for r in receiver.received] == [b'{"id": "evt_1"}']
        deadline = time.monotonic() + 5  # answered is noted just after the reply is sent
        while not receiver.delivered() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r.body for r in receiver.delivered()] == [b'{"id": "evt_1"}']
