#!/usr/bin/env python3
"""Fake Evolution API v2 (contract: /work/shared/api-contracts.md §1-§5, §7).

Routes (guard order as the real server: unknown instance -> 404 even without a
key; known instance + missing/wrong apikey -> 401; an instance token works only
for its own instance; fetchInstances and instance/create skip the existence check):
  GET    /instance/fetchInstances[?instanceName=|instanceId=|number=]
  GET    /instance/connectionState/{name}
  POST   /instance/create
  DELETE /instance/logout/{name}, DELETE /instance/delete/{name}
  POST   /message/sendText/{name}          201 prepareMessage body; the message is kept (§11)
  POST   /chat/findMessages/{name}         200 what was kept (§11), see evo_messages.py
Anything else -> 404 {"status":404,"error":"Not Found","response":{"message":["Cannot POST /x"]}}.

Control (besides fakelib's script/reset/__requests/__health):
  POST /__control/instances           [{name, connectionStatus, ownerJid, profileName, number, token, id, state?}]
  POST /__control/instances/generate  {"count":N, "prefix":"chip", "open_ratio":0.9, "width":W?}
  POST /__control/status              {"instance":"chip01", "connectionStatus":"close", "state":"close"}
  POST /__control/send                {"instance":"chip01"|"*", "mode":M, "count":N?, "delay_ms":D?,
                                       "huge_mb":H?, "error":"Error: ..."?}
  POST /__control/fetch               {"mode":"ok|unauthorized|hang|garbage|huge|server_error", ...}
  POST /__control/not_on_whatsapp     {"numbers":["5511999999999", ...]}
  POST /__control/latency             {"ms":L}: every sendText held L ms (+ its delay)
  POST /__control/messages/seed       {"instance", "messages":[{number|remoteJid, fromMe, text,
                                       timestamp, receipts, id?, extended?, late_ms?} | {"raw":{...}}]}
  POST /__control/messages/receipt    {"instance", "id", "status"}
  POST /__control/messages/saving     {"instance":"chip01"|"*", "enabled":false}
  POST /__control/messages/late       {"instance":"chip01"|"*", "delay_ms":D}
  POST /__control/find                {"instance":"chip01"|"*", "mode":M, "count":N?}
  GET  /__messages[?instance=x]       the kept records
  GET  /__sends, GET /__sends/stats   sendText timings (start, end) and their summary
  POST /__control/sends/reset         forget the timings (not the instances nor the messages)
Send modes: see SEND_MODES below. A scripted response may be {"mode": M, "instance": "x"}.
sendText to an instance whose state is not "open" answers 500 "Connection Closed".
"""

import datetime
import itertools
import random
import re
import time
import uuid
from urllib.parse import parse_qs, unquote

import fakelib
from evo_messages import FIND_MODES, RECEIPTS, MessageStore

SEND_MODES = ("ok", "not_on_whatsapp", "rate_overlimit_400", "rate_overlimit_500",
              "connection_closed", "connection_closed_array", "baileys_error",
              "client_not_started", "restricted", "forbidden", "unauthorized", "server_error",
              "hang", "garbage", "huge", "close_mid_body")
FETCH_MODES = ("ok", "unauthorized", "hang", "garbage", "huge", "server_error")
ISE = "Internal Server Error"
_ids = itertools.count(1)


def envelope(status, error, message):
    """The error body of src/main.ts's handler."""
    return fakelib.FakeHandler.spec(status, {"status": status, "error": error,
                                             "response": {"message": message}})


def unauthorized():
    return envelope(401, "Unauthorized", "Unauthorized")


def iso(ts=None):
    d = datetime.datetime.fromtimestamp(ts if ts is not None else time.time(), datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def cuid():
    return "cm" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(23))


