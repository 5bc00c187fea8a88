/** An outbox event for the pure matching and rendering tests: order 123, patient 98, nurse 7. */
import type { OrderEvent } from '../../src/scenarios/types.js';

export function sampleEvent(
  fromStatus: string | null,
  toStatus: string,
  toReason: string | null = null,
): OrderEvent {
  return {
    eventId: '456',
    orderId: '123',
    patientId: '98',
    nurseId: '7',
    fromStatus,
    toStatus,
    fromReason: null,
    toReason,
    occurredAt: '2024-05-01T08:00:00.000Z',
  };
}
