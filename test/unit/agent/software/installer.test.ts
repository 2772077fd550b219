import t from 'tap';
import { installCommand, plainHttpHosts } from '../../../../agent/software/installer.js';

t.test('a plain-HTTP index the user named is trusted by host (pip ignores it otherwise); HTTPS ones need nothing', async (t) => {
  t.same(plainHttpHosts({ indexUrl: 'http://user:tok@10.0.5.9:8080/simple', extraIndexUrls: ['https://pypi.example/simple', 'http://mirror.internal/simple', 'http://10.0.5.9:9090/x'] }), ['10.0.5.9', 'mirror.internal'], 'each host once, without port or credentials');
  t.same(plainHttpHosts({ indexUrl: 'http://[fd00::5]:3141/simple' }), ['fd00::5'], 'IPv6 without brackets');
  t.same(plainHttpHosts({ indexUrl: 'https://pypi.example/simple' }), []);
  t.same(plainHttpHosts({}), []);

  const pip = installCommand({ kind: 'pip' }, '/e', ['a==1'], { indexUrl: 'http://10.0.5.9:8080/simple' });
  t.same(pip.args.slice(-5), ['--index-url', 'http://10.0.5.9:8080/simple', '--trusted-host', '10.0.5.9', 'a==1']);
  t.equal(pip.name, 'pip install a==1', 'the name shown in logs carries no index URL');
  const uv = installCommand({ kind: 'uv', uv: '/usr/local/bin/uv' }, '/e', ['a==1'], { extraIndexUrls: ['http://mirror.internal/simple'] });
  t.same(uv.args, ['pip', 'install', '--python', '/e/bin/python', '--extra-index-url', 'http://mirror.internal/simple', 'a==1'], 'uv takes plain HTTP as it is');
  t.notOk(installCommand({ kind: 'pip' }, '/e', ['a==1'], { indexUrl: 'https://pypi.example/simple' }).args.includes('--trusted-host'), 'HTTPS: nothing trusted');
});
