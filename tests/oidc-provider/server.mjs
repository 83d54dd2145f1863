// An independent OpenID Connect server for the interop test in
// tests/app/oidc.rs: panva/oidc-provider (OpenID Certified), with its
// development login and consent pages. Test use only, on 127.0.0.1.
//
//   REDIRECT_URI=http://127.0.0.1:8080/auth/oidc/callback node server.mjs
//
// Listens on a port the system chooses (PORT, if set, instead), and then
// prints "ready <issuer>": the test reads its issuer there, so no port is
// picked, released and hoped to stay free.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 0);
const redirectUri = process.env.REDIRECT_URI;
const clientId = process.env.CLIENT_ID ?? 'interop-client';
const clientSecret = process.env.CLIENT_SECRET ?? 'interop-client-secret';

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  // The issuer names the port, so the provider is made once it is known.
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = configured(issuer);
  server.on('request', provider.callback());
  console.log(`ready ${issuer}`);
});

function configured(issuer) {
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        // Loopback http redirect URIs are allowed for native clients (RFC 8252 §7.3).
        application_type: 'native',
      },
    ],
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
    },
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, name: `Interop ${id}`, email: `${id}@interop.example`, email_verified: true };
        },
      };
    },
  });
  // No proxy in front; plain http on loopback is fine for a test.
  provider.proxy = false;
  return provider;
}
