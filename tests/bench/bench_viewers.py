#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Viewer cost: the gateway serving N WHEP viewers of one camera next to a bare webrtcbin sender
(vlg-bare-sender: rtspsrc, one payloader, a tee, a queue and a webrtcbin per viewer) serving the
same camera, in the same run, inside a loopback-only network namespace (re-executes itself under
`unshare --net` unless already inside one; needs root).

Viewers are vlg-whep-load: one process hosting N receive-only webrtcbins that depayload and count
but do not decode. For each point the sender under test is started afresh, the viewers join
50 ms apart, and once all have packets (plus a 2 s settle) a window of --seconds opens. Over that
window: the sender's CPU (utime+stime from /proc/PID/stat, % of one core), and at its end, with
every viewer still connected, its RSS (/proc/PID/statm) and threads (/proc/PID/task). The load
process's own CPU is shown too: on 2 cores it competes with the sender.

Points: N = 1, 10, 25, 50, 100 viewers of one camera (--max-viewers cuts the list), then 16 cameras
x 2 viewers: the gateway with 16 catalogue cameras, the baseline as ONE vlg-bare-sender process with
16 sources (one pipeline each), and one vlg-whep-load process with 16 URLs and 32 viewers
(round-robin, so 2 per camera). Every camera is the same camsim clip.

Usage: bench_viewers.py [--seconds 15] [--max-viewers 100] [--clip h264-main-720p] [--no-multi]"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402
from proc_stats import cpu_seconds, rss_mb, threads  # noqa: E402

WHEP_LOAD = os.environ.get("VLG_WHEP_LOAD", "build/tests/tools/vlg-whep-load")
BARE_SENDER = os.environ.get("VLG_BARE_SENDER", "build/tests/tools/vlg-bare-sender")
VIEWER_POINTS = (1, 10, 25, 50, 100)
MULTI_CAMERAS = 16
MULTI_VIEWERS_EACH = 2
STAGGER_MS = 50
NETNS_MARK = "VLG_BENCH_IN_NETNS"


def enter_loopback_namespace():
    """Re-exec under `unshare --net` with only lo up; refuse to run WebRTC anywhere else."""
    if os.environ.get(NETNS_MARK) != "1":
        if os.geteuid() != 0:
            sys.exit("bench_viewers: needs root for a loopback-only network namespace")
        env = dict(os.environ, **{NETNS_MARK: "1"})
        argv = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "bench",
                sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
        os.execvpe("unshare", argv, env)
    # /proc/self/net/dev follows the namespace (sysfs would still show the host's).
    with open("/proc/self/net/dev") as f:
        interfaces = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    if interfaces != ["lo"]:
        sys.exit("bench_viewers: expected only lo in this namespace, found %s" % interfaces)




def run_load(urls, viewers, seconds, sender_pid, token=None):
    """Runs vlg-whep-load against `urls`; returns a dict of the sender's and the load's figures.
    `token` goes to the gateway as a bearer token (through the environment, not argv)."""
    argv = [WHEP_LOAD] + urls + ["--viewers", str(viewers), "--seconds", str(int(seconds)),
                                 "--stagger-ms", str(STAGGER_MS)]
    env = dict(os.environ, VLG_TOKEN=token) if token else None
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    result = {"summary": None}
    try:
        # whep-load has its own watchdog, so its stdout ends in bounded time; these readlines
        # cannot outlive it.
        for line in proc.stdout:
            if line.startswith("whep-load window-start"):
                start = time.monotonic()
                sender0, load0 = cpu_seconds(sender_pid), cpu_seconds(proc.pid)
            elif line.startswith("whep-load window-end"):
                elapsed = time.monotonic() - start
                result["cpu"] = (cpu_seconds(sender_pid) - sender0) / elapsed * 100
                result["load_cpu"] = (cpu_seconds(proc.pid) - load0) / elapsed * 100
                result["rss"] = rss_mb(sender_pid)
                result["threads"] = threads(sender_pid)
            elif line.startswith("whep-load viewers="):
                result["summary"] = dict(re.findall(r"(\w+)=(\S+)", line))
        proc.wait(30)
        result["stderr"] = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result["ok"] = proc.returncode == 0
    if not result["summary"] or "cpu" not in result:
        raise RuntimeError("whep-load exit %s: %s" % (proc.returncode, result["stderr"][-2000:]))
    return result


def with_baseline(camsim, names, viewers, seconds):
    """One vlg-bare-sender process with one source per camera."""
    argv = [BARE_SENDER, "--port", "0"]
    for n in names:
        argv += ["--rtsp", camsim.url(n)]
    env = dict(os.environ, GIO_USE_PROXY_RESOLVER="dummy")
    sender = harness.Process(argv, r"bare-sender ready port=(\d+)", "bare-sender", env=env)
    try:
        time.sleep(2)  # the RTSP pulls are up and steady
        urls = ["http://127.0.0.1:%s/whep/%s" % (sender.ready_line.group(1), n) for n in names]
        return run_load(urls, viewers, seconds, sender.proc.pid)
    finally:
        sender.stop()


