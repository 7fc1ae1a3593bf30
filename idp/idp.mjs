// A real, independent OAuth 2.0 authorization server for oauthgate's
// trusted-issuer tests: panva's oidc-provider on a loopback port, issuing
// client_credentials access tokens as JWTs (resource indicators, RFC 8707)
// or opaque tokens checked by introspection (RFC 7662).
//
// Started by the Go tests (caddymodule/trust_idp_test.go). It prints one
// JSON line {"issuer": …} once it listens, and stops when its standard
// input closes. POST /_test/rotate puts a new signing key in front (the
// old one stays published), as a rotation at the provider does.
// prm.mjs beside it is the strict RFC 9728 client of the same tests.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import Provider, { errors } from 'oidc-provider';

const env = (k, d) => process.env[k] ?? d;
const JWT_RESOURCE = env('IDP_JWT_RESOURCE', 'https://api.example.test/orders');
const OPAQUE_RESOURCE = env('IDP_OPAQUE_RESOURCE', 'https://api.example.test/opaque');
const APP_SECRET = env('IDP_APP_SECRET', 'orders-app-secret-0123456789abcdef');
const GATEWAY_SECRET = env('IDP_GATEWAY_SECRET', 'gateway-secret-0123456789abcdef');

let generation = 0;
function newKey() {
  generation += 1;
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: `idp-key-${generation}`, alg: 'ES256', use: 'sig' };
}
let keys = [newKey()];

function build(issuer) {
  return new Provider(issuer, {
    clients: [
      {
        client_id: 'orders-app',
        client_secret: APP_SECRET,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: 'gateway',
        client_secret: GATEWAY_SECRET,
        grant_types: [],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf ?? JWT_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => {
          if (resource === JWT_RESOURCE) {
            return { scope: 'orders:read orders:write', audience: JWT_RESOURCE, accessTokenTTL: 600,
              accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
          }
          if (resource === OPAQUE_RESOURCE) {
            return { scope: 'orders:read orders:write', audience: OPAQUE_RESOURCE, accessTokenTTL: 600,
              accessTokenFormat: 'opaque' };
          }
          throw new errors.InvalidTarget();
        },
      },
    },
    // Claims for the gateway's `header` mappings, in a JWT and in an
    // introspection answer alike.
    extraTokenClaims: () => ({ realm_access: { roles: ['reader', 'auditor'] }, tenant: 'acme' }),
  });
}

let provider;
const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/_test/rotate') {
    keys = [newKey(), ...keys];
    provider = build(provider.issuer);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kid: keys[0].kid }));
    return;
  }
  provider.callback()(req, res);
});
server.listen(Number(env('IDP_PORT', '0')), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build(issuer);
  process.stdout.write(`${JSON.stringify({ issuer, jwt_resource: JWT_RESOURCE, opaque_resource: OPAQUE_RESOURCE })}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
