#!/usr/bin/env bash
# `hamster serve -tls-cert -tls-key`: S3 over HTTPS with the aws CLI trusting
# only the given certificate; plain HTTP on the same port is not served.
source "$(dirname "$0")/lib.sh"

port=$(free_port)
ENDPOINT="https://127.0.0.1:$port"
data="$E2E_TMP/data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$E2E_TMP/s3.key" -out "$E2E_TMP/s3.crt" 2>/dev/null
"$HM_BUILD_DIR/hamster" serve -data-dir "$data" -s3 "127.0.0.1:$port" \
  -tls-cert "$E2E_TMP/s3.crt" -tls-key "$E2E_TMP/s3.key" 2>>"$data.log" &
SERVE_PID=$!; E2E_PIDS+=("$SERVE_PID")
for _ in $(seq 1 200); do
  curl -s -o /dev/null --cacert "$E2E_TMP/s3.crt" "$ENDPOINT/" && break
  sleep 0.1
done

export AWS_CA_BUNDLE="$E2E_TMP/s3.crt"
s3 s3 mb s3://secure >/dev/null
head -c $((3 << 20)) /dev/urandom > "$E2E_TMP/obj"
s3 s3api put-object --bucket secure --key obj --body "$E2E_TMP/obj" >/dev/null
s3 s3api get-object --bucket secure --key obj "$E2E_TMP/back" >/dev/null
cmp -s "$E2E_TMP/obj" "$E2E_TMP/back" || fail "object differs over HTTPS"
pass "put and get over HTTPS, certificate verified"

code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
[ "$code" = 000 ] || [ "$code" = 400 ] || fail "plain HTTP on the TLS port answered $code"
if curl -s -o /dev/null "$ENDPOINT/" 2>/dev/null; then
  fail "a client without the certificate trusted it"
fi
pass "plain HTTP and untrusting clients get no S3 service"
stop_pid "$SERVE_PID"
echo "test_https: all passed"
