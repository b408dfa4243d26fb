#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Transcode cost: vlg-transcode-bench (N VlgTranscoders, one per camera, pulling the simulator)
next to a bare gst-launch-1.0 doing the same work on the same N streams (rtspsrc, depay, parse,
avdec, videorate, videoscale, x264enc with the same settings, h264parse), in the same run.

For each clip (H.264 720p, H.265 720p; 1080p ones if tests/media has them) and profile (sub, low,
key, and main for H.265) it prints, with N transcoders at once:
  - CPU % of one core per transcode: (harness CPU - harness pulling the same N cameras without
    transcoding) / N, and the output frame rate reached (min over the N);
  - the baseline's CPU per stream (its pull included) and the ratio harness/baseline (both pulls
    included);
then, for sub and low, how many real-time transcodes the box holds: N is raised until a
transcoder falls below 90 % of the profile's frame rate (twice in a row). The simulator serving
the streams runs on the same cores and is not counted. One core = 100 %. "others" is what the
rest of the box (not the harness, not the simulator) used during the window: when it is not
near 0 the figures are disturbed, above all the capacity.

Usage: bench_transcode.py [--count 4] [--warmup 3] [--seconds 5] [--max-count 24]
                          [--threads 1] [--sliced] [--preset superfast] [--no-capacity]
                          [--clips h264-main-720p,h265-main-720p]
A full run on two cores takes about six minutes; --no-capacity about two."""

import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402
from proc_stats import TICKS, cpu_seconds  # noqa: E402

BENCH = os.environ.get("VLG_TRANSCODE_BENCH", "build/tests/tools/vlg-transcode-bench")

# name: (width, height, fps, kbit/s, keyframes only); 0 = the camera's own
PROFILES = {
    "sub": (640, 360, 15, 600, False),
    "low": (320, 180, 5, 150, False),
    "key": (0, 0, 1, 2500, True),
    "main": (0, 0, 0, 2500, False),
}
KEY_QUALITY = 26
GOP_SECONDS = 2
CAMERA_FPS = 25
REALTIME = 0.9


def codec_of(clip):
    return "h265" if clip.startswith("h265") else "h264"


def box_busy_seconds():
    """CPU seconds the whole box has spent busy (all cores)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


class Window:
    """CPU of one process, of the simulator and of the whole box over a window."""

    def __init__(self, pid, camsim_pid):
        self.pids = (pid, camsim_pid)
        self.start = time.monotonic()
        self.cpu = [cpu_seconds(p) for p in self.pids]
        self.box = box_busy_seconds()

    def end(self):
        """(ours %, others %) of one core."""
        seconds = time.monotonic() - self.start
        used = [cpu_seconds(p) - c for p, c in zip(self.pids, self.cpu)]
        box = box_busy_seconds() - self.box
        return used[0] / seconds * 100, max(0.0, box - sum(used)) / seconds * 100


def run_harness(url, profile, count, args):
    """CPU % over the window, others' CPU %, and the harness's summary fields."""
    argv = [BENCH, "--url", url, "--profile", profile, "--count", str(count), "--warmup",
            str(args.warmup), "--seconds", str(args.seconds), "--threads", str(args.threads),
            "--preset", args.preset]
    if args.sliced:
        argv.append("--sliced")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    window = cpu = others = None
    summary = {}
    try:
        deadline = time.monotonic() + args.warmup + args.seconds + 60
        for line in proc.stdout:
            if "window-start" in line:
                window = Window(proc.pid, args.camsim_pid)
            elif "window-end" in line:
                cpu, others = window.end()
            elif "count=" in line:
                summary = dict(re.findall(r"(\w+)=(\S+)", line))
                break
            if time.monotonic() > deadline:
                break
    finally:
        proc.wait(30)
    if cpu is None or not summary:
        raise RuntimeError("vlg-transcode-bench %s x%d gave no figures" % (profile, count))
    return cpu, others, summary


def baseline_chain(url, clip, profile, args, index):
    codec = codec_of(clip)
    width, height, fps, kbps, key = PROFILES[profile]
    chain = ["rtspsrc", "location=" + url, "protocols=tcp", "latency=100", "!",
             "rtp%sdepay" % codec, "!", "%sparse" % codec, "!"]
    if key and codec == "h264":
        # What the gateway does: the camera's keyframes, not decoded.
        return chain + ["identity", "drop-buffer-flags=delta-unit", "!", "fpsdisplaysink",
                        "name=s%d" % index, "video-sink=fakesink", "sync=false",
                        "text-overlay=false"]
    if key:
        chain += ["identity", "drop-buffer-flags=delta-unit", "!"]
    chain += ["%stimestamper" % codec, "!", "avdec_%s" % codec, "max-threads=1", "!"]
    raw = "video/x-raw,format=I420"
    if key:
        chain += ["videorate", "drop-only=true", "max-rate=1", "!"]
    elif width:
        chain += ["videorate", "drop-only=true", "!"]
        raw += ",width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1" % (width, height, fps)
    chain += ["queue", "leaky=downstream", "max-size-buffers=3", "max-size-bytes=0",
              "max-size-time=0", "!"]
    if width:
        chain += ["videoscale", "!"]
    chain += ["videoconvert", "!", raw, "!", "x264enc", "tune=zerolatency",
              "speed-preset=" + args.preset, "bframes=0", "threads=%d" % args.threads,
              "sliced-threads=%s" % ("true" if args.sliced else "false")]
    if key:
        chain += ["key-int-max=1", "pass=qual", "quantizer=%d" % KEY_QUALITY,
                  "bitrate=%d" % kbps, "vbv-buf-capacity=1000"]
    else:
        chain += ["bitrate=%d" % kbps,
                  "key-int-max=%d" % ((fps or CAMERA_FPS) * GOP_SECONDS)]
    return chain + ["!", "video/x-h264,profile=constrained-baseline", "!", "h264parse",
                    "config-interval=-1", "!", "fpsdisplaysink", "name=s%d" % index,
                    "video-sink=fakesink", "sync=false", "text-overlay=false"]


