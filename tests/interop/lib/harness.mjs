// Shared pieces of the browser-driven interop tests (login_consent.mjs, full_flow.mjs): the
// server under test, its Admin API, WebCrypto keys, a loopback callback server that stands in for
// the client's redirect URI, and one headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core) shared by every suite of the process.
//
// Environment (run.sh sets the first three):
//   CLAVEX_BASE_URL         the server's CLAVEX_PUBLIC_URL, e.g. http://127.0.0.1:8080
//   CLAVEX_ADMIN_TOKEN      the organization's admin token (CLAVEX_BOOTSTRAP_ADMIN_TOKEN)
//   CLAVEX_ORG              organization id (default acme)
//   INTEROP_LABEL           a label for the diagnostics (sqlite, postgres)
//   INTEROP_CHROMIUM        the browser binary (default /usr/bin/chromium)
//   INTEROP_SCREENSHOT_DIR  where screenshots go (default: a new directory under the temp dir)
//   INTEROP_HEADED=1        show the browser (needs a display; local debugging only)

import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { after } from 'node:test'

import * as jose from 'jose'

export const BASE_URL = requiredEnv('CLAVEX_BASE_URL').replace(/\/+$/, '')
export const ORG = process.env.CLAVEX_ORG || 'acme'
export const ADMIN_TOKEN = requiredEnv('CLAVEX_ADMIN_TOKEN')
export const LABEL = process.env.INTEROP_LABEL || 'default'
export const ISSUER = `${BASE_URL}/${ORG}`
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
export const CHROMIUM = process.env.INTEROP_CHROMIUM || '/usr/bin/chromium'

/** Chromium's flags on this closed, loopback-only network (see tests/interop/README.md). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Subresources whose failure is not a page problem: Chromium asks every origin for /favicon.ico,
 * and Clavex's pages declare no icon (404).
 */
const IGNORED_SUBRESOURCES = /^\/favicon\.ico$/

/** How long one browser step (a click, a navigation) may take. */
export const STEP_TIMEOUT_MS = 15_000

export function requiredEnv(name) {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} must be set (run this through tests/interop/run.sh)`)
  }
  return value
}

export function randomId(bytes = 16) {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64url')
}

// ---------------------------------------------------------------------------------------------
// Admin API

export async function adminRequest(method, route, body) {
  const response = await fetch(`${BASE_URL}/api/v1${route}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  let json
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  return { status: response.status, body: json, text }
}

/** The organization's display name, as the login and consent pages show it. */
export async function orgDisplayName() {
  const { status, body, text } = await adminRequest('GET', `/organizations/${ORG}`)
  assert.equal(status, 200, `GET organization: HTTP ${status} ${text}`)
  assert.equal(typeof body.display_name, 'string', `organization without display_name: ${text}`)
  return body.display_name
}

/** Creates a user; an existing one with the same username (409) is accepted as is. */
export async function ensureUser(user) {
  const { status, body, text } = await adminRequest('POST', `/organizations/${ORG}/users`, user)
  if (status === 409) return undefined
  assert.equal(status, 201, `user creation: HTTP ${status} ${text}`)
  return body
}

export async function registerClient(metadata) {
  const { status, body, text } = await adminRequest('POST', `/organizations/${ORG}/clients`, metadata)
  assert.equal(status, 201, `client registration: HTTP ${status} ${text}`)
  assert.equal(typeof body.client_id, 'string', `client registration returned no client_id: ${text}`)
  return body
}

// ---------------------------------------------------------------------------------------------
// Keys and JOSE (the client's side, by hand)

export async function generateEs256() {
  return crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
}

/** The public JWK without WebCrypto's `ext`/`key_ops`, with `kid`, `use` and `alg` when given. */
export async function exportPublicJwk(publicKey, extra = {}) {
  const { ext, key_ops, ...jwk } = await crypto.subtle.exportKey('jwk', publicKey)
  return { ...jwk, ...extra }
}

export function b64urlSha256(text) {
  return crypto.subtle
    .digest('SHA-256', new TextEncoder().encode(text))
    .then((d) => Buffer.from(d).toString('base64url'))
}

/** A private_key_jwt client assertion, `aud` = the issuer identifier (FAPI 2.0). */
export async function clientAssertion(privateKey, kid, clientId) {
  const now = Math.floor(Date.now() / 1000)
  return new jose.SignJWT({ jti: randomId(), iat: now, nbf: now, exp: now + 60 })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(ISSUER)
    .sign(privateKey)
}

