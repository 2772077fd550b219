// The boot script a VM runs once (EC2 user-data). It carries the broker URL and one single-use enrolment
// token, nothing else secret: the agent makes its own key pair after boot. The broker's CA certificate may
// ride along (public, so a broker with a private CA works). Values are checked to be shell-safe before they
// are put in single quotes.
//
//   boot ─► metadata ─► node ─► bundle ─► agent          (each a named step, echoed to the boot log)
//     any failure: ERR/EXIT trap ─► POST $broker/v1/boot/failed (step + last 40 log lines, with the instance's
//                  signed identity document from IMDS; none without it) ─► shutdown -h now
//
// Node: the node on PATH when ≥ 20; else the distribution's package when its candidate is ≥ 20 (apt's
// nodejs; dnf's nodejs20, which installs /usr/bin/node-20, then nodejs); else the official tarball for the
// machine's architecture, checksum pinned here. The script ends by calling `main`, so tests can source
// everything above that line and run its functions with stand-in tools and paths.

import { X509Certificate } from 'node:crypto';
import { SkiffError } from '../../broker/api/errors.js';
import { BOOT_FAILED_PATH } from '../../broker/api/routes.js';

/** Where the broker serves the agent bundle (a .tar.gz) and its SHA-256. */
export interface AgentBundleRef {
  /** Path on the broker, e.g. /v1/agent/bundle; fetched as brokerUrl + path. */
  path: string;
  /** Hex SHA-256 of the bundle bytes. */
  sha256: string;
  /** Script inside the bundle that starts the agent, e.g. agent/main.js. */
  entry: string;
}

export type NodeTarballArch = 'linux-x64' | 'linux-arm64';

/** The official Node.js tarballs used when neither PATH nor the distribution has Node ≥ 20. */
export interface NodeRuntime {
  version: string;
  /** SHA-256 of node-v<version>-<arch>.tar.xz, as in nodejs.org's SHASUMS256.txt for that version. */
  sha256: Record<NodeTarballArch, string>;
}

// Both checksums as published in the signed SHASUMS256 of the v20.20.0 release (nodejs.org release post
// "Node.js 20.20.0 (LTS)", 2026-01-13, nodejs/nodejs.org apps/site/pages/en/blog/release/v20.20.0.md), and
// the same in bazel-contrib/rules_nodejs nodejs/private/node_versions.bzl, generated from nodejs.org.
export const DEFAULT_NODE_RUNTIME: NodeRuntime = {
  version: '20.20.0',
  sha256: {
    'linux-x64': '4f48b52acf42130844a3a75e94da0e9629009d09e4101b2304895c24f3fbe609',
    'linux-arm64': '752113754a7dddf0622b3740a2b2bec3dbaf1792a18711b55871d76444d8892a',
  },
};

export const MAX_USER_DATA_BYTES = 16 * 1024;

export interface UserDataInput {
  brokerUrl: string;
  enrolToken: string;
  bundle: AgentBundleRef;
  node?: NodeRuntime;
  /** PEM certificate(s) the broker's HTTPS certificate chains to; pinned for curl and the agent. */
  brokerCaPem?: string;
}

const URL_RE = /^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/-]*)?$/;
const TOKEN_RE = /^[A-Za-z0-9._-]{1,4096}$/;
const SHA_RE = /^[0-9a-f]{64}$/;
const PATH_RE = /^\/[A-Za-z0-9._~/?=&-]{0,200}$/;
const ENTRY_RE = /^[A-Za-z0-9._/-]{1,200}$/;
const VERSION_RE = /^\d{2,}\.\d+\.\d+$/;
// Only certificate armour and base64 lines: nothing a shell quote, a key or another PEM type could hide in.
const CA_PEM_RE = /^(-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/]{1,76}={0,2}\n)+-----END CERTIFICATE-----\n)+$/;
const MAX_CA_PEM_BYTES = 8 * 1024;

function check(ok: boolean, message: string): void {
  if (!ok) throw new SkiffError('PRV_INVALID_REQUEST', message);
}

