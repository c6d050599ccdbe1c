// Real-browser test of Clavex's login and consent pages: headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) against a live `clavex serve`.
//
// The client's side is done by hand (jose + WebCrypto): an ES256 client registered through the
// Admin API with an inline JWKS and a loopback redirect URI served by a real Node HTTP server,
// PAR with a private_key_jwt assertion (aud = issuer), PKCE S256 and a DPoP proof; code
// redemption with DPoP. The browser does what a person does: opens the authorization URL, types
// the username and password, presses the buttons.
//
// Checks: (a) login page → consent page → callback with code, state and iss; (b) a wrong password
// shows #error on the login page; (c) Cancel on the login page → access_denied; (d) Deny on the
// consent page → access_denied; (e) X-Frame-Options / CSP frame-ancestors (and Chromium refusing
// to frame the page), Cache-Control, HttpOnly + SameSite=Lax cookies; (f) a second authorization
// in the same browser goes straight to the callback (SSO + remembered consent).
//
// Run by run.sh (see lib/harness.mjs for the environment); exits non-zero on any failed check.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import * as jose from 'jose'

import {
  BASE_URL,
  ISSUER,
  JWT_BEARER,
  LABEL,
  ORG,
  annotate,
  b64urlSha256,
  clientAssertion,
  consentScopes,
  ensureUser,
  exportPublicJwk,
  generateEs256,
  inBrowser,
  orgDisplayName,
  postWithDpop,
  randomId,
  registerClient,
  screenshot,
  startCallbackServer,
  submitLogin,
  untilCallback,
} from './lib/harness.mjs'

const ALICE = {
  username: 'alice',
  password: 'correct horse battery',
  email: 'alice@example.com',
  given_name: 'Alice',
  family_name: 'Doe',
}
const BAD_LOGIN_MESSAGE = 'The username or password is incorrect.'

/** Checks a `step`; failures name the step. */
async function step(t, name, fn) {
  try {
    const result = await fn()
    t.diagnostic(`ok: ${name}`)
    return result
  } catch (err) {
    throw annotate(err, `${name}: `)
  }
}

/** The headers every interaction page must carry (clickjacking, caching). */
function checkPageHeaders(response, what) {
  assert.ok(response, `${what}: no HTTP response`)
  const h = response.headers()
  assert.equal(h['x-frame-options'], 'DENY', `${what}: X-Frame-Options`)
  const csp = h['content-security-policy'] ?? ''
  assert.match(csp, /(^|;)\s*frame-ancestors 'none'\s*(;|$)/, `${what}: CSP frame-ancestors 'none' (CSP: ${csp})`)
  assert.match(h['cache-control'] ?? '', /no-store/, `${what}: Cache-Control no-store`)
  assert.match(h['content-type'] ?? '', /^text\/html/, `${what}: Content-Type`)
}

