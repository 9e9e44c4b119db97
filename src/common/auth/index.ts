export * from './authenticated';
export * from './scopes';
