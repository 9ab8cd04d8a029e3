// The AWS SDK for JavaScript v3 compatibility scenario, run by test_awssdk_js.sh.
//
// The client keeps the SDK's defaults (checksums included: requests with a
// streaming body go out as aws-chunked with a trailing x-amz-checksum-crc32),
// apart from the endpoint, path-style addressing, credentials and region.
// Environment: ENDPOINT, ACCESS_KEY, SECRET_KEY, REGION, BUCKET, WORK.
// Prints one line per step; any failed check throws and exits non-zero.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import {
  S3Client,
  CreateBucketCommand,
  HeadBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectsCommand,
  DeleteBucketCommand,
  ListObjectsV2Command,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BUCKET = env("BUCKET");
const WORK = env("WORK");
const MIB = 1024 * 1024;
const t0 = Date.now();
let current = "setup";

function step(name) {
  current = name;
  console.log(`[awssdk_js ${String(Math.round((Date.now() - t0) / 1000)).padStart(4)}s] -- ${name}`);
}
// A named check relaxed for a peer server (lib.sh: HM_COMPAT_QUIRKS); never for hamster serve.
function quirk(name) {
  const on = !!process.env.HM_COMPAT_ENDPOINT && (process.env.HM_COMPAT_QUIRKS ?? "").split(/\s+/).includes(name);
  if (on) console.log(`   (quirk ${name} declared: relaxing this check)`);
  return on;
}
function check(cond, what) {
  if (!cond) throw new Error(what);
}
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const crc32b64 = (buf) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32(buf) >>> 0);
  return b.toString("base64");
};
async function bodySha(body) {
  const h = createHash("sha256");
  let n = 0;
  for await (const chunk of body) {
    h.update(chunk);
    n += chunk.length;
  }
  return [h.digest("hex"), n];
}

const clientOptions = {
  endpoint: env("ENDPOINT"),
  region: env("REGION"),
  forcePathStyle: true,
  credentials: { accessKeyId: env("ACCESS_KEY"), secretAccessKey: env("SECRET_KEY") },
  maxAttempts: 2,
};
const client = new S3Client(clientOptions);

// Record what goes on the wire, to prove which encoding each request used.
const sent = [];
const recorder = (next) => async (args) => {
  const h = args.request?.headers ?? {};
  const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)]));
  sent.push({ method: args.request?.method, path: args.request?.path, query: args.request?.query ?? {}, headers: lower });
  return next(args);
};
client.middlewareStack.add(recorder, { step: "finalizeRequest", priority: "low", name: "hmRecordHeaders" });
const lastPut = (key) => [...sent].reverse().find((r) => r.method === "PUT" && decodeURIComponent(r.path).endsWith(`/${key}`));

