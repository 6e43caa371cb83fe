"""Shared base for chipctl's fake HTTP servers (Slack, Evolution API, Z-API, Salvy).

Python 3 standard library only. Each fake subclasses FakeHandler, implements
route(req), and calls main(Handler, State, add_args). See tests/fakes/README.md
for the control API and /work/shared/api-contracts.md for the real services.

Common features:
  --port N (0 = free port), --portfile FILE (written atomically once listening),
  --log FILE (one JSON line per received non-control request), bind 127.0.0.1.
  POST /__control/script   {"responses":[...]}  FIFO scripted responses
  POST /__control/reset    clear scripts, modes, state and the request log
  GET  /__requests         logged requests as a JSON array
  GET  /__health           200 "ok"

A scripted response may carry "instance" and "path" (a prefix of the request's
path, e.g. "/message/sendText"): it answers only the requests that match.
A response spec (scripted, or built by a fake) is a dict:
  {"status":int, "body":str|json, "body_b64":str, "headers":{...}, "delay_ms":int,
   "hang":bool, "garbage":bool, "huge_mb":int, "close_mid_body":bool}
  body_b64: the body's exact bytes, base64 (bytes that are not UTF-8, say),
  sent as application/json unless headers say otherwise.
"""

import argparse
import base64
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HANG_MAX_S = 300
CHUNK = 64 * 1024
STOP = threading.Event()  # set on SIGTERM: sleeping/hanging handlers give up


