import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/package-root.js';

const manifest = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(file);
    return entry.name.endsWith('.ts') ? [file] : [];
  });
}

/** `@scope/name/sub.js` → `@scope/name`; `name/sub.js` → `name`; undefined for relative paths and node: built-ins. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The packages a file loads when it runs (import type and type-only exports load nothing). */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier) && !node.importClause?.isTypeOnly) found.push(node.moduleSpecifier.text);
    if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && !node.isTypeOnly) found.push(node.moduleSpecifier.text);
    // import('x'), and require('x') through createRequire(import.meta.url)('x').
    if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteral(node.arguments[0]!)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isCallExpression(callee) && callee.expression.getText() === 'createRequire')) found.push(node.arguments[0]!.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.flatMap((specifier) => packageOf(specifier) ?? []);
}

describe('package.json dependencies', () => {
  const usedBySrc = new Set(sourceFiles(path.join(packageRoot, 'src')).flatMap(runtimeImports));

  it('the runtime dependencies are exactly the packages src loads: none missing, none unused', () => {
    expect(usedBySrc.size).toBeGreaterThan(5);
    expect(Object.keys(manifest.dependencies).sort()).toEqual([...usedBySrc].sort());
  });

  it('a development dependency is never loaded by src (an install without them would break)', () => {
    expect(Object.keys(manifest.devDependencies).filter((name) => usedBySrc.has(name))).toEqual([]);
  });
});
