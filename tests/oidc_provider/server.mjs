// A certified OpenID Connect provider (panva's oidc-provider) for the test suite: one issuer
// per organisation — a municipality's and a contractor's — each on a loopback port of its own
// (the issuer is http://127.0.0.1:PORT).
//
//   node server.mjs CONFIG.json
//
// CONFIG names each issuer's port, signing keys (private JWKs: the first one signs,
// the others are still published, as during a key rotation), its client (the console,
// public, or confidential with a client_secret, PKCE either way) and its accounts (claims: roles, sites, org_name).
// It prints "ready" once every issuer listens; it serves until killed.  Loopback only.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function providerFor(idp) {
  const provider = new Provider(idp.issuer, {
    clients: [{
      client_id: idp.client_id,
      // A public client (the code bound to its PKCE verifier), or a confidential one
      // authenticating with HTTP Basic as well, as enterprise IdPs ask of web apps.
      ...(idp.client_secret
        ? { client_secret: idp.client_secret, token_endpoint_auth_method: 'client_secret_basic' }
        : { token_endpoint_auth_method: 'none' }),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: idp.redirect_uris,
      post_logout_redirect_uris: idp.post_logout_redirect_uris,
    }],
    jwks: { keys: idp.keys },
    cookies: { keys: [idp.cookie_secret] },
    // Our roles, sites and organisation name travel in the ID token, as an enterprise
    // IdP's app roles do: the console keeps the verified ID token as its credential.
    claims: { openid: ['sub', 'roles', 'sites', 'org_name'] },
    conformIdTokenClaims: false,
    async findAccount(ctx, id) {
      const account = idp.accounts[id];
      if (!account) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...account }; } };
    },
    // The organisation consented for its staff (an administrator's consent): no prompt.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid');
      grant.addOIDCClaims(['roles', 'sites', 'org_name']);
      await grant.save();
      return grant;
    },
    pkce: { methods: ['S256'], required: () => true },
    features: {
      devInteractions: { enabled: true }, // a login form that takes any password
      rpInitiatedLogout: { enabled: true },
    },
    ttl: { IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60, Session: 3600,
      Interaction: 600, Grant: 3600 },
  });
  return provider;
}

let listening = 0;
for (const idp of config.issuers) {
  const server = http.createServer(providerFor(idp).callback());
  server.listen(idp.port, '127.0.0.1', () => {
    listening += 1;
    if (listening === config.issuers.length) console.log('ready');
  });
}
