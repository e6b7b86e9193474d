import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKvSource, parseKvValue } from '../../src/extract/kv-source.js';
import { MigrateError } from '../../src/errors.js';
import { DEFAULT_KV_PREFIX, LEGACY_ENTITIES, type LegacyEntity } from '../../src/model/entities.js';
import { LegacyNumber, toJsonText, type LegacyItem } from '../../src/model/legacy-value.js';
import type { SqlClient } from '../../src/db/sql-client.js';
import { unreadableProblemOf } from '../../src/model/unreadable.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { buildItems, guid, ids, partitionsEndWithDone, plainJsonView, readPages, sortedById } from './legacy-items.js';

let db: TestDatabase;
let hasIcu = false;

async function createKvTable(sql: SqlClient, name: string, collation?: string): Promise<void> {
  await sql.exec(`create table ${name} (key text ${collation ? `collate "${collation}" ` : ''}primary key, value jsonb)`);
}

async function insertRows(sql: SqlClient, table: string, rows: readonly (readonly [string, string])[]): Promise<void> {
  await sql.query(`insert into ${table} (key, value) select k, v::jsonb from unnest($1::text[], $2::text[]) as t(k, v)`, [
    rows.map((r) => r[0]),
    rows.map((r) => r[1]),
  ]);
}

function rowsOf(entity: LegacyEntity, items: readonly LegacyItem[], prefix = DEFAULT_KV_PREFIX[entity]): [string, string][] {
  return items.map((item) => [`${prefix}:${String(item.Id)}`, toJsonText(item)]);
}

const items = buildItems(230, { typed: true, salt: 21 });

beforeAll(async () => {
  db = await createTestDatabase();
  await createKvTable(db.sql, 'kv_store');
  await insertRows(db.sql, 'kv_store', rowsOf('KpiActual', items));
  // Neighbours in every keyspace, some of them close to `kpi:` on purpose.
  const neighbours: [string, string][] = [];
  for (const entity of LEGACY_ENTITIES) {
    if (entity === 'KpiActual') continue;
    for (let i = 0; i < 15; i++) neighbours.push([`${DEFAULT_KV_PREFIX[entity]}:${guid(i, 300)}`, JSON.stringify({ Id: guid(i, 300), Entity: entity })]);
  }
  neighbours.push(['kpi', '{"Id": "bare"}'], ['kpi;zzz', '{"Id": "semicolon"}'], ['kpia:1', '{"Id": "kpia"}'], ['KPI:upper', '{"Id": "upper"}']);
  await insertRows(db.sql, 'kv_store', neighbours);
  const { rows } = await db.sql.query<{ n: number }>(`select count(*)::int as n from pg_collation where collname = 'en-US-x-icu'`);
  hasIcu = (rows[0]?.n ?? 0) > 0;
});

afterAll(async () => db?.drop());

