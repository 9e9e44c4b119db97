import { parentPort, workerData } from 'node:worker_threads';
import { Client, QueryArrayResult } from 'pg';
import { ChainCheckResult, ChainVerifier } from './audit-chain';
import type { WalkInput, WalkReply } from './audit-chain-walker';
import { AuditEventRow, fromRow } from './audit-rows';

/**
 * The integrity walk, in a worker thread (started by walkChain): reads audit_chain with its events in seq order
 * (or one range of it) through a cursor, in the snapshot exported by the caller's transaction, and feeds one ChainVerifier. Values
 * are decoded by node-pg's usual type parsers, as everywhere else in the service.
 */

/** The link, then the event's columns (all null when the link's event is gone). */
const WALK_COLUMNS = 'c.seq, c.prev_hash, c.hash, e.id, e.type, e.occurred_at, e.client_id, e.verification_id, e.phone_hash, e.phone_masked, e.actor_type, e.actor_id, e.ip, e.data';
type WalkRow = [string, Buffer, Buffer, string | null, string, Date, string | null, string | null, Buffer | null, string | null, string, string | null, string | null, unknown];

async function walk(input: WalkInput): Promise<ChainCheckResult> {
  const client = new Client(input.connection);
  // A connection lost mid-walk fails the query on its way (or the next one), which rejects the walk; node-pg also
  // emits 'error', which with no listener would throw in this thread instead.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`);
    await client.query(`SET TRANSACTION SNAPSHOT '${input.snapshot.replace(/'/g, "''")}'`);
    // The range is repeated on the events' side (the same rows: e.seq = c.seq), so that their index scan starts
    // at the range instead of reading every event below it before the first match.
    const range = input.through === undefined ? (t: string) => `${t}.seq > $1` : (t: string) => `${t}.seq > $1 AND ${t}.seq <= $2`;
    await client.query(
      `DECLARE audit_walk NO SCROLL CURSOR FOR
         SELECT ${WALK_COLUMNS} FROM audit_chain c LEFT JOIN audit_events e ON e.seq = c.seq AND ${range('e')}
          WHERE ${range('c')} ORDER BY c.seq`,
      input.through === undefined ? [String(input.start.seq)] : [String(input.start.seq), String(input.through)],
    );
    const verifier = new ChainVerifier({ seq: input.start.seq, hash: Buffer.from(input.start.hash, 'hex') });
    const fetch = () => {
      const rows = client.query<WalkRow>({ text: `FETCH FORWARD ${input.fetchRows} FROM audit_walk`, rowMode: 'array' });
      rows.catch(() => undefined); // thrown where awaited; not unhandled when the walk fails with it on its way
      return rows;
    };
    let next: Promise<QueryArrayResult<WalkRow>> | undefined = fetch();
    while (next) {
      const { rows }: QueryArrayResult<WalkRow> = await next;
      // The next batch is on its way (the server reads it) while this one is hashed.
      next = rows.length === input.fetchRows ? fetch() : undefined;
      if (!verifyBatch(verifier, rows)) break;
    }
    await next; // the chain broke with a FETCH still on its way
    await client.query(`COMMIT`);
    return verifier.finish(input.expectedHead ? { seq: input.expectedHead.seq, hash: Buffer.from(input.expectedHead.hash, 'hex') } : undefined);
  } finally {
    await client.end();
  }
}

function verifyBatch(verifier: ChainVerifier, rows: WalkRow[]): boolean {
  for (const r of rows) {
    if (r[3] === null) {
      if (!verifier.missing(Number(r[0]))) return false;
      continue;
    }
    const row: AuditEventRow = {
      seq: r[0],
      prev_hash: r[1],
      hash: r[2],
      id: r[3],
      type: r[4],
      occurred_at: r[5],
      client_id: r[6],
      verification_id: r[7],
      phone_hash: r[8],
      phone_masked: r[9],
      actor_type: r[10],
      actor_id: r[11],
      ip: r[12],
      data: r[13],
    };
    if (!verifier.push(fromRow(row))) return false;
  }
  return true;
}

walk(workerData as WalkInput).then(
  (result) => parentPort!.postMessage({ result } satisfies WalkReply),
  (err: Error & { code?: unknown }) =>
    parentPort!.postMessage({ error: { name: err.name, message: err.message, stack: err.stack, code: typeof err.code === 'string' ? err.code : undefined } } satisfies WalkReply),
);
