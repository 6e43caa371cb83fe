"""What the fake Evolution API kept: its message store, findMessages, and the
timing of every sendText (contract: /work/shared/api-contracts.md §11, §5).

Python 3 standard library only; used by fake_evolution.py. Every method takes
the store's own lock, so handler threads may call it concurrently.

A stored record has the §11 shape:
  {"id", "key": {"id", "fromMe", "remoteJid"}, "pushName", "messageType",
   "message": {"conversation": text}, "messageTimestamp": seconds,
   "instanceId", "source", "contextInfo": null, "MessageUpdate": [{"status"}]}
plus private fields (leading "_": the instance name, when it becomes
visible, insertion order) that are never sent.
"""

import datetime
import itertools
import math
import random
import re
import threading
import time

RECEIPTS = ("ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED")
FIND_MODES = ("ok", "not_found", "unauthorized", "server_error", "hang", "garbage")
_seq = itertools.count(1)


def cuid():
    return "cl" + "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(23))


def new_key_id():
    return "3EB0%08X%08X" % (random.getrandbits(32), next(_seq))


def js_date_seconds(v):
    """Math.floor(new Date(v).getTime() / 1000) for the forms a client sends:
    ISO-8601 strings (Z, offsets, fractions, a bare date = UTC midnight) and
    numbers (milliseconds, as new Date(n) reads them). None when invalid."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return math.floor(v / 1000.0) if math.isfinite(v) else None
    if not isinstance(v, str):
        return None
    s = v.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        s += "T00:00:00Z"
    s = re.sub(r"Z$", "+00:00", s)
    s = re.sub(r"(\.\d{1,6})\d*", r"\1", s)
    try:
        d = datetime.datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:  # new Date("2026-12-04T10:00:00") is local time; the fake runs in UTC
        d = d.replace(tzinfo=datetime.timezone.utc)
    return math.floor(d.timestamp())


def same(a, b):
    """Prisma's JSON equals: the same type and value (true is not 1)."""
    return type(a) is type(b) and a == b


def truthy(v):
    """JavaScript truthiness, for `keyFilters?.fromMe ? {...} : {}`."""
    return not (v is None or v is False or v == 0 or v == "" or
                (isinstance(v, float) and math.isnan(v)))


