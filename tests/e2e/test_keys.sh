#!/usr/bin/env bash
# Access keys through the real binaries: `hamster key` and `hamster-ctl key`
# (create, list, grant, revoke, delete) against a running `hamster serve`.
# Every S3 operation is checked against every right (none, read, write,
# owner, copy source) by one boto3 process (keys_matrix.py); each kind of
# refusal is then seen through the aws CLI (AccessDenied, ListBuckets
# filtering, BucketAlreadyExists, a deleted key refused with the very next
# request), and the CLI's own refusals.  Secrets never reach the data
# directory or the log in the clear.
source "$(dirname "$0")/lib.sh"

B=$HM_BUILD_DIR
data="$E2E_TMP/data"
port=$(free_port)
rpc=$(free_port)
start_serve "$data" "$port" -listen "127.0.0.1:$rpc"
ENDPOINT="http://127.0.0.1:$port"

# as KEYID SECRET aws-args...: the aws CLI with another key.
as() {
  local id=$1 sk=$2; shift 2
  AWS_ACCESS_KEY_ID=$id AWS_SECRET_ACCESS_KEY=$sk $AWS --endpoint-url "$ENDPOINT" "$@"
}
# denied CODE KEYID SECRET aws-args...: the command fails with that S3 code.
denied() {
  local code=$1; shift
  local out="$E2E_TMP/denied.out"
  if as "$@" >"$out" 2>&1; then cat "$out" >&2; fail "expected $code: ${*:3}"; fi
  grep -q "($code)" "$out" || { cat "$out" >&2; fail "expected $code for ${*:3}"; }
}
new_key() { # new_key VAR_ID VAR_SECRET [cli]: create a key, parse its id and secret
  local cli=${3:-"$B/hamster"} out="$E2E_TMP/key.out"
  "$cli" key create -data-dir "$data" -description "e2e $1" >"$out" 2>/dev/null ||
    fail "key create failed"
  printf -v "$1" '%s' "$(awk '/^AccessKeyId:/{print $2}' "$out")"
  printf -v "$2" '%s' "$(awk '/^SecretAccessKey:/{print $2}' "$out")"
  [ -n "${!1}" ] && [ -n "${!2}" ] || fail "key create printed no id or secret"
}

echo hello >"$E2E_TMP/f"
s3 s3 mb s3://alpha >/dev/null
s3 s3 mb s3://bravo >/dev/null
s3 s3 cp "$E2E_TMP/f" s3://alpha/f >/dev/null
s3 s3 cp "$E2E_TMP/f" s3://bravo/f >/dev/null

# ---- create and list ---------------------------------------------------------
new_key K1 S1
new_key K2 S2 "$B/hamster-ctl"
list=$("$B/hamster" key list -data-dir "$data")
grep -q "^$K1 .*(none)  # e2e K1" <<<"$list" || { echo "$list"; fail "list lacks $K1"; }
grep -q "^$K2 " <<<"$list" || fail "list lacks $K2 (made by hamster-ctl)"
grep -q "^$HAMSTER_ACCESS_KEY_ID .*every right" <<<"$list" || fail "list lacks the root key"
pass "key create (hamster and hamster-ctl) and list"

# ---- the permission matrix: every operation for none, r, w, o (boto3) -------
matrix() { $PY "$HM_SOURCE_DIR/tests/e2e/keys_matrix.py" "$ENDPOINT" "$@" || fail "matrix: $*"; }
matrix "$K1" "$S1" alpha ""
grep -q ": r$" <<<"$("$B/hamster" key grant "$K1" -bucket alpha -read -data-dir "$data")" ||
  fail "grant -read did not answer r"
matrix "$K1" "$S1" alpha r
KEYS_MATRIX_SIGV=s3 matrix "$K1" "$S1" alpha r      # the same key over SigV2
grep -q ": w$" <<<"$("$B/hamster-ctl" key grant "$K2" -bucket bravo -write -data-dir "$data")" ||
  fail "grant -write did not answer w"
matrix "$K2" "$S2" bravo w alpha ""
"$B/hamster" key grant "$K2" -bucket alpha -read -data-dir "$data" >/dev/null
matrix "$K2" "$S2" bravo w alpha r
grep -q ": rwo$" <<<"$("$B/hamster" key grant "$K1" -bucket bravo -owner -data-dir "$data")" ||
  fail "owner grant does not imply read and write"
matrix "$K1" "$S1" bravo o
pass "every S3 operation allowed or refused as read / write / owner say"

# ---- the same refusals through the aws CLI ----------------------------------------
"$B/hamster" key revoke "$K1" -bucket bravo -data-dir "$data" >/dev/null
denied AccessDenied "$K1" "$S1" s3 cp "$E2E_TMP/f" s3://alpha/g          # read only: no put
denied AccessDenied "$K1" "$S1" s3 ls s3://nosuchbucket                  # no probing names
denied AccessDenied "$K2" "$S2" s3api get-object --bucket bravo --key f "$E2E_TMP/o" # write only
denied AccessDenied "$K2" "$S2" s3api copy-object --bucket alpha --key c --copy-source bravo/f
denied AccessDenied "$K2" "$S2" s3 rb s3://bravo                         # owner only
denied SignatureDoesNotMatch "$K1" "wrong-secret" s3 ls s3://alpha
as "$K1" "$S1" s3 cp s3://alpha/f "$E2E_TMP/got" >/dev/null || fail "read grant cannot get"
cmp -s "$E2E_TMP/f" "$E2E_TMP/got" || fail "read returned other bytes"
buckets=$(as "$K1" "$S1" s3 ls)
grep -q " alpha$" <<<"$buckets" && ! grep -q " bravo$" <<<"$buckets" ||
  { echo "$buckets"; fail "ListBuckets should show alpha only"; }
