// Reads a V8 CPU profile (`BENCH_CPU_PROF=1 npm run bench` leaves CPU.*.cpuprofile in the repository root; any
// `node --cpu-prof` run does) and prints where the time went, as text that fits a note:
//   node bench/profile.js <file.cpuprofile> [--from S] [--to S] [--min PCT] [--depth N] [--folded]
// - self time by package (node_modules/<name>), by file of ours, and by node: builtin;
// - a top-down tree (a flame graph turned on its side): each frame with its inclusive share of the busy time, down to
//   frames of at least --min percent (default 1.5), --depth levels (default 14);
// - --folded: the folded stacks instead ("frame;frame;frame count", one line a stack), the input of flamegraph.pl
//   or speedscope for a picture.
// --from/--to: seconds since the profile's start, to keep one row of a run (the log of `npm run bench` says when
// each row ran).
'use strict';
const { readFileSync } = require('node:fs');

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d/.test(a));
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (!file) {
  process.stderr.write('usage: node bench/profile.js <file.cpuprofile> [--from S] [--to S] [--min PCT] [--depth N] [--folded]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const from = opt('from', 0) * 1e6;
const to = opt('to', Infinity) * 1e6;
const min = opt('min', 1.5);
const maxDepth = opt('depth', 14);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);

const short = (url) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, '~/')
    .replace(/.*\/dist\//, '');
const frameName = (n) => {
  const f = n.callFrame;
  return f.url ? `${f.functionName || '(anonymous)'} ${short(f.url)}:${f.lineNumber + 1}` : f.functionName;
};
const owner = (n) => {
  const u = n.callFrame.url;
  if (!u) return n.callFrame.functionName; // (idle), (garbage collector), (program), native frames
  const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(u);
  if (m) return m[1];
  if (u.startsWith('node:')) return u;
  return short(u);
};
const IDLE = new Set(['(idle)', '(program)', '(root)']);

// the samples inside the window, each with its time
let t = 0;
const samples = [];
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i] || 0;
  if (t >= from && t <= to) samples.push([profile.samples[i], profile.timeDeltas[i] || 0]);
}
const stackOf = (id) => {
  const frames = [];
  for (let x = id; x !== undefined; x = parent.get(x)) frames.push(byId.get(x));
  return frames.reverse().slice(1); // without (root)
};

let total = 0;
let busy = 0;
const self = new Map();
const folded = new Map();
const tree = { name: '(busy)', time: 0, children: new Map() };
for (const [id, dt] of samples) {
  const n = byId.get(id);
  total += dt;
  if (IDLE.has(n.callFrame.functionName)) continue;
  busy += dt;
  self.set(owner(n), (self.get(owner(n)) || 0) + dt);
  const stack = stackOf(id);
  const key = stack.map(frameName).join(';');
  folded.set(key, (folded.get(key) || 0) + dt);
  let node = tree;
  node.time += dt;
  for (const f of stack) {
    const name = frameName(f);
    if (!node.children.has(name)) node.children.set(name, { name, time: 0, children: new Map() });
    node = node.children.get(name);
    node.time += dt;
  }
}

if (args.includes('--folded')) {
  for (const [k, v] of folded) process.stdout.write(`${k} ${Math.round(v / 1000)}\n`);
  process.exit(0);
}
const ms = (us) => `${(us / 1000).toFixed(0)} ms`;
const pct = (us) => `${((100 * us) / busy).toFixed(1)}%`;
const out = [];
out.push(`${file}: ${ms(total)} sampled, ${ms(busy)} busy (${((100 * busy) / total).toFixed(0)}%); shares below are of the busy time.`);
out.push('', 'Self time by owner:');
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) out.push(`  ${pct(v).padStart(6)}  ${ms(v).padStart(9)}  ${k}`);
out.push('', `Top-down (inclusive, frames ≥ ${min}%):`);
const walk = (node, depth) => {
  for (const c of [...node.children.values()].sort((a, b) => b.time - a.time)) {
    if ((100 * c.time) / busy < min || depth > maxDepth) continue;
    out.push(`${'  '.repeat(depth)}${pct(c.time).padStart(6)}  ${c.name}`);
    walk(c, depth + 1);
  }
};
walk(tree, 1);
process.stdout.write(out.join('\n') + '\n');
