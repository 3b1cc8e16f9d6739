// S3 stand-in for the benchmark: @20minutes/s3rver (verifies SigV4) on 127.0.0.1:PORT with
// one bucket. Usage: node s3_server.js PORT DIR BUCKET.
// Unlike tests/lib/s3rver.js it runs silent: logging every request would cost s3rver CPU
// and slow the blackbox_exporter rows, whose probes go through it.
'use strict';
// Debian 12's node 18 lacks Array.prototype.toReversed, which s3rver's router calls.
if (!Array.prototype.toReversed) {
  Object.defineProperty(Array.prototype, 'toReversed', {
    value: function toReversed() { return this.slice().reverse(); },
    writable: true, configurable: true,
  });
}
const S3rver = require('@20minutes/s3rver');
const [port, directory, bucket] = process.argv.slice(2);
// Exit at once on SIGTERM: close() would wait for keep-alive sockets.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
new S3rver({
  address: '127.0.0.1',
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: [{ name: bucket }],
})
  .run()
  .then(() => console.log('s3rver listening on ' + port))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
