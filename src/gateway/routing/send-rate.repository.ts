import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** All SQL on `provider_send_windows`: the sends of the current second per provider and channel. */
@Injectable()
export class SendRateRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Counts one send in the current second (the database's clock, the same for every instance) unless `limit`
   * sends were already counted in it; whether it was counted. One atomic upsert: the row lock orders instances.
   */
  async take(provider: string, channel: 'sms' | 'voice', limit: number): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      `INSERT INTO provider_send_windows AS w (provider, channel, window_start, sent)
       VALUES ($1, $2, date_trunc('second', clock_timestamp()), 1)
       ON CONFLICT (provider, channel) DO UPDATE
          SET sent = CASE WHEN w.window_start = EXCLUDED.window_start THEN w.sent + 1 ELSE 1 END,
              window_start = EXCLUDED.window_start
        WHERE w.window_start <> EXCLUDED.window_start OR w.sent < $3
       RETURNING sent`,
      [provider, channel, limit],
    );
    return rows.length > 0;
  }
}
