// Strict third-party clients against a running oauthgate: oauth4webapi and
// openid-client (discovery from both well-known locations, client
// credentials, authorization code with PKCE through headless Chromium,
// refresh rotation, revocation, introspection, RFC 9207 iss checks) and
// jose (RFC 9068 validation of JWT access tokens against the JWKS).
// Started by TestStrictClients (cmd/caddy) with the settings in the
// environment; prints one line per check and exits non-zero on the first
// failure.
import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import * as jose from 'jose'
import { launch, answerCallback, signIn as browserSignIn } from './browser.mjs'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const issuer = new URL(env('OAUTHGATE_ISSUER'))
const format = env('OAUTHGATE_FORMAT') // jwt | opaque
const api = env('OAUTHGATE_API')
const callback = env('OAUTHGATE_CALLBACK')
const web = { id: env('OAUTHGATE_WEB_ID'), secret: env('OAUTHGATE_WEB_SECRET') }
const svc = { id: env('OAUTHGATE_SVC_ID'), secret: env('OAUTHGATE_SVC_SECRET') }
const user = { name: env('OAUTHGATE_USER'), password: env('OAUTHGATE_PASSWORD') }
const insecure = { [oauth.allowInsecureRequests]: true } // loopback http only

let checks = 0
const ok = (what) => { checks++; console.log(`ok ${checks} - ${what}`) }

// oauth4webapi answers errors by throwing; this returns the RFC 6749 code.
async function oauthError (promise) {
  try {
    await promise
  } catch (err) {
    return err.error ?? err.cause?.error ?? err.code ?? String(err)
  }
  throw new Error('expected an OAuth error, got a success')
}

// --- discovery -------------------------------------------------------------
const docs = {}
for (const algorithm of ['oauth2', 'oidc']) {
  const res = await oauth.discoveryRequest(issuer, { algorithm, ...insecure })
  const as = await oauth.processDiscoveryResponse(issuer, res) // issuer must match byte for byte
  for (const k of ['authorization_endpoint', 'token_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'jwks_uri']) {
    assert.ok(as[k]?.startsWith(issuer.href.replace(/\/$/, '') + '/'), `${k} ${as[k]}`)
  }
  assert.equal(as.authorization_response_iss_parameter_supported, true)
  docs[algorithm] = as
  ok(`oauth4webapi discovery (${algorithm}: ${new URL(res.url).pathname})`)
}
assert.deepEqual(docs.oauth2, docs.oidc)
const as = docs.oauth2

const configs = {}
for (const algorithm of ['oauth2', 'oidc']) {
  configs[algorithm] = await client.discovery(issuer, web.id, undefined, client.ClientSecretPost(web.secret),
    { algorithm, execute: [client.allowInsecureRequests] })
  assert.equal(configs[algorithm].serverMetadata().issuer, as.issuer)
  ok(`openid-client discovery (${algorithm})`)
}
const webConfig = configs.oidc
const svcConfig = await client.discovery(issuer, svc.id, undefined, client.ClientSecretBasic(svc.secret),
  { algorithm: 'oauth2', execute: [client.allowInsecureRequests] })

// --- access tokens: RFC 9068 with jose, and the protected API ---------------
const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri))
async function checkAccessToken (token, want) {
  if (format === 'jwt') {
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
      issuer: as.issuer, audience: want.aud ?? as.issuer, typ: 'at+jwt', algorithms: ['ES256'],
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope']
    })
    assert.ok(protectedHeader.kid, 'kid')
    assert.equal(payload.client_id, want.client_id)
    assert.equal(payload.sub, want.sub)
    assert.equal(payload.scope, want.scope)
    // oauth4webapi's resource-server side of RFC 9068, on a real request.
    const claims = await oauth.validateJwtAccessToken(as,
      new Request(api, { headers: { authorization: `Bearer ${token}` } }), want.aud ?? as.issuer, insecure)
    assert.equal(claims.jti, payload.jti)
  } else {
    assert.throws(() => jose.decodeJwt(token), 'an opaque token is not a JWT')
  }
  const res = await fetch(api, { headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.status, 200, `API ${res.status}`)
}

