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
    if (COMPILING.test(fn)) counts.compiling += ir;
    else if (GC.test(fn)) counts.gc += ir;
  }
  return counts;
}

/**
 * `node args` under callgrind, counting nothing until start(); stop() resolves the counts since start(). remove() deletes
 * its files (call it once the process has exited). Files go to the system's temporary directory, named by `name`.
 */
function counted(args, options, name) {
  const prefix = path.join(os.tmpdir(), `${name}-callgrind`);
  // callgrind_control finds the process by the user and host its environment names (USER; HOST, which is also the
  // service's listening address), so it is given the same
  const user = os.userInfo().username;
  const controlEnv = { PATH: process.env.PATH, USER: user, ...(options.env?.HOST ? { HOST: options.env.HOST } : {}) };
  const valgrind = ['--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${prefix}.%p`, `--vgdb-prefix=${prefix}-vgdb`];
  const proc = spawn('valgrind', [...valgrind, process.execPath, ...args], { ...options, env: { ...options.env, USER: user } });
  const control = (...a) => execFileSync('callgrind_control', [`--vgdb-prefix=${prefix}-vgdb`, ...a, String(proc.pid)], { env: controlEnv, stdio: 'ignore' });
  const dir = path.dirname(prefix);
  const dumpPrefix = `${path.basename(prefix)}.${proc.pid}.`;
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
        if (file && /^totals: /m.test(readFileSync(file, 'utf8'))) {
          const annotated = execFileSync('callgrind_annotate', ['--threshold=100', file], { maxBuffer: 1 << 30 }).toString();
          rmSync(file);
          return instructionCounts(annotated);
        }
        await sleep(100);
      }
      throw new Error(`no callgrind dump of process ${proc.pid} in ${dir} after 60 s`);
    },
    remove() {
      for (const f of readdirSync(dir)) if (f.startsWith(path.basename(prefix))) rmSync(path.join(dir, f), { force: true });
    },
  };
}

module.exports = { counted, instructionCounts };
