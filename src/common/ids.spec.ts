import { newId, ulid } from './ids';

describe('ids', () => {
  it('ULIDs are 26 Crockford characters, time first, and never repeat across refills of the random pool', () => {
    const seen = new Set<string>();
    const now = Date.now();
    for (let i = 0; i < 2000; i++) seen.add(ulid(now)); // 2000 × 16 bytes: the 4 KiB pool is refilled 7 times
    expect(seen.size).toBe(2000);
    for (const id of seen) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    // the same millisecond: the same 10-character time part
    expect(new Set([...seen].map((id) => id.slice(0, 10))).size).toBe(1);
    expect(newId('vrf', now)).toMatch(/^vrf_[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('the random part is not constant within a pool (each id takes its own 16 bytes)', () => {
    const a = ulid(0).slice(10);
    const b = ulid(0).slice(10);
    expect(a).not.toBe(b);
  });
});
