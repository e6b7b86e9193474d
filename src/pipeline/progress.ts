import type { LegacyEntity } from '../model/entities.js';

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

/** An entity's figures before anything is read. */
export function newProgress(entity: LegacyEntity, phase: EntityProgress['phase']): EntityProgress {
  return { entity, phase, read: 0, migrated: 0, rejected: 0, skipped: 0, rowsOut: 0, inserted: 0, updated: 0, unchanged: 0, startedAt: Date.now(), done: false };
}

export interface ProgressSink {
  update(progress: Readonly<EntityProgress>): void;
  message?(text: string): void;
}

export const silentProgress: ProgressSink = { update() {} };
