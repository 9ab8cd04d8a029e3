#!/usr/bin/env bash
# Browser form uploads (POST Object with a SigV4 POST policy) against
# `hamster serve`: forms made by boto3's generate_presigned_post, posted as
# multipart/form-data like a browser would.  Success shapes (204, 201 with
# PostResponse, 303 redirect), the stored bytes and metadata, and every
# refusal (size range, tampered or expired policy, extra field) with
# nothing stored.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
data="$E2E_TMP/data"
start_serve "$data" "$port"
s3 s3 mb s3://forms >/dev/null

ENDPOINT=$ENDPOINT $PY - <<'EOF'
import base64, hashlib, http.client, json, os, sys, urllib.parse
import xml.etree.ElementTree as ET
import boto3
from botocore.config import Config

endpoint = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
host = urllib.parse.urlparse(endpoint).netloc

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def post_form(url, fields, filename, content, extra=()):
    """POST fields then the file part, as a browser does; returns
    (status, headers, body)."""
    boundary = "----HamsterFormBoundary" + os.urandom(8).hex()
    parts = []
    for k, v in list(fields.items()) + list(extra):
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                      % (boundary, k, v)).encode())
    parts.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                  "Content-Type: application/octet-stream\r\n\r\n" % (boundary, filename)).encode())
    parts.append(content)
    parts.append(("\r\n--%s--\r\n" % boundary).encode())
    body = b"".join(parts)
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.netloc, timeout=60)
    c.request("POST", u.path or "/", body=body,
              headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out

def expect_error(resp, status, code, text=None):
    st, _, body = resp
    if st != status or ("<Code>%s</Code>" % code).encode() not in body:
        fail("want %d %s, got %d %r" % (status, code, st, body[:300]))
    if text is not None and text.encode() not in body:
        fail("want message %r in %r" % (text, body[:300]))

def absent(key):
    try:
        s3.head_object(Bucket="forms", Key=key)
    except s3.exceptions.ClientError as e:
        if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return
        raise
    fail("%s was stored" % key)

# A 200 KiB file (a blob, not inline) with success_action_status 201: the
# PostResponse names bucket, key and the MD5 ETag, and GET returns the bytes.
blob = os.urandom(200 << 10)
p = s3.generate_presigned_post(
    "forms", "big.bin",
    Fields={"success_action_status": "201", "Content-Type": "application/x-test",
            "x-amz-meta-color": "blue"},
    Conditions=[{"success_action_status": "201"}, {"Content-Type": "application/x-test"},
                {"x-amz-meta-color": "blue"}, ["content-length-range", 1, 1 << 20]],
    ExpiresIn=600)
st, hdr, body = post_form(p["url"], p["fields"], "big.bin", blob)
if st != 201:
    fail("201 shape: %d %r" % (st, body[:300]))
doc = ET.fromstring(body)
md5 = hashlib.md5(blob).hexdigest()
if doc.tag != "PostResponse" or doc.findtext("Bucket") != "forms" or \
   doc.findtext("Key") != "big.bin" or doc.findtext("ETag") != '"%s"' % md5 or \
   not doc.findtext("Location", "").endswith("/forms/big.bin"):
    fail("PostResponse: %r" % body)
if hdr.get("etag") != '"%s"' % md5:
    fail("ETag header %r" % hdr.get("etag"))
got = s3.get_object(Bucket="forms", Key="big.bin")
if hashlib.md5(got["Body"].read()).hexdigest() != md5:
    fail("stored bytes differ")
if got["ContentType"] != "application/x-test" or got["Metadata"] != {"color": "blue"}:
    fail("type/metadata: %r %r" % (got["ContentType"], got["Metadata"]))
print("ok: 201 upload with PostResponse, same MD5, type and metadata kept")

# Default answer: 204 with the ETag; ${filename} becomes the file's name;
# a small file is stored inline and reads back the same.
p = s3.generate_presigned_post("forms", "user/${filename}", ExpiresIn=600)
small = b"hello from a form\r\n--not a boundary\r\n"
st, hdr, body = post_form(p["url"], p["fields"], "hello.txt", small)
if st != 204 or body != b"":
    fail("204 shape: %d %r" % (st, body[:300]))
got = s3.get_object(Bucket="forms", Key="user/hello.txt")["Body"].read()
if got != small or hdr.get("etag") != '"%s"' % hashlib.md5(small).hexdigest():
    fail("small upload read back %r" % got)
print("ok: 204 upload, ${filename} substituted, bytes read back")

# success_action_redirect: 303 to it with bucket, key and etag.
p = s3.generate_presigned_post(
    "forms", "r.txt", Fields={"success_action_redirect": "http://example.com/done?x=1"},
    Conditions=[{"success_action_redirect": "http://example.com/done?x=1"}], ExpiresIn=600)
st, hdr, _ = post_form(p["url"], p["fields"], "r.txt", b"r")
loc = hdr.get("location", "")
q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
if st != 303 or not loc.startswith("http://example.com/done?x=1&") or \
   q.get("bucket") != ["forms"] or q.get("key") != ["r.txt"] or \
   q.get("etag") != ['"%s"' % hashlib.md5(b"r").hexdigest()]:
    fail("redirect: %d %r" % (st, loc))
print("ok: 303 redirect with bucket, key and etag")

# content-length-range: above the maximum and below the minimum are
# refused and nothing is stored.
p = s3.generate_presigned_post("forms", "ranged.bin",
                               Conditions=[["content-length-range", 10, 100 << 10]],
                               ExpiresIn=600)
expect_error(post_form(p["url"], p["fields"], "x", os.urandom(150 << 10)), 400, "EntityTooLarge")
absent("ranged.bin")
expect_error(post_form(p["url"], p["fields"], "x", b"short"), 400, "EntityTooSmall")
absent("ranged.bin")
print("ok: content-length-range enforced on the streamed size")

# A tampered policy (a wider key prefix, same signature) is refused.
p = s3.generate_presigned_post("forms", "user/${filename}", ExpiresIn=600)
pol = json.loads(base64.b64decode(p["fields"]["policy"]))
for c in pol["conditions"]:
    if isinstance(c, list) and c[0] == "starts-with" and c[1] == "$key":
        c[2] = ""
f = dict(p["fields"])
f["policy"] = base64.b64encode(json.dumps(pol).encode()).decode()
f["key"] = "elsewhere.txt"
expect_error(post_form(p["url"], f, "x", b"evil"), 403, "SignatureDoesNotMatch")
absent("elsewhere.txt")
print("ok: tampered policy refused")

# An expired policy is refused.
p = s3.generate_presigned_post("forms", "late.txt", ExpiresIn=-60)
expect_error(post_form(p["url"], p["fields"], "x", b"late"), 403, "AccessDenied",
             "Policy expired")
absent("late.txt")
print("ok: expired policy refused")

# A field the policy does not name is refused.
p = s3.generate_presigned_post("forms", "extra.txt", ExpiresIn=600)
expect_error(post_form(p["url"], p["fields"], "x", b"extra",
                       extra=[("x-amz-meta-sneaky", "1")]),
             403, "AccessDenied", "Extra input fields: x-amz-meta-sneaky")
absent("extra.txt")
print("ok: extra form field refused")

# A form without a file part, and a broken body, are refused.
p = s3.generate_presigned_post("forms", "nofile.txt", ExpiresIn=600)
boundary = "b0undary"
body = "".join("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
               % (boundary, k, v) for k, v in p["fields"].items()) + "--%s--\r\n" % boundary
c = http.client.HTTPConnection(host, timeout=30)
c.request("POST", "/forms", body=body.encode(),
          headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
r = c.getresponse()
expect_error((r.status, {}, r.read()), 400, "InvalidArgument", "exactly one file")
c.close()
c = http.client.HTTPConnection(host, timeout=30)
c.request("POST", "/forms", body=b"--b0undary\r\nno header colon\r\n\r\n",
          headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
r = c.getresponse()
expect_error((r.status, {}, r.read()), 400, "MalformedPOSTRequest")
c.close()
absent("nofile.txt")
print("ok: missing file part and malformed body refused")
EOF
pass "POST Object"
