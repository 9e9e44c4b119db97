import type * as PinpointSdk from '@aws-sdk/client-pinpoint-sms-voice-v2';
import { Logger } from '@nestjs/common';
import { maskPhone } from '../../../common/phone';
import type { AwsSmsConfig } from '../../../config/app-config';
import { CallNotPlaced, CallPlaced, CheckCall, OutgoingCall, OutgoingSms, ProviderAccepted, ProviderError, SmsGateway, VoiceGateway } from '../../ports';
import { awsRefusal } from './aws.mapping';

/**
 * AWS End User Messaging SMS (the `pinpoint-sms-voice-v2` API) through AWS's own SDK,
 * @aws-sdk/client-pinpoint-sms-voice-v2: `SendTextMessage` over JSON 1.0 (`X-Amz-Target:
 * PinpointSMSVoiceV2.SendTextMessage`), signed SigV4 with the static credentials of AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY in AWS_REGION, at the region's endpoint or AWS_API_BASE_URL (the SDK's `endpoint` option:
 * the tests' fake). One request per message: the SDK's own retries are off (`maxAttempts: 1`, the router fails
 * over instead) and its request times out with ours.
 * - `MessageType: TRANSACTIONAL`, from AWS_SMS_ORIGINATION_IDENTITY, with AWS_SMS_CONFIGURATION_SET when given;
 * - our outbox id rides in `Context` (`{"reference": "msg_…"}`): AWS's API takes no idempotency key or client
 *   reference of its own, and the context is copied into every delivery event.
 * Delivery receipts are not read back: AWS publishes them as events of the configuration set's event
 * destinations (SNS, Firehose, CloudWatch), not as a callback to us, so AWS messages stay at delivery `sent`.
 * SMS only: voice and IVR check calls are refused as route errors (fromEnv keeps aws out of voice lists).
 * Refusals are mapped in aws.mapping.ts.
 */
export class AwsSmsProvider implements SmsGateway, VoiceGateway {
  readonly name = 'aws';
  private readonly logger = new Logger('AwsSmsProvider');
  /** The SDK, required when this provider is built: an instance that routes no SMS to AWS never loads it (about 17 MB). */
  private readonly sdk: typeof PinpointSdk = require('@aws-sdk/client-pinpoint-sms-voice-v2');
  private readonly client: PinpointSdk.PinpointSMSVoiceV2Client;

  constructor(
    private readonly config: AwsSmsConfig,
    private readonly timeoutMs: number,
  ) {
    this.client = new this.sdk.PinpointSMSVoiceV2Client({
      region: config.region,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      maxAttempts: 1,
      requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
    });
  }

  async send(sms: OutgoingSms): Promise<ProviderAccepted> {
    let id: unknown;
    try {
      const sent = await this.client.send(
        new this.sdk.SendTextMessageCommand({
          DestinationPhoneNumber: sms.to,
          OriginationIdentity: this.config.originationIdentity,
          MessageBody: sms.body,
          MessageType: 'TRANSACTIONAL',
          ...(this.config.configurationSet ? { ConfigurationSetName: this.config.configurationSet } : {}),
          Context: { reference: sms.reference },
        }),
      );
      id = sent.MessageId;
    } catch (err) {
      if (!acceptedDespite(err)) throw awsRefusal(err, this.timeoutMs);
    }
    if (typeof id === 'string' && /^[A-Za-z0-9-]{1,128}$/.test(id)) return { provider: this.name, providerMessageId: id };
    this.logger.warn({ to: maskPhone(sms.to), reference: sms.reference }, 'AWS accepted the message without a readable MessageId: recorded as sent with no provider id');
    return { provider: this.name, providerMessageId: null };
  }

  async call(_call: OutgoingCall): Promise<ProviderAccepted> {
    throw new ProviderError(this.name, 'the aws provider sends SMS only', false);
  }

  async placeCheckCall(_call: CheckCall): Promise<CallPlaced> {
    throw new CallNotPlaced(this.name, 'the aws provider sends SMS only', 'route_error', false);
  }
}

/** A 2xx answer the SDK could not read (a malformed body): AWS took the message all the same. */
function acceptedDespite(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' && status >= 200 && status < 300;
}