// --- client credentials ----------------------------------------------------
{
  const res = await oauth.clientCredentialsGrantRequest(as, { client_id: svc.id }, oauth.ClientSecretBasic(svc.secret),
    new URLSearchParams({ scope: 'api_v3' }), insecure)
  const tok = await oauth.processClientCredentialsResponse(as, { client_id: svc.id }, res)
  assert.equal(tok.token_type, 'bearer') // oauth4webapi lower-cases it
  assert.equal(tok.refresh_token, undefined)
  await checkAccessToken(tok.access_token, { client_id: svc.id, sub: 'svc-strict', scope: 'api_v3' })
  ok('oauth4webapi client_credentials (client_secret_basic)' + (format === 'jwt' ? ' + jose RFC 9068' : ''))

  const tok2 = await client.clientCredentialsGrant(svcConfig, { scope: 'api_v3' })
  await checkAccessToken(tok2.access_token, { client_id: svc.id, sub: 'svc-strict', scope: 'api_v3' })
  ok('openid-client client_credentials')

  assert.equal(await oauthError(client.clientCredentialsGrant(svcConfig, { scope: 'nope' })), 'invalid_scope')
  ok('openid-client sees invalid_scope')
}

// --- authorization code + PKCE through Chromium -----------------------------
const browser = await launch(env('OAUTHGATE_CHROMIUM'))
// signIn opens authorizeURL in a fresh browser, signs in, allows, and returns
// the URL the browser was sent back to.
async function signIn (authorizeURL) {
  const context = await browser.newContext()
  try {
    await answerCallback(context, callback)
    return await browserSignIn(await context.newPage(), authorizeURL, { callback, user })
  } finally {
    await context.close()
  }
}

