/**
 * The demo's orders and their lives: each step is what the order service would write, as
 * a plain UPDATE, so the trigger records it like any production change.
 */
export interface DemoStep {
  status: string;
  reason?: string;
  nurseId?: number;
  /** What happens, for the narration. */
  says: string;
}

export interface DemoOrder {
  patientId: number;
  nurseId: number | null;
  title: string;
  steps: DemoStep[];
}

export const DEMO_ORDERS: readonly DemoOrder[] = [
  {
    patientId: 98,
    nurseId: null,
    title: 'a home visit, from payment to completion',
    steps: [
      { status: 'PAYING', says: 'the patient starts paying' },
      { status: 'AWAITING_ACCEPT', says: 'payment succeeds; the order waits for a nurse' },
      { status: 'AWAITING_SERVICE', nurseId: 7, says: 'nurse 7 accepts the order' },
      { status: 'IN_SERVICE', says: 'the service begins' },
      { status: 'SERVICE_DONE', says: 'the nurse completes every step' },
      { status: 'CLOSED', says: 'the order is closed' },
    ],
  },
  {
    patientId: 99,
    nurseId: null,
    title: 'an order never paid',
    steps: [
      { status: 'PAYING', says: 'the patient starts paying' },
      { status: 'CANCELLED', reason: 'PAYMENT_TIMEOUT', says: 'payment times out' },
    ],
  },
  {
    patientId: 100,
    nurseId: 8,
    title: 'a refund, refused by the nurse, settled by customer service',
    steps: [
      { status: 'PAYING', says: 'the patient starts paying' },
      { status: 'AWAITING_ACCEPT_PRIORITY', says: 'payment succeeds (priority order for nurse 8)' },
      { status: 'AWAITING_SERVICE', says: 'nurse 8 accepts' },
      { status: 'IN_SERVICE', says: 'the service begins' },
      { status: 'REFUND_REQUESTED', says: 'the patient asks for a refund' },
      { status: 'DISPUTE', reason: 'NURSE_REJECTED', says: 'the nurse rejects the refund' },
      { status: 'REFUNDING', reason: 'REFUND_APPROVED', says: 'customer service approves it' },
      { status: 'REFUNDED', says: 'the money is back' },
    ],
  },
];
