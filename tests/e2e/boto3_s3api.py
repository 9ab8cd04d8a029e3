"""The S3 request surface through boto3: paginated listings v1 and v2 over
1,200 keys with hard names, batch delete, tagging, a conditional create,
ranges, presigned PUT/GET/HEAD/DELETE URLs, bucket CORS and
virtual-hosted-style addressing.

Usage: boto3_s3api.py ENDPOINT DOMAIN (credentials from the environment).
Exits non-zero with a message on the first failure.
"""
import concurrent.futures
import socket
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore
from botocore.config import Config

ENDPOINT, DOMAIN = sys.argv[1], sys.argv[2]
PORT = int(ENDPOINT.rsplit(":", 1)[1])


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def client(style="path", endpoint=ENDPOINT):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(s3={"addressing_style": style}, signature_version="s3v4",
                                      retries={"max_attempts": 1}))


def http(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


s3 = client()
s3.create_bucket(Bucket="boto")

# ---- listings ----------------------------------------------------------------
HARD = ["with space.txt", "plus+sign.txt", "percent%41.txt", "uni-ünïcødé-ファイル.txt",
        "emoji-😀", "amp&and=eq", "ctrl-\x01-char", "tab\there", "q?mark#hash",
        "long/" + "k" * 1019]
keys = ["d%d/k%04d" % (i % 6, i) for i in range(1190)] + HARD
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(lambda k: s3.put_object(Bucket="boto", Key=k, Body=k.encode()), keys))

