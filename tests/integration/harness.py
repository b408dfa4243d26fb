# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared pieces of the integration tests: start camsim and the gateway on loopback ports they
pick themselves, talk to both, wait for conditions with deadlines, and report in TAP.

Every process started here is ended by its PID in stop(); nothing reaches beyond 127.0.0.1."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

GATEWAY = os.environ.get("VLG_GATEWAY", "build/gateway/linkage-gateway")
CAMSIM = os.environ.get("VLG_CAMSIM", "build/tests/camsim/linkage-camsim")
MEDIA_DIR = os.environ.get("VLG_MEDIA_DIR", "build/tests/media")


class Process:
    """A child whose first stdout line matching `ready` tells it is up."""

    def __init__(self, argv, ready, name, env=None, timeout=20):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=name + "-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, env=env)
        deadline = time.monotonic() + timeout
        self.ready_line = None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = re.search(ready, line)
            if match:
                self.ready_line = match
                return
        self.stop()
        raise RuntimeError("%s did not start: %s" % (name, self.stderr_tail()))

    def stderr_tail(self, lines=30):
        with open(self.log.name, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Camsim(Process):
    def __init__(self, cameras, extra=()):
        argv = [CAMSIM, "--address", "127.0.0.1", "--port", "0", "--control-port", "0"]
        for name, clip in cameras.items():
            argv += ["--camera", "%s=%s" % (name, os.path.join(MEDIA_DIR, clip + ".mkv"))]
        argv += list(extra)
        super().__init__(argv, r"camsim ready rtsp=(\d+) control=(\d+)", "camsim")
        self.port = int(self.ready_line.group(1))
        self.control_port = int(self.ready_line.group(2))

    def url(self, name):
        return "rtsp://127.0.0.1:%d/%s" % (self.port, name)

    def control(self, command):
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall((command + "\n").encode())
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        reply = reply.decode().strip()
        if reply != "ok":
            raise RuntimeError("camsim %r answered %r" % (command, reply))


CITY = "330200000000"


class Gateway(Process):
    """The daemon on a config of its own in `workdir`, with its own HS256 secret (self.secret)
    so that tests can mint tokens (`token()`) and check that the secret never reaches a log."""

    def __init__(self, workdir, catalogue_text, config_text="", auth_text=None, scheme="http"):
        self.workdir = workdir
        self.conf = os.path.join(workdir, "gateway.conf")
        cat = os.path.join(workdir, "catalogue.conf")
        self.secret = os.urandom(32).hex()
        secret_path = os.path.join(workdir, "jwt-secret")
        with open(os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(self.secret + "\n")
        if auth_text is None:
            auth_text = "[auth]\nhs256-secret-file=%s\n" % secret_path
        with open(cat, "w") as f:
            f.write(catalogue_text)
        with open(self.conf, "w") as f:
            f.write("[gateway]\nlisten=127.0.0.1:8080\ncatalogue=catalogue.conf\n"
                    "state-dir=%s\n%s\n%s" % (workdir, config_text, auth_text))
        self._tokens = {}
        env = dict(os.environ, GIO_USE_PROXY_RESOLVER="dummy")
        super().__init__([GATEWAY, "--config", self.conf, "--port", "0"],
                         r"listening on %s://127\.0\.0\.1:(\d+)/" % scheme, "gateway", env=env)
        self.port = int(self.ready_line.group(1))

    def token(self, org=CITY, role="admin", name="integration test", ttl="1h"):
        """A token from `linkage-gateway token` (the installers' command), cached per claims."""
        key = (org, role, name, ttl)
        if key not in self._tokens:
            out = subprocess.run([GATEWAY, "token", "--config", self.conf, "--org", org,
                                  "--role", role, "--name", name, "--ttl", ttl],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode != 0:
                raise RuntimeError("token: %s" % out.stderr)
            self._tokens[key] = out.stdout.strip()
        return self._tokens[key]

    def request(self, method, path, body=None, headers=None, token="city"):
        """(status, parsed JSON or text, headers) of one request. token: "city" for a city admin
        token, None for none, or the token itself."""
        headers = dict(headers or {})
        if token == "city":
            token = self.token()
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=body,
                                     headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text, status, got = r.read().decode(), r.status, r.headers
        except urllib.error.HTTPError as e:
            text, status, got = e.read().decode(), e.code, e.headers
        ctype = got.get("Content-Type", "")
        return status, (json.loads(text) if ctype.startswith("application/json") else text), got

    def get(self, path, token="city"):
        """(status, parsed JSON or text) of GET path, with a city admin token by default."""
        status, body, _ = self.request("GET", path, token=token)
        return status, body

    def log_text(self):
        """Everything the daemon wrote to stderr so far (its log)."""
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def camera(self, camera_id):
        status, body = self.get("/api/v1/cameras/" + camera_id)
        if status != 200:
            raise RuntimeError("GET camera %s: %s %s" % (camera_id, status, body))
        return body

    def wait_state(self, camera_id, states, timeout):
        """Seconds until the camera is in one of `states`; raises on timeout."""
        if isinstance(states, str):
            states = (states,)
        start = time.monotonic()
        last = None
        while time.monotonic() - start < timeout:
            last = self.camera(camera_id)
            if last["state"] in states:
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError("%s not %s within %.1f s (last: %s, error: %s)"
                             % (camera_id, "/".join(states), timeout, last["state"],
                                last["last_error"]))

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def thread_count(self):
        return len(os.listdir("/proc/%d/task" % self.proc.pid))


def catalogue(cameras):
    """A four-level demo tree with `cameras`: {id: url} on one community."""
    text = ("[org 330200000000]\nname=Test City\n[org 330203000000]\nname=Test District\n"
            "[org 330203001000]\nname=Test Street\n[org 330203001001]\nname=Test Community\n")
    for camera_id, (url, always_on) in cameras.items():
        text += ("[camera %s]\nname=%s\norg=330203001001\nurl=%s\nalways-on=%s\n"
                 % (camera_id, camera_id, url, "true" if always_on else "false"))
    return text


class Tap:
    """Minimal TAP producer: each check is a function; a failure prints its traceback."""

    def __init__(self, plan):
        self.plan = plan
        self.number = 0
        self.failed = 0
        print("1..%d" % plan, flush=True)

    def run(self, description, func, *args):
        self.number += 1
        try:
            note = func(*args)
            print("ok %d - %s%s" % (self.number, description,
                                    " # " + note if note else ""), flush=True)
        except Exception:  # noqa: BLE001 - every failure is reported, then the run goes on
            self.failed += 1
            print("not ok %d - %s" % (self.number, description), flush=True)
            for line in traceback.format_exc().splitlines():
                print("# " + line, flush=True)

    def finish(self):
        sys.exit(1 if self.failed or self.number != self.plan else 0)


class WebSocket:
    """A minimal RFC 6455 client over a plain socket, enough to drive /ws/wall in tests."""

    def __init__(self, port, path, protocols=None, wrap=None):
        """protocols: Sec-WebSocket-Protocol entries; wrap: a function wrapping the socket
        (TLS)."""
        import base64
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if wrap:
            self.sock = wrap(self.sock)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "Sec-WebSocket-Protocol: %s\r\n" % ", ".join(protocols) if protocols else ""
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n%s"
                           "Sec-WebSocket-Version: 13\r\n\r\n"
                           % (path, port, key, extra)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("closed during the handshake: %r" % head)
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("no upgrade: %r" % head)
        self.head = head.decode(errors="replace")
        self.close_code = None

    def send_raw(self, payload, opcode=1):
        import struct
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() if not isinstance(obj, (bytes, str))
                      else (obj.encode() if isinstance(obj, str) else obj))

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("socket closed")
            data += chunk
        return data

    def recv(self, timeout=10):
        """The next text message as parsed JSON; None once the server closed (close_code set)."""
        import struct
        self.sock.settimeout(timeout)
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            opcode = b0 & 0x0f
            if opcode == 8:
                self.close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 0
                return None
            if opcode == 9:  # ping: answer it
                self.send_raw(payload, opcode=10)
                continue
            if opcode == 1:
                return json.loads(payload.decode())

    def recv_type(self, wanted, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.recv(max(0.1, deadline - time.monotonic()))
            if message is None:
                raise AssertionError("closed (%s) while waiting for %s" % (self.close_code, wanted))
            if message.get("type") == wanted:
                return message
        raise AssertionError("no %s within %s s" % (wanted, timeout))

    def close(self):
        self.sock.close()
