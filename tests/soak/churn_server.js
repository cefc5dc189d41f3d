#!/usr/bin/env node
// Targets of the churn run (tests/soak/churn.py).
//
//   node churn_server.js cluster PORT WORKERS MAX_REQUESTS
//     A Node cluster whose workers each answer MAX_REQUESTS to
//     2 x MAX_REQUESTS - 1 requests and then leave (as gunicorn
//     --max-requests with --max-requests-jitter does); the primary forks a
//     replacement for every worker that leaves. Prints "worker <pid>" each
//     time a worker listens and "listening <port>" once WORKERS have.
//   node churn_server.js single PORT [TITLE]
//     One process; with TITLE it sets process.title (its comm, for --comm).
//     Prints "listening <port>".
//
// Status by path: /nope... 404, /boom... 500, anything else 200. A request
// body is read and dropped; every response has a Content-Length.
'use strict';

const cluster = require('cluster');
const http = require('http');

function statusOf(url) {
	if (url.startsWith('/nope'))
		return 404;
	if (url.startsWith('/boom'))
		return 500;
	return 200;
}

// isLast() is asked once per response: true closes the connection after it.
function serve(port, onListening, isLast) {
	const server = http.createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			const status = statusOf(req.url);
			const body = status === 200 ? 'ok\n' : 'no\n';
			const headers = {
				'Content-Type': 'text/plain',
				'Content-Length': Buffer.byteLength(body),
			};
			if (isLast && isLast()) {
				headers.Connection = 'close';
				res.on('finish', () => process.send('retire'));
			}
			res.writeHead(status, headers);
			res.end(body);
		});
	});
	server.listen(port, '127.0.0.1', onListening);
	return server;
}

function badArg(what) {
	process.stderr.write(`churn_server.js: bad ${what}\n`);
	process.exit(2);
}

const [mode, portArg, a3, a4] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535)
	badArg(`port "${portArg}"`);

if (mode === 'single') {
	if (a3)
		process.title = a3;
	serve(port, () => process.stdout.write(`listening ${port}\n`));
	process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'cluster' && cluster.isPrimary) {
	const workers = Number(a3);
	if (!Number.isInteger(workers) || workers < 1)
		badArg(`worker count "${a3}"`);
	let listening = 0;
	let stopping = false;

	cluster.on('listening', (worker) => {
		process.stdout.write(`worker ${worker.process.pid}\n`);
		if (++listening === workers)
			process.stdout.write(`listening ${port}\n`);
	});
	// A worker that is done asks to retire: it is let go once its
	// replacement listens, so that the cluster always has a worker (the
	// primary closes the listening socket while it has none).
	cluster.on('message', (worker, msg) => {
		if (msg !== 'retire' || worker.retiring || stopping)
			return;
		worker.retiring = true;
		cluster.fork().once('listening', () => worker.disconnect());
	});
	cluster.on('exit', (worker) => {
		if (!stopping && !worker.retiring)
			cluster.fork();
	});
	for (let i = 0; i < workers; i++)
		cluster.fork();
	for (const sig of ['SIGINT', 'SIGTERM']) {
		process.on(sig, () => {
			stopping = true;
			for (const id in cluster.workers)
				cluster.workers[id].process.kill('SIGKILL');
			process.exit(0);
		});
	}
} else if (mode === 'cluster') {
	let maxRequests = Number(a4);
	if (!Number.isInteger(maxRequests) || maxRequests < 1)
		badArg(`max requests "${a4}"`);
	// The jitter spreads the workers' ends, as gunicorn's does.
	maxRequests += Math.floor(Math.random() * maxRequests);
	let answered = 0;

	// After the last one the worker asks to retire and goes on answering
	// until the primary disconnects it; it then takes no new connection
	// (one already sent here is handed to another worker) and exits once
	// those still open are done.
	serve(port, null, () => ++answered === maxRequests);
	cluster.worker.on('disconnect', () => process.exit(0));
} else {
	badArg(`mode "${mode}" (cluster or single)`);
}
