#!/usr/bin/env node
// Validates Kubernetes objects offline against the API schemas: the Kubernetes ones from the
// npm package kubernetes-models, the Prometheus Operator's (ServiceMonitor, PrometheusRule)
// from @kubernetes-models/prometheus-operator. Reads a JSON array of objects on stdin (the
// test converts `kubectl kustomize` output), prints one line per problem and exits 1 if there
// is any, 2 if the packages are missing.
//
// The packages' validators check types, required fields, enums and patterns, but accept
// fields the schema does not know (a misspelt `livenessprobe` would pass, and the API server
// would drop it). So every key of every object is also probed: replaced by a value no schema
// type accepts, the object must stop validating; if it still validates, the schema never looks
// at that key, and the key is reported as unknown (what `kubectl apply --validate=strict`
// refuses).
'use strict';

function load(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  let mod;
  if (group === 'monitoring.coreos.com') {
    mod = `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  } else {
    mod = `kubernetes-models/${group ? group + '/' : ''}${version}/${kind}`;
  }
  try {
    return require(mod)[kind];
  } catch (e) {
    if (e.code === 'MODULE_NOT_FOUND' && !e.message.includes(mod)) throw e;
    return null;
  }
}

function check(Cls, obj) {
  try {
    new Cls(obj).validate();
    return null;
  } catch (e) {
    return e.message || String(e);
  }
}

// A value that fails every schema type: not a string, number, boolean or object, and an
// array whose items are arrays of arrays.
const POISON = [[[Symbol.for('unknown')]]];

function keyPaths(value, path, out) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => keyPaths(v, path.concat(i), out));
  } else if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) {
      out.push(path.concat(k));
      keyPaths(value[k], path.concat(k), out);
    }
  }
  return out;
}

function withPoison(obj, path) {
  const copy = JSON.parse(JSON.stringify(obj));
  let o = copy;
  for (const p of path.slice(0, -1)) o = o[p];
  o[path[path.length - 1]] = POISON;
  return copy;
}

function main(objects) {
  const problems = [];
  let checked = 0;
  for (const obj of objects) {
    const where = `${obj.kind}/${(obj.metadata || {}).name}`;
    const Cls = obj.apiVersion && obj.kind ? load(obj.apiVersion, obj.kind) : null;
    if (!Cls) {
      problems.push(`${where}: no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`);
      continue;
    }
    const err = check(Cls, obj);
    if (err) {
      problems.push(`${where}: ${err}`);
      continue;
    }
    const unknown = [];
    for (const path of keyPaths(obj, [], [])) {
      if (path.length === 1 && (path[0] === 'apiVersion' || path[0] === 'kind')) continue;
      const name = path.join('.');
      if (unknown.some((u) => name.startsWith(u + '.'))) continue; // inside one reported already
      if (!check(Cls, withPoison(obj, path))) {
        unknown.push(name);
        problems.push(`${where}: unknown field ${name}`);
      }
    }
    checked++;
  }
  for (const p of problems) console.log(p);
  console.log(`${checked} of ${objects.length} objects valid`);
  return problems.length ? 1 : 0;
}

try {
  require.resolve('kubernetes-models/package.json');
  require.resolve('@kubernetes-models/prometheus-operator/package.json');
} catch (e) {
  console.log('missing npm packages kubernetes-models and @kubernetes-models/prometheus-operator (npm install): ' + e.message);
  process.exit(2);
}
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => { process.exit(main(JSON.parse(input))); });
