import { describe, it, expect } from 'vitest';
import { loadScenarioCatalog } from '../../src/scenarios/catalog.js';
import { matchEvent } from '../../src/scenarios/match-event.js';
import { sampleEvent as event } from '../support/sample-event.js';

const catalog = loadScenarioCatalog();

const patient = { role: 'patient', id: '98' };
const nurse = { role: 'nurse', id: '7' };

// One concrete change per SPEC §4 row; each must fire exactly that scenario.
const cases = [
  ['PENDING_PAYMENT', 'CANCELLED', 'PAYMENT_TIMEOUT', 'PAYMENT_TIMEOUT', patient, 'wechat'],
  ['PAYING', 'CANCELLED', 'PAYMENT_TIMEOUT', 'PAYMENT_TIMEOUT', patient, 'wechat'],
  ['PAYING', 'AWAITING_ACCEPT', null, 'PAYMENT_SUCCEEDED', nurse, 'app'],
  ['PAYING', 'AWAITING_ACCEPT_PRIORITY', 'PAID', 'PAYMENT_SUCCEEDED', nurse, 'app'],
  ['DISPATCHING', 'REFUNDING', 'ACCEPT_TIMEOUT', 'ACCEPT_TIMEOUT', patient, 'wechat'],
  ['DISPUTE', 'REFUNDING', 'REFUND_APPROVED', 'REFUND_APPROVED', patient, 'wechat'],
  ['IN_SERVICE', 'REFUNDING', 'NURSE_CANCELLED', 'NURSE_CANCELLED', patient, 'wechat'],
  ['SERVICE_DONE', 'REFUND_REQUESTED', 'PATIENT_REQUESTED', 'REFUND_REQUESTED', nurse, 'app'],
  ['REFUND_REQUESTED', 'IN_SERVICE', 'REFUND_WITHDRAWN', 'REFUND_WITHDRAWN', nurse, 'app'],
  ['DISPATCHING', 'AWAITING_SERVICE', null, 'NURSE_ACCEPTED', patient, 'wechat'],
  ['REFUND_REQUESTED', 'DISPUTE', 'NURSE_REJECTED', 'REFUND_REJECTED_BY_NURSE', patient, 'wechat'],
  ['REFUND_REQUESTED', 'DISPUTE', 'CONFIRM_TIMEOUT', 'REFUND_CONFIRM_TIMEOUT', patient, 'wechat'],
  ['DISPUTE', 'SERVICE_DONE', 'REFUND_REJECTED', 'REFUND_REJECTED_BY_OPS', patient, 'wechat'],
  ['IN_SERVICE', 'DISPUTE', 'NURSE_DISPUTE', 'NURSE_DISPUTE', patient, 'wechat'],
  ['AWAITING_SERVICE', 'IN_SERVICE', null, 'SERVICE_STARTED', patient, 'wechat'],
  ['IN_SERVICE', 'SERVICE_OVERDUE', null, 'SERVICE_OVERDUE', nurse, 'app'],
  ['IN_SERVICE', 'IN_SERVICE', 'SERVICE_ABNORMAL', 'SERVICE_OVERDUE', nurse, 'app'],
  ['SERVICE_OVERDUE', 'SERVICE_OVERDUE', 'SERVICE_ABNORMAL', 'SERVICE_OVERDUE', nurse, 'app'],
  ['SERVICE_OVERDUE', 'SERVICE_DONE', 'NURSE_FINISHED', 'SERVICE_COMPLETED', patient, 'wechat'],
] as const;

