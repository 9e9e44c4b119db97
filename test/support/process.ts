import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { LAUNCH_FLAGS } from '../../src/bootstrap';
import { waitFor } from './wait';

export const ROOT = resolve(__dirname, '../..');
export const MAIN = resolve(ROOT, 'dist/src/main.js');
export const CLI = resolve(ROOT, 'dist/src/cli.js');

export interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * Runs the built program (npm test builds it first) with only the given environment plus PATH; the service with the
 * node flags `npm start` and the image launch it with, unless nodeArgs says otherwise.
 */
export function runBuilt(script: string, env: Record<string, string>, args: string[] = [], nodeArgs: readonly string[] = script === MAIN ? LAUNCH_FLAGS : []): Spawned {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += String(d)));
  child.stderr?.on('data', (d) => (err += String(d)));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const run = { child, stdout: () => out, stderr: () => err, exited };
  spawned.push(run);
  return run;
}

/** Every program this test file started (each file has its own module registry). */
const spawned: Spawned[] = [];

/**
 * Ends every program this file started that still runs (a test that failed half-way leaves some): SIGTERM, so that
 * one that started an embedded PostgreSQL stops it, then SIGKILL after `graceMs`. Call it before removing their
 * directories.
 */
export async function stopSpawned(graceMs = 15_000): Promise<void> {
  const running = spawned.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
  for (const r of running) r.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((done) => (timer = setTimeout(done, graceMs)));
  await Promise.race([Promise.all(running.map((r) => r.exited)), late]);
  clearTimeout(timer);
  for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
  await Promise.all(running.map((r) => r.exited));
}

/** Waits until the program answers 200 on /health/ready; on timeout the error carries its output so far. */
export async function waitUntilReady(run: Spawned, baseUrl: string, what = '/health/ready', timeoutMs = 30_000): Promise<void> {
  try {
    await waitFor(async () => (await fetch(`${baseUrl}/health/ready`)).status === 200, { timeoutMs, intervalMs: 200, ignoreErrors: true, what });
  } catch (err) {
    throw new Error(`${String(err)}\nstdout: ${run.stdout()}\nstderr: ${run.stderr()}`, { cause: err });
  }
}

/** Asserts that no embedded PostgreSQL answers on `pgPort` any more (the program that started it stopped it). */
export async function expectEmbeddedStopped(pgPort: number): Promise<void> {
  const probe = new Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${pgPort}/otp`, connectionTimeoutMillis: 1000 });
  await expect(probe.connect()).rejects.toThrow();
}
