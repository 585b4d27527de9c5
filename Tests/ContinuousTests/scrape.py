#!/usr/bin/env python3
"""Scrapes lanekeeper's metrics (http://HOST:PORT/metrics, or file://PATH for the textfile)
and parses them with prometheus_client's own text parser; prints JSON: each sample as
"name{label=value,...}" (labels sorted) -> value, and for an endpoint how it answers other
requests ("http") and its Content-Type."""
import json
import socket
import sys
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def samples(text):
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return out


def raw(host, port, payload):
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def status(method, url):
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


url = sys.argv[1]
if url.startswith("file://"):
    with open(url[len("file://"):], encoding="utf-8") as f:
        print(json.dumps(samples(f.read())))
    sys.exit(0)

with urllib.request.urlopen(url, timeout=10) as response:
    result = samples(response.read().decode("utf-8"))
    result["content_type"] = response.headers["Content-Type"]
parts = urllib.parse.urlsplit(url)
base = f"{parts.scheme}://{parts.netloc}"
result["http"] = {
    "/other": status("GET", base + "/other"),
    "POST": status("POST", url),
    "HEAD": status("HEAD", url),
    "oversized": raw(parts.hostname, parts.port, b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 9000),
    "garbage": raw(parts.hostname, parts.port, b"hello\r\n\r\n"),
}
print(json.dumps(result))
