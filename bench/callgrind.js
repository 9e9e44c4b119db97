// Instructions per request, counted by valgrind's callgrind (`BENCH_INSTRUCTIONS=1 node bench/alone.js`): a figure
// that depends neither on how fast the host is (the AMD EPYC and Intel Xeon hosts of this sandbox differ by half) nor
// on what else it runs, where CPU time per request moved by a quarter between repetitions of one run.
//
// counted(args, options): spawns `node args` under callgrind with counting off (valgrind still runs it, 5–10 times
// slower than alone); counting is switched on and off from outside with callgrind_control, and each window's counts
// are read from its dump with callgrind_annotate: the instructions in all, and those of V8's compilers and of its
// garbage collector (told by their functions' names, so approximate). These two come in lumps (a function optimized,
// a major collection) and move most between windows; the rest (our code and the libraries', V8's builtins and runtime,
// Node's and libc's) is what a change to the code moves. Only user-space instructions are counted: the kernel's work
// for a process's system calls (its socket writes, say) is not.
//
// With `functions: n`, node also runs with --perf-basic-prof (V8 writes where it put each compiled JavaScript function
// to /tmp/perf-PID.map), and each window also gives its n costliest functions: JavaScript ones named from that map,
// each charged with its own instructions and a share of those of the inline-cache and property builtins it called (V8's
// property lookups: otherwise one line for the whole program), and native ones by their symbols. Code V8 runs in its
// interpreter is charged to the interpreter's handlers, not to its function.
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { readdirSync, readFileSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');

const COMPILING = /v8::internal::(compiler|maglev|turboshaft|baseline|interpreter)::|v8::internal::(Parser|PreParser|Scanner|Compiler|BytecodeGenerator|Zone|OptimizingCompileDispatcher)/;
const GC = /v8::internal::.*(Heap|Scaveng|Marking|MarkCompact|Sweeper|Evacuat|RememberedSet|SlotSet|MemoryChunk|GCTracer|MinorMC|WeakObjects|SizeFromMap)|heap::base::|cppgc::/;

/** { all, compiling, gc } of callgrind_annotate's text (one line a function: its instructions, share, name). */
function instructionCounts(annotated) {
  const counts = { all: 0, compiling: 0, gc: 0 };
  for (const [, n, fn] of annotated.matchAll(/^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/gm)) {
    if (fn.startsWith('PROGRAM TOTALS')) continue;
    const ir = Number(n.replace(/,/g, ''));
    counts.all += ir;
    const qualified = fn.replace(/\((?!anonymous namespace\)).*$/, ''); // without its parameters' types (a HeapObject parameter is not GC)
    if (COMPILING.test(qualified)) counts.compiling += ir;
    else if (GC.test(qualified)) counts.gc += ir;
  }
  return counts;
}

/** V8's builtins that do a property access, a string join or a write barrier for their caller: charged to it. */
const CHARGED_TO_CALLER = /^Builtins_(\w*IC(?:_\w+|Baseline|Trampoline\w*)?|StringAdd\w*|CreateDataProperty|ObjectPrototypeHasOwnProperty|GetProperty|SetDataProperties|CloneObject\w*|RecordWrite\w*|FindOrderedHash\w*|StringEqual)$/;

/**
 * The functions of a callgrind dump (its text) with their instructions, costliest first: { name, ir }. JIT code, which
 * callgrind names by address, is named from a perf map's lines (`start size name`, hex) where one holds the address.
 */
function functionCosts(dump, perfMap = '') {
  const map = perfMap
    .split('\n')
    .map((l) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(l))
    .filter(Boolean)
    .map(([, start, size, name]) => [parseInt(start, 16), parseInt(size, 16), name.replace(/^JS:/, '')])
    .sort((a, b) => a[0] - b[0]);
  const named = (fn) => {
    const address = /^0x([0-9a-f]+)$/.exec(fn);
    if (!address) return fn;
    const at = parseInt(address[1], 16);
    let lo = 0;
    let hi = map.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (map[mid][0] <= at) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && at < map[hi][0] + map[hi][1] ? map[hi][2] : fn;
  };
  const ids = new Map(); // callgrind's name compression: "(id) name" the first time, "(id)" after
  const nameOf = (spec) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(spec);
    if (!m) return named(spec);
    if (m[2] !== undefined) ids.set(m[1], named(m[2]));
    return ids.get(m[1]);
  };
  const cost = new Map(); // function -> its own instructions
  const calls = new Map(); // charged builtin -> Map(caller -> the calls' instructions, the builtin's callees included)
  const add = (fn, ir) => cost.set(fn, (cost.get(fn) ?? 0) + ir);
  let fn = null;
  let callee = null;
  let call = false;
  for (const line of dump.split('\n')) {
    if (line.startsWith('fn=')) fn = nameOf(line.slice(3));
    else if (line.startsWith('cfn=')) callee = nameOf(line.slice(4));
    else if (line.startsWith('calls=')) call = true;
    else {
      const m = /^(?:[+-]?\d+|\*) (\d+)$/.exec(line); // a cost line: its position (a line number, relative or not), instructions
      if (!m || !fn) continue;
      const ir = Number(m[1]);
      if (!call) add(fn, ir);
      else if (CHARGED_TO_CALLER.test(callee)) {
        const callers = calls.get(callee) ?? calls.set(callee, new Map()).get(callee);
        callers.set(fn, (callers.get(fn) ?? 0) + ir);
      }
      call = false;
    }
  }
  // A charged builtin's own instructions go to its callers in proportion to their calls' cost; what it called in turn
  // (the runtime on a cache miss, a getter) keeps its own line, so nothing is counted twice.
  for (const [builtin, callers] of calls) {
    const own = cost.get(builtin) ?? 0;
    const total = [...callers.values()].reduce((a, b) => a + b, 0);
    if (!own || !total) continue;
    for (const [caller, ir] of callers) add(caller, (own * ir) / total);
    cost.delete(builtin);
  }
  return [...cost].map(([name, ir]) => ({ name, ir: Math.round(ir) })).sort((a, b) => b.ir - a.ir);
}

