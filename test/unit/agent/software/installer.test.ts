import t from 'tap';
import { installCommand, plainHttpHosts } from '../../../../agent/software/installer.js';

t.test('a plain-HTTP index the user named is trusted by host (pip ignores it otherwise); HTTPS ones need nothing', async (t) => {
  t.same(plainHttpHosts({ indexUrl: 'http://user:tok@10.0.5.9:8080/simple', extraIndexUrls: ['https://pypi.example/simple', 'http://mirror.internal/simple', 'http://10.0.5.9:9090/x'] }), ['10.0.5.9', 'mirror.internal'], 'each host once, without port or credentials');
  t.same(plainHttpHosts({ indexUrl: 'http://[fd00::5]:3141/simple' }), ['fd00::5'], 'IPv6 without brackets');
  t.same(plainHttpHosts({ indexUrl: 'https://pypi.example/simple' }), []);
  t.same(plainHttpHosts({}), []);

  const pip = installCommand({ kind: 'pip' }, '/e', ['a==1'], { indexUrl: 'http://10.0.5.9:8080/simple' });
  t.same(pip.env, { PIP_INDEX_URL: 'http://10.0.5.9:8080/simple', PIP_TRUSTED_HOST: '10.0.5.9' });
  t.equal(pip.name, 'pip install a==1', 'the name shown in logs carries no index URL');
  const uv = installCommand({ kind: 'uv', uv: '/usr/local/bin/uv' }, '/e', ['a==1'], { extraIndexUrls: ['http://mirror.internal/simple'] });
  t.same(uv.env, { UV_EXTRA_INDEX_URL: 'http://mirror.internal/simple' }, 'uv takes plain HTTP as it is');
  t.same(installCommand({ kind: 'pip' }, '/e', ['a==1'], { indexUrl: 'https://pypi.example/simple' }).env, { PIP_INDEX_URL: 'https://pypi.example/simple' }, 'HTTPS: nothing trusted');
});

t.test('index credentials and requirement URLs never reach an argument list (readable by every local user in /proc/PID/cmdline)', async (t) => {
  const index = { indexUrl: 'https://alice:s3cret@mirror.example/simple', extraIndexUrls: ['https://tok1@a.example/simple', 'https://b.example/TOKEN2/simple'] };
  const packages = ['dask==2024.1.0', 'mylib @ https://deploy:gh-tok@git.example/mylib-1.0-py3-none-any.whl'];
  for (const installer of [{ kind: 'pip' }, { kind: 'uv', uv: '/usr/local/bin/uv' }] as const) {
    const c = installCommand(installer, '/e', packages, index);
    const argv = [c.cmd, ...c.args].join(' ');
    t.notOk(/s3cret|tok1|TOKEN2|gh-tok|mirror\.example|git\.example/.test(argv), `${installer.kind}: no index or requirement URL in ${argv}`);
    t.same(c.args.slice(-2), ['-r', '/e/skiff-requirements.txt'], `${installer.kind}: the packages come from the environment's requirements file`);
    const prefix = installer.kind === 'uv' ? 'UV' : 'PIP';
    t.equal(c.env?.[`${prefix}_INDEX_URL`], index.indexUrl, `${installer.kind}: the index through ${prefix}_INDEX_URL`);
    t.equal(c.env?.[`${prefix}_EXTRA_INDEX_URL`], 'https://tok1@a.example/simple https://b.example/TOKEN2/simple');
    t.notOk(/gh-tok/.test(c.name), `${installer.kind}: the name for logs is masked: ${c.name}`);
  }
});
