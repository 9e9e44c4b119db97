import { Injectable } from '@nestjs/common';

export interface InboxMessage {
  /** The API client the message was sent for (null: sent for no client, shown to nobody). */
  clientId: string | null;
  to: string;
  channel: 'sms' | 'voice';
  body: string;
  reference: string;
  sentAt: string;
}

/**
 * The last messages the console provider "sent", for the development inbox. In memory, per process.
 * Each client reads only the messages sent for it: codes of one client's users are not another's to see.
 */
@Injectable()
export class DevInbox {
  private readonly messages: InboxMessage[] = [];
  private static readonly LIMIT = 500;

  add(message: InboxMessage): void {
    this.messages.push(message);
    if (this.messages.length > DevInbox.LIMIT) this.messages.splice(0, this.messages.length - DevInbox.LIMIT);
  }

  list(clientId: string, to?: string, limit = 20): InboxMessage[] {
    return this.messages
      .filter((m) => m.clientId === clientId && (!to || m.to === to))
      .slice(-limit)
      .reverse();
  }
}
