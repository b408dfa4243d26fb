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
    tap = harness.Tap(6)
    workdir = tempfile.mkdtemp(prefix="vlg-config-")
    tap.run("--check-config on the built-in demo config exits 0", check_default)
    tap.run("--check-config names file, line and key of every error and exits 2", check_bad,
            workdir)
    tap.run("--check-config loads the token keys and the TLS pair, naming bad files",
            check_secrets, workdir)
    tap.run("`token` mints a token and refuses bad options with exit 2", token_command, workdir)
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


def check_secrets(workdir):
    conf = os.path.join(workdir, "secrets.conf")
    short = os.path.join(workdir, "short-secret")
    with open(short, "w") as f:
        f.write("only-twenty-bytes-xx\n")
    cert, key = os.path.join(workdir, "c.crt"), os.path.join(workdir, "c.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-days", "1", "-nodes", "-subj", "/CN=t",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
    cases = [
        ("[auth]\nhs256-secret-file=%s\n" % short, ["hs256-secret-file", short, "32 bytes"]),
        ("[auth]\nes256-public-key-file=%s/none.pem\n" % workdir,
         ["es256-public-key-file", "none.pem"]),
        ("[auth]\nes256-public-key-file=%s\n" % cert, ["es256-public-key-file", cert]),
        ("[auth]\nhs256=false\n", ["hs256", "no token could ever be accepted"]),
        ("[auth]\nleeway=9000\n", ["leeway"]),
        ("[gateway]\ntls-certificate=%s\ntls-private-key=%s\n" % (key, key), [key]),
        ("[gateway]\ntls-certificate=%s\n" % cert, ["set both"]),
    ]
    for text, fragments in cases:
        with open(conf, "w") as f:
            f.write("[gateway]\nstate-dir=%s\n" % workdir + text.replace("[gateway]\n", ""))
        done = run("--config", conf, "--check-config")
        assert done.returncode == 2, (text, done.stdout, done.stderr)
        for fragment in fragments:
            assert fragment in done.stderr, (fragment, done.stderr)
        assert "only-twenty" not in done.stderr, "the secret was echoed"
    with open(conf, "w") as f:
        f.write("[gateway]\nstate-dir=%s/fresh\ntls-certificate=%s\ntls-private-key=%s\n"
                % (workdir, cert, key))
    done = run("--config", conf, "--check-config")
    assert done.returncode == 0, done.stderr
    # --check-config writes nothing: the default secret is made on the first start.
    assert not os.path.exists(os.path.join(workdir, "fresh", "jwt-secret"))


def token_command(workdir):
    conf = os.path.join(workdir, "token.conf")
    with open(conf, "w") as f:
        f.write("[gateway]\nstate-dir=%s/token-state\n" % workdir)
    for bad in (["--role", "viewer"], ["--org", "12"], ["--org", "330200000000", "--role", "root"],
                ["--org", "330200000000", "--ttl", "forever"],
                ["--org", "330200000000", "--ttl", "400d"], ["--org", "330200000000", "extra"]):
        done = run("token", "--config", conf, *bad)
        assert done.returncode == 2 and done.stdout == "", (bad, done.stdout, done.stderr)
        assert "linkage-gateway token:" in done.stderr, done.stderr
    done = run("token", "--config", conf, "--org", "330203001000", "--role", "operator",
               "--ttl", "30m", "--name", "Desk 7")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.count(".") == 2 and len(token) < 4096, token
    secret = os.path.join(workdir, "token-state", "jwt-secret")
    assert oct(os.stat(secret).st_mode & 0o777) == "0o600"
    return "%d-byte token" % len(token)


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
