import { finished, Readable } from 'node:stream';
import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { CurrentPrincipal, Principal, Authenticated } from '../common/auth';
import { ApiProblem } from '../common/problem-docs';
import { AuditFilters, AuditReader, EXPORT_PIECE } from './audit-reader.service';
import { toExportLine, toView } from './audit-rows';
import { AuditService } from './audit.service';
import { AuditFiltersQuery, ExportAuditEventsQuery, ListAuditEventsQuery } from './dto/audit-query.dto';
import { AuditEventPage, AuditIntegrityView } from './dto/audit-event.views';
import { csvHeader, csvLine } from './audit-csv';

/** The filters as recorded in audit.read / audit.exported: the phone number goes to the event's own (hashed, masked) field. */
function recordedFilters(q: AuditFiltersQuery): Record<string, unknown> {
  const { phoneNumber, ...rest } = q as AuditFiltersQuery & { limit?: number; cursor?: string; format?: string };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined && k !== 'cursor') out[k] = v;
  if (phoneNumber) out.phoneNumber = 'given';
  return out;
}

@ApiTags('audit')
@Authenticated('audit:read')
@Controller('v1/admin/audit-events')
export class AuditController {
  constructor(
    private readonly reader: AuditReader,
    private readonly audit: AuditService,
    @InjectDataSource() private readonly db: DataSource,
  ) {}