/** A DPoP proof (RFC 9449 §4.2); `accessToken` adds `ath`, `nonce` a server nonce. */
export async function dpopProof(keyPair, htm, htu, accessToken, nonce) {
  const jwk = await exportPublicJwk(keyPair.publicKey)
  const claims = { jti: randomId(), htm, htu, iat: Math.floor(Date.now() / 1000) }
  if (accessToken) claims.ath = await b64urlSha256(accessToken)
  if (nonce) claims.nonce = nonce
  return new jose.SignJWT(claims).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(keyPair.privateKey)
}

/** A form POST; returns the status, headers and parsed JSON body. */
export async function postForm(url, form, headers = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(form),
  })
  const text = await response.text()
  let body
  try {
    body = JSON.parse(text)
  } catch {
    body = { raw: text }
  }
  return { status: response.status, headers: response.headers, body }
}

/**
 * A form POST with a fresh DPoP proof (and a fresh form: `makeForm` builds the client assertion
 * anew each time). Retries once when the server asks for a DPoP nonce (RFC 9449 §8).
 */
export async function postWithDpop(url, makeForm, keyPair) {
  let nonce
  for (let attempt = 0; ; attempt++) {
    const proof = await dpopProof(keyPair, 'POST', url, undefined, nonce)
    const result = await postForm(url, await makeForm(), { dpop: proof })
    const offered = result.headers.get('dpop-nonce')
    if (attempt === 0 && result.body?.error === 'use_dpop_nonce' && offered) {
      nonce = offered
      continue
    }
    return result
  }
}

// ---------------------------------------------------------------------------------------------
// The client's redirect URI: a real loopback HTTP server that records what arrives

/**
 * Starts `http://127.0.0.1:<port>`: `/callback` records the request and answers a small page;
 * `/frame?src=URL` answers a page that tries to show URL in an iframe (clickjacking check).
 */
export async function startCallbackServer() {
  const requests = []
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1')
    if (url.pathname === '/callback') {
      requests.push({ method: req.method, path: url.pathname, search: url.search, headers: req.headers })
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end('<!doctype html><title>Client callback</title><p id="callback">callback received</p>')
      return
    }
    if (url.pathname === '/frame') {
      const src = url.searchParams.get('src') ?? ''
      const escaped = src.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(`<!doctype html><title>Framing attempt</title><iframe id="victim" src="${escaped}" width="600" height="600"></iframe>`)
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('not found')
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const origin = `http://127.0.0.1:${server.address().port}`
  return {
    origin,
    redirectUri: `${origin}/callback`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
}

// ---------------------------------------------------------------------------------------------
// The browser: one Chromium per process, closed after every suite has run

let browserPromise
after(async () => {
  if (!browserPromise) return
  const pending = browserPromise
  browserPromise = undefined
  const browser = await pending.catch(() => undefined)
  await browser?.close()
})

/** The shared headless Chromium (launched on first use). */
export async function sharedBrowser() {
  if (!browserPromise) {
    browserPromise = (async () => {
      if (!fs.existsSync(CHROMIUM)) {
        throw new Error(
          `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) ` +
            'or set INTEROP_CHROMIUM',
        )
      }
      // playwright-core never downloads a browser; it drives the one named here.
      const { chromium } = await import('playwright-core')
      const started = Date.now()
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: process.env.INTEROP_HEADED !== '1',
        args: process.env.INTEROP_HEADED === '1' ? CHROMIUM_ARGS.filter((a) => a !== '--headless') : CHROMIUM_ARGS,
        timeout: 60_000,
      })
      process.stderr.write(
        `[interop] Chromium ${browser.version()} launched in ${Date.now() - started} ms (${CHROMIUM})\n`,
      )
      return browser
    })()
  }
  return browserPromise
}

/**
 * A fresh browser context (its own cookie jar: a new "browser" for the server) with a page that
 * records console errors, page errors and failed requests.
 */
