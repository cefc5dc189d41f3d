#!/usr/bin/env node
// Benchmark target: tests/servers/core.js, optionally with in-process
// instrumentation installed before it loads.
// Usage: node bench/server.js VARIANT PORT [METRICS_PORT]
//   none        core.js as is
//   promclient  prom-client middleware (the old plugin's approach): a request
//               counter and a duration histogram per method/route/status,
//               served at /metrics on the same port
//   otelsdk     OpenTelemetry Node SDK metrics: instrumentation-http and the
//               Prometheus exporter on METRICS_PORT (/metrics)
'use strict';

const path = require('path');
const [variant, port, metricsPort] = process.argv.slice(2);

if (variant === 'promclient') {
	const client = require('prom-client');
	const http = require('http');
	const labelNames = ['method', 'path', 'status'];
	const total = new client.Counter({ name: 'http_requests_total', help: 'requests', labelNames });
	const dur = new client.Histogram({
		name: 'http_request_duration_seconds', help: 'duration',
		labelNames: ['method', 'path'],
	});
	const errors = new client.Counter({
		name: 'http_request_errors_total', help: 'errors', labelNames: ['method', 'path', 'errorType'],
	});
	// Route as the plugin did: the path without query, numeric ids as {id}.
	const route = (url) => url.split('?')[0].replace(/\/\d+(?=\/|$)/g, '/{id}');
	const orig = http.createServer;
	http.createServer = function (opts, handler) {
		if (typeof opts === 'function') { handler = opts; opts = {}; }
		const wrapped = (req, res) => {
			if (req.url === '/metrics') {
				client.register.metrics().then((body) => {
					res.writeHead(200, { 'Content-Type': client.register.contentType });
					res.end(body);
				});
				return;
			}
			const start = process.hrtime.bigint();
			res.on('finish', () => {
				const p = route(req.url);
				const s = String(res.statusCode);
				total.inc({ method: req.method, path: p, status: s });
				dur.observe({ method: req.method, path: p },
					Number(process.hrtime.bigint() - start) / 1e9);
				if (res.statusCode >= 500)
					errors.inc({ method: req.method, path: p, errorType: s });
			});
			handler(req, res);
		};
		return orig.call(this, opts, wrapped);
	};
} else if (variant === 'otelsdk') {
	const { metrics } = require('@opentelemetry/api');
	const { MeterProvider } = require('@opentelemetry/sdk-metrics');
	const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus');
	const { registerInstrumentations } = require('@opentelemetry/instrumentation');
	const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
	const exporter = new PrometheusExporter({ host: '127.0.0.1', port: Number(metricsPort) });
	const provider = new MeterProvider({ readers: [exporter] });
	metrics.setGlobalMeterProvider(provider);
	registerInstrumentations({ meterProvider: provider, instrumentations: [new HttpInstrumentation()] });
} else if (variant !== 'none') {
	process.stderr.write(`server.js: unknown variant ${variant}\n`);
	process.exit(2);
}

process.argv[2] = port;
process.argv.length = 3;
require(path.join(__dirname, '..', 'tests', 'servers', 'core.js'));
