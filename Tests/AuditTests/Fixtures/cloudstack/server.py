#!/usr/bin/env python3
"""A stand-in CloudStack management server for lanekeeper's tests.

Answers GET /client/api?command=...&response=json for listHosts, listStoragePools,
listImageStores, listPhysicalNetworks and listTrafficTypes from a fixture JSON file (one
object per command, as the API's `<command>response` object), filtered by the call's
parameters. Every request's signature is verified the way CloudStack's ApiServer.verifyRequest
does it, written here independently of lanekeeper: the parameters but `signature` sorted by
name, each value encoded as Java's URLEncoder does (`+` for a space then replaced by `%20`),
joined with `&`, lower-cased, HMAC-SHA1 with the secret, base64; `signatureversion=3` needs
an `expires` not yet past (yyyy-MM-dd'T'HH:mm:ssZ). A wrong key, signature or expiry gets
CloudStack's 401 answer.

Lists are paged as CloudStack pages them: `page` (from 1) of `pagesize` items, `count` the
whole list's length; --page-cap N makes every page at most N items whatever `pagesize` asks
(as a server whose `default.page.size` is N would), so a client must follow `count`.

Prints `PORT <n>` on its first line once listening (give --port 0 for a free port) on
--bind (127.0.0.1 by default).
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.server
import json
import ssl
import sys
import time
import urllib.parse

LISTS = {
    "listHosts": "host",
    "listStoragePools": "storagepool",
    "listImageStores": "imagestore",
    "listPhysicalNetworks": "physicalnetwork",
    "listTrafficTypes": "traffictype",
}
FILTERS = {"id": "id", "name": "name", "type": "type", "zoneid": "zoneid", "physicalnetworkid": "physicalnetworkid"}
AUTH_ERROR = "unable to verify user credentials and/or request signature"


def java_url_encode(value):
    # Java's URLEncoder keeps letters, digits and ".-*_" and turns a space into "+", which
    # CloudStack replaces by "%20"; Python's quote also keeps "~", which Java encodes.
    return urllib.parse.quote(value, safe="*").replace("~", "%7E")


def string_to_sign(params):
    pairs = sorted((k, v) for k, v in params.items() if k.lower() != "signature")
    return "&".join(f"{k}={java_url_encode(v)}" for k, v in pairs).lower()


def sign(params, secret):
    digest = hmac.new(secret.encode(), string_to_sign(params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fixture", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bind", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--page-cap", type=int, help="answer at most this many items per page")
    parser.add_argument("--ignore-page", action="store_true", help="answer every page as the first (a broken server)")
    parser.add_argument("--cert")
    parser.add_argument("--cert-key")
    parser.add_argument("--log", help="append each verified request's parameters (JSON) to this file")
    parser.add_argument("--malformed", action="append", default=[], help="answer this command with a body the API never sends")
    parser.add_argument("--error", action="append", default=[], help="COMMAND:CODE:TEXT, answer with a CloudStack error")
    parser.add_argument("--hang", action="store_true", help="accept requests and never answer them")
    args = parser.parse_args()
    with open(args.fixture) as f:
        fixture = json.load(f)
    errors = {}
    for spec in args.error:
        command, code, text = spec.split(":", 2)
        errors[command] = (int(code), text)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, status, body):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if args.hang:
                time.sleep(3600)
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            command = params.get("command", "")
            key = command.lower() + "response"
            if url.path != "/client/api":
                return self.answer(404, b"<html>not found</html>")
            given = params.get("signature")
            ok = given is not None and params.get("apikey") == args.key and params.get("response") == "json"
            if ok and params.get("signatureversion") == "3":
                try:
                    expires = datetime.datetime.strptime(params["expires"], "%Y-%m-%dT%H:%M:%S%z")
                    ok = expires > datetime.datetime.now(datetime.timezone.utc)
                except (KeyError, ValueError):
                    ok = False
            if ok:
                ok = hmac.compare_digest(given, sign(params, args.secret))
            if not ok:
                return self.answer(401, {key: {"uuidList": [], "errorcode": 401, "errortext": AUTH_ERROR}})
            if args.log:
                with open(args.log, "a") as f:
                    f.write(json.dumps(params, sort_keys=True) + "\n")
            if command in errors:
                code, text = errors[command]
                return self.answer(code if code < 600 else 530, {key: {"uuidList": [], "errorcode": code, "errortext": text}})
            if command in args.malformed:
                return self.answer(200, {key: {"count": 1, LISTS.get(command, "item"): {"not": "a list"}}})
            if command not in LISTS:
                return self.answer(432, {key: {"uuidList": [], "errorcode": 432, "errortext": f"The given command {command} does not exist"}})
            items = fixture.get(command, [])
            for param, field in FILTERS.items():
                if param in params:
                    items = [i for i in items if str(i.get(field, "")).lower() == params[param].lower()]
            if not items:
                return self.answer(200, {key: {}})
            count = len(items)
            try:
                size = int(params.get("pagesize", count))
                page = 1 if args.ignore_page else int(params.get("page", 1))
            except ValueError:
                return self.answer(431, {key: {"uuidList": [], "errorcode": 431, "errortext": "page and pagesize must be numbers"}})
            if args.page_cap:
                size = min(size, args.page_cap)
            items = items[(page - 1) * size:page * size] if size > 0 and page > 0 else []
            if not items:
                return self.answer(200, {key: {"count": count}})
            return self.answer(200, {key: {"count": count, LISTS[command]: items}})

    server = http.server.ThreadingHTTPServer((args.bind, args.port), Handler)
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.cert_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
