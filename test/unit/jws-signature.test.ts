import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { derToJoseSignature, MalformedSignatureError } from '../../lambda/oauth/jws-signature';

/** DER INTEGER of an unsigned big-endian value: minimal, with a zero octet before a set top bit. */
function derInteger(value: Uint8Array): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  let body = Buffer.from(value.subarray(start));
  if ((body[0] as number) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

const derSignature = (r: Uint8Array, s: Uint8Array): Buffer => {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
};

describe('Function: derToJoseSignature (ECDSA DER to JOSE r‖s)', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  it("turns Node's DER signatures into ones Node verifies as IEEE P1363 (r‖s), for any message", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (message) => {
        const der = sign('sha256', message, { key: privateKey, dsaEncoding: 'der' });
        const jose = derToJoseSignature(der);
        assert.equal(jose.length, 64);
        assert.ok(verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose));
      }),
      { numRuns: 200 },
    );
  });

  it('gives back r and s padded to 32 bytes, whatever their leading zeros or top bits', () => {
    const coordinate = fc.uint8Array({ minLength: 32, maxLength: 32 });
    // Leading zeros shorten the DER integer, a set top bit lengthens it: both are drawn often.
    const shaped = fc.tuple(coordinate, fc.nat({ max: 31 })).map(([bytes, zeros]) => {
      const out = Uint8Array.from(bytes);
      out.fill(0, 0, zeros);
      return out;
    });
    fc.assert(
      fc.property(shaped, shaped, (r, s) => {
        assert.deepEqual(Buffer.from(derToJoseSignature(derSignature(r, s))), Buffer.concat([r, s]));
      }),
    );
  });

  it('refuses anything that is not one DER SEQUENCE of two INTEGERs of at most 32 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          const out = derToJoseSignature(bytes);
          assert.equal(out.length, 64);
        } catch (error) {
          assert.ok(error instanceof MalformedSignatureError, String(error));
        }
      }),
      { numRuns: 2000 },
    );
    const good = derSignature(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
    for (const bad of [
      Buffer.concat([good, Buffer.from([0])]),
      good.subarray(0, good.length - 1),
      derSignature(new Uint8Array(33).fill(0x7f), new Uint8Array(32).fill(2)),
      Buffer.from([0x31, 0]),
    ]) {
      assert.throws(() => derToJoseSignature(bad), MalformedSignatureError);
    }
  });
});
