/** The load stage: connections, schema migrations, the batch writer, the run ledger and rejects. */
export type { AdvisoryLock, HeldAdvisoryLocks, SqlClient, SqlSession } from '../db/sql-client.js';
export { openSqlClient } from '../db/open.js';
export { applyMigrations, loadMigrations, type Migration } from './migrate.js';
export { isSafeIdentifier, quoteIdent } from '../db/identifiers.js';
export { writeBatch, type BatchInput, type BatchOutcome, type CheckpointAdvance } from './batch-writer.js';
export { SessionWrites } from './session-writes.js';
export type { LoadReject, RecordRows } from './prepare-record.js';
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
export { claimRun, guardedByClaim, proveClaim, CLAIM_APPLICATION_NAME, type FencingToken, type RunClaim, type RunShare } from './run-claim.js';
export { listRejects, loadRejectedSourceIds, rejectJsonLine, type RejectFilter, type StoredReject } from './rejects.js';
export { CopyEncodingError, encodeCopyRows, encodeCopyValue, type CopyValue } from './copy-text.js';
export { deletingRows, provenancedRows, TARGET_TABLES, writingRows } from './target-table.js';
export { readRecordedLayout, readTargetLayout, type TableLayout, type TargetLayout } from './target-ownership.js';
export { linksMissingFromCache, linksTouchedByRun, refreshProgressCache } from './progress-cache.js';
