// Upstream for the held-out runs: /ok 200, /missing 404, /boom 500, POST /echo 200 (reads body),
// /users/<n> 200, /hang never answers. Keep-alive on (Node's default).
const http = require('http');
const port = +process.argv[2];
if (process.argv[3]) process.title = process.argv[3];
const srv = http.createServer((req, res) => {
  let n = 0;
  req.on('data', (c) => { n += c.length; });
  req.on('end', () => {
    const p = req.url.split('?')[0];
    if (p === '/hang') return;
    if (p === '/ok' || p.startsWith('/users/')) { res.writeHead(200); return res.end('ok\n'); }
    if (p === '/echo' && req.method === 'POST') { res.writeHead(200); return res.end('got ' + n + '\n'); }
    if (p === '/boom') { res.writeHead(500); return res.end('boom\n'); }
    res.writeHead(404); res.end('nope\n');
  });
});
srv.keepAliveTimeout = 600000;
srv.listen(port, '127.0.0.1');
