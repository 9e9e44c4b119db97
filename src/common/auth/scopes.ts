/** The scopes of API.md. */
export const SCOPES = ['verifications:write', 'verifications:check', 'risk:read', 'audit:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
