#!/usr/bin/env python3
"""Fake Salvy virtual-number API v2 (contract: /work/shared/api-contracts.md §10).

Auth: Authorization: Bearer <--apikey>, else 401 {"code":"unauthorized","message":...,"publicDetails":{}}.
Routes:
  GET    /api/v2/virtual-phone-accounts                      -> [account, ...]
  POST   /api/v2/virtual-phone-accounts {"areaCode":11,"name":"x"} -> account (new +55{DDD}9XXXXXXXX)
  GET    /api/v2/virtual-phone-accounts/{id}                 -> account
  DELETE /api/v2/virtual-phone-accounts/{id} {"reason":R}    -> account, status "canceled"
         R in unnecessary|whatsapp-ban|technical-issues|company-canceled, else 400
  GET    /api/v2/virtual-phone-accounts/area-codes[?available=true]
  GET    /api/v2/virtual-phone-accounts/{id}/sms-messages    -> {"smsMessages":[...]}
  POST   /api/v2/virtual-phone-accounts/{id}/sms {"rawText","originPhoneNumber"} (sandbox simulate)
Errors use {"code","message","publicDetails":{}}; codes other than "unauthorized" and the
200 status of POST/DELETE are [INF]. Other failures: script them (POST /__control/script).
Control: POST /__control/area-codes {"available":[11,21,...]} sets which DDDs have stock.
"""

import datetime
import random
import re
import uuid

import fakelib

BASE = "/api/v2/virtual-phone-accounts"
REASONS = ("unnecessary", "whatsapp-ban", "technical-issues", "company-canceled")
DDDS = [11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68,
        69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95,
        96, 97, 98, 99]


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error(status, code, message):
    return fakelib.FakeHandler.spec(status, {"code": code, "message": message, "publicDetails": {}})


class SalvyState(fakelib.State):
    def reset(self):
        super().reset()
        with self.lock:
            self.accounts = {}  # id -> account
            self.sms = {}       # id -> [sms]
            self.available = set(DDDS)


class SalvyHandler(fakelib.FakeHandler):
    def route(self, req):
        auth = req.header("authorization", "")
        if auth != "Bearer " + self.state.args.apikey:
            return error(401, "unauthorized", "Invalid or missing API key")
        p = req.path.rstrip("/")
        if not p.startswith(BASE):
            return error(404, "not_found", "Route %s %s not found" % (req.method, req.path))
        rest = p[len(BASE):].strip("/").split("/") if p != BASE else []
        st = self.state
        if rest == [] and req.method == "GET":
            with st.lock:
                return self.spec(200, list(st.accounts.values()))
        if rest == [] and req.method == "POST":
            return self.create(req)
        if rest == ["area-codes"] and req.method == "GET":
            only = req.query.get("available") == "true"
            with st.lock:
                codes = [{"areaCode": d, "available": d in st.available} for d in DDDS
                         if not only or d in st.available]
            return self.spec(200, {"areaCodes": codes})
        with st.lock:
            acc = st.accounts.get(rest[0]) if rest else None
        if acc is None:
            return error(404, "not_found", "Virtual phone account not found")
        if len(rest) == 1 and req.method == "GET":
            return self.spec(200, acc)
        if len(rest) == 1 and req.method == "DELETE":
            reason = req.json.get("reason") if isinstance(req.json, dict) else None
            if reason not in REASONS:
                return error(400, "bad_request", "reason must be one of: " + ", ".join(REASONS))
            with st.lock:
                acc.update(status="canceled", canceledAt=now(), cancelReason=reason)
                return self.spec(200, dict(acc))
        if rest[1:] == ["sms-messages"] and req.method == "GET":
            with st.lock:
                return self.spec(200, {"smsMessages": list(st.sms.get(acc["id"], []))})
        if rest[1:] == ["sms"] and req.method == "POST":
            b = req.json if isinstance(req.json, dict) else {}
            text = str(b.get("rawText", ""))
            code = re.search(r"\d{3}-?\d{3}", text)
            msg = {"id": str(uuid.uuid4()), "receivedAt": now(),
                   "originPhoneNumber": str(b.get("originPhoneNumber", "")),
                   "destinationPhoneNumber": acc["phoneNumber"], "message": text,
                   "detections": {"whatsapp": {"verificationCode":
                                               code.group(0).replace("-", "") if code else None}}}
            with st.lock:
                st.sms.setdefault(acc["id"], []).append(msg)
            return self.spec(200, msg)
        return error(404, "not_found", "Route %s %s not found" % (req.method, req.path))

    def create(self, req):
        b = req.json if isinstance(req.json, dict) else None
        if b is None:
            return error(400, "bad_request", "Invalid JSON body")
        ddd = b.get("areaCode")
        if not isinstance(ddd, int) or isinstance(ddd, bool) or ddd not in DDDS:
            return error(400, "bad_request", "areaCode must be a valid Brazilian area code")
        name = b.get("name")
        if name is not None and not isinstance(name, str):
            return error(400, "bad_request", "name must be a string or null")
        st = self.state
        with st.lock:
            if ddd not in st.available:
                return error(400, "area_code_unavailable", "Area code %d is not available" % ddd)
            used = {a["phoneNumber"] for a in st.accounts.values()}
            while True:
                phone = "+55%d9%08d" % (ddd, random.randrange(10 ** 8))
                if phone not in used:
                    break
            acc = {"id": str(uuid.uuid4()), "name": name, "phoneNumber": phone, "status": "active",
                   "createdAt": now(), "canceledAt": None, "cancelReason": None,
                   "redirectPhoneNumber": None, "redirectExpiresAt": None}
            st.accounts[acc["id"]] = acc
            return self.spec(200, dict(acc))

    def control(self, req):
        if req.path == "/__control/area-codes":
            b = req.json if isinstance(req.json, dict) else {}
            with self.state.lock:
                self.state.available = {int(x) for x in b.get("available", [])}
            return self.spec(200, {"ok": True})
        return None


if __name__ == "__main__":
    ap = fakelib.base_parser("fake Salvy API")
    ap.add_argument("--apikey", required=True, help="expected Bearer key")
    raise SystemExit(fakelib.main(SalvyHandler, SalvyState, ap))
