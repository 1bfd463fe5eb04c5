#!/usr/bin/env node
// The `tvm` command: the CLI built by `npm run build` (run by `npm install` through `prepare`).
require('../dist/tvm.js');
