"""keys_matrix.py ENDPOINT KEYID SECRET BUCKET RIGHTS [SRC_BUCKET SRC_RIGHTS]
(KEYS_MATRIX_SIGV=s3 in the environment: sign with SigV2 instead of SigV4)

Checks, with boto3 (one process, so the whole matrix is quick), that a key
holding RIGHTS ("" or any of r, w, o) on BUCKET can do exactly the S3
operations those rights allow (test_keys.sh):
  read   list, get, head, head-bucket, list uploads
  write  put, delete, multipart create/abort, delete objects, POST form
         upload, copy into (with read on the source)
  owner  bucket configuration (cors) and the rest; owner implies r and w
Every refusal must be AccessDenied (403 for HEAD).  Exit 1 on any mismatch,
naming it.  BUCKET must hold an object "f"; it is left in place.
"""
import os
import sys

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, kid, secret, bucket, rights = sys.argv[1:6]
src, src_rights = (sys.argv[6], sys.argv[7]) if len(sys.argv) > 7 else (None, "")
if "o" in rights:
    rights += "rw"
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=kid,
                  aws_secret_access_key=secret, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"},
                                retries={"max_attempts": 1},
                                signature_version=os.environ.get("KEYS_MATRIX_SIGV", "s3v4")))
bad = []


def check(name, need, fn):
    allowed = all(c in rights for c in need)
    try:
        fn()
        got = True
    except ClientError as e:
        code = e.response["Error"]["Code"]
        if code in ("NoSuchCORSConfiguration",):
            got = True  # past the permission check
        elif code in ("AccessDenied", "403"):
            got = False
        else:
            bad.append(f"{name}: unexpected {code}")
            return
    if got != allowed:
        bad.append(f"{name}: {'allowed' if got else 'refused'} with rights '{rights}'")


def mpu():
    u = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=u)


check("ListObjectsV2", "r", lambda: s3.list_objects_v2(Bucket=bucket))
check("ListObjects", "r", lambda: s3.list_objects(Bucket=bucket))
check("GetObject", "r", lambda: s3.get_object(Bucket=bucket, Key="f")["Body"].read())
check("HeadObject", "r", lambda: s3.head_object(Bucket=bucket, Key="f"))
check("HeadBucket", "r", lambda: s3.head_bucket(Bucket=bucket))
check("GetBucketLocation", "r", lambda: s3.get_bucket_location(Bucket=bucket))
check("ListMultipartUploads", "r", lambda: s3.list_multipart_uploads(Bucket=bucket))
check("GetObjectTagging", "r", lambda: s3.get_object_tagging(Bucket=bucket, Key="f"))
check("PutObject", "w", lambda: s3.put_object(Bucket=bucket, Key="w", Body=b"x"))
check("PutObjectTagging", "w", lambda: s3.put_object_tagging(
    Bucket=bucket, Key="f", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}))
check("DeleteObject", "w", lambda: s3.delete_object(Bucket=bucket, Key="w"))
check("DeleteObjects", "w", lambda: s3.delete_objects(
    Bucket=bucket, Delete={"Objects": [{"Key": "nothing-here"}]}))
check("Multipart", "w", mpu)


def post_form():
    form = s3.generate_presigned_post(bucket, "posted", ExpiresIn=300)
    r = requests.post(form["url"], data=form["fields"], files={"file": ("p.txt", b"posted")})
    if r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text:
        raise ClientError({"Error": {"Code": "AccessDenied"}}, "PostObject")
    if r.status_code != 204:
        raise ClientError({"Error": {"Code": f"HTTP {r.status_code}"}}, "PostObject")


check("PostObject (form)", "w", post_form)
check("CopyObject (same bucket)", "rw", lambda: s3.copy_object(
    Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "f"}))
if src is not None:
    ok = "r" in src_rights and "w" in rights
    try:
        s3.copy_object(Bucket=bucket, Key="c2", CopySource={"Bucket": src, "Key": "f"})
        got = True
    except ClientError as e:
        got = False
        if e.response["Error"]["Code"] != "AccessDenied":
            bad.append("CopyObject from " + src + ": " + e.response["Error"]["Code"])
    if got != ok:
        bad.append(f"CopyObject from {src}: {'allowed' if got else 'refused'}")
check("GetBucketCors", "o", lambda: s3.get_bucket_cors(Bucket=bucket))
check("PutBucketCors", "o", lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={
    "CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}))
check("DeleteBucketCors", "o", lambda: s3.delete_bucket_cors(Bucket=bucket))

if bad:
    print("\n".join(bad))
    sys.exit(1)
print(f"ok: {kid} with '{rights}' on {bucket} ({os.environ.get('KEYS_MATRIX_SIGV', 's3v4')}): "
      "every operation as its rights say")
