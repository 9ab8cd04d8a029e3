#!/usr/bin/env bash
# Install the Debian 12 packages Hamster needs, only those missing.
#   deploy/install-deps.sh          build and run
#   deploy/install-deps.sh --test   also everything the test suite drives
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config clang libmicrohttpd-dev libssl-dev
            libisal-dev liblmdb-dev libprotobuf-c-dev protobuf-c-compiler
            libcurl4-openssl-dev check curl openssl)
test_pkgs=(awscli python3 python3-boto3 python3-botocore rclone restic s3cmd
           nginx-light valgrind libclang-rt-14-dev xxd)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
  pkgs+=("${test_pkgs[@]}")
  # The JavaScript SDK test needs node >= 20 with npm.  A machine that already
  # has a node with its own npm (some bundle it and conflict with Debian's npm
  # package) keeps it; otherwise Debian's packages are installed.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    pkgs+=(nodejs npm)
  fi
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
