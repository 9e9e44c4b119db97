import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditEventInput, AuditService } from '../audit/audit.service';
import type { Principal } from '../common/auth';
import { Clock } from '../common/clock';
import { newId } from '../common/ids';
import { InvalidPhoneNumber, maskPhone, readPhone } from '../common/phone';
import { ProblemException, Problems } from '../common/problem';
import { defaultTestCode, type TestScript } from '../common/test-numbers';
import type { Queryable } from '../common/tx';
import { AppConfig } from '../config/app-config';
import { ClientsRepository } from './clients.repository';
import { ActingAs, ClientsService } from './clients.service';
import type { CreateTestNumberDto, TestNumberView } from './dto/test-number.dto';
import { TestNumber, TestNumbersRepository } from './test-numbers.repository';

/** How many test numbers one client may have (their list is answered whole). */
export const MAX_TEST_NUMBERS = 100;

const E164 = /^\+[1-9]\d{6,14}$/;

/** What a start of a test number needs: its script, and the fixed code (for the verification's code length). */
export interface TestNumberMatch extends TestScript {
  code: string;
}

const toView = (t: TestNumber): TestNumberView => ({
  id: t.id,
  phoneNumber: maskPhone(t.phoneE164),
  codeLength: t.code ? t.code.length : null,
  deliveryStatus: t.deliveryStatus,
  ivrOutcome: t.ivrOutcome,
  createdAt: t.createdAt.toISOString(),
});

/**
 * A client's test numbers (sandbox, issue 12 item 4): numbers whose verifications never reach a provider, accept a
 * fixed code, and play a scripted delivery status and IVR outcome. Admins add and remove them (each change audited);
 * issuance looks a start's number up (`match`) only when the caller's principal says the client has some and may use
 * them here: outside production, or with its policy's testNumbersInProduction. Elsewhere a test number is an ordinary number.
 */
@Injectable()
export class TestNumbersService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly repo: TestNumbersRepository,
    private readonly clientsRepo: ClientsRepository,
    private readonly clients: ClientsService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {}

  async add(clientId: string, dto: CreateTestNumberDto, by: ActingAs): Promise<TestNumberView> {
    const phoneE164 = this.e164(dto.phoneNumber);
    const now = this.clock.now();
    const row: TestNumber = {
      id: newId('tst', now.getTime()),
      clientId,
      phoneE164,
      code: dto.code ?? null,
      deliveryStatus: dto.deliveryStatus ?? null,
      ivrOutcome: dto.ivrOutcome ?? 'key_pressed',
      createdAt: now,
      createdBy: by.actor.id ?? null,
    };
    const added = await this.db.transaction(async (m) => {
      // Locked, so that the cap holds under concurrent adds and the production allowance read is the current one.
      const client = await this.clientsRepo.lockClient(m, clientId);
      if (!client) throw Problems.notFound(`No client ${clientId}.`);
      if (this.config.isProduction && client.testNumbersInProduction !== true) {
        throw new ProblemException(409, 'conflict', 'Test numbers are off in production for this client: an admin must set testNumbersInProduction in its policy first.');
      }
      if ((await this.repo.count(m, clientId)) >= MAX_TEST_NUMBERS) {
        throw new ProblemException(409, 'conflict', `A client has at most ${MAX_TEST_NUMBERS} test numbers.`);
      }
      if (!(await this.repo.insert(m, row))) throw new ProblemException(409, 'conflict', 'This number is already a test number of this client.');
      await this.audit.record(m, this.event('client.test_number_added', row, by));
      return row;
    });
    this.clients.forgetClient(clientId);
    return toView(added);
  }

  async list(clientId: string): Promise<{ items: TestNumberView[] }> {
    const client = await this.clientsRepo.findClient(this.db.manager, { id: clientId });
    if (!client) throw Problems.notFound(`No client ${clientId}.`);
    return { items: (await this.repo.listOf(this.db.manager, clientId)).map(toView) };
  }

  /** Another client's test number answers 404, as a missing one does. */
  async remove(clientId: string, id: string, by: ActingAs): Promise<TestNumberView> {
    const removed = await this.db.transaction(async (m) => {
      const row = await this.repo.remove(m, clientId, id);
      if (!row) throw Problems.notFound(`No test number ${id} for client ${clientId}.`);
      await this.audit.record(m, this.event('client.test_number_removed', row, by));
      return row;
    });
    this.clients.forgetClient(clientId);
    return toView(removed);
  }

  /**
   * The caller's test number with this number, when it has test numbers it may use here; undefined otherwise (then
   * with no query at all: a client without test numbers pays nothing for them on its starts).
   */
  async match(q: Queryable, principal: Principal, phoneE164: string, codeLength: number | undefined): Promise<TestNumberMatch | undefined> {
    if (!principal.testNumbers) return undefined;
    const found = await this.repo.find(q, principal.clientId, phoneE164);
    if (!found) return undefined;
    return {
      testNumberId: found.id,
      deliveryStatus: found.deliveryStatus,
      ivrOutcome: found.ivrOutcome,
      code: found.code ?? defaultTestCode(codeLength ?? 6),
    };
  }

  /** A number in E.164 form that can be one (its length possible for its country); else 400 naming phoneNumber. */
  private e164(input: string): string {
    const bad = (message: string) => new ProblemException(400, 'invalid_phone_number', `phoneNumber ${message}.`, { errors: [{ field: 'phoneNumber', message: `phoneNumber ${message}` }] });
    if (!E164.test(input)) throw bad('must be in E.164 form (+819012345678)');
    try {
      const read = readPhone(input);
      if (read.e164 !== input || !read.possible) throw bad('is not a possible number for its country');
      return read.e164;
    } catch (err) {
      if (err instanceof InvalidPhoneNumber) throw bad(err.reason);
      throw err;
    }
  }

  /** The number goes in as the event's phone number (stored hashed and masked); the code never does. */
  private event(type: string, t: TestNumber, by: ActingAs): AuditEventInput {
    return {
      type,
      actor: by.actor,
      ip: by.ip,
      clientId: t.clientId,
      phoneNumber: t.phoneE164,
      data: { testNumberId: t.id, fixedCodeDigits: t.code?.length ?? null, deliveryStatus: t.deliveryStatus, ivrOutcome: t.ivrOutcome },
    };
  }
}
