// The 'after' half of aws-faults.test.ts: AWS acts on the k-th call, then its answer is lost.
process.env['SKIFF_FAULT_MODE'] = 'after';
await import('./aws-faults.test.js');
