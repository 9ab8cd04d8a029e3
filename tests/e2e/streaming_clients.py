#!/usr/bin/python3
"""Streaming uploads and flexible checksums against a running gateway.

Requests are signed with botocore's SigV4 signer and sent by hand, so the
aws-chunked bodies (every form S3 defines), the trailers and the checksum
headers are exactly what this script writes, including broken ones.
Reads go through a botocore client.

Usage: streaming_clients.py ENDPOINT BUCKET
Prints one "ok: ..." line per scenario; exits non-zero on the first
failure."""
import base64
import hashlib
import hmac
import http.client
import os
import struct
import sys
import urllib.parse
import zlib

import botocore.session
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REGION = "us-east-1"
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)
    sys.stdout.flush()


# ---- checksums (independent of the server's code) ------------------------------

def _crc_table(poly):
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_T32C = _crc_table(0x82F63B78)
_T64 = _crc_table(0x9A6C9329AC4BC9B5)


def _crc(data, table, mask):
    c = mask
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ mask


def checksum(algo, data):
    """base64 of the S3 checksum algo over data (CRCs big-endian)."""
    if algo == "crc32":
        raw = struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)
    elif algo == "crc32c":
        raw = struct.pack(">I", _crc(data, _T32C, 0xFFFFFFFF))
    elif algo == "crc64nvme":
        raw = struct.pack(">Q", _crc(data, _T64, 0xFFFFFFFFFFFFFFFF))
    elif algo == "sha1":
        raw = hashlib.sha1(data).digest()
    elif algo == "sha256":
        raw = hashlib.sha256(data).digest()
    else:
        raise ValueError(algo)
    return base64.b64encode(raw).decode()


# ---- signing and sending --------------------------------------------------------

class FixedPayloadAuth(S3SigV4Auth):
    """botocore's S3 signer with the payload hash line chosen by the caller
    (a STREAMING-* keyword, UNSIGNED-PAYLOAD or a hex SHA-256)."""

    def __init__(self, creds, payload_hash):
        super().__init__(creds, "s3", REGION)
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash


