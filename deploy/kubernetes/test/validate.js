#!/usr/bin/env node
// Checks Kubernetes manifests against the API's schemas, strictly: every
// document of every FILE must be of a known apiVersion and kind, and match
// its schema, with no field the schema does not name (a misspelled field
// fails, as `kubectl apply --validate=strict` would fail it on a server).
//
// The schemas: kubernetes-models 4.1.0 (the Kubernetes 1.25 OpenAPI
// definitions) and @kubernetes-models/prometheus-operator 4.0.0 (the
// openAPIV3Schema of the prometheus-operator CRDs: PodMonitor,
// ServiceMonitor, ...), which ship them as data and register them through
// @kubernetes-models/validate's register(). This script collects them there
// and compiles them with its own ajv, after making them strict as kubeconform
// -strict does: an object schema that lists properties and says nothing of
// others gets additionalProperties: false. (Free-form objects, such as
// labels or a CRD's x-kubernetes-preserve-unknown-fields, list no
// properties and stay open.)
//
// Usage: node validate.js FILE...   Prints one line per document; exit 1 if
// any is invalid, 2 on a usage or read error.
//        node validate.js --dump FILE...   Prints the documents as one JSON
// array, unchecked (for tests that look at what the manifests say).
'use strict';

const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const YAML = require('yaml');
const registry = require('@kubernetes-models/validate');

// API group -> the package whose models hold its schemas
const PACKAGES = {
	'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

const collected = new Map();
const original = registry.register;
registry.register = (id, schema) => {
	if (!collected.has(id))
		collected.set(id, schema);
	original(id, schema);
};

function strict(schema) {
	if (Array.isArray(schema))
		return schema.map(strict);
	if (!schema || typeof schema !== 'object')
		return schema;
	const out = {};
	for (const [k, v] of Object.entries(schema))
		out[k] = k === 'enum' || k === 'default' || k === 'example' ? v : strict(v);
	if (out.properties && out.additionalProperties === undefined)
		out.additionalProperties = false;
	return out;
}

// The schema id of apiVersion/kind, registering it and what it refers to.
function schemaId(apiVersion, kind) {
	const slash = apiVersion.lastIndexOf('/');
	const group = slash < 0 ? '' : apiVersion.slice(0, slash);
	const pkg = PACKAGES[group] || 'kubernetes-models';
	let models;
	try {
		models = require(`${pkg}/${apiVersion}`);
	} catch (e) {
		return null;
	}
	const model = models[kind];
	if (typeof model !== 'function')
		return null;
	const proto = model.prototype;
	const hidden = Object.getOwnPropertySymbols(proto);
	const id = hidden.map((s) => proto[s]).find((v) => typeof v === 'string');
	const add = hidden.map((s) => proto[s]).find((v) => typeof v === 'function');
	if (!id || !add)
		return null;
	add();
	return id;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
ajv.addFormat('quantity', /^[+-]?(?:\d+|\d+\.\d+|\d+\.|\.\d+)(?:[KMGTPE]i|[mkMGTPE]|[eE][+-]?\d+)?$/);
ajv.addFormat('int32', { type: 'number', validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
ajv.addFormat('double', { type: 'number', validate: () => true });
const added = new Set();
const compiled = new Map();

function validator(id) {
	if (!compiled.has(id)) {
		for (const [sid, schema] of collected) {
			if (!added.has(sid)) {
				ajv.addSchema(strict(schema), sid);
				added.add(sid);
			}
		}
		compiled.set(id, ajv.getSchema(id));
	}
	return compiled.get(id);
}

function describe(err) {
	const where = err.instancePath || '/';
	if (err.keyword === 'additionalProperties')
		return `${where}: unknown field "${err.params.additionalProperty}"`;
	if (err.keyword === 'enum')
		return `${where}: must be one of ${JSON.stringify(err.params.allowedValues)}`;
	return `${where}: ${err.message}`;
}

function check(file) {
	let docs;
	try {
		docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
	} catch (e) {
		console.error(`${file}: ${e.message}`);
		process.exit(2);
	}
	let bad = 0;
	docs.forEach((doc, i) => {
		const where = `${path.basename(file)}[${i}]`;
		if (doc.errors.length) {
			console.log(`${where}: YAML: ${doc.errors[0].message}`);
			bad++;
			return;
		}
		const obj = doc.toJSON();
		if (obj === null)
			return; // an empty document (a trailing ---)
		const name = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
		const id = obj.apiVersion && obj.kind ? schemaId(obj.apiVersion, obj.kind) : null;
		if (!id) {
			console.log(`${where} ${name}: no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`);
			bad++;
			return;
		}
		const validate = validator(id);
		if (validate(obj)) {
			console.log(`${where} ${name}: valid (${id})`);
			return;
		}
		// a oneOf [ref, null] repeats each error of the ref; say each once
		const seen = new Set();
		for (const err of validate.errors) {
			if (err.keyword === 'oneOf' || (err.keyword === 'type' && err.params.type === 'null'))
				continue;
			const line = describe(err);
			if (!seen.has(line)) {
				seen.add(line);
				console.log(`${where} ${name}: invalid: ${line}`);
			}
		}
		bad++;
	});
	return bad;
}

const args = process.argv.slice(2);
if (args[0] === '--dump') {
	const all = [];
	for (const f of args.slice(1))
		for (const doc of YAML.parseAllDocuments(fs.readFileSync(f, 'utf8')))
			all.push(doc.toJSON());
	console.log(JSON.stringify(all));
	process.exit(0);
}
const files = args;
if (!files.length) {
	console.error('usage: node validate.js FILE...');
	process.exit(2);
}
let bad = 0;
for (const f of files)
	bad += check(f);
process.exit(bad ? 1 : 0);
