#!/usr/bin/env bash
# An adopter's first synth, outside this repository: packs the construct and grant-vend, makes a scratch CDK app
# in a temporary directory, installs the tarballs with the registry's aws-cdk-lib, constructs, cdk-nag and
# aws-cdk CLI, and synthesizes with no AWS credentials (so any context lookup fails the run):
#   - README's `app.js` exactly as printed, with config/providers/production.json as its providers.json;
#   - two regions (packages/construct/README.md, "Several regions") with fixed egress and the shipped
#     production entries (Maskinporten signing with a KMS key the stack creates).
# Both against the aws-cdk-lib this repository pins, then against the newest the construct's peer range admits.
# First, `npm publish --dry-run` of each package must print no warning (but the login one).
# Needs `npm ci` first (the packages' dist/) and the npm registry. Usage: scripts/adopter-synth.sh
set -euo pipefail
[ -n "${ADOPTER_SYNTH_TRACE:-}" ] && PS4='+ $(date +%T) ' && set -x
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/tvm-adopter.XXXXXX")"
trap 'rm -rf "$work"' EXIT

pinned="$(node -p "require('$repo/package.json').devDependencies['aws-cdk-lib']")"
range="$(node -p "require('$repo/packages/construct/package.json').peerDependencies['aws-cdk-lib']")"
constructs_range="$(node -p "require('$repo/packages/construct/package.json').peerDependencies.constructs")"

# Each package publishes cleanly (no warning but the one a dry run without a login always gives).
for package in construct grant-vend client; do
  warnings="$(cd "$repo/packages/$package" && npm publish --dry-run 2>&1 | grep -i '^npm warn' | grep -v 'requires you to be logged in' || true)"
  if [ -n "$warnings" ]; then
    echo "adopter-synth: npm publish --dry-run of packages/$package warns: $warnings" >&2
    exit 1
  fi
done

npm pack --silent --pack-destination "$work" "$repo/packages/construct" "$repo/packages/grant-vend" >/dev/null
app="$work/app"
mkdir "$app"
cd "$app"
cp "$repo/config/providers/production.json" providers.json
echo '{"name": "adopter", "private": true}' >package.json

# README's app.js: the js block after "write `app.js`".
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
  const start = lines.findIndex((line) => line.includes("write `app.js`"));
  const open = lines.findIndex((line, index) => index > start && line === "```js");
  const close = lines.findIndex((line, index) => index > open && line === "```");
  if (start < 0 || open < 0 || close < 0) throw new Error("README has no app.js block after \"write `app.js`\"");
  require("fs").writeFileSync("app.js", lines.slice(open + 1, close).join("\n") + "\n");
' "$repo/README.md"

# Two regions as packages/construct/README.md shows them, with fixed egress.
cat >regions.js <<'EOF'
const { App, Stack, Validations } = require('aws-cdk-lib');
const { AwsSolutionsChecks } = require('cdk-nag');
const { publishServiceDirectory, TokenVendingService } = require('token-vending-construct');
const app = new App({ context: { '@aws-cdk/core:defaultCrossStackReferences': 'weak' } });
const account = '111122223333';
const providers = JSON.parse(require('fs').readFileSync('providers.json', 'utf8')).providers;
try {
  const regions = ['eu-north-1', 'eu-west-1'];
  const props = { environment: 'production', providers, regions, egress: { type: 'fixed' } };
  const primaryStack = new Stack(app, 'Vending', { env: { account, region: regions[0] }, crossRegionReferences: true });
  const primary = new TokenVendingService(primaryStack, 'TokenVending', props);
  const otherStack = new Stack(app, 'Vending-eu-west-1', { env: { account, region: regions[1] }, crossRegionReferences: true });
  const other = new TokenVendingService(otherStack, 'TokenVending', { ...props, primary });
  otherStack.addStackDependency(primaryStack);
  publishServiceDirectory(primaryStack, primary);
  publishServiceDirectory(otherStack, other);
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
EOF

# No credentials of any kind: a lookup the apps needed would fail the synth.
offline() {
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE -u AWS_DEFAULT_PROFILE \
    -u AWS_REGION -u AWS_DEFAULT_REGION -u AWS_CONTAINER_CREDENTIALS_FULL_URI \
    -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_WEB_IDENTITY_TOKEN_FILE \
    AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_EC2_METADATA_DISABLED=true \
    CDK_DISABLE_CLI_TELEMETRY=true "$@"
}

synth_both() {
  local label="$1"
  for entry in app.js regions.js; do
    rm -rf cdk.out cdk.context.json
    if ! offline npx --no-install cdk synth --app "node $entry" --quiet --no-notices >synth.log 2>&1; then
      cat synth.log >&2
      echo "adopter-synth: $entry failed with aws-cdk-lib $label" >&2
      exit 1
    fi
    if [ -e cdk.context.json ]; then
      echo "adopter-synth: $entry looked up context with aws-cdk-lib $label: $(cat cdk.context.json)" >&2
      exit 1
    fi
  done
  echo "adopter-synth: README's app.js and two regions synthesize with aws-cdk-lib $(node -p "require('aws-cdk-lib/package.json').version") ($label), cdk-nag $(node -p "require('cdk-nag/package.json').version"), no credentials"
}

install() {
  npm install --no-audit --no-fund --loglevel=error "$work"/token-vending-*.tgz "$@" >/dev/null
}

install "aws-cdk-lib@$pinned" "constructs@$constructs_range" cdk-nag aws-cdk
synth_both "pinned $pinned"
install "aws-cdk-lib@$range"
synth_both "newest in $range"
