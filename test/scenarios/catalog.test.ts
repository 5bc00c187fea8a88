import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { defaultScenarioFile, loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { packageRoot } from '../../src/package-root.js';

const shipped = JSON.parse(readFileSync(defaultScenarioFile, 'utf8')) as {
  statuses: Array<Record<string, unknown>>;
  scenarios: Array<Record<string, unknown>>;
};

/** Writes a variant of the shipped file to a fresh temp directory and returns its path. */
function writeVariant(edit: (file: typeof shipped) => unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'push-scenarios-')), 'scenarios.json');
  writeFileSync(file, JSON.stringify(edit(structuredClone(shipped))));
  return file;
}

function editScenario(key: string, change: Record<string, unknown>) {
  return (file: typeof shipped) => ({
    ...file,
    scenarios: file.scenarios.map((s) => (s.key === key ? { ...s, ...change } : s)),
  });
}

describe('loadScenarioCatalog', () => {
  it('finds the shipped file from the package root and loads SPEC §3 and §4', () => {
    expect(defaultScenarioFile).toBe(join(packageRoot, 'scenarios', 'scenarios.json'));
    expect(existsSync(join(packageRoot, 'package.json'))).toBe(true);

    const catalog = loadScenarioCatalog();
    expect(catalog.file).toBe(defaultScenarioFile);
    expect(catalog.statuses.map((s) => `${s.code} ${s.label}`)).toStrictEqual([
      'PENDING_PAYMENT 待支付',
      'PAYING 支付中',
      'AWAITING_ACCEPT 待接单',
      'AWAITING_ACCEPT_PRIORITY 高优先待接单',
      'DISPATCHING 派单',
      'AWAITING_SERVICE 待服务',
      'IN_SERVICE 服务中',
      'SERVICE_OVERDUE 服务超时',
      'SERVICE_DONE 服务完成',
      'REFUND_REQUESTED 退款申请中',
      'DISPUTE 服务纠纷',
      'REFUNDING 退款中',
      'REFUNDED 已退款',
      'CANCELLED 已取消',
      'CLOSED 已关闭',
    ]);
    expect(catalog.scenarios.map((s) => s.number)).toStrictEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    ]);
    expect(catalog.scenarios.filter((s) => s.includeNurse).map((s) => s.key)).toStrictEqual([
      'NURSE_ACCEPTED',
    ]);
  });

  it('orders scenarios by number whatever their order in the file', () => {
    const file = writeVariant((f) => ({ ...f, scenarios: [...f.scenarios].reverse() }));
    expect(loadScenarioCatalog(file).scenarios.map((s) => s.number)).toStrictEqual(
      loadScenarioCatalog().scenarios.map((s) => s.number),
    );
  });

  it('accepts a new scenario with no code change', () => {
    const file = writeVariant((f) => ({
      ...f,
      scenarios: [
        ...f.scenarios,
        {
          number: 16,
          key: 'ORDER_CLOSED',
          operate: '订单关闭',
          when: [{ from: '*', to: ['CLOSED'], reason: '*' }],
          recipient: 'patient',
          channel: 'wechat',
          template: '您的订单{{orderId}}已关闭。',
          link: false,
          includeNurse: false,
        },
      ],
    }));
    expect(loadScenarioCatalog(file).scenarios.at(-1)?.key).toBe('ORDER_CLOSED');
  });

  it.each([
    [
      'a duplicate key',
      editScenario('ACCEPT_TIMEOUT', { key: 'PAYMENT_TIMEOUT' }),
      /scenarios\[2\] \(PAYMENT_TIMEOUT\)\.key: duplicate "PAYMENT_TIMEOUT"/,
    ],
    [
      'a condition naming an unknown status',
      editScenario('SERVICE_STARTED', {
        when: [{ from: ['AWAITING_SERVIC'], to: ['IN_SERVICE'], reason: '*' }],
      }),
      /scenarios\[12\] \(SERVICE_STARTED\)\.when\[0\]\.from: unknown status "AWAITING_SERVIC"/,
    ],
    [
      'an unknown recipient rule',
      editScenario('NURSE_DISPUTE', { recipient: 'doctor' }),
      /scenarios\[11\] \(NURSE_DISPUTE\)\.recipient/,
    ],
    [
      'an unknown channel',
      editScenario('NURSE_DISPUTE', { channel: 'sms' }),
      /scenarios\[11\] \(NURSE_DISPUTE\)\.channel/,
    ],
    [
      'a misspelt field',
      editScenario('NURSE_DISPUTE', { includeNures: true }),
      /scenarios\[11\] \(NURSE_DISPUTE\).*includeNures/,
    ],
    [
      'a key that cannot be part of a job id',
      editScenario('NURSE_DISPUTE', { key: 'nurse:dispute' }),
      /scenarios\[11\] \(nurse:dispute\)\.key: must be UPPER_SNAKE_CASE/,
    ],
    [
      'a template that does not parse',
      editScenario('SERVICE_COMPLETED', { template: '护士已完成{{orderId' }),
      /scenarios\[14\] \(SERVICE_COMPLETED\)\.template: does not render: Parse error/,
    ],
    [
      'a template naming an unknown variable',
      editScenario('SERVICE_COMPLETED', { template: '{{patientName}}，护士已完成' }),
      /scenarios\[14\] \(SERVICE_COMPLETED\)\.template: does not render: "patientName" not defined/,
    ],
    [
      'the nurse in a template of a scenario without includeNurse',
      editScenario('SERVICE_COMPLETED', { template: '{{nurse.name}}已完成' }),
      /scenarios\[14\] \(SERVICE_COMPLETED\)\.template: does not render: "name" not defined in undefined/,
    ],
    [
      'a duplicate status code',
      (f: typeof shipped) => ({ ...f, statuses: [...f.statuses, f.statuses[0]] }),
      /statuses\[15\]\.code: duplicate "PENDING_PAYMENT"/,
    ],
  ])('rejects %s, naming the file and the field', (_what, edit, problem) => {
    const file = writeVariant(edit);
    expect(() => loadScenarioCatalog(file)).toThrow(`invalid scenario file ${file}:`);
    expect(() => loadScenarioCatalog(file)).toThrow(problem);
  });

  it('rejects a file that is not JSON, naming it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'push-scenarios-')), 'scenarios.json');
    writeFileSync(file, '{ "statuses": [');
    expect(() => loadScenarioCatalog(file)).toThrow(`cannot read scenario file ${file}:`);
    expect(() => loadScenarioCatalog(join(file, 'missing.json'))).toThrow(
      /cannot read scenario file/,
    );
  });
});
