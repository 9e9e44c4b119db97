import { Injectable } from '@nestjs/common';
import type { Queryable } from '../common/tx';
import type { ScriptedDelivery, ScriptedIvrOutcome } from '../common/test-numbers';

/** A client's test number as stored; `code` null: the default code. */
export interface TestNumber {
  id: string;
  clientId: string;
  phoneE164: string;
  code: string | null;
  deliveryStatus: ScriptedDelivery | null;
  ivrOutcome: ScriptedIvrOutcome;
  createdAt: Date;
  createdBy: string | null;
}

const COLUMNS = `id, client_id AS "clientId", phone_e164 AS "phoneE164", code, delivery_status AS "deliveryStatus", ivr_outcome AS "ivrOutcome",
                 created_at AS "createdAt", created_by AS "createdBy"`;

/** All SQL on `client_test_numbers`. */
@Injectable()
export class TestNumbersRepository {
  /** Inserts it unless the client has this number already (the unique index decides between concurrent adds); whether it did. */
  async insert(q: Queryable, t: TestNumber): Promise<boolean> {
    const rows: unknown[] = await q.query(
      `INSERT INTO client_test_numbers (id, client_id, phone_e164, code, delivery_status, ivr_outcome, created_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (client_id, phone_e164) DO NOTHING RETURNING id`,
      [t.id, t.clientId, t.phoneE164, t.code, t.deliveryStatus, t.ivrOutcome, t.createdAt, t.createdBy],
    );
    return rows.length > 0;
  }

  async count(q: Queryable, clientId: string): Promise<number> {
    const [row]: Array<{ n: number }> = await q.query(`SELECT count(*)::int AS n FROM client_test_numbers WHERE client_id = $1`, [clientId]);
    return row.n;
  }

  async listOf(q: Queryable, clientId: string): Promise<TestNumber[]> {
    return q.query(`SELECT ${COLUMNS} FROM client_test_numbers WHERE client_id = $1 ORDER BY created_at, id`, [clientId]);
  }

  async remove(q: Queryable, clientId: string, id: string): Promise<TestNumber | undefined> {
    const [rows]: [TestNumber[], number] = await q.query(`DELETE FROM client_test_numbers WHERE id = $1 AND client_id = $2 RETURNING ${COLUMNS}`, [id, clientId]);
    return rows[0];
  }

  /** The client's test number with this number, if any: one probe of the (client_id, phone_e164) unique index. */
  async find(q: Queryable, clientId: string, phoneE164: string): Promise<TestNumber | undefined> {
    const rows: TestNumber[] = await q.query(`SELECT ${COLUMNS} FROM client_test_numbers WHERE client_id = $1 AND phone_e164 = $2`, [clientId, phoneE164]);
    return rows[0];
  }
}