def create_jid(number):
    """src/utils/createJid.ts, incl. the Brazilian 9-digit quirk (formatBRNumber)."""
    if any(s in number for s in ("@g.us", "@s.whatsapp.net", "@lid", "@broadcast")):
        return number
    n = re.sub(r"[\s+()]", "", number).split(":")[0].split("@")[0]
    if "-" in n and len(n) >= 24:
        return re.sub(r"[^\d-]", "", n) + "@g.us"
    n = re.sub(r"\D", "", n)
    if len(n) >= 18:
        return n + "@g.us"
    m = re.match(r"^(\d{2})(\d{2})\d(\d{8})$", n)
    if m and m.group(1) == "55" and int(m.group(2)) >= 31 and int(m.group(3)[0]) >= 7:
        n = m.group(1) + m.group(2) + m.group(3)
    return n + "@s.whatsapp.net"


def make_row(spec):
    now = iso()
    iid = spec.get("id") or cuid()
    status = spec.get("connectionStatus", "open")
    row = {
        "id": iid, "name": spec["name"], "connectionStatus": status,
        "ownerJid": spec.get("ownerJid"), "profileName": spec.get("profileName"),
        "profilePicUrl": spec.get("profilePicUrl"),
        "integration": spec.get("integration", "WHATSAPP-BAILEYS"),
        "number": spec.get("number"), "businessId": None,
        "token": spec.get("token") or str(uuid.uuid4()).upper(),
        "clientName": "evolution_exchange",
        "disconnectionReasonCode": spec.get("disconnectionReasonCode"),
        "disconnectionObject": None, "disconnectionAt": None,
        "createdAt": now, "updatedAt": now,
        "Chatwoot": None, "Proxy": None, "Rabbitmq": None, "Nats": None, "Sqs": None,
        "Websocket": None,
        "Setting": {"id": cuid(), "rejectCall": False, "msgCall": "", "groupsIgnore": False,
                    "alwaysOnline": False, "readMessages": False, "readStatus": False,
                    "syncFullHistory": False, "wavoipToken": "", "createdAt": now,
                    "updatedAt": now, "instanceId": iid},
        "_count": spec.get("_count", {"Message": 0, "Contact": 0, "Chat": 0}),
    }
    # live in-memory state for connectionState; null = row exists but not loaded
    state = spec["state"] if "state" in spec else status
    return row, state


class EvoState(fakelib.State):
    def reset(self):
        super().reset()
        with self.lock:
            self.rows = {}     # name -> Instance row (as fetchInstances returns it)
            self.live = {}     # name -> connectionState state (None = absent)
            self.send_modes = {}
            self.fetch_mode = {"mode": "ok"}
            self.not_on_wa = set()
            self.latency_ms = self.args.latency_ms
        if not hasattr(self, "store"):
            self.store = MessageStore()
        self.store.reset()

    def set_instances(self, specs):
        rows, live = {}, {}
        for s in specs:
            rows[s["name"]], live[s["name"]] = make_row(s)
        with self.lock:
            self.rows, self.live = rows, live

    def take_send_mode(self, name):
        """Mode for the next send of `name`; counted modes run out back to ok."""
        with self.lock:
            key = name if name in self.send_modes else "*"
            m = self.send_modes.get(key)
            if m is None:
                return {"mode": "ok"}
            if m.get("count") is not None:
                m["count"] -= 1
                if m["count"] <= 0:
                    del self.send_modes[key]
            return dict(m)


