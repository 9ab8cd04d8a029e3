"""Every protection Hamster does not provide yet is refused through boto3,
with the exact HTTP status and S3 code, on every operation that can carry
it, and nothing refused is left behind: no object, bucket, upload or part.
What is true of every object (STANDARD, private ACLs) is still accepted.

Usage: refusals_boto3.py ENDPOINT http|https (credentials from the
environment; for https, AWS_CA_BUNDLE trusts the server's certificate).
Exits non-zero with a message on the first failure.
"""
import base64
import datetime
import hashlib
import os
import ssl
import sys
import urllib.error
import urllib.request
import uuid

import boto3
import botocore
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config

ENDPOINT, MODE = sys.argv[1], sys.argv[2]
SECURE = MODE == "https"
BUCKET = "refuse-" + MODE
KEY = b"0123456789abcdef0123456789abcdef"
SSE_C = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY}
SRC_SSE_C = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": KEY}
BODY = os.urandom(100 * 1024)  # over the inline limit: a put that began would write shards
LOCK_DATE = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
CHECKED = [0]
CTX = ssl.create_default_context(cafile=os.environ["AWS_CA_BUNDLE"]) if SECURE else None


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)


def check(cond, msg):
    if not cond:
        fail(msg)


s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                retries={"max_attempts": 1}))

# SSE-C answers by transport: 400 over HTTP (AWS demands HTTPS), 501 over HTTPS.
SSE_C_WRITE = (501, "NotImplemented") if SECURE else (400, "InvalidRequest")
# Reading with a key (GET, HEAD, copy source): nothing is encrypted: 400 either way.
SSE_C_READ = (400, "InvalidRequest")


def refused(what, status, code, fn, **kw):
    """fn(**kw) must fail with HTTP status and S3 code."""
    try:
        fn(**kw)
    except botocore.exceptions.ClientError as e:
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        got_code = e.response["Error"]["Code"]
        if code is None:  # HEAD: no body, the status says it all
            code = got_code
        check((got_status, got_code) == (status, code),
              "%s: expected %d %s, got %d %s (%s)" % (what, status, code, got_status,
                                                     got_code, e.response["Error"].get("Message")))
        CHECKED[0] += 1
        return e.response["Error"].get("Message", "")
    fail("%s: accepted, expected %d %s" % (what, status, code))


def signed(method, path, headers, body=b""):
    """A hand-made request (headers boto3 1.26 cannot send), SigV4-signed."""
    creds = botocore.credentials.Credentials(os.environ["AWS_ACCESS_KEY_ID"],
                                             os.environ["AWS_SECRET_ACCESS_KEY"])
    req = AWSRequest(method=method, url=ENDPOINT + path, data=body, headers=dict(headers))
    req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    r = urllib.request.Request(req.url, data=body if method in ("PUT", "POST") else None,
                               method=method, headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, context=CTX) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def raw_refused(what, status, code, method, path, headers, body=b""):
    got, resp = signed(method, path, headers, body)
    check(got == status and ("<Code>%s</Code>" % code).encode() in resp,
          "%s: expected %d %s, got %d %s" % (what, status, code, got, resp[:300]))
    CHECKED[0] += 1


