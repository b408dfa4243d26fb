#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""/ws/wall without a browser: the offer it makes, and every kind of bad input getting an error or
a clean close while other walls carry on. Runs in a loopback-only namespace (the wall's
webrtcbin gathers candidates)."""

import tempfile

import harness

CLIPS = {"cam-1": "h264-cbp-360p", "cam-2": "h264-main-720p"}


def main():
    tap = harness.Tap(7)
    camsim = harness.Camsim(CLIPS)
    workdir = tempfile.mkdtemp(prefix="vlg-wall-")
    cameras = {cid: (camsim.url(cid), False) for cid in CLIPS}
    gateway = harness.Gateway(workdir, harness.catalogue(cameras), "[ice]\naddresses=127.0.0.1\n")
    try:
        tap.run("hello gets welcome, one offer with a transceiver per tile, and tile states",
                hello, gateway)
        tap.run("30 walls opened with cameras on their tiles each get a complete offer",
                complete_offers, gateway)
        tap.run("bad messages get errors and the wall goes on", bad_messages, gateway)
        tap.run("a message over 64 KiB closes with 1009", oversize, gateway)
        tap.run("invalid UTF-8 closes with 1007", bad_utf8, gateway)
        tap.run("an unknown WebSocket path is refused", unknown_path, gateway)
        tap.run("the gateway is still healthy", healthy, gateway)
    finally:
        gateway.stop()
        camsim.stop()
    tap.finish()


def hello(gateway):
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send({"type": "hello", "token": gateway.token(), "layout": 4,
             "tiles": [{"tile": 0, "camera": "cam-1"}]})
    ws.recv_type("welcome")
    offer = ws.recv_type("offer")
    mlines = [l for l in offer["sdp"].splitlines() if l.startswith("m=video")]
    assert len(mlines) == 16, offer["sdp"]  # every tile of the largest layout, negotiated once
    assert "a=sendonly" in offer["sdp"] and "H264/90000" in offer["sdp"]
    assert "a=candidate" in offer["sdp"], "the offer should hold its candidates"
    tiles = ws.recv_type("tiles")
    assert tiles["tiles"][0]["camera"] == "cam-1", tiles
    assert [t["state"] for t in tiles["tiles"][1:]] == ["empty"] * 3, tiles
    ws.send({"type": "set-layout", "layout": 9})
    tiles = ws.recv_type("tiles")
    assert len(tiles["tiles"]) == 9 and tiles["tiles"][0]["camera"] == "cam-1", tiles
    ws.send({"type": "ping"})
    ws.recv_type("pong")
    ws.close()


def complete_offers(gateway):
    # A reload opens a wall whose hello already names cameras, so media flows while the first
    # offer is made; webrtcbin 1.22 once left m-lines out of such offers.
    tiles = [{"tile": t, "camera": "cam-1" if t % 2 else "cam-2"} for t in (0, 1, 2, 3, 6)]
    for _ in range(30):
        ws = harness.WebSocket(gateway.port, "/ws/wall")
        ws.send({"type": "hello", "token": gateway.token(), "layout": 9, "tiles": tiles})
        offer = ws.recv_type("offer")
        mlines = [l for l in offer["sdp"].splitlines() if l.startswith("m=")]
        assert len(mlines) == 16, "%d m-lines" % len(mlines)
        ws.close()


def bad_messages(gateway):
    # The token in a first message that is not hello, so that every message below is the
    # wall's to judge.
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send({"type": "ping", "token": gateway.token()})
    ws.recv_type("pong")
    cases = [
        ("{not json", "bad-json"),
        ("[1,2]", "bad-json"),
        ({"no": "type"}, "unknown-type"),
        ({"type": "dance"}, "unknown-type"),
        ({"type": "set-tile", "tile": 0, "camera": "cam-1"}, "bad-message"),  # before hello
        ({"type": "hello", "layout": 5}, "bad-layout"),
    ]
    for message, code in cases:
        ws.send(message)
        reply = ws.recv_type("error")
        assert reply["code"] == code, (message, reply)
    ws.send({"type": "hello", "token": "ignored: already authenticated", "layout": 1})
    ws.recv_type("welcome")
    after_hello = [
        ({"type": "hello", "layout": 1}, "bad-message"),
        ({"type": "set-tile", "tile": 3, "camera": "cam-1"}, "bad-tile"),
        ({"type": "set-tile", "tile": "0", "camera": "cam-1"}, "bad-tile"),
        ({"type": "set-tile", "tile": 0, "camera": "../etc/passwd"}, "unknown-camera"),
        ({"type": "set-layout", "layout": 0}, "bad-layout"),
        ({"type": "candidate", "candidate": 7}, "bad-message"),
    ]
    for message, code in after_hello:
        ws.send(message)
        reply = ws.recv_type("error")
        assert reply["code"] == code, (message, reply)
    # Candidates that do not parse, or name addresses outside [ice] addresses: dropped quietly.
    for candidate in ("garbage", "candidate:1 1 UDP 1 10.1.2.3 9 typ host", "candidate:" + "9" * 300):
        ws.send({"type": "candidate", "candidate": candidate, "sdpMLineIndex": 0})
    ws.send({"type": "ping"})
    ws.recv_type("pong")
    # An answer that is not SDP: refused, the wall stays.
    ws.send({"type": "answer", "sdp": "garbage"})
    assert ws.recv_type("error")["code"] in ("bad-sdp", "bad-message")
    ws.send({"type": "ping"})
    ws.recv_type("pong")
    ws.close()


def oversize(gateway):
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send_raw(b'{"type":"ping","pad":"' + b"x" * (65 * 1024) + b'"}')
    assert ws.recv() is None and ws.close_code == 1009, ws.close_code


def bad_utf8(gateway):
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send_raw(b'{"type":"ping","x":"\xc0\xae\xff"}')
    assert ws.recv() is None and ws.close_code == 1007, ws.close_code


def unknown_path(gateway):
    ws = harness.WebSocket(gateway.port, "/ws/nothing")
    assert ws.recv() is None, "should be closed"


def healthy(gateway):
    status, health = gateway.get("/healthz")
    assert status == 200 and health["status"] == "ok"


if __name__ == "__main__":
    main()
