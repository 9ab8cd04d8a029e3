"""sigv2_boto3.py ENDPOINT KEYID SECRET BUCKET - SigV2 with Debian's boto3
(1.26, whose generate_presigned_url signs with SigV2 by default) against a
running server (test_sigv2.sh).  Prints one "ok:" line per check; exits 1 on
the first failure."""
import sys
import time

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, kid, secret, bucket = sys.argv[1:5]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def client(signature_version, key=kid, sk=secret):
    cfg = {"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}}
    if signature_version is not None:
        cfg["signature_version"] = signature_version
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                        aws_secret_access_key=sk, region_name="us-east-1",
                        config=Config(**cfg))


def expect_code(code, fn, what):
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        if got != code:
            fail(f"{what}: expected {code}, got {got}")
        return
    fail(f"{what}: expected {code}, it succeeded")


v2 = client("s3")
# Header SigV2: every kind of request a client sends.
v2.create_bucket(Bucket=bucket)
body = b"sigv2 body " * 1000
v2.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=body, ContentType="text/plain",
              Metadata={"Reviewed-By": "joe"})
got = v2.get_object(Bucket=bucket, Key="dir/a b+c.txt")
if got["Body"].read() != body or got["Metadata"].get("reviewed-by") != "joe":
    fail("header SigV2 get returned other bytes or metadata")
if v2.head_object(Bucket=bucket, Key="dir/a b+c.txt")["ContentLength"] != len(body):
    fail("header SigV2 head")
keys = [o["Key"] for o in v2.list_objects(Bucket=bucket, Prefix="dir/")["Contents"]]
if keys != ["dir/a b+c.txt"]:
    fail(f"header SigV2 list: {keys}")
r = v2.get_object(Bucket=bucket, Key="dir/a b+c.txt", Range="bytes=0-4",
                  ResponseContentType="application/x-test")
if r["Body"].read() != body[:5] or r["ContentType"] != "application/x-test":
    fail("header SigV2 with a signed sub-resource (response-content-type)")
up = v2.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
part = v2.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"p" * 100)
v2.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up, MultipartUpload={
    "Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
v2.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "mp"})
v2.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "copy"}, {"Key": "mp"}]})
print("ok: header SigV2 (boto3 signature_version='s3'): bucket, put, get, head, list, "
      "sub-resources, multipart, copy, batch delete")

# Header SigV2 refusals.
expect_code("SignatureDoesNotMatch", lambda: client("s3", sk="not-the-secret-0000")
            .list_objects(Bucket=bucket), "header SigV2 with the wrong secret")
expect_code("InvalidAccessKeyId", lambda: client("s3", key="AKIDNOSUCHKEY")
            .list_objects(Bucket=bucket), "header SigV2 with an unknown key")
print("ok: header SigV2 refusals: wrong secret, unknown key")

# Presigned URLs: boto3 1.26's default presigner signs with SigV2.
default = client(None)
url = default.generate_presigned_url("get_object", Params={
    "Bucket": bucket, "Key": "dir/a b+c.txt"}, ExpiresIn=300)
if "AWSAccessKeyId=" not in url or "Signature=" not in url:
    fail("boto3's default presigned URL is not SigV2 here: " + url)
r = requests.get(url)
if r.status_code != 200 or r.content != body:
    fail(f"presigned SigV2 GET: {r.status_code} {r.text[:200]}")
url_put = v2.generate_presigned_url("put_object", Params={
    "Bucket": bucket, "Key": "presigned-put", "ContentType": "text/plain"}, ExpiresIn=300)
r = requests.put(url_put, data=b"via presigned put", headers={"Content-Type": "text/plain"})
if r.status_code != 200:
    fail(f"presigned SigV2 PUT: {r.status_code} {r.text[:200]}")
if v2.get_object(Bucket=bucket, Key="presigned-put")["Body"].read() != b"via presigned put":
    fail("presigned SigV2 PUT stored other bytes")
print("ok: presigned SigV2 GET (boto3 default) and PUT")


def refused(u, code, what, method="GET"):
    r = requests.request(method, u)
    if r.status_code != 403 or f"<Code>{code}</Code>" not in r.text:
        fail(f"{what}: expected 403 {code}, got {r.status_code} {r.text[:200]}")


refused(url.replace("a%20b%2Bc.txt", "a%20b%2Bc.txu"), "SignatureDoesNotMatch",
        "presigned SigV2 with the key tampered")
exp = url.split("Expires=")[1].split("&")[0]
refused(url.replace("Expires=" + exp, "Expires=" + str(int(exp) + 60)), "SignatureDoesNotMatch",
        "presigned SigV2 with Expires moved")
expired = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"},
                                    ExpiresIn=1)
time.sleep(2.2)
refused(expired, "AccessDenied", "presigned SigV2 past its Expires")
wrong = client("s3", sk="not-the-secret-0000").generate_presigned_url(
    "get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"}, ExpiresIn=300)
refused(wrong, "SignatureDoesNotMatch", "presigned SigV2 with the wrong secret")
unknown = client("s3", key="AKIDNOSUCHKEY").generate_presigned_url(
    "get_object", Params={"Bucket": bucket, "Key": "dir/a b+c.txt"}, ExpiresIn=300)
refused(unknown, "InvalidAccessKeyId", "presigned SigV2 with an unknown key")
print("ok: presigned SigV2 refusals: tampered key, moved Expires, expired, wrong secret, "
      "unknown key")

# SigV2 POST policy (AWSAccessKeyId + policy + signature, HMAC-SHA1).
post = v2.generate_presigned_post(bucket, "form/${filename}", ExpiresIn=300,
                                  Conditions=[["starts-with", "$key", "form/"]])
if "AWSAccessKeyId" not in post["fields"] or "signature" not in post["fields"]:
    fail("boto3 did not make a SigV2 form: " + str(post["fields"].keys()))
r = requests.post(post["url"], data=post["fields"], files={"file": ("up.txt", b"form bytes")})
if r.status_code != 204:
    fail(f"SigV2 POST: {r.status_code} {r.text[:300]}")
if v2.get_object(Bucket=bucket, Key="form/up.txt")["Body"].read() != b"form bytes":
    fail("SigV2 POST stored other bytes")
bad = dict(post["fields"])
bad["signature"] = ("A" if bad["signature"][0] != "A" else "B") + bad["signature"][1:]
r = requests.post(post["url"], data=bad, files={"file": ("up2.txt", b"x")})
if r.status_code != 403 or "SignatureDoesNotMatch" not in r.text:
    fail(f"SigV2 POST with a tampered signature: {r.status_code} {r.text[:300]}")
bad = dict(post["fields"])
bad["AWSAccessKeyId"] = "AKIDNOSUCHKEY"
r = requests.post(post["url"], data=bad, files={"file": ("up3.txt", b"x")})
if r.status_code != 403 or "InvalidAccessKeyId" not in r.text:
    fail(f"SigV2 POST with an unknown key: {r.status_code} {r.text[:300]}")
print("ok: SigV2 POST policy form; tampered signature and unknown key refused")
