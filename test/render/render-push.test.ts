import { describe, it, expect } from 'vitest';
import { loadScenarioCatalog, type ScenarioCatalog } from '../../src/scenarios/catalog.js';
import { matchEvent } from '../../src/scenarios/match-event.js';
import { createPushRenderer } from '../../src/render/render-push.js';
import { RenderError } from '../../src/render/render-error.js';
import type { OrderEvent, PushJob } from '../../src/scenarios/types.js';
import { sampleEvent as event } from '../support/sample-event.js';

const catalog = loadScenarioCatalog();
const orderDetailUrl = 'https://m.example.com/orders/{{orderId}}';
const renderer = createPushRenderer(catalog, { orderDetailUrl });
const wangFang = { id: '7', name: '王芳' };

/** The one push an event fires; fails the test if it fires none or several. */
function onlyPush(e: OrderEvent, from: ScenarioCatalog = catalog): PushJob {
  const { pushes } = matchEvent(e, from);
  expect(pushes).toHaveLength(1);
  return pushes[0]!;
}

const patient = { role: 'patient', id: '98' };
const nurse = { role: 'nurse', id: '7' };

// SPEC §4, texts copied literally: a typo in scenarios.json must fail here.
const cases = [
  {
    n: 1,
    from: 'PENDING_PAYMENT',
    to: 'CANCELLED',
    reason: 'PAYMENT_TIMEOUT',
    key: 'PAYMENT_TIMEOUT',
    operate: '患者支付超时',
    recipient: patient,
    channel: 'wechat',
    content: '您的订单由于长时间没支付，已被取消。',
    link: false,
  },
  {
    n: 2,
    from: 'PAYING',
    to: 'AWAITING_ACCEPT',
    reason: null,
    key: 'PAYMENT_SUCCEEDED',
    operate: '患者支付成功',
    recipient: nurse,
    channel: 'app',
    content: '您有新的可接接单。',
    link: false,
  },
  {
    n: 3,
    from: 'AWAITING_ACCEPT_PRIORITY',
    to: 'REFUNDING',
    reason: 'ACCEPT_TIMEOUT',
    key: 'ACCEPT_TIMEOUT',
    operate: '订单2小时无人接单',
    recipient: patient,
    channel: 'wechat',
    content: '您的订单超时无人接单，正在给您退款。',
    link: false,
  },
  {
    n: 4,
    from: 'REFUND_REQUESTED',
    to: 'REFUNDING',
    reason: 'REFUND_APPROVED',
    key: 'REFUND_APPROVED',
    operate: '同意退款',
    recipient: patient,
    channel: 'wechat',
    content: '您的退款已被同意，正在给您退款。',
    link: false,
  },
  {
    n: 5,
    from: 'IN_SERVICE',
    to: 'REFUNDING',
    reason: 'NURSE_CANCELLED',
    key: 'NURSE_CANCELLED',
    operate: '护士取消订单',
    recipient: patient,
    channel: 'wechat',
    content: '抱歉！为您服务的护士已取消订单，正在给您退款。',
    link: false,
  },
  {
    n: 6,
    from: 'IN_SERVICE',
    to: 'REFUND_REQUESTED',
    reason: null,
    key: 'REFUND_REQUESTED',
    operate: '患者申请退款',
    recipient: nurse,
    channel: 'app',
    content: '您的订单患者正申请退款。',
    link: false,
  },
  {
    n: 7,
    from: 'DISPUTE',
    to: 'IN_SERVICE',
    reason: 'REFUND_WITHDRAWN',
    key: 'REFUND_WITHDRAWN',
    operate: '患者取消退款',
    recipient: nurse,
    channel: 'app',
    content: '您的订单患者已取消退款',
    link: false,
  },
  {
    n: 8,
    from: 'AWAITING_ACCEPT',
    to: 'AWAITING_SERVICE',
    reason: null,
    key: 'NURSE_ACCEPTED',
    operate: '护士接单',
    recipient: patient,
    channel: 'wechat',
    content: '您的订单已接单，点击查看订单详情。',
    link: true,
  },
  {
    n: 9,
    from: 'REFUND_REQUESTED',
    to: 'DISPUTE',
    reason: 'NURSE_REJECTED',
    key: 'REFUND_REJECTED_BY_NURSE',
    operate: '接单后患者发起退款，护士拒绝',
    recipient: patient,
    channel: 'wechat',
    content: '您的退款申请护士已拒绝，等待客服人员处理，点击查看订单详情',
    link: true,
  },
  {
    n: 10,
    from: 'REFUND_REQUESTED',
    to: 'DISPUTE',
    reason: 'CONFIRM_TIMEOUT',
    key: 'REFUND_CONFIRM_TIMEOUT',
    operate: '接单后患者发起退款，超时',
    recipient: patient,
    channel: 'wechat',
    content: '您的退款申请由于长时间无人确认，需等待客服人员处理，点击查看订单详情。',
    link: true,
  },
  {
    n: 11,
    from: 'DISPUTE',
    to: 'SERVICE_DONE',
    reason: 'REFUND_REJECTED',
    key: 'REFUND_REJECTED_BY_OPS',
    operate: '服务纠纷时，运营拒绝退款',
    recipient: patient,
    channel: 'wechat',
    content: '您的退款申请客服人员已拒绝，点击查看订单详情。',
    link: true,
  },
  {
    n: 12,
    from: 'IN_SERVICE',
    to: 'DISPUTE',
    reason: 'NURSE_DISPUTE',
    key: 'NURSE_DISPUTE',
    operate: '服务中，护士进入纠纷',
    recipient: patient,
    channel: 'wechat',
    content: '为您服务的护士选择进入纠纷，点击查看订单详情。',
    link: true,
  },
  {
    n: 13,
    from: 'AWAITING_SERVICE',
    to: 'IN_SERVICE',
    reason: null,
    key: 'SERVICE_STARTED',
    operate: '服务开始',
    recipient: patient,
    channel: 'wechat',
    content: '您的订单服务已开始，可以查看宣教内容，点击查看详情。',
    link: true,
  },
  {
    n: 14,
    from: 'IN_SERVICE',
    to: 'SERVICE_OVERDUE',
    reason: null,
    key: 'SERVICE_OVERDUE',
    operate: '服务超时/异常',
    recipient: nurse,
    channel: 'app',
    content: '您的订单已超时，请尽快完成服务。',
    link: false,
  },
  {
    n: 15,
    from: 'IN_SERVICE',
    to: 'SERVICE_DONE',
    reason: null,
    key: 'SERVICE_COMPLETED',
    operate: '服务完成（护士触发）',
    recipient: patient,
    channel: 'wechat',
    content: '护士已完成订单所有服务步骤，请及时做出评价。',
    link: false,
  },
] as const;