describe('matchEvent', () => {
  it.each(cases)(
    '%s → %s (reason %s) fires %s only',
    (from, to, reason, key, recipient, channel) => {
      const result = matchEvent(event(from, to, reason), catalog);
      expect(result).toStrictEqual({
        pushes: [
          {
            idempotencyKey: `evt-456-${key}`,
            scenario: key,
            event: event(from, to, reason),
            recipient,
            channel,
          },
        ],
        unknownStatuses: [],
      });
    },
  );

  it('covers all 15 scenarios in the table above', () => {
    expect(new Set(cases.map((c) => c[3])).size).toBe(15);
    expect(catalog.scenarios).toHaveLength(15);
  });

  it.each([
    ['PENDING_PAYMENT', 'PAYING', null],
    ['PENDING_PAYMENT', 'CANCELLED', 'PATIENT_CANCELLED'],
    ['REFUNDING', 'REFUNDED', null],
    ['SERVICE_DONE', 'CLOSED', null],
    // Near misses: the right transition with the wrong reason, and vice versa.
    ['DISPATCHING', 'REFUNDING', 'REFUND_APPROVED'],
    ['IN_SERVICE', 'IN_SERVICE', 'SOMETHING_ELSE'],
    ['AWAITING_SERVICE', 'AWAITING_SERVICE', 'SERVICE_ABNORMAL'],
    ['SERVICE_OVERDUE', 'IN_SERVICE', 'SERVICE_ABNORMAL'],
    [null, 'PENDING_PAYMENT', null],
  ] as const)('%s → %s (reason %s) fires nothing', (from, to, reason) => {
    expect(matchEvent(event(from, to, reason), catalog)).toStrictEqual({
      pushes: [],
      unknownStatuses: [],
    });
  });

  it('matches nothing for an unknown status and reports the code', () => {
    expect(matchEvent(event('PAYING', 'TELEPORTED'), catalog)).toStrictEqual({
      pushes: [],
      unknownStatuses: ['TELEPORTED'],
    });
    expect(matchEvent(event('LIMBO', 'LIMBO'), catalog).unknownStatuses).toStrictEqual(['LIMBO']);
    expect(matchEvent(event('LIMBO', 'AWAITING_SERVICE'), catalog).unknownStatuses).toStrictEqual([
      'LIMBO',
    ]);
  });

  it('fires scenario 14 once when a change satisfies both of its conditions', () => {
    const { pushes } = matchEvent(
      event('IN_SERVICE', 'SERVICE_OVERDUE', 'SERVICE_ABNORMAL'),
      catalog,
    );
    expect(pushes.map((p) => p.scenario)).toStrictEqual(['SERVICE_OVERDUE']);
  });

  it('offers a paid order without a nurse to the nurse pool (scenario 2)', () => {
    const unassigned = { ...event('PAYING', 'AWAITING_ACCEPT'), nurseId: null };
    const [push] = matchEvent(unassigned, catalog).pushes;
    expect(push?.recipient).toStrictEqual({ role: 'nurse', pool: true });
  });

  it('still produces the push, with id null, when the order lacks the recipient', () => {
    const noPatient = { ...event('AWAITING_SERVICE', 'IN_SERVICE'), patientId: null };
    const noNurse = { ...event('IN_SERVICE', 'SERVICE_OVERDUE'), nurseId: null };
    expect(matchEvent(noPatient, catalog).pushes[0]?.recipient).toStrictEqual({
      role: 'patient',
      id: null,
    });
    expect(matchEvent(noNurse, catalog).pushes[0]?.recipient).toStrictEqual({
      role: 'nurse',
      id: null,
    });
  });

  it('emits pushes in scenario number order when several fire', () => {
    const both = {
      ...catalog,
      scenarios: catalog.scenarios.map((s) =>
        s.key === 'SERVICE_STARTED' || s.key === 'NURSE_DISPUTE'
          ? { ...s, when: [{ from: '*', to: '*', reason: ['X'] }] as typeof s.when }
          : s,
      ),
    };
    expect(
      matchEvent(event('PAYING', 'PAYING', 'X'), both).pushes.map((p) => p.scenario),
    ).toStrictEqual(['NURSE_DISPUTE', 'SERVICE_STARTED']);
  });
});
