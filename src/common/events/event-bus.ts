import { Injectable, Logger } from '@nestjs/common';
import type { Tx } from '../tx';
import { DomainEvents, EventName } from './domain-events';

export type EventHandler<K extends EventName> = (tx: Tx, event: DomainEvents[K]) => Promise<void> | void;

interface Subscription {
  name: string;
  handler: EventHandler<never>;
}

/**
 * In-process, synchronous domain events. `publish(tx, name, event)` runs every subscriber inside the
 * publisher's transaction, one after the other, so their writes (and audit events) commit or roll back
 * with it. A subscriber that throws fails the publisher's transaction: the error is logged naming the
 * event and the subscriber, and rethrown. Work that must wait for the commit goes to `tx.afterCommit()`.
 */
@Injectable()
export class EventBus {
  private readonly logger = new Logger(EventBus.name);
  private readonly subscriptions = new Map<EventName, Subscription[]>();

  /** `name` identifies the subscriber in logs (e.g. 'VerificationService.onMessageFailed'). */
  subscribe<K extends EventName>(event: K, name: string, handler: EventHandler<K>): void {
    const list = this.subscriptions.get(event) ?? [];
    list.push({ name, handler: handler as EventHandler<never> });
    this.subscriptions.set(event, list);
  }

  async publish<K extends EventName>(tx: Tx, event: K, payload: DomainEvents[K]): Promise<void> {
    const list = this.subscriptions.get(event);
    if (!list) return;
    for (const { name, handler } of list) {
      try {
        await (handler as EventHandler<K>)(tx, payload);
      } catch (err) {
        this.logger.error({ err, event, subscriber: name }, `subscriber ${name} of ${event} failed: the publisher's transaction is rolled back`);
        throw err;
      }
    }
  }
}
