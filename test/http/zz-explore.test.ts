import { chromium } from 'playwright-core';
import { it } from 'vitest';
import { startPipeline } from '../support/pipeline-harness.js';

it('explore', async () => {
  const p = await startPipeline('explore', {
    env: { DASHBOARD_USER: 'ops', DASHBOARD_PASSWORD: 'pw' },
  });
  let failId = -1;
  p.setRespond((push) => (push.body.data.orderId === String(failId) ? { status: 400, body: { error: 'invalid openid' } } : { status: 200 }));
  const a = await p.createOrder({ patientId: 1, status: 'PENDING_PAYMENT' });
  const b = await p.createOrder({ patientId: 2, status: 'PENDING_PAYMENT' });
  failId = b;
  await p.setStatus(a, 'CANCELLED', 'PAYMENT_TIMEOUT');
  await p.setStatus(b, 'CANCELLED', 'PAYMENT_TIMEOUT');
  await p.waitForDeadLetters(1);
  await p.waitUntilIdle();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  const ctx = await browser.newContext({ httpCredentials: { username: 'ops', password: 'pw' } });
  const page = await ctx.newPage();
  await page.route((url) => !url.href.startsWith(p.service.httpUrl!), (route) => route.abort());
  await page.goto(`${p.service.httpUrl}/admin/queues`);
  await page.getByRole('link', { name: 'deliveries' }).first().click();
  await page.waitForTimeout(1000);
  await page.getByRole('link', { name: /FAILED/ }).click();
  await page.waitForTimeout(1500);
  console.log('URL', page.url());
  console.log(await page.locator('main').innerHTML());
  await page.screenshot({ path: '/tmp/explore2.png', fullPage: true });
  await browser.close();
  await p.stop();
});
