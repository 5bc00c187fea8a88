import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding this project's package.json, so data files that ship beside the
 * code (`scenarios/scenarios.json`) are found the same way whether this module runs from
 * `src/` (vitest, tsx) or from `dist/src/` (compiled), and when installed under
 * node_modules. Walking up is simpler than counting `..` per layout.
 */
export const packageRoot: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    // tsc copies an imported package.json into its outDir (rootDir is "."), which would
    // make `dist/` look like the root; the real one is the directory above it.
    if (existsSync(join(dir, 'package.json')) && basename(dir) !== 'dist') return dir;
    if (dirname(dir) === dir) {
      throw new Error(`no package.json found above ${start}: cannot locate the package root`);
    }
  }
}

/** This package's version, from its package.json (`push --version`, push_build_info). */
export function packageVersion(): string {
  return (
    JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
  ).version;
}
