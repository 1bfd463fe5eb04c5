import { randomUUID } from 'node:crypto';
import type * as oauth from 'oauth4webapi';
import type { AssertionSigner } from './assertion-signer';
import { compactJws } from './jws-signature';

/** RFC 7523 §3's lifetime of a client assertion, as oauth4webapi's own `PrivateKeyJwt` gives it. */
const CLIENT_ASSERTION_LIFETIME_SECONDS = 60;

/**
 * `private_key_jwt` (RFC 7523 §2.2) signed by a key outside the process: the claims oauth4webapi's
 * `PrivateKeyJwt` sends (`iss` = `sub` = client_id, `aud` the token endpoint, a fresh `jti`, 60 s), signed
 * once per token request, since oauth4webapi calls this once per request it sends.
 */
export function signerPrivateKeyJwt(
  tokenEndpoint: string,
  signer: AssertionSigner,
  now: () => number = Date.now,
): oauth.ClientAuth {
  return async (_as, client, body) => {
    const iat = Math.floor(now() / 1000);
    const assertion = await compactJws(
      { alg: signer.algorithm, kid: await signer.keyId() },
      {
        iss: client.client_id,
        sub: client.client_id,
        aud: tokenEndpoint,
        jti: randomUUID(),
        iat,
        nbf: iat,
        exp: iat + CLIENT_ASSERTION_LIFETIME_SECONDS,
      },
      (input) => signer.sign(input),
    );
    body.set('client_id', client.client_id);
    body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    body.set('client_assertion', assertion);
  };
}
