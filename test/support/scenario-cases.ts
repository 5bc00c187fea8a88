// SPEC §4's scenarios as test data: what each push must say, and one row per case that fires
// it (both forms of 14, both recipients of 2). Shared by the end-to-end scenario tests.

export interface ScenarioSpec {
  operate: string;
  channel: 'wechat' | 'app';
  content: string;
  link: boolean;
}

// SPEC §4, copied by hand (not read from scenarios.json): the texts must match to the character,
// including the missing full stop in 7 and 9.
export const SPEC: Record<string, ScenarioSpec> = {
  PAYMENT_TIMEOUT: {
    operate: '患者支付超时',
    channel: 'wechat',
    content: '您的订单由于长时间没支付，已被取消。',
    link: false,
  },
  PAYMENT_SUCCEEDED: {
    operate: '患者支付成功',
    channel: 'app',
    content: '您有新的可接接单。',
    link: false,
  },
  ACCEPT_TIMEOUT: {
    operate: '订单2小时无人接单',
    channel: 'wechat',
    content: '您的订单超时无人接单，正在给您退款。',
    link: false,
  },
  REFUND_APPROVED: {
    operate: '同意退款',
    channel: 'wechat',
    content: '您的退款已被同意，正在给您退款。',
    link: false,
  },
  NURSE_CANCELLED: {
    operate: '护士取消订单',
    channel: 'wechat',
    content: '抱歉！为您服务的护士已取消订单，正在给您退款。',
    link: false,
  },
  REFUND_REQUESTED: {
    operate: '患者申请退款',
    channel: 'app',
    content: '您的订单患者正申请退款。',
    link: false,
  },
  REFUND_WITHDRAWN: {
    operate: '患者取消退款',
    channel: 'app',
    content: '您的订单患者已取消退款',
    link: false,
  },
  NURSE_ACCEPTED: {
    operate: '护士接单',
    channel: 'wechat',
    content: '您的订单已接单，点击查看订单详情。',
    link: true,
  },
  REFUND_REJECTED_BY_NURSE: {
    operate: '接单后患者发起退款，护士拒绝',
    channel: 'wechat',
    content: '您的退款申请护士已拒绝，等待客服人员处理，点击查看订单详情',
    link: true,
  },
  REFUND_CONFIRM_TIMEOUT: {
    operate: '接单后患者发起退款，超时',
    channel: 'wechat',
    content: '您的退款申请由于长时间无人确认，需等待客服人员处理，点击查看订单详情。',
    link: true,
  },
  REFUND_REJECTED_BY_OPS: {
    operate: '服务纠纷时，运营拒绝退款',
    channel: 'wechat',
    content: '您的退款申请客服人员已拒绝，点击查看订单详情。',
    link: true,
  },
  NURSE_DISPUTE: {
    operate: '服务中，护士进入纠纷',
    channel: 'wechat',
    content: '为您服务的护士选择进入纠纷，点击查看订单详情。',
    link: true,
  },
  SERVICE_STARTED: {
    operate: '服务开始',
    channel: 'wechat',
    content: '您的订单服务已开始，可以查看宣教内容，点击查看详情。',
    link: true,
  },
  SERVICE_OVERDUE: {
    operate: '服务超时/异常',
    channel: 'app',
    content: '您的订单已超时，请尽快完成服务。',
    link: false,
  },
  SERVICE_COMPLETED: {
    operate: '服务完成（护士触发）',
    channel: 'wechat',
    content: '护士已完成订单所有服务步骤，请及时做出评价。',
    link: false,
  },
};

export interface Case {
  number: number;
  scenario: keyof typeof SPEC;
  from: string;
  to: string;
  reason?: string;
  /** The order's nurse_id before the change; default 7. */
  nurseId?: number | null;
  /** Columns the order service changes in the same UPDATE. */
  extra?: Record<string, number>;
  /** Who gets it: the order's patient, the order's nurse, or the nurse pool. */
  recipient: 'patient' | 'nurse' | 'pool';
  /** Scenario 8: the nurse's name in data.nurse (the sample nurses 7 王芳, 8 李娜, 9 张敏). */
  nurseName?: string;
}

