// The broker instance's boot script (EC2 user-data), built like the agents' (user-data.ts) and sharing its way
// to Node. It carries no secret and no token: the bundle's S3 URL and SHA-256, the workspace and region. The
// bundle is fetched with the instance role's own credentials (IMDSv2, curl's SigV4), checked against the pinned
// SHA-256, and the broker runs under systemd, restarted on failure, as `skiff broker --deployed`, which reads
// everything else (its record, CA, keys) with that role.
//
//   boot ─► metadata ─► node ─► bundle (S3, SigV4, sha256) ─► broker (systemd)
//     any failure: the step and its log lines stay in /var/log/skiff-bootstrap.log and the console; the
//     instance stays up for a look, and `skiff setup aws` reports a broker that does not answer.
import { SkiffError } from '../../broker/api/errors.js';
import { DEFAULT_NODE_RUNTIME, MAX_USER_DATA_BYTES, NODE_FUNCTIONS, type NodeRuntime } from './user-data.js';

export interface BrokerUserDataInput {
  workspace: string;
  region: string;
  /** The bundle object's URL (https://BUCKET.s3.REGION.amazonaws.com/KEY; an emulator's in tests). */
  bundleUrl: string;
  /** Hex SHA-256 of the bundle's bytes: the script refuses any other. */
  bundleSha256: string;
  node?: NodeRuntime;
}

const URL_RE = /^https?:\/\/[A-Za-z0-9.:[\]-]+\/[A-Za-z0-9._~/-]{1,300}$/;
const SHA_RE = /^[0-9a-f]{64}$/;
const NAME_RE = /^[a-z0-9-]{1,40}$/;

function check(ok: boolean, message: string): void {
  if (!ok) throw new SkiffError('PRV_INVALID_REQUEST', message);
}

