#!/usr/bin/env node
// Half of the check of a Prometheus configuration that uses
// kubernetes_sd_configs, for Debian's promtool, which is built without the
// Kubernetes service discovery and refuses that key. Each
// kubernetes_sd_configs entry is checked here against
// kubernetes-sd-config.schema.json (strict: a misspelled field fails); the
// configuration is then written to OUT with each such block replaced by a
// static target, for `promtool check config OUT` to check everything else.
//
// Usage: node check-scrape-config.js FILE OUT   exit 1 if a block is invalid.
'use strict';

const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');
const YAML = require('yaml');

const [file, out] = process.argv.slice(2);
if (!file || !out) {
	console.error('usage: node check-scrape-config.js FILE OUT');
	process.exit(2);
}
const schema = JSON.parse(fs.readFileSync(path.join(__dirname, 'kubernetes-sd-config.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true }).compile(schema);
const config = YAML.parse(fs.readFileSync(file, 'utf8'));
let bad = 0;
let blocks = 0;
for (const job of (config && config.scrape_configs) || []) {
	if (!job || !('kubernetes_sd_configs' in job))
		continue;
	(job.kubernetes_sd_configs || []).forEach((sd, i) => {
		const where = `job ${job.job_name}: kubernetes_sd_configs[${i}]`;
		blocks++;
		if (validate(sd)) {
			console.log(`${where}: valid`);
			return;
		}
		for (const err of validate.errors) {
			const detail = err.keyword === 'additionalProperties'
				? `unknown field "${err.params.additionalProperty}"` : err.message;
			console.log(`${where}${err.instancePath}: invalid: ${detail}`);
		}
		bad++;
	});
	delete job.kubernetes_sd_configs;
	job.static_configs = [{ targets: ['kubernetes-sd.invalid:9464'] }];
}
if (!blocks) {
	console.log(`${file}: no kubernetes_sd_configs`);
	bad++;
}
fs.writeFileSync(out, YAML.stringify(config));
process.exit(bad ? 1 : 0);
