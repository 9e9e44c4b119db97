import { extname, join } from 'node:path';
import { ResourceLimits, Worker } from 'node:worker_threads';
import type { ChainCheckResult } from './audit-chain';

/**
 * The walker's V8 heap: all the integrity walk may use, whatever the trail's size (it holds two batches of rows
 * and one link). A walk that needed more fails with an error (ERR_WORKER_OUT_OF_MEMORY), it never answers ok.
 */
export const WALKER_RESOURCE_LIMITS: ResourceLimits = { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 8 };

/** Rows per FETCH of the walk. */
export const WALK_FETCH_ROWS = 1000;

/** What the worker needs: where to connect, which snapshot to read, where the chain starts and where it should end. */
export interface WalkInput {
  /** node-pg connection options (the app pool's, without its functions). */
  connection: Record<string, unknown>;
  /** pg_export_snapshot() of the transaction that reads the rest (checkpoint, head, stray events). */
  snapshot: string;
  /** The walk verifies links with seq > start.seq (from start.hash, hex), up to `through` when given. */
  start: { seq: number; hash: string };
  through?: number;
  /** Where the walk must end: ChainVerifier.finish(expectedHead). */
  expectedHead?: { seq: number; hash: string };
  fetchRows: number;
}

/** An error crosses as its name, message, stack and code (a SQLSTATE or a socket's, which say the database failed). */
export type WalkReply = { result: ChainCheckResult } | { error: { name: string; message: string; stack?: string; code?: string } };

/**
 * Runs the integrity walk (audit-chain.worker) in a worker thread: its own connection, reading through a cursor
 * in the caller's exported snapshot, with the next FETCH on its way while a batch is decoded and hashed, on a V8
 * heap capped by `resourceLimits`. The walk's memory is the worker's, whatever the size of the trail, and the
 * main thread (serving requests) does none of the per-event work.
 *
 * Any failure (an error in the walk, the worker running out of its heap, exiting early) rejects: the walk
 * fails, it never answers ok.
 */
export function walkChain(input: WalkInput, resourceLimits: ResourceLimits = WALKER_RESOURCE_LIMITS): Promise<ChainCheckResult> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    const worker = startWorker(input, resourceLimits);
    worker.once('message', (reply: WalkReply) => {
      if ('result' in reply) settle(() => resolve(reply.result));
      else settle(() => reject(Object.assign(new Error(reply.error.message), reply.error)));
    });
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => settle(() => reject(new Error(`audit chain walker exited (code ${code}) without a result`))));
  });
}

/**
 * The worker script next to this module: the compiled .js in a build. Run from the TypeScript sources (Jest
 * compiles them with SWC), a small script first registers the same compilation (@swc/core) for the worker's modules.
 */
function startWorker(workerData: WalkInput, resourceLimits: ResourceLimits): Worker {
  const ext = extname(__filename);
  const file = join(__dirname, `audit-chain.worker${ext}`);
  if (ext !== '.ts') return new Worker(file, { workerData, resourceLimits });
  const swc = require.resolve('@swc/core');
  const source = `
    const { readFileSync } = require('node:fs');
    const { transformSync } = require(${JSON.stringify(swc)});
    const options = { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } };
    require.extensions['.ts'] = (m, filename) => m._compile(transformSync(readFileSync(filename, 'utf8'), { ...options, filename }).code, filename);
    require(${JSON.stringify(file)});`;
  return new Worker(source, { eval: true, workerData, resourceLimits });
}
