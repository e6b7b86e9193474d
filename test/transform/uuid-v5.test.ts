import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { sha1Into } from '../../src/transform/sha1.js';
import { KPI_DATA_ID_NAMESPACE, URL_NAMESPACE, uuidV5 } from '../../src/transform/uuid-v5.js';

const DNS_NAMESPACE = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';

test('matches RFC 4122 v5 as other implementations compute it (Python uuid.uuid5)', () => {
  expect(uuidV5(DNS_NAMESPACE, 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  expect(uuidV5(URL_NAMESPACE, 'é')).toBe('10e1d6de-dc68-53f0-883a-30ec870dd739');
});

test('the kpi_data namespace is the documented derivation, fixed once and for all', () => {
  expect(uuidV5(URL_NAMESPACE, 'urn:kpi-migrate:kpi-data')).toBe(KPI_DATA_ID_NAMESPACE);
});

test('ids carry version 5 and the RFC 4122 variant, and depend on every character of the name', () => {
  const id = uuidV5(KPI_DATA_ID_NAMESPACE, 'KpiActual:x:y');
  expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(uuidV5(KPI_DATA_ID_NAMESPACE, 'KpiActual:x:y')).toBe(id);
  expect(uuidV5(KPI_DATA_ID_NAMESPACE, 'KpiActual:x:z')).not.toBe(id);
  expect(uuidV5(DNS_NAMESPACE, 'KpiActual:x:y')).not.toBe(id);
});

test('long names, of any bytes, hash whole (Python uuid.uuid5)', () => {
  // 400 two-byte characters fit the reused buffer; 5,000 bytes do not, and take the other way.
  expect(uuidV5(URL_NAMESPACE, `${'ü'.repeat(400)}end`)).toBe('af2df858-0acb-51ec-8706-863b20ccdec8');
  expect(uuidV5(DNS_NAMESPACE, 'x'.repeat(5000))).toBe('cfc11b34-06f5-5404-bc50-2a211317a864');
  expect(uuidV5(DNS_NAMESPACE, 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
});

test('sha1Into gives what OpenSSL gives, for any bytes, across every block boundary', () => {
  const lengths = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(55, 56, 63, 64, 65, 119, 120, 127, 128));
  fc.assert(
    fc.property(lengths.chain((length) => fc.uint8Array({ minLength: length, maxLength: length })), fc.nat({ max: 7 }), (bytes, at) => {
      const out = new Uint8Array(20 + at);
      sha1Into(bytes, bytes.length, out, at);
      expect(Buffer.from(out.subarray(at)).toString('hex')).toBe(createHash('sha1').update(bytes).digest('hex'));
    }),
    { numRuns: 2000 },
  );
});

test('uuidV5 is RFC 4122 v5 as a plain OpenSSL digest computes it, for any name', () => {
  const reference = (namespace: string, name: string): string => {
    const digest = createHash('sha1').update(Buffer.from(namespace.replaceAll('-', ''), 'hex')).update(name, 'utf8').digest();
    digest[6] = (digest[6]! & 0x0f) | 0x50;
    digest[8] = (digest[8]! & 0x3f) | 0x80;
    const hex = digest.subarray(0, 16).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
  fc.assert(
    fc.property(fc.constantFrom(KPI_DATA_ID_NAMESPACE, URL_NAMESPACE, DNS_NAMESPACE), fc.string({ unit: 'grapheme', maxLength: 120 }), (namespace, name) => {
      expect(uuidV5(namespace, name)).toBe(reference(namespace, name));
    }),
    { numRuns: 2000 },
  );
});
