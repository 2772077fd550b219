// The EC2 capacity proxy (ec2-capacity-proxy.ts) as a process, for a test that runs it where the broker is, e.g.
// inside the simulator's outer namespace:
//
//   node --import tsx test/helpers/ec2-capacity-proxy-main.ts --upstream http://198.51.100.1:5000 \
//        [--host 127.0.0.1] [--port 0] [--capacity m6i.xlarge=0]...
//
// Prints {"endpoint":"http://H:P"} once listening, then one JSON line per request answered ({"record": ...}); point
// the broker's EC2 client at it with AWS_ENDPOINT_URL_EC2. Stops on SIGTERM or SIGINT (exit 0).
import { startEc2CapacityProxy } from './ec2-capacity-proxy.js';

function usage(message: string): never {
  process.stderr.write(`ec2-capacity-proxy: ${message}\nusage: ec2-capacity-proxy-main.ts --upstream URL [--host H] [--port P] [--capacity TYPE=COUNT]...\n`);
  process.exit(2);
}

const capacity: Record<string, number> = {};
let upstream = '';
let host = '127.0.0.1';
let port = 0;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const flag = args[i] ?? '';
  const value = args[i + 1];
  if (value === undefined) usage(`${flag} needs a value`);
  switch (flag) {
    case '--upstream':
      upstream = value;
      break;
    case '--host':
      host = value;
      break;
    case '--port':
      port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port ${value} is not a port`);
      break;
    case '--capacity': {
      const [type, n] = value.split('=', 2);
      if (!type || n === undefined || !Number.isInteger(Number(n)) || Number(n) < 0) usage(`--capacity ${value}: write TYPE=COUNT, e.g. m6i.xlarge=0`);
      capacity[type] = Number(n);
      break;
    }
    default:
      usage(`unknown flag ${flag}`);
  }
}
if (!upstream) usage('--upstream is required');

const proxy = await startEc2CapacityProxy({ upstream, capacity, host, port, onRecord: (record) => process.stdout.write(JSON.stringify({ record }) + '\n') });
process.stdout.write(JSON.stringify({ endpoint: proxy.endpoint }) + '\n');
const stop = () => {
  void proxy.stop().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
