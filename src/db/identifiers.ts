/** Identifiers that come from configuration are validated, then always quoted. */
const SAFE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;

export function isSafeIdentifier(name: string): boolean {
  return SAFE_IDENTIFIER.test(name);
}

export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\u0000')) throw new Error(`invalid SQL identifier: ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
}
