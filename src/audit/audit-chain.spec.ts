import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  canonicalEncoding,
  canonicalJson,
  ChainedEvent,
  chainEvents,
  chainHash,
  ChainVerifier,
  GENESIS_HASH,
  linkEvents,
  linkEventsInSlices,
  NotCanonicalJson,
  StoredChainedEvent,
} from './audit-chain';

const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });

const eventArb: fc.Arbitrary<Omit<ChainedEvent, 'seq'>> = fc.record({
  id: fc.stringMatching(/^evt_[0-9A-Z]{26}$/),
  type: fc.constantFrom('verification.created', 'verification.approved', 'client.created', 'audit.read'),
  occurredAt: fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true }),
  clientId: nullable(fc.stringMatching(/^cli_[0-9A-Z]{4}$/)),
  verificationId: nullable(fc.stringMatching(/^vrf_[0-9A-Z]{4}$/)),
  phoneHash: nullable(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a))),
  phoneMasked: nullable(fc.constantFrom('+81*******5678', '+1*******2671')),
  actorType: fc.constantFrom('client', 'admin', 'system', 'provider'),
  actorId: nullable(fc.string({ maxLength: 12 })),
  ip: nullable(fc.constantFrom('127.0.0.1', '10.0.0.8', '::1')),
  data: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
});

/** One change to one stored field of one event, as someone with write access to the table could make. */
type Mutation = { field: keyof StoredChainedEvent; value: unknown };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ field: fc.constant('id' as const), value: fc.stringMatching(/^evt_[0-9A-Z]{26}$/) }),
  fc.record({ field: fc.constant('type' as const), value: fc.constantFrom('verification.canceled', 'x.y') }),
  fc.record({ field: fc.constant('occurredAt' as const), value: fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true }) }),
  fc.record({ field: fc.constant('clientId' as const), value: nullable(fc.string({ maxLength: 8 })) }),
  fc.record({ field: fc.constant('verificationId' as const), value: nullable(fc.string({ maxLength: 8 })) }),
  fc.record({ field: fc.constant('phoneHash' as const), value: nullable(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a))) }),
  fc.record({ field: fc.constant('phoneMasked' as const), value: nullable(fc.string({ maxLength: 14 })) }),
  fc.record({ field: fc.constant('actorType' as const), value: fc.constantFrom('client', 'admin', 'system', 'provider') }),
  fc.record({ field: fc.constant('actorId' as const), value: nullable(fc.string({ maxLength: 8 })) }),
  fc.record({ field: fc.constant('ip' as const), value: nullable(fc.string({ maxLength: 8 })) }),
  fc.record({ field: fc.constant('data' as const), value: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }) }),
  fc.record({ field: fc.constant('seq' as const), value: fc.integer({ min: 1, max: 1000 }) }),
  fc.record({ field: fc.constant('hash' as const), value: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a)) }),
  fc.record({ field: fc.constant('prevHash' as const), value: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a)) }),
);

function verify(events: StoredChainedEvent[]) {
  const v = new ChainVerifier();
  for (const e of events) if (!v.push(e)) break;
  return v.finish();
}

function same(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}

describe('canonicalJson', () => {
  it('sorts object keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });

  it('gives the same text for the same value whatever the key order (as jsonb may return it)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
        expect(canonicalJson(JSON.parse(canonicalJson(obj)))).toBe(canonicalJson(obj));
      }),
    );
  });

  it('refuses what JSON cannot hold', () => {
    for (const bad of [NaN, Infinity, undefined, 10n, () => 1, Symbol('s'), new Date(), new Map()]) {
      expect(() => canonicalJson({ x: bad })).toThrow(NotCanonicalJson);
    }
    expect(() => canonicalJson({ a: [1, { b: NaN }] })).toThrow('a[1].b is NaN, which JSON cannot represent');
    expect(() => canonicalJson([[0, { c: [undefined] }]])).toThrow('[0][1].c[0] is undefined, which JSON cannot represent');
    expect(() => canonicalJson(Symbol('s'))).toThrow('value is symbol, which JSON cannot represent');
    expect(() => canonicalJson({ '[k]': [{ x: 1n }] })).toThrow('[k][0].x is bigint, which JSON cannot represent');
  });
});

