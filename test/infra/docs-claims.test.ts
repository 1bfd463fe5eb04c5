import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { synthService } from './support';

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The documents a reader follows: the README, docs/ and each package's README. */
const DOCUMENTS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
  ...readdirSync(join(ROOT, 'packages')).map((name) => `packages/${name}/README.md`),
].filter((path) => existsSync(join(ROOT, path)));

/**
 * The documented claims that drift when code moves: alarm thresholds, file paths, commands. Each is read
 * from the document and checked against the thing itself, so a change to either that the other does not
 * follow fails here.
 */
describe('What the documents claim', () => {
  describe('docs/operations.md, the alarm table', () => {
    const COMPARISON: Record<string, string> = {
      '≥': 'GreaterThanOrEqualToThreshold',
      '>': 'GreaterThanThreshold',
    };
    // `| \`Api5xx\` | ≥ 5 API 5xx in 5 minutes | …`: a count in a window.
    const rows = [
      ...read('docs/operations.md').matchAll(
        /^\| `([\w<>-]+)` \| (≥|>) ([\d,]+) [^|]*? in (\d+) minutes \|/gm,
      ),
    ].map(([, name = '', comparison = '', threshold = '', minutes = '']) => ({
      name: name.replace('<provider>', 'alpha'),
      comparison: COMPARISON[comparison],
      threshold: Number(threshold.replace(/,/g, '')),
      seconds: Number(minutes) * 60,
    }));

    it('states the threshold, its comparison and its window of each count alarm as the construct makes it', () => {
      assert.ok(rows.length >= 4, `count alarms found in the table: ${rows.map((row) => row.name)}`);
      const alarms = Object.values(synthService().template.findResources('AWS::CloudWatch::Alarm')).map(
        (alarm) => alarm.Properties as Record<string, unknown>,
      );
      for (const row of rows) {
        const alarm = alarms.find((candidate) => String(candidate.AlarmName).includes(`-${row.name}`));
        assert.ok(alarm, `an alarm named …-${row.name}`);
        assert.deepEqual(
          {
            comparison: alarm.ComparisonOperator,
            threshold: alarm.Threshold,
            seconds: Number(alarm.Period) * Number(alarm.EvaluationPeriods),
          },
          { comparison: row.comparison, threshold: row.threshold, seconds: row.seconds },
          row.name,
        );
      }
    });
  });

  it('names only files and folders that exist', () => {
    const missing = DOCUMENTS.flatMap((document) =>
      [
        ...read(document).matchAll(
          /(?<![\w./-])((?:lambda|local|infra|scripts|packages|test|docs|config|examples)\/[\w./-]*[\w/])/g,
        ),
      ]
        .map(([, path = '']) => path)
        // A test named without its suffix is a jest pattern (`npm test -- test/integration/shared-cache`).
        .filter((path) => !existsSync(join(ROOT, path)) && !existsSync(join(ROOT, `${path}.test.ts`)))
        .map((path) => `${document}: ${path}`),
    );
    assert.deepEqual(missing, []);
  });

  describe('commands', () => {
    const scripts = Object.keys(
      (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts,
    );
    /** What a reader would run: fenced blocks and inline code, not prose that mentions a command. */
    const code = (text: string) => {
      const fenced = [...text.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].map(([, body = '']) => body);
      const prose = text.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
      // Inline code may wrap within its paragraph, never past it.
      const inline = prose
        .split(/\n\s*\n/)
        .flatMap((paragraph) => [...paragraph.matchAll(/`([^`]+)`/g)].map(([, span = '']) => span));
      return [...fenced, ...inline];
    };
    const commands = (pattern: RegExp) =>
      DOCUMENTS.flatMap((document) =>
        code(read(document)).flatMap((text) =>
          [...text.matchAll(pattern)].map(([whole, name = '']) => ({ document, whole, name })),
        ),
      );

    it('npm run names a script of this repository', () => {
      const unknown = commands(/npm run (?:-s )?([a-z][\w:-]*)/g).filter(
        ({ name }) => !scripts.includes(name),
      );
      assert.deepEqual(unknown, []);
    });

    it("npx names a command npm ci links here, and this repository's own commands with --no", () => {
      const found = commands(/npx (?:--no )?(?:-- )?([a-z][\w-]*)/g);
      assert.ok(found.some(({ name }) => name === 'tvm'));
      const unlinked = found.filter(({ name }) => !existsSync(join(ROOT, 'node_modules', '.bin', name)));
      assert.deepEqual(unlinked, [], 'not in node_modules/.bin');
      // Run without --no where it is not installed, npx would offer the registry's package of that name.
      const own = found.filter(({ name }) => name === 'tvm' || name === 'tvm-admin');
      assert.deepEqual(
        own.filter(({ whole }) => !whole.startsWith('npx --no ')),
        [],
      );
    });

    it('never tells anyone to npm link (the root has no bin: it would link nothing)', () => {
      assert.deepEqual(commands(/npm link\b/g), []);
    });
  });
});
