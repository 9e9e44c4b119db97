import { Injectable } from '@nestjs/common';

export interface InboxMessage {
  to: string;
  channel: 'sms' | 'voice';
  body: string;
  reference: string;
  sentAt: string;
}

/** The last messages the console provider "sent", for the development inbox. In memory, per process. */
@Injectable()
export class DevInbox {
  private readonly messages: InboxMessage[] = [];
  private static readonly LIMIT = 500;

  add(message: InboxMessage): void {
    this.messages.push(message);
    if (this.messages.length > DevInbox.LIMIT) this.messages.splice(0, this.messages.length - DevInbox.LIMIT);
  }

  list(to?: string, limit = 20): InboxMessage[] {
    return this.messages
      .filter((m) => !to || m.to === to)
      .slice(-limit)
      .reverse();
  }
}
