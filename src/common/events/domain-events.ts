/**
 * The typed map of domain events: how a lower module talks back up without importing the module above
 * (ARCHITECTURE.md, "Talking back up: events"). The publisher names the event; whoever cares subscribes.
 */
/**
 * How an IVR check call ended, whatever the provider (each provider's folder maps its own statuses onto it).
 * `key_pressed` carries the keys as pressed: whether they were the expected ones is the caller's judgement.
 * Absent-type outcomes (the number has no voice service): `unallocated`, `out_of_service`. Unknown-type
 * outcomes (nobody pressed a key, for whatever reason): `no_key`, `voicemail`, `busy`, `no_answer`,
 * `unavailable`, `rejected`. `route_error`: the provider could not route the call (try another one).
 */
export type CallOutcome =
  | { kind: 'key_pressed'; digits: string }
  | { kind: 'no_key' | 'voicemail' | 'busy' | 'no_answer' | 'unallocated' | 'out_of_service' | 'rejected' | 'unavailable' | 'route_error' };

export type CallOutcomeKind = CallOutcome['kind'];

/** How a voice contract was checked: our call with a key press, the person's call to us, or a code read by a call and approved. */
export type VoiceCheckMethod = 'ivr_outbound' | 'ivr_inbound' | 'voice_otp';

/** Where a call stands, provider-neutral and in order: a call only ever moves forward through these. */
export type CallStatus = 'queued' | 'ringing' | 'answered' | 'ended';

/**
 * `test` (on the verification and voice-contract events): about a client's test number (sandbox). Such a verification
 * reaches no provider and counts against no number's limits or volumes; a test check's result is no number's record.
 */
export interface DomainEvents {
  /** issuance: a verification was created (`pending` with its code queued, or `screening`). */
  'verification.started': { verificationId: string; clientId: string; phoneE164: string; channel: 'sms' | 'voice'; purpose: string; status: 'pending' | 'screening'; at: Date; test?: boolean };
  /** verification: a right code approved it. */
  'verification.approved': { verificationId: string; clientId: string; phoneE164: string; country: string | null; channel: 'sms' | 'voice'; at: Date; test?: boolean };
  /** verification: a wrong code was counted (the per-number failure limit counts these). */
  'verification.check_failed': { verificationId: string; clientId: string; phoneE164: string; at: Date; test?: boolean };
  /** verification: the last allowed wrong code locked it. */
  'verification.locked': { verificationId: string; clientId: string; phoneE164: string; at: Date };
  /** gateway: no provider could deliver a code message; it will not be retried. */
  'message.failed': { outboxId: string; verificationId: string; clientId: string | null; channel: 'sms' | 'voice'; at: Date };
  /**
   * gateway: a verified delivery receipt moved a code message's delivery forward (`sent` → `delivered`,
   * `undelivered` or `failed`). Published once per step; duplicates and receipts older than what is known publish nothing.
   */
  'message.status': {
    outboxId: string;
    verificationId: string | null;
    clientId: string | null;
    channel: 'sms' | 'voice';
    provider: string;
    status: 'sent' | 'delivered' | 'undelivered' | 'failed';
    errorCode: string | null;
    at: Date;
  };
  /**
   * gateway: an IVR check call moved forward (rang, was answered, a key was pressed: `digits`), as the
   * provider's signed callback told. Published once per step; duplicates and late callbacks publish nothing.
   */
  'call.progressed': { provider: string; callId: string; reference: string | null; status: Exclude<CallStatus, 'ended'>; digits: string | null; at: Date };
  /**
   * gateway: an IVR check call ended, with its provider-neutral outcome. Published once per call; `callId` null
   * when the provider refused to place it (outcome `unallocated` or `route_error`).
   */
  'call.completed': { provider: string; callId: string | null; reference: string | null; outcome: CallOutcome; sipResponseCode: number | null; at: Date };
  /**
   * gateway: someone called the service's number (a provider's signed inbound-call callback). `from` is the caller id
   * in E.164 form, null when withheld or anonymous. Whoever matches it answers whether it was expected.
   */
  'call.inbound': { provider: string; callId: string; from: string | null; to: string; at: Date; matched: { value: boolean } };
  /**
   * risk: a voice-contract check of this number was decided (`confirmed`, `absent`, or `unknown` once its
   * retries found nothing). Issuance releases or denies the number's `screening` verifications on it.
   */
  'voice_contract.decided': { checkId: string; phoneE164: string; status: 'confirmed' | 'absent' | 'unknown'; method: VoiceCheckMethod; expiresAt: Date | null; at: Date; test?: boolean };
  /** issuance: screening refused a verification after its start (e.g. no voice contract); its caller is told. */
  'verification.denied': { verificationId: string; clientId: string; phoneE164: string; reasons: string[]; at: Date };
}

export type EventName = keyof DomainEvents;
