#!/usr/bin/env python3
"""Fake Z-API (contract: /work/shared/api-contracts.md §8).

Routes (all need the account's Client-Token header, given by --client-token):
  POST /instances/{id}/token/{token}/send-text   {"phone","message"} -> 200 {"zaapId","messageId","id"}
  GET  /instances/{id}/token/{token}/status      -> 200 {"connected","error","smartphoneConnected"}
Errors: missing Client-Token -> 400 {"error":"null not allowed"}; wrong one -> 400
{"error":"<token> not allowed"} [INF]; unknown id/token pair -> 400 {"error":"Instance not found"};
wrong method -> 405; send-text without a JSON Content-Type -> 415.
A disconnected instance still answers 200 on send-text (Z-API queues messages).

Control (besides fakelib's script/reset/__requests/__health):
  POST /__control/instances  [{"id","token","connected":bool}]   replaces the set
  POST /__control/send       {"instance":"ID"|"*", "mode":M, "count":N?, "delay_ms":D?, "huge_mb":H?}
Send modes: ok, subscription_expired (400), instance_not_found (400), server_error (500),
hang, garbage, huge, close_mid_body. A scripted response may be {"mode": M, "instance": "ID"}.
"""

import itertools
import random
import re

import fakelib

SEND_MODES = ("ok", "subscription_expired", "instance_not_found", "server_error",
              "hang", "garbage", "huge", "close_mid_body")
SUBSCRIBE = "To continue sending a message, you must subscribe to this instance again"
_ids = itertools.count(1)
ROUTE = re.compile(r"/instances/([^/]+)/token/([^/]+)/(send-text|status)/?")


def err(status, text):
    return fakelib.FakeHandler.spec(status, {"error": text})


class ZapiState(fakelib.State):
    def reset(self):
        super().reset()
        with self.lock:
            self.instances = {}  # id -> {"id","token","connected"}
            self.send_modes = {}

    def take_send_mode(self, iid):
        with self.lock:
            key = iid if iid in self.send_modes else "*"
            m = self.send_modes.get(key)
            if m is None:
                return {"mode": "ok"}
            if m.get("count") is not None:
                m["count"] -= 1
                if m["count"] <= 0:
                    del self.send_modes[key]
            return dict(m)


class ZapiHandler(fakelib.FakeHandler):
    def instance_of(self, req):
        m = ROUTE.fullmatch(req.path)
        return m.group(1) if m else None

    def route(self, req):
        m = ROUTE.fullmatch(req.path)
        if not m:
            return err(404, "Not Found")
        iid, token, action = m.groups()
        want = "POST" if action == "send-text" else "GET"
        if req.method != want:
            return err(405, "Method Not Allowed")
        ct = req.header("client-token")
        if ct is None:
            return err(400, "null not allowed")
        if ct != self.state.args.client_token:
            return err(400, "%s not allowed" % ct)
        with self.state.lock:
            inst = dict(self.state.instances.get(iid) or {})
        if not inst or inst.get("token") != token:
            return err(400, "Instance not found")
        if action == "status":
            if inst.get("connected", True):
                return self.spec(200, {"connected": True, "error": "You are already connected.",
                                       "smartphoneConnected": True})
            return self.spec(200, {"connected": False, "error": "You are not connected.",
                                   "smartphoneConnected": False})
        if "application/json" not in req.header("content-type", ""):
            return err(415, "Unsupported Media Type")
        if req.json_error is not None or not isinstance(req.json, dict):
            return err(400, "Invalid JSON body")
        for k in ("phone", "message"):
            if not isinstance(req.json.get(k), str) or not req.json[k]:
                return err(400, "%s is required" % k)
        mode = self.state.take_send_mode(iid)
        if mode["mode"] != "ok":
            return self.mode_spec(mode, req)
        fakelib.sleep_ms(mode.get("delay_ms") or 0)
        return self.send_ok()

    def send_ok(self):
        mid = "D241%08X%08X" % (random.getrandbits(32), next(_ids))
        zaap = "%032X" % random.getrandbits(128)
        return self.spec(200, {"zaapId": zaap, "messageId": mid, "id": mid})

    def mode_spec(self, m, req):
        mode = m.get("mode")
        specs = {
            "subscription_expired": lambda: err(400, SUBSCRIBE),
            "instance_not_found": lambda: err(400, "Instance not found"),
            "server_error": lambda: err(500, "Internal Server Error"),
            "hang": lambda: self.spec(200, hang=True),
            "garbage": lambda: self.spec(200, garbage=True),
            "huge": lambda: self.spec(200, huge_mb=int(m.get("huge_mb") or 64)),
            "close_mid_body": lambda: self.spec(200, {"zaapId": "3999984263738042930CD6ECDE9VDWSA",
                                                      "messageId": "D241TRUNCATED"},
                                                close_mid_body=True),
        }
        if mode == "ok":
            fakelib.sleep_ms(m.get("delay_ms") or 0)
            return self.route(req)
        if mode not in specs:
            return self.spec(500, {"error": "fake: unknown mode %r" % mode})
        spec = specs[mode]()
        spec["delay_ms"] = m.get("delay_ms") or 0
        return spec

    def control(self, req):
        st, b = self.state, req.json
        if req.path == "/__control/instances":
            if not isinstance(b, list) or not all(isinstance(x, dict) and "id" in x and "token" in x
                                                  for x in b):
                return self.spec(400, {"error": "want [{\"id\",\"token\",\"connected\"}, ...]"})
            with st.lock:
                st.instances = {x["id"]: dict(x) for x in b}
            return self.spec(200, {"ok": True, "count": len(b)})
        if req.path == "/__control/send":
            b = b if isinstance(b, dict) else {}
            mode, inst = b.get("mode"), b.get("instance", "*")
            if mode not in SEND_MODES:
                return self.spec(400, {"error": "mode must be one of %s" % (SEND_MODES,)})
            entry = {k: b[k] for k in ("mode", "count", "delay_ms", "huge_mb") if k in b}
            with st.lock:
                if inst == "*":
                    st.send_modes = {}
                st.send_modes[inst] = entry
            return self.spec(200, {"ok": True, "instance": inst, **entry})
        return None


if __name__ == "__main__":
    ap = fakelib.base_parser("fake Z-API")
    ap.add_argument("--client-token", required=True, help="account security token (Client-Token)")
    raise SystemExit(fakelib.main(ZapiHandler, ZapiState, ap))
