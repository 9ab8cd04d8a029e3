#!/usr/bin/env bash
# covers: create_bucket, upload_file/download_file with TransferConfig (5 MiB parts, 4 threads, ranged GETs), ranged get_object, list_objects_v2 and list_objects paginators (PageSize 10, Delimiter), generate_presigned_post then a form POST (and refused POSTs), presigned GET/PUT URLs, copy_object and managed multipart copy, delete_objects, delete_bucket
# client: boto3
# version: /usr/bin/python3 -c 'import boto3, botocore; print(boto3.__version__ + " (botocore " + botocore.__version__ + ")")'
# status: passes; also passes against Ceph RGW 16
#
# The scenario itself is boto3_scenario.py, run with the system python3, for
# which the Debian python3-boto3 is installed (another python3 may come first on PATH).
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
compat_need_client "$PY"
"$PY" -c 'import boto3' 2>/dev/null || skip "boto3 is not installed for $PY (tests/compat/install.sh installs python3-boto3)"
compat_start

BUCKET=$(compat_bucket boto3) WORK=$COMPAT_TMP/work
export BUCKET WORK
mkdir -p "$WORK"
step "boto3_scenario.py"
t "$PY" "$COMPAT_DIR/boto3_scenario.py" || fail "boto3_scenario.py failed (its last step is shown above)"

compat_done
