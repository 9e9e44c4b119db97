import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.data/', 'packages/client/dist/', 'packages/client/src/schema.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', __dirname: 'readonly', require: 'readonly', module: 'writable', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', fetch: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-console': 'error',
    },
  },
  {
    // On Node 20 (V8 11.3) an object literal that begins with a spread and goes on with more properties or spreads gives
    // every object it makes a hidden class of its own, left in the old generation (docs/scaling.md, "What fills the old
    // generation, and a hidden class per object"). Object.assign({}, a, { b }) builds the same object along V8's shared transitions.
    files: ['src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression > SpreadElement:first-child ~ *',
          message: 'A leading spread followed by more properties costs a hidden class per object on Node 20: use Object.assign({}, a, { b }) (docs/scaling.md).',
        },
      ],
    },
  },
  {
    files: ['test/**', 'bench/**', 'tools/**', 'packages/client/test/**', 'packages/client/examples/**', '**/*.spec.ts', '*.js', '*.mjs'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'no-console': 'off' },
  },
);
