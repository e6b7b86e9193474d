import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { writeBatch, type BatchInput, type BatchOutcome } from '../../src/load/batch-writer.js';
import { EncodedRecordsBuilder } from '../../src/load/encoded-records.js';
import { SessionWrites, TableWrites } from '../../src/load/session-writes.js';
import { prepareRecord } from '../../src/load/prepare-record.js';
import { rollbackRun } from '../../src/load/rollback.js';
import { deleteToolRows, upsertRecordRows } from '../../src/load/sync-writer.js';
import { TOOL_OWNED_TARGET } from '../../src/load/target-ownership.js';
import type { SqlClient } from '../../src/db/sql-client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { dataBatch, dataRecord, linkBatch, linkRecord, newRun, uuid } from './fixtures.js';

/**
 * A session's predictions (SessionWrites) change how a batch is written, never what: every case
 * writes the same steps into two fresh targets, one session predicting and one not, and compares
 * every batch's outcome and everything left in the tables.
 */
describe('writing as a session predicts', () => {
  const databases: TestDatabase[] = [];
  afterEach(async () => {
    await Promise.all(databases.splice(0).map((db) => db.drop()));
  });

  /** A step of a case: a batch of the session (given its run), or a write by something else. */
  type Step = { batch: (run: string) => BatchInput } | { outside: (sql: SqlClient) => Promise<void> };

  async function written(steps: readonly Step[], sessionWrites?: SessionWrites): Promise<{ outcomes: BatchOutcome[]; tables: unknown }> {
    const db = await createTestDatabase();
    databases.push(db);
    const run = await newRun(db.sql);
    const outcomes: BatchOutcome[] = [];
    for (const step of steps) {
      if ('outside' in step) await step.outside(db.sql);
      else outcomes.push(await writeBatch(db.sql, { ...step.batch(run), ...(sessionWrites === undefined ? {} : { sessionWrites }) }));
    }
    return { outcomes, tables: await tablesOf(db.sql) };
  }

  async function tablesOf(sql: SqlClient): Promise<unknown> {
    const all = async (text: string) => (await sql.query(text)).rows;
    return {
      links: await all(`select to_jsonb(t) as row from public.kpi_links t order by id`),
      data: await all(`select to_jsonb(t) as row from public.kpi_data t order by id`),
      rejects: await all(`select run_id::text, source_entity, source_id, reason, attribute, message, sqlstate, item from kpi_migrate.rejects order by id`),
      history: await all(`select run_id::text, table_name, row_id::text, operation, old_row from kpi_migrate.row_history order by row_id, operation`),
      counts: await all(`select * from kpi_migrate.run_counts order by entity`),
    };
  }

  /** The case written both ways: the same outcomes and tables. The predicting session's figures, and its tables' states. */
  async function bothWays(steps: readonly Step[]): Promise<{ kpi_links: TableWrites; kpi_data: TableWrites }> {
    const sessionWrites = new SessionWrites();
    const predicted = await written(steps, sessionWrites);
    const probed = await written(steps);
    expect(predicted.outcomes).toEqual(probed.outcomes);
    expect(predicted.tables).toEqual(probed.tables);
    return { kpi_links: sessionWrites.table('"public"."kpi_links"'), kpi_data: sessionWrites.table('"public"."kpi_data"') };
  }

  const links = [1, 2, 3, 4, 5].map((n) => linkRecord(n));
  const [l1, l2, l3, l4, l5] = links.map((link) => link.sourceId) as [string, string, string, string, string];
  const linkSteps: Step[] = [
    { batch: (run) => linkBatch(run, links.slice(0, 3)) },
    // The second link again (read twice, in another batch), and two new ones.
    { batch: (run) => linkBatch(run, [links[1]!, links[3]!, links[4]!]) },
  ];

  it('a first run with twins, id conflicts, U+0000 and refused records across batches: the same rows and rejects, most records unprobed', async () => {
    const milestone = dataRecord('KpiMilestone', uuid(1, 0x3333), [l1, l2]);
    const withNul = dataRecord('KpiMilestone', uuid(2, 0x3333), [l3]);
    withNul.rows[0]!.label = 'bad\u0000label';
    withNul.item.Label = 'bad\u0000label';
    const unlinked = dataRecord('KpiMilestone', uuid(3, 0x3333), [uuid(99, 0x1111)]);
    const actual = dataRecord('KpiActual', uuid(10, 0x3333), [l1, l4]);
    // Same Id as the milestone: its first row's id is the milestone's (id_conflict).
    const sameIdAsMilestone = dataRecord('KpiActual', uuid(1, 0x3333), [l5], { post_value: '7' });
    const changedTwin = dataRecord('KpiActual', uuid(10, 0x3333), [l1, l5], { post_value: '8' });
    const plain = (n: number, entity: 'KpiActual' | 'KpiReading', linkIds: string[]) => dataRecord(entity, uuid(n, 0x3333), linkIds);
    const states = await bothWays([
      ...linkSteps,
      { batch: (run) => dataBatch(run, 'KpiMilestone', [milestone, withNul]) },
      // A record the foreign key refuses: the whole attempt is undone, the probed way isolates it.
      { batch: (run) => dataBatch(run, 'KpiMilestone', [dataRecord('KpiMilestone', uuid(5, 0x3333), [l3]), unlinked]) },
      { batch: (run) => dataBatch(run, 'KpiActual', [actual, sameIdAsMilestone, plain(11, 'KpiActual', [l2, l3])]) },
      // The actual read again, changed (its rows are this session's: the probed way replaces them).
      { batch: (run) => dataBatch(run, 'KpiActual', [plain(12, 'KpiActual', [l4]), changedTwin]) },
      { batch: (run) => dataBatch(run, 'KpiReading', [plain(20, 'KpiReading', [l1, l2, l3]), plain(21, 'KpiReading', [l5])]) },
    ]);
    expect(states.kpi_links.state).toBe('predicted');
    expect(states.kpi_data.state).toBe('predicted');
    // The link and the actual read again (their own rows are there) and the foreign key's refusal went
    // the probed way; the others as predicted, probing only the record holding U+0000 and the actual
    // whose row id the milestone took.
    // No record the session wrote before reached the check for rows under other ids (the actual
    // read again held its own rows, and the milestone's id-twin lost): none was asked.
    expect(states.kpi_links.figures).toEqual({ predictedBatches: 1, probedRecords: 0, fellBack: 1, askedForOtherRows: 0 });
    expect(states.kpi_data.figures).toEqual({ predictedBatches: 3, probedRecords: 2, fellBack: 2, askedForOtherRows: 0 });
  });

  it("a row id the application holds is refused by the COPY: the batch goes the probed way (id_conflict) and the table is probed from then on", async () => {
    const appLink = uuid(500, 0x9999);
    const appRow = uuid(30, 0x3333);
    const states = await bothWays([
      {
        outside: async (sql) => {
          // The application's rows carry no provenance: the table holds no row of the tool.
          await sql.query(
            `insert into public.kpi_links (id, tenant_id, kpi_id, person_id, link_type, is_primary, created_by, created_at)
             values ($1, $2, $2, $2, 'supporting', false, $2, '2024-01-01T00:00:00Z')`,
            [appLink, uuid(501, 0x9999)],
          );
          await sql.query(`insert into public.kpi_data (id, kpi_link_id, data_category, actual_subtype, post_value, post_date) values ($1, $2, 'actual', 'measured', 7, '2024-01-01T00:00:00Z')`, [
            appRow,
            appLink,
          ]);
        },
      },
      ...linkSteps,
      { batch: (run) => dataBatch(run, 'KpiActual', [dataRecord('KpiActual', uuid(31, 0x3333), [l1]), dataRecord('KpiActual', appRow, [l2, l3])]) },
      { batch: (run) => dataBatch(run, 'KpiReading', [dataRecord('KpiReading', uuid(32, 0x3333), [l1])]) },
    ]);
    expect(states.kpi_links.state).toBe('predicted');
    expect(states.kpi_data.state).toBe('probed');
    expect(states.kpi_data.figures).toEqual({ predictedBatches: 0, probedRecords: 0, fellBack: 1, askedForOtherRows: 0 });
  });

  it("another run writing a record's rows between two batches: the source check finds them, and the outcome is the probed way's", async () => {
    const record = dataRecord('KpiReading', uuid(40, 0x3333), [l1, l2]);
    // Another process's rows of the record, under other ids than the session's batch makes.
    const elsewhere = dataRecord('KpiReading', uuid(40, 0x3333), [l3]);
    elsewhere.rows[0]!.id = uuid(41, 0x4444);
    const states = await bothWays([
      ...linkSteps,
      { batch: (run) => dataBatch(run, 'KpiReading', [dataRecord('KpiReading', uuid(42, 0x3333), [l4])]) },
      { outside: async (sql) => void (await writeBatch(sql, dataBatch(await newRun(sql), 'KpiReading', [elsewhere]))) },
      { batch: (run) => dataBatch(run, 'KpiReading', [record, dataRecord('KpiReading', uuid(43, 0x3333), [l5])]) },
      { outside: async (sql) => void (await writeBatch(sql, dataBatch(await newRun(sql), 'KpiActual', [dataRecord('KpiActual', uuid(44, 0x3333), [l1])]))) },
      { batch: (run) => dataBatch(run, 'KpiActual', [dataRecord('KpiActual', uuid(44, 0x3333), [l1], { post_value: '9' })]) },
    ]);
    // Both records the other run wrote were found before any COPY; no row id was refused. Once
    // another writer had written the table, every record was asked (two, then one).
    expect(states.kpi_data.figures).toEqual({ predictedBatches: 1, probedRecords: 0, fellBack: 2, askedForOtherRows: 3 });
    expect(states.kpi_data.state).toBe('predicted');
  });

  it('while the session alone writes the table, only a record it may have written is asked for rows under other ids: one read again on other links is found', async () => {
    const first = dataRecord('KpiReading', uuid(50, 0x3333), [l1]);
    // Read again on another link, under a row id of its own: the primary key would not see its old row.
    const again = dataRecord('KpiReading', uuid(50, 0x3333), [l2]);
    again.rows[0]!.id = uuid(51, 0x4444);
    const states = await bothWays([
      ...linkSteps,
      { batch: (run) => dataBatch(run, 'KpiReading', [first, dataRecord('KpiReading', uuid(52, 0x3333), [l3])]) },
      { batch: (run) => dataBatch(run, 'KpiReading', [again, dataRecord('KpiReading', uuid(53, 0x3333), [l4])]) },
      { batch: (run) => dataBatch(run, 'KpiReading', [dataRecord('KpiReading', uuid(54, 0x3333), [l5])]) },
    ]);
    // Of the second batch only the record read again was asked (its old row found: that batch went
    // the probed way, and probed records are counted in batches written as predicted).
    expect(states.kpi_data.figures).toEqual({ predictedBatches: 2, probedRecords: 0, fellBack: 1, askedForOtherRows: 1 });
  });

  it("a sync writing a record's rows between two batches is seen by its generation: every record is asked again", async () => {
    const elsewhere = dataRecord('KpiReading', uuid(60, 0x3333), [l3]);
    elsewhere.rows[0]!.id = uuid(61, 0x4444);
    const states = await bothWays([
      ...linkSteps,
      { batch: (run) => dataBatch(run, 'KpiReading', [dataRecord('KpiReading', uuid(62, 0x3333), [l4])]) },
      {
        outside: async (sql) => {
          const syncRun = await newRun(sql);
          const prepared = prepareRecord('KpiReading', elsewhere, syncRun);
          if (!prepared.ok) throw new Error('the fixture record must be loadable');
          await sql.transaction((tx) => upsertRecordRows(tx, { schema: 'public', layout: TOOL_OWNED_TARGET }, 'kpi_data', () => 'KpiReading', syncRun, [prepared.record]));
        },
      },
      { batch: (run) => dataBatch(run, 'KpiReading', [dataRecord('KpiReading', uuid(60, 0x3333), [l1]), dataRecord('KpiReading', uuid(63, 0x3333), [l5])]) },
    ]);
    expect(states.kpi_data.figures).toEqual({ predictedBatches: 1, probedRecords: 0, fellBack: 1, askedForOtherRows: 2 });
  });

  it('rows a rollback puts back between two batches are seen by its generation', async () => {
    // Written by one run and removed by another before the session begins: the table then holds
    // no row of the tool. Rolling the removal back after the session's first batch restores it.
    const removed = dataRecord('KpiReading', uuid(70, 0x3333), [l3]);
    removed.rows[0]!.id = uuid(71, 0x4444);
    let remover = '';
    const states = await bothWays([
      ...linkSteps,
      {
        outside: async (sql) => {
          await writeBatch(sql, dataBatch(await newRun(sql), 'KpiReading', [removed]));
          remover = await newRun(sql);
          await sql.transaction((tx) => deleteToolRows(tx, { schema: 'public', layout: TOOL_OWNED_TARGET }, 'kpi_data', remover, [uuid(71, 0x4444)]));
        },
      },
      { batch: (run) => dataBatch(run, 'KpiReading', [dataRecord('KpiReading', uuid(72, 0x3333), [l4])]) },
      { outside: async (sql) => void (await rollbackRun(sql, { runId: remover, schema: 'public', confirm: true })) },
      { batch: (run) => dataBatch(run, 'KpiReading', [dataRecord('KpiReading', uuid(70, 0x3333), [l1]), dataRecord('KpiReading', uuid(73, 0x3333), [l5])]) },
    ]);
    expect(states.kpi_data.state).toBe('predicted');
    expect(states.kpi_data.figures).toEqual({ predictedBatches: 1, probedRecords: 0, fellBack: 1, askedForOtherRows: 2 });
  });

  it('a table holding rows of the tool when the session begins is never predicted', async () => {
    const states = await bothWays([
      { outside: async (sql) => void (await writeBatch(sql, linkBatch(await newRun(sql), [links[0]!]))) },
      ...linkSteps,
    ]);
    expect(states.kpi_links).toMatchObject({ state: 'probed', figures: { predictedBatches: 0, probedRecords: 0, fellBack: 0 } });
  });

  it('a converge run predicts nothing', async () => {
    const sessionWrites = new SessionWrites();
    const db = await createTestDatabase();
    databases.push(db);
    await writeBatch(db.sql, linkBatch(await newRun(db.sql), links, { converge: true, sessionWrites }));
    expect(sessionWrites.table('"public"."kpi_links"').state).toBe('unknown');
  });
});

