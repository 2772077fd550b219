// The boot script a VM runs once (EC2 user-data). It carries the broker URL and one single-use enrolment
// token, nothing else secret: the agent makes its own key pair after boot. Steps: Node ≥ 20 (the distro's
// package when new enough, else the official tarball, checksum pinned here), the agent bundle from the broker
// (checksum pinned here, so the VM runs exactly the broker's version), then the agent under systemd with
// restart on failure. Values are checked to be shell-safe before they are put in single quotes.

import { SkiffError } from '../../broker/api/errors.js';

/** Where the broker serves the agent bundle (a .tar.gz) and its SHA-256. */
export interface AgentBundleRef {
  /** Path on the broker, e.g. /v1/agent/bundle; fetched as brokerUrl + path. */
  path: string;
  /** Hex SHA-256 of the bundle bytes. */
  sha256: string;
  /** Script inside the bundle that starts the agent, e.g. agent/main.js. */
  entry: string;
}

/** The official Node.js tarball used when the distro's package is older than 20. */
export interface NodeRuntime {
  version: string;
  /** SHA-256 of node-v<version>-linux-x64.tar.xz, from nodejs.org's SHASUMS256.txt. */
  sha256LinuxX64: string;
}

export const DEFAULT_NODE_RUNTIME: NodeRuntime = {
  version: '20.20.0',
  sha256LinuxX64: '4f48b52acf42130844a3a75e94da0e9629009d09e4101b2304895c24f3fbe609',
};

export const MAX_USER_DATA_BYTES = 16 * 1024;

export interface UserDataInput {
  brokerUrl: string;
  enrolToken: string;
  bundle: AgentBundleRef;
  node?: NodeRuntime;
}

const URL_RE = /^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/-]*)?$/;
const TOKEN_RE = /^[A-Za-z0-9._-]{1,4096}$/;
const SHA_RE = /^[0-9a-f]{64}$/;
const PATH_RE = /^\/[A-Za-z0-9._~/?=&-]{0,200}$/;
const ENTRY_RE = /^[A-Za-z0-9._/-]{1,200}$/;
const VERSION_RE = /^\d{2,}\.\d+\.\d+$/;

function check(ok: boolean, message: string): void {
  if (!ok) throw new SkiffError('PRV_INVALID_REQUEST', message);
}

export function validateUserDataInput(input: UserDataInput): void {
  check(URL_RE.test(input.brokerUrl), `broker URL ${JSON.stringify(input.brokerUrl)} must be http(s)://host[:port][/path] without query or quotes`);
  check(TOKEN_RE.test(input.enrolToken), 'enrolment token has characters a JWT never has; pass the token the broker issued');
  check(SHA_RE.test(input.bundle.sha256), `agent bundle sha256 ${JSON.stringify(input.bundle.sha256)} must be 64 lower-case hex digits`);
  check(PATH_RE.test(input.bundle.path), `agent bundle path ${JSON.stringify(input.bundle.path)} must start with / and be URL-safe`);
  check(ENTRY_RE.test(input.bundle.entry) && !input.bundle.entry.includes('..'), `agent bundle entry ${JSON.stringify(input.bundle.entry)} must be a relative path`);
  const node = input.node ?? DEFAULT_NODE_RUNTIME;
  check(VERSION_RE.test(node.version) && SHA_RE.test(node.sha256LinuxX64), 'node runtime needs a version like 20.20.0 and a 64-hex sha256');
}

