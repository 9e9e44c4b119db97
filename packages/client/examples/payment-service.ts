import { createOtpClient, isProblem, verifyWebhook, type WebhookHeaders } from '@otp-verify/client';

/** A payment of the payment service, confirmed by a code sent by SMS that names its amount and payee (PSD2 dynamic linking). */
export interface Payment { id: string; phone: string; amount: string; currency: string; payee: string }

export function paymentConfirmation(config: { baseUrl: string; apiKey: string; webhookSecret: string }) {
  const otp = createOtpClient({ baseUrl: config.baseUrl, apiKey: config.apiKey });
  const transaction = (p: Payment) => ({ amount: p.amount, currency: p.currency, payee: p.payee });

  return {
    /** Sends the code. The payment id as Idempotency-Key: asking twice (a retry, a double click) sends one code. */
    async begin(p: Payment): Promise<{ verificationId: string } | { refused: string[] }> {
      try {
        const v = await otp.start({ phoneNumber: p.phone, purpose: 'payment', transaction: transaction(p), reference: p.id }, { idempotencyKey: `payment-${p.id}` });
        return { verificationId: v.id };
      } catch (err) {
        if (isProblem(err, 'risk_denied')) return { refused: err.problem.reasons ?? [] };
        throw err;
      }
    },

    /** What the person typed; the same transaction must come back (a code for another amount or payee is wrong). */
    async confirm(verificationId: string, code: string, p: Payment): Promise<'approved' | 'wrong_code' | 'locked' | 'closed'> {
      try {
        const result = await otp.check(verificationId, { code, transaction: transaction(p) });
        return result.valid ? 'approved' : result.status === 'locked' ? 'locked' : 'wrong_code';
      } catch (err) {
        // expired, canceled or used already: a new code is needed (never 'approved': this code did not approve it)
        if (isProblem(err, 'verification_not_pending')) return err.problem.verificationStatus === 'locked' ? 'locked' : 'closed';
        throw err;
      }
    },

    /** POST /hooks/otp: the result, signed (Standard Webhooks). Throws on a request the service did not sign. */
    onWebhook: (headers: WebhookHeaders, rawBody: string) => verifyWebhook(headers, rawBody, config.webhookSecret),
  };
}
