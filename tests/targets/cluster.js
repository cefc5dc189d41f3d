#!/usr/bin/env node
// A Node cluster for the target selftests: the primary forks 2 workers that
// share one listening port (Node's default round-robin: the primary accepts
// and hands each connection to a worker), and forks a replacement when a
// worker dies.
// Usage: node cluster.js PORT
// Prints "worker <pid>" each time a worker listens, then "listening <port>"
// once the first two do. Every response carries X-Worker: <pid>.
'use strict';

const cluster = require('cluster');
const http = require('http');

const WORKERS = 2;
const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
	process.stderr.write(`cluster.js: bad port "${process.argv[2]}"\n`);
	process.exit(2);
}

if (cluster.isPrimary) {
	let listening = 0;
	let stopping = false;

	cluster.on('listening', (worker) => {
		process.stdout.write(`worker ${worker.process.pid}\n`);
		if (++listening === WORKERS)
			process.stdout.write(`listening ${port}\n`);
	});
	cluster.on('exit', () => {
		if (!stopping)
			cluster.fork();
	});
	for (let i = 0; i < WORKERS; i++)
		cluster.fork();
	for (const sig of ['SIGINT', 'SIGTERM']) {
		process.on(sig, () => {
			stopping = true;
			for (const id in cluster.workers)
				cluster.workers[id].process.kill('SIGKILL');
			process.exit(0);
		});
	}
} else {
	http.createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			const body = req.url === '/hello' ? 'hello' : 'not found';
			res.writeHead(req.url === '/hello' ? 200 : 404, {
				'Content-Type': 'text/plain',
				'Content-Length': Buffer.byteLength(body),
				'X-Worker': String(process.pid),
			});
			res.end(body);
		});
	}).listen(port, '127.0.0.1');
}
