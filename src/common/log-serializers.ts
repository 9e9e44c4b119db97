import { stdSerializers } from 'pino';

/**
 * Properties a database error carries that may hold data values: TypeORM's QueryFailedError copies the
 * bind `parameters` and the driver's `detail` ("Key (name)=(…) already exists"), `where` and the whole
 * `driverError`. Any of them could hold a phone number or a secret, so none reaches a log line.
 */
const DATA_BEARING = ['parameters', 'driverError', 'detail', 'where', 'internalQuery', 'params'];

export function safeErrorSerializer(err: unknown): Record<string, unknown> {
  const out = stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  for (const key of DATA_BEARING) delete out[key];
  if (out.cause && typeof out.cause === 'object') out.cause = safeErrorSerializer(out.cause);
  return out;
}
