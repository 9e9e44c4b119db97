import type { BoundTransaction } from './codes';

export interface MessageInput {
  channel: 'sms' | 'voice';
  locale: 'ja' | 'en';
  serviceName: string;
  code: string;
  ttlSeconds: number;
  purpose: string;
  transaction?: BoundTransaction | null;
  /** WebOTP (origin-bound code): adds the last line `@domain #code` so browsers and phones can autofill. */
  webOtpDomain?: string;
}

const PURPOSES: Record<string, { ja: string; en: string }> = {
  login: { ja: 'ログイン', en: 'sign-in' },
  signin: { ja: 'ログイン', en: 'sign-in' },
  signup: { ja: '新規登録', en: 'sign-up' },
  sign_up: { ja: '新規登録', en: 'sign-up' },
  transfer: { ja: '振込', en: 'transfer' },
  payment: { ja: 'お支払い', en: 'payment' },
  password_reset: { ja: 'パスワード再設定', en: 'password reset' },
  phone_change: { ja: '電話番号変更', en: 'phone number change' },
};

/** Control characters and line breaks out, length capped: the payee is caller-supplied text inside an SMS. */
function clean(text: string, max: number): string {
  const flat = text.normalize('NFC').replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ').replace(/\s+/g, ' ').trim();
  return [...flat].length > max ? [...flat].slice(0, max - 1).join('') + '…' : flat;
}

function groupDigits(amount: string): string {
  const [int, frac] = amount.split('.');
  const grouped = (int.replace(/^0+(?=\d)/, '') || '0').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac ? `${grouped}.${frac}` : grouped;
}

function amountText(tx: BoundTransaction, locale: 'ja' | 'en'): string {
  const currency = tx.currency.toUpperCase();
  if (locale === 'ja' && currency === 'JPY') return `${groupDigits(tx.amount)}円`;
  return `${groupDigits(tx.amount)} ${currency}`;
}

function purposeText(purpose: string, locale: 'ja' | 'en'): string {
  return PURPOSES[purpose]?.[locale] ?? purpose.replace(/[_.-]+/g, ' ');
}

/**
 * The text of a code message. It names the service, the code, how long it is valid, what it is for, the
 * amount and payee when a transaction is bound (dynamic linking), and warns never to share the code:
 * fraud rings phone victims and ask for it. The default Japanese SMS fits one UCS-2 segment (70).
 */
export function renderMessage(input: MessageInput): string {
  const minutes = Math.max(1, Math.round(input.ttlSeconds / 60));
  const purpose = purposeText(input.purpose, input.locale);
  const service = clean(input.serviceName, 20);
  const tx = input.transaction ? Object.assign({}, input.transaction, { payee: clean(input.transaction.payee, 40) }) : null;

  if (input.channel === 'voice') {
    const digits = input.code.split('').join(input.locale === 'ja' ? '、' : ', ');
    if (input.locale === 'ja') {
      const what = tx ? `${tx.payee}への${amountText(tx, 'ja')}の${purpose}` : purpose;
      return `${service}です。${what}の認証コードは、${digits}。繰り返します、${digits}。このコードは誰にも教えないでください。`;
    }
    const what = tx ? `${purpose} of ${amountText(tx, 'en')} to ${tx.payee}` : purpose;
    return `This is ${service}. Your code for ${what} is ${digits}. Again, ${digits}. Never share this code with anyone.`;
  }

  let text: string;
  if (input.locale === 'ja') {
    text = tx
      ? `【${service}】${tx.payee}への${amountText(tx, 'ja')}の${purpose}の認証コード ${input.code}（${minutes}分間有効）。誰にも教えないでください。`
      : `【${service}】認証コード ${input.code}\n${purpose}用・${minutes}分間有効。このコードは誰にも教えないでください。`;
  } else {
    text = tx
      ? `${service}: code ${input.code} approves a ${purpose} of ${amountText(tx, 'en')} to ${tx.payee}. Valid ${minutes} min. Never share this code.`
      : `${service}: your ${purpose} code is ${input.code}. Valid ${minutes} min. Never share this code; we will never ask for it.`;
  }
  if (input.webOtpDomain) text += `\n\n@${input.webOtpDomain} #${input.code}`;
  return text;
}
