import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../src');

/**
 * Which parts of src/ each part may import (a part is a folder of src/, or a file at its root).
 * Arrows run one way, from the command line down to the vocabulary; a part not named here may
 * not be imported at all, and a new part must be placed here before it may import anything.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  cli: ['pipeline', 'validate', 'seed', 'reading', 'load', 'transform', 'extract', 'config', 'db', 'model', 'errors', 'package-root'],
  pipeline: ['validate', 'seed', 'reading', 'load', 'transform', 'extract', 'config', 'db', 'model', 'errors', 'package-root'],
  validate: ['reading', 'load', 'transform', 'extract', 'config', 'db', 'model', 'errors', 'package-root'],
  seed: ['extract', 'db', 'model', 'errors', 'package-root'],
  reading: ['transform', 'extract', 'config', 'db', 'model', 'errors'],
  load: ['db', 'model', 'errors', 'package-root'],
  extract: ['db', 'model', 'errors'],
  transform: ['model'],
  config: ['model', 'errors'],
  db: ['errors'],
  model: [],
  errors: [],
  'package-root': [],
};

/** The packages the pure parts may use: the vocabulary none, the transform its schemas and hashing. */
const PURE_PACKAGES: Record<string, readonly string[]> = {
  model: [],
  transform: ['zod', 'node:crypto'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

function partOf(file: string): string {
  const [first, ...rest] = path.relative(SRC, file).split(path.sep);
  return rest.length > 0 ? first! : first!.replace(/\.[cm]?[jt]s$/, '');
}

/** Every relative module a file names: static, type-only and dynamic imports, re-exports, worker URLs. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const named = ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
  const workerUrls = [...text.matchAll(/new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url/g)].map((m) => m[1]!);
  return [...named, ...workerUrls];
}

const files = sourceFiles(SRC);
const arrows = files.flatMap((file) =>
  importsOf(file).filter((specifier) => specifier.startsWith('.')).map((specifier) => {
    const target = path.resolve(path.dirname(file), specifier);
    return { file: path.relative(SRC, file), specifier, from: partOf(file), to: partOf(target) };
  }),
);

describe('the layering of src/', () => {
  it('places every part of src/ in the table of allowed imports', () => {
    const parts = [...new Set(files.map(partOf))].sort();
    expect(parts.filter((part) => !(part in MAY_IMPORT))).toEqual([]);
  });

  it('has no import that runs against the allowed arrows', () => {
    const forbidden = arrows
      .filter(({ from, to }) => from !== to && !(MAY_IMPORT[from] ?? []).includes(to))
      .map(({ file, specifier, from, to }) => `${from} -> ${to}: src/${file} imports ${specifier}`);
    expect(forbidden).toEqual([]);
  });

  it('allows arrows that run one way only (no part may reach itself)', () => {
    const reaches = (from: string, seen = new Set<string>()): Set<string> => {
      for (const to of MAY_IMPORT[from] ?? []) if (!seen.has(to)) reaches(to, seen.add(to));
      return seen;
    };
    expect(Object.keys(MAY_IMPORT).filter((part) => reaches(part).has(part))).toEqual([]);
  });

  it('keeps the vocabulary and the transform free of I/O: they use no package but the few named', () => {
    const used = files
      .filter((file) => partOf(file) in PURE_PACKAGES)
      .flatMap((file) => importsOf(file).filter((specifier) => !specifier.startsWith('.')).map((specifier) => ({ file, specifier })))
      .filter(({ file, specifier }) => !PURE_PACKAGES[partOf(file)]!.includes(specifier))
      .map(({ file, specifier }) => `src/${path.relative(SRC, file)} imports ${specifier}`);
    expect(used).toEqual([]);
  });

  it('reads the imports it judges (the parser finds the arrows the code has)', () => {
    // Without this, a parser that found nothing would pass the test above.
    expect(arrows.length).toBeGreaterThan(200);
    expect(arrows).toContainEqual(expect.objectContaining({ file: path.join('pipeline', 'validated-run.ts'), from: 'pipeline', to: 'validate' }));
    expect(arrows.some(({ from, to }) => from === 'extract' && to === 'model')).toBe(true);
  });
});
