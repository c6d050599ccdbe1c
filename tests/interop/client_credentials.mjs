// Interoperability test of Clavex's client_credentials grant against oauth4webapi, a FAPI 2.0
// certified relying-party library: private_key_jwt client authentication, DPoP-bound JWT access
// tokens (RFC 9449, RFC 9068), discovery (RFC 8414), and refusal of replayed client assertions.
//
// Run by run.sh against a live `clavex serve`. Environment:
//   CLAVEX_BASE_URL     e.g. http://127.0.0.1:8080 (the server's CLAVEX_PUBLIC_URL)
//   CLAVEX_ORG          organization id (default acme)
//   CLAVEX_ADMIN_TOKEN  the organization's admin token (CLAVEX_BOOTSTRAP_ADMIN_TOKEN)
//   INTEROP_LABEL       a label for the diagnostics (sqlite, postgres)

import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'

import * as jose from 'jose'
import * as oauth from 'oauth4webapi'

const BASE_URL = requiredEnv('CLAVEX_BASE_URL').replace(/\/+$/, '')
const ORG = process.env.CLAVEX_ORG || 'acme'
const ADMIN_TOKEN = requiredEnv('CLAVEX_ADMIN_TOKEN')
const LABEL = process.env.INTEROP_LABEL || 'default'
const ISSUER = `${BASE_URL}/${ORG}`
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
// The server is plain http on loopback: oauth4webapi refuses http unless told otherwise.
const INSECURE = { [oauth.allowInsecureRequests]: true }