for op, size in (("list_objects", 100), ("list_objects_v2", 333)):
    seen = []
    pages = 0
    for page in s3.get_paginator(op).paginate(Bucket="boto",
                                              PaginationConfig={"PageSize": size}):
        pages += 1
        seen += [c["Key"] for c in page.get("Contents", [])]
    check(sorted(seen) == sorted(keys), "%s did not return every key once" % op)
    check(pages == -(-1200 // size), "%s took %d pages" % (op, pages))
ok("list_objects and list_objects_v2 paginators over 1,200 keys")

prefixes, direct = set(), []
for page in s3.get_paginator("list_objects").paginate(
        Bucket="boto", Delimiter="/", PaginationConfig={"PageSize": 4}):
    prefixes |= {p["Prefix"] for p in page.get("CommonPrefixes", [])}
    direct += [c["Key"] for c in page.get("Contents", [])]
check(prefixes == {"d%d/" % i for i in range(6)} | {"long/"}, "prefixes %r" % prefixes)
check(sorted(direct) == sorted(k for k in HARD if "/" not in k), "keys %r" % direct)
ok("list_objects with Delimiter='/' (NextMarker paging)")

resp = s3.list_objects_v2(Bucket="boto", Delimiter="-", Prefix="ctrl", FetchOwner=True)
check([p["Prefix"] for p in resp.get("CommonPrefixes", [])] == ["ctrl-"], "delimiter '-'")
resp = s3.list_objects_v2(Bucket="boto", StartAfter="d5/k1187", MaxKeys=3, FetchOwner=True)
want = sorted((k for k in keys if k.encode() > b"d5/k1187"), key=str.encode)[:3]
check([c["Key"] for c in resp["Contents"]] == want, "start-after: %r" % resp["Contents"])
check("Owner" in resp["Contents"][0] and resp["KeyCount"] == 3, "fetch-owner / KeyCount")
for k in HARD:
    body = s3.get_object(Bucket="boto", Key=k)["Body"].read()
    check(body == k.encode(), "GET of %r" % k)
ok("hard keys (unicode, space, +, %, control characters, 1024 bytes) round-trip")

try:
    s3.list_objects_v2(Bucket="boto", ContinuationToken="not-a-token")
    fail("a bad continuation token was accepted")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidArgument", "bad token: %r" % e.response)
ok("bad continuation token is InvalidArgument")

# ---- batch delete ----------------------------------------------------------------
batch = keys[:1000]
resp = s3.delete_objects(Bucket="boto", Delete={"Objects": [{"Key": k} for k in batch],
                                              "Quiet": True})
check(not resp.get("Errors") and not resp.get("Deleted"), "quiet delete: %r" % resp)
left = sum(len(p.get("Contents", [])) for p in
           s3.get_paginator("list_objects_v2").paginate(Bucket="boto"))
check(left == 200, "%d keys left after deleting 1000" % left)
resp = s3.delete_objects(Bucket="boto", Delete={"Objects": [{"Key": keys[1000]},
                                                          {"Key": "absent"}]})
check(sorted(d["Key"] for d in resp["Deleted"]) == sorted([keys[1000], "absent"]),
      "verbose delete: %r" % resp)
ok("delete_objects: 1000 quietly, then verbose with an absent key")

# ---- tagging ------------------------------------------------------------------------
s3.put_object(Bucket="boto", Key="t", Body=b"x", Tagging="a=1&b=two%20words")
check(s3.head_object(Bucket="boto", Key="t")["ResponseMetadata"]["HTTPHeaders"]
      .get("x-amz-tagging-count") == "2", "tagging count")
tags = s3.get_object_tagging(Bucket="boto", Key="t")["TagSet"]
check({t["Key"]: t["Value"] for t in tags} == {"a": "1", "b": "two words"}, "tags %r" % tags)
s3.put_object_tagging(Bucket="boto", Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
check(s3.get_object_tagging(Bucket="boto", Key="t")["TagSet"] == [{"Key": "k", "Value": "v"}],
      "put_object_tagging")
s3.delete_object_tagging(Bucket="boto", Key="t")
check(s3.get_object_tagging(Bucket="boto", Key="t")["TagSet"] == [], "delete_object_tagging")
try:
    s3.put_object_tagging(Bucket="boto", Key="t", Tagging={"TagSet": [
        {"Key": "k%d" % i, "Value": "v"} for i in range(11)]})
    fail("11 tags accepted")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidTag", "11 tags: %r" % e.response)
ok("put_object Tagging=, get/put/delete_object_tagging, InvalidTag")

# ---- conditional create (this boto3 has no IfNoneMatch: add the header) -------------
def if_none_match(request, **kwargs):
    request.headers["If-None-Match"] = "*"


cond = client()
cond.meta.events.register("before-sign.s3.PutObject", if_none_match)
cond.put_object(Bucket="boto", Key="once", Body=b"1")
try:
    cond.put_object(Bucket="boto", Key="once", Body=b"2")
    fail("second If-None-Match: * PUT succeeded")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "PreconditionFailed", "412: %r" % e.response)
check(s3.get_object(Bucket="boto", Key="once")["Body"].read() == b"1", "once overwritten")
ok("conditional create: If-None-Match: * twice -> 412")

# ---- range ----------------------------------------------------------------------------
s3.put_object(Bucket="boto", Key="r", Body=b"0123456789")
resp = s3.get_object(Bucket="boto", Key="r", Range="bytes=2-4")
check(resp["Body"].read() == b"234" and resp["ContentRange"] == "bytes 2-4/10", "range")
check(s3.get_object(Bucket="boto", Key="r", Range="bytes=-2")["Body"].read() == b"89", "suffix")
try:
    s3.get_object(Bucket="boto", Key="r", Range="bytes=10-")
    fail("unsatisfiable range served")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "InvalidRange", "416: %r" % e.response)
ok("ranges: 206, suffix, 416")

# ---- presigned URLs ---------------------------------------------------------------------
def presign(method, expires=300, **params):
    return s3.generate_presigned_url(method, Params=dict(Bucket="boto", Key="p", **params),
                                     ExpiresIn=expires)


st, _, _ = http("PUT", presign("put_object"), data=b"presigned body")
check(st == 200, "presigned PUT: %d" % st)
st, body, _ = http("GET", presign("get_object"))
check(st == 200 and body == b"presigned body", "presigned GET: %d" % st)
st, _, hdrs = http("HEAD", presign("head_object"))
check(st == 200 and hdrs["Content-Length"] == "14", "presigned HEAD: %d" % st)
st, body, _ = http("GET", presign("get_object", ResponseContentType="text/x-test"))
check(st == 200, "presigned GET with an override")
st, body, _ = http("GET", presign("get_object", expires=604800))
check(st == 200, "a week-long presigned URL")
url = presign("get_object", expires=1)
time.sleep(2)
st, body, _ = http("GET", url)
check(st == 403 and b"Request has expired" in body, "expired presign: %d %r" % (st, body))
st, _, _ = http("DELETE", presign("delete_object"))
check(st == 204, "presigned DELETE: %d" % st)
st, _, _ = http("GET", presign("get_object"))
check(st == 404, "object still there after presigned DELETE")
ok("generate_presigned_url for put/get/head/delete; expired refused")

# ---- CORS ----------------------------------------------------------------------------------
s3.put_bucket_cors(Bucket="boto", CORSConfiguration={"CORSRules": [{
    "AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "HEAD"],
    "AllowedHeaders": ["x-amz-*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60}]})
rules = s3.get_bucket_cors(Bucket="boto")["CORSRules"]
check(rules[0]["AllowedMethods"] == ["GET", "HEAD"] and rules[0]["MaxAgeSeconds"] == 60,
      "get_bucket_cors: %r" % rules)
st, _, hdrs = http("OPTIONS", ENDPOINT + "/boto/r", headers={
    "Origin": "https://app.example.com", "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "X-Amz-Date"})
check(st == 200 and hdrs["Access-Control-Allow-Origin"] == "https://app.example.com",
      "preflight: %d %r" % (st, dict(hdrs)))
st, _, _ = http("OPTIONS", ENDPOINT + "/boto/r", headers={
    "Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"})
check(st == 403, "preflight for a method no rule allows: %d" % st)
s3.delete_bucket_cors(Bucket="boto")
try:
    s3.get_bucket_cors(Bucket="boto")
    fail("CORS still there")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "NoSuchCORSConfiguration", "%r" % e.response)
ok("put/get/delete_bucket_cors and a preflight")

# ---- virtual-hosted style: *.DOMAIN resolves to the loopback here -------------------------
real_getaddrinfo = socket.getaddrinfo


def fake_getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
        host = "127.0.0.1"
    return real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = fake_getaddrinfo
vs3 = client("virtual", "http://%s:%d" % (DOMAIN, PORT))
vs3.put_object(Bucket="boto", Key="vh/obj", Body=b"virtual")
check(s3.get_object(Bucket="boto", Key="vh/obj")["Body"].read() == b"virtual", "vh put")
check([c["Key"] for c in vs3.list_objects_v2(Bucket="boto", Prefix="vh/")["Contents"]] ==
      ["vh/obj"], "vh list")
url = vs3.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "vh/obj"})
check(url.startswith("http://boto.%s:%d/" % (DOMAIN, PORT)), "vh presign url %s" % url)
st, body, _ = http("GET", url)
check(st == 200 and body == b"virtual", "vh presigned GET: %d" % st)
ok("virtual-hosted addressing: put, list, presigned GET")