describe('TableWrites', () => {
  it('knows the session alone wrote the table while each generation follows its own last committed one', () => {
    const writes = new TableWrites();
    writes.state = 'predicted';
    expect(writes.begin(7n)).toBe(true);
    writes.end(true);
    expect(writes.begin(8n)).toBe(true);
    writes.end(true);
    // Another writer took 9.
    expect(writes.begin(10n)).toBe(false);
    writes.end(true);
    // Its own generations follow each other again, but what that writer wrote is not in the filter.
    expect(writes.begin(11n)).toBe(false);
  });

  it('does not know it once a batch did not commit (its generation was given back), nor for a table it does not predict', () => {
    const failed = new TableWrites();
    failed.state = 'predicted';
    expect(failed.begin(1n)).toBe(true);
    failed.end(false);
    // The next writer may have taken 1 again, or 2: which is not known, and stays unknown after a batch that commits.
    expect(failed.begin(1n)).toBe(false);
    failed.end(true);
    expect(failed.begin(2n)).toBe(false);
    const probed = new TableWrites();
    probed.state = 'probed';
    expect(probed.begin(1n)).toBe(false);
  });

  /** Records with these source ids, each with its row ids. */
  function encoded(records: readonly { sourceId: string; rowIds: readonly string[] }[]) {
    const builder = new EncodedRecordsBuilder(64);
    for (const { sourceId, rowIds } of records) builder.add(sourceId, [...rowIds], `${sourceId}\n`);
    return builder.finish();
  }

  it('has seen every record it was given, by its source id in its entity or by any of its row ids', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    fc.assert(
      fc.property(fc.array(fc.record({ sourceId: text, rowIds: fc.array(fc.uuid(), { maxLength: 3 }) }), { minLength: 1, maxLength: 30 }), (records) => {
        const writes = new TableWrites();
        const batch = encoded(records);
        writes.add(batch, 'KpiActual');
        for (let index = 0; index < records.length; index++) expect(writes.mayHaveSeen(batch, index, 'KpiActual')).toBe(true);
        // Another record sharing one row id with a seen one has been seen too.
        const sharing = records.find((record) => record.rowIds.length > 0);
        if (sharing !== undefined) expect(writes.mayHaveSeen(encoded([{ sourceId: '\u0000other', rowIds: [sharing.rowIds[0]!] }]), 0, 'KpiReading')).toBe(true);
      }),
    );
  });

  it('tells a source id of one entity from the same id of another, and an empty filter has seen nothing', () => {
    const writes = new TableWrites();
    const record = encoded([{ sourceId: uuid(1), rowIds: [] }]);
    expect(writes.mayHaveSeen(record, 0, 'KpiActual')).toBe(false);
    writes.add(record, 'KpiActual');
    expect(writes.mayHaveSeen(record, 0, 'KpiActual')).toBe(true);
    expect(writes.mayHaveSeen(record, 0, 'KpiMilestone')).toBe(false);
  });

  it('says "maybe" for few records it has not seen, at the size of the bench', () => {
    const writes = new TableWrites();
    const fact = (n: number) => ({ sourceId: uuid(n, 0x3333), rowIds: [uuid(n, 0x3333), uuid(n, 0x5555)] });
    for (let start = 0; start < 250_000; start += 5_000) writes.add(encoded(Array.from({ length: 5_000 }, (_, at) => fact(start + at))), 'KpiActual');
    const unseen = encoded(Array.from({ length: 10_000 }, (_, at) => fact(1_000_000 + at)));
    let maybe = 0;
    for (let index = 0; index < 10_000; index++) if (writes.mayHaveSeen(unseen, index, 'KpiActual')) maybe += 1;
    // 750,000 keys in 2^24 bits, two bits a key, three keys a record: about 2.1% in theory.
    expect(maybe).toBeLessThan(300);
  });
});
