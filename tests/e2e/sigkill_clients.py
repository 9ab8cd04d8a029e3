#!/usr/bin/python3
"""Clients for test_sigkill.sh.

`run ENDPOINT DIR SEED`: 8 threads, each its own boto3 client and keys,
PUT and overwrite mixed sizes until the file DIR/stop appears (a request
the crash cut just moves on to the next write): an inline object
(1000 B), one just under the inline limit (3000 B), a 3 MiB single PUT and
a multipart object (5 MiB + 1 MiB parts).  Every body is derived from
(key, version), so its MD5 is known.  Each client appends to its journal,
DIR/client-N.log, "T key md5" before a write and "A key md5" after the
server acknowledged it (HTTP 200); the journal is the client's own, so a
server crash cannot touch it.

`verify ENDPOINT DIR` (also answered by `run` between rounds, see run()):
for every key, the object must read back whole and
equal the last acknowledged version or a version tried after it (an
overwrite in flight at the crash may or may not have landed); a key never
acknowledged may be absent.  Every key listed must be one of ours.  Exit 1
with the first violation printed."""
import hashlib
import os
import random
import sys
import threading
import time

import boto3
from botocore.config import Config

CLIENTS = 8
SIZES = {"inline": 1000, "small": 3000, "big": 3 << 20}
MPU_PARTS = (5 << 20, 1 << 20)
BUCKET = "crash"


def client(endpoint):
    return boto3.client(
        "s3", endpoint_url=endpoint,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}, connect_timeout=2, read_timeout=60))


def body(key, version, size):
    return random.Random("%s/%d" % (key, version)).randbytes(size)


class Control:
    """Writers run while `go` is set; `idle` counts those parked."""

    def __init__(self):
        self.go = threading.Event()
        self.go.set()
        self.lock = threading.Lock()
        self.idle = 0


def run_client(ctl, c, d, seed, n):
    log = os.open("%s/client-%d.log" % (d, n), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    rng = random.Random("%s/%d" % (seed, n))
    kinds = ["inline", "small", "big", "mpu"]
    while not os.path.exists(d + "/stop"):
        if not ctl.go.is_set():
            with ctl.lock:
                ctl.idle += 1
            while not ctl.go.wait(0.1) and not os.path.exists(d + "/stop"):
                pass
            with ctl.lock:
                ctl.idle -= 1
            continue
        kind = rng.choice(kinds)
        key = "c%d/%s" % (n, kind)
        version = rng.getrandbits(48)
        if kind == "mpu":
            parts = [body(key, version * 16 + i, s) for i, s in enumerate(MPU_PARTS)]
            md5 = hashlib.md5(b"".join(parts)).hexdigest()
        else:
            data = body(key, version, SIZES[kind])
            md5 = hashlib.md5(data).hexdigest()
        os.write(log, ("T %s %s\n" % (key, md5)).encode())
        try:
            if kind == "mpu":
                uid = c.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
                done = []
                for i, p in enumerate(parts):
                    r = c.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=i + 1,
                                      Body=p)
                    done.append({"PartNumber": i + 1, "ETag": r["ETag"]})
                c.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                            MultipartUpload={"Parts": done})
            else:
                c.put_object(Bucket=BUCKET, Key=key, Body=data)
        except Exception:
            # The server died under us: this write stays unacknowledged (it
            # may or may not have landed).
            time.sleep(0.2)
            continue
        os.write(log, ("A %s %s\n" % (key, md5)).encode())
    os.close(log)


def run(endpoint, d, seed):
    """Write until DIR/stop.  While DIR/pause exists the writers park; a
    request DIR/verify-R (made while paused, the server restarted) is
    answered in DIR/verified-R: "0" or "1" and what failed."""
    ctl = Control()
    # Made here, one after another: creating boto3 clients is not
    # thread-safe, using one from its own thread is.
    cs = [client(endpoint) for _ in range(CLIENTS)]
    threads = [threading.Thread(target=run_client, args=(ctl, cs[n], d, seed, n))
               for n in range(CLIENTS)]
    for t in threads:
        t.start()
    answered = set()
    while not os.path.exists(d + "/stop"):
        if os.path.exists(d + "/pause"):
            ctl.go.clear()
            with ctl.lock:
                all_idle = ctl.idle == CLIENTS
            for name in os.listdir(d):
                if all_idle and name.startswith("verify-") and name not in answered:
                    answered.add(name)
                    rc, msg = verify(endpoint, d)
                    with open("%s/verified-%s.tmp" % (d, name[7:]), "w") as f:
                        f.write("%d %s\n" % (rc, msg))
                    os.rename("%s/verified-%s.tmp" % (d, name[7:]),
                              "%s/verified-%s" % (d, name[7:]))
        else:
            ctl.go.set()
        time.sleep(0.05)
    ctl.go.set()
    for t in threads:
        t.join()


def allowed_states(d):
    """key -> (acknowledged md5 or None, set of md5s tried after it)."""
    state = {}
    for n in range(CLIENTS):
        path = "%s/client-%d.log" % (d, n)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 3:
                    continue  # a line cut by the end of a round: its write was never acked
                op, key, md5 = parts
                acked, after = state.get(key, (None, set()))
                if op == "T":
                    after = after | {md5}
                else:
                    acked, after = md5, set()
                state[key] = (acked, after)
    return state


def verify(endpoint, d):
    """(0, summary) or (1, the first violation)."""
    c = client(endpoint)
    state = allowed_states(d)
    acked_keys = 0
    for key, (acked, after) in sorted(state.items()):
        allowed = set(after) | ({acked} if acked else set())
        try:
            r = c.get_object(Bucket=BUCKET, Key=key)
            data = r["Body"].read()
        except c.exceptions.NoSuchKey:
            if acked is not None:
                return 1, "LOST: %s acknowledged %s, now absent" % (key, acked)
            continue
        except Exception as e:
            return 1, "UNREADABLE: %s (acknowledged %s): %s" % (key, acked, e)
        if len(data) != r["ContentLength"]:
            return 1, "SHORT: %s read %d of %d bytes" % (key, len(data), r["ContentLength"])
        md5 = hashlib.md5(data).hexdigest()
        if md5 not in allowed:
            return 1, "WRONG: %s reads %s (%d bytes); allowed %s" % (key, md5, len(data),
                                                                     sorted(allowed))
        if acked is not None:
            acked_keys += 1
    listed = 0
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for o in page.get("Contents", []):
            listed += 1
            if o["Key"] not in state:
                return 1, "STRAY: %s listed but never written" % o["Key"]
    return 0, "%d keys read back (%d acknowledged, %d listed)" % (len(state), acked_keys,
                                                                  listed)


def main():
    mode, endpoint, d = sys.argv[1:4]
    if mode == "run":
        run(endpoint, d, sys.argv[4])
        return 0
    if mode == "setup":
        client(endpoint).create_bucket(Bucket=BUCKET)
        return 0
    rc, msg = verify(endpoint, d)
    print(msg)
    return rc


if __name__ == "__main__":
    sys.exit(main())
