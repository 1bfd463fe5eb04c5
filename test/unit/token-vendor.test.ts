import assert from 'node:assert/strict';
import { DependencyBypass } from '../../lambda/cache/dependency-bypass';
import { FallbackTier, type TableTier } from '../../lambda/cache/fallback-tier';
import { InProcessTier } from '../../lambda/cache/in-process-tier';
import { MemoryTokenStore } from '../../lambda/cache/memory-token-store';
import type {
  EvictClaim,
  LeaseResult,
  SharedTier,
  SharedTierUnavailable,
  TierItem,
} from '../../lambda/cache/shared-tier';
import type { CachedToken } from '../../lambda/cache/token-store';
import { clockOf, systemClock } from '../../lambda/clock';
import { composeVendor } from '../../lambda/compose';
import { parseProviderConfig } from '../../lambda/config/load-providers';
import { TableTimeoutError } from '../../lambda/contracts/token-table';
import { StaticCredentialSource } from '../../lambda/credentials/static-credential-source';
import { VendError } from '../../lambda/errors';
import type { TokenClient, TokenGrantRequest, UpstreamAttempts } from '../../lambda/oauth/token-client';
import { tokenFingerprint } from '../../packages/client/src/wire-contract';
import { RecordingLog } from '../support/recording-log';

const CALLER = 'arn:aws:iam::111122223333:role/unit-caller';
const [PROVIDER] = parseProviderConfig({
  providers: [
    {
      id: 'unit',
      tokenEndpoint: 'https://idp.example/token',
      clientAuth: 'client_secret_post',
      secretId: 'tvm/unit',
      callers: [CALLER],
      allowedScopes: ['a', 'b'],
      defaultScopes: ['a'],
      refreshMarginSeconds: 60,
      timeoutMs: 1000,
      maxAttempts: 1,
    },
  ],
});

/**
 * A token client at the network seam: answers from a script, one entry per request, and counts requests.
 * The vendor's own logic is what is under test here; the real client has its tests against real servers.
 */
class ScriptedTokenClient implements TokenClient {
  readonly requests: TokenGrantRequest[] = [];
  private readonly script: Array<(nowSeconds: number) => CachedToken | VendError> = [];

  constructor(private readonly now: () => number) {}

  answer(...answers: Array<(nowSeconds: number) => CachedToken | VendError>): void {
    this.script.push(...answers);
  }

  async requestToken(request: TokenGrantRequest, attempts?: UpstreamAttempts) {
    this.requests.push(request);
    const next = this.script.shift() ?? lasting(3600);
    const answer = next(this.now() / 1000);
    // One attempt per request, told to the provider's backoff as the real client tells it.
    if (answer instanceof VendError) {
      await attempts?.failed(request.provider.id, answer.code);
      throw answer;
    }
    await attempts?.answered(request.provider.id);
    return { token: answer, upstream: { attempts: 1, latencyMs: 1, status: 200 } };
  }
}

let tokenSeq = 0;
/** A token issued now that lasts `seconds`. */
const lasting =
  (seconds: number, issuedSecondsAgo = 0) =>
  (nowSeconds: number): CachedToken => ({
    accessToken: `token-${++tokenSeq}`,
    issuedAt: nowSeconds - issuedSecondsAgo,
    expiresAt: nowSeconds - issuedSecondsAgo + seconds,
  });
const failing = (code: VendError['code']) => () => new VendError(code, `scripted ${code}`);

/** A shared tier whose next acquire first lets `race` run: another container acting between read and lease. */
class RacingTier extends InProcessTier {
  private race?: (tier: InProcessTier) => Promise<void>;
  private held = 0;
  private readonly heldWaiters: Array<{ count: number; resolve: () => void }> = [];
  /** Runs before every read: lets a test move its clock as a waiting caller polls. */
  onRead: () => void = () => undefined;
  /** The keys asked about, in order: the key as the vendor computes it, without reading the tier's fields. */
  readonly keys: string[] = [];

  beforeNextAcquire(race: (tier: InProcessTier) => Promise<void>): void {
    this.race = race;
  }

  /** Resolves once `count` lease requests in all were refused because someone held the lease. */
  whenHeld(count: number): Promise<void> {
    if (this.held >= count) return Promise.resolve();
    return new Promise((resolve) => this.heldWaiters.push({ count, resolve }));
  }

  override read(key: string): Promise<TierItem | undefined> {
    if (!this.keys.includes(key)) this.keys.push(key);
    this.onRead();
    return super.read(key);
  }

