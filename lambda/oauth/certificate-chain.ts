/** A certificate as x5c carries it: base64 DER, from base64 DER or PEM. */
export function derBase64(certificate: string): string {
  return certificate.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}
