// The operators' dashboard (Bull Board at /admin/queues) as an operator meets it: in a real
// browser, behind basic auth, showing a push that Singer refused, one waiting to be retried and
// one delivered — and offering no button that would break a guarantee (retry past the order's
// sequence, drop a push still owed, send one no order change asked for), while the server refuses
// those actions when asked directly. Without credentials configured it is served to this machine
// only, which the plain-HTTP tests below prove over real sockets.
//
// Chromium is Debian's (/usr/bin/chromium), driven by playwright-core; no browser is downloaded.
// `chromium.launch()` gives every run a fresh temporary profile (Playwright's own --user-data-dir)
// and removes it on close.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  chromium,
  type Browser,
  type BrowserContextOptions,
  type Page,
  type Request,
} from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Request as ExpressRequest, Response as ExpressResponse } from 'express';
import { isLoopbackAddress, loopbackOnly } from '../../src/http/dashboard.js';
import { packageRoot } from '../../src/package-root.js';
import { eventually, startPipeline, type Pipeline } from '../support/pipeline-harness.js';

const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const DASHBOARD_USER = 'ops';
const DASHBOARD_PASSWORD = 'dashboard-test-password';
const REFUSAL = { error: 'the patient unsubscribed' };
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Every Bull Board action that changes a queue or a job (its en-US labels, 9.10.1). */
const MUTATING_ACTION =
  /retry|clean|promote|remove|add job|duplicate|update data|reschedule|priority|pause|resume|empty|obliterate|concurrency|rate limit/i;

