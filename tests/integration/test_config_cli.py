#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The installer's view: --check-config on good and bad files (exit 0 / 2, every error with its
file and line), and the daemon serving the generated 2,864-point city catalogue without pulling
anything."""

import os
import subprocess
import tempfile
import time

import harness

SOURCE = os.environ.get("VLG_SOURCE_ROOT", ".")
CITY = os.path.join(SOURCE, "config", "city-catalogue.conf")


def main():
    tap = harness.Tap(4)
    workdir = tempfile.mkdtemp(prefix="vlg-config-")
    tap.run("--check-config on the built-in demo config exits 0", check_default)
    tap.run("--check-config names file, line and key of every error and exits 2", check_bad,
            workdir)
    tap.run("--check-config accepts the city catalogue", check_city)
    tap.run("the daemon serves the city catalogue at once and pulls nothing", serve_city, workdir)
    tap.finish()


def run(*args):
    return subprocess.run([harness.GATEWAY, *args], capture_output=True, text=True, timeout=30)


def check_default():
    done = run("--check-config")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def check_bad(workdir):
    conf = os.path.join(workdir, "bad.conf")
    cat = os.path.join(workdir, "bad-catalogue.conf")
    with open(conf, "w") as f:
        f.write("[gateway]\nlisten=127.0.0.1:99999\ncatalogue=bad-catalogue.conf\n"
                "[ingest]\nlinger=ten\nwatchdgo=5\n")
    done = run("--config", conf, "--check-config")
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    for fragment in ("bad.conf:2:", "bad.conf:5:", "bad.conf:6:", "listen", "linger", "watchdgo"):
        assert fragment in done.stderr, (fragment, done.stderr)
    with open(conf, "w") as f:
        f.write("[gateway]\ncatalogue=bad-catalogue.conf\n")
    with open(cat, "w") as f:
        f.write("[org 330200000000]\nname=City\n[camera cam 1]\nname=x\norg=330299999999\n"
                "url=http://example/\n")
    done = run("--config", conf, "--check-config")
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "bad-catalogue.conf:3:" in done.stderr and "bad-catalogue.conf:6:" in done.stderr, \
        done.stderr
    return done.stderr.strip().splitlines()[0]


def check_city():
    done = run("--catalogue", CITY, "--check-config")
    assert done.returncode == 0 and "2864 cameras" in done.stdout, (done.stdout, done.stderr)
    return done.stdout.strip()


def serve_city(workdir):
    with open(CITY) as f:
        text = f.read()
    start = time.monotonic()
    gateway = harness.Gateway(workdir, text)
    ready = time.monotonic() - start
    try:
        status, listing = gateway.get("/api/v1/cameras")
        assert status == 200 and listing["count"] == 2864, listing.get("count")
        assert all(c["state"] == "idle" for c in listing["cameras"])
        status, root = gateway.get("/api/v1/org")
        assert root["node"]["level"] == "city" and sum(c["cameras"] for c in root["children"]) \
            + len(root["cameras"]) == 2864, root["node"]
        status, found = gateway.get("/api/v1/search?q=" + root["children"][0]["code"])
        assert found["nodes"], found
    finally:
        gateway.stop()
    return "listening %.2f s after start" % ready


if __name__ == "__main__":
    main()
