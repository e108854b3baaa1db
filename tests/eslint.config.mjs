// ESLint (flat config) for the project's JavaScript: the demo (web/), the extension (extension/),
// the wasm loader (crate/js/), the build scripts and these tests. Run from the repository root
// (`eslint -c tests/eslint.config.mjs`, whose patterns are relative to it) by scripts/lint-js.sh.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', 'web/dist.tmp/**', 'target/**', '.cache/**', 'tests/out/**'] },
  {
    basePath: '..',
    files: ['**/*.js', '**/*.mjs'],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: { ...globals.browser } },
    rules: {
      ...js.configs.recommended.rules,
      'no-unused-vars': ['error', { args: 'none', caughtErrors: 'none' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
      eqeqeq: ['error', 'smart'],
      'prefer-const': 'error',
      'no-var': 'error',
    },
  },
  // The CPU backend's worker script runs in a window and in its Web Workers.
  { files: ['crate/js/**/*.js'], languageOptions: { globals: { ...globals.worker } } },
  // The extension's pages and workers also have the WebExtension API.
  { files: ['extension/**/*.js'], languageOptions: { globals: { ...globals.webextensions, ...globals.serviceworker } } },
  // Node: the tests, the build and serve scripts.
  { files: ['tests/**/*.mjs', 'scripts/**/*.mjs', 'extension/*.mjs'], languageOptions: { globals: { ...globals.node } } },
  // Code the tests send into pages and workers (page.evaluate, sw.evaluate) uses their globals.
  { files: ['tests/**/*.mjs'], languageOptions: { globals: { ...globals.browser, ...globals.webextensions } } },
];