class MessageStore:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.records = {}      # instance -> [record]
            self.saving = {"*": True}
            self.late_ms = {}      # instance or "*" -> ms before a stored send is visible
            self.find_modes = {}   # instance or "*" -> {"mode", "count"?}
            self.sends = []        # one timing entry per sendText
            self.in_flight = 0
            self.max_in_flight = 0

    # ---- settings -------------------------------------------------------
    @staticmethod
    def _per(table, name, default):
        return table[name] if name in table else table.get("*", default)

    def set_saving(self, name, enabled):
        with self.lock:
            if name == "*":
                self.saving = {}
            self.saving[name] = bool(enabled)

    def set_late(self, name, ms):
        with self.lock:
            if name == "*":
                self.late_ms = {}
            self.late_ms[name] = int(ms)

    def set_find_mode(self, name, entry):
        with self.lock:
            if name == "*":
                self.find_modes = {}
            self.find_modes[name] = dict(entry)

    def take_find_mode(self, name):
        with self.lock:
            key = name if name in self.find_modes else "*"
            m = self.find_modes.get(key)
            if m is None:
                return {"mode": "ok"}
            if m.get("count") is not None:
                m["count"] -= 1
                if m["count"] <= 0:
                    del self.find_modes[key]
            return dict(m)

    # ---- storing --------------------------------------------------------
    def _add(self, name, rec, visible_at):
        rec["_instance"], rec["_visible_at"], rec["_order"] = name, visible_at, next(_seq)
        self.records.setdefault(name, []).append(rec)

    def add_sent(self, name, instance_id, jid, text, key_id, ts):
        """A send that completed: kept unless saving is off, visible after late_ms."""
        with self.lock:
            if not self._per(self.saving, name, True):
                return False
            late = self._per(self.late_ms, name, 0)
            self._add(name, {
                "id": cuid(), "key": {"id": key_id, "fromMe": True, "remoteJid": jid},
                "pushName": "Você", "messageType": "conversation",
                "message": {"conversation": text}, "messageTimestamp": int(ts),
                "instanceId": instance_id, "source": "unknown", "contextInfo": None,
                "MessageUpdate": []}, time.time() + late / 1000.0)
            return True

    def seed(self, name, instance_id, specs, create_jid):
        """Stored messages from a control request; returns their key ids."""
        ids = []
        with self.lock:
            for s in specs:
                if isinstance(s.get("raw"), dict):  # an exact record, odd shapes included
                    rec = dict(s["raw"])
                    ids.append((rec.get("key") or {}).get("id") if isinstance(rec.get("key"), dict) else None)
                    self._add(name, rec, time.time())
                    continue
                jid = s.get("remoteJid") or create_jid(str(s.get("number", "5511999999999")))
                kid = s.get("id") or new_key_id()
                msg = ({"extendedTextMessage": {"text": s["text"]}} if s.get("extended")
                       else {"conversation": s.get("text", "")})
                rec = {"id": cuid(), "key": {"id": kid, "fromMe": bool(s.get("fromMe", False)),
                                             "remoteJid": jid},
                       "pushName": "Você" if s.get("fromMe") else s.get("pushName", "Contato"),
                       "messageType": s.get("messageType", "conversation"), "message": msg,
                       "messageTimestamp": int(s.get("timestamp", time.time())),
                       "instanceId": instance_id, "source": s.get("source", "android"),
                       "contextInfo": None,
                       "MessageUpdate": [{"status": r} for r in s.get("receipts", [])]}
                self._add(name, rec, time.time() + int(s.get("late_ms", 0)) / 1000.0)
                ids.append(kid)
        return ids

    def add_receipt(self, name, key_id, status):
        with self.lock:
            for rec in self.records.get(name, []):
                if isinstance(rec.get("key"), dict) and rec["key"].get("id") == key_id:
                    rec.setdefault("MessageUpdate", []).append({"status": status})
                    return True
        return False

    def dump(self, name=None):
        with self.lock:
            names = [name] if name else list(self.records)
            return [{k: v for k, v in r.items() if not k.startswith("_")}
                    for n in names for r in self.records.get(n, [])]

    # ---- findMessages ---------------------------------------------------
    def find(self, name, body):
        """(status, body) as channel.service.ts fetchMessages answers."""
        q = body if isinstance(body, dict) else {}
        where = q.get("where") if isinstance(q.get("where"), dict) else {}
        key = where.get("key") if isinstance(where.get("key"), dict) else {}
        ts = where.get("messageTimestamp") if isinstance(where.get("messageTimestamp"), dict) else {}
        lo = hi = None
        if ts.get("gte") and ts.get("lte"):
            lo, hi = js_date_seconds(ts["gte"]), js_date_seconds(ts["lte"])
            if lo is None or hi is None:  # NaN reaches Prisma, which throws
                return 500, {"status": 500, "error": "Internal Server Error",
                             "response": {"message": "Invalid value for messageTimestamp"}}
        offset = q.get("offset") if truthy(q.get("offset")) else 50
        page = q.get("page") if truthy(q.get("page")) else 1
        if not isinstance(offset, int) or not isinstance(page, int) or offset < 1 or page < 1:
            return 500, {"status": 500, "error": "Internal Server Error",
                         "response": {"message": "Invalid value for offset or page"}}
        now = time.time()
        with self.lock:
            saving = self._per(self.saving, name, True)
            recs = list(self.records.get(name, [])) if saving else []

        def keep(r):
            k = r.get("key") if isinstance(r.get("key"), dict) else {}
            if r.get("_visible_at", 0) > now:
                return False
            for f in ("id", "fromMe", "remoteJid"):  # only truthy filters apply
                if truthy(key.get(f)) and not same(k.get(f), key[f]):
                    return False
            for f in ("id", "messageType", "source"):
                if truthy(where.get(f)) and not same(r.get(f), where[f]):
                    return False
            if lo is not None:
                t = r.get("messageTimestamp")
                if not isinstance(t, int) or isinstance(t, bool) or not lo <= t <= hi:
                    return False
            return True

        found = [r for r in recs if keep(r)]
        found.sort(key=lambda r: (r.get("messageTimestamp") if isinstance(r.get("messageTimestamp"), int)
                                  else 0, r["_order"]), reverse=True)
        total = len(found)
        start = offset * (page - 1)
        out = [{k: v for k, v in r.items() if not k.startswith("_")}
               for r in found[start:start + offset]]
        return 200, {"messages": {"total": total, "pages": math.ceil(total / offset),
                                  "currentPage": page, "records": out}}

    # ---- send timings ---------------------------------------------------
    def reset_sends(self):
        with self.lock:
            self.sends = []
            self.max_in_flight = self.in_flight

    def send_started(self, name):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return {"instance": name, "start": time.time()}

    def send_ended(self, entry, status, key_id=None):
        entry["end"], entry["status"] = time.time(), status
        if key_id:
            entry["id"] = key_id
        with self.lock:
            self.in_flight -= 1
            self.sends.append(entry)

    def send_stats(self):
        with self.lock:
            sends = list(self.sends)
            in_flight, peak = self.in_flight, self.max_in_flight
        out = {"count": len(sends), "in_flight": in_flight, "max_in_flight": peak,
               "overlapping_on_one_instance": 0, "max_on_one_instance": 0,
               "mean_in_flight": 0.0, "first_start": None, "last_end": None}
        if not sends:
            return out
        by_inst = {}
        for s in sends:
            by_inst.setdefault(s["instance"], []).append((s["start"], s["end"]))
        for ivs in by_inst.values():
            ivs.sort()
            ends = []  # end times of the sends still open at each start
            for st, en in ivs:
                ends = [e for e in ends if e > st]
                if ends:
                    out["overlapping_on_one_instance"] += 1
                ends.append(en)
                out["max_on_one_instance"] = max(out["max_on_one_instance"], len(ends))
        first = min(s["start"] for s in sends)
        last = max(s["end"] for s in sends)
        busy = sum(s["end"] - s["start"] for s in sends)
        out.update(first_start=first, last_end=last,
                   mean_in_flight=round(busy / (last - first), 2) if last > first else float(len(sends)))
        return out
