// node-oidc-provider as a peer for the load harness: one confidential client
// allowed client_credentials and introspection, the in-memory adapter (the
// library's default), its default access token format (opaque for
// client_credentials without a resource indicator), plain HTTP on 127.0.0.1.
//
//   PORT=3000 CLIENT_ID=peer CLIENT_SECRET=... node server.mjs
//
// The harness finds the endpoints through discovery
// (/.well-known/openid-configuration).
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const host = '127.0.0.1';
const clientId = process.env.CLIENT_ID || 'peer';
const clientSecret = process.env.CLIENT_SECRET;
if (!clientSecret || clientSecret.length < 32) {
  console.error('CLIENT_SECRET (at least 32 characters) is required');
  process.exit(2);
}

const provider = new Provider(`http://${host}:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read write',
    },
  ],
  scopes: ['openid', 'offline_access', 'read', 'write'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  // Only client_credentials runs here; a fixed signing key is not needed,
  // cookie keys are set so the provider does not use its development ones.
  cookies: { keys: [clientSecret] },
});

// Errors the harness provokes on purpose are not worth a stack trace each.
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;
server.listen(port, host, () => {
  console.log(`oidc-provider listening on http://${host}:${port} (pid ${process.pid}, node ${process.version})`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
