#!/usr/bin/env bash
# The S3 request surface through boto3 (tests/e2e/boto3_s3api.py):
# paginators, batch delete, tagging, a conditional create, ranges,
# generate_presigned_url for PUT/GET/HEAD/DELETE, CORS, virtual hosting.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="http://127.0.0.1:$port"
start_serve "$E2E_TMP/data" "$port" -domain s3.test
$PY "$HM_SOURCE_DIR/tests/e2e/boto3_s3api.py" "$ENDPOINT" s3.test || fail "boto3 scenario"
pass "boto3 scenario"