function requiredEnv(name) {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} must be set (run this through tests/interop/run.sh)`)
  }
  return value
}

// ---------------------------------------------------------------------------------------------
// Keys

/** WebCrypto parameters for each FAPI 2.0 algorithm. */
const KEY_PARAMS = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  EdDSA: { name: 'Ed25519' },
  PS256: {
    name: 'RSA-PSS',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
}

async function generateKeyPair(alg) {
  return crypto.subtle.generateKey(KEY_PARAMS[alg], true, ['sign', 'verify'])
}

/**
 * The public JWK as WebCrypto exports it, without the WebCrypto-only members `ext` and
 * `key_ops`, with a `kid`. The exported `alg` member is kept (Node sets `PS256` for RSA-PSS and
 * `Ed25519` for Ed25519 keys; none for EC keys).
 */
async function exportPublicJwk(publicKey, kid) {
  const { ext, key_ops, ...jwk } = await crypto.subtle.exportKey('jwk', publicKey)
  return kid === undefined ? jwk : { ...jwk, kid }
}

/** RFC 7638 JWK thumbprint, computed by hand (SHA-256, base64url). */
async function rfc7638Thumbprint(jwk) {
  const required = {
    EC: ['crv', 'kty', 'x', 'y'],
    OKP: ['crv', 'kty', 'x'],
    RSA: ['e', 'kty', 'n'],
  }[jwk.kty]
  assert.ok(required, `unexpected kty ${jwk.kty}`)
  const canonical = `{${required.map((k) => `${JSON.stringify(k)}:${JSON.stringify(jwk[k])}`).join(',')}}`
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical))
  return Buffer.from(digest).toString('base64url')
}

function randomId(bytes = 16) {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64url')
}

// ---------------------------------------------------------------------------------------------
// Server helpers

async function registerClient(publicJwk, extra = {}) {
  const response = await fetch(`${BASE_URL}/api/v1/organizations/${ORG}/clients`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      'content-type': 'application/json',
      accept: 'application/json',
    },
    body: JSON.stringify({
      client_name: 'oauth4webapi interop',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [publicJwk] },
      ...extra,
    }),
  })
  const text = await response.text()
  assert.equal(response.status, 201, `client registration: HTTP ${response.status} ${text}`)
  const body = JSON.parse(text)
  assert.equal(typeof body.client_id, 'string', `client registration returned no client_id: ${text}`)
  return body.client_id
}

async function discover(algorithm = 'oidc') {
  const issuer = new URL(ISSUER)
  const response = await oauth.discoveryRequest(issuer, { algorithm, ...INSECURE })
  return oauth.processDiscoveryResponse(issuer, response)
}

/**
 * oauth4webapi's client_credentials grant, with a `customFetch` that records what the library
 * sent (so the test can inspect the client assertion and replay it). Retries once on a DPoP
 * nonce challenge (RFC 9449 §8), as oauth4webapi's documentation prescribes.
 */
async function libraryGrant(as, client, clientAuth, dpop, { parameters = {}, sent = [] } = {}) {
  const options = {
    ...INSECURE,
    [oauth.customFetch]: (url, init) => {
      sent.push({ url, headers: { ...init.headers }, body: new URLSearchParams(init.body) })
      return fetch(url, init)
    },
  }
  if (dpop) options.DPoP = dpop
  const attempt = async () =>
    oauth.processClientCredentialsResponse(
      as,
      client,
      await oauth.clientCredentialsGrantRequest(as, client, clientAuth, parameters, options),
    )
  try {
    return await attempt()
  } catch (err) {
    if (dpop && oauth.isDPoPNonceError(err)) return attempt()
    throw err
  }
}

/** The OAuth error code carried by an oauth4webapi error (body error or WWW-Authenticate). */
function oauthErrorCode(err) {
  if (err instanceof oauth.ResponseBodyError) return err.error
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    return err.cause.map((c) => c.parameters.error).find(Boolean)
  }
  return undefined
}

async function assertLibraryRefusal(promise, expectedError, message) {
  await assert.rejects(promise, (err) => {
    const code = oauthErrorCode(err)
    assert.equal(code, expectedError, `${message}: expected ${expectedError}, got ${code ?? err}`)
    return true
  })
}

/** A DPoP proof (RFC 9449 §4.2) built by hand with jose, for the hand-made token requests. */
async function handDpopProof(alg, keyPair, htu) {
  const jwk = await exportPublicJwk(keyPair.publicKey)
  delete jwk.alg
  return new jose.SignJWT({ jti: randomId(), htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) })
    .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk })
    .sign(keyPair.privateKey)
}

/** A private_key_jwt client assertion built by hand with jose, `aud` = the issuer identifier. */
async function handAssertion(alg, privateKey, kid, clientId, issuer) {
  const now = Math.floor(Date.now() / 1000)
  return new jose.SignJWT({ jti: randomId(), iat: now, nbf: now, exp: now + 60 })
    .setProtectedHeader({ alg, kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(issuer)
    .sign(privateKey)
}

/** A token request sent by hand: returns the HTTP status and the JSON body. */
async function handTokenRequest(as, form, dpopProof) {
  const headers = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  }
  if (dpopProof) headers.dpop = dpopProof
  const response = await fetch(as.token_endpoint, {
    method: 'POST',
    headers,
    body: new URLSearchParams(form),
  })
  const text = await response.text()
  let body
  try {
    body = JSON.parse(text)
  } catch {
    body = { raw: text }
  }
  return { status: response.status, body }
}

/** Checks a token response and its access token as a client, an RS library, and by hand. */
async function checkAccessToken(t, as, clientId, tokenResponse, dpop, dpopKeyPair) {
  assert.equal(tokenResponse.token_type, 'dpop', 'token_type (oauth4webapi lower-cases it)')
  assert.equal(typeof tokenResponse.access_token, 'string')
  assert.ok(
    Number.isFinite(tokenResponse.expires_in) && tokenResponse.expires_in > 0,
    `expires_in: ${tokenResponse.expires_in}`,
  )
  assert.equal(tokenResponse.refresh_token, undefined, 'no refresh token for client_credentials')

  const accessToken = tokenResponse.access_token
  assert.equal(accessToken.split('.').length, 3, 'the access token is a compact JWS')
  const header = jose.decodeProtectedHeader(accessToken)
  assert.equal(header.typ, 'at+jwt', 'RFC 9068 §2.1 typ')
  assert.ok(['ES256', 'PS256', 'EdDSA', 'Ed25519'].includes(header.alg), `alg ${header.alg}`)
  assert.equal(typeof header.kid, 'string', 'the access token header names its kid')

  // The DPoP key's RFC 7638 thumbprint, three ways: by hand, jose, and oauth4webapi's handle.
  const dpopJwk = await exportPublicJwk(dpopKeyPair.publicKey)
  const jkt = await rfc7638Thumbprint(dpopJwk)
  assert.equal(await jose.calculateJwkThumbprint(dpopJwk, 'sha256'), jkt, 'jose agrees on the jkt')
  assert.equal(await dpop.calculateThumbprint(), jkt, 'oauth4webapi agrees on the jkt')

  // Signature against the server's published JWKS (fetched from the discovered jwks_uri).
  const jwksResponse = await fetch(as.jwks_uri)
  assert.equal(jwksResponse.status, 200, 'JWKS fetch')
  const jwks = await jwksResponse.json()
  const { payload } = await jose.jwtVerify(accessToken, jose.createLocalJWKSet(jwks), {
    issuer: as.issuer,
    typ: 'at+jwt',
    algorithms: ['ES256', 'PS256', 'EdDSA', 'Ed25519'],
  })
  assert.equal(payload.iss, ISSUER, 'iss is the issuer identifier')
  assert.equal(payload.iss, as.issuer)
  assert.equal(payload.client_id, clientId, 'client_id claim')
  assert.equal(payload.sub, clientId, 'sub of a client_credentials token is the client')
  assert.equal(typeof payload.jti, 'string')
  assert.equal(typeof payload.aud, 'string')
  assert.ok(payload.exp > payload.iat, 'exp after iat')
  assert.deepEqual(payload.cnf, { jkt }, 'cnf.jkt is the RFC 7638 thumbprint of the DPoP key')

  // As a resource server would: oauth4webapi's RFC 9068 + RFC 9449 validation of a DPoP-bound
  // request made by oauth4webapi's own protectedResourceRequest (captured, not sent).
  const resource = new URL(`${BASE_URL}/interop-resource?x=1`)
  let captured
  await oauth.protectedResourceRequest(accessToken, 'GET', resource, new Headers(), null, {
    DPoP: dpop,
    ...INSECURE,
    [oauth.customFetch]: (url, init) => {
      captured = new Request(url, { method: init.method, headers: init.headers })
      return new Response('ok')
    },
  })
  assert.ok(captured, 'protectedResourceRequest produced a request')
  const rsClaims = await oauth.validateJwtAccessToken(as, captured, payload.aud, {
    ...INSECURE,
    requireDPoP: true,
  })
  assert.equal(rsClaims.jti, payload.jti)
  t.diagnostic(`access token: alg=${header.alg} kid=${header.kid} aud=${payload.aud} cnf.jkt=${jkt}`)
  return payload
}

// ---------------------------------------------------------------------------------------------
// Tests

describe(`oauth4webapi ${LABEL}: Clavex ${ISSUER}`, () => {
  let as

  before(async () => {
    as = await discover('oidc')
  })

  test('discovery (RFC 8414 / OIDC Discovery) through oauth4webapi', async (t) => {
    assert.equal(as.issuer, ISSUER)
    assert.equal(new URL(as.token_endpoint).origin, new URL(BASE_URL).origin)
    assert.equal(typeof as.jwks_uri, 'string')
    assert.ok(as.token_endpoint_auth_methods_supported?.includes('private_key_jwt'))
    assert.ok(as.grant_types_supported?.includes('client_credentials'))
    for (const alg of ['ES256', 'PS256', 'EdDSA']) {
      assert.ok(as.dpop_signing_alg_values_supported?.includes(alg), `DPoP ${alg} advertised`)
      assert.ok(
        as.token_endpoint_auth_signing_alg_values_supported?.includes(alg),
        `assertion ${alg} advertised`,
      )
    }
    // The RFC 8414 location (/.well-known/oauth-authorization-server/{org}) gives the same.
    const rfc8414 = await discover('oauth2')
    assert.deepEqual(rfc8414, as)
    t.diagnostic(`token_endpoint=${as.token_endpoint} jwks_uri=${as.jwks_uri}`)
  })

  const combos = [
    { name: 'ES256 client key, ES256 DPoP key', clientAlg: 'ES256', dpopAlg: 'ES256' },
    {
      name: 'Ed25519 client key, Ed25519 DPoP key (oauth4webapi sends alg "Ed25519")',
      clientAlg: 'EdDSA',
      dpopAlg: 'EdDSA',
    },
    {
      name: 'Ed25519 keys with alg remapped to "EdDSA" (modifyAssertion)',
      clientAlg: 'EdDSA',
      dpopAlg: 'EdDSA',
      remapEd25519: true,
    },
    { name: 'PS256 client key, PS256 DPoP key', clientAlg: 'PS256', dpopAlg: 'PS256' },
    { name: 'ES256 client key, Ed25519 DPoP key', clientAlg: 'ES256', dpopAlg: 'EdDSA' },
  ]

  for (const combo of combos) {
    test(`client_credentials + private_key_jwt + DPoP: ${combo.name}`, async (t) => {
      const clientKeys = await generateKeyPair(combo.clientAlg)
      const dpopKeys = await generateKeyPair(combo.dpopAlg)
      const kid = `interop-${combo.clientAlg.toLowerCase()}-${randomId(6)}`
      const clientId = await registerClient(await exportPublicJwk(clientKeys.publicKey, kid))
      const client = { client_id: clientId }

      const remap = combo.remapEd25519
        ? {
            [oauth.modifyAssertion]: (header) => {
              if (header.alg === 'Ed25519') header.alg = 'EdDSA'
            },
          }
        : undefined
      const clientAuth = oauth.PrivateKeyJwt({ key: clientKeys.privateKey, kid }, remap)
      const dpop = oauth.DPoP(client, dpopKeys, remap)

      const sent = []
      const tokens = await libraryGrant(as, client, clientAuth, dpop, { sent })

      // What oauth4webapi put on the wire.
      const request = sent.at(-1)
      assert.equal(request.body.get('grant_type'), 'client_credentials')
      assert.equal(request.body.get('client_assertion_type'), JWT_BEARER)
      assert.equal(request.body.get('client_id'), clientId)
      const assertion = request.body.get('client_assertion')
      const assertionHeader = jose.decodeProtectedHeader(assertion)
      const assertionClaims = jose.decodeJwt(assertion)
      assert.equal(assertionHeader.kid, kid)
      assert.equal(assertionClaims.aud, as.issuer, 'oauth4webapi sends aud = issuer identifier')
      assert.equal(assertionClaims.iss, clientId)
      assert.equal(assertionClaims.sub, clientId)
      const proofHeader = jose.decodeProtectedHeader(request.headers.dpop)
      const proofClaims = jose.decodeJwt(request.headers.dpop)
      assert.equal(proofHeader.typ, 'dpop+jwt')
      assert.equal(proofClaims.htu, as.token_endpoint)
      assert.equal(proofClaims.htm, 'POST')
      t.diagnostic(
        `assertion header=${JSON.stringify(assertionHeader)} aud=${JSON.stringify(assertionClaims.aud)}; ` +
          `DPoP alg=${proofHeader.alg}`,
      )

      await checkAccessToken(t, as, clientId, tokens, dpop, dpopKeys)

      // A second grant with fresh assertion and proof works too (nothing is one-shot per client).
      const again = await libraryGrant(as, client, clientAuth, dpop)
      assert.notEqual(again.access_token, tokens.access_token)
    })
  }

  test('client_credentials with a bare CryptoKey (assertion without kid), single registered key', async (t) => {
    const clientKeys = await generateKeyPair('ES256')
    const dpopKeys = await generateKeyPair('ES256')
    const clientId = await registerClient(
      await exportPublicJwk(clientKeys.publicKey, `interop-nokid-${randomId(6)}`),
    )
    const client = { client_id: clientId }
    const dpop = oauth.DPoP(client, dpopKeys)
    const sent = []
    const tokens = await libraryGrant(as, client, oauth.PrivateKeyJwt(clientKeys.privateKey), dpop, {
      sent,
    })
    const assertionHeader = jose.decodeProtectedHeader(sent.at(-1).body.get('client_assertion'))
    assert.equal(assertionHeader.kid, undefined, 'oauth4webapi sends no kid for a bare CryptoKey')
    await checkAccessToken(t, as, clientId, tokens, dpop, dpopKeys)
  })

  describe('single use of client assertions (RFC 7523 §3 jti, FAPI 2.0 replay protection)', () => {
    let clientKeys
    let dpopKeys
    let kid
    let clientId

    before(async () => {
      clientKeys = await generateKeyPair('ES256')
      dpopKeys = await generateKeyPair('ES256')
      kid = `interop-replay-${randomId(6)}`
      clientId = await registerClient(await exportPublicJwk(clientKeys.publicKey, kid))
    })

    test('control: a hand-built request with a fresh assertion and proof succeeds', async () => {
      const assertion = await handAssertion('ES256', clientKeys.privateKey, kid, clientId, as.issuer)
      const proof = await handDpopProof('ES256', dpopKeys, as.token_endpoint)
      const { status, body } = await handTokenRequest(
        as,
        {
          grant_type: 'client_credentials',
          client_id: clientId,
          client_assertion_type: JWT_BEARER,
          client_assertion: assertion,
        },
        proof,
      )
      assert.equal(status, 200, JSON.stringify(body))
      assert.equal(body.token_type, 'DPoP')
    })

    test('the exact assertion oauth4webapi sent, replayed with a fresh DPoP proof, is refused', async () => {
      const client = { client_id: clientId }
      const sent = []
      await libraryGrant(as, client, oauth.PrivateKeyJwt({ key: clientKeys.privateKey, kid }), oauth.DPoP(client, dpopKeys), { sent })
      const replayed = sent.at(-1).body
      const proof = await handDpopProof('ES256', dpopKeys, as.token_endpoint)
      const { status, body } = await handTokenRequest(as, replayed, proof)
      assert.ok(status === 400 || status === 401, `HTTP ${status} ${JSON.stringify(body)}`)
      assert.equal(body.error, 'invalid_client', JSON.stringify(body))
    })

    test('a re-signed assertion reusing a jti is refused (oauth4webapi modifyAssertion)', async () => {
      const client = { client_id: clientId }
      const jti = randomId()
      const fixedJti = { [oauth.modifyAssertion]: (_header, payload) => void (payload.jti = jti) }
      const clientAuth = oauth.PrivateKeyJwt({ key: clientKeys.privateKey, kid }, fixedJti)
      await libraryGrant(as, client, clientAuth, oauth.DPoP(client, dpopKeys))
      await assertLibraryRefusal(
        libraryGrant(as, client, clientAuth, oauth.DPoP(client, dpopKeys)),
        'invalid_client',
        'second use of the jti',
      )
    })

    test('a replayed DPoP proof with a fresh assertion is refused', async () => {
      const proof = await handDpopProof('ES256', dpopKeys, as.token_endpoint)
      const form = async () => ({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_assertion_type: JWT_BEARER,
        client_assertion: await handAssertion('ES256', clientKeys.privateKey, kid, clientId, as.issuer),
      })
      const first = await handTokenRequest(as, await form(), proof)
      assert.equal(first.status, 200, JSON.stringify(first.body))
      const second = await handTokenRequest(as, await form(), proof)
      assert.ok(second.status === 400 || second.status === 401, `HTTP ${second.status}`)
      assert.equal(second.body.error, 'invalid_dpop_proof', JSON.stringify(second.body))
    })
  })

  describe('FAPI 2.0 refusals seen through oauth4webapi', () => {
    let clientKeys
    let kid
    let clientId

    before(async () => {
      clientKeys = await generateKeyPair('ES256')
      kid = `interop-neg-${randomId(6)}`
      clientId = await registerClient(await exportPublicJwk(clientKeys.publicKey, kid))
    })

    test('assertion aud = token endpoint (pre-final FAPI 2.0 style) is refused', async () => {
      const client = { client_id: clientId }
      const tokenEndpointAud = {
        [oauth.modifyAssertion]: (_header, payload) => void (payload.aud = as.token_endpoint),
      }
      await assertLibraryRefusal(
        libraryGrant(
          as,
          client,
          oauth.PrivateKeyJwt({ key: clientKeys.privateKey, kid }, tokenEndpointAud),
          oauth.DPoP(client, await generateKeyPair('ES256')),
        ),
        'invalid_client',
        'aud = token endpoint',
      )
    })

    test('a token request without a DPoP proof is refused', async () => {
      const client = { client_id: clientId }
      await assertLibraryRefusal(
        libraryGrant(as, client, oauth.PrivateKeyJwt({ key: clientKeys.privateKey, kid }), undefined),
        'invalid_request',
        'no DPoP proof',
      )
    })

    test('an assertion signed by a key the client did not register is refused', async () => {
      const client = { client_id: clientId }
      const stranger = await generateKeyPair('ES256')
      await assertLibraryRefusal(
        libraryGrant(
          as,
          client,
          oauth.PrivateKeyJwt({ key: stranger.privateKey, kid }),
          oauth.DPoP(client, await generateKeyPair('ES256')),
        ),
        'invalid_client',
        'unregistered key',
      )
    })
  })
})