describe(`login and consent pages in Chromium (${LABEL}): ${ISSUER}`, () => {
  let as
  let callback
  let orgName
  let clientA
  let clientB

  async function makeClient(name) {
    const keys = await generateEs256()
    const kid = `browser-${randomId(6)}`
    // The README's Step 1 body, with an inline JWKS and a loopback http redirect URI.
    const body = await registerClient({
      client_name: name,
      redirect_uris: [callback.redirectUri],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [await exportPublicJwk(keys.publicKey, { kid, use: 'sig', alg: 'ES256' })] },
      require_pushed_authorization_requests: true,
      require_dpop: true,
      authorization_signed_response_alg: 'ES256',
    })
    return { id: body.client_id, name, keys, kid, dpopKeys: await generateEs256() }
  }

  /** PAR by hand: private_key_jwt, PKCE S256, DPoP proof (binds the code to the DPoP key). */
  async function push(client, scope, extra = {}) {
    const verifier = randomId(48)
    const state = randomId()
    const nonce = randomId()
    const form = async () => ({
      client_id: client.id,
      response_type: 'code',
      scope,
      redirect_uri: callback.redirectUri,
      state,
      nonce,
      code_challenge: await b64urlSha256(verifier),
      code_challenge_method: 'S256',
      client_assertion_type: JWT_BEARER,
      client_assertion: await clientAssertion(client.keys.privateKey, client.kid, client.id),
      ...extra,
    })
    const { status, body } = await postWithDpop(as.pushed_authorization_request_endpoint, form, client.dpopKeys)
    assert.equal(status, 201, `PAR: HTTP ${status} ${JSON.stringify(body)}`)
    assert.match(body.request_uri, /^urn:ietf:params:oauth:request_uri:/)
    assert.ok(body.expires_in > 0 && body.expires_in <= 600, `PAR expires_in ${body.expires_in}`)
    const url = new URL(as.authorization_endpoint)
    url.searchParams.set('client_id', client.id)
    url.searchParams.set('request_uri', body.request_uri)
    return { authUrl: url.href, requestUri: body.request_uri, state, nonce, verifier }
  }

  /** Code redemption by hand with the DPoP key of the PAR; verifies the ID token. */
  async function redeem(client, code, pushed) {
    const form = async () => ({
      grant_type: 'authorization_code',
      code,
      redirect_uri: callback.redirectUri,
      code_verifier: pushed.verifier,
      client_id: client.id,
      client_assertion_type: JWT_BEARER,
      client_assertion: await clientAssertion(client.keys.privateKey, client.kid, client.id),
    })
    const { status, body } = await postWithDpop(as.token_endpoint, form, client.dpopKeys)
    assert.equal(status, 200, `token endpoint: HTTP ${status} ${JSON.stringify(body)}`)
    assert.equal(body.token_type, 'DPoP')
    assert.equal(typeof body.id_token, 'string', 'an ID token (scope openid)')
    const jwks = jose.createLocalJWKSet(await (await fetch(as.jwks_uri)).json())
    const { payload } = await jose.jwtVerify(body.id_token, jwks, { issuer: ISSUER, audience: client.id })
    assert.equal(payload.nonce, pushed.nonce, 'ID token nonce')
    assert.equal(typeof payload.auth_time, 'number', 'ID token auth_time')
    return { tokens: body, idToken: payload }
  }

  function checkSuccess(url, pushed) {
    const p = url.searchParams
    assert.equal(p.get('error'), null, `unexpected error ${p.get('error')}: ${p.get('error_description')}`)
    assert.ok(p.get('code'), 'code')
    assert.equal(p.get('state'), pushed.state, 'state')
    assert.equal(p.get('iss'), ISSUER, 'iss (RFC 9207)')
    return p.get('code')
  }

  function checkAccessDenied(url, pushed) {
    const p = url.searchParams
    assert.equal(p.get('error'), 'access_denied', `error (${p.get('error_description')})`)
    assert.equal(p.get('code'), null, 'no code with an error')
    assert.equal(p.get('state'), pushed.state, 'state')
    assert.equal(p.get('iss'), ISSUER, 'iss (RFC 9207)')
  }

  async function checkLoginPage(page, client, pushed) {
    assert.equal(await page.title(), `Sign in · ${orgName}`, 'title')
    assert.equal((await page.locator('.org').innerText()).trim(), orgName, 'organization name')
    assert.equal((await page.locator('#heading').innerText()).trim(), 'Sign in')
    assert.equal((await page.locator('.lead strong').innerText()).trim(), client.name, 'client name')
    for (const id of ['#username', '#password', '#login', '#cancel']) {
      assert.ok(await page.locator(id).isVisible(), `${id} is visible`)
    }
    assert.equal((await page.locator('#login').innerText()).trim(), 'Sign in')
    assert.equal(await page.locator('input[name=client_id]').inputValue(), client.id)
    assert.equal(await page.locator('input[name=request_uri]').inputValue(), pushed.requestUri)
    assert.ok((await page.locator('input[name=csrf]').inputValue()).length >= 16, 'csrf field')
    // The stylesheet loaded despite the strict CSP (style-src 'self').
    const radius = await page.locator('main.card').evaluate((el) => getComputedStyle(el).borderTopLeftRadius)
    assert.equal(radius, '12px', 'clavex.css is applied')
  }

  async function checkConsentPage(page, client, scopes) {
    assert.equal(await page.title(), `Allow access · ${orgName}`, 'title')
    assert.equal((await page.locator('.org').innerText()).trim(), orgName, 'organization name')
    assert.equal((await page.locator('#client-name').innerText()).trim(), client.name, 'client name')
    assert.deepEqual(await consentScopes(page), scopes, '#scopes li')
    for (const text of await page.locator('#scopes li').allInnerTexts()) {
      assert.ok(text.trim().length > 0, 'every scope has a description')
    }
    assert.equal((await page.locator('.who strong').innerText()).trim(), ALICE.username, 'signed-in user')
    assert.ok(await page.locator('#approve').isVisible(), '#approve is visible')
    assert.ok(await page.locator('#deny').isVisible(), '#deny is visible')
    assert.equal(await page.locator('#username').count(), 0, 'no login form on the consent page')
  }

  before(async () => {
    const response = await fetch(`${ISSUER}/.well-known/openid-configuration`)
    assert.equal(response.status, 200, 'discovery')
    as = await response.json()
    callback = await startCallbackServer()
    orgName = await orgDisplayName()
    await ensureUser(ALICE)
    clientA = await makeClient('PSD2 TPP Client')
    clientB = await makeClient('Budget Planner')
  })

  after(async () => {
    await callback?.close()
  })

  test('(a) sign in and approve; (e) headers, cookies, framing; (f) SSO with remembered consent', async (t) => {
    await inBrowser('approve', async ({ context, page, problems }) => {
      // (e) Chromium refuses to show the login page in a frame (frame-ancestors 'none', XFO DENY).
      const framed = await push(clientA, 'openid accounts')
      await step(t, '(e) the login page cannot be framed', async () => {
        await page.goto(`${callback.origin}/frame?src=${encodeURIComponent(framed.authUrl)}`)
        const child = page.frames().find((f) => f !== page.mainFrame())
        assert.ok(child, 'the iframe exists')
        assert.notEqual(
          new URL(child.url()).origin,
          BASE_URL,
          `the framed login page must not load (frame url ${child.url()})`,
        )
        assert.equal(await child.locator('#username').count(), 0, 'no login form inside the frame')
        // Chromium logs the refusal on the console; give the message a moment to arrive.
        const refused = () => problems.filter((p) => /frame-ancestors|X-Frame-Options/i.test(p))
        for (let i = 0; i < 20 && refused().length === 0; i++) await page.waitForTimeout(100)
        const refusals = refused()
        assert.ok(refusals.length > 0, `Chromium reported the refusal (console: ${JSON.stringify(problems)})`)
        t.diagnostic(`Chromium: ${refusals[0].replace(/^console error at \S+: /, '').trim()}`)
        problems.length = 0
      })

      const pushed = await push(clientA, 'openid accounts')
      const loginResponse = await step(t, '(a) the authorization URL shows the login page', async () => {
        const response = await page.goto(pushed.authUrl)
        assert.equal(response.status(), 200)
        await checkLoginPage(page, clientA, pushed)
        assert.equal(await page.locator('#error').count(), 0, 'no error message')
        t.diagnostic(`screenshot: ${await screenshot(page, 'login')}`)
        return response
      })
      await step(t, '(e) login page headers', () => checkPageHeaders(loginResponse, 'login page'))

      const consentResponse = await step(t, '(a) Sign in shows the consent page', async () => {
        const response = await submitLogin(page, ALICE.username, ALICE.password)
        assert.equal(response.status(), 200, 'POST /login')
        await checkConsentPage(page, clientA, ['openid', 'accounts'])
        t.diagnostic(`screenshot: ${await screenshot(page, 'consent')}`)
        return response
      })
      await step(t, '(e) consent page headers', () => checkPageHeaders(consentResponse, 'consent page'))

      await step(t, '(e) cookies are HttpOnly and SameSite=Lax', async () => {
        const cookies = await context.cookies(BASE_URL)
        const names = cookies.map((c) => c.name)
        const session = cookies.find((c) => c.name === `clavex_session_${ORG}`)
        const browserId = cookies.find((c) => c.name === 'clavex_browser')
        assert.ok(session, `session cookie clavex_session_${ORG} (cookies: ${names.join(', ')})`)
        assert.ok(browserId, `browser cookie clavex_browser (cookies: ${names.join(', ')})`)
        for (const c of [session, browserId]) {
          assert.equal(c.httpOnly, true, `${c.name} HttpOnly`)
          assert.equal(c.sameSite, 'Lax', `${c.name} SameSite`)
          assert.equal(c.path, '/', `${c.name} Path`)
          assert.equal(c.secure, false, `${c.name} is not Secure on a plain-http public URL`)
        }
        const hours = (session.expires - Date.now() / 1000) / 3600
        assert.ok(hours > 7.9 && hours <= 8.01, `session cookie lifetime ${hours.toFixed(2)} h (8 h expected)`)
        assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the cookies')
      })

      const code = await step(t, '(a) Approve lands on the callback with code, state, iss', async () => {
        const { url } = await untilCallback(page, callback, () => page.locator('#approve').click())
        return checkSuccess(url, pushed)
      })
      const first = await step(t, '(a) the code is redeemed with DPoP', () => redeem(clientA, code, pushed))

      await step(t, '(f) a second authorization goes straight to the callback', async () => {
        const again = await push(clientA, 'openid accounts')
        const { url, result } = await untilCallback(page, callback, () => page.goto(again.authUrl))
        const code2 = checkSuccess(url, again)
        assert.notEqual(code2, code)
        const redirect = result?.request().redirectedFrom()
        assert.ok(redirect, 'the authorization endpoint redirected')
        assert.ok(redirect.url().startsWith(as.authorization_endpoint), `redirected from ${redirect.url()}`)
        assert.equal((await redirect.response()).status(), 303)
        const second = await redeem(clientA, code2, again)
        assert.equal(second.idToken.sub, first.idToken.sub, 'same user')
        assert.equal(second.idToken.auth_time, first.idToken.auth_time, 'auth_time of the first sign-in (SSO)')
      })

      await step(t, 'prompt=login shows the login page despite the session', async () => {
        const forced = await push(clientA, 'openid accounts', { prompt: 'login' })
        const response = await page.goto(forced.authUrl)
        assert.equal(response.status(), 200)
        await checkLoginPage(page, clientA, forced)
        const { url } = await untilCallback(page, callback, () => submitLogin(page, ALICE.username, ALICE.password))
        checkSuccess(url, forced)
      })

      await step(t, 'a used request_uri is refused (invalid_request_uri on the callback)', async () => {
        const { url } = await untilCallback(page, callback, () => page.goto(pushed.authUrl))
        assert.equal(url.searchParams.get('error'), 'invalid_request_uri')
        assert.equal(url.searchParams.get('state'), pushed.state)
        assert.equal(url.searchParams.get('iss'), ISSUER)
      })
    })
  })

  test('(b) a wrong password shows #error; (d) Deny on the consent page → access_denied', async (t) => {
    await inBrowser('deny', async ({ context, page }) => {
      const pushed = await push(clientB, 'openid payments')
      await step(t, '(b) the login page names the client', async () => {
        const response = await page.goto(pushed.authUrl)
        assert.equal(response.status(), 200)
        await checkLoginPage(page, clientB, pushed)
      })
      await step(t, '(b) a wrong password keeps the browser on the login page with #error', async () => {
        const before = callback.requests.length
        const response = await submitLogin(page, ALICE.username, 'not the password')
        const status = response.status()
        assert.ok(status === 200 || (status >= 400 && status < 500), `POST /login with a wrong password: HTTP ${status}`)
        checkPageHeaders(response, 'login page with error')
        const error = page.locator('#error')
        assert.ok(await error.isVisible(), '#error is visible')
        assert.equal((await error.innerText()).trim(), BAD_LOGIN_MESSAGE)
        assert.equal(await error.getAttribute('role'), 'alert')
        assert.equal(await page.title(), `Sign in · ${orgName}`)
        assert.ok(await page.locator('#username').isVisible(), 'the login form is shown again')
        assert.equal(await page.locator('#password').inputValue(), '', 'the password is not echoed back')
        assert.equal(callback.requests.length, before, 'nothing reached the callback')
        const cookies = await context.cookies(BASE_URL)
        assert.ok(!cookies.some((c) => c.name === `clavex_session_${ORG}`), 'no session cookie')
        t.diagnostic(`screenshot: ${await screenshot(page, 'login-error')}`)
      })
      await step(t, '(b) the right password then works on the same request', async () => {
        const response = await submitLogin(page, ALICE.username, ALICE.password)
        assert.equal(response.status(), 200)
        await checkConsentPage(page, clientB, ['openid', 'payments'])
      })
      await step(t, '(d) Deny lands on the callback with access_denied', async () => {
        const { url } = await untilCallback(page, callback, () => page.locator('#deny').click())
        checkAccessDenied(url, pushed)
      })
      await step(t, '(d) after a denial, SSO skips the login but asks for consent again', async () => {
        const again = await push(clientB, 'openid payments')
        const response = await page.goto(again.authUrl)
        assert.equal(response.status(), 200)
        await checkConsentPage(page, clientB, ['openid', 'payments'])
        const { url } = await untilCallback(page, callback, () => page.locator('#approve').click())
        const code = checkSuccess(url, again)
        await redeem(clientB, code, again)
      })
    })
  })

  test('(c) Cancel on the login page → access_denied; the request_uri is then used up; prompt=none', async (t) => {
    await inBrowser('cancel', async ({ page }) => {
      const pushed = await push(clientA, 'openid accounts')
      await step(t, '(c) Cancel lands on the callback with access_denied', async () => {
        const response = await page.goto(pushed.authUrl)
        assert.equal(response.status(), 200)
        await checkLoginPage(page, clientA, pushed)
        const { url } = await untilCallback(page, callback, () => page.locator('#cancel').click())
        checkAccessDenied(url, pushed)
      })
      await step(t, '(c) the cancelled request cannot be resumed', async () => {
        const { url } = await untilCallback(page, callback, () => page.goto(pushed.authUrl))
        assert.equal(url.searchParams.get('error'), 'invalid_request_uri')
        assert.equal(url.searchParams.get('state'), pushed.state)
      })
      await step(t, 'prompt=none without a session → login_required on the callback', async () => {
        const silent = await push(clientA, 'openid accounts', { prompt: 'none' })
        const { url } = await untilCallback(page, callback, () => page.goto(silent.authUrl))
        assert.equal(url.searchParams.get('error'), 'login_required')
        assert.equal(url.searchParams.get('state'), silent.state)
        assert.equal(url.searchParams.get('iss'), ISSUER)
      })
    })
  })

  test('front channel refusals: no PAR, unknown request_uri', async (t) => {
    await inBrowser('refusals', async ({ page }) => {
      await step(t, 'an unpushed request gets an error page, not a login form', async () => {
        const url = new URL(as.authorization_endpoint)
        url.searchParams.set('client_id', clientA.id)
        url.searchParams.set('response_type', 'code')
        url.searchParams.set('scope', 'openid')
        const response = await page.goto(url.href)
        assert.equal(response.status(), 400)
        checkPageHeaders(response, 'error page')
        assert.equal(await page.locator('#username').count(), 0)
      })
      await step(t, 'an unknown request_uri gets an error page', async () => {
        const url = new URL(as.authorization_endpoint)
        url.searchParams.set('client_id', clientA.id)
        url.searchParams.set('request_uri', `urn:ietf:params:oauth:request_uri:${randomId(32)}`)
        const response = await page.goto(url.href)
        assert.equal(response.status(), 400)
        assert.equal(await page.locator('#username').count(), 0)
      })
    })
  })
})
