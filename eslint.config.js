// ESLint for the writing demo (plain browser script, no build step).
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  { ignores: ["serving/static/vendor/**"] },  // vendored third-party bundles
  js.configs.recommended,
  {
    files: ["serving/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: globals.browser,
    },
    rules: {
      "max-statements-per-line": ["error", { max: 1 }],
      curly: ["error", "multi-line"],
      eqeqeq: "error",
      "no-var": "error",
      "prefer-const": "error",
    },
  },
];
