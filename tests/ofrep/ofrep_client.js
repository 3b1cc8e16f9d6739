// The official OpenFeature clients against the exporter's OFREP endpoints, driven by
// tests/integration/test_ofrep.py one JSON line at a time on stdin; each answer is one JSON
// line on stdout. Nothing here decides pass or fail: it reports what the SDKs return.
//
//   {"op":"server_init","base":URL,"headers":[[name,value],...]}
//       @openfeature/server-sdk with @openfeature/ofrep-provider (one HTTP call per evaluation)
//   {"op":"server_bool","flag":NAME,"default":true|false,"context":{...}}
//       -> {"value": getBooleanValue(...), "details": getBooleanDetails(...)}
//   {"op":"web_init","base":URL,"headers":[...],"pollInterval":MS}
//       @openfeature/web-sdk with @openfeature/ofrep-web-provider (bulk evaluation, cached,
//       refreshed by polling with If-None-Match)
//   {"op":"web_bool","flag":NAME,"default":true|false}  -> {"details": getBooleanDetails(...)}
//   {"op":"web_changes"}  -> {"changes":[{"flagsChanged":[...]}...]} seen so far
//   {"op":"close"}
'use strict';

const readline = require('readline');
const server = require('@openfeature/server-sdk');
const { OFREPProvider } = require('@openfeature/ofrep-provider');

let serverClient = null;
let web = null; // { sdk, client, changes }

function details(d) {
  // The fields an application reads, in plain JSON (errorCode and friends only when set).
  const out = { value: d.value, reason: d.reason, variant: d.variant, flagMetadata: d.flagMetadata };
  if (d.errorCode) out.errorCode = d.errorCode;
  if (d.errorMessage) out.errorMessage = d.errorMessage;
  return out;
}

const ops = {
  async server_init(m) {
    const provider = new OFREPProvider({ baseUrl: m.base, headers: m.headers || [] });
    await server.OpenFeature.setProviderAndWait(provider);
    serverClient = server.OpenFeature.getClient('test_ofrep');
    return { provider: provider.metadata.name };
  },
  async server_bool(m) {
    const ctx = m.context || {};
    const value = await serverClient.getBooleanValue(m.flag, m.default, ctx);
    const d = await serverClient.getBooleanDetails(m.flag, m.default, ctx);
    return { value, details: details(d) };
  },
  async web_init(m) {
    const sdk = require('@openfeature/web-sdk');
    const { OFREPWebProvider } = require('@openfeature/ofrep-web-provider');
    const provider = new OFREPWebProvider({
      baseUrl: m.base,
      headers: m.headers || [],
      pollInterval: m.pollInterval,
      cacheMode: 'disabled', // no localStorage in node: every answer comes from the exporter
    });
    const changes = [];
    provider.events.addHandler(sdk.ClientProviderEvents.ConfigurationChanged, (e) => {
      changes.push({ flagsChanged: (e && e.flagsChanged) || [] });
    });
    await sdk.OpenFeature.setContext({ targetingKey: 'web-user-1' });
    await sdk.OpenFeature.setProviderAndWait(provider);
    web = { sdk, client: sdk.OpenFeature.getClient(), changes, provider };
    return { provider: provider.metadata.name };
  },
  async web_bool(m) {
    return { details: details(web.client.getBooleanDetails(m.flag, m.default)) };
  },
  async web_changes() {
    return { changes: web.changes };
  },
  async close() {
    await server.OpenFeature.close();
    if (web) await web.sdk.OpenFeature.close();
    return {};
  },
};

const rl = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on('line', (line) => {
  queue = queue.then(async () => {
    let answer;
    try {
      const m = JSON.parse(line);
      answer = await ops[m.op](m);
    } catch (e) {
      answer = { exception: String((e && e.stack) || e) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  });
});
rl.on('close', () => queue.then(() => process.exit(0)));
