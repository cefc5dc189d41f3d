const express = require('express');
process.title = process.argv[3] || 'hlexpress';
const app = express();
app.use(express.raw({ type: '*/*', limit: '1mb' }));
app.get('/api/items/:id', (req, res) => res.send('item ' + req.params.id));
app.post('/api/items', (req, res) => res.status(201).send('created ' + (req.body ? req.body.length : 0)));
app.get('/err', (req, res) => res.status(500).send('err'));
app.all('/hang', (req, res) => {}); // never answers
app.listen(+process.argv[2], '127.0.0.1');
