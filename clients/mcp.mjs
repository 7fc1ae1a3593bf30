// The official MCP TypeScript SDK's client, with its OAuth support, against
// two MCP servers behind oauthgate (CONFORMANCE G3): the 401 with
// resource_metadata, RFC 9728 and RFC 8414 discovery, the client's identity
// (dynamic registration, a Client ID Metadata Document, or a pre-registered
// id), the code flow with PKCE and RFC 8707 resource through headless
// Chromium, tools listed and called, SSE notifications through the gateway,
// and each server's token refused by the other. Started by TestMCPClients
// (cmd/caddy); prints one line per check and exits non-zero on a failure.
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { launch, signIn as browserSignIn } from './browser.mjs'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set`)
  return v
}
const serverA = env('MCP_SERVER_A') // the SDK's example server (greet, start-notification-stream)
const serverB = env('MCP_SERVER_B') // a Go SDK server with a whoami tool
const callback = env('MCP_CALLBACK')
const identity = env('MCP_IDENTITY') // register | metadata | static
const user = { name: env('MCP_USER'), password: env('MCP_PASSWORD') }

let checks = 0
const ok = (what) => { checks++; console.log(`ok ${checks} - ${what}`) }

// Every request the transports send, with the bearer token it carried:
// the Go test compares the count with the gateway's decisions.
const sent = []
const counting = async (url, init) => {
  const headers = new Headers(init?.headers)
  const res = await fetch(url, init)
  const auth = headers.get('authorization')
  if (auth && (String(url).startsWith(serverA) || String(url).startsWith(serverB))) {
    sent.push({ url: String(url), status: res.status, type: res.headers.get('content-type') ?? '' })
  }
  return res
}

// An OAuthClientProvider kept in memory, as a desktop client would keep it.
class Provider {
  constructor () {
    this.info = undefined
    this.saved = undefined
    if (identity === 'metadata') this.clientMetadataUrl = env('MCP_CLIENT_METADATA_URL')
    if (identity === 'static') this.info = { client_id: env('MCP_CLIENT_ID') }
  }

  get redirectUrl () { return callback }
  get clientMetadata () {
    return {
      client_name: 'oauthgate MCP test client',
      redirect_uris: [callback],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      software_id: 'oauthgate-mcp-test'
    }
  }

  clientInformation () { return this.info }
  saveClientInformation (info) { this.info = info; this.registered = info }
  tokens () { return this.saved }
  saveTokens (t) { this.saved = t }
  redirectToAuthorization (url) { this.authUrl = url }
  saveCodeVerifier (v) { this.verifier = v }
  codeVerifier () { return this.verifier }
}

// The client's redirect target: a real listener, as the browser follows
// the redirect to it.
const pages = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html' })
  res.end('<!doctype html><title>back</title>')
})
await new Promise((resolve) => pages.listen(Number(new URL(callback).port), '127.0.0.1', resolve))
const browser = await launch(env('MCP_CHROMIUM'))
const page = await (await browser.newContext()).newPage()
const consentPages = []

// signIn goes through the login form and the consent page when shown,
// keeping each consent page to check what it showed.
const signIn = (url) => browserSignIn(page, url, {
  callback, user, onConsent: async (p) => { consentPages.push(await p.content()) }
})

// connect runs what an MCP client does on first contact: the transport
// meets the 401, discovers, identifies the client and sends the user to
// authorize; after the callback it exchanges the code and connects again.
async function connect (serverUrl, provider) {
  const transport = () => new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider, fetch: counting })
  let client = new Client({ name: 'oauthgate-mcp-test', version: '1.0.0' })
  let t = transport()
  try {
    await client.connect(t)
    throw new Error('connected without authorization')
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err
  }
  const authUrl = provider.authUrl
  assert.ok(authUrl, 'the SDK never sent the user to authorize')
  const back = await signIn(authUrl)
  assert.equal(back.searchParams.get('error'), null, `authorization refused: ${back}`)
  await t.finishAuth(back.searchParams.get('code'))
  client = new Client({ name: 'oauthgate-mcp-test', version: '1.0.0' })
  t = transport()
  await client.connect(t)
  return { client, authUrl }
}

async function post (url, token, body) {
  return fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...(token ? { Authorization: `Bearer ${token}` } : {})
    },
    body: JSON.stringify(body)
  })
}
const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }

try {
  // What an MCP client sees first: 401 and where the metadata is.
  const first = await post(serverA, undefined, initialize)
  assert.equal(first.status, 401)
  const challenge = first.headers.get('www-authenticate') ?? ''
  const m = /resource_metadata="([^"]+)"/.exec(challenge)
  assert.ok(m, `no resource_metadata in ${challenge}`)
  const prm = await (await fetch(m[1])).json()
  assert.equal(prm.resource, serverA)
  assert.ok(prm.authorization_servers?.length === 1, JSON.stringify(prm))
  const issuer = prm.authorization_servers[0]
  const as = await (await fetch(new URL('/.well-known/oauth-authorization-server', issuer))).json()
  assert.equal(as.issuer, issuer)
  assert.ok(as.code_challenge_methods_supported.includes('S256'))
  if (identity === 'register') assert.ok(as.registration_endpoint, 'no registration_endpoint')
  if (identity === 'metadata') assert.equal(as.client_id_metadata_document_supported, true)
  ok('401 with resource_metadata, protected resource and server metadata')

  const provider = new Provider()
  const a = await connect(serverA, provider)
  const q = a.authUrl.searchParams
  assert.equal(q.get('resource'), serverA, 'the authorization request names the MCP server')
  assert.equal(q.get('code_challenge_method'), 'S256')
  if (identity === 'register') {
    assert.ok(provider.registered?.client_id, 'the SDK registered no client')
    assert.equal(q.get('client_id'), provider.registered.client_id)
  }
  if (identity === 'metadata') {
    assert.equal(q.get('client_id'), provider.clientMetadataUrl)
    const host = new URL(provider.clientMetadataUrl).host
    assert.ok(consentPages.some((html) => html.includes(host)), 'the consent page does not show the document host')
  }
  if (identity !== 'static') {
    assert.ok(consentPages.length > 0, 'no consent page was shown')
  }
  ok(`signed in and consented (${identity}: client_id ${q.get('client_id')})`)

  const tools = await a.client.listTools()
  assert.ok(tools.tools.some((t) => t.name === 'greet'), JSON.stringify(tools))
  const greeting = await a.client.callTool({ name: 'greet', arguments: { name: 'gateway' } })
  assert.match(greeting.content[0].text, /gateway/)
  ok('tools listed and greet called through the gateway')

  // Notifications stream back over SSE through the gateway.
  const notes = []
  a.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { notes.push(n) })
  await a.client.callTool({ name: 'start-notification-stream', arguments: { interval: 50, count: 3 } })
  assert.ok(notes.length >= 3, `only ${notes.length} notifications`)
  assert.ok(sent.some((r) => r.type.startsWith('text/event-stream')), 'no SSE response passed through')
  ok(`SSE: ${notes.length} notifications streamed through the gateway`)

  // The second server, on another route and resource: its own token.
  const providerB = new Provider()
  if (identity === 'register') providerB.info = provider.info // the same installed client
  const b = await connect(serverB, providerB)
  assert.equal(b.authUrl.searchParams.get('resource'), serverB)
  const who = JSON.parse((await b.client.callTool({ name: 'whoami', arguments: {} })).content[0].text)
  assert.equal(who['X-Oauth-Subject'], user.name, JSON.stringify(who))
  assert.equal(who['X-Oauth-Audience'], serverB, JSON.stringify(who))
  assert.equal(who['X-Oauth-Client-Id'], b.authUrl.searchParams.get('client_id'))
  ok('the unchanged Go SDK server behind the gateway sees the identity headers')

  // Each token is for its own server only.
  const tokA = provider.tokens().access_token
  const tokB = providerB.tokens().access_token
  for (const [url, tok, name] of [[serverB, tokA, 'A on B'], [serverA, tokB, 'B on A']]) {
    const res = await post(url, tok, initialize)
    assert.equal(res.status, 401, name)
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/)
  }
  const own = await post(serverA, tokA, initialize)
  assert.equal(own.status, 200)
  ok("each server's token is refused by the other")

  await a.client.close()
  await b.client.close()
  console.log(`requests with a token: ${sent.length + 3}`) // the 3 raw posts above sent one each
  console.log(`mcp clients: all ${checks} checks passed`)
} finally {
  await browser.close()
  pages.close()
}
