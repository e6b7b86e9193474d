import type { LegacyEntity } from '../transform/entities.js';

/** Figures of one entity as a run advances; the CLI renders them as bars or log lines. */
export interface EntityProgress {
  entity: LegacyEntity;
  phase: 'lookup' | 'index' | 'load';
  read: number;
  migrated: number;
  rejected: number;
  skipped: number;
  rowsOut: number;
  inserted: number;
  updated: number;
  unchanged: number;
  startedAt: number;
  done: boolean;
}

export interface ProgressSink {
  update(progress: Readonly<EntityProgress>): void;
  message?(text: string): void;
}

export const silentProgress: ProgressSink = { update() {} };
