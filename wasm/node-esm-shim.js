// node-esm-shim.js: prepended to the ES-module glue with --extern-pre-js. Emscripten 3.1.6's glue uses
// CommonJS `require` and `__dirname` on its Node path, which do not exist inside an ES module; give it
// both, built from import.meta.url. Browsers, workers and extension pages have no `process.versions.node`
// and skip this (the glue only reads these names on its Node path).
var illustIsNode = typeof process === 'object' && process !== null && typeof process.versions === 'object' &&
  process.versions !== null && typeof process.versions.node === 'string' && typeof process.getBuiltinModule === 'function';
var require = illustIsNode ? process.getBuiltinModule('module').createRequire(import.meta.url) : undefined;
var __dirname = illustIsNode && import.meta.url.startsWith('file:')
  ? process.getBuiltinModule('path').dirname(process.getBuiltinModule('url').fileURLToPath(import.meta.url)) : '';
