import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { EventBus } from '../common/events';
import { Transactions } from '../database/transactions';
import { DeliveryReceipt } from './delivery-receipts.types';
import { GatewayMetrics } from './gateway.metrics';
import { OutboxRepository } from './outbox.repository';

/** What became of one receipt: `applied` moved the message forward; `ignored` was a duplicate, came too late or names no message of that provider. */
export type ReceiptResult = 'applied' | 'ignored';

/**
 * Delivery receipts, from the providers' verified status callbacks (each provider's folder verifies its
 * signature and maps its statuses onto ours). A receipt that moves a code message forward updates its
 * `delivery.status`, publishes `message.status` (verification turns it into message.delivered /
 * message.undelivered webhooks) and, for a final status, writes its audit event, all in one transaction.
 */
@Injectable()
export class DeliveryReceipts {
  private readonly logger = new Logger(DeliveryReceipts.name);

  constructor(
    private readonly outbox: OutboxRepository,
    private readonly transactions: Transactions,
    private readonly events: EventBus,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly metrics: GatewayMetrics,
  ) {}

  async record(receipt: DeliveryReceipt): Promise<ReceiptResult> {
    this.metrics.receipts.inc({ provider: receipt.provider, status: receipt.status });
    return this.transactions.run(async (tx) => {
      const now = this.clock.now();
      const row = await this.outbox.applyReceipt(tx, receipt, now);
      if (!row) return 'ignored';
      if (receipt.status !== 'sent') {
        await this.audit.record(tx, {
          type: receipt.status === 'delivered' ? 'message.delivered' : 'message.undelivered',
          actor: { type: 'provider', id: receipt.provider },
          clientId: row.client_id,
          verificationId: row.verification_id,
          data: { outboxId: row.id, channel: row.kind, provider: receipt.provider, providerMessageId: receipt.providerMessageId, status: receipt.status, errorCode: receipt.errorCode },
        });
      }
      await this.events.publish(tx, 'message.status', {
        outboxId: row.id,
        verificationId: row.verification_id,
        clientId: row.client_id,
        channel: row.kind,
        provider: receipt.provider,
        status: receipt.status as 'sent' | 'delivered' | 'undelivered' | 'failed',
        errorCode: receipt.errorCode,
        at: now,
      });
      this.logger.log({ outboxId: row.id, provider: receipt.provider, status: receipt.status, errorCode: receipt.errorCode }, 'delivery receipt applied');
      return 'applied';
    });
  }
}
