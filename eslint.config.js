// ESLint for the writing demo (ES modules in the browser, no build step).
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  { ignores: ["serving/static/vendor/**"] },  // vendored third-party bundles
  js.configs.recommended,
  {
    files: ["serving/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
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