  override async acquire(
    key: string,
    leaseMs: number,
    seenVersion: string | undefined,
  ): Promise<LeaseResult> {
    const race = this.race;
    this.race = undefined;
    await race?.(this);
    const result = await super.acquire(key, leaseMs, seenVersion);
    if (result.kind === 'held') {
      this.held += 1;
      for (const waiter of this.heldWaiters.filter((candidate) => candidate.count <= this.held))
        waiter.resolve();
    }
    return result;
  }
}

function setup(options: { tier?: (now: () => number) => SharedTier; waitBudgetMs?: number } = {}) {
  let clock = 1_800_000_000_000;
  const now = () => clock;
  const log = new RecordingLog();
  const tokenClient = new ScriptedTokenClient(now);
  const tier =
    options.tier?.(now) ?? new RacingTier({ clock: { now, sleep: systemClock.sleep }, random: () => 0 });
  const vendor = composeVendor({
    providers: PROVIDER ? [PROVIDER] : [],
    credentials: new StaticCredentialSource({
      'tvm/unit': { client_id: 'unit', client_secret: 'unit-secret' },
    }),
    tokenClient,
    memory: new MemoryTokenStore({ clock: clockOf(now) }),
    tier,
    log,
    clock: clockOf(now),
    ...(options.waitBudgetMs === undefined ? {} : { waitBudgetMs: options.waitBudgetMs }),
  });
  const vend = (body: { minTtlSeconds?: number; scopes?: string[] } = {}) =>
    vendor.vend(CALLER, 'unit', body);
  const keyOf = async () => {
    // The key as the vendor computes it: learnt from one vend's table write.
    return (tier as RacingTier).keys[0] as string;
  };
  return {
    vendor,
    vend,
    tokenClient,
    tier,
    log,
    keyOf,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

describe('Class: TokenVendor, in-process', () => {
  it('serves a miss, then memory, then renews ahead of expiry once', async () => {
    const { vend, tokenClient, advance } = setup();
    tokenClient.answer(lasting(300), lasting(300));
    assert.equal((await vend()).cache, 'miss');
    assert.equal((await vend()).cache, 'memory');
    advance(200_000); // 100 s left: past the refresh point (90–120 s), outside the 60 s margin
    const renewal = await vend();
    assert.equal(renewal.cache, 'refresh');
    assert.equal(tokenClient.requests.length, 2);
    assert.equal((await vend()).cache, 'memory');
  });

  it('refuses a min_ttl the provider cannot meet once the lifetime is known, without asking again', async () => {
    const { vend, tokenClient } = setup();
    tokenClient.answer(lasting(600));
    await assert.rejects(vend({ minTtlSeconds: 900 }), /min_ttl 900 cannot be met: .* 600 s/);
    await assert.rejects(vend({ minTtlSeconds: 600 }), /min_ttl 600 cannot be met/);
    assert.equal(tokenClient.requests.length, 1);
    assert.equal((await vend({ minTtlSeconds: 500 })).cache, 'memory');
  });

  it('calls a token with too little left to be of use the provider fault, naming its lifetime', async () => {
    const { vend, tokenClient } = setup();
    tokenClient.answer(lasting(110, 100));
    await assert.rejects(vend(), (error: unknown) => {
      assert.ok(error instanceof VendError);
      assert.equal(error.code, 'upstream_invalid_response');
      assert.match(error.message, /valid for 110 s that had 10 s left/);
      return true;
    });
  });

  it('takes a token another container stored between its read and its lease, if it serves', async () => {
    const { vend, tokenClient, tier } = setup();
    // A first vend leaves a 10-second token in the tier: too short to serve later callers.
    tokenClient.answer(lasting(10));
    assert.equal((await vend({ minTtlSeconds: 1 })).cache, 'miss');
    (tier as RacingTier).beforeNextAcquire(async (racing) => {
      const key = (racing as RacingTier).keys[0] as string;
      await racing.store(key, lasting(3600)(1_800_000_000), 'unit');
    });
    const raced = await vend();
    assert.equal(raced.cache, 'table');
    assert.equal(tokenClient.requests.length, 1, 'no request: the other container answered');
  });

  it('retries the lease when the token it lost to cannot serve it: superseded, then acquired', async () => {
    const { vend, tokenClient, tier } = setup();
    // An hour-long token with 10 s left: stored in the tier for waiters, not served to later callers.
    tokenClient.answer(lasting(3600, 3590));
    await vend({ minTtlSeconds: 1 });
    (tier as RacingTier).beforeNextAcquire(async (racing) => {
      const key = (racing as RacingTier).keys[0] as string;
      // Another container wrote a token with too little left for this caller's min_ttl.
      await racing.store(key, lasting(3600, 3590)(1_800_000_000), 'unit');
    });
    tokenClient.answer(lasting(3600));
    const outcome = await vend({ minTtlSeconds: 25 });
    assert.equal(outcome.cache, 'miss');
    assert.equal(tokenClient.requests.length, 2);
  });

  it('gives up waiting on a holder that never finishes, within the wait budget', async () => {
    const { vend, tokenClient, tier, keyOf, advance } = setup({ waitBudgetMs: 150 });
    tokenClient.answer(lasting(10));
    await vend({ minTtlSeconds: 1 });
    // Each poll of the waiting caller finds 100 ms gone: the budget runs out on the second.
    (tier as RacingTier).onRead = () => advance(100);
    const key = await keyOf();
    const held = await tier.acquire(key, 60_000, (await tier.read(key))?.version);
    assert.equal(held.kind, 'acquired');
    await assert.rejects(vend(), (error: unknown) => {
      assert.ok(error instanceof VendError);
      assert.equal(error.code, 'upstream_timeout');
      assert.match(error.message, /Waited 150 ms/);
      return true;
    });
    assert.equal(tokenClient.requests.length, 1);
  });

  it("shares a holder's failure with the caller waiting on it, and serves a usable cached token instead", async () => {
    const { vend, tokenClient, tier, keyOf, advance } = setup();
    tokenClient.answer(lasting(300));
    await vend();
    advance(250_000); // 50 s left: inside the 60 s margin, so not fresh; usable for min_ttl 10
    const key = await keyOf();
    const held = await tier.acquire(key, 60_000, (await tier.read(key))?.version);
    assert.ok(held.kind === 'acquired');
    const waiting = vend({ minTtlSeconds: 10 });
    const refused = vend();
    await (tier as RacingTier).whenHeld(2);
    await tier.release(held.lease, { kind: 'failed', error: 'upstream_unavailable' });
    const served = await waiting;
    assert.equal(served.upstreamFailure, 'upstream_unavailable');
    await assert.rejects(
      refused,
      (error: unknown) => error instanceof VendError && error.code === 'upstream_unavailable',
    );
    assert.equal(tokenClient.requests.length, 1, 'nobody else asked the provider');
  });

  it('backs off after repeated failures and says when to come back', async () => {
    const { vend, tokenClient } = setup();
    tokenClient.answer(failing('upstream_timeout'), failing('upstream_timeout'), failing('upstream_timeout'));
    for (let attempt = 0; attempt < 3; attempt++) await assert.rejects(vend(), /scripted upstream_timeout/);
    await assert.rejects(vend(), (error: unknown) => {
      assert.ok(error instanceof VendError);
      assert.match(error.message, /failed repeatedly/);
      assert.ok((error.details.retryAfterSeconds ?? 0) >= 1);
      return true;
    });
    assert.equal(tokenClient.requests.length, 3);
  });

  it('refuses unknown providers and callers not listed with one and the same answer', async () => {
    const { vendor } = setup();
    const refusal = async (call: Promise<unknown>) =>
      call.then(
        () => assert.fail('not refused'),
        (error: VendError) => [error.code, error.message.replace(/"[^"]*"/, '"…"')],
      );
    const unknown = await refusal(vendor.vend(CALLER, 'other', {}));
    const forbidden = await refusal(vendor.vend('arn:aws:iam::999988887777:role/x', 'unit', {}));
    assert.deepEqual(unknown, forbidden);
    assert.equal(unknown[0], 'access_denied');
    assert.deepEqual(
      vendor.listProviders(CALLER).map((provider) => provider.id),
      ['unit'],
    );
    assert.deepEqual(vendor.listProviders(undefined), []);
  });
});

/** A table that fails every call the way it is told to. */
class BrokenTier implements TableTier {
  calls = 0;

  constructor(private readonly fault: () => Error) {}

  private fail(): Promise<never> {
    this.calls += 1;
    return Promise.reject(this.fault());
  }

  read(): Promise<TierItem | undefined> {
    return this.fail();
  }
  acquire(): Promise<LeaseResult> {
    return this.fail();
  }
  release(): Promise<void> {
    return this.fail();
  }
  store(): Promise<void> {
    return this.fail();
  }
  claimEvict(): Promise<EvictClaim | undefined> {
    return this.fail();
  }
  confirmEvict(): Promise<boolean> {
    return this.fail();
  }
  withdrawEvict(): Promise<void> {
    return this.fail();
  }
  writeBack(): Promise<TierItem | undefined> {
    return this.fail();
  }
}

describe('Class: FallbackTier under the vendor', () => {
  it('vends through a table that refuses every call, trying it again each time', async () => {
    const log = new RecordingLog();
    const broken = new BrokenTier(() => Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' }));
    const { vend, tokenClient, vendor, advance } = setup({
      tier: (now) =>
        new FallbackTier(
          broken,
          new InProcessTier({ clock: clockOf(now) }),
          new DependencyBypass({ log, clock: clockOf(now) }),
        ),
    });
    const served = await vend();
    assert.equal(served.cache, 'miss');
    const callsAfterMiss = broken.calls;
    assert.ok(callsAfterMiss >= 3, 'read, lease and write-back were each tried');
    advance(20_000); // past the floor under which a token is too young to evict
    // The evict is the table's to answer, and the table refuses: 503, though this container's copies go.
    const refused = await vendor
      .evict(CALLER, 'unit', { tokenFingerprint: tokenFingerprint(served.token.accessToken) })
      .then(
        () => assert.fail('answered without the table'),
        (error: VendError) => error,
      );
    assert.equal(refused.code, 'service_unavailable');
    assert.equal(refused.details.retryAfterSeconds, 1, 'a refused call is tried again at once');
    assert.equal((await vend()).cache, 'miss');
    assert.ok(broken.calls > callsAfterMiss, 'a refusing table is tried again');
    assert.equal(tokenClient.requests.length, 2);
    const operations = new Set(log.entries().map((line) => line.operation));
    for (const operation of ['get', 'lease', 'put']) assert.ok(operations.has(operation), operation);
  });

  it('answers an evict with 503 while the table is left alone, Retry-After the rest of the window, and drops its copy', async () => {
    const log = new RecordingLog();
    const broken = new BrokenTier(() => new TableTimeoutError('get', 1000));
    const { vend, tokenClient, vendor, advance } = setup({
      tier: (now) =>
        new FallbackTier(
          broken,
          new InProcessTier({ clock: clockOf(now) }),
          new DependencyBypass({ log, clock: clockOf(now), bypassMs: 10_000 }),
        ),
    });
    const served = await vend();
    advance(2_000);
    const refused = await vendor
      .evict(CALLER, 'unit', { tokenFingerprint: tokenFingerprint(served.token.accessToken) })
      .then(
        () => assert.fail('answered without the table'),
        (error: VendError) => error,
      );
    assert.equal(refused.code, 'service_unavailable');
    assert.equal(refused.details.retryAfterSeconds, 8);
    assert.equal(broken.calls, 1, 'the table is left alone');
    // Neither memory nor the container's own tier serves the named token again.
    const next = await vend();
    assert.notEqual(next.token.accessToken, served.token.accessToken);
    assert.equal(tokenClient.requests.length, 2);
  });

  it('leaves a table that timed out alone for the bypass period, then tries it again', async () => {
    let clock = 0;
    const log = new RecordingLog();
    const broken = new BrokenTier(() => new TableTimeoutError('get', 1000));
    const tier = new FallbackTier(
      broken,
      new InProcessTier({ clock: clockOf(() => clock) }),
      new DependencyBypass({ log, clock: clockOf(() => clock), bypassMs: 10_000 }),
    );
    assert.deepEqual(await tier.read('k'), { leaseUntilMs: 0, standIn: { retryAtMs: 10_000 } });
    assert.equal(broken.calls, 1);
    await tier.read('k');
    await assert.rejects(
      tier.claimEvict('k', { version: 'v', issuedAt: 0, expiresAt: 0 }, 'evictor'),
      (error: SharedTierUnavailable) => error.retryAtMs === 10_000,
    );
    assert.equal(broken.calls, 1, 'bypassed');
    clock = 10_001;
    await tier.read('k');
    assert.equal(broken.calls, 2);
    const timedOut = log.entries().filter((line) => line.timed_out === true);
    assert.equal(timedOut.length, 2);
    assert.equal(timedOut[0]?.bypass_ms, 10_000);
  });
});

describe('Method: TokenVendor.evict', () => {
  it('evicts only the token named, only once it is past the floor, and keeps the backoff state', async () => {
    const { vendor, vend, tokenClient, advance } = setup();
    tokenClient.answer(lasting(3600), lasting(3600));
    const first = await vend();
    const fingerprint = tokenFingerprint(first.token.accessToken);
    assert.equal(await vendor.evict(CALLER, 'unit', { tokenFingerprint: fingerprint }), 'too_young');
    advance(20_000);
    assert.equal(await vendor.evict(CALLER, 'unit', { tokenFingerprint: '0123456789abcdef' }), 'not_current');
    assert.equal(await vendor.evict(CALLER, 'unit', { tokenFingerprint: fingerprint }), 'evicted');
    assert.equal(await vendor.evict(CALLER, 'unit', { tokenFingerprint: fingerprint }), 'absent');
    assert.equal((await vend()).cache, 'miss');
    assert.equal(tokenClient.requests.length, 2);
  });
});
