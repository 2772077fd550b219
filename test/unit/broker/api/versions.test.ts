import t from 'tap';
import { publicVersion, sameVersion, samePythonMinor, versionMismatches } from '../../../../broker/api/versions.js';

t.test('normalizes versions as PEP 440 does, leaving out local labels', async (t) => {
  const table: Array<[string, string]> = [
    ['2022.12.1+dfsg', '2022.12.1'], ['v1.0.0-RC1', '1.0.0rc1'], ['1.0alpha2', '1.0a2'], ['1.0-1', '1.0.post1'],
    ['1.0.post', '1.0.post0'], ['1.0.dev3', '1.0.dev3'], ['0!1.01', '1.1'], ['2!1.0', '2!1.0'], ['not a version', 'not a version'],
  ];
  for (const [given, want] of table) t.equal(publicVersion(given), want, given);
});

t.test('compares versions as equal releases', async (t) => {
  t.ok(sameVersion('1.0', '1.0.0'));
  t.ok(sameVersion('2022.12.1+ds.1', '2022.12.1'));
  t.ok(sameVersion('1.0RC1', '1.0.0rc1'));
  t.notOk(sameVersion('1.0.1', '1.1'), 'an inner zero counts');
  t.notOk(sameVersion('2022.12.1', '2022.12.9'));
  t.notOk(sameVersion('1.0', '1.0.post1'));
  t.notOk(sameVersion('1.0rc1', '1.0'));
  t.ok(samePythonMinor('3.11', '3.11.2.final.0'));
  t.notOk(samePythonMinor('3.11', '3.12.1'));
  t.notOk(samePythonMinor('3.1', '3.11'));
});

t.test('says which machines differ from the client, grouped by the version they have', async (t) => {
  const client = { python: '3.11', dask: '2024.1.0', distributed: '2024.1.0', numpy: '1.26.4' };
  const same = { python: '3.11.2.final.0', dask: '2024.1.0', distributed: '2024.1.0+local', numpy: '1.26.4', lz4: '4.0' };
  t.same(versionMismatches(client, [{ machine: 'scheduler', packages: same }, { machine: 'worker-1', packages: same }]), [], 'nothing differs');
  const old = { ...same, distributed: '2022.12.1+ds.1' };
  t.same(
    versionMismatches(client, [
      { machine: 'scheduler', packages: old },
      { machine: 'worker-1', packages: old },
      { machine: 'worker-2', packages: { ...same, numpy: null, python: '3.12.0.final.0' } },
    ]),
    [
      'distributed: the client has 2024.1.0; scheduler, worker-1 have 2022.12.1+ds.1',
      'numpy: the client has 1.26.4; worker-2 has none',
      'python: the client has 3.11; worker-2 has 3.12.0',
    ],
  );
});
