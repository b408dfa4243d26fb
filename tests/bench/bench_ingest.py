#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Ingest cost: the daemon pulling N simulated cameras next to a bare gst-launch-1.0 pulling the
same N streams (rtspsrc ! depay ! parse ! fakesink), in the same run, on loopback.

Prints CPU (% of one core), RSS and threads for both and the ratio daemon/baseline.
Usage: bench_ingest.py [--cameras 16] [--seconds 20] [--clip h264-main-720p]"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness  # noqa: E402
from proc_stats import cpu_seconds, rss_mb, threads  # noqa: E402





def measure(pid, seconds):
    """CPU % of one core over `seconds`, then RSS (MB) and thread count at the end."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    cpu = (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start) * 100
    return cpu, rss_mb(pid), threads(pid)


def run_gateway(camsim, names, seconds):
    workdir = tempfile.mkdtemp(prefix="vlg-bench-")
    cameras = {n: (camsim.url(n), True) for n in names}
    gateway = harness.Gateway(workdir, harness.catalogue(cameras))
    try:
        for n in names:
            gateway.wait_state(n, "live", 20)
        time.sleep(3)  # warm-up: keyframe caches filled, rates steady
        return measure(gateway.proc.pid, seconds)
    finally:
        gateway.stop()


def run_baseline(camsim, names, seconds):
    argv = ["gst-launch-1.0", "-q"]
    for n in names:
        argv += ["rtspsrc", "location=" + camsim.url(n), "protocols=tcp", "latency=100", "!",
                 "rtph264depay", "!", "h264parse", "!", "fakesink", "sync=false"]
    env = dict(os.environ, GIO_USE_PROXY_RESOLVER="dummy")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        time.sleep(5)  # connect and warm up
        return measure(proc.pid, seconds)
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clip", default="h264-main-720p")
    args = parser.parse_args()
    names = ["bench-%02d" % i for i in range(args.cameras)]
    camsim = harness.Camsim({n: args.clip for n in names})
    try:
        base = run_baseline(camsim, names, args.seconds)
        ours = run_gateway(camsim, names, args.seconds)
    finally:
        camsim.stop()
    print("ingest of %d x %s, %.0f s each, loopback" % (args.cameras, args.clip, args.seconds))
    print("%-28s %8s %9s %8s" % ("", "CPU %", "RSS MB", "threads"))
    print("%-28s %8.1f %9.1f %8d" % (("gst-launch-1.0 (baseline)",) + base))
    print("%-28s %8.1f %9.1f %8d" % (("linkage-gateway",) + ours))
    print("%-28s %8.2f %9.2f %8.2f" % ("ratio gateway/baseline", ours[0] / base[0],
                                         ours[1] / base[1], ours[2] / base[2]))


if __name__ == "__main__":
    main()
