/**
 * The typed map of domain events: how a lower module talks back up without importing the module above
 * (ARCHITECTURE.md, "Talking back up: events"). The publisher names the event; whoever cares subscribes.
 */
export interface DomainEvents {
  /** issuance: a verification was created (`pending` with its code queued, or `screening`). */
  'verification.started': { verificationId: string; clientId: string; phoneE164: string; channel: 'sms' | 'voice'; purpose: string; status: 'pending' | 'screening'; at: Date };
  /** verification: a right code approved it. */
  'verification.approved': { verificationId: string; clientId: string; phoneE164: string; channel: 'sms' | 'voice'; at: Date };
  /** verification: a wrong code was counted (the per-number failure limit counts these). */
  'verification.check_failed': { verificationId: string; clientId: string; phoneE164: string; at: Date };
  /** verification: the last allowed wrong code locked it. */
  'verification.locked': { verificationId: string; clientId: string; phoneE164: string; at: Date };
  /** gateway: no provider could deliver a code message; it will not be retried. */
  'message.failed': { outboxId: string; verificationId: string; clientId: string | null; channel: 'sms' | 'voice'; at: Date };
}

export type EventName = keyof DomainEvents;
