// When a claim may hand off without the ordering query (src/outbox/defer-out-of-order.ts):
// only when the head of the backlog, read right after the claim, holds nothing of anyone
// else's below the claim's last id.
import { expect, it } from 'vitest';
import { claimSkippedNothing } from '../../src/outbox/defer-out-of-order.js';
import { sampleEvent } from '../support/sample-event.js';

const claim = (...ids: Array<number | string>) =>
  ids.map((id) => ({ ...sampleEvent('PAYING', 'AWAITING_ACCEPT'), eventId: String(id) }));
const head = (...ids: Array<number | string>) => ids.map(String);

it.each([
  ['the head is the claim', claim(10, 11, 12), head(10, 11, 12), true],
  ['the head goes on past the claim', claim(10, 11), head(10, 11, 12, 13), true],
  ['the head was cut off inside the claim', claim(10, 11, 12), head(10, 11), true],
  ['an id above the claim is not in the way', claim(10, 12), head(10, 12, 13), true],
  ['another poller holds the first row', claim(11, 12), head(10, 11, 12), false],
  ['a row between the claim’s rows is not in it', claim(10, 12), head(10, 11, 12), false],
  ['a row committed since, below the claim’s last', claim(10, 12), head(9, 10, 12), false],
  // As floating-point numbers both of these would be 9007199254740996.
  [
    'ids past 2^53 compare exactly',
    claim('9007199254740995'),
    head('9007199254740995', '9007199254740997'),
    true,
  ],
])('%s → %s', (_case, events, waitingHead, expected) => {
  expect(claimSkippedNothing(events, waitingHead)).toBe(expected);
});
