// graphile-worker's side of bench/compare.sh: the task that does what one
// chipctl send does on the wire, POST /message/sendText/{instance} to the
// fake Evolution API (nginx), with a keep-alive agent, reading and parsing
// the answer. A non-201 answer or a body without key.id fails the job.
"use strict";
const http = require("http");

const base = new URL(process.env.EVOLUTION_API_URL);
const apiKey = process.env.EVOLUTION_API_KEY || "bench-key";
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

module.exports = function send(payload) {
	const body = JSON.stringify({ number: payload.number, text: payload.text });
	return new Promise((resolve, reject) => {
		const req = http.request({
			host: base.hostname,
			port: base.port,
			method: "POST",
			path: "/message/sendText/" + encodeURIComponent(payload.instance),
			agent,
			headers: {
				"content-type": "application/json",
				"content-length": Buffer.byteLength(body),
				apikey: apiKey,
			},
		}, (res) => {
			const chunks = [];
			res.on("data", (c) => chunks.push(c));
			res.on("end", () => {
				if (res.statusCode !== 201)
					return reject(new Error("HTTP " + res.statusCode));
				let j;
				try { j = JSON.parse(Buffer.concat(chunks).toString("utf8")); }
				catch (e) { return reject(e); }
				if (!j || !j.key || !j.key.id)
					return reject(new Error("no key.id in the answer"));
				resolve();
			});
			res.on("error", reject);
		});
		req.on("error", reject);
		req.end(body);
	});
};
