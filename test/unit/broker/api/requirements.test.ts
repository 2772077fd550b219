import t from 'tap';
import { formatRequirement, mergeRequirements, parsePackageList, parseRequirement, parseRequirementsFile, pinnedVersion } from '../../../../broker/api/requirements.js';

const canon = (s: string) => formatRequirement(parseRequirement(s));

t.test('writes each requirement in one canonical form', async (t) => {
  const table: Array<[string, string]> = [
    ['Skiff_Probe==1.2.3', 'skiff-probe==1.2.3'],
    ['  xarray == 2024.1.0 ', 'xarray==2024.1.0'],
    ['dask[Distributed, dataframe]>=2024.1, <2025', 'dask[dataframe,distributed]<2025,>=2024.1'],
    ['dask (>=2024.1)', 'dask>=2024.1'],
    ["numpy==1.26.4; python_version < '3.12'", 'numpy==1.26.4; python_version < "3.12"'],
    ['numpy ; (sys_platform=="linux" and python_version>="3.10")', 'numpy; (sys_platform == "linux" and python_version >= "3.10")'],
    ['probe @ https://example.com/probe-1.0-py3-none-any.whl', 'probe @ https://example.com/probe-1.0-py3-none-any.whl'],
    ['probe[x] @ git+https://github.com/o/probe@v1 ; os_name == "posix"', 'probe[x] @ git+https://github.com/o/probe@v1 ; os_name == "posix"'],
    ['s3fs', 's3fs'],
  ];
  for (const [given, want] of table) t.equal(canon(given), want, given);
});

t.test('knows the one version a requirement pins', async (t) => {
  t.equal(pinnedVersion(parseRequirement('a==1.0')), '1.0');
  t.equal(pinnedVersion(parseRequirement('a===1.0+local')), '1.0+local');
  t.equal(pinnedVersion(parseRequirement('a==1.*')), undefined, 'a wildcard pins nothing');
  t.equal(pinnedVersion(parseRequirement('a>=1,<2')), undefined);
  t.equal(pinnedVersion(parseRequirement('a @ https://x/a.whl')), undefined);
});

t.test('refuses what a machine cannot reproduce, saying why', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['-e ./mypkg', /is an editable install, which cannot be reproduced on a cluster machine/],
    ['--editable=git+https://x/y#egg=y', /editable install/],
    ['./mypkg', /is a local path/],
    ['/home/me/probe-1.0-py3-none-any.whl', /is a local path/],
    ['probe-1.0.tar.gz', /is a local path/],
    ['file:///tmp/probe.whl', /is a local path/],
    ['probe @ file:///tmp/probe.whl', /points at a local file \(file:\/\/\/tmp\/probe\.whl\)/],
    ['https://example.com/probe.whl', /is a URL without a package name: write it as NAME @ URL/],
    ['probe @ example.com/x', /not a URL|local/],
    ['probe =! 1', /version clause "=! 1"/],
    ['probe==1 ; python_version <', /environment marker .* is not valid/],
    ['probe; shell("rm")', /environment marker/],
    ['--hash=sha256:abc', /option --hash is not supported here/],
    ['probe[', /extras/],
  ];
  for (const [text, message] of refused) t.throws(() => parseRequirement(text), { code: 'BRK_BAD_REQUEST', message }, text);
  t.throws(() => parseRequirement('-e .', { code: 'CLI_USAGE' }), { code: 'CLI_USAGE' }, 'the caller chooses the code');
});

t.test('reads a requirements file: comments, continuations, index options, line numbers in errors', async (t) => {
  const file = [
    '# the team environment',
    '--index-url https://user:secret@mirror.example/simple',
    '--extra-index-url=https://extra.example/simple',
    'xarray==2024.1.0  # pinned',
    'pandas>=2.0, \\',
    '  <3',
    'probe @ https://example.com/probe.whl#sha256=abc',
    '',
  ].join('\n');
  const r = parseRequirementsFile(file, { file: 'req.txt' });
  t.equal(r.indexUrl, 'https://user:secret@mirror.example/simple');
  t.same(r.extraIndexUrls, ['https://extra.example/simple']);
  t.same(r.requirements.map(formatRequirement), ['xarray==2024.1.0', 'pandas<3,>=2.0', 'probe @ https://example.com/probe.whl#sha256=abc']);
  t.throws(() => parseRequirementsFile('ok==1\n-e .\n', { file: 'req.txt' }), { message: /^req\.txt line 2 \("-e \."\): is an editable install/ });
  t.throws(() => parseRequirementsFile('-r other.txt\n', { file: 'req.txt' }), { message: /includes another file/ });
});

t.test('--packages splits on spaces; the same name twice must agree', async (t) => {
  t.same(parsePackageList(' xarray==2024.1.0   s3fs ').map(formatRequirement), ['xarray==2024.1.0', 's3fs']);
  t.same(mergeRequirements(parsePackageList('b==1 a==2 B==1')).map(formatRequirement), ['a==2', 'b==1'], 'duplicates that agree are one');
  t.throws(() => mergeRequirements(parsePackageList('probe==1 Probe==2')), { message: /probe is asked for twice, as "probe==1" and as "probe==2"/ });
  t.same(
    mergeRequirements([parseRequirement('numpy==1.26; python_version < "3.12"'), parseRequirement('numpy==2.1; python_version >= "3.12"')]).length, 2,
    'the same name under different markers is two requirements',
  );
});
