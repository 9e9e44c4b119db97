import { canonicalJson } from './audit-chain';
import type { AuditEventRecord } from './audit-rows';

/** CSV export (RFC 4180, every field quoted). `data` is one canonical-JSON column. */
const COLUMNS = ['id', 'seq', 'type', 'occurredAt', 'clientId', 'verificationId', 'phoneNumber', 'phoneHash', 'actorType', 'actorId', 'ip', 'data', 'hash', 'prevHash'];

export function csvHeader(): string {
  return COLUMNS.join(',') + '\r\n';
}

/**
 * A field opened in a spreadsheet must not run as a formula: a leading = @ tab or CR gets a quote mark
 * (+ and - are left alone: masked numbers start with +). Every field is quoted, quotes doubled.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (/^[=@\t\r]/.test(text)) text = "'" + text;
  return '"' + text.replace(/"/g, '""') + '"';
}

export function csvLine(e: AuditEventRecord): string {
  return (
    [
      e.id,
      e.seq,
      e.type,
      e.occurredAt.toISOString(),
      e.clientId,
      e.verificationId,
      e.phoneMasked,
      e.phoneHash ? e.phoneHash.toString('hex') : null,
      e.actorType,
      e.actorId,
      e.ip,
      canonicalJson(e.data),
      e.hash ? e.hash.toString('hex') : null,
      e.prevHash ? e.prevHash.toString('hex') : null,
    ]
      .map(csvField)
      .join(',') + '\r\n'
  );
}
