#!/usr/bin/env python3
"""A webhook receiver that checks every request with the `standardwebhooks`
package (the Standard Webhooks reference library), independently of Postel's
own signing code.

Usage: webhook_receiver.py --secret whsec_... [--secret whsec_...]

Every given secret must verify the request on its own (so a rotation's two
signatures are both checked), and the timestamp must be within the library's
5-minute tolerance of this machine's clock. Prints "READY <port>" once
listening on 127.0.0.1, then one JSON line per request:
  {"ok": true|false, "error": "...", "webhook_id": "...", "attempt": "...",
   "postel_id": "...", "signatures": N, "payload": {...}}
Answers 204 when the request verifies, 401 otherwise.
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", action="append", required=True)
    args = parser.parse_args()
    verifiers = [Webhook(s) for s in args.secret]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {k: v for k, v in self.headers.items()}
            record = {
                "ok": True,
                "error": "",
                "webhook_id": self.headers.get("webhook-id", ""),
                "attempt": self.headers.get("X-Postel-Webhook-Attempt", ""),
                "postel_id": self.headers.get("X-Postel-Webhook-ID", ""),
                "signatures": len(self.headers.get("webhook-signature", "").split()),
                "payload": None,
            }
            try:
                for v in verifiers:
                    record["payload"] = v.verify(body, headers)
            except (WebhookVerificationError, ValueError) as e:
                record["ok"] = False
                record["error"] = f"{type(e).__name__}: {e}"
            print(json.dumps(record), flush=True)
            self.send_response(204 if record["ok"] else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