def multipart_form(fields, filename, content):
    boundary = "----hamster" + uuid.uuid4().hex
    out = []
    for k, v in fields.items():
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                    % (boundary, k, v)).encode())
    out.append(("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, filename)).encode())
    out.append(content)
    out.append(("\r\n--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def post_form(key, extra):
    """POST a browser form whose signed policy allows the extra fields."""
    conditions = [{k: v} for k, v in extra.items()]
    post = s3.generate_presigned_post(BUCKET, key, Fields=dict(extra), Conditions=conditions,
                                      ExpiresIn=300)
    body, ctype = multipart_form(post["fields"], "f.bin", BODY)
    r = urllib.request.Request(post["url"], data=body, method="POST",
                               headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(r, context=CTX) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post_refused(what, status, code, extra):
    got, resp = post_form("post-refused", extra)
    check(got == status and ("<Code>%s</Code>" % code).encode() in resp,
          "POST %s: expected %d %s, got %d %s" % (what, status, code, got, resp[:300]))
    CHECKED[0] += 1


s3.create_bucket(Bucket=BUCKET)
s3.put_object(Bucket=BUCKET, Key="plain", Body=b"plain bytes")
up = s3.create_multipart_upload(Bucket=BUCKET, Key="mpu")["UploadId"]
put = dict(Bucket=BUCKET, Key="refused", Body=BODY)
copy = dict(Bucket=BUCKET, Key="refused-copy", CopySource={"Bucket": BUCKET, "Key": "plain"})
mpu = dict(Bucket=BUCKET, Key="refused-mpu")

# ---- SSE-C -------------------------------------------------------------------
msg = refused("PutObject SSE-C", *SSE_C_WRITE, s3.put_object, **put, **SSE_C)
check("x-amz-server-side-encryption-customer" in msg, "message names the header: " + msg)
check(KEY.decode() not in msg and base64.b64encode(KEY).decode() not in msg,
      "the customer key is echoed")
refused("CopyObject SSE-C", *SSE_C_WRITE, s3.copy_object, **copy, **SSE_C)
refused("CreateMultipartUpload SSE-C", *SSE_C_WRITE, s3.create_multipart_upload, **mpu, **SSE_C)
refused("UploadPart SSE-C", *SSE_C_WRITE, s3.upload_part, Bucket=BUCKET, Key="mpu",
        UploadId=up, PartNumber=1, Body=BODY, **SSE_C)
refused("UploadPartCopy SSE-C", *SSE_C_WRITE, s3.upload_part_copy, Bucket=BUCKET, Key="mpu",
        UploadId=up, PartNumber=2, CopySource={"Bucket": BUCKET, "Key": "plain"}, **SSE_C)
key_md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
raw_refused("CompleteMultipartUpload SSE-C", *SSE_C_WRITE, "POST",
            "/%s/mpu?uploadId=%s" % (BUCKET, up),
            {"x-amz-server-side-encryption-customer-algorithm": "AES256",
             "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY).decode(),
             "x-amz-server-side-encryption-customer-key-MD5": key_md5},
            b"<CompleteMultipartUpload></CompleteMultipartUpload>")
refused("CopyObject copy-source SSE-C", *SSE_C_READ, s3.copy_object, **copy, **SRC_SSE_C)
refused("UploadPartCopy copy-source SSE-C", *SSE_C_READ, s3.upload_part_copy, Bucket=BUCKET,
        Key="mpu", UploadId=up, PartNumber=3, CopySource={"Bucket": BUCKET, "Key": "plain"},
        **SRC_SSE_C)
refused("GetObject SSE-C on a plain object", *SSE_C_READ, s3.get_object, Bucket=BUCKET,
        Key="plain", **SSE_C)
refused("HeadObject SSE-C on a plain object", SSE_C_READ[0], None, s3.head_object,
        Bucket=BUCKET, Key="plain", **SSE_C)
ok("SSE-C refused on every path (%s)" % MODE)

if SECURE:
    post_refused("SSE-C fields", 501, "NotImplemented",
                 {"x-amz-server-side-encryption-customer-algorithm": "AES256",
                  "x-amz-server-side-encryption-customer-key": base64.b64encode(KEY).decode(),
                  "x-amz-server-side-encryption-customer-key-MD5": key_md5})
else:
    post_refused("SSE-C fields", 400, "InvalidRequest",
                 {"x-amz-server-side-encryption-customer-algorithm": "AES256"})

    # ---- SSE-S3, SSE-KMS --------------------------------------------------------
    for sse in ("AES256", "aws:kms", "aws:kms:dsse"):
        msg = refused("PutObject SSE " + sse, 501, "NotImplemented", s3.put_object, **put,
                      ServerSideEncryption=sse)
        check("x-amz-server-side-encryption" in msg and sse in msg, "message: " + msg)
        refused("CopyObject SSE " + sse, 501, "NotImplemented", s3.copy_object, **copy,
                ServerSideEncryption=sse)
        refused("CreateMultipartUpload SSE " + sse, 501, "NotImplemented",
                s3.create_multipart_upload, **mpu, ServerSideEncryption=sse)
        post_refused("SSE " + sse, 501, "NotImplemented", {"x-amz-server-side-encryption": sse})
    refused("PutObject SSE rot13", 400, "InvalidArgument", s3.put_object, **put,
            ServerSideEncryption="rot13")
    refused("PutObject KMS key id", 501, "NotImplemented", s3.put_object, **put,
            SSEKMSKeyId="alias/mine")
    refused("PutObject KMS context", 501, "NotImplemented", s3.put_object, **put,
            SSEKMSEncryptionContext=base64.b64encode(b"{}").decode())
    refused("PutObject bucket key", 501, "NotImplemented", s3.put_object, **put,
            BucketKeyEnabled=True)
    refused("PutBucketEncryption", 501, "NotImplemented", s3.put_bucket_encryption,
            Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    refused("GetBucketEncryption", 404, "ServerSideEncryptionConfigurationNotFoundError",
            s3.get_bucket_encryption, Bucket=BUCKET)
    refused("DeleteBucketEncryption", 501, "NotImplemented", s3.delete_bucket_encryption,
            Bucket=BUCKET)
    ok("SSE-S3 and SSE-KMS refused on every path")

    # ---- Object Lock -------------------------------------------------------------
    lock = dict(ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=LOCK_DATE)
    for what, kw in (("mode and date", lock), ("governance", dict(lock, ObjectLockMode="GOVERNANCE")),
                     ("legal hold", dict(ObjectLockLegalHoldStatus="ON"))):
        msg = refused("PutObject lock " + what, 400, "InvalidRequest", s3.put_object, **put, **kw)
        check("ObjectLockConfiguration" in msg and "x-amz-object-lock" in msg, "message: " + msg)
        refused("CopyObject lock " + what, 400, "InvalidRequest", s3.copy_object, **copy, **kw)
        refused("CreateMultipartUpload lock " + what, 400, "InvalidRequest",
                s3.create_multipart_upload, **mpu, **kw)
    post_refused("legal hold", 400, "InvalidRequest", {"x-amz-object-lock-legal-hold": "ON"})
    post_refused("lock mode", 400, "InvalidRequest", {"x-amz-object-lock-mode": "COMPLIANCE"})
    refused("CreateBucket with Object Lock", 501, "NotImplemented", s3.create_bucket,
            Bucket="refused-lock", ObjectLockEnabledForBucket=True)
    refused("PutObjectLockConfiguration", 501, "NotImplemented",
            s3.put_object_lock_configuration, Bucket=BUCKET,
            ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    refused("GetObjectLockConfiguration", 404, "ObjectLockConfigurationNotFoundError",
            s3.get_object_lock_configuration, Bucket=BUCKET)
    refused("PutObjectRetention", 501, "NotImplemented", s3.put_object_retention, Bucket=BUCKET,
            Key="plain", Retention={"Mode": "COMPLIANCE", "RetainUntilDate": LOCK_DATE})
    refused("GetObjectRetention", 501, "NotImplemented", s3.get_object_retention, Bucket=BUCKET,
            Key="plain")
    refused("PutObjectLegalHold", 501, "NotImplemented", s3.put_object_legal_hold,
            Bucket=BUCKET, Key="plain", LegalHold={"Status": "ON"})
    ok("Object Lock refused on every path")

    # ---- storage class -------------------------------------------------------------
    for cls in ("BOGUS", "GLACIER", "DEEP_ARCHIVE", "standard"):
        msg = refused("PutObject class " + cls, 400, "InvalidStorageClass", s3.put_object, **put,
                      StorageClass=cls)
        check("x-amz-storage-class" in msg, "message: " + msg)
    refused("CopyObject class", 400, "InvalidStorageClass", s3.copy_object, **copy,
            StorageClass="GLACIER")
    refused("CreateMultipartUpload class", 400, "InvalidStorageClass",
            s3.create_multipart_upload, **mpu, StorageClass="BOGUS")
    post_refused("class", 400, "InvalidStorageClass", {"x-amz-storage-class": "BOGUS"})
    ok("unknown and archive storage classes refused")

    # ---- ACLs ----------------------------------------------------------------------
    for acl in ("public-read", "public-read-write", "authenticated-read", "aws-exec-read",
                "bucket-owner-read", "log-delivery-write"):
        msg = refused("PutObject ACL " + acl, 501, "NotImplemented", s3.put_object, **put, ACL=acl)
        check("x-amz-acl" in msg and acl in msg, "message: " + msg)
        refused("CopyObject ACL " + acl, 501, "NotImplemented", s3.copy_object, **copy, ACL=acl)
        refused("CreateMultipartUpload ACL " + acl, 501, "NotImplemented",
                s3.create_multipart_upload, **mpu, ACL=acl)
        post_refused("acl " + acl, 501, "NotImplemented", {"acl": acl})
    for acl in ("public-read", "public-read-write", "authenticated-read"):
        refused("CreateBucket ACL " + acl, 501, "NotImplemented", s3.create_bucket,
                Bucket="refused-acl", ACL=acl)
    refused("PutObject ACL unknown", 400, "InvalidArgument", s3.put_object, **put, ACL="everyone")
    grants = {"GrantRead": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"',
              "GrantFullControl": "id=someone-else", "GrantReadACP": "id=someone-else",
              "GrantWriteACP": "id=someone-else"}
    for g, v in grants.items():
        refused("PutObject " + g, 501, "NotImplemented", s3.put_object, **put, **{g: v})
        refused("CopyObject " + g, 501, "NotImplemented", s3.copy_object, **copy, **{g: v})
        refused("CreateMultipartUpload " + g, 501, "NotImplemented", s3.create_multipart_upload,
                **mpu, **{g: v})
        refused("CreateBucket " + g, 501, "NotImplemented", s3.create_bucket,
                Bucket="refused-grant", **{g: v})
    refused("CreateBucket GrantWrite", 501, "NotImplemented", s3.create_bucket,
            Bucket="refused-grant", GrantWrite="id=someone-else")
    refused("PutBucketAcl", 501, "NotImplemented", s3.put_bucket_acl, Bucket=BUCKET, ACL="private")
    refused("PutObjectAcl", 501, "NotImplemented", s3.put_object_acl, Bucket=BUCKET, Key="plain",
            ACL="public-read")
    refused("GetBucketAcl", 501, "NotImplemented", s3.get_bucket_acl, Bucket=BUCKET)
    ok("ACLs that would grant access refused on every path")

    # ---- effects that would be lost --------------------------------------------------
    refused("PutObject website redirect", 501, "NotImplemented", s3.put_object, **put,
            WebsiteRedirectLocation="/elsewhere.html")
    refused("CopyObject website redirect", 501, "NotImplemented", s3.copy_object, **copy,
            WebsiteRedirectLocation="/elsewhere.html")
    raw_refused("PutObject x-amz-write-offset-bytes", 501, "NotImplemented", "PUT",
                "/%s/plain" % BUCKET, {"x-amz-write-offset-bytes": "11"}, b"appended")
    raw_refused("CreateMultipartUpload FULL_OBJECT CRC32", 501, "NotImplemented", "POST",
                "/%s/refused-mpu?uploads" % BUCKET,
                {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "FULL_OBJECT"})
    refused("CopyObject ChecksumAlgorithm", 501, "NotImplemented", s3.copy_object, **copy,
            ChecksumAlgorithm="SHA256")
    raw_refused("CompleteMultipartUpload x-amz-mp-object-size", 501, "NotImplemented", "POST",
                "/%s/mpu?uploadId=%s" % (BUCKET, up), {"x-amz-mp-object-size": "102400"},
                b"<CompleteMultipartUpload></CompleteMultipartUpload>")
    ok("headers whose effect or check would be skipped refused")

# ---- nothing left behind -----------------------------------------------------------
keys = [c["Key"] for c in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
check(keys == ["plain"], "refused writes left objects: %s" % keys)
check(s3.get_object(Bucket=BUCKET, Key="plain")["Body"].read() == b"plain bytes",
      "a refused write changed an existing object")
uploads = [(u["Key"], u["UploadId"]) for u in
           s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
check(uploads == [("mpu", up)], "refused CreateMultipartUpload left uploads: %s" % uploads)
parts = s3.list_parts(Bucket=BUCKET, Key="mpu", UploadId=up).get("Parts", [])
check(parts == [], "refused UploadPart/UploadPartCopy left parts: %s" % parts)
buckets = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
check(not any(b.startswith("refused-") for b in buckets), "refused CreateBucket left %s" % buckets)
ok("%d refusals checked; nothing left behind: no object, bucket, upload or part" % CHECKED[0])

# ---- what is true of every object is accepted ----------------------------------------
s3.put_object(Bucket=BUCKET, Key="std", Body=b"s", StorageClass="STANDARD", ACL="private")
s3.put_object(Bucket=BUCKET, Key="ia", Body=b"i", StorageClass="STANDARD_IA",
              ACL="bucket-owner-full-control", BucketKeyEnabled=False,
              ExpectedBucketOwner="123456789012")
attrs = s3.get_object_attributes(Bucket=BUCKET, Key="ia", ObjectAttributes=["StorageClass"])
check(attrs["StorageClass"] == "STANDARD", "attributes say %s" % attrs.get("StorageClass"))
s3.copy_object(**copy, StorageClass="STANDARD", ACL="private")
u2 = s3.create_multipart_upload(Bucket=BUCKET, Key="acc", StorageClass="STANDARD",
                                ACL="bucket-owner-full-control")["UploadId"]
s3.abort_multipart_upload(Bucket=BUCKET, Key="acc", UploadId=u2)
s3.create_bucket(Bucket=BUCKET + "-private", ACL="private")
s3.delete_bucket(Bucket=BUCKET + "-private")
status, resp = post_form("post-private", {"acl": "private", "x-amz-storage-class": "STANDARD"})
check(status in (200, 201, 204), "POST with acl private: %d %s" % (status, resp[:200]))
s3.abort_multipart_upload(Bucket=BUCKET, Key="mpu", UploadId=up)
keys = sorted(c["Key"] for c in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
check(keys == ["ia", "plain", "post-private", "refused-copy", "std"], "accepted writes: %s" % keys)
ok("STANDARD, mapped classes, private and bucket-owner-full-control accepted (%s)" % MODE)
