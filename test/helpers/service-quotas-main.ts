// The Service Quotas stand-in (service-quotas.ts) as a process, for a test that runs it elsewhere, e.g. inside
// a network namespace:
//
//   node --import tsx test/helpers/service-quotas-main.ts --host 127.0.0.1 --port 0 \
//        --quota L-1216C47A=32 --quota L-34B43A08=16 [--error L-DB2E81BA=AccessDeniedException]
//
// Prints one JSON line {"endpoint":"http://H:P"} on stdout once listening; point clients at it with
// AWS_ENDPOINT_URL_SERVICE_QUOTAS. Stops on SIGTERM or SIGINT (exit 0).
import { startServiceQuotas } from './service-quotas.js';

function usage(message: string): never {
  process.stderr.write(`service-quotas: ${message}\nusage: service-quotas-main.ts [--host H] [--port P] [--quota CODE=VCPUS]... [--error CODE=ErrorType]...\n`);
  process.exit(2);
}

const quotas: Record<string, number> = {};
const errors: Record<string, string> = {};
let host = '127.0.0.1';
let port = 0;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const flag = args[i] ?? '';
  const value = args[i + 1];
  if (value === undefined) usage(`${flag} needs a value`);
  i++;
  const [code, v] = value.split('=', 2);
  switch (flag) {
    case '--host':
      host = value;
      break;
    case '--port':
      port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port ${value} is not a port`);
      break;
    case '--quota':
      if (!code || v === undefined || !Number.isFinite(Number(v))) usage(`--quota ${value}: write CODE=NUMBER, e.g. L-1216C47A=32`);
      quotas[code] = Number(v);
      break;
    case '--error':
      if (!code || !v) usage(`--error ${value}: write CODE=ErrorType, e.g. L-1216C47A=AccessDeniedException`);
      errors[code] = v;
      break;
    default:
      usage(`unknown flag ${flag}`);
  }
}

const sq = await startServiceQuotas({ quotas, errors, host, port });
process.stdout.write(JSON.stringify({ endpoint: sq.endpoint }) + '\n');
const stop = () => {
  void sq.stop().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
