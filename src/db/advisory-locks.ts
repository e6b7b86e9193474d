import type { AdvisoryLock } from './sql-client.js';

/** `pg_try_advisory_lock…(classId, objId)` for one lock, its two int4 keys as parameters $at and $at+1. */
export function tryLockCall(lock: AdvisoryLock, at: number): string {
  const fn = lock.mode === 'shared' ? 'pg_try_advisory_lock_shared' : 'pg_try_advisory_lock';
  return `${fn}($${at}::int4, $${at + 1}::int4)`;
}

export function unlockCall(lock: AdvisoryLock): string {
  return `select ${lock.mode === 'shared' ? 'pg_advisory_unlock_shared' : 'pg_advisory_unlock'}($1::int4, $2::int4)`;
}

export function lockKeys(lock: AdvisoryLock): [number, number] {
  return [lock.classId, lock.objId];
}

/**
 * Settings of a session that holds locks while doing nothing else, each only where the server
 * knows it: an idle_session_timeout would end it (and the claim) in the middle of a long run, and
 * short keepalives let the server notice a client that vanished without closing its connection
 * (its node gone) within about a minute instead of hours, releasing its locks for a successor.
 */
export const LOCK_SESSION_SETTINGS = `select set_config(wanted.name, wanted.setting, false)
  from (values ('idle_session_timeout', '0'), ('tcp_keepalives_idle', '30'), ('tcp_keepalives_interval', '10'), ('tcp_keepalives_count', '3'))
    as wanted(name, setting)
 where exists (select from pg_settings where pg_settings.name = wanted.name)`;
