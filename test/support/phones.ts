let n = Math.floor(Math.random() * 1e7);
/** A fresh valid Japanese mobile number for each call, so per-number limits of one test do not touch another. */
export function freshPhone(): string {
  n = (n + 7919) % 1e7;
  return `+81901${String(n).padStart(7, '0')}`;
}