describe('createPushRenderer', () => {
  it.each(cases)(
    'scenario $n: $from → $to (reason $reason) renders SPEC §4 exactly',
    ({ from, to, reason, key, operate, recipient, channel, content, link }) => {
      const job = onlyPush(event(from, to, reason));
      const nurseRow = renderer.needsNurse(key) ? wangFang : undefined;
      expect(renderer.render(job, nurseRow)).toStrictEqual({
        idempotencyKey: `evt-456-${key}`,
        channel,
        to: recipient,
        scenario: key,
        operate,
        content,
        ...(link ? { url: 'https://m.example.com/orders/123' } : {}),
        data: {
          orderId: '123',
          eventId: '456',
          ...(key === 'NURSE_ACCEPTED' ? { nurse: { id: '7', name: '王芳' } } : {}),
        },
      });
    },
  );

  it('renders SPEC §5 example body for scenario 8, nurse included', () => {
    const job = onlyPush(event('AWAITING_ACCEPT', 'AWAITING_SERVICE'));
    const body = renderer.render(job, { ...wangFang, phone: '138…' } as typeof wangFang);
    expect(JSON.parse(JSON.stringify(body))).toStrictEqual({
      idempotencyKey: 'evt-456-NURSE_ACCEPTED',
      channel: 'wechat',
      to: { role: 'patient', id: '98' },
      scenario: 'NURSE_ACCEPTED',
      operate: '护士接单',
      content: '您的订单已接单，点击查看订单详情。',
      url: 'https://m.example.com/orders/123',
      data: { orderId: '123', eventId: '456', nurse: { id: '7', name: '王芳' } },
    });
  });

  it('only scenario 8 needs the nurse', () => {
    const needing = catalog.scenarios.filter((s) => renderer.needsNurse(s.key)).map((s) => s.key);
    expect(needing).toStrictEqual(['NURSE_ACCEPTED']);
    expect(renderer.needsNurse('NO_SUCH_SCENARIO')).toBe(false);
  });

  it('addresses scenario 2 to the nurse pool, with no id, when the order has no nurse', () => {
    const job = onlyPush({ ...event('PAYING', 'AWAITING_ACCEPT_PRIORITY'), nurseId: null });
    const body = renderer.render(job);
    expect(body.to).toStrictEqual({ role: 'nurse', pool: true });
    expect(body.content).toBe('您有新的可接接单。');
  });

  it('fails with RenderError naming event, order and scenario for an unknown scenario', () => {
    const job = { ...onlyPush(event('AWAITING_SERVICE', 'IN_SERVICE')), scenario: 'GONE' };
    expect(() => renderer.render(job)).toThrow(RenderError);
    expect(() => renderer.render(job)).toThrow(
      /event 456, order 123, scenario GONE: unknown scenario/,
    );
  });

  it('fails with RenderError when the order has no patient_id', () => {
    const job = onlyPush({ ...event('AWAITING_SERVICE', 'IN_SERVICE'), patientId: null });
    expect(() => renderer.render(job)).toThrow(
      new RenderError(
        { eventId: '456', orderId: '123', scenario: 'SERVICE_STARTED' },
        'order 123 has no patient_id',
      ),
    );
  });

  it('fails with RenderError when the order has no nurse_id for a nurse push', () => {
    const job = onlyPush({ ...event('IN_SERVICE', 'SERVICE_OVERDUE'), nurseId: null });
    expect(() => renderer.render(job)).toThrow(/order 123 has no nurse_id/);
  });

  it('fails with RenderError when scenario 8 gets no nurse, or the wrong one', () => {
    const job = onlyPush(event('AWAITING_ACCEPT', 'AWAITING_SERVICE'));
    expect(() => renderer.render(job)).toThrow(RenderError);
    expect(() => renderer.render(job)).toThrow(/nurse 7 was not given/);
    expect(() => renderer.render(job, { id: '8', name: '李娜' })).toThrow(
      /nurse 8 was given, but the order's nurse_id is 7/,
    );
    const noNurse = onlyPush({ ...event('DISPATCHING', 'AWAITING_SERVICE'), nurseId: null });
    expect(() => renderer.render(noNurse, wangFang)).toThrow(/order 123 has no nurse_id/);
  });

  describe('with templates edited in the data', () => {
    // Built in memory, bypassing the loader's checks, to reach the renderer's own.
    function withTemplate(key: string, template: string): ScenarioCatalog {
      return {
        ...catalog,
        scenarios: catalog.scenarios.map((s) => (s.key === key ? { ...s, template } : s)),
      };
    }

    it('fails with RenderError, not an empty string, when a template names a missing variable', () => {
      const edited = withTemplate('SERVICE_STARTED', '{{patientName}}，您的服务已开始');
      const job = onlyPush(event('AWAITING_SERVICE', 'IN_SERVICE'), edited);
      let thrown: unknown;
      try {
        createPushRenderer(edited, { orderDetailUrl }).render(job);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(RenderError);
      expect((thrown as RenderError).message).toMatch(
        /^event 456, order 123, scenario SERVICE_STARTED: cannot render the text: "patientName" not defined/,
      );
      expect((thrown as RenderError).cause).toBeInstanceOf(Error);
    });

    it('renders plain text: no HTML escaping; status labels and the nurse are available', () => {
      const edited = withTemplate(
        'NURSE_ACCEPTED',
        '{{nurse.name}}已接单（{{fromStatusLabel}}→{{toStatusLabel}}），订单{{orderId}}',
      );
      const job = onlyPush(event('DISPATCHING', 'AWAITING_SERVICE'), edited);
      const body = createPushRenderer(edited, { orderDetailUrl }).render(job, {
        id: '7',
        name: '<王&芳>',
      });
      expect(body.content).toBe('<王&芳>已接单（派单→待服务），订单123');
    });
  });

  it('refuses an ORDER_DETAIL_URL template that names an unknown variable, at creation', () => {
    expect(() =>
      createPushRenderer(catalog, { orderDetailUrl: 'https://m.example.com/o/{{order_id}}' }),
    ).toThrow(/ORDER_DETAIL_URL .* is not a usable template/);
  });
});