/** The CA PEM as it goes into the script (LF line ends, one trailing newline), or throws saying what is wrong. */
export function normalizeBrokerCaPem(pem: string): string {
  const text = `${pem.replace(/\r\n/g, '\n').trim()}\n`;
  check(text.length <= MAX_CA_PEM_BYTES, `broker CA certificate is ${text.length} bytes; at most ${MAX_CA_PEM_BYTES} fit in user-data`);
  check(CA_PEM_RE.test(text), 'broker CA must be PEM CERTIFICATE blocks only (BEGIN/END CERTIFICATE lines around base64 lines), never a key');
  try {
    new X509Certificate(text);
  } catch (cause) {
    throw new SkiffError('PRV_INVALID_REQUEST', `broker CA is not a readable X.509 certificate: ${(cause as Error).message}`, { cause });
  }
  return text;
}

export function validateUserDataInput(input: UserDataInput): void {
  check(URL_RE.test(input.brokerUrl), `broker URL ${JSON.stringify(input.brokerUrl)} must be http(s)://host[:port][/path] without query or quotes`);
  check(TOKEN_RE.test(input.enrolToken), 'enrolment token has characters a JWT never has; pass the token the broker issued');
  check(SHA_RE.test(input.bundle.sha256), `agent bundle sha256 ${JSON.stringify(input.bundle.sha256)} must be 64 lower-case hex digits`);
  check(PATH_RE.test(input.bundle.path), `agent bundle path ${JSON.stringify(input.bundle.path)} must start with / and be URL-safe`);
  check(ENTRY_RE.test(input.bundle.entry) && !input.bundle.entry.includes('..'), `agent bundle entry ${JSON.stringify(input.bundle.entry)} must be a relative path`);
  const node = input.node ?? DEFAULT_NODE_RUNTIME;
  check(
    VERSION_RE.test(node.version) && SHA_RE.test(node.sha256['linux-x64']) && SHA_RE.test(node.sha256['linux-arm64']),
    'node runtime needs a version like 20.20.0 and a 64-hex sha256 for linux-x64 and linux-arm64',
  );
  if (input.brokerCaPem !== undefined) normalizeBrokerCaPem(input.brokerCaPem);
}

/**
 * Finding or installing Node ≥ 20 (sets NODE_BIN): shared by the agents' boot script and the broker instance's
 * (broker-user-data.ts). Uses say, INSTALL_DIR, TMP_DIR, NODE_DIST, NODE_VERSION and NODE_SHA256_X64/ARM64.
 */
export const NODE_FUNCTIONS = String.raw`node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }

try_node() {
  local c p
  for c in "$@"; do
    p="$(command -v "$c" || true)"
    if [ -n "$p" ] && [ "$(node_major "$p")" -ge 20 ] 2>/dev/null; then
      NODE_BIN="$p"
      say "node $("$p" --version) at $p"
      return 0
    fi
  done
  return 1
}

apt_node() {
  local m
  command -v apt-get >/dev/null 2>&1 || return 1
  apt-get update -q -o DPkg::Lock::Timeout=300 || say "apt-get update failed; using the package lists the image has"
  m="$(apt-cache policy nodejs 2>/dev/null | sed -nE 's/^ *Candidate: *([0-9]+:)?([0-9]+).*/\2/p' | head -n 1 || true)"
  say "apt's nodejs candidate: major $m"
  [ "$m" -ge 20 ] 2>/dev/null || return 1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 nodejs || return 1
  try_node node
}

dnf_node() {
  local pkg m
  command -v dnf >/dev/null 2>&1 || return 1
  for pkg in nodejs20 nodejs; do
    m="$(dnf -q info "$pkg" 2>/dev/null | sed -nE 's/^Version *: *([0-9]+).*/\1/p' | head -n 1 || true)"
    say "dnf's $pkg: major $m"
    [ "$m" -ge 20 ] 2>/dev/null || continue
    if dnf install -y -q "$pkg" && try_node "node-$m" node; then return 0; fi
  done
  return 1
}

tarball_node() {
  local arch sum tarball
  case "$(uname -m)" in
    x86_64) arch=x64; sum="$NODE_SHA256_X64" ;;
    aarch64 | arm64) arch=arm64; sum="$NODE_SHA256_ARM64" ;;
    *) say "no official Node.js tarball for $(uname -m)"; return 1 ;;
  esac
  tarball="$TMP_DIR/node-v$NODE_VERSION-linux-$arch.tar.xz"
  curl -fsSL --retry 5 --retry-connrefused --max-time 300 -o "$tarball" "$NODE_DIST/v$NODE_VERSION/node-v$NODE_VERSION-linux-$arch.tar.xz" || return 1
  echo "$sum  $tarball" | sha256sum -c - || return 1
  rm -rf "$INSTALL_DIR/node"
  mkdir -p "$INSTALL_DIR/node" || return 1
  tar -xJf "$tarball" -C "$INSTALL_DIR/node" --strip-components=1 || return 1
  rm -f "$tarball"
  try_node "$INSTALL_DIR/node/bin/node"
}

`;

