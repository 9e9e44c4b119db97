export * from './domain-events';
export * from './event-bus';