describe('the hash chain', () => {
  it('links each event to the one before, from 32 zero bytes', () => {
    const [a, b] = chainEvents({ seq: 0, hash: GENESIS_HASH }, fc.sample(eventArb, { numRuns: 2, seed: 1 }));
    expect(a.seq).toBe(1);
    expect(a.prevHash.equals(GENESIS_HASH)).toBe(true);
    expect(a.hash.equals(chainHash(GENESIS_HASH, a))).toBe(true);
    expect(b.prevHash.equals(a.hash)).toBe(true);
    expect(a.hash.toString('hex')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('the encoding starts with a version tag and puts the seq inside the hashed bytes', () => {
    const [a] = chainEvents({ seq: 41, hash: GENESIS_HASH }, fc.sample(eventArb, { numRuns: 1, seed: 2 }));
    expect(canonicalEncoding(a)).toMatch(/^\["otp-audit-v1",42,"evt_/);
  });

  it('an untouched chain verifies, also from a checkpoint', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 0, maxLength: 20 }), fc.integer({ min: 0, max: 1e6 }), (events, from) => {
        const start = { seq: from, hash: Buffer.alloc(32, 7) };
        const chained = chainEvents(start, events);
        const v = new ChainVerifier(start);
        chained.forEach((e) => expect(v.push(e)).toBe(true));
        const last = chained.length ? chained[chained.length - 1] : undefined;
        expect(v.finish({ seq: from + chained.length, hash: last?.hash ?? start.hash })).toMatchObject({ ok: true, checked: chained.length });
      }),
    );
  });

  it('any change to any field of any event breaks verification at that event', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { minLength: 1, maxLength: 12 }),
        fc.nat(),
        mutationArb,
        (events, pick, mutation) => {
          const chained: StoredChainedEvent[] = chainEvents({ seq: 0, hash: GENESIS_HASH }, events);
          const i = pick % chained.length;
          fc.pre(!same(chained[i][mutation.field], mutation.value));
          const tampered = chained.map((e, j) => (j === i ? { ...e, [mutation.field]: mutation.value } : e));
          const result = verify(tampered);
          expect(result.ok).toBe(false);
          // A changed seq is hashed, or steps back: the break is at that event, under its new number.
          if (mutation.field === 'seq') expect(result.firstBrokenSeq).toBe(mutation.value);
          else expect(result.firstBrokenSeq).toBe(i + 1);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('removing an event, inserting a forged one or swapping two breaks verification', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 3, maxLength: 12 }), fc.nat(), eventArb, (events, pick, forged) => {
        const chained: StoredChainedEvent[] = chainEvents({ seq: 0, hash: GENESIS_HASH }, events);
        const i = 1 + (pick % (chained.length - 2)); // a middle event

        // Numbers may have gaps (rolled back transactions), so a removed event shows at the next link.
        const removed = chained.filter((_, j) => j !== i);
        expect(verify(removed)).toMatchObject({ ok: false, firstBrokenSeq: i + 2, reason: 'prev_hash_mismatch' });
        // A walk that still sees the removed event's link reports that seq itself.
        const v = new ChainVerifier();
        for (const e of chained) if (!(e === chained[i] ? v.missing(e.seq) : v.push(e))) break;
        expect(v.finish()).toMatchObject({ ok: false, firstBrokenSeq: i + 1, reason: 'missing_event' });

        // The best forgery: renumber the events after it and give it a correct link to its predecessor.
        const prev = chained[i - 1];
        const fake = { ...forged, seq: i + 1, prevHash: prev.hash!, hash: chainHash(prev.hash!, { ...forged, seq: i + 1 }) };
        const inserted = [...chained.slice(0, i), fake, ...chained.slice(i).map((e) => ({ ...e, seq: e.seq + 1 }))];
        expect(verify(inserted)).toMatchObject({ ok: false, firstBrokenSeq: i + 2 });

        const swapped = [...chained];
        [swapped[i], swapped[i + 1]] = [swapped[i + 1], swapped[i]];
        expect(verify(swapped).ok).toBe(false);
      }),
    );
  });

  it('links a batch in slices, pausing between two slices, to the same links as in one go', async () => {
    const events = fc.sample(eventArb, { numRuns: 7, seed: 6 }).map((e, i) => ({ ...e, seq: i + 1 }));
    let pauses = 0;
    const pause = async () => void pauses++;
    const sliced = await linkEventsInSlices(GENESIS_HASH, events, pause, 3);
    const whole = linkEvents(GENESIS_HASH, events);
    expect(sliced).toEqual(whole);
    expect(verify(sliced)).toMatchObject({ ok: true, checked: 7 });
    expect(pauses).toBe(2); // slices of 3 + 3 + 1
    expect(await linkEventsInSlices(GENESIS_HASH, [], pause, 3)).toEqual([]);
    expect(pauses).toBe(2);
  });

  it('accepts gaps in the numbers (a rolled back transaction never uses its number) but no step back', () => {
    const events = fc.sample(eventArb, { numRuns: 3, seed: 4 }).map((e, i) => ({ ...e, seq: [2, 5, 9][i] }));
    const linked = linkEvents(GENESIS_HASH, events);
    expect(verify(linked)).toMatchObject({ ok: true, checked: 3, headSeq: 9 });
    const back = linkEvents(GENESIS_HASH, [events[1], events[0]]);
    expect(verify(back)).toMatchObject({ ok: false, firstBrokenSeq: 2, reason: 'unexpected_event' });
  });

  it('a chain cut short of the recorded head is broken at the first missing seq', () => {
    const chained = chainEvents({ seq: 0, hash: GENESIS_HASH }, fc.sample(eventArb, { numRuns: 5, seed: 3 }));
    const head = { seq: 5, hash: chained[4].hash };
    const v = new ChainVerifier();
    chained.slice(0, 3).forEach((e) => v.push(e));
    expect(v.finish(head)).toMatchObject({ ok: false, firstBrokenSeq: 4, reason: 'missing_event' });
    const w = new ChainVerifier();
    chained.forEach((e) => w.push(e));
    expect(w.finish({ seq: 5, hash: GENESIS_HASH })).toMatchObject({ ok: false, firstBrokenSeq: 5, reason: 'head_mismatch' });
  });
});

