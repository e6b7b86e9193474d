import { createHash } from 'node:crypto';
import type { ResolvedConfig } from './resolve.js';
import type { SourceConfig } from './schema.js';

// What in a configuration is secret, and its forms without: apart from resolve.ts and its zod
// schemas, which a thread that only prints or stores a configuration it was given (the run's
// writer) then does not load.

/** TLS settings name a mode or a file (a key file is not its content); `sslpassword`, its passphrase, is a secret. */
const TLS_PARAMETERS = new Set(['ssl', 'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'sslcrl', 'sslnegotiation', 'uselibpqcompat']);

export function isSecretParameter(key: string): boolean {
  return !TLS_PARAMETERS.has(key.toLowerCase()) && /pass|secret|token|key/i.test(key);
}

/** A stable fingerprint of what a run was configured to do, without secrets. */
export function configHash(config: ResolvedConfig): string {
  const { target, ...rest } = config;
  const fingerprint = JSON.stringify({ ...rest, target: { schema: target.schema, database: redactUrl(target.databaseUrl) } });
  return createHash('sha256').update(fingerprint).digest('hex').slice(0, 16);
}

/** A URL with its password (and any token-looking query value) replaced, safe to print or store. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '*****';
    for (const key of [...parsed.searchParams.keys()]) {
      if (isSecretParameter(key)) parsed.searchParams.set(key, '*****');
    }
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:*****@');
  }
}

/** Where the records come from, in words (no secrets). */
export function describeSource(source: SourceConfig | undefined): string | undefined {
  if (source === undefined) return undefined;
  switch (source.kind) {
    case 'export':
      return source.dir;
    case 'dynamodb':
      return `${source.endpoint ?? `AWS ${source.region}`}, tables ${source.tablePrefix}*`;
    case 'kv':
      return `${source.url === undefined ? '(no url)' : redactUrl(source.url)} table ${source.table}`;
  }
}
