#!/usr/bin/env bash
# Install what the client compatibility suite (ctest -L compat) needs.
# Idempotent: installs only what is missing. Run as root (or with sudo).
#
#   tests/compat/install.sh
#
# Debian 12 packages: awscli rclone restic s3cmd python3-boto3 curl, fuse for the
# rclone mount part, and nodejs + npm only when no node is installed at all.
# Where the node there is older than 20 (Debian 12's is 18), a node 20 from the
# npm registry's `node` package goes into tests/compat/js/.node (the project's
# own folder, git-ignored; js/use-node.sh puts it first on PATH).  Then
# `npm ci` in tests/compat/js (the AWS SDK for JavaScript v3, pinned by
# js/package-lock.json), which needs the npm registry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)

pkgs=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep 'install ok installed'; } >/dev/null
for p in awscli rclone restic s3cmd python3-boto3 curl; do
    have_pkg "$p" || pkgs+=("$p")
done
# FUSE for `rclone mount`: only when no fusermount is there (fuse and fuse3 conflict).
if ! command -v fusermount >/dev/null 2>&1 && ! command -v fusermount3 >/dev/null 2>&1; then
    pkgs+=(fuse)
fi
# node: keep whatever node is installed (the SDK pinned in js/ wants node >= 20;
# Debian 12's own nodejs is 18).
if ! command -v node >/dev/null 2>&1; then
    pkgs+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
    pkgs+=(npm)
fi

if [ ${#pkgs[@]} -gt 0 ]; then
    echo "install.sh: apt-get install ${pkgs[*]}"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
else
    echo "install.sh: Debian packages already installed"
fi

# shellcheck source=js/use-node.sh
. "$here/js/use-node.sh"
if [ "$HM_NODE_OK" != 1 ]; then
    echo "install.sh: node $(node --version) is older than $HM_NODE_MIN_MAJOR: installing node@$HM_NODE_MIN_MAJOR from npm into tests/compat/js/.node"
    mkdir -p "$HM_NODE_LOCAL"
    npm install --prefix "$HM_NODE_LOCAL" --no-audit --no-fund --no-save "node@$HM_NODE_MIN_MAJOR"
    . "$here/js/use-node.sh"
    [ "$HM_NODE_OK" = 1 ] || { echo "install.sh: node in $HM_NODE_LOCAL is not >= $HM_NODE_MIN_MAJOR" >&2; exit 1; }
fi
echo "install.sh: node $(node --version) at $(command -v node)"

# node_modules/.hm-lock-sha256 remembers which lockfile the last `npm ci` installed.
lock_sha=$(sha256sum "$here/js/package-lock.json" | cut -d' ' -f1)
if [ -d "$here/js/node_modules/@aws-sdk/client-s3" ] && [ -d "$here/js/node_modules/@aws-sdk/lib-storage" ] \
    && [ "$(cat "$here/js/node_modules/.hm-lock-sha256" 2>/dev/null)" = "$lock_sha" ]; then
    echo "install.sh: tests/compat/js/node_modules is up to date"
else
    echo "install.sh: npm ci in tests/compat/js"
    (cd "$here/js" && npm ci --no-audit --no-fund)
    echo "$lock_sha" >"$here/js/node_modules/.hm-lock-sha256"
fi

/usr/bin/aws --version
rclone version | sed -n 1p   # sed reads it all: head would end rclone with SIGPIPE under pipefail
restic version
s3cmd --version
/usr/bin/python3 -c 'import boto3; print("boto3", boto3.__version__)'
echo "node $(node --version), @aws-sdk/client-s3 $(node -p "require('$here/js/node_modules/@aws-sdk/client-s3/package.json').version")"
