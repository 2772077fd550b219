import t from 'tap';
import { dashboardCookie, splitTarget, takeDashboardCookie } from '../../../../agent/gateway/dashboard-auth.js';

void t.test('takes the token out of the query and keeps the other parameters byte for byte', (t) => {
  t.same(splitTarget('/status?a=1%20&token=abc.def&b=%2F'), { path: '/status', query: '?a=1%20&b=%2F', token: 'abc.def' });
  t.same(splitTarget('/status?token=abc'), { path: '/status', query: '', token: 'abc' });
  t.same(splitTarget('/status?x=1'), { path: '/status', query: '?x=1' });
  t.same(splitTarget('/'), { path: '/', query: '' });
  t.end();
});

void t.test('never produces a redirect to another host', (t) => {
  t.equal(splitTarget('//evil.example/x?token=a')?.path, '/evil.example/x');
  t.equal(splitTarget('http://evil.example/'), undefined);
  t.equal(splitTarget('*'), undefined);
  t.end();
});

void t.test('removes every token parameter but uses the first', (t) => {
  t.same(splitTarget('/?token=one&token=two&z'), { path: '/', query: '?z', token: 'one' });
  t.end();
});

void t.test('separates the dashboard cookie from the others', (t) => {
  t.same(takeDashboardCookie('a=1; skiff_dashboard=tok; b=2'), { token: 'tok', rest: 'a=1; b=2' });
  t.same(takeDashboardCookie('skiff_dashboard=tok'), { token: 'tok' });
  t.same(takeDashboardCookie('a=1'), { rest: 'a=1' });
  t.same(takeDashboardCookie('skiff_dashboard='), {});
  t.same(takeDashboardCookie(undefined), {});
  t.end();
});

void t.test('sets a cookie that scripts and other sites cannot use', (t) => {
  t.equal(dashboardCookie('x.y.z'), 'skiff_dashboard=x.y.z; HttpOnly; Secure; SameSite=Lax; Path=/');
  t.equal(dashboardCookie('v', 'skiff_dashboard_c1'), 'skiff_dashboard_c1=v; HttpOnly; Secure; SameSite=Lax; Path=/');
  t.end();
});