class EvoHandler(fakelib.FakeHandler):
    ROUTES = [
        ("GET", r"/instance/fetchInstances", "fetch_instances"),
        ("GET", r"/instance/connectionState/([^/]+)", "connection_state"),
        ("POST", r"/instance/create", "create"),
        ("DELETE", r"/instance/logout/([^/]+)", "logout"),
        ("DELETE", r"/instance/delete/([^/]+)", "delete"),
        ("POST", r"/message/sendText/([^/]+)", "send_text"),
        ("POST", r"/chat/findMessages/([^/]+)", "find_messages"),
    ]

    # ---- helpers --------------------------------------------------------
    def match(self, req):
        for method, pattern, name in self.ROUTES:
            m = re.fullmatch(pattern + "/?", req.path)
            if m and req.method == method:
                return name, (unquote(m.group(1)) if m.groups() else None)
        return None, None

    def instance_of(self, req):
        route, name = self.match(req)
        if route == "fetch_instances":
            return req.query.get("instanceName")
        if route == "create" and isinstance(req.json, dict):
            return req.json.get("instanceName")
        return name

    def success_status_for(self, req):
        return 201 if self.match(req)[0] in ("send_text", "create") else 200

    def body(self, req):
        """Express parses JSON and urlencoded bodies by content type; otherwise {}."""
        ctype = req.header("content-type", "")
        if "json" in ctype and req.json is not None:
            return req.json
        if "application/x-www-form-urlencoded" in ctype:
            return {k: v[-1] for k, v in parse_qs(req.body, keep_blank_values=True).items()}
        return {}

    def key_ok(self, req, name=None):
        key = req.header("apikey")
        if not key:
            return False
        if key == self.state.args.apikey:
            return True
        with self.state.lock:
            row = self.state.rows.get(name) if name else None
            return bool(row and row["token"] == key)

    # ---- dispatch -------------------------------------------------------
    def route(self, req):
        ctype = req.header("content-type", "")
        if "json" in ctype and req.json_error is not None:
            e = req.json_error  # body-parser's error: status 400, no "error" field
            pos = getattr(e, "pos", 0)
            msg = ("Unexpected end of JSON input" if pos >= len(req.body.rstrip())
                   else "Unexpected token %s in JSON at position %d" % (req.body[pos], pos))
            return envelope(400, ISE, msg)
        route, name = self.match(req)
        if route is None:
            return envelope(404, "Not Found", ["Cannot %s %s" % (req.method, req.raw_path)])
        if route not in ("fetch_instances", "create"):
            with self.state.lock:
                exists = name in self.state.rows
            if not exists:
                return envelope(404, "Not Found", ['The "%s" instance does not exist' % name])
            if not self.key_ok(req, name):
                return unauthorized()
        return getattr(self, route)(req, name)

    def fetch_instances(self, req, _):
        st = self.state
        with st.lock:
            fm = dict(st.fetch_mode)
        if fm["mode"] != "ok":
            return self.mode_spec(fm, req)
        key = req.header("apikey")
        q = req.query
        with st.lock:
            rows = list(st.rows.values())
        if not key:
            return unauthorized()
        if key != st.args.apikey:  # instance token: only its own row(s)
            if not any(r["token"] == key for r in rows):
                return unauthorized()
            out = [r for r in rows if r["token"] == key
                   and (not q.get("instanceName") or r["name"] == q["instanceName"])
                   and (not q.get("instanceId") or r["id"] == q["instanceId"])]
            return self.spec(200, out) if out else unauthorized()
        name = q.get("instanceName")
        if name and not any(r["name"] == name for r in rows):
            return envelope(404, "Not Found", ['Instance "%s" not found' % name])
        if q.get("instanceId") or q.get("number"):
            ident = q.get("instanceId") or q.get("number")
            found = [r for r in rows if (r["id"] == q["instanceId"] if q.get("instanceId")
                                         else r["number"] == q["number"])]
            if not found:
                return envelope(404, "Not Found", ['Instance "%s" not found' % ident])
            name = found[0]["name"]
        return self.spec(200, [r for r in rows if not name or r["name"] == name])

    def connection_state(self, req, name):
        with self.state.lock:
            state = self.state.live.get(name)
        inst = {"instanceName": name}
        if state is not None:
            inst["state"] = state
        return self.spec(200, {"instance": inst})

    def create(self, req, _):
        body = self.body(req)
        name = body.get("instanceName") if isinstance(body, dict) else None
        with self.state.lock:
            in_use = name in self.state.rows
        if in_use:  # instanceLoggedGuard runs before the auth guard
            return envelope(403, "Forbidden", ['This name "%s" is already in use.' % name])
        if not self.key_ok(req):
            return unauthorized()
        if not isinstance(body, dict):
            return envelope(400, "Bad Request", [["instance is not of a type(s) object"]])
        if not isinstance(name, str):
            return envelope(400, "Bad Request", [['instance requires property "instanceName"']])
        qrcode = body.get("qrcode") is True
        status = "connecting" if qrcode else "close"
        row, live = make_row({"name": name, "connectionStatus": status, "token": body.get("token"),
                              "number": body.get("number"), "integration": body.get("integration")
                              or "WHATSAPP-BAILEYS"})
        with self.state.lock:
            if name in self.state.rows:
                return envelope(403, "Forbidden", ['This name "%s" is already in use.' % name])
            self.state.rows[name], self.state.live[name] = row, live
        out = {"instance": {"instanceName": name, "instanceId": row["id"],
                            "integration": row["integration"], "webhookWaBusiness": None,
                            "accessTokenWaBusiness": "", "status": status},
               "hash": row["token"], "webhook": {}, "websocket": {}, "rabbitmq": {},
               "nats": {}, "sqs": {},
               "settings": {k: row["Setting"][k] for k in ("rejectCall", "msgCall", "groupsIgnore",
                            "alwaysOnline", "readMessages", "readStatus", "syncFullHistory",
                            "wavoipToken")}}
        if qrcode:
            out["qrcode"] = {"pairingCode": None, "code": "2@fakeqr,%s" % uuid.uuid4().hex,
                             "base64": "data:image/png;base64,iVBORw0KGgo=", "count": 1}
        return self.spec(201, out)

    def logout(self, req, name):
        with self.state.lock:
            if self.state.live.get(name) != "open":
                return envelope(400, "Bad Request", ['The "%s" instance is not connected' % name])
            self.state.live[name] = "close"
            self.state.rows[name]["connectionStatus"] = "close"
        return self.spec(200, {"status": "SUCCESS", "error": False,
                               "response": {"message": "Instance logged out"}})

    def delete(self, req, name):
        with self.state.lock:
            self.state.rows.pop(name, None)
            self.state.live.pop(name, None)
        return self.spec(200, {"status": "SUCCESS", "error": False,
                               "response": {"message": "Instance deleted"}})

    def send_text(self, req, name):
        self._timing = self.state.store.send_started(name)
        body = self.body(req)
        if not isinstance(body, dict):
            return envelope(400, "Bad Request", [["instance is not of a type(s) object"]])
        errors = []  # jsonschema order: properties first, then required
        if "number" in body and not isinstance(body["number"], str):
            errors.append("Invalid format")
        if "text" in body and not isinstance(body["text"], str):
            errors.append("text is not of a type(s) string")
        if "delay" in body and (not isinstance(body["delay"], int) or isinstance(body["delay"], bool)):
            errors.append("Enter a value in milliseconds")
        errors += ['instance requires property "%s"' % k for k in ("number", "text") if k not in body]
        if errors:
            return envelope(400, "Bad Request", [errors])
        if not body["text"].strip():
            return envelope(400, "Bad Request", ["Text is required"])
        mode = self.state.take_send_mode(name)
        hold = self.state.latency_ms
        if isinstance(body.get("delay"), int) and body["delay"] > 0 and not self.state.args.ignore_delay:
            hold += body["delay"]
        fakelib.sleep_ms(hold)
        if mode["mode"] != "ok":
            if mode.get("store"):  # it went out; the answer is what fails
                self.keep_sent(name, body, "3EB0%08X%08X" % (random.getrandbits(32), next(_ids)))
            return self.mode_spec(mode, req)
        fakelib.sleep_ms(mode.get("delay_ms") or 0)
        return self.send_ok(req, name, body)

    def send_ok(self, req, name, body):
        with self.state.lock:
            state = self.state.live.get(name)
            row = self.state.rows.get(name)
            digits = re.sub(r"\D", "", body["number"])
            absent = digits in self.state.not_on_wa or create_jid(digits).split("@")[0] in self.state.not_on_wa
        if state != "open":
            return envelope(500, ISE, "Connection Closed")
        if absent:
            return self.not_on_whatsapp(body["number"])
        msg_id = "3EB0%08X%08X" % (random.getrandbits(32), next(_ids))
        ts = self.keep_sent(name, body, msg_id)
        return self.spec(201, {
            "key": {"remoteJid": create_jid(body["number"]), "fromMe": True, "id": msg_id},
            "pushName": "Você", "status": "PENDING",
            "message": {"conversation": body["text"]},
            "contextInfo": {"mentionedJid": [], "groupMentions": [],
                            "ephemeralSettingTimestamp": {"low": 0, "high": 0, "unsigned": False},
                            "disappearingMode": {"initiator": 0}},
            "messageType": "conversation", "messageTimestamp": ts,
            "instanceId": row["id"] if row else None, "source": "unknown"}, _key_id=msg_id)

    def keep_sent(self, name, body, msg_id):
        """Store a completed send as the server does (§11); returns its timestamp."""
        ts = int(time.time())
        with self.state.lock:
            row = self.state.rows.get(name)
        self.state.store.add_sent(name, row["id"] if row else None, create_jid(body["number"]),
                                  body["text"], msg_id, ts)
        return ts

    def find_messages(self, req, name):
        m = self.state.store.take_find_mode(name)
        mode = m.get("mode", "ok")
        if mode == "not_found":  # the guard's answer, as if the instance were gone
            return envelope(404, "Not Found", ['The "%s" instance does not exist' % name])
        if mode == "unauthorized":
            return unauthorized()
        if mode == "server_error":
            return envelope(500, ISE, ISE)
        if mode == "hang":
            return self.spec(200, hang=True)
        if mode == "garbage":
            return self.spec(200, garbage=True)
        status, out = self.state.store.find(name, self.body(req))
        return self.spec(status, out)

    # ---- timing ---------------------------------------------------------
    _timing = None

    _ending = None

    def send_spec(self, spec, req=None):
        self._ending, self._timing = (self._timing, spec), None
        try:
            super().send_spec(spec, req)
        finally:
            self.end_timing()

    def write(self, *args, **kwargs):
        # A send ends when its answer starts to leave: stamped before the
        # write, so a client that answers with its next send at once is
        # never seen overlapping its own previous one.
        self.end_timing()
        return super().write(*args, **kwargs)

    def end_timing(self):
        ending, self._ending = self._ending, None
        if ending is not None and ending[0] is not None:
            entry, spec = ending
            self.state.store.send_ended(entry, int(spec.get("status") or self.success_status),
                                        spec.get("_key_id"))

    def handle_control(self, req):
        store = self.state.store
        if req.method == "GET" and req.path == "/__messages":
            return self.spec(200, store.dump(req.query.get("instance")))
        if req.method == "GET" and req.path == "/__sends":
            with store.lock:
                return self.spec(200, list(store.sends))
        if req.method == "GET" and req.path == "/__sends/stats":
            return self.spec(200, store.send_stats())
        return super().handle_control(req)

    def not_on_whatsapp(self, number):
        return envelope(400, "Bad Request", [{"jid": create_jid(number), "exists": False,
                                              "number": number}])

    # ---- modes ----------------------------------------------------------
    def mode_spec(self, m, req):
        mode = m.get("mode")
        delay = m.get("delay_ms") or 0
        ok_status = self.success_status_for(req)
        b = req.json if isinstance(req.json, dict) else {}
        number = b.get("number") if isinstance(b.get("number"), str) else "5511999999999"
        err = m.get("error") or "Error: Timed Out"
        specs = {
            "not_on_whatsapp": lambda: self.not_on_whatsapp(number),
            "rate_overlimit_400": lambda: envelope(400, "Bad Request", ["Error: rate-overlimit"]),
            "rate_overlimit_500": lambda: envelope(500, ISE, ["Error: rate-overlimit"]),
            "connection_closed": lambda: envelope(500, ISE, "Connection Closed"),
            "connection_closed_array": lambda: envelope(500, ISE, ["Error: Connection Closed"]),
            "baileys_error": lambda: envelope(400, "Bad Request",
                                              [err if err.startswith("Error") else "Error: " + err]),
            "client_not_started": lambda: envelope(
                500, ISE, "Cannot read properties of undefined (reading 'textMessage')"),
            # A chip WhatsApp has restricted: the refusal reaches the client
            # in the ForbiddenException envelope (section 2: 403 is shaped
            # like 400), its message Baileys' error for DisconnectReason
            # 403 "forbidden" [INF: the contract has no verbatim body].
            "restricted": lambda: envelope(403, "Forbidden", ["Error: forbidden"]),
            # Evolution's auth guard when the server has no global key set
            # (auth.guard.ts): the server's configuration, not the chip.
            "forbidden": lambda: envelope(403, "Forbidden",
                                          ["Missing global api key", "The global api key must be set"]),
            "unauthorized": unauthorized,
            "server_error": lambda: envelope(500, ISE, ISE),
            "hang": lambda: self.spec(ok_status, hang=True),
            "garbage": lambda: self.spec(ok_status, garbage=True),
            "huge": lambda: self.spec(ok_status, huge_mb=int(m.get("huge_mb") or 64)),
            "close_mid_body": lambda: self.spec(ok_status, {"key": {"remoteJid": create_jid(number),
                                                "fromMe": True, "id": "3EB0TRUNCATED"}},
                                                close_mid_body=True),
        }
        if mode == "ok":
            fakelib.sleep_ms(delay)
            return self.route(req)
        if mode not in specs:
            return self.spec(500, {"error": "fake: unknown mode %r" % mode})
        spec = specs[mode]()
        spec["delay_ms"] = delay
        return spec

    # ---- control --------------------------------------------------------
    def control(self, req):
        st, b, p = self.state, req.json, req.path
        if p == "/__control/instances":
            if not isinstance(b, list) or not all(isinstance(x, dict) and "name" in x for x in b):
                return self.spec(400, {"error": "want [{\"name\":...}, ...]"})
            st.set_instances(b)
            with st.lock:
                return self.spec(200, {"count": len(st.rows), "instances": [
                    {k: r[k] for k in ("name", "id", "token", "connectionStatus")}
                    for r in st.rows.values()]})
        b = b if isinstance(b, dict) else {}
        if p == "/__control/instances/generate":
            n, prefix = int(b.get("count", 10)), b.get("prefix", "chip")
            ratio = float(b.get("open_ratio", 1.0))
            width = int(b.get("width") or max(2, len(str(n))))
            specs = []
            closed_upto = lambda i: int(i * (1.0 - ratio) + 1e-9)  # noqa: E731
            for i in range(1, n + 1):  # closed ones spread evenly, last of each block
                is_open = closed_upto(i) == closed_upto(i - 1)
                s = {"name": "%s%0*d" % (prefix, width, i),
                     "connectionStatus": "open" if is_open else "close",
                     "token": str(uuid.uuid5(uuid.NAMESPACE_URL, "%s%d" % (prefix, i))).upper()}
                if is_open:
                    s["ownerJid"] = "55119%08d@s.whatsapp.net" % i
                    s["profileName"] = "Chip %d" % i
                specs.append(s)
            st.set_instances(specs)
            closed = [s["name"] for s in specs if s["connectionStatus"] != "open"]
            return self.spec(200, {"count": n, "open": n - len(closed), "close": len(closed),
                                   "closed_names": closed})
        if p == "/__control/status":
            with st.lock:
                name = b.get("instance")
                if name not in st.rows:
                    return self.spec(404, {"error": "no such instance %r" % name})
                if "connectionStatus" in b:
                    st.rows[name]["connectionStatus"] = b["connectionStatus"]
                st.live[name] = b.get("state", b.get("connectionStatus", st.live.get(name)))
            return self.spec(200, {"ok": True})
        if p == "/__control/send":
            mode, inst = b.get("mode"), b.get("instance", "*")
            if mode not in SEND_MODES:
                return self.spec(400, {"error": "mode must be one of %s" % (SEND_MODES,)})
            entry = {k: b[k] for k in ("mode", "count", "delay_ms", "huge_mb", "error", "store") if k in b}
            with st.lock:
                if inst == "*":
                    st.send_modes = {}
                st.send_modes[inst] = entry
            return self.spec(200, {"ok": True, "instance": inst, **entry})
        if p == "/__control/fetch":
            if b.get("mode") not in FETCH_MODES:
                return self.spec(400, {"error": "mode must be one of %s" % (FETCH_MODES,)})
            with st.lock:
                st.fetch_mode = dict(b)
            return self.spec(200, {"ok": True, **b})
        if p == "/__control/latency":
            if not isinstance(b.get("ms"), int) or b["ms"] < 0:
                return self.spec(400, {"error": "want {\"ms\": L >= 0}"})
            with st.lock:
                st.latency_ms = b["ms"]
            return self.spec(200, {"ok": True, "ms": b["ms"]})
        if p == "/__control/sends/reset":  # a new measurement, same instances
            st.store.reset_sends()
            return self.spec(200, {"ok": True})
        if p.startswith("/__control/messages/") or p == "/__control/find":
            return self.control_messages(p, b)
        if p == "/__control/not_on_whatsapp":
            with st.lock:
                st.not_on_wa = {re.sub(r"\D", "", str(x)) for x in b.get("numbers", [])}
            return self.spec(200, {"ok": True})
        return None

    def control_messages(self, p, b):
        st, store, name = self.state, self.state.store, b.get("instance")
        with st.lock:
            row = st.rows.get(name)
        if name != "*" and row is None and p in ("/__control/messages/seed",
                                                 "/__control/messages/receipt"):
            return self.spec(404, {"error": "no such instance %r" % name})
        if p == "/__control/messages/seed":
            msgs = b.get("messages")
            if not isinstance(msgs, list) or not all(isinstance(x, dict) for x in msgs):
                return self.spec(400, {"error": "want {\"instance\", \"messages\": [{...}]}"})
            ids = store.seed(name, row["id"], msgs, create_jid)
            return self.spec(200, {"ok": True, "ids": ids})
        if p == "/__control/messages/receipt":
            if b.get("status") not in RECEIPTS:
                return self.spec(400, {"error": "status must be one of %s" % (RECEIPTS,)})
            if not store.add_receipt(name, b.get("id"), b["status"]):
                return self.spec(404, {"error": "no message %r" % b.get("id")})
            return self.spec(200, {"ok": True})
        if not isinstance(name, str):
            return self.spec(400, {"error": "want an \"instance\" (a name or \"*\")"})
        if p == "/__control/messages/saving":
            store.set_saving(name, b.get("enabled", True) is True)
            return self.spec(200, {"ok": True})
        if p == "/__control/messages/late":
            store.set_late(name, int(b.get("delay_ms") or 0))
            return self.spec(200, {"ok": True})
        if p == "/__control/find":
            if b.get("mode") not in FIND_MODES:
                return self.spec(400, {"error": "mode must be one of %s" % (FIND_MODES,)})
            store.set_find_mode(name, {k: b[k] for k in ("mode", "count") if k in b})
            return self.spec(200, {"ok": True})
        return None


if __name__ == "__main__":
    ap = fakelib.base_parser("fake Evolution API v2")
    ap.add_argument("--apikey", required=True, help="global AUTHENTICATION_API_KEY")
    ap.add_argument("--ignore-delay", action="store_true",
                    help="do not hold sendText responses for the body's delay ms")
    ap.add_argument("--latency-ms", type=int, default=0,
                    help="hold every sendText response this long (plus its delay): a real round trip")
    raise SystemExit(fakelib.main(EvoHandler, EvoState, ap))
