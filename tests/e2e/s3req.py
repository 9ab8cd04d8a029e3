#!/usr/bin/python3
"""Send one hand-made S3 request, signed with SigV4 by botocore, with knobs
the ordinary clients do not have: a skewed date, a wrong secret, a broken
Authorization header, extra headers, a body that stops early.

Prints the HTTP status on the first line and the body after it."""
import argparse
import datetime
import socket
import sys
import urllib.parse

import botocore.auth
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    p = argparse.ArgumentParser()
    p.add_argument("method")
    p.add_argument("url")
    p.add_argument("--access", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--skew-seconds", type=int, default=0)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--body-bytes", type=int, default=0)
    p.add_argument("--send-bytes", type=int, default=-1,
                   help="send only this many body bytes, then close")
    p.add_argument("--authorization", help="replace the Authorization header")
    p.add_argument("--unsigned", action="store_true")
    a = p.parse_args()

    body = b"x" * a.body_bytes
    headers = {}
    for h in a.header:
        k, v = h.split(":", 1)
        headers[k.strip()] = v.strip()
    req = AWSRequest(method=a.method, url=a.url, data=body, headers=headers)
    req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    if not a.unsigned:
        auth = S3SigV4Auth(Credentials(a.access, a.secret), "s3", "us-east-1")
        skew = datetime.timedelta(seconds=a.skew_seconds)

        real_datetime = datetime.datetime

        class SkewedDatetime(real_datetime):
            @classmethod
            def utcnow(cls):
                return real_datetime.utcnow() + skew

        # botocore reads the clock through its module's datetime.datetime.
        botocore.auth.datetime.datetime = SkewedDatetime
        auth.add_auth(req)
    if a.authorization is not None:
        # botocore's header map appends on assignment: remove first.
        del req.headers["Authorization"]
        req.headers["Authorization"] = a.authorization

    u = urllib.parse.urlsplit(a.url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    lines = [f"{a.method} {path} HTTP/1.1", f"Host: {u.netloc}"]
    for k, v in req.headers.items():
        if k.lower() == "host":
            continue
        lines.append(f"{k}: {v}")
    if a.method in ("PUT", "POST"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    s.sendall(raw)
    if a.send_bytes >= 0:
        s.sendall(body[: a.send_bytes])
        s.close()
        print("SENT-PARTIAL")
        return 0
    s.sendall(body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head else "000"
    print(status)
    sys.stdout.write(rest.decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
