// A strict RFC 9728 client (panva's oauth4webapi), as an MCP client or
// agent uses one: call a protected URL without a valid token, follow the
// Bearer challenge's resource_metadata to the protected resource metadata,
// check it against the expected resource identifier (and the well-known
// location RFC 9728 §3.1 derives from it), then discover every listed
// authorization server. Prints what it found as one JSON line; any
// deviation is an error (exit code 1).
//   node prm.mjs <protected URL> <resource identifier>
import * as oauth from 'oauth4webapi';

const [url, resource] = process.argv.slice(2);
const insecure = { [oauth.allowInsecureRequests]: true }; // loopback http in tests

let challenges;
try {
  await oauth.protectedResourceRequest('not-a-valid-token', 'GET', new URL(url), new Headers(), null, insecure);
  throw new Error('the protected resource answered without a challenge');
} catch (e) {
  if (!(e instanceof oauth.WWWAuthenticateChallengeError)) throw e;
  challenges = e.cause;
}
const bearer = challenges.find((c) => c.scheme === 'bearer');
const fromChallenge = bearer?.parameters.resource_metadata;
if (!fromChallenge) throw new Error('no resource_metadata in the Bearer challenge');

const res = await oauth.resourceDiscoveryRequest(new URL(resource), insecure);
if (res.url !== fromChallenge) {
  throw new Error(`the challenge points to ${fromChallenge}, RFC 9728 §3.1 derives ${res.url}`);
}
const rs = await oauth.processResourceDiscoveryResponse(new URL(resource), res);
const servers = [];
for (const iss of rs.authorization_servers ?? []) {
  const md = await oauth.processDiscoveryResponse(new URL(iss),
    await oauth.discoveryRequest(new URL(iss), { algorithm: 'oidc', ...insecure }));
  servers.push({ issuer: md.issuer, token_endpoint: md.token_endpoint });
}
process.stdout.write(`${JSON.stringify({ resource_metadata: fromChallenge, metadata: rs, authorization_servers: servers })}\n`);
