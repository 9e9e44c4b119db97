import type { Queryable } from './tx';

/** Where a client's result webhooks go by default, and the secrets that sign them. */
export interface WebhookTarget {
  url: string | null;
  /** The current secret first, then the previous one while its rotation overlap lasts (Standard Webhooks). */
  secrets: string[];
  /** The client's URL answered 410 Gone at this time: nothing goes there until an admin enables it again. */
  disabledAt: Date | null;
}

/**
 * A client's webhook target, for the modules that send result webhooks. The clients module owns the
 * table and provides the implementation; declared here so that `verification` and `gateway` need not import
 * `clients` (ARCHITECTURE.md).
 */
export abstract class WebhookTargets {
  abstract webhookTargetOf(q: Queryable, clientId: string, now: Date): Promise<WebhookTarget | undefined>;
  /** Disables the client's endpoint if `url` is still its URL and it is enabled; true when this call disabled it. */
  abstract disableEndpoint(q: Queryable, clientId: string, url: string, now: Date): Promise<boolean>;
}
