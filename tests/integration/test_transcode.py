#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every camera plays on every screen: shared transcodes per (camera, profile) with a budget,
H.265 and B-frame cameras to WebRTC viewers, and fMP4 over WebSocket with a slow reader that
stays bounded and does not slow the others. Runs in a loopback-only network namespace (WHEP
viewers and walls gather ICE candidates)."""

import json
import os
import socket
import struct
import subprocess
import tempfile
import time

import harness

WHEP_CLIENT = os.environ.get("VLG_WHEP_CLIENT", "build/tests/tools/vlg-whep-client")
CLIPS = {"cam-h265": "h265-main-720p", "cam-bf": "h264-high-bframes-720p",
         "cam-main": "h264-main-720p", "cam-cbp": "h264-cbp-360p"}


def main():
    tap = harness.Tap(8)
    camsim = harness.Camsim(CLIPS)
    workdir = tempfile.mkdtemp(prefix="vlg-transcode-")
    cameras = {cid: (camsim.url(cid), False) for cid in CLIPS}
    # A camera with a native sub-stream (the 360p clip as its sub-url).
    native = ("[camera cam-native]\nname=native sub\norg=330203001001\nurl=%s\nsub-url=%s\n"
              % (camsim.url("cam-main"), camsim.url("cam-cbp")))
    gateway = harness.Gateway(workdir, harness.catalogue(cameras) + native,
                              "[ice]\naddresses=127.0.0.1\n[ingest]\nlinger=1\n"
                              "[budget]\ntranscodes=2\n")
    try:
        tap.run("H.265 plays to a WebRTC viewer through a transcode", whep_play, gateway,
                "cam-h265")
        tap.run("H.264 with B-frames plays to a WebRTC viewer through a transcode", whep_play,
                gateway, "cam-bf")
        tap.run("two walls on one (camera, profile) share one transcode, stopped after the last",
                shared_transcode, gateway)
        tap.run("past the budget a tile gets the nearest profile that fits and says why",
                budget, gateway)
        tap.run("sub of a camera with a sub-url is its native sub-stream, not a transcode",
                native_sub, gateway)
        tap.run("fMP4: the MSE type, the init segment, then segments that decode", fmp4_decodes,
                gateway, workdir)
        tap.run("a slow fMP4 reader is bounded and does not slow a fast one", slow_reader,
                gateway)
        tap.run("everything is released", released, gateway)
    finally:
        gateway.stop()
        camsim.stop()
    tap.finish()


def metric(gateway, name):
    status, text = gateway.get("/metrics", token=None)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric " + name)


def whep_play(gateway, camera):
    done = subprocess.run([WHEP_CLIENT, "http://127.0.0.1:%d/whep/%s" % (gateway.port, camera),
                           "--seconds", "10", "--expect-frames", "50",
                           "--bearer", gateway.token()],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, "%s %s" % (done.stdout, done.stderr[-2000:])
    return done.stdout.strip()


def wall(gateway, layout, tiles):
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send({"type": "hello", "token": gateway.token(), "layout": layout, "tiles": tiles})
    ws.recv_type("welcome")
    return ws


def wait_tiles(ws, check, timeout=15):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        message = ws.recv(max(0.1, deadline - time.monotonic()))
        if message and message.get("type") == "tiles":
            last = message["tiles"]
            if check(last):
                return last
    raise AssertionError("tiles never right: %s" % json.dumps(last))


def shared_transcode(gateway):
    walls = [wall(gateway, 4, [{"tile": 0, "camera": "cam-main"}]) for _ in range(2)]
    for ws in walls:
        tiles = wait_tiles(ws, lambda t: t[0]["state"] == "live")
        assert tiles[0]["profile"] == "sub" and tiles[0]["transcoded"], tiles[0]
    deadline = time.monotonic() + 10
    while metric(gateway, "vlg_transcode_encoders") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric(gateway, "vlg_transcodes") == 1, "two viewers, one transcode"
    assert metric(gateway, "vlg_transcode_encoders") == 1
    walls[0].close()
    time.sleep(1)
    assert metric(gateway, "vlg_transcodes") == 1, "one viewer left: still running"
    walls[1].close()
    deadline = time.monotonic() + 10
    while metric(gateway, "vlg_transcode_encoders") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric(gateway, "vlg_transcodes") == 0
    assert metric(gateway, "vlg_transcode_encoders") == 0
    assert metric(gateway, "vlg_transcode_decoders") == 0


def budget(gateway):
    # transcodes=2: sub of three cameras cannot all be had; the third gets its nearest rung.
    ws = wall(gateway, 4, [{"tile": i, "camera": c}
                           for i, c in enumerate(("cam-main", "cam-cbp", "cam-bf"))])
    tiles = wait_tiles(ws, lambda t: all(x["state"] in ("live", "degraded") for x in t[:3]))
    profiles = [t["profile"] for t in tiles[:3]]
    assert profiles[:2] == ["sub", "sub"], tiles
    third = tiles[2]
    assert third["profile"] in ("low", "main", "key") and third["state"] == "degraded", third
    assert "budget" in third["reason"], third
    assert metric(gateway, "vlg_transcodes") <= 2
    ws.close()
    return "third tile: %s (%s)" % (third["profile"], third["reason"])


def native_sub(gateway):
    ws = wall(gateway, 4, [{"tile": 0, "camera": "cam-native"}])
    tiles = wait_tiles(ws, lambda t: t[0]["state"] == "live")
    assert tiles[0]["profile"] == "sub" and not tiles[0]["transcoded"], tiles[0]
    assert metric(gateway, "vlg_transcodes") == 0
    ws.close()
    return "tile 0: %s" % json.dumps(tiles[0])


def read_frame(sock):
    head = recv_exact(sock, 2)
    n = head[1] & 0x7f
    if n == 126:
        n = struct.unpack(">H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(sock, 8))[0]
    return head[0] & 0x0f, recv_exact(sock, n)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("closed")
        data += chunk
    return data


def fmp4_client(gateway, path):
    ws = harness.WebSocket(gateway.port, path)
    ws.send({"token": gateway.token()})
    return ws


def fmp4_decodes(gateway, workdir):
    notes = []
    for camera, query in (("cam-bf", ""), ("cam-h265", "?profile=main"),
                          ("cam-cbp", "?profile=low")):
        ws = fmp4_client(gateway, "/ws/fmp4/%s%s" % (camera, query))
        ws.sock.settimeout(15)
        texts, binary = [], []
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            opcode, payload = read_frame(ws.sock)
            if opcode == 1:
                texts.append(json.loads(payload))
            elif opcode == 2:
                binary.append(payload)
        ws.close()
        assert texts[0]["type"] == "stream", texts
        assert texts[1]["type"] == "init" and "avc1" in texts[1]["mime"], texts
        assert binary[0][4:8] == b"ftyp", binary[0][:16]
        assert binary[1][4:8] in (b"moof", b"styp"), binary[1][:16]
        path = os.path.join(workdir, camera + ".mp4")
        with open(path, "wb") as f:
            f.write(b"".join(binary))
        done = subprocess.run(["gst-launch-1.0", "-q", "filesrc", "location=" + path, "!",
                               "qtdemux", "!", "h264parse", "!", "avdec_h264", "!",
                               "fakesink"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-1000:]
        notes.append("%s %s: %d segments, %d bytes" % (camera, texts[1]["mime"], len(binary),
                                                        sum(map(len, binary))))
    return "; ".join(notes)


def slow_reader(gateway):
    rss_before = rss_mb(gateway)
    slow = fmp4_client(gateway, "/ws/fmp4/cam-main")
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    fast = fmp4_client(gateway, "/ws/fmp4/cam-main")
    fast.sock.settimeout(10)
    start = time.monotonic()
    fast_segments = 0
    slow_bytes = 0
    peak = rss_before
    next_slow = start
    while time.monotonic() - start < 15:
        opcode, payload = read_frame(fast.sock)
        fast_segments += opcode == 2
        now = time.monotonic()
        if now >= next_slow:  # 100 kbit/s: 1,250 bytes every 100 ms
            slow.sock.setblocking(False)
            try:
                slow_bytes += len(slow.sock.recv(1250))
            except BlockingIOError:
                pass
            slow.sock.setblocking(True)
            next_slow += 0.1
        peak = max(peak, rss_mb(gateway))
    elapsed = time.monotonic() - start
    slow.close()
    fast.close()
    rate = fast_segments / elapsed
    # The clip runs at 25 frames/s, one segment per frame: the fast reader keeps up.
    assert rate > 18, "the fast reader got %.1f segments/s" % rate
    assert peak - rss_before < 40, "RSS grew %.1f MB with a slow reader" % (peak - rss_before)
    time.sleep(0.5)
    log = gateway.log_text()
    dropped = [l for l in log.splitlines() if "segments dropped for reading slowly" in l]
    assert any(not l.rstrip().endswith("(0 segments dropped for reading slowly)")
               for l in dropped), dropped[-3:]
    return "fast %.1f segments/s; slow read %d bytes; RSS %+.1f MB" % (
        rate, slow_bytes, peak - rss_before)


def rss_mb(gateway):
    with open("/proc/%d/status" % gateway.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def released(gateway):
    deadline = time.monotonic() + 10
    while metric(gateway, "vlg_transcode_decoders") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert metric(gateway, "vlg_transcodes") == 0
    assert metric(gateway, "vlg_transcode_decoders") == 0
    assert metric(gateway, "vlg_streams") == 0
    for cid in list(CLIPS) + ["cam-native"]:
        gateway.wait_state(cid, "idle", 10)


if __name__ == "__main__":
    main()
