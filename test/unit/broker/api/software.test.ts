import t from 'tap';
import { buildSoftwareSpec, maskUrl, softwareView, specHash } from '../../../../broker/api/software.js';

const client = { dask: '2022.12.1+dfsg', distributed: '2022.12.1+ds.1', tornado: '6.2' };

t.test('the hash is stable over the canonical form: order and spelling do not change it', async (t) => {
  const a = buildSoftwareSpec({ mode: 'client', python: '3.11', client, packages: ['Skiff_Probe==1.2.3', 'xarray == 2024.1.0'] });
  const b = buildSoftwareSpec({ mode: 'client', python: '3.11', client: { tornado: '6.2', distributed: '2022.12.1+ds.1', dask: '2022.12.1+dfsg' }, packages: ['xarray==2024.1.0', 'skiff-probe==1.2.3'] });
  t.equal(a.hash, b.hash);
  t.match(a.hash, /^[0-9a-f]{64}$/);
  t.same(a.packages, ['dask==2022.12.1', 'distributed==2022.12.1', 'skiff-probe==1.2.3', 'tornado==6.2', 'xarray==2024.1.0'], 'client pins without local labels, merged and sorted');
  t.not(buildSoftwareSpec({ mode: 'client', python: '3.12', client, packages: ['skiff-probe==1.2.3', 'xarray==2024.1.0'] }).hash, a.hash, 'another Python is another environment');
  t.not(buildSoftwareSpec({ mode: 'client', python: '3.11', client, packages: ['skiff-probe==1.2.4', 'xarray==2024.1.0'] }).hash, a.hash, 'another version too');
  t.equal(buildSoftwareSpec({ mode: 'client', python: '3.11', client, packages: ['skiff-probe==1.2.3', 'xarray==2024.1.0'], indexUrl: 'https://mirror.example/simple' }).hash, a.hash, 'the index is not part of it');
  t.equal(specHash('3.11', ['b==1', 'a==1']), specHash('3.11', ['a==1', 'b==1']));
});

t.test('a user requirement of a client package must agree with the client', async (t) => {
  const ok = buildSoftwareSpec({ mode: 'client', python: '3.11', client, packages: ['dask[dataframe]', 'distributed==2022.12.1'] });
  t.same(ok.packages, ['dask[dataframe]==2022.12.1', 'distributed==2022.12.1', 'tornado==6.2'], 'a bare name or the same version agrees; extras are kept');
  t.throws(() => buildSoftwareSpec({ mode: 'client', python: '3.11', client, packages: ['dask==2024.1.0'] }), {
    code: 'BRK_BAD_REQUEST', message: /the packages ask for dask==2024\.1\.0 but the client runs dask 2022\.12\.1\+dfsg; the cluster runs the client's version/,
  });
});

t.test('refuses a request that cannot make an environment, naming the field', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [null, /software must be an object/],
    [{ mode: 'conda' }, /mode must be client or system/],
    [{ mode: 'client', python: '3', client }, /major\.minor version like 3\.11/],
    [{ mode: 'client', client }, /needs the client Python's major\.minor/],
    [{ mode: 'client', python: '3.11', client: { dask: '1' } }, /lacks distributed/],
    [{ mode: 'client', python: '3.11', client: { ...client, requests: '2' } }, /only dask, distributed, .* are read from the client/],
    [{ mode: 'client', python: '3.11', client: { ...client, dask: '1; rm' } }, /not a version/],
    [{ mode: 'client', python: '3.11', client, packages: ['-e .'] }, /editable install/],
    [{ mode: 'system', packages: ['probe==1'] }, /need --software client/],
    [{ mode: 'client', python: '3.11', client, indexUrl: 'ftp://x' }, /--pip-index-url must be an http\(s\) URL/],
    [{ mode: 'client', python: '3.11', client, extraIndexUrls: ['https://u:pw@x/ simple'] }, /--pip-extra-index-url .*"https:\/\/x\/ simple"/],
  ];
  for (const [raw, message] of bad) t.throws(() => buildSoftwareSpec(raw), { code: 'BRK_BAD_REQUEST', message }, JSON.stringify(raw));
  t.same(buildSoftwareSpec({ mode: 'system', client }).packages, [], 'system installs nothing but keeps the client for the check');
});

t.test('index URLs are masked in what the API shows, kept whole in the spec', async (t) => {
  const s = buildSoftwareSpec({ mode: 'client', python: '3.11', client, indexUrl: 'https://alice:s3cret@mirror.example/simple', extraIndexUrls: ['https://tok@extra.example/simple'] });
  t.equal(s.indexUrl, 'https://alice:s3cret@mirror.example/simple');
  t.equal(softwareView(s).indexUrl, 'https://mirror.example/…');
  t.same(softwareView(s).extraIndexUrls, ['https://extra.example/…']);
  t.equal(maskUrl('Looking in indexes: https://a:b@h/simple, http://h2:8080/simple'), 'Looking in indexes: https://h/…, http://h2:8080/…');
});

t.test('a token in a URL\'s path or in a requirement\'s URL is never shown: only scheme and host', async (t) => {
  t.equal(maskUrl('https://dl.example/AKIA-TOKEN-123/simple'), 'https://dl.example/…');
  t.equal(maskUrl('fetching https://u:tok@files.example/pkg.whl?sig=abc.'), 'fetching https://files.example/….');
  t.equal(maskUrl('plain text, no URL: user@host'), 'plain text, no URL: user@host');
  t.equal(maskUrl('https://mirror.example/ and https://mirror.example'), 'https://mirror.example/ and https://mirror.example');
  const s = buildSoftwareSpec({ mode: 'client', python: '3.11', client, packages: ['mylib @ https://deploy:gh-tok@git.example/team/TOKEN42/mylib-1.0-py3-none-any.whl'] });
  t.ok(s.packages.some((p) => p.includes('gh-tok')), 'the spec the machines get keeps the URL whole');
  const shown = JSON.stringify(softwareView(s));
  t.notOk(/gh-tok|TOKEN42|deploy/.test(shown), 'the view shows neither the user part nor the path');
  t.match(shown, 'mylib @ https://git.example/…');
});
