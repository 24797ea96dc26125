// One ES module from a plugin's plugin.js and the Weir SDK, as componentize-js takes it. The
// WIT imports (weir:plugin/host) stay imports. Paths come from scripts/build-plugin.sh.
export default {
  input: process.env.WEIR_JS_INPUT,
  external: [/^weir:/],
  resolve: { alias: { "weir-sdk": process.env.WEIR_JS_SDK } },
  output: { file: process.env.WEIR_JS_OUTPUT, format: "esm" },
  logLevel: "warn",
};
