#!/usr/bin/env node
// Stand-in for the backend "core": a plain Node http server with a fixed set
// of routes, used by the selftests and as the demo target of `make smoke`.
// Usage: node core.js [PORT]   (default: $PORT or 8900; 0 picks a free port)
// Prints "listening <port>" on stdout once it accepts connections.
'use strict';

const http = require('http');

const arg = process.argv[2] !== undefined ? process.argv[2] : process.env.PORT;
const port = arg !== undefined && arg !== '' ? Number(arg) : 8900;
if (!Number.isInteger(port) || port < 0 || port > 65535) {
	process.stderr.write(`core.js: bad port "${arg}"\n`);
	process.exit(2);
}

function reply(res, status, body) {
	res.writeHead(status, {
		'Content-Type': 'text/plain',
		'Content-Length': Buffer.byteLength(body),
	});
	res.end(body);
}

const server = http.createServer((req, res) => {
	const path = req.url.split('?')[0];
	// Always drain the request body so keep-alive connections stay usable.
	req.resume();
	req.on('end', () => {
		if (req.method === 'GET' && path === '/hello')
			return reply(res, 200, 'hello');
		if (req.method === 'POST' && path === '/items')
			return reply(res, 201, 'created');
		if ((req.method === 'PUT' || req.method === 'DELETE') &&
		    /^\/items\/[^/]+$/.test(path))
			return reply(res, 200, 'ok');
		if (req.method === 'GET' && path === '/boom')
			return reply(res, 500, 'boom');
		if (req.method === 'GET' && path === '/slow')
			return setTimeout(() => reply(res, 200, 'slow'), 60);
		return reply(res, 404, 'not found');
	});
});

server.listen(port, '127.0.0.1', () => {
	process.stdout.write(`listening ${server.address().port}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM'])
	process.on(sig, () => process.exit(0));
