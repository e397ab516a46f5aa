// Lint rules. The one rule that matters most: workflow code is deterministic and
// must never pull activity implementations (or Node built-ins) into the workflow bundle.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../activities/*', '../../activities/*', '**/activities/**'],
              allowTypeImports: true,
              message: 'Workflows import activity types only.',
            },
            {
              group: [
                'node:*',
                'fs',
                'fs/*',
                'path',
                'http',
                'https',
                'net',
                'child_process',
                'os',
                'crypto',
              ],
              message: 'Workflow code runs in a deterministic sandbox: no Node built-ins.',
            },
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
              message: 'Workflow code imports only @temporalio/workflow and @temporalio/common.',
            },
            {
              group: ['**/domain/spec'],
              allowTypeImports: true,
              message:
                'Workflow code takes values from domain/spec-facts and the schema check from domain/lazy-spec: importing domain/spec builds every zod schema in every cached workflow (about 1.3 MB each).',
            },
          ],
        },
      ],
    },
  },
);