def jdump(obj):
    """Compact JSON like Express's res.json (JSON.stringify), UTF-8 unescaped."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sleep_ms(ms):
    if ms and ms > 0:
        STOP.wait(min(ms / 1000.0, HANG_MAX_S))


class Request:
    def __init__(self, method, raw_path, headers, body):
        parts = urlsplit(raw_path)
        self.method = method
        self.raw_path = raw_path
        self.path = parts.path
        self.query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = headers  # lowercased name -> value
        self.body = body
        self.json_error = None
        self.json = None
        if body.strip():
            try:
                self.json = json.loads(body)
            except ValueError as e:
                self.json_error = e
        self.instance = None  # set by fakes that know about instances

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


class State:
    """Per-server mutable state. Fakes subclass and extend reset()."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.requests = []
        self.scripts = []
        self.reset()

    def reset(self):
        with self.lock:
            self.scripts = []
        with self.log_lock:
            self.requests = []
            if self.args.log:
                open(self.args.log, "w").close()

    def log(self, req):
        entry = {"ts": time.time(), "method": req.method, "path": req.path,
                 "query": req.query, "headers": req.headers, "body": req.body,
                 "json": req.json}
        line = json.dumps(entry, ensure_ascii=False)
        with self.log_lock:
            self.requests.append(entry)
            if self.args.log:
                with open(self.args.log, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
                    f.flush()

    def pop_script(self, req):
        """First scripted response that applies to req (no "instance", or a
        matching one; no "path", or a prefix of the request's path)."""
        with self.lock:
            for i, s in enumerate(self.scripts):
                inst = s.get("instance")
                if (inst is None or inst == "*" or inst == req.instance) and \
                        req.path.startswith(s.get("path") or ""):
                    return self.scripts.pop(i)
        return None


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY the
    # second waits for the client's delayed ACK (40 ms) on a kept-alive
    # connection.
    disable_nagle_algorithm = True

    def version_string(self):
        return "fake"
    success_status = 200  # status used by garbage/huge when none is given

    # ---- subclass hooks -------------------------------------------------
    def route(self, req):
        """Return a response spec dict (or None if already answered)."""
        return self.spec(404, "not found")

    def control(self, req):
        """Fake-specific control endpoints; return a spec or None if unknown."""
        return None

    def instance_of(self, req):
        """Instance a request is for (used by scripts carrying "instance")."""
        return None

    def success_status_for(self, req):
        """Status used by garbage/huge when the spec gives none (200 or 201)."""
        return 200

    def mode_spec(self, mode_obj, req):
        """Turn a scripted {"mode": NAME} into a spec (Evolution/Z-API)."""
        return self.spec(500, "fake: modes not supported here")

    # ---- plumbing -------------------------------------------------------
    @property
    def state(self):
        return self.server.state

    def log_message(self, fmt, *args):  # quiet by default
        if self.server.state.args.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _handle(self):
        raw = self.read_body()
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        req = Request(self.command, self.path, headers, raw.decode("utf-8", "replace"))
        try:
            if req.path.startswith("/__"):
                self.send_spec(self.handle_control(req), req)
                return
            req.instance = self.instance_of(req)
            self.success_status = self.success_status_for(req)
            self.state.log(req)
            script = self.state.pop_script(req)
            if script is not None:
                spec = self.mode_spec(script, req) if "mode" in script else script
            else:
                spec = self.route(req)
            if spec is not None:
                self.send_spec(spec, req)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a fake bug: answer 599 so the test notices
            import traceback
            traceback.print_exc()
            self.close_connection = True
            try:
                self.write(599, ("fake internal error: %r" % e).encode(), {}, close=True)
            except OSError:
                pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def handle_control(self, req):
        st = self.state
        if req.path == "/__health":
            return self.spec(200, "ok")
        if req.path == "/__requests" and req.method == "GET":
            with st.log_lock:
                return self.spec(200, list(st.requests))
        if req.method != "POST":
            return self.spec(405, {"error": "control endpoints take POST"})
        if req.json_error is not None:
            return self.spec(400, {"error": "bad JSON: %s" % req.json_error})
        body = req.json if req.json is not None else {}
        if req.path == "/__control/reset":
            st.reset()
            return self.spec(200, {"ok": True})
        if req.path == "/__control/script":
            resp = body.get("responses") if isinstance(body, dict) else None
            if not isinstance(resp, list) or not all(isinstance(r, dict) for r in resp):
                return self.spec(400, {"error": "want {\"responses\":[{...}]}"})
            with st.lock:
                st.scripts.extend(resp)
                n = len(st.scripts)
            return self.spec(200, {"ok": True, "queued": n})
        spec = self.control(req)
        if spec is None:
            return self.spec(404, {"error": "unknown control path %s" % req.path})
        return spec

    @staticmethod
    def spec(status, body="", headers=None, **kw):
        d = {"status": status, "body": body, "headers": headers or {}}
        d.update(kw)
        return d

    def send_spec(self, spec, req=None):
        status = int(spec.get("status") or self.success_status)
        headers = dict(spec.get("headers") or {})
        sleep_ms(spec.get("delay_ms") or 0)
        if spec.get("hang"):
            return self.hang()
        if spec.get("garbage"):
            status = int(spec.get("status") or self.success_status)
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
            return self.write(status, b"<html>oops", headers)
        if spec.get("huge_mb"):
            return self.send_huge(int(spec.get("status") or self.success_status),
                                  int(spec["huge_mb"]), headers)
        body = spec.get("body", "")
        if spec.get("body_b64") is not None:
            data = base64.b64decode(spec["body_b64"])
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json; charset=utf-8"
        elif isinstance(body, (dict, list, int, float, bool)) or body is None:
            data = jdump(body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        else:
            data = str(body).encode()
            if not any(k.lower() == "content-type" for k in headers):
                try:
                    json.loads(body)
                    headers["Content-Type"] = "application/json; charset=utf-8"
                except ValueError:
                    headers["Content-Type"] = "text/plain; charset=utf-8"
        if spec.get("close_mid_body"):
            return self.write(status, data[: max(1, len(data) // 2)], headers,
                              declared=len(data) + 1000, close=True)
        self.write(status, data, headers)

    def write(self, status, data, headers, declared=None, close=False):
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() != "content-length":
                self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data) if declared is None else declared))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()
        if close:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def send_huge(self, status, mb, headers):
        total = mb * 1024 * 1024
        head, tail = b'{"huge":true,"pad":"', b'"}'
        pad = total - len(head) - len(tail)
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(total))
        self.end_headers()
        self.wfile.write(head)
        block = b"x" * CHUNK
        while pad > 0 and not STOP.is_set():
            n = min(pad, CHUNK)
            self.wfile.write(block[:n])
            pad -= n
        self.wfile.write(tail)
        self.wfile.flush()

    def hang(self):
        """Never answer; return when the client closes, on SIGTERM, or after 300 s."""
        self.close_connection = True
        sock = self.connection
        deadline = time.monotonic() + HANG_MAX_S
        while time.monotonic() < deadline and not STOP.is_set():
            try:
                r, _, _ = select.select([sock], [], [], 0.2)
                if r and sock.recv(1, socket.MSG_PEEK) == b"":
                    return  # client gave up
            except OSError:
                return
            if r:
                time.sleep(0.2)  # pipelined bytes: keep hanging


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def base_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--portfile", help="write the bound port here once listening")
    p.add_argument("--log", help="append one JSON line per received request")
    p.add_argument("--verbose", action="store_true", help="access log on stderr")
    return p


def main(handler_cls, state_cls, parser):
    args = parser.parse_args()
    if args.log:
        open(args.log, "a").close()
    state = state_cls(args)
    server = Server(("127.0.0.1", args.port), handler_cls)
    server.state = state
    port = server.server_address[1]
    if args.portfile:
        tmp = "%s.tmp.%d" % (args.portfile, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.portfile)

    def on_term(signum, frame):
        STOP.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    sys.stderr.write("%s listening on 127.0.0.1:%d\n" % (parser.prog, port))
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