let oauthTokens, reuseCode
try {
  // oauth4webapi
  {
    const verifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const u = new URL(as.authorization_endpoint)
    u.search = new URLSearchParams({
      response_type: 'code', client_id: web.id, redirect_uri: callback, scope: 'api_v3 bcf_v2_1', state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256'
    })
    const back = await signIn(u)
    const webClient = { client_id: web.id }
    // RFC 9207: a response claiming another issuer, or none, is refused.
    const forged = new URL(back); forged.searchParams.set('iss', 'https://evil.example')
    assert.throws(() => oauth.validateAuthResponse(as, webClient, forged, state), /iss/)
    const noIss = new URL(back); noIss.searchParams.delete('iss')
    assert.throws(() => oauth.validateAuthResponse(as, webClient, noIss, state), /iss/)
    const params = oauth.validateAuthResponse(as, webClient, back, state)
    ok('oauth4webapi: Chromium signed in and allowed; the iss of the response checked (RFC 9207)')
    const res = await oauth.authorizationCodeGrantRequest(as, webClient, oauth.ClientSecretBasic(web.secret), params,
      callback, verifier, insecure)
    oauthTokens = await oauth.processAuthorizationCodeResponse(as, webClient, res)
    assert.ok(oauthTokens.refresh_token)
    assert.equal(oauthTokens.scope, 'api_v3 bcf_v2_1')
    await checkAccessToken(oauthTokens.access_token, { client_id: web.id, sub: user.name, scope: 'api_v3 bcf_v2_1' })
    ok('oauth4webapi authorization_code + PKCE S256 (client_secret_basic, a secret with + % : / = & and a space)')
    reuseCode = () => oauth.authorizationCodeGrantRequest(as, webClient, oauth.ClientSecretBasic(web.secret), params,
      callback, verifier, insecure)
  }
  // openid-client
  {
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const u = client.buildAuthorizationUrl(webConfig, {
      redirect_uri: callback, scope: 'api_v3', state, prompt: 'consent',
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256'
    })
    const back = await signIn(u)
    const forged = new URL(back); forged.searchParams.set('iss', issuer.href + 'x')
    assert.match(await oauthError(client.authorizationCodeGrant(webConfig, forged, { pkceCodeVerifier: verifier, expectedState: state })), /iss|OAUTH_/i)
    const tok = await client.authorizationCodeGrant(webConfig, back, { pkceCodeVerifier: verifier, expectedState: state })
    assert.ok(tok.refresh_token)
    await checkAccessToken(tok.access_token, { client_id: web.id, sub: user.name, scope: 'api_v3' })
    ok('openid-client authorization_code + PKCE through Chromium (iss checked, client_secret_post)')

    // Refresh rotation: every use returns a new refresh token; presenting
    // a rotated one fails and ends the family (RFC 9700 §4.14.2).
    const r1 = await client.refreshTokenGrant(webConfig, tok.refresh_token)
    assert.ok(r1.refresh_token && r1.refresh_token !== tok.refresh_token)
    await checkAccessToken(r1.access_token, { client_id: web.id, sub: user.name, scope: 'api_v3' })
    assert.equal(await oauthError(client.refreshTokenGrant(webConfig, tok.refresh_token)), 'invalid_grant')
    assert.equal(await oauthError(client.refreshTokenGrant(webConfig, r1.refresh_token)), 'invalid_grant')
    ok('openid-client refresh rotation; a reused refresh token ends the family')
  }
  // oauth4webapi refresh, introspection and revocation
  {
    const webClient = { client_id: web.id }
    const auth = oauth.ClientSecretBasic(web.secret)
    const res = await oauth.refreshTokenGrantRequest(as, webClient, auth, oauthTokens.refresh_token, insecure)
    const r = await oauth.processRefreshTokenResponse(as, webClient, res)
    assert.ok(r.refresh_token && r.refresh_token !== oauthTokens.refresh_token)
    ok('oauth4webapi refresh rotation')

    const ir = await oauth.introspectionRequest(as, webClient, auth, r.access_token, insecure)
    const info = await oauth.processIntrospectionResponse(as, webClient, ir)
    assert.equal(info.active, true)
    assert.equal(info.client_id, web.id)
    assert.equal(info.sub, user.name)
    assert.equal(info.scope, 'api_v3 bcf_v2_1')
    assert.equal(info.iss, as.issuer)
    ok('oauth4webapi introspection of a live token')

    const info2 = await client.tokenIntrospection(webConfig, r.refresh_token)
    assert.equal(info2.active, true)
    ok('openid-client introspection of a refresh token')

    // Revoking the refresh token ends the access tokens of its family.
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, webClient, auth, r.refresh_token, insecure))
    const after = await oauth.processIntrospectionResponse(as, webClient,
      await oauth.introspectionRequest(as, webClient, auth, r.access_token, insecure))
    assert.equal(after.active, false)
    const res2 = await fetch(api, { headers: { authorization: `Bearer ${r.access_token}` } })
    assert.equal(res2.status, 401)
    assert.match(res2.headers.get('www-authenticate') ?? '', /error="invalid_token"/)
    ok('oauth4webapi revocation of a refresh token ends its access tokens')

    const cc = await client.clientCredentialsGrant(svcConfig, { scope: 'api_v3' })
    await client.tokenRevocation(svcConfig, cc.access_token)
    assert.equal((await client.tokenIntrospection(webConfig, cc.access_token)).active, false)
    ok('openid-client revocation of an access token')

    // A second use of a code fails, and ends what was issued from it.
    const live = await oauth.processRefreshTokenResponse(as, webClient,
      await oauth.refreshTokenGrantRequest(as, webClient, auth, r.refresh_token, insecure)).catch(() => null)
    assert.equal(live, null, 'the revoked family cannot refresh')
    assert.equal(await oauthError(oauth.processAuthorizationCodeResponse(as, webClient, await reuseCode())), 'invalid_grant')
    ok('oauth4webapi: a code is single use')
  }
} finally {
  await browser.close()
}
console.log(`strict clients: all ${checks} checks passed`)
