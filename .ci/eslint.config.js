// Lint configuration (kept under .ci/ so the top level stays the project's own folders).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Which part may import which (DESIGN.md, "Parts"): what two parts share lives in the contract, broker/api/,
// which imports nothing of theirs. Dynamic import() is held to the same rule.
const contractOnly = (from, ...forbidden) => {
  const patterns = forbidden.map(([regex, message]) => ({ regex, message }));
  const selectors = patterns.map(({ regex, message }) => ({
    selector: `ImportExpression > Literal[value=/${regex.replaceAll('/', '\\/')}/]`,
    message,
  }));
  return {
    files: from,
    rules: {
      'no-restricted-imports': ['error', { patterns }],
      'no-restricted-syntax': ['error', ...selectors],
    },
  };
};
const BROKER_BEYOND_CONTRACT = '(^|/)broker/(?!api/)';
const AGENT = '(^|/)agent/';
const PROVISIONER = '(^|/)provisioner/';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', '.ci/**', 'build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: new URL('..', import.meta.url).pathname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  // Build scripts in plain JavaScript (python/bundle-cli.mjs): outside the TypeScript project, linted untyped.
  { files: ['**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  contractOnly(['agent/**/*.ts'],
    [BROKER_BEYOND_CONTRACT, 'the agent reaches the broker only through its contract, broker/api/'],
    [PROVISIONER, 'the agent knows nothing of the provisioner'],
  ),
  contractOnly(['provisioner/**/*.ts'],
    [BROKER_BEYOND_CONTRACT, 'the provisioner reaches the broker only through its contract, broker/api/'],
    [AGENT, 'what the provisioner shares with the agent lives in the contract, broker/api/'],
  ),
  contractOnly(['broker/**/*.ts'], [AGENT, 'the broker reaches the agent only through the contract, broker/api/']),
  contractOnly(['broker/api/**/*.ts'], ['^\\.\\./', 'the contract imports nothing of the parts (only its own files and libraries)']),
  {
    // tap tracks every t.test() it is given, awaited or not, and an async test body without await is the
    // ordinary way to write a synchronous test.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
);
