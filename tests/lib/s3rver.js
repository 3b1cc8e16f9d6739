// A real S3 server for tests: @20minutes/s3rver, which verifies SigV4 signatures (plain s3rver
// does not). Usage:
//   node s3rver.js --port P --dir D [--bucket NAME]... [--key ID --secret SECRET]
// With --key/--secret those credentials replace the default S3RVER/S3RVER.
'use strict';
const path = require('node:path');

// Debian 12's node is 18; s3rver's router (@koa/router 15) calls Array.prototype.toReversed,
// which node 18 lacks. Supply it rather than pin an older router that s3rver does not accept.
if (!Array.prototype.toReversed) {
  Object.defineProperty(Array.prototype, 'toReversed', {
    value: function toReversed() { return this.slice().reverse(); },
    writable: true, configurable: true,
  });
}
const root = path.resolve(__dirname, '..', '..', 'node_modules', '@20minutes', 's3rver');
const S3rver = require(root);
const AWSAccount = require(path.join(root, 'lib', 'models', 'account'));

const args = { bucket: [] };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  const v = process.argv[i + 1];
  if (v === undefined) {
    console.error('missing value for --' + k);
    process.exit(2);
  }
  if (k === 'bucket') args.bucket.push(v);
  else args[k] = v;
}
if (!args.port || !args.dir) {
  console.error('usage: s3rver.js --port P --dir D [--bucket NAME]... [--key ID --secret SECRET]');
  process.exit(2);
}
if (args.key) {
  AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(args.key, args.secret || '');
}

// close() would wait for keep-alive sockets (the exporter holds one): exit at once.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

new S3rver({
  address: '127.0.0.1',
  port: Number(args.port),
  directory: args.dir,
  silent: false,
  configureBuckets: args.bucket.map((name) => ({ name })),
})
  .run()
  .then((addr) => console.log('s3rver listening on ' + addr.address + ':' + addr.port))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
