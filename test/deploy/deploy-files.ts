// What the deployment tests share: where the files under deploy/ are, how to read their YAML,
// and how to run the checking tools (promtool, docker-compose) so that a missing tool fails
// with how to install it instead of ENOENT.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/package-root.js';

const run = promisify(execFile);

export const DEPLOY_DIR = join(packageRoot, 'deploy');

export function deployPath(...parts: string[]): string {
  return join(DEPLOY_DIR, ...parts);
}

export interface ToolResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** Runs a checking tool; a non-zero exit is a result, a missing tool is an error naming its package. */
export async function runTool(
  command: string,
  args: string[],
  options: { cwd?: string; installHint: string },
): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await run(command, args, {
      cwd: options.cwd ?? packageRoot,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { ok: true, stdout, stderr };
  } catch (err) {
    const e = err as { code?: string | number; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(`${command} is not installed: ${options.installHint}`);
    }
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export const PROMTOOL_HINT =
  '`apt-get install prometheus` (Debian ships promtool in it; .ci/run installs it)';

export function promtool(args: string[], cwd?: string): Promise<ToolResult> {
  return runTool('promtool', args, { cwd, installHint: PROMTOOL_HINT });
}

/** Every document of a YAML file (`---`-separated), as plain objects; a syntax error throws. */
export async function readYamlDocuments(path: string): Promise<unknown[]> {
  const documents = parseAllDocuments(await readFile(path, 'utf8'));
  if (!Array.isArray(documents)) return [];
  return documents
    .map((document) => {
      if (document.errors.length > 0) {
        throw new Error(`${path}: ${document.errors.map((e) => e.message).join('; ')}`);
      }
      return document.toJS() as unknown;
    })
    .filter((value) => value !== null && value !== undefined);
}

export async function readYaml<T>(path: string): Promise<T> {
  const [first] = await readYamlDocuments(path);
  return first as T;
}
