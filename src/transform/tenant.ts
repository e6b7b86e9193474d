import { canonicalGuid } from './coerce.js';
import type { LegacyItem } from '../model/legacy-value.js';

/** The canonical tenant of a legacy item, for tenant filters; undefined when its TenantId is no GUID. */
export function canonicalTenantOf(item: LegacyItem): string | undefined {
  const tenantId = item.TenantId;
  return typeof tenantId === 'string' ? canonicalGuid(tenantId) : undefined;
}