describe('the hashed bytes', () => {
  // Pinned: a change here breaks every chain already stored, so it must be deliberate (a new CHAIN_VERSION).
  it('are exactly these for a known event, and so is its hash', () => {
    const e: ChainedEvent = {
      seq: 42,
      id: 'evt_01JABCDEFGHJKMNPQRSTVWXYZ0',
      type: 'verification.created',
      occurredAt: new Date('2026-11-24T12:34:56.789Z'),
      clientId: 'cli_BENCH0001',
      verificationId: null,
      phoneHash: Buffer.alloc(32, 3),
      phoneMasked: '+81*******1234',
      actorType: 'client',
      actorId: 'key "q" ü\u2028',
      ip: '10.0.0.1',
      data: { z: [1, { b: 'é', a: null }], channel: 'sms', n: -0.5 },
    };
    expect(canonicalEncoding(e)).toBe(
      '["otp-audit-v1",42,"evt_01JABCDEFGHJKMNPQRSTVWXYZ0","verification.created","2026-11-24T12:34:56.789Z","cli_BENCH0001",null,' +
        `"${'03'.repeat(32)}","+81*******1234","client","key \\"q\\" ü\u2028","10.0.0.1",{"channel":"sms","n":-0.5,"z":[1,{"a":null,"b":"é"}]}]`,
    );
    expect(chainHash(Buffer.alloc(32, 7), e).toString('hex')).toBe('445e0ad0bf7bf3e6d2ea04d100b03d57c14d44029af79be2dc643561252e9a79');
    // the same bytes through a generic SHA-256, so the scratch-buffer path cannot drift from the definition
    const generic = createHash('sha256').update(Buffer.alloc(32, 7)).update(canonicalEncoding(e), 'utf8').digest('hex');
    expect(generic).toBe('445e0ad0bf7bf3e6d2ea04d100b03d57c14d44029af79be2dc643561252e9a79');
  });

  it('do not depend on an earlier, longer event (the scratch buffer is reused)', () => {
    const [small] = fc.sample(eventArb, { numRuns: 1, seed: 3 });
    const big = { ...small, data: { blob: 'x'.repeat(10_000) } };
    const before = chainHash(GENESIS_HASH, { ...small, seq: 1 });
    chainHash(GENESIS_HASH, { ...big, seq: 1 });
    expect(chainHash(GENESIS_HASH, { ...small, seq: 1 }).equals(before)).toBe(true);
    const expected = createHash('sha256').update(GENESIS_HASH).update(canonicalEncoding({ ...big, seq: 1 }), 'utf8').digest();
    expect(chainHash(GENESIS_HASH, { ...big, seq: 1 }).equals(expected)).toBe(true);
  });
});
