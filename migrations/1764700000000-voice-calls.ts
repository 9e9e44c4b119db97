import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * IVR check calls as their provider reports them (gateway): one row per call, moved only forward through
 * queued → ringing → answered → ended, so duplicate and late callbacks change nothing. No phone number: the
 * caller's `reference` links the call to what it checks.
 */
export class VoiceCalls1764700000000 implements MigrationInterface {
  name = 'VoiceCalls1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE voice_calls (
        provider          text NOT NULL,
        call_id           text NOT NULL,
        reference         text,
        status            text NOT NULL CHECK (status IN ('queued', 'ringing', 'answered', 'ended')),
        answered_by       text CHECK (answered_by IN ('human', 'machine', 'unknown')),
        digits            text,
        outcome           text CHECK (outcome IN ('key_pressed', 'no_key', 'voicemail', 'busy', 'no_answer', 'unallocated', 'out_of_service', 'rejected', 'unavailable', 'route_error')),
        sip_response_code integer,
        sequence          integer,
        created_at        timestamptz NOT NULL,
        updated_at        timestamptz NOT NULL,
        PRIMARY KEY (provider, call_id),
        CHECK ((status = 'ended') = (outcome IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX voice_calls_reference ON voice_calls (reference)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE voice_calls`);
  }
}
