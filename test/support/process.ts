import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
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
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits until the program answers 200 on /health/ready; on timeout the error carries its output so far. */
export async function waitUntilReady(run: Spawned, baseUrl: string, what = '/health/ready', timeoutMs = 30_000): Promise<void> {
  try {
    await waitFor(async () => (await fetch(`${baseUrl}/health/ready`)).status === 200, { timeoutMs, intervalMs: 200, ignoreErrors: true, what });
  } catch (err) {
    throw new Error(`${String(err)}\nstdout: ${run.stdout()}\nstderr: ${run.stderr()}`, { cause: err });
  }
}
