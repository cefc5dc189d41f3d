#!/usr/bin/env node
// Send one GET to each of the distinct routes FROM..TO-1 (letters only, so the
// agent keeps each one: no numeric or hex segment to fold into {id}).
// Usage: node bench/routes.js PORT FROM TO
'use strict';
const http = require('http');
const [port, from, to] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
// n -> letters g..z (never hex digits), e.g. 0 -> "g", 20 -> "hg"
function word(n) {
	let s = '';
	do { s = String.fromCharCode(103 + (n % 20)) + s; n = Math.floor(n / 20); } while (n > 0);
	return s;
}
let next = from, done = 0, inflight = 0;
function one() {
	if (next >= to) return;
	const n = next++;
	inflight++;
	http.get({ host: '127.0.0.1', port, path: `/r/word${word(n)}x`, agent }, (res) => {
		res.resume();
		res.on('end', () => { inflight--; done++; if (next < to) one(); else if (inflight === 0) finish(); });
	}).on('error', (e) => { process.stderr.write(`routes.js: ${e.message}\n`); process.exit(1); });
}
function finish() { agent.destroy(); process.stdout.write(`sent ${done}\n`); }
for (let i = 0; i < 16; i++) one();