// The script body, with no interpolation of values: every value comes from the variables set in the header. Paths
// are variables so a test can point them at a temporary directory after sourcing the functions.
const BODY = String.raw`
BOOT_LOG=/var/log/skiff-bootstrap.log
INSTALL_DIR=/opt/skiff
ETC_DIR=/etc/skiff
UNIT_DIR=/etc/systemd/system
IMDS=http://169.254.169.254/latest
NODE_DIST=https://nodejs.org/dist
TMP_DIR=/tmp
STEP=boot
INSTANCE_ID=
IMDS_TOKEN=
FAILED=
NODE_BIN=

# Each line carries its time (UTC, ms): the boot phases can be read back from the log.
say() { echo "skiff bootstrap: [$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)] $*"; }
step() { STEP="$1"; say "step $1"; }
fail() { say "$*"; exit 1; }

broker_curl() {
  if [ -s "$ETC_DIR/broker-ca.pem" ]; then curl --cacert "$ETC_DIR/broker-ca.pem" "$@"; else curl "$@"; fi
}

on_fail() {
  local code="$1" report document='' signature=''
  if [ "$code" -eq 0 ] || [ -n "$FAILED" ]; then return 0; fi
  FAILED=1
  set +e
  trap - ERR
  say "step $STEP failed (exit $code); reporting to the broker, then shutting down"
  sleep 1
  report="$TMP_DIR/skiff-boot-failed.txt"
  tail -n 40 "$BOOT_LOG" | tail -c 16384 > "$report"
  # The enrol token is no proof of which machine speaks (every machine of the role has it): the broker believes
  # a report only with the instance identity document AWS signed for this instance, as at enrolment.
  if [ -n "$INSTANCE_ID" ]; then
    document="$(curl -fsS --max-time 5 --retry 3 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/dynamic/instance-identity/document" | base64 | tr -d '\n')"
    signature="$(curl -fsS --max-time 5 --retry 3 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/dynamic/instance-identity/signature" | tr -d '\n')"
  fi
  if [ -n "$document" ] && [ -n "$signature" ]; then
    broker_curl -fsS -o /dev/null --max-time 10 --retry 3 --retry-connrefused -X POST \
      -H "Authorization: Bearer $SKIFF_ENROL_TOKEN" -H "X-Skiff-Machine-Id: $INSTANCE_ID" -H "X-Skiff-Step: $STEP" \
      -H "X-Skiff-Identity-Document: $document" -H "X-Skiff-Identity-Signature: $signature" \
      -H 'Content-Type: text/plain; charset=utf-8' --data-binary "@$report" "$SKIFF_BROKER_URL$BOOT_FAILED_PATH" \
      || say "could not report the failure to the broker"
  else
    say "no instance identity from IMDS: the broker cannot be told (the cluster fails at its start deadline)"
  fi
  rm -f "$report"
  shutdown -h now || say "shutdown failed"
  exit "$code"
}

write_ca() {
  if [ -n "$BROKER_CA_PEM" ]; then
    printf '%s\n' "$BROKER_CA_PEM" > "$ETC_DIR/broker-ca.pem"
    chmod 644 "$ETC_DIR/broker-ca.pem"
  fi
}

metadata() {
  local token id
  token="$(curl -fsS --max-time 5 --retry 10 --retry-connrefused --retry-max-time 60 -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600')"
  id="$(curl -fsS --max-time 5 --retry 10 --retry-connrefused --retry-max-time 60 -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/instance-id")"
  [[ "$id" =~ ^i-[0-9a-f]{8,32}$ ]] || fail "IMDS answered $id, which is no EC2 instance id"
  IMDS_TOKEN="$token"
  INSTANCE_ID="$id"
  say "instance $INSTANCE_ID"
}

${NODE_FUNCTIONS}fetch_bundle() {
  broker_curl -fsSL --retry 10 --retry-connrefused --retry-max-time 300 --max-time 300 -o "$TMP_DIR/skiff-agent.tgz" "$SKIFF_BROKER_URL$BUNDLE_PATH"
  echo "$BUNDLE_SHA256  $TMP_DIR/skiff-agent.tgz" | sha256sum -c -
  rm -rf "$INSTALL_DIR/agent"
  mkdir -p "$INSTALL_DIR/agent"
  tar -xzf "$TMP_DIR/skiff-agent.tgz" -C "$INSTALL_DIR/agent"
  rm -f "$TMP_DIR/skiff-agent.tgz"
}

start_agent() {
  {
    echo "SKIFF_BACKEND=aws"
    echo "SKIFF_BROKER_URL=$SKIFF_BROKER_URL"
    echo "SKIFF_ENROL_TOKEN=$SKIFF_ENROL_TOKEN"
    echo "SKIFF_MACHINE_ID=$INSTANCE_ID"
    echo "SKIFF_BOOT_LOG=$BOOT_LOG"
    if [ -s "$ETC_DIR/broker-ca.pem" ]; then echo "SKIFF_BROKER_CA_FILE=$ETC_DIR/broker-ca.pem"; fi
  } > "$ETC_DIR/agent.env"
  chmod 600 "$ETC_DIR/agent.env"
  mkdir -p "$UNIT_DIR"
  cat > "$UNIT_DIR/skiff-agent.service" <<UNIT
[Unit]
Description=skiff agent
Wants=network-online.target
After=network-online.target

[Service]
EnvironmentFile=$ETC_DIR/agent.env
ExecStart=$NODE_BIN $INSTALL_DIR/agent/$BUNDLE_ENTRY
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
  chmod 644 "$UNIT_DIR/skiff-agent.service"
  systemctl daemon-reload
  systemctl enable --now skiff-agent.service
}

main() {
  trap 'on_fail $?' ERR
  trap 'on_fail $?' EXIT
  mkdir -p "$INSTALL_DIR" "$ETC_DIR" "$(dirname "$BOOT_LOG")"
  exec > >(tee -a "$BOOT_LOG") 2>&1
  say "start"
  write_ca
  step metadata
  metadata
  step node
  try_node node || apt_node || dnf_node || tarball_node || fail "no Node.js 20 or newer: none on PATH, none from the distribution, none from the official tarball"
  step bundle
  fetch_bundle
  step agent
  start_agent
  STEP=started
  say "agent started"
}

main
`;