describe('the dashboard behind basic auth', () => {
  let pipeline: Pipeline;
  let browser: Browser | undefined;
  let refusedOrderId = '';
  let refusedOnce = 0;
  let retriedOrderId = '';
  let failedJobId = '';
  let delayedJobId = '';
  let completedJobId = '';
  let scratchDir: string | undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(
        `${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium)`,
      );
    }
    pipeline = await startPipeline('dashboard-browser', {
      // A retry waits minutes: the retried push stays delayed while the test looks at it.
      env: {
        DASHBOARD_USER,
        DASHBOARD_PASSWORD,
        DELIVERY_BACKOFF_BASE_MS: '600000',
        DELIVERY_BACKOFF_MAX_MS: '600000',
      },
      // Singer is unavailable for one order's push once (503, retry at once) and then refuses
      // it for good (400): a push job of its own that failed, and a dead letter; it is
      // unavailable (503) for another: a push job delayed until its retry.
      respond: (push) =>
        push.body.data.orderId === refusedOrderId
          ? refusedOnce++ === 0
            ? { status: 503, headers: { 'Retry-After': '0' } }
            : { status: 400, body: REFUSAL }
          : push.body.data.orderId === retriedOrderId
            ? { status: 503 }
            : { status: 200 },
    });
    const deliveredOrder = await pipeline.createOrder({
      patientId: 101,
      status: 'PENDING_PAYMENT',
    });
    const refusedOrder = await pipeline.createOrder({ patientId: 102, status: 'PENDING_PAYMENT' });
    const retriedOrder = await pipeline.createOrder({ patientId: 103, status: 'PENDING_PAYMENT' });
    refusedOrderId = String(refusedOrder);
    retriedOrderId = String(retriedOrder);
    for (const orderId of [deliveredOrder, refusedOrder, retriedOrder]) {
      await pipeline.setStatus(orderId, 'CANCELLED', 'PAYMENT_TIMEOUT');
    }
    await pipeline.waitForPushes(1, { orderId: deliveredOrder });
    await pipeline.waitForDeadLetters(1);
    const { deliveries } = pipeline.service;
    await eventually(
      async () => ((await deliveries.getDelayedCount()) === 1 ? true : undefined),
      20_000,
      () => 'the push Singer answered 503 is not waiting for its retry',
    );

    // The one job of `orderId` in `state`, once it is there (a delivered push's job completes
    // just after Singer's answer).
    const jobIdsOf = (state: 'failed' | 'delayed' | 'completed', orderId: string) =>
      eventually(
        async () => {
          const jobs = await deliveries.getJobs([state]);
          // A push job, or (completed) the hand-off job that delivered the order's push.
          const ofOrder = jobs.filter((job) =>
            'pushes' in job.data
              ? job.data.pushes.some((push) => push.event.orderId === orderId)
              : job.data.event.orderId === orderId,
          );
          return ofOrder.length === 1 && (state === 'completed' || jobs.length === 1)
            ? String(ofOrder[0]?.id)
            : undefined;
        },
        20_000,
        () => `no single ${state} delivery job of order ${orderId}`,
      );
    failedJobId = await jobIdsOf('failed', refusedOrderId);
    delayedJobId = await jobIdsOf('delayed', retriedOrderId);
    completedJobId = await jobIdsOf('completed', String(deliveredOrder));

    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });

  afterAll(async () => {
    await browser?.close();
    await pipeline?.stop();
    if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
  });

  /**
   * A browser context that can reach the service and nothing else (the UI links Google Fonts).
   * Its close() first lets the requests already sent finish and refuses new ones (the board polls):
   * a dashboard request still being served when the service stops would run Redis commands on a
   * closed connection.
   */
  async function openContext(options: BrowserContextOptions = {}) {
    const origin = new URL(pipeline.service.httpUrl ?? '').origin;
    const context = await browser!.newContext({
      ...options,
      viewport: { width: 1280, height: 720 },
    });
    let admitting = true;
    const inFlight = new Set<Request>();
    context.on('request', (request) => inFlight.add(request));
    context.on('requestfinished', (request) => inFlight.delete(request));
    context.on('requestfailed', (request) => inFlight.delete(request));
    await context.route('**/*', (route) =>
      admitting && new URL(route.request().url()).origin === origin
        ? route.continue()
        : route.abort(),
    );
    return {
      context,
      async close() {
        admitting = false;
        await eventually(
          () => (inFlight.size === 0 ? true : undefined),
          10_000,
          () => `${inFlight.size} dashboard requests still unanswered`,
        );
        await context.close();
      },
    };
  }

  it('The dashboard in headless Chromium: 401 without credentials, the queues with them', async () => {
    const dashboardUrl = `${pipeline.service.httpUrl}/admin/queues`;

    // Without credentials Chromium gets the 401 and its Basic challenge; with no one to type a
    // password (Playwright cancels the prompt) the navigation ends on an error page, not the board.
    const anonymous = await openContext();
    const anonymousPage = await anonymous.context.newPage();
    const [challenge, navigationError] = await Promise.all([
      anonymousPage.waitForResponse(dashboardUrl),
      anonymousPage.goto(dashboardUrl).then(
        () => undefined,
        (err: Error) => err.message,
      ),
    ]);
    expect(challenge.status()).toBe(401);
    expect(challenge.headers()['www-authenticate']).toMatch(/^Basic realm="push dashboard"/);
    expect(navigationError).toMatch(/ERR_INVALID_AUTH_CREDENTIALS/);
    expect(await anonymousPage.getByRole('navigation').count()).toBe(0);
    await anonymous.close();

    const operator = await openContext({
      httpCredentials: { username: DASHBOARD_USER, password: DASHBOARD_PASSWORD },
    });
    const page = await operator.context.newPage();
    const overview = await page.goto(dashboardUrl);
    expect(overview?.status()).toBe(200);

    const queueList = page.getByRole('navigation');
    await queueList.getByRole('link', { name: 'dead-letters', exact: true }).waitFor();
    await queueList.getByRole('link', { name: 'deliveries', exact: true }).click();
    await page.waitForURL('**/admin/queues/queue/deliveries');
    await page.getByRole('link', { name: /^FAILED/ }).click();
    await page.waitForURL('**/admin/queues/queue/deliveries?status=failed');
    await page.getByRole('link', { name: failedJobId, exact: true }).click();
    await page.waitForURL(`**/admin/queues/queue/deliveries/${failedJobId}?status=failed`);

    const errorPanel = page.getByRole('tabpanel');
    await errorPanel.getByText('Singer refused it').waitFor();
    const errorText = await errorPanel.innerText();
    expect(errorText).toContain(`order ${refusedOrderId}, PAYMENT_TIMEOUT`);
    expect(errorText).toContain(`Singer answered 400 Bad Request: ${JSON.stringify(REFUSAL)}`);

    // UPDATE_SCREENSHOTS=1 refreshes the picture in the docs; otherwise it goes to a temp dir.
    let screenshotPath = join(packageRoot, 'docs', 'dashboard.png');
    if (process.env.UPDATE_SCREENSHOTS !== '1') {
      scratchDir = await mkdtemp(join(tmpdir(), 'push-dashboard-'));
      screenshotPath = join(scratchDir, 'dashboard.png');
    }
    await mkdir(dirname(screenshotPath), { recursive: true });
    await page.screenshot({ path: screenshotPath });
    expect((await readFile(screenshotPath)).subarray(0, 8)).toEqual(PNG_SIGNATURE);
    await operator.close();
  });

  it('shows the jobs of both queues without a button that would break a guarantee', async () => {
    const operator = await openContext({
      httpCredentials: { username: DASHBOARD_USER, password: DASHBOARD_PASSWORD },
    });
    const page = await operator.context.newPage();
    const board = `${pipeline.service.httpUrl}/admin/queues`;
    const views = [
      { path: '/queue/deliveries?status=failed', job: failedJobId },
      { path: `/queue/deliveries/${failedJobId}?status=failed`, job: failedJobId },
      { path: '/queue/deliveries?status=delayed', job: delayedJobId },
      { path: `/queue/deliveries/${delayedJobId}?status=delayed`, job: delayedJobId },
      { path: '/queue/deliveries?status=completed', job: completedJobId },
      { path: '/queue/dead-letters?status=waiting', job: failedJobId },
      { path: `/queue/dead-letters/${failedJobId}?status=waiting`, job: failedJobId },
    ];
    for (const view of views) {
      await page.goto(`${board}${view.path}`);
      await page.getByText(view.job, { exact: true }).first().waitFor();
      const actions = await actionsOffered(page);
      expect(
        actions.filter((action) => MUTATING_ACTION.test(action)),
        view.path,
      ).toEqual([]);
    }
    // The look-around sees what there is to see: the overview's menu, a tooltip's text.
    await page.goto(board);
    await page.getByText('No workers').first().waitFor();
    expect(await actionsOffered(page)).toEqual(
      expect.arrayContaining(['menu:Sort by', 'tooltip:Nothing is consuming this queue']),
    );
    await operator.close();
  });

  it('refuses every changing call to the dashboard API with 405, and the queues stay as they were', async () => {
    const api = `${pipeline.service.httpUrl}/admin/queues/api/queues`;
    const authorization = `Basic ${Buffer.from(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`).toString('base64')}`;
    const call = async (method: string, path: string, body?: unknown) =>
      (
        await fetch(`${api}${path}`, {
          method,
          headers: { authorization, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        })
      ).status;
    const refused = [
      ['PUT', `/deliveries/${failedJobId}/retry`],
      ['PUT', '/deliveries/retry/failed'],
      ['PUT', `/deliveries/${delayedJobId}/promote`],
      ['PUT', '/deliveries/promote'],
      ['PUT', `/deliveries/${completedJobId}/clean`],
      ['PUT', '/deliveries/clean/completed'],
      ['PUT', '/deliveries/empty'],
      ['PUT', '/deliveries/pause'],
      ['PUT', `/dead-letters/${failedJobId}/clean`],
      ['PUT', '/dead-letters/clean/waiting'],
      ['PUT', '/dead-letters/empty'],
      ['PUT', '/dead-letters/obliterate'],
    ] as const;
    for (const [method, path] of refused) expect(await call(method, path), path).toBe(405);
    expect(await call('POST', '/deliveries/add', { name: 'x', data: {}, options: {} })).toBe(405);
    // "Pause all" leaves read-only queues alone.
    await call('PUT', '/pause');

    const { deliveries, deadLetters } = pipeline.service;
    expect(await deliveries.getJobState(failedJobId)).toBe('failed');
    expect(await deliveries.getJobState(delayedJobId)).toBe('delayed');
    expect(await deliveries.getJobState(completedJobId)).toBe('completed');
    expect(await deadLetters.getJobState(failedJobId)).toBe('waiting');
    expect(await deliveries.isPaused()).toBe(false);
    expect(await deadLetters.isPaused()).toBe(false);
    expect(await deliveries.count()).toBe(1);
  });
});

/**
 * Every action the page offers: button labels, the tooltips naming the icon-only buttons (shown
 * on hover), and the queue menu's items — each prefixed with where it was found.
 */
async function actionsOffered(page: Page): Promise<string[]> {
  const actions = (await page.getByRole('button').allInnerTexts())
    .map((text) => text.trim())
    .filter(Boolean)
    .map((text) => `button:${text}`);
  const tooltip = page.locator('[data-base-ui-portal] [role="presentation"][data-open]');
  const iconButtons = page.locator('main [data-base-ui-tooltip-trigger]');
  for (let i = 0; i < (await iconButtons.count()); i += 1) {
    await iconButtons.nth(i).hover();
    await tooltip.first().waitFor();
    actions.push(...(await tooltip.allInnerTexts()).map((text) => `tooltip:${text.trim()}`));
    await page.mouse.move(0, 0);
    await tooltip.first().waitFor({ state: 'detached' });
  }
  const menu = page.locator('main [aria-haspopup="menu"]');
  if ((await menu.count()) > 0) {
    await menu.first().click();
    await page.getByRole('menu').waitFor();
    actions.push(...(await page.getByRole('menuitem').allInnerTexts()).map((t) => `menu:${t}`));
    await page.keyboard.press('Escape');
  }
  return actions;
}

// Without DASHBOARD_USER/DASHBOARD_PASSWORD the dashboard answers loopback clients (127.0.0.1,
// ::1) and refuses every other client with 403, so a forgotten setting never shows the queues
// (and the pushes' contents) to the network. Loopback is asked over a real socket, the
// refusal on the guard itself.
describe('the dashboard without credentials configured', () => {
  let pipeline: Pipeline;

  beforeAll(async () => {
    pipeline = await startPipeline('dashboard-loopback', { env: { HOST: '127.0.0.1' } });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('serves the dashboard to a loopback client (200)', async () => {
    const url = new URL('/admin/queues', pipeline.service.httpUrl);
    expect(url.hostname).toBe('127.0.0.1');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<title>push</title>');
  });

  // A non-loopback client cannot be made here without traffic leaving loopback (this
  // workplace allows none), so the refusal is proven on the guard itself.
  it('refuses a client that is not on this machine with 403, and tells how to open the dashboard', () => {
    let status = 0;
    let body = '';
    let passed = false;
    const res = {
      status(code: number) {
        status = code;
        return res;
      },
      send(text: string) {
        body = text;
        return res;
      },
    };
    loopbackOnly(
      { socket: { remoteAddress: '203.0.113.9' } } as unknown as ExpressRequest,
      res as unknown as ExpressResponse,
      () => (passed = true),
    );
    expect(passed).toBe(false);
    expect(status).toBe(403);
    expect(body).toMatch(/localhost only; set DASHBOARD_USER and DASHBOARD_PASSWORD/);
  });

  it('counts all of 127.0.0.0/8 and ::1 as this machine, and nothing else', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopbackAddress(address), address).toBe(true);
    }
    for (const address of [
      '10.0.0.1',
      '192.168.1.9',
      '::ffff:10.0.0.1',
      'fe80::1',
      '',
      '128.0.0.1',
    ]) {
      expect(isLoopbackAddress(address), address).toBe(false);
    }
  });
});
