#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Four levels kept apart and no one in without a valid token, end to end: the REST API, WHEP
and /ws/wall, with tokens minted by `linkage-gateway token` and forged ones made here. Runs in
a loopback-only network namespace (WHEP viewers and walls gather ICE candidates)."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time

import harness

WHEP_CLIENT = os.environ.get("VLG_WHEP_CLIENT", "build/tests/tools/vlg-whep-client")
PASSWORD = "s3cret-camera-pass"

CITY, DISTRICT = "330200000000", "330203000000"
STREET_A, STREET_B = "330203001000", "330203002000"
COMMUNITY_A, COMMUNITY_B = "330203001001", "330203002001"


def catalogue(camsim):
    text = ("[org %s]\nname=City\n[org %s]\nname=District\n[org %s]\nname=Street A\n"
            "[org %s]\nname=Street B\n[org %s]\nname=Community A\n[org %s]\nname=Community B\n"
            % (CITY, DISTRICT, STREET_A, STREET_B, COMMUNITY_A, COMMUNITY_B))
    for cid, org in (("a-cam", COMMUNITY_A), ("a-street-cam", STREET_A), ("b-cam", COMMUNITY_B)):
        text += ("[camera %s]\nname=%s\norg=%s\nurl=%s\nusername=admin\npassword=%s\n"
                 % (cid, cid, org, camsim.url(cid), PASSWORD))
    return text


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header, claims, secret):
    """An HS256-shaped token over `header` and `claims`, signed with `secret` (bytes)."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def claims(**overrides):
    now = int(time.time())
    base = {"org": CITY, "role": "admin", "name": "forger", "aud": "linkage-gateway",
            "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def main():
    tap = harness.Tap(9)
    camsim = harness.Camsim({"a-cam": "h264-cbp-360p", "a-street-cam": "h264-cbp-360p",
                             "b-cam": "h264-cbp-360p"})
    workdir = tempfile.mkdtemp(prefix="vlg-access-")
    gateway = harness.Gateway(workdir, catalogue(camsim),
                              "[ice]\naddresses=127.0.0.1\n[ingest]\nlinger=1\n",
                              auth_text=None)
    used_tokens = []
    try:
        tap.run("a street token lists and opens only its street's cameras", street_api,
                gateway)
        tap.run("a community token sees its community, not its street", community_api, gateway)
        tap.run("a city token sees every camera", city_api, gateway)
        tap.run("every bad token gets the same 401", uniform_401, gateway, used_tokens)
        tap.run("WHEP: another street's camera is an unknown camera; a city token plays both",
                whep_levels, gateway)
        tap.run("/ws/wall: tiles outside the subtree are unknown cameras", wall_levels, gateway)
        tap.run("/ws/wall: no token, a bad token or a late one: error and close 4401",
                wall_refusals, gateway, used_tokens)
        tap.run("/healthz and /metrics stay open", open_routes, gateway)
        tap.run("no token, secret nor camera password in the log or the API", no_secrets,
                gateway, used_tokens)
    finally:
        gateway.stop()
        camsim.stop()
    tap.finish()


def ids(body):
    return sorted(c["id"] for c in body["cameras"])


def street_api(gateway):
    token = gateway.token(STREET_A, "viewer")
    status, body = gateway.get("/api/v1/cameras", token=token)
    assert status == 200 and ids(body) == ["a-cam", "a-street-cam"], body
    # Forbidden and unknown get the same answer, byte for byte.
    forbidden = gateway.request("GET", "/api/v1/cameras/b-cam", token=token)
    unknown = gateway.request("GET", "/api/v1/cameras/no-such-cam", token=token)
    assert forbidden[0] == unknown[0] == 404 and forbidden[1] == unknown[1], (forbidden, unknown)
    assert gateway.get("/api/v1/cameras/a-cam", token=token)[0] == 200
    other = gateway.get("/api/v1/cameras?org=" + STREET_B, token=token)
    nowhere = gateway.get("/api/v1/cameras?org=339999999999", token=token)
    assert other[0] == nowhere[0] == 404, (other, nowhere)
    status, root = gateway.get("/api/v1/org", token=token)
    assert status == 200 and root["node"]["code"] == STREET_A, root
    assert [c["code"] for c in root["children"]] == [COMMUNITY_A], root
    assert gateway.get("/api/v1/org/" + COMMUNITY_A, token=token)[0] == 200
    above = gateway.get("/api/v1/org/" + DISTRICT, token=token)
    beside = gateway.get("/api/v1/org/" + STREET_B, token=token)
    assert above[0] == beside[0] == 404, (above, beside)
    status, found = gateway.get("/api/v1/search?q=cam", token=token)
    assert sorted(c["id"] for c in found["cameras"]) == ["a-cam", "a-street-cam"], found
    status, found = gateway.get("/api/v1/search?q=Street", token=token)
    assert [n["code"] for n in found["nodes"]] == [STREET_A], found


def community_api(gateway):
    token = gateway.token(COMMUNITY_A, "operator")
    status, body = gateway.get("/api/v1/cameras", token=token)
    assert status == 200 and ids(body) == ["a-cam"], body
    assert gateway.get("/api/v1/cameras/a-street-cam", token=token)[0] == 404


def city_api(gateway):
    status, body = gateway.get("/api/v1/cameras", token=gateway.token(CITY, "viewer"))
    assert status == 200 and ids(body) == ["a-cam", "a-street-cam", "b-cam"], body
    status, body = gateway.get("/api/v1/cameras", token=gateway.token(DISTRICT, "viewer"))
    assert ids(body) == ["a-cam", "a-street-cam", "b-cam"], body


def uniform_401(gateway, used_tokens):
    secret = gateway.secret.encode()
    good = claims()
    attempts = {
        "none": None,
        "garbage": "garbage",
        "wrong secret": forge({"alg": "HS256", "typ": "JWT"}, good, b"x" * 64),
        "alg none": b64url(b'{"alg":"none"}') + "." + b64url(json.dumps(good).encode()) + ".",
        "expired": forge({"alg": "HS256"}, claims(exp=int(time.time()) - 120), secret),
        "not yet valid": forge({"alg": "HS256"}, claims(nbf=int(time.time()) + 600), secret),
        "wrong aud": forge({"alg": "HS256"}, claims(aud="someone-else"), secret),
        "no exp": forge({"alg": "HS256"}, claims(exp=None), secret),
        "bad org": forge({"alg": "HS256"}, claims(org="33"), secret),
        "bad role": forge({"alg": "HS256"}, claims(role="root"), secret),
        "oversize": forge({"alg": "HS256"}, claims(name="n" * 4000), secret),
        "HS512": forge({"alg": "HS512"}, good, secret),
    }
    # The forger's control: the same recipe with the right claims passes.
    assert gateway.get("/api/v1/cameras", token=forge({"alg": "HS256"}, good, secret))[0] == 200
    bodies = set()
    for name, token in attempts.items():
        if token:
            used_tokens.append(token)
        for method, path in (("GET", "/api/v1/cameras"), ("GET", "/api/v1/org"),
                             ("POST", "/whep/a-cam"), ("DELETE", "/whep/a-cam/x")):
            status, body, headers = gateway.request(method, path, token=token)
            assert status == 401, "%s %s with %s: %s" % (method, path, name, status)
            assert headers.get("WWW-Authenticate", "").startswith("Bearer"), headers
            bodies.add(json.dumps(body, sort_keys=True))
    assert len(bodies) == 1, bodies


def whep(gateway, camera, token, seconds=5, expect=10):
    argv = [WHEP_CLIENT, "http://127.0.0.1:%d/whep/%s" % (gateway.port, camera),
            "--seconds", str(seconds), "--expect-frames", str(expect), "--bearer", token]
    return subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)


def whep_levels(gateway):
    street = gateway.token(STREET_A, "viewer")
    offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    forbidden = gateway.request("POST", "/whep/b-cam", offer.encode(),
                                {"Content-Type": "application/sdp"}, token=street)
    unknown = gateway.request("POST", "/whep/no-such-cam", offer.encode(),
                              {"Content-Type": "application/sdp"}, token=street)
    assert forbidden[0] == unknown[0] == 404 and forbidden[1] == unknown[1], (forbidden, unknown)
    done = whep(gateway, "b-cam", street)
    assert done.returncode != 0 and "404" in done.stdout, done.stdout
    notes = []
    for camera, token in (("a-cam", street), ("a-cam", gateway.token(CITY, "viewer")),
                          ("b-cam", gateway.token(CITY, "viewer"))):
        done = whep(gateway, camera, token)
        assert done.returncode == 0, "%s: %s %s" % (camera, done.stdout, done.stderr[-2000:])
        notes.append(done.stdout.strip())
    return "; ".join(notes)


def wall(gateway, token, tiles):
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send({"type": "hello", "token": token, "layout": 4, "tiles": tiles})
    return ws


def wall_levels(gateway):
    street = gateway.token(STREET_A, "viewer")
    ws = wall(gateway, street, [{"tile": 0, "camera": "a-cam"}, {"tile": 1, "camera": "b-cam"}])
    ws.recv_type("welcome")
    error = ws.recv_type("error")
    assert error["code"] == "unknown-camera", error
    ws.send({"type": "set-tile", "tile": 2, "camera": "b-cam"})
    assert ws.recv_type("error")["code"] == "unknown-camera"
    ws.send({"type": "set-tile", "tile": 2, "camera": "no-such-cam"})
    assert ws.recv_type("error")["code"] == "unknown-camera"
    ws.send({"type": "set-tile", "tile": 3, "camera": "a-street-cam"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        tiles = ws.recv_type("tiles")["tiles"]
        cams = [t.get("camera") for t in tiles]
        if cams[0] == "a-cam" and cams[3] == "a-street-cam":
            break
    assert cams[1] is None and cams[2] is None, tiles
    ws.close()
    city = wall(gateway, gateway.token(CITY, "viewer"), [{"tile": 0, "camera": "b-cam"}])
    city.recv_type("welcome")
    tiles = city.recv_type("tiles")["tiles"]
    assert tiles[0]["camera"] == "b-cam", tiles
    city.close()


def expect_refusal(ws):
    error = ws.recv_type("error", timeout=15)
    assert error["code"] == "unauthorized", error
    assert ws.recv(timeout=5) is None and ws.close_code == 4401, ws.close_code


def wall_refusals(gateway, used_tokens):
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send({"type": "hello", "layout": 4})
    expect_refusal(ws)
    bad = forge({"alg": "HS256"}, claims(), b"y" * 64)
    used_tokens.append(bad)
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send({"type": "hello", "token": bad, "layout": 4})
    expect_refusal(ws)
    ws = harness.WebSocket(gateway.port, "/ws/wall")
    ws.send("not json at all")
    expect_refusal(ws)
    start = time.monotonic()
    ws = harness.WebSocket(gateway.port, "/ws/wall")  # says nothing
    expect_refusal(ws)
    took = time.monotonic() - start
    assert 9 <= took <= 13, took
    return "silent socket closed after %.1f s" % took


def open_routes(gateway):
    status, health = gateway.get("/healthz", token=None)
    assert status == 200 and health["status"] == "ok", health
    status, metrics = gateway.get("/metrics", token=None)
    assert status == 200 and "vlg_camera_state" in metrics
    status, page = gateway.get("/", token=None)
    assert status == 200 and "<html" in page.lower()


def no_secrets(gateway, used_tokens):
    log = gateway.log_text()
    assert "auth refused" in log, "refusals should be logged"
    secrets = [gateway.secret, PASSWORD] + list(gateway._tokens.values()) + used_tokens
    for secret in secrets:
        # A token's signature alone is enough to find it.
        needle = secret.rsplit(".", 1)[-1] if secret.count(".") == 2 else secret
        needle = needle or secret  # alg none: no signature, look for the whole token
        assert needle and needle not in log, "a secret reached the log: %s..." % needle[:12]
    status, listing = gateway.get("/api/v1/cameras")
    status, metrics = gateway.get("/metrics", token=None)
    for text in (json.dumps(listing), metrics):
        assert PASSWORD not in text and gateway.secret not in text
    return "%d secrets checked against %d bytes of log" % (len(secrets), len(log))


if __name__ == "__main__":
    main()