/** The user-data script (plain text; EC2 wants it base64-encoded). Throws if it would exceed 16 KB. */
export function buildUserData(input: UserDataInput): string {
  validateUserDataInput(input);
  const node = input.node ?? DEFAULT_NODE_RUNTIME;
  const ca = input.brokerCaPem === undefined ? '' : normalizeBrokerCaPem(input.brokerCaPem).trimEnd();
  const header = [
    '#!/bin/bash',
    '# skiff agent bootstrap. Carries only the broker URL and a single-use, short-lived enrolment token.',
    'set -euo pipefail',
    'umask 077',
    `SKIFF_BROKER_URL='${input.brokerUrl}'`,
    `SKIFF_ENROL_TOKEN='${input.enrolToken}'`,
    `BOOT_FAILED_PATH='${BOOT_FAILED_PATH}'`,
    `BUNDLE_PATH='${input.bundle.path}'`,
    `BUNDLE_SHA256='${input.bundle.sha256}'`,
    `BUNDLE_ENTRY='${input.bundle.entry}'`,
    `NODE_VERSION='${node.version}'`,
    `NODE_SHA256_X64='${node.sha256['linux-x64']}'`,
    `NODE_SHA256_ARM64='${node.sha256['linux-arm64']}'`,
    `BROKER_CA_PEM='${ca}'`,
  ].join('\n');
  const script = header + '\n' + BODY;
  const bytes = Buffer.byteLength(script, 'utf8');
  if (bytes > MAX_USER_DATA_BYTES) {
    throw new SkiffError('PRV_INVALID_REQUEST', `user-data would be ${bytes} bytes; EC2 allows ${MAX_USER_DATA_BYTES}. Use a shorter broker URL or token`);
  }
  return script;
}
