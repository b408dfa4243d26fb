#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""TLS through libwebsockets and OpenSSL: versions (openssl s_client), renegotiation, the API
and WHEP over https, and a certificate renewed under SIGHUP while a wall and a WHEP viewer stay
connected; a bad renewal keeps the old certificate. Runs in a loopback-only network namespace
(the WHEP viewer and the wall gather ICE candidates)."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

import harness

WHEP_CLIENT = os.environ.get("VLG_WHEP_CLIENT", "build/tests/tools/vlg-whep-client")


def make_pair(workdir, name):
    key = os.path.join(workdir, name + ".key")
    cert = os.path.join(workdir, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-days", "2", "-nodes", "-subj", "/CN=" + name,
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
    return cert, key


def install(pair, live):
    """Copies a certificate pair over the files gateway.conf names, as a renewal would."""
    shutil.copyfile(pair[0], live[0])
    shutil.copyfile(pair[1], live[1])


def s_client(port, *args):
    return subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, *args],
                          input="", capture_output=True, text=True, timeout=15)


def served_name(port):
    """The CN of the certificate a new connection is given."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                          input=der, capture_output=True, timeout=10).stdout.decode()
    return text.strip().rsplit("=", 1)[-1].strip()


def unverified():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def main():
    tap = harness.Tap(6)
    camsim = harness.Camsim({"cam-1": "h264-cbp-360p"})
    workdir = tempfile.mkdtemp(prefix="vlg-tls-")
    first, second = make_pair(workdir, "gateway-one"), make_pair(workdir, "gateway-two")
    live = (os.path.join(workdir, "live.crt"), os.path.join(workdir, "live.key"))
    install(first, live)
    gateway = harness.Gateway(
        workdir, harness.catalogue({"cam-1": (camsim.url("cam-1"), False)}),
        "tls-certificate=%s\ntls-private-key=%s\n[ice]\naddresses=127.0.0.1\n" % live,
        scheme="https")
    try:
        tap.run("TLS 1.0 and 1.1 are refused; 1.2 and 1.3 work", versions, gateway)
        tap.run("a client cannot renegotiate", renegotiation, gateway)
        tap.run("the API over https asks for the token as over http", api, gateway)
        tap.run("a certificate renewed under SIGHUP: new connections get it, the open wall "
                "and WHEP viewer keep playing", renewal, gateway, second, live)
        tap.run("a bad renewal keeps the current certificate and says why", bad_renewal,
                gateway, first, live, workdir)
        tap.run("plain HTTP on the TLS port gets nothing", plain_http, gateway)
    finally:
        gateway.stop()
        camsim.stop()
    tap.finish()


def versions(gateway):
    # SECLEVEL=0 lets this client offer old versions: the refusal must come from the server.
    for old in ("-tls1", "-tls1_1"):
        done = s_client(gateway.port, old, "-cipher", "DEFAULT:@SECLEVEL=0")
        assert "Cipher is (NONE)" in done.stdout or done.returncode != 0, done.stdout[-500:]
        assert "Cipher is ECDHE" not in done.stdout
    notes = []
    for new in ("-tls1_2", "-tls1_3"):
        done = s_client(gateway.port, new)
        line = [l for l in done.stdout.splitlines() if "Cipher is" in l]
        assert line and "(NONE)" not in line[0], done.stdout[-800:] + done.stderr[-400:]
        notes.append(line[0].strip())
    # A weak TLS 1.2 suite the policy leaves out.
    done = s_client(gateway.port, "-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0")
    assert "Cipher is (NONE)" in done.stdout or done.returncode != 0, done.stdout[-500:]
    return "; ".join(notes)


def renegotiation(gateway):
    proc = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % gateway.port,
                             "-tls1_2"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    time.sleep(1)
    out, _ = proc.communicate("R\n", timeout=15)
    assert "RENEGOTIATING" in out, out[-800:]
    assert "no renegotiation" in out, out[-800:]


def api(gateway):
    base = "https://127.0.0.1:%d" % gateway.port
    try:
        urllib.request.urlopen(base + "/api/v1/cameras", context=unverified(), timeout=10)
        raise AssertionError("no token accepted over https")
    except urllib.error.HTTPError as e:
        assert e.code == 401, e.code
    req = urllib.request.Request(base + "/api/v1/cameras",
                                 headers={"Authorization": "Bearer " + gateway.token()})
    with urllib.request.urlopen(req, context=unverified(), timeout=10) as r:
        body = json.loads(r.read())
    assert body["count"] == 1, body
    with urllib.request.urlopen(base + "/healthz", context=unverified(), timeout=10) as r:
        assert json.loads(r.read())["status"] == "ok"


def open_wall(gateway):
    ws = harness.WebSocket(gateway.port, "/ws/wall",
                           wrap=lambda s: unverified().wrap_socket(s))
    ws.send({"type": "hello", "token": gateway.token(), "layout": 1,
             "tiles": [{"tile": 0, "camera": "cam-1"}]})
    ws.recv_type("welcome")
    ws.recv_type("offer")
    return ws


def renewal(gateway, second, live):
    assert served_name(gateway.port) == "gateway-one"
    ws = open_wall(gateway)
    viewer = subprocess.Popen([WHEP_CLIENT, "https://127.0.0.1:%d/whep/cam-1" % gateway.port,
                               "--seconds", "12", "--expect-frames", "100000",
                               "--bearer", gateway.token()],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    install(second, live)
    gateway.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while served_name(gateway.port) != "gateway-two" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert served_name(gateway.port) == "gateway-two", "the renewed certificate is not served"
    assert "TLS certificate reloaded" in gateway.log_text()
    # The wall opened before the renewal still talks.
    ws.send({"type": "ping"})
    ws.recv_type("pong")
    ws.close()
    out, err = viewer.communicate(timeout=40)
    frames = int(out.split("frames=")[1].split()[0]) if "frames=" in out else 0
    # 12 s of a 25 fps clip; the certificate swap must not cost the viewer its stream.
    assert frames >= 250, "only %d frames across the renewal: %s %s" % (frames, out, err[-1500:])
    return "viewer decoded %d frames in 12 s across the renewal" % frames


def bad_renewal(gateway, first, live, workdir):
    notes = []
    for what, certificate, key in (
            ("garbage certificate", b"not a certificate\n", None),
            ("key of another certificate", None, first[1])):
        with open(live[0], "wb") as f:
            f.write(certificate if certificate else open(first[0], "rb").read())
        if key:
            # gateway-one's certificate with gateway-two's key in place: a mismatch.
            install((first[0], os.path.join(workdir, "gateway-two.key")), live)
        before = gateway.log_text().count("kept the current TLS certificate")
        gateway.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while (gateway.log_text().count("kept the current TLS certificate") == before
               and time.monotonic() < deadline):
            time.sleep(0.1)
        line = [l for l in gateway.log_text().splitlines()
                if "kept the current TLS certificate" in l][-1]
        assert live[0] in line or live[1] in line, line
        assert served_name(gateway.port) == "gateway-two", what
        notes.append(what)
    assert gateway.proc.poll() is None
    return "refused: " + ", ".join(notes)


def plain_http(gateway):
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        try:
            reply = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            reply = b""
    assert b'"status"' not in reply, reply


if __name__ == "__main__":
    main()
