// ESLint flat config: typescript-eslint strict + stylistic, type-checked.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'eslint.config.js', '.dependency-cruiser.cjs', 'vendor/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/prefer-literal-enum-member': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
      // It demands `x!`, which no-non-null-assertion forbids; narrow with a check instead.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off',
    },
  },
  {
    // The stats page's browser script: plain JS, outside the TS program.
    files: ['src/stats/assets/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'script',
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'AbortController', 'setTimeout', 'clearTimeout', 'getComputedStyle'].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-floating-promises': 'off',
    },
  },
);
