import { randomBytes } from 'node:crypto';
import type { LegacySource, NextRead, ResumeState, SourcePage } from '../../src/model/source.js';
import type { LegacyEntity } from '../../src/model/entities.js';
import { LegacyNumber, LegacySet, toJsonText, type LegacyItem, type LegacyValue } from '../../src/model/legacy-value.js';

/** A deterministic GUID-shaped id for item `i` of a set (`salt` keeps sets apart). */
export function guid(i: number, salt = 0): string {
  const hex = (n: number, width: number) => n.toString(16).padStart(width, '0').slice(-width);
  const a = (i * 2654435761 + salt * 40503) >>> 0;
  return `${hex(a, 8)}-${hex(i >>> 16, 4)}-4${hex(i & 0xfff, 3)}-8${hex(salt & 0xfff, 3)}-${hex(i, 12)}`;
}

export function uniqueName(label: string): string {
  return `t${randomBytes(4).toString('hex')}-${label}`;
}

/**
 * KPI-actual-like items with what legacy data throws at a reader: 38-digit numbers, negative
 * decimals, NULL, empty strings, nested maps and lists, non-ASCII text; with `typed`, some
 * also carry binary and the three set kinds (which plain JSON, and so kv_store, cannot hold).
 */
export function buildItems(count: number, options: { typed?: boolean; salt?: number } = {}): LegacyItem[] {
  const salt = options.salt ?? 1;
  return Array.from({ length: count }, (_, i) => {
    const item: LegacyItem = {
      Id: guid(i, salt),
      TenantId: guid(i % 7, 99),
      KpiId: guid(i % 13, 98),
      ActualValue: new LegacyNumber(`${12345678901234567890123456789012345670n + BigInt(i % 10)}`),
      OriginalValue: new LegacyNumber(`-${i}.${"0".repeat(30)}1`),
      MeasurementDate: new LegacyNumber(String(1_700_000_000_000 + i * 86_400_000)),
      OverrideComment: i % 4 === 0 ? null : `Zählerstand №${i} — ✓ “quoted” \\ back\nslash`,
      DataSource: i % 3 === 0 ? '' : 'Manual',
      IsManualOverride: i % 2 === 0,
      Meta: {
        Depth: { Level: new LegacyNumber('2'), Tags: ['a', new LegacyNumber('3.5'), true, null] },
        Empty: {},
        None: [],
      },
    };
    if (options.typed && i % 5 === 0) {
      item.Blob = new Uint8Array([0, 255, i % 256, 10, 13]);
      item.Labels = new LegacySet('SS', ['alpha', `beta-${i}`]);
      item.Scores = new LegacySet('NS', [new LegacyNumber('99999999999999999999999999999999999999'), new LegacyNumber(String(i + 1))]);
      item.Blobs = new LegacySet('BS', [new Uint8Array([1, 2, 3]), new Uint8Array([i % 256, 4])]);
    }
    return item;
  });
}

/** What a set or binary becomes in plain JSON (kv_store), as toJsonText writes it: base64 text, arrays in member text order. */
export function plainJsonView(value: LegacyValue): LegacyValue {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof LegacySet) {
    const members = value.values.map((v) => ({ text: toJsonText(v), value: plainJsonView(v) }));
    return members.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0)).map((m) => m.value);
  }
  if (value instanceof LegacyNumber || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(plainJsonView);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainJsonView(v)]));
}

/** Sets are unordered in DynamoDB: compare them with their members sorted. */
export function canonical(value: LegacyValue): LegacyValue {
  if (value instanceof LegacySet) {
    const key = (v: string | LegacyNumber | Uint8Array) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : String(v));
    return new LegacySet(value.kind, [...value.values].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)));
  }
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (value instanceof LegacyNumber || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(canonical);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, canonical(v)]));
}

export function sortedById(items: readonly LegacyItem[]): LegacyItem[] {
  return [...items].map((item) => canonical(item) as LegacyItem).sort((a, b) => (String(a.Id) < String(b.Id) ? -1 : 1));
}

export interface ReadResult {
  pages: SourcePage[];
  items: LegacyItem[];
  /** The committed state: each partition's last position and whether it finished. */
  state: ResumeState;
}

/**
 * Reads a table as a pipeline would, committing each page's position; stops after `maxPages`
 * pages (a crash after the last commit) when given.
 */
export async function readPages(
  source: LegacySource,
  entity: LegacyEntity,
  options: { from?: ResumeState; maxPages?: number; next?: NextRead } = {},
): Promise<ReadResult> {
  const state: ResumeState = structuredClone(options.from ?? {});
  const pages: SourcePage[] = [];
  const items: LegacyItem[] = [];
  for await (const page of source.readTable(entity, options.from, options.next)) {
    pages.push(page);
    items.push(...page.items);
    // Positions go through JSON, as a checkpoint table would store them.
    state[page.partition] = JSON.parse(JSON.stringify({ position: page.position, done: page.done })) as ResumeState[string];
    if (options.maxPages !== undefined && pages.length >= options.maxPages) break;
  }
  return { pages, items, state };
}

/** Every partition seen ends with exactly one done page, and nothing of it follows. */
export function partitionsEndWithDone(pages: readonly SourcePage[]): boolean {
  const finished = new Set<string>();
  for (const page of pages) {
    if (finished.has(page.partition)) return false;
    if (page.done) finished.add(page.partition);
  }
  return new Set(pages.map((p) => p.partition)).size === finished.size;
}

export function ids(items: readonly LegacyItem[]): string[] {
  return items.map((item) => String(item.Id));
}