describe('kv source', () => {
  it('pages by keyset across several pages: every item once, deep-equal to the plain-JSON form', async () => {
    const source = createKvSource({ sql: db.sql, pageSize: 25 });
    const { pages, items: read } = await readPages(source, 'KpiActual');
    expect(pages).toHaveLength(10);
    expect(pages.map((p) => p.items.length)).toEqual([25, 25, 25, 25, 25, 25, 25, 25, 25, 5]);
    expect(pages.every((p) => p.partition === 'keyspace')).toBe(true);
    expect(partitionsEndWithDone(pages)).toBe(true);
    expect(sortedById(read)).toEqual(sortedById(items.map((item) => plainJsonView(item) as LegacyItem)));
    expect(await source.countItems('KpiActual')).toBe(230);
  });

  it('resumes after the last key of a committed page, each item read exactly once', async () => {
    const source = createKvSource({ sql: db.sql, pageSize: 40 });
    for (const k of [1, 3, 5]) {
      const first = await readPages(source, 'KpiActual', { maxPages: k });
      expect(first.state.keyspace?.position).toEqual({ lastKey: `kpi_actual:${String(first.items.at(-1)!.Id)}` });
      const rest = await readPages(source, 'KpiActual', { from: first.state });
      const all = [...first.items, ...rest.items];
      expect(all).toHaveLength(230);
      expect(new Set(ids(all)).size).toBe(230);
      expect((await readPages(source, 'KpiActual', { from: rest.state })).items).toEqual([]);
    }
  });

  it('a page size that divides the keyspace still ends with a done page (empty)', async () => {
    const { pages } = await readPages(createKvSource({ sql: db.sql, pageSize: 23 }), 'KpiActual');
    expect(pages).toHaveLength(11);
    expect(pages.at(-1)).toMatchObject({ items: [], done: true, position: { lastKey: expect.stringMatching(/^kpi_actual:/) } });
  });

  const keyspacesStayApart = async (table: string) => {
    const source = createKvSource({ sql: db.sql, table, pageSize: 4 });
    const kpis = await readPages(source, 'Kpi');
    expect(ids(kpis.items).sort()).toEqual(Array.from({ length: 15 }, (_, i) => guid(i, 300)).sort());
    expect(kpis.items.every((item) => item.Entity === 'Kpi')).toBe(true);
    expect(await source.countItems('Kpi')).toBe(15);
    const actuals = await readPages(source, 'KpiActual');
    expect(actuals.items).toHaveLength(230);
    for (const entity of LEGACY_ENTITIES.filter((e) => e !== 'KpiActual')) {
      const read = await readPages(source, entity);
      expect(read.items.map((item) => item.Entity)).toEqual(Array(15).fill(entity));
    }
  };

  it('keyspaces do not bleed into each other (kpi: vs kpi_actual:, kpia:, kpi;…) under a bytewise collation', async () => {
    await keyspacesStayApart('kv_store');
  });

  it('keyspaces stay apart under a linguistic collation too, where punctuation barely sorts', async ({ skip }) => {
    if (!hasIcu) skip('this PostgreSQL has no ICU collation');
    await createKvTable(db.sql, 'kv_icu', 'en-US-x-icu');
    await db.sql.exec('insert into kv_icu select * from kv_store');
    await keyspacesStayApart('kv_icu');
    const first = await readPages(createKvSource({ sql: db.sql, table: 'kv_icu', pageSize: 30 }), 'KpiActual', { maxPages: 2 });
    const rest = await readPages(createKvSource({ sql: db.sql, table: 'kv_icu', pageSize: 30 }), 'KpiActual', { from: first.state });
    expect(new Set(ids([...first.items, ...rest.items])).size).toBe(230);
  });

  it('keeps 38-digit and out-of-float-range numbers digit for digit, JSON null as null, and takes Id from the key when absent', async () => {
    await createKvTable(db.sql, 'kv_numbers');
    await insertRows(db.sql, 'kv_numbers', [
      ['kpi_reading:r1', '{"Id": "r1", "Value": 12345678901234567890123456789012345678, "Tiny": -0.00000000000000000000000000000000000001, "Huge": 1e400, "Note": null, "List": [1.50, {"Deep": 0.1}]}'],
      ['kpi_reading:r2', '{"Value": 3}'],
    ]);
    const source = createKvSource({ sql: db.sql, table: 'kv_numbers' });
    const { items: read } = await readPages(source, 'KpiReading');
    expect(read).toEqual([
      {
        Id: 'r1',
        Value: new LegacyNumber('12345678901234567890123456789012345678'),
        Tiny: new LegacyNumber('-0.00000000000000000000000000000000000001'),
        Huge: new LegacyNumber(`1${'0'.repeat(400)}`),
        Note: null,
        List: [new LegacyNumber('1.50'), { Deep: new LegacyNumber('0.1') }],
      },
      { Id: 'r2', Value: new LegacyNumber('3') },
    ]);
    expect(parseKvValue('{"a": 0.30000000000000000000000000000000000004}')).toEqual({ a: new LegacyNumber('0.30000000000000000000000000000000000004') });
  });

  it('gets items by Id (missing ids left out) and honours configured prefixes and a schema-qualified table', async () => {
    const source = createKvSource({ sql: db.sql });
    const wanted = [String(items[5]!.Id), 'nope', String(items[200]!.Id)];
    expect(await source.getItems('KpiActual', wanted)).toEqual([items[5], items[200]].map((i) => plainJsonView(i!)));

    await db.sql.exec('create schema legacy');
    await createKvTable(db.sql, 'legacy.kv');
    await insertRows(db.sql, 'legacy.kv', rowsOf('GoalKpiLink', items.slice(0, 12), 'link'));
    const custom = createKvSource({ sql: db.sql, table: 'legacy.kv', prefixes: { GoalKpiLink: 'link' }, pageSize: 5 });
    expect(ids((await readPages(custom, 'GoalKpiLink')).items)).toEqual(ids(sortedById(items.slice(0, 12))));
    expect(await custom.countItems('GoalKpiLink')).toBe(12);
    expect(await custom.countItems('Kpi')).toBe(0);
  });

  it('refuses unsafe table names and reports a missing table', async () => {
    expect(() => createKvSource({ sql: db.sql, table: 'kv; drop table x' })).toThrow(MigrateError);
    const missing = await readPages(createKvSource({ sql: db.sql, table: 'no_such_table' }), 'Kpi').catch((e: unknown) => e);
    expect((missing as MigrateError).code).toBe('SOURCE_UNAVAILABLE');
  });

  it('hands on a value that is not a JSON object as the row itself, marked unreadable, and reads on', async () => {
    await createKvTable(db.sql, 'kv_bad');
    await insertRows(db.sql, 'kv_bad', [
      ['kpi:a', '{"Id": "a"}'],
      ['kpi:b', '[1, 2]'],
      ['kpi:c', '"just text"'],
      ['kpi:d', '12345678901234567890.123456789012345678'],
      ['kpi:e', 'null'],
      ['kpi:f', '{"Id": "f"}'],
    ]);
    await db.sql.exec(`insert into kv_bad (key, value) values ('kpi:g', null)`);
    const source = createKvSource({ sql: db.sql, table: 'kv_bad', pageSize: 2 });
    const read = (await readPages(source, 'Kpi')).items;
    expect(read).toEqual([
      { Id: 'a' },
      { Id: 'b', value: [new LegacyNumber('1'), new LegacyNumber('2')] },
      { Id: 'c', value: 'just text' },
      { Id: 'd', value: new LegacyNumber('12345678901234567890.123456789012345678') },
      { Id: 'e', value: null },
      { Id: 'f' },
      { Id: 'g' },
    ]);
    expect(read.map((item) => unreadableProblemOf(item)?.message ?? 'readable')).toEqual([
      'readable',
      'a JSON array, not a JSON object (kv row kpi:b of "kv_bad")',
      'a JSON string, not a JSON object (kv row kpi:c of "kv_bad")',
      'a JSON number, not a JSON object (kv row kpi:d of "kv_bad")',
      'a JSON null, not a JSON object (kv row kpi:e of "kv_bad")',
      'readable',
      'SQL NULL, not a JSON object (kv row kpi:g of "kv_bad")',
    ]);
    expect(read.every((item) => unreadableProblemOf(item) === undefined || unreadableProblemOf(item)!.attribute === 'value')).toBe(true);
    expect(await source.countItems('Kpi')).toBe(read.length);
    expect(await source.getItems('Kpi', ['b'])).toEqual([{ Id: 'b', value: [new LegacyNumber('1'), new LegacyNumber('2')] }]);
  });

  it('hands on text that is not JSON (a text column) with the text kept whole', async () => {
    await db.sql.exec('create table kv_text (key text primary key, value text)');
    await db.sql.query('insert into kv_text (key, value) select k, v from unnest($1::text[], $2::text[]) as t(k, v)', [
      ['kpi:a', 'kpi:b', 'kpi:c'],
      ['{"Id": "a", "Name": 0.30000000000000000000000000000000000004}', '{"Id": "b", "Name": ', 'not json at all'],
    ]);
    const read = (await readPages(createKvSource({ sql: db.sql, table: 'kv_text' }), 'Kpi')).items;
    expect(read).toEqual([
      { Id: 'a', Name: new LegacyNumber('0.30000000000000000000000000000000000004') },
      { Id: 'b', text: '{"Id": "b", "Name": ' },
      { Id: 'c', text: 'not json at all' },
    ]);
    expect(unreadableProblemOf(read[1]!)?.message).toMatch(/^text that is not JSON \(unexpected end of text at position 20 of the JSON text\), not a JSON object \(kv row kpi:b of "kv_text"\)$/);
    expect(unreadableProblemOf(read[2]!)?.message).toMatch(/^text that is not JSON \(unexpected character at position 0/);
  });
});