pass "aws CLI: AccessDenied for put, get, copy source, owner ops; ListBuckets filtered"

# ---- bucket creation: the creator owns it ------------------------------------------
as "$K2" "$S2" s3 mb s3://charlie >/dev/null || fail "a key cannot create a bucket"
grep -q "charlie:o" <<<"$("$B/hamster" key list -data-dir "$data" | grep "^$K2 ")" ||
  fail "the creating key is not the bucket's owner"
denied BucketAlreadyExists "$K1" "$S1" s3api create-bucket --bucket charlie
as "$K2" "$S2" s3 rb s3://charlie >/dev/null || fail "owner cannot delete its bucket"
grep -q charlie <<<"$("$B/hamster" key list -data-dir "$data" | grep "^$K2 ")" &&
  fail "a deleted bucket's grant stayed"
pass "create bucket makes the creator owner; another key gets BucketAlreadyExists"

# ---- revoke -----------------------------------------------------------------------
"$B/hamster" key grant "$K1" -bucket alpha -write -data-dir "$data" >/dev/null
grep -q ": r$" <<<"$("$B/hamster" key revoke "$K1" -bucket alpha -write -data-dir "$data")" ||
  fail "revoke -write did not leave read"
grep -q "(none)" <<<"$("$B/hamster" key revoke "$K1" -bucket alpha -data-dir "$data")" ||
  fail "revoke without rights did not remove the grant"
denied AccessDenied "$K1" "$S1" s3 ls s3://alpha
pass "revoke takes effect with the next request"

# ---- delete: refused with the very next request ----------------------------------
grep -q "deleted $K2" <<<"$("$B/hamster-ctl" key delete "$K2" -data-dir "$data")" || fail "delete"
denied InvalidAccessKeyId "$K2" "$S2" s3 ls s3://alpha
grep -q "^$K2 " <<<"$("$B/hamster" key list -data-dir "$data")" && fail "deleted key still listed"
pass "a deleted key is refused at once"

# ---- the CLI's refusals -------------------------------------------------------------
cli_fails() { # cli_fails PATTERN cmd...: non-zero exit and the message on stderr
  local pat=$1; shift
  if "$@" >/dev/null 2>"$E2E_TMP/cli.err"; then fail "expected failure: $*"; fi
  grep -q "$pat" "$E2E_TMP/cli.err" || { cat "$E2E_TMP/cli.err" >&2; fail "expected '$pat': $*"; }
}
cli_fails "no such access key" "$B/hamster" key grant HKNOSUCHKEY -bucket alpha -read -data-dir "$data"
cli_fails "no such access key" "$B/hamster" key delete "$K2" -data-dir "$data"
cli_fails "bucket does not exist\|no such bucket\|NoSuchBucket\|bucket" \
  "$B/hamster" key grant "$K1" -bucket nosuchbucket -read -data-dir "$data"
cli_fails "root key" "$B/hamster" key delete "$HAMSTER_ACCESS_KEY_ID" -data-dir "$data"
cli_fails "needs -read, -write and/or -owner" "$B/hamster" key grant "$K1" -bucket alpha -data-dir "$data"
cli_fails "needs a KEYID" "$B/hamster" key delete -data-dir "$data"
cli_fails "unknown key verb" "$B/hamster" key rotate -data-dir "$data"
cli_fails "does not match the cluster's root key" \
  env HAMSTER_SECRET_ACCESS_KEY=another-secret-0000 "$B/hamster" key list -data-dir "$data"
pass "CLI refusals: unknown key, unknown bucket, root key, missing rights or id, wrong root secret"

# ---- secrets at rest ---------------------------------------------------------------
new_key K3 S3
if grep -rqF "$S3" "$data" "$data.log"; then fail "a key's secret is stored or logged in the clear"; fi
grep -rqF "$S1" "$data" && fail "a key's secret is stored in the clear"
pass "secrets are sealed in the log and the table, and never logged"

# ---- restart: keys persist; with the server down the CLI says so --------------------
stop_pid "$SERVE_PID"
cli_fails "cannot reach the metadata service at 127.0.0.1:$rpc" "$B/hamster" key list -data-dir "$data"
start_serve "$data" "$port"
"$B/hamster" key grant "$K3" -bucket bravo -read -data-dir "$data" >/dev/null ||
  fail "grant after a restart"
grep -q " f$" <<<"$(as "$K3" "$S3" s3 ls s3://bravo)" || fail "a key made before the restart fails after it"
pass "keys survive a restart; a stopped server is reported, not edited"
