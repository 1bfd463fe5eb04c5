/**
 * The metrics contract: the namespace, metric names, cache outcomes and log events the function writes and
 * the stack's alarms and dashboard read. The one place these strings are spelt.
 */
export const METRICS_NAMESPACE = 'TokenVending';
export const METRICS_SERVICE = 'token-vending';

export const METRIC = {
  vends: 'Vends',
  upstreamRequests: 'UpstreamRequests',
  upstreamLatency: 'UpstreamLatency',
  tokensMinted: 'TokensMinted',
  upstreamFailures: 'UpstreamFailures',
  servedWhileValid: 'ServedWhileValid',
  tableErrors: 'TableErrors',
  tableTimeouts: 'TableTimeouts',
  /** Key service calls that failed (not a token that does not open: that is `sealed_token_rejected`). */
  sealingFailures: 'SealingFailures',
  throttled: 'Throttled',
  denials: 'Denials',
  /** Table hits served from another region's replicated item; the share is this over `Vends{cache=table}`. */
  peerTableHits: 'PeerTableHits',
  /** Per refresher run (dimension `service` only): keys in use whose renewal point fell in its window. */
  refreshDue: 'RefreshDue',
  refreshRenewed: 'RefreshRenewed',
  /** Renewals that failed; the key's valid token stays and the request path renews it. */
  refreshFailed: 'RefreshFailed',
  /** Due keys the run did not start before its 20 s ran out: left to the request path. */
  refreshNotStarted: 'RefreshNotStarted',
  refreshRunDuration: 'RefreshRunDuration',
  /** Renewals a run handed to the renewal queue. */
  refreshQueued: 'RefreshQueued',
  /** In-use marks (or queue messages) that did not verify as a whole: not renewed (issue 29). */
  refreshMarksRejected: 'RefreshMarksRejected',
} as const;

/** Where a vended token came from. */
export const CACHE_OUTCOMES = ['memory', 'table', 'miss', 'refresh'] as const;
export type CacheOutcome = (typeof CACHE_OUTCOMES)[number];

/** The `event` field of the log lines that metrics and operators key on. */
export const EVENTS = {
  cacheTableError: 'cache_table_error',
  /** The key service failed to seal or open; the table is bypassed by the container for a window. */
  sealingUnavailable: 'sealing_unavailable',
  sealedTokenRejected: 'sealed_token_rejected',
  /**
   * With several regions: another region's token could not be opened now (the key service failed); the own
   * token is served instead. Once per region and container until one opens again.
   */
  peerTokenUnopened: 'peer_token_unopened',
  /** An item with an attribute of the wrong type or shape: read as absent, overwritten by the next fetch. */
  cacheItemCorrupt: 'cache_item_corrupt',
  /** A budget counter no writer of this service leaves: ignored and overwritten. */
  budgetCounterCorrupt: 'budget_counter_corrupt',
  servedWhileValid: 'served_while_valid',
  counterKeyUnavailable: 'counter_key_unavailable',
} as const;
