// openid-client as a strict OpenID Connect relying party against a running
// oauthgate (CONFORMANCE I1–I5): discovery in oidc mode, authorization
// code + PKCE + nonce through headless Chromium, ID token validation
// (openid-client's claims checks, the signature with jose against the
// JWKS, at_hash), userinfo, refresh, a wrong nonce refused, an ID token
// refused as an access token, and RP-initiated logout. Started by
// TestStrictOpenIDConnect (cmd/caddy); prints one line per check and exits
// non-zero on the first failure.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import * as client from 'openid-client'
import * as jose from 'jose'
import { launch, signIn as browserSignIn } from './browser.mjs'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const issuer = new URL(env('OAUTHGATE_ISSUER'))
const callback = env('OAUTHGATE_CALLBACK')
const afterLogout = env('OAUTHGATE_POST_LOGOUT')
const rp = { id: env('OAUTHGATE_RP_ID'), secret: env('OAUTHGATE_RP_SECRET') }
const user = { name: env('OAUTHGATE_USER'), password: env('OAUTHGATE_PASSWORD') }

let checks = 0
const ok = (what) => { checks++; console.log(`ok ${checks} - ${what}`) }

const config = await client.discovery(issuer, rp.id, undefined, client.ClientSecretBasic(rp.secret),
  { execute: [client.allowInsecureRequests] })
const md = config.serverMetadata()
assert.deepEqual(md.subject_types_supported, ['public'])
assert.ok(md.id_token_signing_alg_values_supported.includes('RS256'))
assert.ok(md.scopes_supported.includes('openid'))
for (const c of ['sub', 'email', 'name', 'nonce', 'auth_time']) assert.ok(md.claims_supported.includes(c), c)
assert.ok(md.userinfo_endpoint && md.end_session_endpoint)
ok('openid-client discovery (oidc): subject types, RS256, claims, userinfo and end_session endpoints')
const jwks = jose.createRemoteJWKSet(new URL(md.jwks_uri))

// The relying party's callback and post-logout pages: a real listener, as
// the browser follows redirects to them (routes see only a chain's first URL).
const pages = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html' })
  res.end('<!doctype html><title>back</title>')
})
await new Promise((resolve) => pages.listen(Number(new URL(callback).port), '127.0.0.1', resolve))

const browser = await launch(env('OAUTHGATE_CHROMIUM'))
const context = await browser.newContext() // one browser session throughout
const page = await context.newPage()

// signIn goes through the login form and the consent page when shown.
const signIn = (url) => browserSignIn(page, url, { callback, user })

async function authorize (extra = {}) {
  const verifier = client.randomPKCECodeVerifier()
  const nonce = client.randomNonce()
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: callback, scope: 'openid profile email', nonce, state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra
  })
  return { back: await signIn(url), verifier, nonce, state }
}

async function rejects (promise) {
  try { await promise } catch (err) { return err }
  throw new Error('expected a failure, got a success')
}

try {
  const a = await authorize()
  const tokens = await client.authorizationCodeGrant(config, a.back,
    { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state, idTokenExpected: true })
  const claims = tokens.claims()
  assert.equal(claims.sub, user.name)
  assert.equal(claims.aud, rp.id)
  assert.equal(claims.nonce, a.nonce)
  assert.equal(claims.email, 'alice@example.com')
  assert.equal(claims.email_verified, true)
  assert.equal(claims.name, 'Alice Example')
  assert.ok(claims.auth_time && claims.sid)
  ok('openid-client: code + PKCE + nonce, ID token claims validated')

  const { protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks,
    { issuer: md.issuer, audience: rp.id, algorithms: ['RS256'], requiredClaims: ['iat', 'exp', 'auth_time', 'at_hash'] })
  assert.equal(protectedHeader.alg, 'RS256')
  const half = createHash('sha256').update(tokens.access_token).digest().subarray(0, 16)
  assert.equal(claims.at_hash, Buffer.from(half).toString('base64url'))
  ok('jose: ID token signature (RS256, JWKS) and at_hash')

  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  assert.equal(info.email, 'alice@example.com')
  assert.equal(info.preferred_username, user.name)
  ok('openid-client: userinfo (subject checked)')

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const rc = refreshed.claims()
  assert.equal(rc.sub, claims.sub)
  assert.equal(rc.auth_time, claims.auth_time)
  assert.notEqual(refreshed.id_token, tokens.id_token)
  ok('openid-client: a refresh returns a new ID token, same sub and auth_time')

  // A wrong nonce: the relying party refuses the ID token.
  const b = await authorize()
  const err = await rejects(client.authorizationCodeGrant(config, b.back,
    { pkceCodeVerifier: b.verifier, expectedNonce: 'not-the-nonce', expectedState: b.state }))
  // (the same flow with the right nonce succeeds above: the claim compared is the nonce)
  assert.equal(err.code ?? err.cause?.code, 'OAUTH_JWT_CLAIM_COMPARISON_FAILED')
  ok('openid-client refuses an ID token with another nonce')

  // The ID token is no access token.
  const uerr = await rejects(client.fetchUserInfo(config, tokens.id_token, claims.sub))
  assert.match(String(uerr.error ?? uerr.cause?.error ?? uerr.code ?? uerr), /invalid_token|WWW_AUTHENTICATE|401/i)
  ok('userinfo refuses an ID token as the access token')

  // max_age=0: asked for the password again.
  await page.goto(client.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid', nonce: client.randomNonce(), max_age: '0' }).href)
  assert.ok(await page.$('#password'), 'max_age=0 shows the login form')
  ok('max_age=0 asks for the password again')

  // RP-initiated logout: back to the registered URI with state, signed out.
  const end = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: afterLogout, state: 'bye' })
  await page.goto(end.href)
  await page.waitForURL((u) => u.href.startsWith(afterLogout))
  assert.equal(new URL(page.url()).searchParams.get('state'), 'bye')
  await page.goto(client.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid', nonce: client.randomNonce(), prompt: 'none' }).href)
  assert.equal(new URL(page.url()).searchParams.get('error'), 'login_required')
  ok('end_session_endpoint: back with state, the session is over')

  // An unregistered post_logout_redirect_uri: a page, never a redirect.
  const bad = client.buildEndSessionUrl(config, { client_id: rp.id, post_logout_redirect_uri: 'https://evil.example/', state: 'x' })
  const res = await page.goto(bad.href)
  assert.equal(res.status(), 400)
  assert.ok(page.url().startsWith(md.end_session_endpoint))
  ok('end_session_endpoint refuses an unregistered post_logout_redirect_uri without redirecting')
} finally {
  await browser.close()
  pages.close()
}
console.log(`oidc clients: all ${checks} checks passed`)