def with_gateway(camsim, names, viewers, seconds):
    """The daemon with the cameras always on, so it pulls them before any viewer, as the
    baseline does."""
    workdir = tempfile.mkdtemp(prefix="vlg-bench-viewers-")
    cameras = {n: (camsim.url(n), True) for n in names}
    gateway = harness.Gateway(workdir, harness.catalogue(cameras), "[ice]\naddresses=127.0.0.1\n")
    try:
        for n in names:
            gateway.wait_state(n, "live", 20)
        time.sleep(2)
        urls = ["http://127.0.0.1:%d/whep/%s" % (gateway.port, n) for n in names]
        return run_load(urls, viewers, seconds, gateway.proc.pid, gateway.token())
    finally:
        gateway.stop()


def describe(result):
    if isinstance(result, Exception):
        return "failed: %s" % str(result).splitlines()[0][:60]
    s = result["summary"]
    return "%6.1f %7.1f %5d  %5s/%5s %4s/%-4s %5.1f %s" % (
        result["cpu"], result["rss"], result["threads"], s["min_kbps"], s["mean_kbps"],
        s["connected"], s["viewers"], result["load_cpu"], "ok" if result["ok"] else "SHORT")


def ratio(base, ours):
    if isinstance(base, Exception) or isinstance(ours, Exception):
        return "-"
    return "%5.2f %5.2f %5.2f" % (ours["cpu"] / max(base["cpu"], 1e-9),
                                  ours["rss"] / base["rss"], ours["threads"] / base["threads"])


def measure(label, camsim, names, viewers, seconds, rows):
    figures = []
    for run in (with_baseline, with_gateway):
        try:
            figures.append(run(camsim, names, viewers, seconds))
        except Exception as e:  # noqa: BLE001 - a failed point is reported, the bench goes on
            figures.append(e)
        if not isinstance(figures[-1], Exception) and not figures[-1]["ok"]:
            sys.stderr.write("%s %s: %s" % (label, run.__name__, figures[-1]["stderr"][-1500:]))
        elif isinstance(figures[-1], Exception):
            sys.stderr.write("%s %s: %s\n" % (label, run.__name__, figures[-1]))
    rows.append((label, figures[0], figures[1]))
    print("%-14s baseline: %s" % (label, describe(figures[0])), flush=True)
    print("%-14s gateway:  %s" % (label, describe(figures[1])), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--max-viewers", type=int, default=100)
    parser.add_argument("--clip", default="h264-main-720p")
    parser.add_argument("--no-multi", action="store_true", help="skip 16 cameras x 2 viewers")
    args = parser.parse_args()
    enter_loopback_namespace()

    multi = ["bench-%02d" % i for i in range(MULTI_CAMERAS)]
    clips = {"cam": args.clip}
    if not args.no_multi:
        clips.update({n: args.clip for n in multi})
    camsim = harness.Camsim(clips)
    rows = []
    try:
        for n in VIEWER_POINTS:
            if n > args.max_viewers:
                break
            measure("1 cam x %d" % n, camsim, ["cam"], n, args.seconds, rows)
        if not args.no_multi:
            measure("%d cam x %d" % (MULTI_CAMERAS, MULTI_VIEWERS_EACH), camsim, multi,
                    MULTI_CAMERAS * MULTI_VIEWERS_EACH, args.seconds, rows)
    finally:
        camsim.stop()

    print()
    print("WHEP viewers of %s, %.0f s window per point, loopback-only namespace, %d cores"
          % (args.clip, args.seconds, os.cpu_count()))
    print("CPU: sender's utime+stime over the window, % of one core; RSS MB and threads at the "
          "window's end, viewers connected;")
    print("kbps: per-viewer RTP bit rate, min/mean over viewers; conn: viewers with packets; "
          "load: vlg-whep-load's own CPU %;")
    print("ok: every viewer connected and got >= 90 % of the mean. Baseline = vlg-bare-sender "
          "(16 cameras: one process, 16 sources).")
    header = "%-12s | %-44s | %-44s | %s" % ("point", "baseline  CPU%  RSS  thr  kbps min/mean "
                                             "conn load", "gateway  CPU%  RSS  thr  kbps min/mean"
                                             " conn load", "gw/base CPU RSS thr")
    print(header)
    print("-" * len(header))
    for label, base, ours in rows:
        print("%-12s | %-44s | %-44s | %s" % (label, describe(base), describe(ours),
                                              ratio(base, ours)))


if __name__ == "__main__":
    main()
