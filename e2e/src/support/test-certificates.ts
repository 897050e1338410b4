/**
 * A throwaway certificate authority and a leaf for one test host name, made with the openssl CLI
 * (Debian `openssl`): what a TLS proxy under test serves, and what clients are told to trust.
 */
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  /** The CA certificate (PEM), for Node clients (`ca:`). */
  caPem: string;
  /** Leaf then CA, PEM: what the server presents (nginx `ssl_certificate`). */
  fullchainFile: string;
  /** The leaf's private key, PEM (nginx `ssl_certificate_key`). */
  keyFile: string;
  /**
   * base64 SHA-256 of the CA's SubjectPublicKeyInfo, for Chromium's
   * `--ignore-certificate-errors-spki-list` (a chain that holds this key is accepted).
   */
  caSpkiSha256: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error) throw new Error(`openssl could not run (apt-get install openssl): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed (${r.status}): ${r.stderr}`);
}

/** The base64 SHA-256 of a certificate's public key (SPKI, DER), as Chromium pins it. */
export function spkiSha256(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

/** Makes a CA (valid 2 days) and a leaf for `hostName` signed by it, in `dir`. */
export function makeTestCertificates(dir: string, hostName: string): TestCertificates {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=trackroom e2e throwaway CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  openssl(['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${hostName}`], dir);
  writeFileSync(
    join(dir, 'leaf.ext'),
    [
      `subjectAltName=DNS:${hostName}`,
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'leaf.pem',
      '-days',
      '2',
      '-extfile',
      'leaf.ext',
    ],
    dir,
  );
  const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const fullchainFile = join(dir, 'fullchain.pem');
  writeFileSync(fullchainFile, readFileSync(join(dir, 'leaf.pem'), 'utf8') + caPem);
  return { caPem, fullchainFile, keyFile: join(dir, 'leaf.key'), caSpkiSha256: spkiSha256(caPem) };
}
