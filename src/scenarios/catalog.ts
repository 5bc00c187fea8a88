/**
 * The scenario catalog: SPEC §3 statuses and §4 push scenarios, read from a data file
 * (`scenarios/scenarios.json`) so that adding a scenario or changing a text needs no
 * TypeScript change. Loaded once at start; every mistake in the file is reported at once,
 * naming the file and the scenario, rather than surfacing later as dead-lettered pushes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { z } from 'zod';
import { packageRoot } from '../package-root.js';
import type { Nurse } from './types.js';

export const defaultScenarioFile = join(packageRoot, 'scenarios', 'scenarios.json');

/**
 * Plain text, not HTML (pushes are not web pages), and a variable the context lacks is an
 * error rather than a silently empty string. Shared with the renderer.
 */
export const TEMPLATE_OPTIONS = { strict: true, noEscape: true } as const;

/** What a template may name; the renderer builds exactly this context for every push. */
export const TEMPLATE_VARIABLES = [
  'orderId',
  'eventId',
  'patientId',
  'nurseId',
  'fromStatus',
  'toStatus',
  'fromStatusLabel',
  'toStatusLabel',
  'fromReason',
  'toReason',
  'occurredAt',
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
/** `nurse` is present only when the worker looked the nurse up (includeNurse scenarios). */
export type TemplateContext = Record<TemplateVariable, string | null> & { nurse?: Nurse };

/** A context with every variable set, to try templates out before any event arrives. */
export function sampleTemplateContext(withNurse: boolean): TemplateContext {
  const context = Object.fromEntries(TEMPLATE_VARIABLES.map((name) => [name, name])) as Record<
    TemplateVariable,
    string
  >;
  return withNurse ? { ...context, nurse: { id: 'nurse.id', name: 'nurse.name' } } : context;
}

const codeList = z.union([z.literal('*'), z.array(z.string().min(1)).min(1)]);

const conditionSchema = z.strictObject({
  from: codeList,
  to: codeList,
  /** Matched against the new status_reason. */
  reason: codeList,
  /** true: the status did not change (only the reason did); false: it did; absent: either. */
  sameStatus: z.boolean().optional(),
});

const scenarioSchema = z.strictObject({
  number: z.number().int().positive(),
  // The key ends up in BullMQ job ids (`evt-<eventId>-<KEY>`), which must not contain ':',
  // and in push_outcomes (VARCHAR(64); the key, 100 with the event id).
  key: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]*$/, 'must be UPPER_SNAKE_CASE')
    .max(64, 'must be at most 64 characters'),
  /** The 场景 name; Singer's `operate` field and the operations log line. */
  operate: z.string().min(1),
  /** Alternatives: the scenario fires when any one holds. */
  when: z.array(conditionSchema).min(1),
  recipient: z.enum(['patient', 'nurse', 'nurse-or-pool']),
  channel: z.enum(['wechat', 'app']),
  template: z.string().min(1),
  /** The push carries a `url` to the order's detail page (ORDER_DETAIL_URL). */
  link: z.boolean(),
  /** The push's data.nurse carries the order's nurse (id, name). */
  includeNurse: z.boolean(),
});

const statusSchema = z.strictObject({ code: z.string().min(1), label: z.string().min(1) });

const catalogFileSchema = z
  .strictObject({
    $comment: z.string().optional(),
    statuses: z.array(statusSchema).min(1),
    scenarios: z.array(scenarioSchema),
  })
  .superRefine((file, ctx) => {
    const problem = (path: PropertyKey[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });

    const codes = new Set<string>();
    file.statuses.forEach((status, i) => {
      if (codes.has(status.code)) problem(['statuses', i, 'code'], `duplicate "${status.code}"`);
      codes.add(status.code);
    });

    const keys = new Set<string>();
    const numbers = new Set<number>();
    const handlebars = Handlebars.create();
    file.scenarios.forEach((scenario, i) => {
      if (keys.has(scenario.key)) problem(['scenarios', i, 'key'], `duplicate "${scenario.key}"`);
      keys.add(scenario.key);
      if (numbers.has(scenario.number)) {
        problem(['scenarios', i, 'number'], `duplicate ${scenario.number}`);
      }
      numbers.add(scenario.number);

      scenario.when.forEach((condition, j) => {
        for (const side of ['from', 'to'] as const) {
          const listed = condition[side];
          if (listed === '*') continue;
          for (const code of listed.filter((c) => !codes.has(c))) {
            problem(['scenarios', i, 'when', j, side], `unknown status "${code}"`);
          }
        }
      });

      // Handlebars compiles lazily, so only a render proves the syntax and the variables.
      try {
        handlebars.compile(
          scenario.template,
          TEMPLATE_OPTIONS,
        )(sampleTemplateContext(scenario.includeNurse));
      } catch (err) {
        problem(['scenarios', i, 'template'], `does not render: ${errorMessage(err)}`);
      }
    });
  });

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioCondition = z.infer<typeof conditionSchema>;
export type OrderStatus = z.infer<typeof statusSchema>;

export interface ScenarioCatalog {
  /** Where it was read from, for messages. */
  file: string;
  statuses: readonly OrderStatus[];
  /** The statuses' codes: what tells an unknown status from a known one. */
  statusCodes: ReadonlySet<string>;
  /** Sorted by number: matching emits pushes in this order. */
  scenarios: readonly Scenario[];
}

/** Reads and validates the scenario file; throws an Error naming the file and every problem. */
export function loadScenarioCatalog(file: string = defaultScenarioFile): ScenarioCatalog {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read scenario file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  return parseScenarioCatalog(raw, file);
}

/** Validates already-parsed file contents; `file` is only used in messages. */
export function parseScenarioCatalog(raw: unknown, file: string): ScenarioCatalog {
  const parsed = catalogFileSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${describePath(i.path, raw)}: ${i.message}`);
    throw new Error(`invalid scenario file ${file}:\n${lines.join('\n')}`);
  }
  const scenarios = [...parsed.data.scenarios].sort((a, b) => a.number - b.number);
  return Object.freeze({
    file,
    statuses: Object.freeze(parsed.data.statuses),
    statusCodes: new Set(parsed.data.statuses.map((status) => status.code)),
    scenarios: Object.freeze(scenarios),
  });
}

/** `scenarios[7] (NURSE_ACCEPTED).when[0].from`: the scenario's key helps more than its index. */
function describePath(path: readonly PropertyKey[], raw: unknown): string {
  const [head, index, ...rest] = path;
  let text = String(head ?? '(file)');
  if (index !== undefined) text += `[${String(index)}]`;
  if (head === 'scenarios' && typeof index === 'number') {
    const key = scenarioKeyAt(raw, index);
    if (key !== undefined) text += ` (${key})`;
  }
  for (const part of rest) text += typeof part === 'number' ? `[${part}]` : `.${String(part)}`;
  return text;
}

function scenarioKeyAt(raw: unknown, index: number): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const scenarios = (raw as { scenarios?: unknown }).scenarios;
  if (!Array.isArray(scenarios)) return undefined;
  const key: unknown = (scenarios[index] as { key?: unknown } | undefined)?.key;
  return typeof key === 'string' ? key : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
