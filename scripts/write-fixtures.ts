// Regenerates fixtures/small from the generator (seed 1, 300 fact items): `npm run fixtures`.
import { writeSmallFixtures, SMALL_FIXTURE_DIR } from '../src/seed/write-fixtures.js';

await writeSmallFixtures();
process.stdout.write(`fixtures written to ${SMALL_FIXTURE_DIR}\n`);
