/**
 * The benches' instruction counter (bench/callgrind.js, `BENCH_INSTRUCTIONS=1 node bench/alone.js`): a node process
 * under callgrind counts only between start() and stop(), and a window's count is its own work. Here the process is
 * a small HTTP server whose requests compute a loop of the length they ask for.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import http from 'node:http';

type Counts = { all: number; compiling: number; gc: number; functions?: Array<{ name: string; ir: number }> };
const { counted, instructionCounts, functionCosts } = createRequire(__filename)('../bench/callgrind.js') as {
  counted(args: string[], options: object, name: string, opts?: { functions?: number }): { proc: import('node:child_process').ChildProcess; start(): void; stop(): Promise<Counts>; remove(): void };
  instructionCounts(annotated: string): Counts;
  functionCosts(dump: string, perfMap?: string): Array<{ name: string; ir: number }>;
};

const hasValgrind = (() => {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('bench: instructions counted by callgrind', () => {
  it("sorts callgrind_annotate's lines into V8's compiling, its garbage collection and the rest", () => {
    const annotated = [
      '1,000,000 (100.0%)  PROGRAM TOTALS',
      '--------------------------------------------------------------------------------',
      'Ir                 file:function',
      '  600,000 (60.00%)  ???:Builtins_KeyedLoadIC_Megamorphic [/usr/bin/node]',
      '  250,000 (25.00%)  ???:v8::internal::compiler::GraphReducer::ReduceTop() [/usr/bin/node]',
      '  100,000 (10.00%)  ???:heap::base::SlotCallbackResult v8::internal::Scavenger::ScavengeObject(v8::internal::FullHeapObjectSlot) [/usr/bin/node]',
      '   40,000 ( 4.00%)  ???:v8::internal::JSReceiver::SetProperties(v8::internal::HeapObject) [/usr/bin/node]',
      '   10,000 ( 1.00%)  ???:0x000000000d2af300 [???]',
    ].join('\n');
    // a HeapObject among the parameters does not make a function the garbage collector's
    expect(instructionCounts(annotated)).toEqual({ all: 1_000_000, compiling: 250_000, gc: 100_000 });
  });

  it("names JIT code from V8's perf map and charges it its share of the property lookups it called", () => {
    const dump = [
      'events: Ir',
      'fl=(1) ???',
      'fn=(1) 0x0000000000001010',
      '0 100',
      'cfn=(2) Builtins_KeyedLoadIC_Megamorphic',
      'calls=4 0',
      '0 90',
      'cfn=(3) 0x0000000000009000',
      'calls=1 0',
      '0 70',
      'fn=(5) 0x0000000000002004',
      '0 10',
      'cfn=(2)',
      'calls=1 0',
      '0 30',
      'fn=(2)',
      '0 60',
      'cfn=(4) v8::internal::Runtime_KeyedLoadIC_Miss(int, unsigned long*, v8::internal::Isolate*)',
      'calls=1 0',
      '0 60',
      'fn=(4)',
      '0 60',
      'fn=(3)',
      '+2 70',
      'fn=(6) node::Start(int, char**)',
      '* 30',
      'totals: 330',
    ].join('\n');
    const perfMap = '1000 100 JS:*work [eval]:2:9\n2000 10 JS:*other [eval]:9:9\n';
    // The builtin's own 60 goes to its callers as their calls' cost (90 and 30 of 120): 45 and 15. Its miss handler
    // keeps its own 60, so the lines add up to the dump's total. Code at 0x9000 is in no mapped range.
    const costs = functionCosts(dump, perfMap);
    expect(costs).toEqual([
      { name: '*work [eval]:2:9', ir: 145 },
      { name: '0x0000000000009000', ir: 70 },
      { name: 'v8::internal::Runtime_KeyedLoadIC_Miss(int, unsigned long*, v8::internal::Isolate*)', ir: 60 },
      { name: 'node::Start(int, char**)', ir: 30 },
      { name: '*other [eval]:9:9', ir: 25 },
    ]);
    expect(costs.reduce((a, f) => a + f.ir, 0)).toBe(330);
  });

  (hasValgrind ? it : it.skip)(
    "counts a window's own work: the same requests with a longer loop count more by about the loop's instructions",
    async () => {
      const server = `
        const http = require('node:http');
        function work(n) {
          let x = 0;
          for (let i = 0; i < n; i++) x = (x * 31 + i) | 0;
          return x;
        }
        const s = http.createServer((req, res) => res.end(String(work(Number(new URL(req.url, 'http://x').searchParams.get('n'))))));
        s.listen(0, '127.0.0.1', () => process.send(s.address().port));
        process.on('disconnect', () => process.exit(0));`;
      const c = counted(['-e', server], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] }, `jest-${process.pid}`, { functions: 3 });
      try {
        const port = await new Promise<number>((resolve) => c.proc.once('message', (p) => resolve(p as number)));
        const get = (n: number) =>
          new Promise<void>((resolve, reject) =>
            http.get({ host: '127.0.0.1', port, path: `/?n=${n}`, agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject),
          );
        const requests = async (count: number, n: number) => {
          for (let i = 0; i < count; i++) await get(n);
        };
        await requests(30, 300_000); // uncounted: the loop gets optimized
        c.start();
        await requests(10, 1_000);
        const short = await c.stop();
        c.start();
        await requests(10, 1_000_000);
        const long = await c.stop();
        // nothing was counted before the first start(): a window of 10 short requests is far below the process's
        // start-up (hundreds of millions of instructions)
        expect(short.all).toBeGreaterThan(0);
        expect(short.all).toBeLessThan(100e6);
        // 10 × 999,000 more iterations, each at least two instructions (a multiply-add and the loop's test) and not a
        // hundred (17 here, on Node 20)
        expect(long.all - short.all).toBeGreaterThan(10 * 999_000 * 2);
        expect(long.all - short.all).toBeLessThan(10 * 999_000 * 100);
        // and the costliest function of the long window is the loop's, named from V8's perf map
        expect(long.functions![0].name).toMatch(/work \[eval\]/);
        expect(long.functions![0].ir).toBeGreaterThan(10 * 999_000 * 2);
      } finally {
        if (c.proc.exitCode === null && c.proc.signalCode === null) {
          c.proc.kill('SIGKILL');
          await new Promise((r) => c.proc.once('exit', r));
        }
        c.remove();
      }
    },
    120_000,
  );
});