async function main() {
  const pkg = JSON.parse(readFileSync(new URL("./node_modules/@aws-sdk/client-s3/package.json", import.meta.url), "utf8"));
  console.log(`@aws-sdk/client-s3 ${pkg.version}, node ${process.version}`);

  step("CreateBucket, HeadBucket");
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await client.send(new HeadBucketCommand({ Bucket: BUCKET }));

  step("PutObject of a 1 MiB Buffer (CRC32 in a header), GetObject stream");
  const small = randomBytes(MIB);
  const put1 = await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "put/buffer.bin", Body: small }));
  check(put1.ETag === `"${createHash("md5").update(small).digest("hex")}"`, `PutObject ETag ${put1.ETag}`);
  const h1 = lastPut("put/buffer.bin").headers;
  check(h1["x-amz-checksum-crc32"] === crc32b64(small), `PutObject sent x-amz-checksum-crc32 ${h1["x-amz-checksum-crc32"]}`);
  if (put1.ChecksumCRC32 !== undefined) check(put1.ChecksumCRC32 === crc32b64(small), `PutObject answered ChecksumCRC32 ${put1.ChecksumCRC32}`);
  let get = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "put/buffer.bin" }));
  let [hash, n] = await bodySha(get.Body);
  check(n === MIB && hash === sha256(small), "GetObject returned other bytes");

  step("PutObject of a file stream (aws-chunked, trailing CRC32), GetObject with ChecksumMode");
  const medium = randomBytes(3 * MIB + 12345);
  const mediumPath = join(WORK, "medium.bin");
  writeFileSync(mediumPath, medium);
  // quirk no-chunked-trailer: Ceph RGW 16 refuses aws-chunked bodies with a trailer
  // (411 MissingContentLength); for it this PUT goes out without a checksum.
  const noTrailer = quirk("no-chunked-trailer");
  const streamClient = noTrailer ? new S3Client({ ...clientOptions, requestChecksumCalculation: "WHEN_REQUIRED" }) : client;
  if (noTrailer) streamClient.middlewareStack.add(recorder, { step: "finalizeRequest", priority: "low", name: "hmRecordHeaders" });
  const put2 = await streamClient.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: "put/stream.bin", Body: createReadStream(mediumPath), ContentLength: medium.length }),
  );
  const h2 = lastPut("put/stream.bin").headers;
  if (!noTrailer) {
    check((h2["content-encoding"] ?? "").includes("aws-chunked"), `the stream PUT was not aws-chunked: ${JSON.stringify(h2)}`);
    check(h2["x-amz-content-sha256"] === "STREAMING-UNSIGNED-PAYLOAD-TRAILER", `x-amz-content-sha256 ${h2["x-amz-content-sha256"]}`);
    check(h2["x-amz-trailer"] === "x-amz-checksum-crc32", `x-amz-trailer ${h2["x-amz-trailer"]}`);
    check(h2["x-amz-decoded-content-length"] === String(medium.length), `x-amz-decoded-content-length ${h2["x-amz-decoded-content-length"]}`);
  }
  check(put2.ETag === `"${createHash("md5").update(medium).digest("hex")}"`, `PutObject (aws-chunked) ETag ${put2.ETag}: the stored bytes are not the payload`);
  if (put2.ChecksumCRC32 !== undefined) check(put2.ChecksumCRC32 === crc32b64(medium), `PutObject answered ChecksumCRC32 ${put2.ChecksumCRC32}`);
  get = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "put/stream.bin", ChecksumMode: "ENABLED" }));
  check(get.ContentLength === medium.length, `GetObject ContentLength ${get.ContentLength}`);
  if (get.ChecksumCRC32 !== undefined) check(get.ChecksumCRC32 === crc32b64(medium), `GetObject ChecksumCRC32 ${get.ChecksumCRC32}`);
  [hash, n] = await bodySha(get.Body);
  check(n === medium.length && hash === sha256(medium), "GetObject of the aws-chunked upload returned other bytes");

  step("Upload (lib-storage) of a 12 MiB stream in 5 MiB parts");
  const big = randomBytes(12 * MIB);
  const bigPath = join(WORK, "big.bin");
  writeFileSync(bigPath, big);
  const up = new Upload({
    client,
    params: { Bucket: BUCKET, Key: "big/upload.bin", Body: createReadStream(bigPath), ContentType: "application/x-hamster" },
    partSize: 5 * MIB,
    queueSize: 3,
  });
  const parts = new Set();
  up.on("httpUploadProgress", (p) => p.part && parts.add(p.part));
  const done = await up.done();
  // quirk complete-etag: Ceph RGW 16 answers CompleteMultipartUpload with an empty ETag.
  if (!(done.ETag === "" && quirk("complete-etag"))) check(/^"[0-9a-f]{32}-3"$/.test(done.ETag ?? ""), `Upload ETag ${done.ETag}`);
  check(parts.size === 3, `Upload reported parts ${[...parts]}`);
  const partPuts = sent.filter((r) => r.method === "PUT" && r.query.partNumber);
  check(partPuts.length === 3, `${partPuts.length} UploadPart requests`);
  const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "big/upload.bin" }));
  check(head.ContentLength === 12 * MIB, `HeadObject ContentLength ${head.ContentLength}`);
  check(/^"[0-9a-f]{32}-3"$/.test(head.ETag), `HeadObject ETag ${head.ETag}`);
  check(head.ContentType === "application/x-hamster", `HeadObject ContentType ${head.ContentType}`);
  get = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "big/upload.bin" }));
  [hash, n] = await bodySha(get.Body);
  check(n === big.length && hash === sha256(big), "GetObject of the multipart upload returned other bytes");
  get = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "big/upload.bin", Range: `bytes=${5 * MIB - 10}-${5 * MIB + 9}` }));
  [hash, n] = await bodySha(get.Body);
  check(n === 20 && hash === sha256(big.subarray(5 * MIB - 10, 5 * MIB + 10)), "ranged GetObject across a part boundary");

  step("PutObject x25, ListObjectsV2 paginator (pageSize 4)");
  const keys = [];
  for (let i = 0; i < 25; i++) {
    const key = `list/k${String(i).padStart(2, "0")} ü+é.txt`;
    keys.push(key);
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `object ${i}\n` }));
  }
  const listed = [];
  let pages = 0;
  for await (const page of paginateListObjectsV2({ client, pageSize: 4 }, { Bucket: BUCKET, Prefix: "list/" })) {
    pages++;
    check((page.Contents ?? []).length <= 4, `a page of ${(page.Contents ?? []).length} keys`);
    for (const o of page.Contents ?? []) listed.push(o.Key);
  }
  check(pages === 7, `${pages} pages for 25 keys at 4 a page`);
  check(JSON.stringify(listed) === JSON.stringify([...keys].sort()), `listed keys: ${listed}`);
  get = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: keys[13] }));
  check((await get.Body.transformToString()) === "object 13\n", "content of a listed key");

  step("DeleteObjects (everything), DeleteBucket");
  const all = [];
  for await (const page of paginateListObjectsV2({ client }, { Bucket: BUCKET })) for (const o of page.Contents ?? []) all.push(o.Key);
  const want = [...keys, "put/buffer.bin", "put/stream.bin", "big/upload.bin"].sort();
  check(JSON.stringify([...all].sort()) === JSON.stringify(want), `bucket before DeleteObjects: ${all}`);
  const del = await client.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: all.map((Key) => ({ Key })) } }));
  check(!del.Errors?.length, `DeleteObjects errors: ${JSON.stringify(del.Errors)}`);
  check(JSON.stringify((del.Deleted ?? []).map((d) => d.Key).sort()) === JSON.stringify(want), "DeleteObjects Deleted list");
  const left = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  check((left.KeyCount ?? 0) === 0 && !(left.Contents ?? []).length, "objects left after DeleteObjects");
  await client.send(new DeleteBucketCommand({ Bucket: BUCKET }));
  try {
    await client.send(new HeadBucketCommand({ Bucket: BUCKET }));
    check(false, "the bucket still exists after DeleteBucket");
  } catch (e) {
    check(e?.$metadata?.httpStatusCode === 404, `HeadBucket of a deleted bucket: ${e}`);
  }
}

try {
  await main();
  console.log("awssdk_js scenario: all steps passed");
} catch (e) {
  console.error(`awssdk_js scenario: FAIL in step "${current}": ${e?.name ?? "Error"}: ${e?.message ?? e}`);
  if (e?.$metadata) console.error(`  HTTP ${e.$metadata.httpStatusCode}, request id ${e.$metadata.requestId}`);
  process.exit(1);
}
