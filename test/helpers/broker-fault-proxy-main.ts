// The broker fault proxy (broker-fault-proxy.ts) as a process, e.g. inside the simulator's outer namespace:
//
//   node --import tsx test/helpers/broker-fault-proxy-main.ts --upstream https://198.51.100.1:8443 \
//        --cert CERT.pem --key KEY.pem --ca CA.pem --host 198.51.100.1 --port 9443 [--fail-enrol N] [--drop-enrol] [--close-after-bundles N]
//
// Prints {"url":"https://H:P"} once listening, then one JSON line per request ({"record": ...}). Stops on SIGTERM
// or SIGINT (exit 0).
import { readFileSync } from 'node:fs';
import { startBrokerFaultProxy } from './broker-fault-proxy.js';

function usage(message: string): never {
  process.stderr.write(`broker-fault-proxy: ${message}\nusage: broker-fault-proxy-main.ts --upstream URL --cert F --key F --ca F --host H --port P [--fail-enrol N] [--drop-enrol] [--close-after-bundles N]\n`);
  process.exit(2);
}

const v: Record<string, string> = {};
let dropEnrol = false;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const flag = args[i] ?? '';
  if (flag === '--drop-enrol') {
    dropEnrol = true;
    continue;
  }
  const value = args[++i];
  if (!['--upstream', '--cert', '--key', '--ca', '--host', '--port', '--fail-enrol', '--close-after-bundles'].includes(flag)) usage(`unknown flag ${flag}`);
  if (value === undefined) usage(`${flag} needs a value`);
  v[flag.slice(2)] = value;
}
for (const need of ['upstream', 'cert', 'key', 'ca', 'host', 'port']) if (v[need] === undefined) usage(`--${need} is required`);
const failEnrol = Number(v['fail-enrol'] ?? '0');
if (!Number.isInteger(failEnrol) || failEnrol < 0) usage(`--fail-enrol ${v['fail-enrol'] ?? ''} is not a count`);

const proxy = await startBrokerFaultProxy({
  upstream: v['upstream'] ?? '',
  certPem: readFileSync(v['cert'] ?? '', 'utf8'),
  keyPem: readFileSync(v['key'] ?? '', 'utf8'),
  caPem: readFileSync(v['ca'] ?? '', 'utf8'),
  host: v['host'] ?? '',
  port: Number(v['port']),
  failEnrol,
  dropEnrol,
  ...(v['close-after-bundles'] !== undefined ? { closeAfterBundles: Number(v['close-after-bundles']) } : {}),
  onRecord: (record) => process.stdout.write(JSON.stringify({ record }) + '\n'),
});
process.stdout.write(JSON.stringify({ url: proxy.url }) + '\n');
const stop = () => {
  void proxy.stop().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
