import pino from 'pino';
import { redactUrl } from '../config/resolve.js';

/** Strings that must never reach a terminal, a log or a report. */
const secretPatterns: [RegExp, string][] = [
  [/(\w+:\/\/[^:/@\s]+:)[^@\s]+@/g, '$1*****@'],
  [/((?:aws_secret_access_key|aws_session_token|password)["']?\s*[=:]\s*["']?)[^\s"',}]+/gi, '$1*****'],
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of secretPatterns) out = out.replace(pattern, replacement);
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'PGPASSWORD']) {
    const value = process.env[name];
    if (value && value.length >= 4) out = out.split(value).join('*****');
  }
  return out;
}

export { redactUrl };

/** Structured logs on stderr when not on a terminal; stdout is kept for results. */
export const log = pino(
  {
    level: process.env.KPI_MIGRATE_LOG_LEVEL ?? 'info',
    base: undefined,
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((a) => (typeof a === 'string' ? redactSecrets(a) : a)) as Parameters<typeof method>);
      },
    },
  },
  pino.destination({ fd: 2, sync: true }),
);

export function print(text: string): void {
  process.stdout.write(`${redactSecrets(text)}\n`);
}

export function printError(text: string): void {
  process.stderr.write(`${redactSecrets(text)}\n`);
}
