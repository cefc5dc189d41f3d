#!/usr/bin/env node
// Stand-in for the backend "core": a plain Node http server with a fixed set
// of routes, used by the selftests and as the demo target of `make smoke`.
// Usage: node core.js [PORT]   (default: $PORT or 8900; 0 picks a free port)
// Prints "listening <port>" on stdout once it accepts connections.
//
// Routes beyond the basic mix, for the traffic selftests:
//   GET /chunked  three chunks 20 ms apart (Transfer-Encoding: chunked)
//   GET /db       a RESP PING to 127.0.0.1:$DB_PORT (a non-HTTP TCP connection
//                 of the target), then 200 with the reply
//   GET /ws       with "Upgrade:" answers 101 Switching Protocols, then echoes
//                 every byte back (no WebSocket framing)
// Node itself answers "Expect: 100-continue" and writes "400 Bad Request" to
// bytes that are not HTTP.
'use strict';

const http = require('http');
const net = require('net');

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
		if ((req.method === 'GET' || req.method === 'HEAD') && path === '/late')
			return setTimeout(() => reply(res, 202, 'late'), 1000);
		if (req.method === 'GET' && path === '/hang')
			return; // never answered: a request the server dies with
		if (req.method === 'GET' && path === '/chunked')
			return chunked(res);
		if (req.method === 'GET' && path === '/db')
			return db(res);
		return reply(res, 404, 'not found');
	});
});

// Headers and the first chunk, then two more chunks 20 ms apart, then the end.
function chunked(res) {
	res.writeHead(200, { 'Content-Type': 'text/plain' });
	res.write('one\n');
	setTimeout(() => {
		res.write('two\n');
		setTimeout(() => res.end('three\n'), 20);
	}, 20);
}

// One RESP round trip on a fresh TCP connection, like a cache client.
function db(res) {
	const dbPort = Number(process.env.DB_PORT);
	let got = '';
	let done = false;
	const finish = (status, body) => {
		if (done)
			return;
		done = true;
		sock.destroy();
		reply(res, status, body);
	};
	const sock = net.connect(dbPort, '127.0.0.1', () => sock.write('*1\r\n$4\r\nPING\r\n'));
	sock.setEncoding('latin1');
	sock.on('data', (d) => {
		got += d;
		if (got.includes('\r\n'))
			finish(200, got.trim());
	});
	sock.on('error', (e) => finish(502, `db: ${e.code || e.message}`));
	sock.on('end', () => finish(502, 'db: closed'));
}

// GET /ws with Upgrade: 101, then a raw echo of whatever the client sends.
server.on('upgrade', (req, socket, head) => {
	socket.on('error', () => {});
	if (req.method !== 'GET' || req.url.split('?')[0] !== '/ws') {
		socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
		return;
	}
	socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n' +
		     'Connection: Upgrade\r\n\r\n');
	if (head.length)
		socket.write(head);
	socket.on('data', (d) => socket.write(d));
	socket.on('end', () => socket.end());
});

// Node closes a keep-alive connection idle for 5 s by default: the tests that
// open one before the agent starts would lose it when a loaded machine makes
// the start slower than that.
server.keepAliveTimeout = 60000;

server.listen(port, '127.0.0.1', () => {
	process.stdout.write(`listening ${server.address().port}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM'])
	process.on(sig, () => process.exit(0));