// One row per case, as SPEC §4 reads.
// prettier-ignore
export const CASES: Case[] = [
  { number: 1, scenario: 'PAYMENT_TIMEOUT', from: 'PENDING_PAYMENT', to: 'CANCELLED', reason: 'PAYMENT_TIMEOUT', nurseId: null, recipient: 'patient' },
  { number: 1, scenario: 'PAYMENT_TIMEOUT', from: 'PAYING', to: 'CANCELLED', reason: 'PAYMENT_TIMEOUT', nurseId: null, recipient: 'patient' },
  { number: 2, scenario: 'PAYMENT_SUCCEEDED', from: 'PAYING', to: 'AWAITING_ACCEPT', nurseId: null, recipient: 'pool' },
  { number: 2, scenario: 'PAYMENT_SUCCEEDED', from: 'PAYING', to: 'AWAITING_ACCEPT_PRIORITY', nurseId: null, recipient: 'pool' },
  { number: 2, scenario: 'PAYMENT_SUCCEEDED', from: 'PAYING', to: 'AWAITING_ACCEPT', nurseId: 7, recipient: 'nurse' },
  { number: 2, scenario: 'PAYMENT_SUCCEEDED', from: 'PAYING', to: 'AWAITING_ACCEPT_PRIORITY', reason: 'PRIORITY_PAID', nurseId: 8, recipient: 'nurse' },
  { number: 3, scenario: 'ACCEPT_TIMEOUT', from: 'AWAITING_ACCEPT_PRIORITY', to: 'REFUNDING', reason: 'ACCEPT_TIMEOUT', nurseId: null, recipient: 'patient' },
  { number: 3, scenario: 'ACCEPT_TIMEOUT', from: 'DISPATCHING', to: 'REFUNDING', reason: 'ACCEPT_TIMEOUT', nurseId: null, recipient: 'patient' },
  { number: 4, scenario: 'REFUND_APPROVED', from: 'REFUND_REQUESTED', to: 'REFUNDING', reason: 'REFUND_APPROVED', recipient: 'patient' },
  { number: 4, scenario: 'REFUND_APPROVED', from: 'DISPUTE', to: 'REFUNDING', reason: 'REFUND_APPROVED', recipient: 'patient' },
  { number: 5, scenario: 'NURSE_CANCELLED', from: 'IN_SERVICE', to: 'REFUNDING', reason: 'NURSE_CANCELLED', recipient: 'patient' },
  { number: 6, scenario: 'REFUND_REQUESTED', from: 'IN_SERVICE', to: 'REFUND_REQUESTED', recipient: 'nurse' },
  { number: 6, scenario: 'REFUND_REQUESTED', from: 'SERVICE_DONE', to: 'REFUND_REQUESTED', reason: 'PATIENT_REQUESTED', nurseId: 9, recipient: 'nurse' },
  { number: 7, scenario: 'REFUND_WITHDRAWN', from: 'REFUND_REQUESTED', to: 'IN_SERVICE', reason: 'REFUND_WITHDRAWN', recipient: 'nurse' },
  { number: 7, scenario: 'REFUND_WITHDRAWN', from: 'DISPUTE', to: 'SERVICE_DONE', reason: 'REFUND_WITHDRAWN', nurseId: 8, recipient: 'nurse' },
  // The usual shape of 8: the nurse who accepts is written in the same UPDATE as the status.
  { number: 8, scenario: 'NURSE_ACCEPTED', from: 'AWAITING_ACCEPT', to: 'AWAITING_SERVICE', nurseId: null, extra: { nurse_id: 7 }, recipient: 'patient', nurseName: '王芳' },
  { number: 8, scenario: 'NURSE_ACCEPTED', from: 'AWAITING_ACCEPT_PRIORITY', to: 'AWAITING_SERVICE', nurseId: 8, recipient: 'patient', nurseName: '李娜' },
  { number: 8, scenario: 'NURSE_ACCEPTED', from: 'DISPATCHING', to: 'AWAITING_SERVICE', nurseId: null, extra: { nurse_id: 9 }, recipient: 'patient', nurseName: '张敏' },
  { number: 9, scenario: 'REFUND_REJECTED_BY_NURSE', from: 'REFUND_REQUESTED', to: 'DISPUTE', reason: 'NURSE_REJECTED', recipient: 'patient' },
  { number: 10, scenario: 'REFUND_CONFIRM_TIMEOUT', from: 'REFUND_REQUESTED', to: 'DISPUTE', reason: 'CONFIRM_TIMEOUT', recipient: 'patient' },
  { number: 11, scenario: 'REFUND_REJECTED_BY_OPS', from: 'DISPUTE', to: 'SERVICE_DONE', reason: 'REFUND_REJECTED', recipient: 'patient' },
  { number: 11, scenario: 'REFUND_REJECTED_BY_OPS', from: 'DISPUTE', to: 'CLOSED', reason: 'REFUND_REJECTED', recipient: 'patient' },
  { number: 12, scenario: 'NURSE_DISPUTE', from: 'IN_SERVICE', to: 'DISPUTE', reason: 'NURSE_DISPUTE', recipient: 'patient' },
  { number: 13, scenario: 'SERVICE_STARTED', from: 'AWAITING_SERVICE', to: 'IN_SERVICE', recipient: 'patient' },
  // 14, first form: IN_SERVICE → SERVICE_OVERDUE with any reason (none, or one).
  { number: 14, scenario: 'SERVICE_OVERDUE', from: 'IN_SERVICE', to: 'SERVICE_OVERDUE', recipient: 'nurse' },
  { number: 14, scenario: 'SERVICE_OVERDUE', from: 'IN_SERVICE', to: 'SERVICE_OVERDUE', reason: 'OVERTIME', nurseId: 9, recipient: 'nurse' },
  // 14, second form: the status stays, the reason becomes SERVICE_ABNORMAL.
  { number: 14, scenario: 'SERVICE_OVERDUE', from: 'IN_SERVICE', to: 'IN_SERVICE', reason: 'SERVICE_ABNORMAL', recipient: 'nurse' },
  { number: 14, scenario: 'SERVICE_OVERDUE', from: 'SERVICE_OVERDUE', to: 'SERVICE_OVERDUE', reason: 'SERVICE_ABNORMAL', nurseId: 8, recipient: 'nurse' },
  { number: 15, scenario: 'SERVICE_COMPLETED', from: 'IN_SERVICE', to: 'SERVICE_DONE', recipient: 'patient' },
  { number: 15, scenario: 'SERVICE_COMPLETED', from: 'SERVICE_OVERDUE', to: 'SERVICE_DONE', reason: 'NURSE_COMPLETED', recipient: 'patient' },
];
