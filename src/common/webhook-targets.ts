import type { Queryable } from './tx';

/** Where a client's result webhooks go by default, and the secret that signs them. */
export interface WebhookTarget {
  url: string | null;
  secret: string;
}

/**
 * A client's webhook target, for the modules that send result webhooks. The clients module owns the
 * table and provides the implementation; declared here so that `verification` need not import `clients`
 * (ARCHITECTURE.md: verification may import common, database, audit, gateway, issuance).
 */
export abstract class WebhookTargets {
  abstract webhookTargetOf(q: Queryable, clientId: string): Promise<WebhookTarget | undefined>;
}
