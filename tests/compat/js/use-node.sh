# Sourced by tests/compat/install.sh and test_awssdk_js.sh: put a node that
# the pinned AWS SDK for JavaScript supports (>= 20) first on PATH.
# Debian 12's own nodejs is 18 (its node:zlib has no crc32, and the SDK
# wants 20); where the system node is older, tests/compat/install.sh
# installs the npm registry's `node` package into tests/compat/js/.node and
# this file prefers that one.  Sets HM_NODE_OK=1 when the node on PATH is
# new enough.
HM_NODE_MIN_MAJOR=20
HM_NODE_LOCAL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/.node"

# hm_node_major [NODE]: major version of NODE (default: node on PATH), 0 if none.
hm_node_major() {
    "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

if [ "$(hm_node_major)" -lt "$HM_NODE_MIN_MAJOR" ] &&
   [ -x "$HM_NODE_LOCAL/node_modules/.bin/node" ]; then
    PATH="$HM_NODE_LOCAL/node_modules/.bin:$PATH"
    export PATH
fi
# (if, not &&: a sourced file that ends in a failed test fails set -e callers)
HM_NODE_OK=0
if [ "$(hm_node_major)" -ge "$HM_NODE_MIN_MAJOR" ]; then HM_NODE_OK=1; fi
