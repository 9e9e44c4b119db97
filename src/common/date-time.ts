import { isISO8601, ValidateBy, ValidationOptions } from 'class-validator';

/**
 * An ISO 8601 date-time that JavaScript reads as an instant. class-validator's strict ISO 8601 also passes forms
 * `new Date` cannot read (`2026-W05`, `20261124`, `2026-11-24T10`): those became Invalid Date, and then a 500 from
 * PostgreSQL instead of the 400 they deserve.
 */
export function IsDateTime(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isDateTime',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && isISO8601(value, { strict: true }) && !Number.isNaN(Date.parse(value)),
        defaultMessage: (args) => `${args?.property ?? 'value'} must be an ISO 8601 date-time such as 2026-11-24T00:00:00Z`,
      },
    },
    options,
  );
}
