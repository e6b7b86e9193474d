import * as crypto from 'node:crypto';
import { bytesToGuid } from './guid-table.js';
import { sha1Into } from './sha1.js';

/** RFC 4122 namespace for URLs (appendix C). */
export const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/**
 * The namespace of every name-based kpi_data row id: uuidV5(URL_NAMESPACE, 'urn:kpi-migrate:kpi-data').
 * Fixed forever: changing it would give every fanned-out row a new id on the next run.
 */
export const KPI_DATA_ID_NAMESPACE = 'c0a63ac9-6509-56a0-bea7-87ed95392458';

// One id per fanned-out row: the namespace's bytes are kept, and namespace + name hashed from one
// reused buffer, into another (sha1Into: no allocation, no native call).
const SCRATCH = Buffer.alloc(1024);
const DIGEST = Buffer.alloc(20);
let scratchNamespace: string | undefined;

function sha1Of(namespace: string, name: string): Buffer {
  // A UTF-16 code unit takes at most 3 bytes in UTF-8: a longer name could be cut by write().
  if (name.length * 3 > SCRATCH.length - 16) {
    return crypto.createHash('sha1').update(Buffer.from(namespace.replaceAll('-', ''), 'hex')).update(name, 'utf8').digest();
  }
  if (scratchNamespace !== namespace) {
    SCRATCH.write(namespace.replaceAll('-', ''), 0, 16, 'hex');
    scratchNamespace = namespace;
  }
  const length = SCRATCH.write(name, 16, 'utf8');
  sha1Into(SCRATCH, 16 + length, DIGEST);
  return DIGEST;
}

/** RFC 4122 §4.3 name-based UUID, SHA-1 version (5), of a UTF-8 name; lowercase canonical text. */
export function uuidV5(namespace: string, name: string): string {
  const digest = sha1Of(namespace, name);
  digest[6] = (digest[6]! & 0x0f) | 0x50;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  return bytesToGuid(digest, 0);
}