// The script body, with no interpolation: every value comes from the variables set in the header.
const BODY = String.raw`
INSTALL_DIR=/opt/skiff
mkdir -p "$INSTALL_DIR" /etc/skiff
exec > >(tee -a /var/log/skiff-bootstrap.log) 2>&1
echo "skiff bootstrap: start"

node_major() {
  "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0
}

candidate_major() {
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ {print $2}' | sed -E 's/^[0-9]+://; s/[^0-9].*$//'
  elif command -v dnf >/dev/null 2>&1; then
    dnf -q info nodejs 2>/dev/null | awk -F': *' '/^Version/ {print $2; exit}' | cut -d. -f1
  fi
}

NODE_BIN=""
if command -v node >/dev/null 2>&1 && [ "$(node_major "$(command -v node)")" -ge 20 ]; then
  NODE_BIN="$(command -v node)"
fi
if [ -z "$NODE_BIN" ]; then
  MAJOR="$(candidate_major)"
  if [ -n "$MAJOR" ] && [ "$MAJOR" -ge 20 ] 2>/dev/null; then
    if command -v apt-get >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs
    else
      dnf install -y -q nodejs
    fi
    NODE_BIN="$(command -v node || true)"
  fi
fi
if [ -z "$NODE_BIN" ] || [ "$(node_major "$NODE_BIN")" -lt 20 ]; then
  TARBALL="node-v$NODE_VERSION-linux-x64.tar.xz"
  curl -fsSL --retry 5 --max-time 300 -o "/tmp/$TARBALL" "https://nodejs.org/dist/v$NODE_VERSION/$TARBALL"
  echo "$NODE_SHA256  /tmp/$TARBALL" | sha256sum -c -
  mkdir -p "$INSTALL_DIR/node"
  tar -xJf "/tmp/$TARBALL" -C "$INSTALL_DIR/node" --strip-components=1
  rm -f "/tmp/$TARBALL"
  NODE_BIN="$INSTALL_DIR/node/bin/node"
fi
echo "skiff bootstrap: node $("$NODE_BIN" --version)"

curl -fsSL --retry 10 --retry-connrefused --max-time 300 -o /tmp/skiff-agent.tgz "$SKIFF_BROKER_URL$BUNDLE_PATH"
echo "$BUNDLE_SHA256  /tmp/skiff-agent.tgz" | sha256sum -c -
rm -rf "$INSTALL_DIR/agent"
mkdir -p "$INSTALL_DIR/agent"
tar -xzf /tmp/skiff-agent.tgz -C "$INSTALL_DIR/agent"
rm -f /tmp/skiff-agent.tgz

IMDS=http://169.254.169.254/latest
IMDS_TOKEN="$(curl -fsS --retry 5 --max-time 10 -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"
INSTANCE_ID="$(curl -fsS --retry 5 --max-time 10 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/meta-data/instance-id")"

cat > /etc/skiff/agent.env <<ENV
SKIFF_BACKEND=aws
SKIFF_BROKER_URL=$SKIFF_BROKER_URL
SKIFF_ENROL_TOKEN=$SKIFF_ENROL_TOKEN
SKIFF_MACHINE_ID=$INSTANCE_ID
ENV
chmod 600 /etc/skiff/agent.env

cat > /etc/systemd/system/skiff-agent.service <<UNIT
[Unit]
Description=skiff agent
Wants=network-online.target
After=network-online.target

[Service]
EnvironmentFile=/etc/skiff/agent.env
ExecStart=$NODE_BIN $INSTALL_DIR/agent/$BUNDLE_ENTRY
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now skiff-agent.service
echo "skiff bootstrap: agent started"
`;

/** The user-data script (plain text; EC2 wants it base64-encoded). Throws if it would exceed 16 KB. */
export function buildUserData(input: UserDataInput): string {
  validateUserDataInput(input);
  const node = input.node ?? DEFAULT_NODE_RUNTIME;
  const header = [
    '#!/bin/bash',
    '# skiff agent bootstrap. Carries only the broker URL and a single-use, short-lived enrolment token.',
    'set -euo pipefail',
    'umask 077',
    `SKIFF_BROKER_URL='${input.brokerUrl}'`,
    `SKIFF_ENROL_TOKEN='${input.enrolToken}'`,
    `BUNDLE_PATH='${input.bundle.path}'`,
    `BUNDLE_SHA256='${input.bundle.sha256}'`,
    `BUNDLE_ENTRY='${input.bundle.entry}'`,
    `NODE_VERSION='${node.version}'`,
    `NODE_SHA256='${node.sha256LinuxX64}'`,
  ].join('\n');
  const script = header + '\n' + BODY;
  const bytes = Buffer.byteLength(script, 'utf8');
  if (bytes > MAX_USER_DATA_BYTES) {
    throw new SkiffError('PRV_INVALID_REQUEST', `user-data would be ${bytes} bytes; EC2 allows ${MAX_USER_DATA_BYTES}. Use a shorter broker URL or token`);
  }
  return script;
}
