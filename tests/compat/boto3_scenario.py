"""The boto3 compatibility scenario, run by test_boto3.sh with the system python3.

Environment: ENDPOINT, ACCESS_KEY, SECRET_KEY, REGION, BUCKET, WORK (a scratch dir),
HM_COMPAT_QUIRKS (see lib.sh; relaxes named checks against a peer server only).
Prints one line per step; any failed check raises and exits non-zero.
"""
import hashlib
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

ENDPOINT = os.environ["ENDPOINT"]
BUCKET = os.environ["BUCKET"]
WORK = os.environ["WORK"]
MIB = 1024 * 1024
T0 = time.time()
STEP = ["setup"]


def step(name):
    STEP[0] = name
    print("[boto3_scenario %4ds] -- %s" % (time.time() - T0, name), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def http(method, url, body=None, headers=None):
    """(status, body) of a plain HTTP request, without raising on 4xx/5xx."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def multipart_form(fields, filename, content):
    """A multipart/form-data body: the form fields, then the file last."""
    boundary = "----hamster" + uuid.uuid4().hex
    out = []
    for k, v in fields.items():
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, k, v)).encode())
    out.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, filename)).encode())
    out.append(content)
    out.append(("\r\n--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def main():
    s3 = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=os.environ["REGION"],
        aws_access_key_id=os.environ["ACCESS_KEY"],
        aws_secret_access_key=os.environ["SECRET_KEY"],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 2, "mode": "standard"},
                      connect_timeout=10, read_timeout=60),
    )
    print("boto3 %s, botocore %s" % (boto3.__version__, botocore.__version__), flush=True)

    step("create_bucket, head_bucket")
    s3.create_bucket(Bucket=BUCKET)
    s3.head_bucket(Bucket=BUCKET)
    check(BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]], "list_buckets lacks the bucket")

    step("upload_file, 23 MiB in 5 MiB parts on 4 threads")
    big = os.path.join(WORK, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(23 * MIB))
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB,
                         max_concurrency=4, use_threads=True)
    s3.upload_file(big, BUCKET, "big/big.bin", Config=cfg)
    h = s3.head_object(Bucket=BUCKET, Key="big/big.bin")
    check(h["ContentLength"] == 23 * MIB, "ContentLength %s" % h["ContentLength"])
    check(h["ETag"].endswith('-5"'), "a 5-part upload should have an ETag ending in -5: %s" % h["ETag"])

    step("download_file (ranged GETs on 4 threads)")
    back = os.path.join(WORK, "big.back")
    s3.download_file(BUCKET, "big/big.bin", back, Config=cfg)
    check(file_sha(back) == file_sha(big), "downloaded bytes differ")
    os.unlink(back)

    step("get_object with a Range")
    with open(big, "rb") as f:
        f.seek(5 * MIB - 100)
        want = f.read(300)
    r = s3.get_object(Bucket=BUCKET, Key="big/big.bin", Range="bytes=%d-%d" % (5 * MIB - 100, 5 * MIB + 199))
    got = r["Body"].read()
    check(r["ContentLength"] == 300 and got == want, "ranged GET across a part boundary returned other bytes")
    check(r["ContentRange"] == "bytes %d-%d/%d" % (5 * MIB - 100, 5 * MIB + 199, 23 * MIB),
          "Content-Range %s" % r.get("ContentRange"))

    step("put_object x53, paginators (list_objects_v2 and list_objects, PageSize 10)")
    keys = ["pg/%s/k%03d" % ("a" if i % 2 else "b", i) for i in range(53)]
    bodies = {}
    for k in keys:
        bodies[k] = os.urandom(64) + k.encode()
        s3.put_object(Bucket=BUCKET, Key=k, Body=bodies[k])
    for op in ("list_objects_v2", "list_objects"):
        pages = list(s3.get_paginator(op).paginate(Bucket=BUCKET, Prefix="pg/",
                                                   PaginationConfig={"PageSize": 10}))
        got = [c["Key"] for p in pages for c in p.get("Contents", [])]
        check(len(pages) == 6, "%s: %d pages for 53 keys at 10 a page" % (op, len(pages)))
        check(got == sorted(keys), "%s: keys differ or are out of order" % op)
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="pg/", Delimiter="/"))
    prefixes = [cp["Prefix"] for p in pages for cp in p.get("CommonPrefixes", [])]
    check(prefixes == ["pg/a/", "pg/b/"], "CommonPrefixes %s" % prefixes)
    for k in (keys[0], keys[52]):
        check(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() == bodies[k], "content of " + k)

    step("generate_presigned_post, then POST a form with urllib")
    content = os.urandom(4096)
    post = s3.generate_presigned_post(BUCKET, "post/${filename}", ExpiresIn=300,
                                      Conditions=[["content-length-range", 1, MIB],
                                                  ["starts-with", "$key", "post/"]])
    check(post["url"].startswith(ENDPOINT), "presigned POST URL %s" % post["url"])
    body, ctype = multipart_form(post["fields"], "up loaded+1.bin", content)
    status, resp = http("POST", post["url"], body, {"Content-Type": ctype})
    check(status in (200, 201, 204), "POST upload: HTTP %d %s" % (status, resp[:300]))
    got = s3.get_object(Bucket=BUCKET, Key="post/up loaded+1.bin")["Body"].read()
    check(got == content, "the POSTed object holds other bytes")
    # Too large for content-length-range: refused, nothing stored.
    body, ctype = multipart_form(post["fields"], "too-big.bin", os.urandom(MIB + 1))
    status, resp = http("POST", post["url"], body, {"Content-Type": ctype})
    check(400 <= status < 500, "a POST over content-length-range: HTTP %d" % status)
    # A policy altered after signing: refused.
    fields = dict(post["fields"])
    fields["key"] = "elsewhere/${filename}"
    body, ctype = multipart_form(fields, "x.bin", content)
    status, resp = http("POST", post["url"], body, {"Content-Type": ctype})
    check(status == 403, "a POST whose key breaks the policy: HTTP %d" % status)
    listed = [c["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
              for c in p.get("Contents", []) if not c["Key"].startswith(("pg/", "big/"))]
    check(listed == ["post/up loaded+1.bin"], "after the refused POSTs the bucket holds %s" % listed)

    step("presigned GET and PUT URLs with urllib")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": keys[3]}, ExpiresIn=300)
    status, got = http("GET", url)
    check(status == 200 and got == bodies[keys[3]], "presigned GET: HTTP %d" % status)
    put_body = os.urandom(1000)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "presigned/put.bin"},
                                    ExpiresIn=300)
    status, _ = http("PUT", url, put_body)
    check(status == 200, "presigned PUT: HTTP %d" % status)
    check(s3.get_object(Bucket=BUCKET, Key="presigned/put.bin")["Body"].read() == put_body,
          "presigned PUT stored other bytes")

    step("copy_object, and managed copy (multipart UploadPartCopy)")
    s3.copy_object(Bucket=BUCKET, Key="copy/small", CopySource={"Bucket": BUCKET, "Key": keys[7]})
    check(s3.get_object(Bucket=BUCKET, Key="copy/small")["Body"].read() == bodies[keys[7]], "copy_object content")
    s3.copy({"Bucket": BUCKET, "Key": "big/big.bin"}, BUCKET, "copy/big.bin", Config=cfg)
    h = s3.head_object(Bucket=BUCKET, Key="copy/big.bin")
    check(h["ContentLength"] == 23 * MIB, "managed copy ContentLength %s" % h["ContentLength"])
    s3.download_file(BUCKET, "copy/big.bin", back, Config=cfg)
    check(file_sha(back) == file_sha(big), "managed copy: bytes differ")

    step("delete_objects (everything), delete_bucket")
    all_keys = [c["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
                for c in p.get("Contents", [])]
    want = sorted(keys + ["big/big.bin", "post/up loaded+1.bin", "presigned/put.bin", "copy/small", "copy/big.bin"])
    check(sorted(all_keys) == want, "bucket listing before delete: %s" % sorted(set(all_keys) ^ set(want)))
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in all_keys]})
    check(not r.get("Errors"), "delete_objects errors: %s" % r.get("Errors"))
    check(sorted(d["Key"] for d in r.get("Deleted", [])) == want, "delete_objects Deleted list")
    left = s3.list_objects_v2(Bucket=BUCKET)
    check(left["KeyCount"] == 0 and not left.get("Contents"), "objects left after delete_objects")
    try:
        s3.head_object(Bucket=BUCKET, Key=keys[0])
        check(False, "a deleted object is still there")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] in ("404", "NoSuchKey"), "head of a deleted object: %s" % e)
    # Quiet mode, and deleting keys that do not exist, succeed too.
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "nope/1"}, {"Key": "nope/2"}], "Quiet": True})
    check(not r.get("Errors") and not r.get("Deleted"), "quiet delete_objects of absent keys: %s" % r)
    s3.delete_bucket(Bucket=BUCKET)
    try:
        s3.head_bucket(Bucket=BUCKET)
        check(False, "the bucket still exists after delete_bucket")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] in ("404", "NoSuchBucket"), "head of a deleted bucket: %s" % e)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report the step, then fail
        print("boto3_scenario: FAIL in step \"%s\": %s: %s" % (STEP[0], type(e).__name__, e), file=sys.stderr, flush=True)
        sys.exit(1)
    print("boto3_scenario: all steps passed", flush=True)
