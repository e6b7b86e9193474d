import { writeSync } from 'node:fs';
import pino from 'pino';
import { redactUrl } from '../config/secrets.js';

/** Strings that must never reach a terminal, a log or a report. */
const secretPatterns: [RegExp, string][] = [
  [/(\w+:\/\/[^:/@\s]+:)[^@\s]+@/g, '$1*****@'],
  [/((?:aws_secret_access_key|aws_session_token|password)["']?\s*[=:]\s*["']?)[^\s"',}]+/gi, '$1*****'],
];

const KNOWN_SECRET_VARIABLES = new Set(['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'PGPASSWORD']);
const SECRET_LIKE_VARIABLE = /(?:^|_)(?:PASSWORD|PASSWD|SECRET|TOKEN|SECRET_ACCESS_KEY)$/i;
/** Shorter values would mask ordinary words and digits; such secrets are masked by pattern only. */
const MIN_SECRET_LENGTH = 4;
/** A variable only named like a secret may hold a flag (`true`): mask longer values only. */
const MIN_SECRET_LIKE_LENGTH = 8;

/**
 * The secret values this process could leak: variables named like secrets, and the password of
 * any URL in the environment (DATABASE_URL, KV_DATABASE_URL, `${NAME}` references), as written
 * and decoded. Read at each call: tests and the demo change the environment.
 */
function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const values = new Set<string>();
  const add = (value: string, minLength = MIN_SECRET_LENGTH) => {
    if (value.length < minLength) return;
    values.add(value);
    // A secret inside a JSON log line is escaped.
    values.add(JSON.stringify(value).slice(1, -1));
  };
  for (const [name, value] of Object.entries(env)) {
    if (!value) continue;
    if (KNOWN_SECRET_VARIABLES.has(name)) add(value);
    else if (SECRET_LIKE_VARIABLE.test(name)) add(value, MIN_SECRET_LIKE_LENGTH);
    const password = /^\w[\w+.-]*:\/\/[^:/@\s]*:([^@\s]+)@/.exec(value)?.[1];
    if (password !== undefined) {
      add(password);
      try {
        add(decodeURIComponent(password));
      } catch {
        // not percent-encoded: the raw form is masked already
      }
    }
  }
  return [...values].sort((a, b) => b.length - a.length);
}

export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of secretPatterns) out = out.replace(pattern, replacement);
  for (const value of secretValues()) out = out.split(value).join('*****');
  return out;
}

export { redactUrl };

/**
 * Structured logs on stderr (stdout is kept for results). Every line is redacted as written,
 * whatever object was logged: a secret nested in an error's fields is masked too.
 */
export const log = pino(
  {
    level: process.env.KPI_MIGRATE_LOG_LEVEL ?? 'info',
    base: undefined,
    formatters: { level: (label) => ({ level: label }) },
  },
  {
    write(line: string) {
      writeSync(2, redactSecrets(line));
    },
  },
);

export function print(text: string): void {
  process.stdout.write(`${redactSecrets(text)}\n`);
}

export function printError(text: string): void {
  process.stderr.write(`${redactSecrets(text)}\n`);
}
