#!/usr/bin/env python3
"""Fake Slack incoming webhook (contract: /work/shared/api-contracts.md §9).

Any POST path (e.g. /services/T000/B000/XXXX) is a webhook. Answers are plain text:
  200 "ok"                    default
  400 "invalid_payload"       body not JSON (or form payload=JSON) or no "text"
Persistent mode (POST /__control/mode {"mode": M, "retry_after": N}):
  ok | down (500 rollup_error) | ratelimit (429, Retry-After: N, default 1)
  | hang | archived (410 channel_is_archived) | no_service (404 no_service)
Scripted responses (POST /__control/script) come first. Every POST is logged.
"""

import json
from urllib.parse import parse_qs

import fakelib

MODES = ("ok", "down", "ratelimit", "hang", "archived", "no_service")
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


class SlackState(fakelib.State):
    def reset(self):
        super().reset()
        with self.lock:
            self.mode, self.retry_after = "ok", 1


class SlackHandler(fakelib.FakeHandler):
    def control(self, req):
        if req.path != "/__control/mode":
            return None
        body = req.json if isinstance(req.json, dict) else {}
        mode = body.get("mode")
        if mode not in MODES:
            return self.spec(400, {"error": "mode must be one of %s" % (MODES,)})
        with self.state.lock:
            self.state.mode = mode
            self.state.retry_after = int(body.get("retry_after", 1))
        return self.spec(200, {"ok": True, "mode": mode})

    def route(self, req):
        if req.method != "POST":
            return self.spec(405, "invalid_method", TEXT)
        st = self.state
        with st.lock:
            mode, retry_after = st.mode, st.retry_after
        if mode == "down":
            return self.spec(500, "rollup_error", TEXT)
        if mode == "ratelimit":
            return self.spec(429, "rate_limited", dict(TEXT, **{"Retry-After": str(retry_after)}))
        if mode == "hang":
            return self.spec(200, hang=True)
        if mode == "archived":
            return self.spec(410, "channel_is_archived", TEXT)
        if mode == "no_service":
            return self.spec(404, "no_service", TEXT)
        payload = req.json
        if "application/x-www-form-urlencoded" in req.header("content-type", ""):
            try:
                payload = json.loads(parse_qs(req.body).get("payload", [""])[0])
            except ValueError:
                payload = None
        elif req.json_error is not None:
            payload = None
        if not isinstance(payload, dict) or "text" not in payload:
            return self.spec(400, "invalid_payload", TEXT)
        return self.spec(200, "ok", TEXT)


if __name__ == "__main__":
    raise SystemExit(fakelib.main(SlackHandler, SlackState,
                                  fakelib.base_parser("fake Slack incoming webhook")))
