#!/usr/bin/env bash
# covers: default client settings (checksums on): CreateBucket, PutObject of a Buffer (CRC32 header) and of a file stream (aws-chunked with trailing CRC32), GetObject streams compared (ChecksumMode, Range), Upload from lib-storage (12 MiB in 5 MiB parts), ListObjectsV2 paginator (pageSize 4, unicode keys), DeleteObjects, DeleteBucket
# client: AWS SDK for JavaScript v3 (@aws-sdk/client-s3)
# version: python3 -c 'import json; p = json.load(open("js/package-lock.json"))["packages"]; print(p["node_modules/@aws-sdk/client-s3"]["version"] + " (lib-storage " + p["node_modules/@aws-sdk/lib-storage"]["version"] + ")")'
# status: passes; Ceph RGW 16 refuses aws-chunked bodies with a trailing checksum (quirk no-chunked-trailer), the rest passes there
#
# The scenario is js/scenario.mjs; its dependencies are pinned in js/package.json
# and js/package-lock.json, installed with `npm ci` when js/node_modules is missing.
. "$(dirname "$0")/lib.sh"

JS=$COMPAT_DIR/js
# A node >= 20: the system's, or the one tests/compat/install.sh put in js/.node.
. "$JS/use-node.sh"
compat_need_client node npm
[ "$HM_NODE_OK" = 1 ] || skip "node $(node --version) is older than $HM_NODE_MIN_MAJOR (tests/compat/install.sh installs one into tests/compat/js/.node)"
if [ ! -d "$JS/node_modules/@aws-sdk/client-s3" ] || [ ! -d "$JS/node_modules/@aws-sdk/lib-storage" ]; then
    step "npm ci"
    (cd "$JS" && t npm ci --no-audit --no-fund) || fail "npm ci in tests/compat/js failed"
fi
compat_start

BUCKET=$(compat_bucket awssdk-js) WORK=$COMPAT_TMP/work
export BUCKET WORK
# The SDK version is pinned: its notice about which node future versions need is noise here.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
mkdir -p "$WORK"
step "js/scenario.mjs"
t node "$JS/scenario.mjs" || fail "js/scenario.mjs failed (its last step is shown above)"

compat_done
