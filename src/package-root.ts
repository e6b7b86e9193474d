import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  let dir = start;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return dir;
}

/** The project's root, whether running from src/ (tests) or dist/src/ (the built CLI). */
export const packageRoot = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));
