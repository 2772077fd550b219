// The test package index (package-index.ts) as a process, for a test that serves it where the machines can reach
// it, e.g. on the simulator's internet address inside its outer namespace:
//
//   node --import tsx test/helpers/package-index-main.ts --wheels DIR [--host 127.0.0.1] [--port 0]
//
// Prints {"url":"http://H:P/simple"} once listening, then {"record": "/path"} for every request. Stops on SIGTERM or
// SIGINT (exit 0).
import { startPackageIndex } from './package-index.js';

function usage(message: string): never {
  process.stderr.write(`package-index: ${message}\nusage: package-index-main.ts --wheels DIR [--host H] [--port P]\n`);
  process.exit(2);
}

let wheels = '';
let host = '127.0.0.1';
let port = 0;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const flag = args[i] ?? '';
  const value = args[i + 1];
  if (value === undefined) usage(`${flag} needs a value`);
  if (flag === '--wheels') wheels = value;
  else if (flag === '--host') host = value;
  else if (flag === '--port') {
    port = Number(value);
    if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port ${value} is not a port`);
  } else usage(`unknown flag ${flag}`);
}
if (!wheels) usage('--wheels is required');

const index = await startPackageIndex(wheels, { host, port, onRequest: (record) => process.stdout.write(JSON.stringify({ record }) + '\n') });
process.stdout.write(JSON.stringify({ url: index.url }) + '\n');
const stop = () => {
  void index.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
