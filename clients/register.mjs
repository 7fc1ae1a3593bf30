// Clients that register themselves, against a running oauthgate with
// `registration { mode open  metadata_documents loopback }`: oauth4webapi's RFC
// 7591 registration (public and confidential), its RFC 7591 §3.2.2 errors,
// then the authorization code flow with PKCE through headless Chromium for
// the registered client and for a client named by a Client ID Metadata
// Document served here on loopback http; the consent pages must mark them.
// Started by TestStrictRegistration (cmd/caddy); prints one line per check
// and exits non-zero on the first failure. CONFORMANCE G1, G4.
import assert from 'node:assert/strict'
import http from 'node:http'
import * as oauth from 'oauth4webapi'
import { launch, answerCallback, signIn as browserSignIn } from './browser.mjs'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const issuer = new URL(env('OAUTHGATE_ISSUER'))
const api = env('OAUTHGATE_API')
const callback = env('OAUTHGATE_CALLBACK')
const user = { name: env('OAUTHGATE_USER'), password: env('OAUTHGATE_PASSWORD') }
const insecure = { [oauth.allowInsecureRequests]: true } // loopback http only

let checks = 0
const ok = (what) => { checks++; console.log(`ok ${checks} - ${what}`) }

const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }))
assert.equal(as.registration_endpoint, issuer.href.replace(/\/$/, '') + '/oauth/register')
assert.equal(as.client_id_metadata_document_supported, true)
ok('discovery lists registration_endpoint and client_id_metadata_document_supported')

// --- RFC 7591 -----------------------------------------------------------------
const registered = await oauth.processDynamicClientRegistrationResponse(
  await oauth.dynamicClientRegistrationRequest(as, {
    redirect_uris: [callback], client_name: 'Strict agent', token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: 'api_v3',
    software_id: 'strict-agent', software_version: '1.0'
  }, insecure))
assert.ok(registered.client_id)
assert.equal(registered.client_secret, undefined)
assert.equal(registered.token_endpoint_auth_method, 'none')
assert.deepEqual(registered.redirect_uris, [callback])
assert.equal(typeof registered.client_id_issued_at, 'number')
ok('oauth4webapi registers a public client (RFC 7591 §3.2.1)')

const confidential = await oauth.processDynamicClientRegistrationResponse(
  await oauth.dynamicClientRegistrationRequest(as, { redirect_uris: [callback], token_endpoint_auth_method: 'client_secret_basic' }, insecure))
assert.ok(confidential.client_secret.length >= 43)
assert.equal(confidential.client_secret_expires_at, 0)
ok('oauth4webapi registers a confidential client: a generated secret, client_secret_expires_at 0')

async function registrationError (metadata) {
  try {
    await oauth.processDynamicClientRegistrationResponse(await oauth.dynamicClientRegistrationRequest(as, metadata, insecure))
  } catch (err) {
    assert.ok(err.error_description ?? err.cause?.error_description, 'error_description')
    return err.error ?? err.cause?.error
  }
  throw new Error('expected a registration error')
}
assert.equal(await registrationError({ redirect_uris: ['javascript:alert(1)'] }), 'invalid_redirect_uri')
assert.equal(await registrationError({ redirect_uris: ['http://app.example/cb'] }), 'invalid_redirect_uri')
assert.equal(await registrationError({ redirect_uris: [callback], scope: 'not_allowed' }), 'invalid_client_metadata')
assert.equal(await registrationError({ redirect_uris: [callback], token_endpoint_auth_method: 'private_key_jwt' }), 'invalid_client_metadata')
ok('oauth4webapi sees invalid_redirect_uri and invalid_client_metadata (RFC 7591 §3.2.2)')

// --- a Client ID Metadata Document, served here -------------------------------
const docServer = http.createServer((req, res) => {
  const self = `http://127.0.0.1:${docServer.address().port}${req.url}`
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' })
  res.end(JSON.stringify({
    client_id: self, client_name: 'Document agent', redirect_uris: [callback],
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none'
  }))
})
await new Promise((resolve) => docServer.listen(0, '127.0.0.1', resolve))
const documentID = `http://127.0.0.1:${docServer.address().port}/oauth/client.json`

// --- the code flow through Chromium -------------------------------------------
const browser = await launch(env('OAUTHGATE_CHROMIUM'))
// signIn signs in, checks the consent page and allows; it returns the URL
// the browser was sent back to.
async function signIn (authorizeURL, checkConsent) {
  const context = await browser.newContext()
  try {
    await answerCallback(context, callback)
    return await browserSignIn(await context.newPage(), authorizeURL, { callback, user, onConsent: checkConsent })
  } finally {
    await context.close()
  }
}

async function codeFlow (clientID, checkConsent) {
  const c = { client_id: clientID }
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const u = new URL(as.authorization_endpoint)
  u.search = new URLSearchParams({
    response_type: 'code', client_id: clientID, redirect_uri: callback, scope: 'api_v3', state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256'
  })
  const params = oauth.validateAuthResponse(as, c, await signIn(u, checkConsent), state)
  const res = await oauth.authorizationCodeGrantRequest(as, c, oauth.None(), params, callback, verifier, insecure)
  const tokens = await oauth.processAuthorizationCodeResponse(as, c, res)
  assert.ok(tokens.refresh_token)
  const apiRes = await fetch(api, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  assert.equal(apiRes.status, 200, `API ${apiRes.status}`)
  const refreshed = await oauth.processRefreshTokenResponse(as, c,
    await oauth.refreshTokenGrantRequest(as, c, oauth.None(), tokens.refresh_token, insecure))
  assert.ok(refreshed.access_token)
}

try {
  await codeFlow(registered.client_id, async (page) => {
    const text = await page.textContent('main')
    assert.match(text, /Strict agent/)
    assert.match(text, /registered itself; its name is self-asserted/)
  })
  ok('the registered client: consent marks it; code + PKCE S256, the API, refresh (oauth4webapi, Chromium)')

  await codeFlow(documentID, async (page) => {
    const host = await page.textContent('h1 .host')
    assert.equal(host, `from 127.0.0.1:${docServer.address().port}`)
    assert.match(await page.textContent('main'), /Document agent/)
  })
  ok('a metadata document client: consent shows its host next to its name; code + PKCE S256, the API, refresh')
} finally {
  await browser.close()
  docServer.close()
}
console.log(`registration clients: all ${checks} checks passed`)
