#!/usr/bin/python3
"""A slow S3 reader over a raw socket: GET a (presigned) URL, read `--pause`
body bytes, write the `--paused` marker file, then read nothing more until
the `--go` file exists, then read to the end.  The socket's receive buffer
is small, so the server cannot run far ahead of what has been read.

Prints "<status> <body bytes> <md5 hex>" on stdout."""
import argparse
import hashlib
import os
import socket
import sys
import time
import urllib.parse


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--range", help="Range header value, e.g. bytes=10-99")
    p.add_argument("--pause", type=int, default=1 << 20)
    p.add_argument("--paused", required=True)
    p.add_argument("--go", required=True)
    p.add_argument("--timeout", type=float, default=60.0)
    a = p.parse_args()

    u = urllib.parse.urlsplit(a.url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Before connect, so the advertised window stays small.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    s.settimeout(a.timeout)
    s.connect((u.hostname, u.port))
    path = u.path + ("?" + u.query if u.query else "")
    req = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (path, u.netloc)
    if a.range:
        req += "Range: %s\r\n" % a.range
    s.sendall((req + "\r\n").encode())

    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            print("0 0 -")
            return 1
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    md5 = hashlib.md5()
    md5.update(body)
    n = len(body)
    paused = False
    while True:
        if not paused and n >= a.pause:
            open(a.paused, "w").close()
            deadline = time.time() + a.timeout
            while not os.path.exists(a.go):
                if time.time() > deadline:
                    print("timed out waiting for", a.go, file=sys.stderr)
                    return 1
                time.sleep(0.05)
            paused = True
        chunk = s.recv(min(65536, a.pause - n) if not paused and n < a.pause else 65536)
        if not chunk:
            break
        md5.update(chunk)
        n += len(chunk)
    if not paused:
        open(a.paused, "w").close()
    print(status, n, md5.hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
