/** The load stage: connections, schema migrations, the batch writer, the run ledger and rejects. */
export type { AdvisoryLock, HeldAdvisoryLocks, SqlClient, SqlSession } from './sql-client.js';
export { openSqlClient } from './open.js';
export { applyMigrations, loadMigrations, type Migration } from './migrate.js';
export { isSafeIdentifier, quoteIdent } from './identifiers.js';
export {
  writeBatch,
  type BatchInput,
  type BatchOutcome,
  type CheckpointAdvance,
  type LoadReject,
  type RecordRows,
} from './batch-writer.js';
export {
  findRun,
  finishRun,
  lastUnfinishedRun,
  loadCheckpoints,
  parseRunReference,
  recordLookupOutcome,
  resolveRunId,
  resumeRun,
  runCounts,
  startOrFindLabelledRun,
  startRun,
  type EntityRunCounts,
  type RunCounts,
  type RunId,
  type RunRecord,
  type RunReference,
  type RunStart,
  type RunStatus,
} from './ledger.js';
export { claimRun, guardedByClaim, CLAIM_APPLICATION_NAME, type RunClaim, type RunShare } from './run-claim.js';
export { listRejects, loadRejectedSourceIds, rejectJsonLine, type RejectFilter, type StoredReject } from './rejects.js';
export { CopyEncodingError, encodeCopyRows, encodeCopyValue, type CopyValue } from './copy-text.js';