const BODY = String.raw`
BOOT_LOG=/var/log/skiff-bootstrap.log
INSTALL_DIR=/opt/skiff
ETC_DIR=/etc/skiff
UNIT_DIR=/etc/systemd/system
STATE_DIR=/var/lib/skiff
IMDS=http://169.254.169.254/latest
NODE_DIST=https://nodejs.org/dist
TMP_DIR=/tmp
STEP=boot
NODE_BIN=
IMDS_TOKEN=

say() { echo "skiff bootstrap: [$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)] $*"; }
step() { STEP="$1"; say "step $1"; }
fail() { say "$*"; exit 1; }

on_fail() {
  local code="$1"
  if [ "$code" -eq 0 ]; then return 0; fi
  trap - ERR EXIT
  say "step $STEP failed (exit $code); the broker is not running. Run skiff setup aws --status, or read this log"
  exit "$code"
}

imds() { curl -fsS --max-time 5 --retry 10 --retry-connrefused --retry-max-time 60 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/$1"; }

metadata() {
  local id
  IMDS_TOKEN="$(curl -fsS --max-time 5 --retry 10 --retry-connrefused --retry-max-time 60 -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600')"
  id="$(imds meta-data/instance-id)"
  [[ "$id" =~ ^i-[0-9a-f]{8,32}$ ]] || fail "IMDS answered $id, which is no EC2 instance id"
  say "instance $id"
}

# The role's credentials are read from IMDS into variables of this function only, and given to curl on its
# command line of this process alone (never written to a file or the log).
fetch_bundle() {
  local role creds key secret token
  role="$(imds meta-data/iam/security-credentials/ | head -n 1)"
  [ -n "$role" ] || fail "the instance has no IAM role; skiff setup aws gives it one"
  creds="$(imds "meta-data/iam/security-credentials/$role")"
  key="$(printf '%s' "$creds" | "$NODE_BIN" -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).AccessKeyId))')"
  secret="$(printf '%s' "$creds" | "$NODE_BIN" -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).SecretAccessKey))')"
  token="$(printf '%s' "$creds" | "$NODE_BIN" -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).Token))')"
  curl -fsSL --retry 10 --retry-connrefused --retry-max-time 300 --max-time 300 -o "$TMP_DIR/skiff-broker.tgz" \
    --aws-sigv4 "aws:amz:$SKIFF_REGION:s3" --user "$key:$secret" -H "x-amz-security-token: $token" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' "$BUNDLE_URL"
  echo "$BUNDLE_SHA256  $TMP_DIR/skiff-broker.tgz" | sha256sum -c -
  rm -rf "$INSTALL_DIR/broker"
  mkdir -p "$INSTALL_DIR/broker"
  tar -xzf "$TMP_DIR/skiff-broker.tgz" -C "$INSTALL_DIR/broker"
  rm -f "$TMP_DIR/skiff-broker.tgz"
}

start_broker() {
  {
    echo "AWS_REGION=$SKIFF_REGION"
    echo "SKIFF_HOME=$STATE_DIR"
  } > "$ETC_DIR/broker.env"
  chmod 600 "$ETC_DIR/broker.env"
  mkdir -p "$UNIT_DIR" "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  cat > "$UNIT_DIR/skiff-broker.service" <<UNIT
[Unit]
Description=skiff broker (workspace $SKIFF_WORKSPACE)
Wants=network-online.target
After=network-online.target

[Service]
EnvironmentFile=$ETC_DIR/broker.env
ExecStart=$NODE_BIN $INSTALL_DIR/broker/dist/broker/cli/main.js broker --deployed --workspace $SKIFF_WORKSPACE --region $SKIFF_REGION
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
  chmod 644 "$UNIT_DIR/skiff-broker.service"
  systemctl daemon-reload
  systemctl enable --now skiff-broker.service
}

${NODE_FUNCTIONS}
main() {
  trap 'on_fail $?' ERR
  trap 'on_fail $?' EXIT
  mkdir -p "$INSTALL_DIR" "$ETC_DIR" "$(dirname "$BOOT_LOG")"
  exec > >(tee -a "$BOOT_LOG") 2>&1
  say "start"
  step metadata
  metadata
  step node
  try_node node || apt_node || dnf_node || tarball_node || fail "no Node.js 20 or newer: none on PATH, none from the distribution, none from the official tarball"
  step bundle
  fetch_bundle
  step broker
  start_broker
  STEP=started
  say "broker started"
  trap - ERR EXIT
}

main
`;

export function buildBrokerUserData(input: BrokerUserDataInput): string {
  check(NAME_RE.test(input.workspace), `workspace ${JSON.stringify(input.workspace)} is not shell-safe`);
  check(NAME_RE.test(input.region), `region ${JSON.stringify(input.region)} is not shell-safe`);
  check(URL_RE.test(input.bundleUrl), `bundle URL ${JSON.stringify(input.bundleUrl)} must be http(s)://host[:port]/path without query or quotes`);
  check(SHA_RE.test(input.bundleSha256), `bundle sha256 ${JSON.stringify(input.bundleSha256)} must be 64 lower-case hex digits`);
  const node = input.node ?? DEFAULT_NODE_RUNTIME;
  const header = [
    '#!/bin/bash',
    '# skiff broker bootstrap. Carries no secret: the bundle is read with the instance role and checked by SHA-256.',
    'set -euo pipefail',
    'umask 077',
    `SKIFF_WORKSPACE='${input.workspace}'`,
    `SKIFF_REGION='${input.region}'`,
    `BUNDLE_URL='${input.bundleUrl}'`,
    `BUNDLE_SHA256='${input.bundleSha256}'`,
    `NODE_VERSION='${node.version}'`,
    `NODE_SHA256_X64='${node.sha256['linux-x64']}'`,
    `NODE_SHA256_ARM64='${node.sha256['linux-arm64']}'`,
  ].join('\n');
  const script = `${header}\n${BODY}`;
  const bytes = Buffer.byteLength(script, 'utf8');
  check(bytes <= MAX_USER_DATA_BYTES, `broker user-data would be ${bytes} bytes; EC2 allows ${MAX_USER_DATA_BYTES}`);
  return script;
}