class Client:
    def __init__(self, endpoint, bucket):
        self.endpoint = endpoint
        self.bucket = bucket
        u = urllib.parse.urlsplit(endpoint)
        self.host, self.port = u.hostname, u.port
        self.netloc = u.netloc
        self.ak = os.environ["AWS_ACCESS_KEY_ID"]
        self.sk = os.environ["AWS_SECRET_ACCESS_KEY"]
        self.creds = Credentials(self.ak, self.sk)
        sess = botocore.session.get_session()
        self.s3 = sess.create_client(
            "s3", endpoint_url=endpoint, region_name=REGION,
            aws_access_key_id=self.ak, aws_secret_access_key=self.sk,
            config=Config(s3={"addressing_style": "path"},
                          retries={"max_attempts": 1}))

    def sign(self, method, key, headers, payload_hash):
        """Headers signed by botocore with payload_hash as
        x-amz-content-sha256; returns (headers, seed signature, amz date,
        scope, signing key)."""
        url = f"{self.endpoint}/{self.bucket}/{urllib.parse.quote(key)}"
        req = AWSRequest(method=method, url=url, data=b"", headers=dict(headers))
        FixedPayloadAuth(self.creds, payload_hash).add_auth(req)
        if req.headers["X-Amz-Content-SHA256"] != payload_hash:
            fail("botocore replaced the payload hash")
        authz = req.headers["Authorization"]
        seed = authz.rsplit("Signature=", 1)[1].strip()
        amz_date = req.headers["X-Amz-Date"]
        day = amz_date[:8]
        scope = f"{day}/{REGION}/s3/aws4_request"
        k = hmac.new(("AWS4" + self.sk).encode(), day.encode(), hashlib.sha256).digest()
        for part in (REGION, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        return dict(req.headers.items()), seed, amz_date, scope, k

    def send(self, method, key, headers, body):
        """Send as is; returns (status, response headers, body)."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        path = f"/{self.bucket}/{urllib.parse.quote(key)}"
        hdrs = {k: v for k, v in headers.items() if k.lower() != "host"}
        hdrs["Host"] = self.netloc
        hdrs["Content-Length"] = str(len(body))
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        out = (r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        c.close()
        return out

    # ---- bodies ----

    @staticmethod
    def chain_sig(key, amz_date, scope, prev, data_hash, kind="AWS4-HMAC-SHA256-PAYLOAD",
                  empty=True):
        parts = [kind, amz_date, scope, prev]
        if empty:
            parts.append(EMPTY_SHA)
        parts.append(data_hash)
        return hmac.new(key, "\n".join(parts).encode(), hashlib.sha256).hexdigest()

    def put_signed_chunked(self, key, data, chunk=65536, tamper_at=None, trailer=None,
                           bad_trailer_sig=False, extra=None):
        """STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or its -TRAILER form when
        trailer = (algo, base64 value)."""
        mode = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" if trailer
                else "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        h = {"Content-Encoding": "aws-chunked",
             "x-amz-decoded-content-length": str(len(data))}
        if trailer:
            h["x-amz-trailer"] = "x-amz-checksum-" + trailer[0]
        h.update(extra or {})
        headers, prev, amz_date, scope, k = self.sign("PUT", key, h, mode)
        body = bytearray()
        off = 0
        while True:
            piece = data[off:off + chunk]
            sig = self.chain_sig(k, amz_date, scope, prev, hashlib.sha256(piece).hexdigest())
            body += b"%x;chunk-signature=%s\r\n" % (len(piece), sig.encode())
            prev = sig
            if not piece:
                break
            body += piece + b"\r\n"
            off += len(piece)
        if trailer:
            line = f"x-amz-checksum-{trailer[0]}:{trailer[1]}"
            th = hashlib.sha256((line + "\n").encode()).hexdigest()
            tsig = self.chain_sig(k, amz_date, scope, prev, th, "AWS4-HMAC-SHA256-TRAILER",
                                  empty=False)
            if bad_trailer_sig:
                tsig = tsig[:-1] + ("0" if tsig[-1] != "0" else "1")
            body += (line + "\r\nx-amz-trailer-signature:" + tsig + "\r\n").encode()
        body += b"\r\n"
        if tamper_at is not None:
            # flip a data byte after signing: the first chunk header is known
            hdr_len = body.index(b"\r\n") + 2
            body[hdr_len + tamper_at] ^= 0x01
        return self.send("PUT", key, headers, bytes(body))

    def put_unsigned_trailer(self, key, data, algo, value, chunk=8192, extra=None,
                             decoded_len=None):
        """STREAMING-UNSIGNED-PAYLOAD-TRAILER with one checksum trailer, the
        shape the AWS SDKs send by default."""
        h = {"Content-Encoding": "aws-chunked",
             "x-amz-decoded-content-length": str(len(data) if decoded_len is None
                                                 else decoded_len),
             "x-amz-trailer": "x-amz-checksum-" + algo,
             "x-amz-sdk-checksum-algorithm": algo.upper()}
        h.update(extra or {})
        headers = self.sign("PUT", key, h, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")[0]
        body = bytearray()
        for off in range(0, len(data), chunk):
            piece = data[off:off + chunk]
            body += b"%x\r\n" % len(piece) + piece + b"\r\n"
        body += f"0\r\nx-amz-checksum-{algo}:{value}\r\n\r\n".encode()
        return self.send("PUT", key, headers, bytes(body))

    def put_plain(self, key, data, extra, signed_payload=True):
        ph = hashlib.sha256(data).hexdigest() if signed_payload else "UNSIGNED-PAYLOAD"
        headers = self.sign("PUT", key, extra, ph)[0]
        return self.send("PUT", key, headers, data)

    # ---- reads ----

    def get(self, key):
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head_checksum(self, key):
        r = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        return {k[len("x-amz-checksum-"):]: v
                for k, v in r["ResponseMetadata"]["HTTPHeaders"].items()
                if k.startswith("x-amz-checksum-")}

    def absent(self, key):
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            return e.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        return False


def expect_status(res, status, code=None, what=""):
    st, _, body = res
    if st != status or (code is not None and f"<Code>{code}</Code>".encode() not in body):
        fail(f"{what}: want {status} {code or ''}, got {st} {body[:400]!r}")


def main():
    if len(sys.argv) != 3:
        fail("usage: streaming_clients.py ENDPOINT BUCKET")
    c = Client(sys.argv[1], sys.argv[2])
    data = os.urandom(200 * 1024 + 17)

    # 1. signed chunks, every signature checked; tampering is refused
    expect_status(c.put_signed_chunked("signed", data), 200, what="signed chunked")
    if c.get("signed") != data:
        fail("signed chunked: stored bytes differ")
    expect_status(c.put_signed_chunked("signed-small", data[:1000], chunk=300), 200,
                  what="signed chunked, small chunks")
    if c.get("signed-small") != data[:1000]:
        fail("signed chunked small: stored bytes differ")
    expect_status(c.put_signed_chunked("signed", b"z" * 70000, tamper_at=5), 403,
                  "SignatureDoesNotMatch", "tampered chunk")
    if c.get("signed") != data:
        fail("a refused overwrite changed the object")
    expect_status(c.put_signed_chunked("tampered", data, tamper_at=70000), 403,
                  "SignatureDoesNotMatch", "tampered second chunk")
    if not c.absent("tampered"):
        fail("tampered upload left an object behind")
    ok("STREAMING-AWS4-HMAC-SHA256-PAYLOAD: stored; tampered chunks refused, nothing stored")

    # 2. unsigned payload with a trailing CRC32, as the SDKs send by default
    good = checksum("crc32", data)
    expect_status(c.put_unsigned_trailer("trailer", data, "crc32", good), 200,
                  what="unsigned trailer")
    if c.get("trailer") != data:
        fail("unsigned trailer: stored bytes differ")
    got = c.head_checksum("trailer")
    if got.get("crc32") != good or got.get("type") != "FULL_OBJECT":
        fail(f"unsigned trailer: checksum mode returned {got}")
    bad = checksum("crc32", data + b"x")
    expect_status(c.put_unsigned_trailer("trailer-bad", data, "crc32", bad), 400, "BadDigest",
                  "unsigned trailer, wrong crc32")
    if not c.absent("trailer-bad"):
        fail("bad trailer checksum left an object behind")
    expect_status(c.put_unsigned_trailer("short", data, "crc32", good,
                                         decoded_len=len(data) + 10), 400, "IncompleteBody",
                  "decoded length longer than the body")
    if not c.absent("short"):
        fail("short body left an object behind")
    ok("STREAMING-UNSIGNED-PAYLOAD-TRAILER: crc32 stored and returned; bad digest refused")

    # 3. signed chunks with a signed trailer
    val = checksum("crc32c", data)
    expect_status(c.put_signed_chunked("strailer", data, trailer=("crc32c", val)), 200,
                  what="signed trailer")
    if c.head_checksum("strailer").get("crc32c") != val:
        fail("signed trailer: checksum not returned")
    expect_status(c.put_signed_chunked("strailer-bad", data, trailer=("crc32c", val),
                                       bad_trailer_sig=True), 403, "SignatureDoesNotMatch",
                  "bad trailer signature")
    expect_status(c.put_signed_chunked("strailer-bad", data,
                                       trailer=("crc32c", checksum("crc32c", b"other"))),
                  400, "BadDigest", "signed trailer, wrong crc32c")
    if not c.absent("strailer-bad"):
        fail("refused signed-trailer upload left an object behind")
    ok("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: verified, stored, returned")

    # 4. checksum headers on plain PUTs, every algorithm
    for algo in ("crc32", "crc32c", "crc64nvme", "sha1", "sha256"):
        key = "hdr-" + algo
        v = checksum(algo, data)
        expect_status(c.put_plain(key, data, {"x-amz-checksum-" + algo: v}), 200,
                      what=f"{algo} header")
        got = c.head_checksum(key)
        if got.get(algo) != v:
            fail(f"{algo} header: checksum mode returned {got}")
        expect_status(c.put_plain(key + "-bad", data,
                                  {"x-amz-checksum-" + algo: checksum(algo, b"x")},
                                  signed_payload=False), 400, "BadDigest", f"bad {algo}")
        if not c.absent(key + "-bad"):
            fail(f"bad {algo} left an object behind")
    expect_status(c.put_plain("two", data, {"x-amz-checksum-crc32": checksum("crc32", data),
                                            "x-amz-checksum-sha1": checksum("sha1", data)}),
                  400, "InvalidRequest", "two checksum headers")
    expect_status(c.put_plain("malformed", data, {"x-amz-checksum-crc32": "not-base64"}),
                  400, "InvalidRequest", "malformed checksum header")
    # a checksum header alongside an aws-chunked body
    expect_status(c.put_signed_chunked("chunked-hdr", data,
                                       extra={"x-amz-checksum-sha256": checksum("sha256",
                                                                                data)}),
                  200, what="signed chunked with a checksum header")
    if c.head_checksum("chunked-hdr").get("sha256") != checksum("sha256", data):
        fail("chunked with header: checksum not returned")
    ok("x-amz-checksum-crc32/crc32c/crc64nvme/sha1/sha256 headers verified, stored, returned")

    # 5. Content-MD5
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    expect_status(c.put_plain("md5", data, {"Content-MD5": md5}), 200, what="good MD5")
    expect_status(c.put_plain("md5-bad", data,
                              {"Content-MD5": base64.b64encode(b"0" * 16).decode()}),
                  400, "BadDigest", "wrong MD5")
    expect_status(c.put_plain("md5-bad", data, {"Content-MD5": "abc"}), 400, "InvalidDigest",
                  "malformed MD5")
    expect_status(c.put_unsigned_trailer("md5-chunked", data, "crc32", good,
                                         extra={"Content-MD5": md5}), 200,
                  what="MD5 with an aws-chunked body")
    if not c.absent("md5-bad"):
        fail("bad MD5 left an object behind")
    ok("Content-MD5 good, wrong and malformed")

    # 6. the stored Content-Encoding drops aws-chunked
    expect_status(c.put_unsigned_trailer("enc", data[:100], "crc32", checksum("crc32", data[:100]),
                                         extra={"Content-Encoding": "aws-chunked,gzip"}), 200,
                  what="aws-chunked,gzip")
    enc = c.s3.head_object(Bucket=c.bucket, Key="enc").get("ContentEncoding")
    if enc != "gzip":
        fail(f"stored Content-Encoding is {enc!r}")
    expect_status(c.put_unsigned_trailer("enc2", data[:100], "crc32",
                                         checksum("crc32", data[:100])), 200,
                  what="aws-chunked alone")
    if c.s3.head_object(Bucket=c.bucket, Key="enc2").get("ContentEncoding") is not None:
        fail("aws-chunked stored as the Content-Encoding")
    ok("Content-Encoding: aws-chunked stripped")

    # 7. GetObjectAttributes
    raw = []
    c.s3.meta.events.register("after-call.s3.GetObjectAttributes",
                              lambda **kw: raw.append(kw["http_response"].content))
    a = c.s3.get_object_attributes(Bucket=c.bucket, Key="trailer",
                                   ObjectAttributes=["ETag", "Checksum", "ObjectSize",
                                                     "StorageClass"])
    if (a.get("ObjectSize") != len(data) or a.get("StorageClass") != "STANDARD" or
            a.get("Checksum", {}).get("ChecksumCRC32") != good or
            b"<ChecksumType>FULL_OBJECT</ChecksumType>" not in raw[0] or
            a.get("ETag") != hashlib.md5(data).hexdigest()):
        fail(f"GetObjectAttributes: {a}")
    ok("GetObjectAttributes")

    # 8. botocore's own PutObject (it sends its default checksum header)
    c.s3.put_object(Bucket=c.bucket, Key="sdk", Body=data)
    if c.get("sdk") != data:
        fail("botocore put: stored bytes differ")
    r = c.s3.get_object(Bucket=c.bucket, Key="sdk", ChecksumMode="ENABLED")
    if r["Body"].read() != data:
        fail("botocore get with checksum mode")
    ok("botocore put_object / get_object with checksum mode")


if __name__ == "__main__":
    main()
