import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DASHBOARD_PATH, dashboardPageHtml, webRoutes } from './index.js';

test('GET /dashboard is served with no-store and a same-origin script policy, and carries no secret', () => {
  const r = webRoutes({ accountId: 'acct-1' }).find((x) => x.path === DASHBOARD_PATH);
  assert.ok(r, 'webRoutes has /dashboard');
  assert.equal(r.contentType, 'text/html; charset=utf-8');
  assert.equal(r.headers?.['cache-control'], 'no-store');
  assert.match(r.headers?.['content-security-policy'] ?? '', /script-src 'self';/);
  const html = String(r.body());
  assert.match(html, /<meta name="trackroom-account-id" content="acct-1">/);
  assert.match(html, /src="\/assets\/trackroom\/dashboard\.js"/);
  assert.doesNotMatch(html, /token=|Bearer/i);
  assert.ok(
    webRoutes().some((x) => x.path === '/assets/trackroom/dashboard.js'),
    'the script is served',
  );
});

test('the account id is escaped into the page', () => {
  const html = dashboardPageHtml({ accountId: '"><script>x</script>', assetsPrefix: '/a' });
  assert.ok(!html.includes('<script>x'), html);
});
