export * from './authenticated';
export * from './scopes';
export * from './failed-auth-limiter';