def run_baseline(url, clip, profile, count, args):
    """CPU % over the window and the lowest frame rate a sink reported."""
    argv = ["gst-launch-1.0", "-v"]
    for i in range(count):
        argv += baseline_chain(url, clip, profile, args, i)
    env = dict(os.environ, GIO_USE_PROXY_RESOLVER="dummy")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                            text=True, bufsize=1)
    rates = {}
    try:
        time.sleep(args.warmup)
        window = Window(proc.pid, args.camsim_pid)
        time.sleep(args.seconds)
        cpu, others = window.end()
    finally:
        # SIGINT: gst-launch-1.0 stops cleanly and flushes what it printed (SIGTERM loses it).
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    for name, rate in re.findall(r"GstFPSDisplaySink:(s\d+): last-message = rendered: \d+, "
                                 r"dropped: \d+, current: [\d.]+, average: ([\d.]+)", out):
        rates[name] = float(rate)
    return cpu, others, (min(rates.values()) if len(rates) == count else 0.0)


def expected_fps(clip, profile):
    width, height, fps, kbps, key = PROFILES[profile]
    if key:
        # The camera's keyframes: forwarded (H.264) or decoded alone and encoded (H.265).
        return 1.0 / GOP_SECONDS
    return fps or CAMERA_FPS


def measure_costs(camsim, clips, args):
    print("\nCPU per transcode, %d at once, %d s window, x264 %s threads=%d%s (one core = 100 %%)"
          % (args.count, args.seconds, args.preset, args.threads,
             " sliced" if args.sliced else ""))
    print("%-16s %-5s %10s %8s %6s %8s %11s %9s %7s %8s" % (
        "clip", "prof", "ours %/tx", "fps min", "want", "dropped", "base %/str", "base fps",
        "ratio", "others %"))
    for clip in clips:
        url = camsim.url(clip)
        pull, pull_others, _ = run_harness(url, "none", args.count, args)
        for profile in ("sub", "low", "key", "main"):
            if profile == "main" and codec_of(clip) == "h264":
                continue
            ours, others, summary = run_harness(url, profile, args.count, args)
            base, base_others, base_fps = run_baseline(url, clip, profile, args.count, args)
            print("%-16s %-5s %10.1f %8s %6.1f %8s %11.1f %9.1f %7.2f %4.0f/%-3.0f" % (
                clip, profile, (ours - pull) / args.count, summary["min_fps"],
                expected_fps(clip, profile), summary["dropped"], base / args.count, base_fps,
                ours / base, others, base_others))
            sys.stdout.flush()
        print("%-16s %-5s %10.1f   (the harness pulling %d cameras, no transcode: %.1f %%;"
              " others %.0f %%)" % (clip, "pull", pull / args.count, args.count, pull,
                                    pull_others))


def measure_capacity(camsim, clips, args):
    print("\nReal-time capacity: transcoders held at >= %d %% of the profile's rate"
          % (REALTIME * 100))
    print("%-16s %-5s %4s %7s %8s %8s %9s %8s" % ("clip", "prof", "N", "CPU %", "fps min",
                                                  "dropped", "others %", "verdict"))
    for clip in clips:
        for profile in ("sub", "low"):
            want = expected_fps(clip, profile)
            held = 0
            count = 4
            while count <= args.max_count:
                for attempt in (1, 2):
                    cpu, others, summary = run_harness(camsim.url(clip), profile, count, args)
                    ok = float(summary["min_fps"]) >= REALTIME * want
                    print("%-16s %-5s %4d %7.1f %8s %8s %9.0f %8s" % (
                        clip, profile, count, cpu, summary["min_fps"], summary["dropped"],
                        others, "ok" if ok else "behind"))
                    sys.stdout.flush()
                    if ok:
                        break
                if not ok:
                    break
                held = count
                count += 4 if count < 12 else 2
            print("%-16s %-5s holds %d real-time transcodes%s" % (
                clip, profile, held, "" if count <= args.max_count else " (or more)"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--max-count", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sliced", action="store_true")
    parser.add_argument("--preset", default="superfast")
    parser.add_argument("--no-capacity", action="store_true")
    parser.add_argument("--clips", default=None)
    args = parser.parse_args()
    if args.clips:
        clips = args.clips.split(",")
    else:
        clips = ["h264-main-720p", "h265-main-720p"]
        clips += [c for c in ("h264-main-1080p", "h265-main-1080p")
                  if os.path.exists(os.path.join(harness.MEDIA_DIR, c + ".mkv"))]
    camsim = harness.Camsim({c: c for c in clips})
    args.camsim_pid = camsim.proc.pid
    try:
        measure_costs(camsim, clips, args)
        if not args.no_capacity:
            measure_capacity(camsim, clips, args)
    finally:
        camsim.stop()


if __name__ == "__main__":
    main()
