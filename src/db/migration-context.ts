/** What the migrations need to know about the order service's schema (SPEC §2). */
export interface MigrationContext {
  ordersTable: string;
  outboxTable: string;
  attemptsTable: string;
  outcomesTable: string;
  orderColumns: {
    id: string;
    patientId: string;
    nurseId: string;
    status: string;
    statusReason: string;
  };
}

export const DEFAULT_ORDER_COLUMNS: MigrationContext['orderColumns'] = {
  id: 'id',
  patientId: 'patient_id',
  nurseId: 'nurse_id',
  status: 'status',
  statusReason: 'status_reason',
};

export const OUTBOX_TABLE = 'order_events';
export const ATTEMPTS_TABLE = 'push_attempts';
export const OUTCOMES_TABLE = 'push_outcomes';

export function migrationContextOf(config: {
  ordersTable: string;
  orderColumns: MigrationContext['orderColumns'];
}): MigrationContext {
  return {
    ordersTable: config.ordersTable,
    outboxTable: OUTBOX_TABLE,
    attemptsTable: ATTEMPTS_TABLE,
    outcomesTable: OUTCOMES_TABLE,
    orderColumns: config.orderColumns,
  };
}
