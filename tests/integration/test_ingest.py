#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The daemon pulling simulated cameras: live, down and back, stalled, 401/404, 100 flaps, and the
HTTP surface around them. Loopback only; every loop is bounded."""

import json
import os
import signal
import tempfile
import time
import urllib.request

import harness

SECRET = "s3cret-Pw-71"
FLAP_CYCLES = int(os.environ.get("VLG_FLAP_CYCLES", "100"))

CLIPS = {
    "cam-a": "h264-cbp-360p",
    "cam-b": "h264-main-720p",
    "cam-c": "h265-main-720p",
    "cam-d": "h264-pcma-360p",
    "cam-401": "h264-cbp-360p",
    "cam-404": "h264-cbp-360p",
    "cam-idle": "h264-aac-360p",
}


def main():
    tap = harness.Tap(10)
    camsim = harness.Camsim(CLIPS)
    workdir = tempfile.mkdtemp(prefix="vlg-ingest-")
    camsim.control("status cam-401 401")
    camsim.control("status cam-404 404")
    cameras = {cid: (camsim.url(cid), cid != "cam-idle") for cid in CLIPS}
    # Credentials in the URL: the catalogue moves them out; they must never be shown or logged.
    cameras["cam-a"] = (camsim.url("cam-a").replace("rtsp://", "rtsp://viewer:%s@" % SECRET),
                        True)
    gateway = harness.Gateway(workdir, harness.catalogue(cameras))
    try:
        tap.run("four cameras go live within 10 s", four_live, gateway)
        tap.run("HTTP surface: health, list, one camera, errors, 413, metrics", http_surface,
                gateway)
        tap.run("a camera nobody watches is not pulled", idle_not_pulled, gateway)
        tap.run("401 shows retrying with the reason", status_reason, gateway, "cam-401",
                "Unauthorized")
        tap.run("404 shows retrying with the reason", status_reason, gateway, "cam-404",
                "found")
        tap.run("down for 5 s: live again within 3 s of coming back", down_and_back, gateway,
                camsim)
        tap.run("stalled camera detected within 6 s and recovers", stall, gateway, camsim)
        tap.run("other cameras carried on", others_untouched, gateway)
        tap.run("%d down/up cycles leave fd and thread counts where they started"
                % FLAP_CYCLES, flap_cycles, gateway, camsim)
        tap.run("SIGTERM exits 0", sigterm, gateway)
    finally:
        gateway.stop()
        camsim.stop()
    tap.finish()


def four_live(gateway):
    took = [gateway.wait_state(cid, "live", 10) for cid in ("cam-a", "cam-b", "cam-c", "cam-d")]
    codecs = {cid: gateway.camera(cid)["video"]["codec"] for cid in ("cam-a", "cam-c")}
    assert codecs == {"cam-a": "H.264", "cam-c": "H.265"}, codecs
    assert gateway.camera("cam-d")["audio"]["codec"] == "G.711 A-law"
    return "slowest %.2f s" % max(took)


def http_surface(gateway):
    status, health = gateway.get("/healthz")
    assert status == 200 and health["status"] == "ok", health
    status, listing = gateway.get("/api/v1/cameras")
    assert status == 200 and listing["count"] == len(CLIPS), listing["count"]
    status, live = gateway.get("/api/v1/cameras?state=live")
    assert all(c["state"] == "live" for c in live["cameras"]), live
    status, sub = gateway.get("/api/v1/cameras?org=330203001001")
    assert sub["count"] == len(CLIPS)
    status, body = gateway.get("/api/v1/cameras?org=999999999999")
    assert status == 404, status
    status, body = gateway.get("/api/v1/cameras/no-such-camera")
    assert status == 404 and body["error"]["status"] == 404, body
    status, body = gateway.get("/no/such/path")
    assert status == 404 and "error" in body, body
    deadline = time.monotonic() + 5  # the rate is sampled once a second
    cam = gateway.camera("cam-a")
    while cam["bitrate_kbps"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
        cam = gateway.camera("cam-a")
    assert cam["bitrate_kbps"] > 0 and cam["bytes"] > 0, cam
    assert SECRET not in json.dumps(listing), "credentials in the listing"
    assert SECRET not in open(gateway.log.name).read(), "credentials in the log"
    request = urllib.request.Request("http://127.0.0.1:%d/api/v1/cameras" % gateway.port,
                                     data=b"x" * (64 * 1024 + 1), method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("65 KiB body accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 413, e.code
    status, metrics = gateway.get("/metrics")
    assert status == 200 and SECRET not in metrics
    assert 'vlg_camera_state{camera="cam-a",state="live"} 1' in metrics, metrics[:2000]
    assert 'vlg_camera_bytes_total{camera="cam-b"}' in metrics


def idle_not_pulled(gateway):
    cam = gateway.camera("cam-idle")
    assert cam["state"] == "idle" and cam["bytes"] == 0, cam


def status_reason(gateway, camera_id, fragment):
    gateway.wait_state(camera_id, "retrying", 10)
    cam = gateway.camera(camera_id)
    assert fragment.lower() in (cam["last_error"] or "").lower(), cam["last_error"]
    assert cam["next_attempt_at"], cam
    return cam["last_error"]


def down_and_back(gateway, camsim):
    gateway.wait_state("cam-a", "live", 10)
    camsim.control("down cam-a")
    gateway.wait_state("cam-a", "retrying", 5)
    time.sleep(5)
    camsim.control("up cam-a")
    took = gateway.wait_state("cam-a", "live", 3)
    return "live %.2f s after coming back" % took


def stall(gateway, camsim):
    gateway.wait_state("cam-b", "live", 10)
    camsim.control("stall cam-b")
    took = gateway.wait_state("cam-b", "retrying", 6)
    assert "stalled" in gateway.camera("cam-b")["last_error"]
    camsim.control("up cam-b")
    back = gateway.wait_state("cam-b", "live", 10)
    return "detected after %.2f s, live %.2f s after resuming" % (took, back)


def others_untouched(gateway):
    for cid in ("cam-c", "cam-d"):
        cam = gateway.camera(cid)
        assert cam["state"] == "live" and cam["reconnects"] == 0, cam


def settle(read, baseline, timeout=30):
    """Waits for a count to come back down to `baseline`; returns the last value read."""
    deadline = time.monotonic() + timeout
    value = read()
    while value > baseline and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def flap(gateway, camsim):
    camsim.control("down cam-d")
    gateway.wait_state("cam-d", "retrying", 5)
    camsim.control("up cam-d")
    gateway.wait_state("cam-d", "live", 10)


def flap_cycles(gateway, camsim):
    flap(gateway, camsim)  # warm-up: the first teardown starts worker threads that stay
    time.sleep(2)
    fds, threads = gateway.fd_count(), gateway.thread_count()
    for _ in range(FLAP_CYCLES):
        flap(gateway, camsim)
    fds_after = settle(gateway.fd_count, fds)
    threads_after = settle(gateway.thread_count, threads)
    assert fds_after <= fds, "fds %d -> %d" % (fds, fds_after)
    assert threads_after <= threads, "threads %d -> %d" % (threads, threads_after)
    return "fds %d -> %d, threads %d -> %d" % (fds, fds_after, threads, threads_after)


def sigterm(gateway):
    start = time.monotonic()
    code = gateway.stop(signal.SIGTERM)
    assert code == 0, "exit %s: %s" % (code, gateway.stderr_tail())
    return "exit 0 after %.2f s" % (time.monotonic() - start)


if __name__ == "__main__":
    main()