  @Get()
  @ApiOperation({
    operationId: 'listAuditEvents',
    summary: 'List audit events, newest first',
    description:
      'Keyset pagination: pass nextCursor as cursor. Events not chained yet (seq null, chained false) are newest and come first; ' +
      'a cursor remembers the chain head of the first page, so paging never repeats or skips an event while the chain grows. ' +
      'The read itself is recorded as an audit.read event.',
  })
  @ApiOkResponse({ type: AuditEventPage })
  @ApiProblem('validation_failed', 'A filter of the wrong form, `to` not after `from`, limit out of 1-500, or a cursor this list did not make.')
  async list(@Query() q: ListAuditEventsQuery, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<AuditEventPage> {
    const filters = this.reader.filtersFrom(q);
    // The read and its audit.read event commit together: no answer leaves unless its read is recorded.
    return this.db.transaction(async (m) => {
      const page = await this.reader.list(filters, q.limit, q.cursor, m);
      await this.audit.record(m, {
        type: 'audit.read',
        actor: { type: 'admin', id: who.keyId },
        clientId: who.clientId,
        phoneNumber: filters.phoneNumber,
        ip: req.ip,
        data: { filters: recordedFilters(q), page: q.cursor ? 'next' : 'first', returned: page.items.length },
      });
      return { items: page.items.map(toView), nextCursor: page.nextCursor };
    });
  }

  @Get('integrity')
  @ApiOperation({
    operationId: 'verifyAuditChain',
    summary: 'Verify the hash chain',
    description: 'Walks every chained event from the latest checkpoint (or the start). ok false names the first broken seq. Recorded as audit.verified.',
  })
  @ApiOkResponse({ type: AuditIntegrityView })
  async integrity(@CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<AuditIntegrityView> {
    const result = await this.reader.verifyChain();
    await this.db.transaction((m) =>
      this.audit.record(m, {
        type: 'audit.verified',
        actor: { type: 'admin', id: who.keyId },
        clientId: who.clientId,
        ip: req.ip,
        data: { ok: result.ok, checked: result.checked, headSeq: result.headSeq, firstBrokenSeq: result.firstBrokenSeq ?? null },
      }),
    );
    return result;
  }

  @Get('export')
  @ApiOperation({
    operationId: 'exportAuditEvents',
    summary: 'Export audit events as NDJSON or CSV, streamed',
    description:
      'Same filters as the list; chain order (oldest first), events not chained yet last. Each NDJSON line is a list item plus phoneHash, ' +
      'so an export verifies offline. Recorded as an audit.exported event before the first byte is sent.',
  })
  @ApiOkResponse({
    description: 'The events, one per line (a download: content-disposition attachment).',
    content: {
      'application/x-ndjson': {
        schema: { type: 'string', description: 'One JSON object a line: an audit event as the list shows it, plus phoneHash.' },
        example: '{"id":"evt_01JD3Y8N6W2Q5V7X9Z1B3C5D7F","seq":1,"chained":true,"type":"verification.created","occurredAt":"2026-11-24T12:00:00.000Z",…}\n',
      },
      'text/csv': {
        schema: { type: 'string', description: 'A header line, then one event a line.' },
        example: 'id,seq,type,occurredAt,…\nevt_01JD3Y8N6W2Q5V7X9Z1B3C5D7F,1,verification.created,2026-11-24T12:00:00.000Z,…\n',
      },
    },
  })
  @ApiProblem('validation_failed', 'A filter of the wrong form, `to` not after `from`, or a format other than ndjson and csv.')
  async export(@Query() q: ExportAuditEventsQuery, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const filters: AuditFilters = this.reader.filtersFrom(q);
    const csv = q.format === 'csv';
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    reply
      .status(200)
      .header('content-type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="audit-events-${stamp}.${csv ? 'csv' : 'ndjson'}"`)
      .header('cache-control', 'no-store');
    // HEAD (which Fastify answers for every GET): the headers only; nothing is read, exported or recorded.
    if (req.method === 'HEAD') return reply.send();

    const slot = this.reader.exportSlot();
    // Given back once the answer is over, whichever way: read whole, cut off, or its connection gone (also when it
    // went while the guards ran, before this: finished() calls back for a stream already closed, and a response queued
    // behind another on its connection learns of the loss from the socket).
    const socket = req.raw.socket;
    if (!socket || socket.destroyed) {
      // the client left while the guards ran: nothing to export to
      slot();
      return reply.raw.destroy();
    }
    const running: { rows?: AsyncGenerator<unknown> } = {};
    // A reader that stops reading stops the writes, and so lines() below waits, a piece in hand, to be asked for the
    // next: once it has waited that long (the reader's time, not the database's), the answer is cut off, which ends
    // the export's transaction and gives its connection back (PostgreSQL's own idle timeout is the backstop). Not the
    // socket's timeout: that counts the database's time too, and Node lets it pass once more while a write is still
    // queued, so it fired only after twice the time.
    const idleMs = this.reader.exportIdleTimeoutMs;
    let waitingSince: number | undefined;
    const watchdog = setInterval(() => {
      if (waitingSince !== undefined && performance.now() - waitingSince >= idleMs) reply.raw.destroy();
    }, Math.min(1000, idleMs / 5));
    watchdog.unref();
    const release = () => {
      clearInterval(watchdog);
      socket.removeListener('close', release);
      slot();
      // ends the export's transaction now: the answer's stream, stalled on a reader that is gone, may never ask again
      void running.rows?.return(undefined).catch(() => undefined);
    };
    finished(reply.raw, release);
    socket.once('close', release);
    await this.db
      .transaction((m) =>
        this.audit.record(m, {
          type: 'audit.exported',
          actor: { type: 'admin', id: who.keyId },
          clientId: who.clientId,
          phoneNumber: filters.phoneNumber,
          ip: req.ip,
          data: { filters: recordedFilters(q), format: q.format },
        }),
      )
      .catch((err: unknown) => {
        release();
        throw err;
      });
    const rows = this.reader.streamEvents(filters);
    running.rows = rows;
    async function* lines() {
      try {
        if (csv) yield csvHeader();
        for await (const batch of rows) {
          // in pieces of 50 events: each piece asked for shows the reader is still reading (the idle timeout)
          for (let i = 0; i < batch.length; i += EXPORT_PIECE) {
            const piece = batch.slice(i, i + EXPORT_PIECE).map((e) => (csv ? csvLine(e) : JSON.stringify(toExportLine(e)) + '\n')).join('');
            waitingSince = performance.now();
            yield piece;
            waitingSince = undefined;
          }
        }
      } finally {
        release();
        // the answer's tail, still to be written once the transaction has ended, to a reader that stops reading
        reply.raw.setTimeout(idleMs, () => reply.raw.destroy());
      }
    }
    reply.send(Readable.from(lines(), { objectMode: false }));
  }
}