/**
 * `node args` under callgrind, counting nothing until start(); stop() resolves the counts since start(). remove() deletes
 * its files (call it once the process has exited). Files go to the system's temporary directory, named by `name`.
 */
function counted(args, options, name, { functions = 0 } = {}) {
  const prefix = path.join(os.tmpdir(), `${name}-callgrind`);
  // callgrind_control finds the process by the user and host its environment names (USER; HOST, which is also the
  // service's listening address), so it is given the same
  const user = os.userInfo().username;
  const controlEnv = { PATH: process.env.PATH, USER: user, ...(options.env?.HOST ? { HOST: options.env.HOST } : {}) };
  // --separate-recs=1: one name per function, not name'2 for its recursive calls
  const valgrind = ['--tool=callgrind', '--smc-check=all-non-file', '--separate-recs=1', '--instr-atstart=no', `--callgrind-out-file=${prefix}.%p`, `--vgdb-prefix=${prefix}-vgdb`];
  const proc = spawn('valgrind', [...valgrind, process.execPath, ...(functions ? ['--perf-basic-prof'] : []), ...args], { ...options, env: { ...options.env, USER: user } });
  const control = (...a) =>
    execFileSync('callgrind_control', [`--vgdb-prefix=${prefix}-vgdb`, ...a, String(proc.pid)], { env: controlEnv, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  const dir = path.dirname(prefix);
  const dumpPrefix = `${path.basename(prefix)}.${proc.pid}.`;
  const perfMap = `/tmp/perf-${proc.pid}.map`; // V8 writes it there whatever the temporary directory
  return {
    proc,
    start: () => control('--instr=on'),
    async stop() {
      control('--instr=off');
      control('--dump');
      // the process writes its dump when it next runs; the totals line ends it
      for (let i = 0; i < 600; i++) {
        const dump = readdirSync(dir).find((f) => f.startsWith(dumpPrefix));
        const file = dump && path.join(dir, dump);
        if (file && /^totals: \d+$/m.test(readFileSync(file, 'utf8'))) {
          const annotated = execFileSync('callgrind_annotate', ['--threshold=100', '--auto=no', file], { maxBuffer: 1 << 30 }).toString();
          const counts = instructionCounts(annotated);
          if (functions) counts.functions = functionCosts(readFileSync(file, 'utf8'), readFileSync(perfMap, 'utf8')).slice(0, functions);
          rmSync(file);
          return counts;
        }
        await sleep(100);
      }
      throw new Error(`no callgrind dump of process ${proc.pid} in ${dir} after 60 s`);
    },
    remove() {
      for (const f of readdirSync(dir)) if (f.startsWith(path.basename(prefix))) rmSync(path.join(dir, f), { force: true });
      if (functions) rmSync(perfMap, { force: true });
    },
  };
}

module.exports = { counted, instructionCounts, functionCosts };
