#!/usr/bin/env node
// Committed rather than built: npm links a workspace's bins when it installs, before `prepare` builds dist/,
// and links none whose file is missing. The command itself is dist/tvm-admin.cjs.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const built = join(__dirname, '..', 'dist', 'tvm-admin.cjs');
if (!existsSync(built)) {
  process.stderr.write(
    `tvm-admin: ${built} is missing: run \`npm run build\` in the token vending repository\n`,
  );
  process.exit(1);
}
require(built);