export async function newBrowserPage() {
  const browser = await sharedBrowser()
  const context = await browser.newContext({ viewport: { width: 800, height: 700 }, locale: 'en-US' })
  context.setDefaultTimeout(STEP_TIMEOUT_MS)
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS)
  const page = await context.newPage()
  const problems = []
  page.on('console', (msg) => {
    // Chromium logs every 4xx/5xx as "Failed to load resource": documents with an error status are
    // checked by the tests themselves, subresources just below.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource:')) {
      problems.push(`console error at ${page.url()}: ${msg.text()}`)
    }
  })
  page.on('response', (res) => {
    const type = res.request().resourceType()
    if (res.status() >= 400 && type !== 'document' && !IGNORED_SUBRESOURCES.test(new URL(res.url()).pathname)) {
      problems.push(`subresource ${type} ${res.url()}: HTTP ${res.status()}`)
    }
  })
  page.on('pageerror', (err) => problems.push(`page error at ${page.url()}: ${err.message}`))
  page.on('requestfailed', (req) => {
    problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`)
  })
  return { context, page, problems }
}

/** The screenshot directory (created on first use). */
let screenshotDir
export function screenshotDirectory() {
  if (!screenshotDir) {
    const configured = process.env.INTEROP_SCREENSHOT_DIR
    if (configured) {
      fs.mkdirSync(configured, { recursive: true })
      screenshotDir = configured
    } else {
      screenshotDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clavex-screenshots-'))
    }
  }
  return screenshotDir
}

export async function screenshot(page, name) {
  const file = path.join(screenshotDirectory(), `${LABEL}-${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  return file
}

/** What the page shows, for failure messages. */
export async function describePage(page) {
  try {
    const title = await page.title()
    const text = (await page.locator('body').innerText({ timeout: 2000 })).replace(/\s+/g, ' ').trim()
    return `page ${page.url()} title ${JSON.stringify(title)} text ${JSON.stringify(text.slice(0, 400))}`
  } catch (err) {
    return `page ${page.url()} (unreadable: ${err.message})`
  }
}

/** Adds context to an error's message (and to its stack, which is what the test runner prints). */
export function annotate(err, prefix, suffix = '') {
  if (!(err instanceof Error)) return new Error(`${prefix}${String(err)}${suffix}`)
  const original = err.message
  err.message = `${prefix}${original}${suffix}`
  if (typeof err.stack === 'string' && original && err.stack.includes(original)) {
    err.stack = err.stack.replace(original, err.message)
  }
  return err
}

/**
 * Runs `fn` against a browser session; on failure, adds what the page showed to the error and
 * saves a screenshot. Also fails on console errors, page errors and failed requests seen so far.
 */
export async function explained(session, name, fn) {
  try {
    const result = await fn(session)
    assert.deepEqual(session.problems, [], 'no console errors, page errors or failed requests')
    return result
  } catch (err) {
    const where = await describePage(session.page)
    let shot = ''
    try {
      shot = ` (screenshot ${await screenshot(session.page, `failure-${name}`)})`
    } catch {
      // the page may be gone
    }
    throw annotate(err, '', `\n    browser: ${where}${shot}`)
  }
}

/** Runs a browser scenario in a fresh context (see `explained`), closed afterwards. */
export async function inBrowser(name, fn) {
  const session = await newBrowserPage()
  try {
    return await explained(session, name, fn)
  } finally {
    await session.context.close().catch(() => {})
  }
}

/**
 * Performs `action` (a click, a navigation) and waits until the browser is on the callback.
 * Checks that the callback server saw exactly that request, and returns the callback URL.
 */
export async function untilCallback(page, callback, action) {
  const before = callback.requests.length
  const [, result] = await Promise.all([
    // The request count keeps a page that already shows an earlier callback from matching at once.
    page.waitForURL(
      (url) => url.href.startsWith(`${callback.redirectUri}?`) && callback.requests.length > before,
      { waitUntil: 'load' },
    ),
    action(),
  ])
  const url = new URL(page.url())
  assert.equal(callback.requests.length, before + 1, 'the callback server received one request')
  const received = callback.requests.at(-1)
  assert.equal(received.method, 'GET')
  assert.equal(received.search, url.search, 'the callback server saw the query the browser shows')
  return { url, result }
}

/** Fills the login form and presses "Sign in"; returns the HTTP response of POST /login. */
export async function submitLogin(page, username, password) {
  await page.locator('#username').fill(username)
  await page.locator('#password').fill(password)
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === `/${ORG}/login`),
    page.locator('#login').click(),
  ])
  await page.waitForLoadState('load')
  return response
}

/** Scope names listed on the consent page, in order. */
export async function consentScopes(page) {
  return page.locator('#scopes li').evaluateAll((items) => items.map((li) => li.dataset.scope))
}
