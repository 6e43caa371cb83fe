// graphile-worker's side of bench/compare.sh.
//
//   node runner.js migrate   install graphile-worker's schema
//   node runner.js run       work the queue until it is empty, then exit
//
// GW_MODULES: the node_modules directory holding graphile-worker (installed
// by compare.sh into a temporary directory); DATABASE_URL; EVOLUTION_API_URL.
// GW_CONCURRENCY (64), GW_LOCAL_QUEUE (1000; 0 turns it off),
// GW_BATCH_DELAY (completeJobBatchDelay and failJobBatchDelay in ms, 0;
// -1 turns batching off).
//
// The queue is filled before the workers start and nothing is added during
// the run, so a pool is done when a fetch from the database finds nothing
// and none of its jobs is running. It then stops gracefully (which flushes
// the batched completions) and prints one line: jobs completed, failed.
"use strict";
const path = require("path");
const { EventEmitter } = require("events");

const gw = require(path.join(process.env.GW_MODULES, "graphile-worker"));
const send = require("./send.js");

const int = (name, def) => {
	const v = process.env[name];
	return v === undefined || v === "" ? def : parseInt(v, 10);
};
const concurrency = int("GW_CONCURRENCY", 64);
const localQueue = int("GW_LOCAL_QUEUE", 1000);
const batchDelay = int("GW_BATCH_DELAY", 0);

// Warnings and errors only: a line per job would be a cost chipctl does not pay.
const logger = new gw.Logger(() => (level, message) => {
	if (level === "error" || level === "warning")
		console.error(`graphile-worker ${level}: ${message}`);
});

const worker = {
	preparedStatements: true,
	completeJobBatchDelay: batchDelay,
	failJobBatchDelay: batchDelay,
};
if (localQueue > 1)
	worker.localQueue = { size: localQueue };

const options = {
	connectionString: process.env.DATABASE_URL,
	concurrency,
	maxPoolSize: Math.max(10, concurrency + 2),	// the documented advice
	logger,
	noHandleSignals: false,
	pollInterval: 1000,
	parsedCronItems: [],
	taskList: { send },
	preset: { worker },
};

async function main(cmd) {
	if (cmd === "migrate") {
		await gw.runMigrations({ connectionString: process.env.DATABASE_URL, logger });
		return;
	}
	if (cmd !== "run")
		throw new Error("usage: runner.js migrate|run");
	const events = new EventEmitter();
	const t = { start: Date.now() };
	const mark = (k) => { if (!t[k]) t[k] = Date.now(); };
	let inflight = 0, completed = 0, failed = 0, drained = false, runner = null, stopping = false;
	const maybeStop = () => {
		if (drained && inflight === 0 && runner && !stopping) {
			stopping = true;
			runner.stop().catch((e) => { console.error(e); process.exitCode = 1; });
		}
	};
	events.on("job:start", () => { mark("first"); inflight++; });
	events.on("job:success", () => { completed++; });
	events.on("job:error", () => { failed++; });
	events.on("job:complete", () => { t.last = Date.now(); inflight--; maybeStop(); });
	events.on("localQueue:getJobs:complete", ({ jobs }) => {
		if (jobs.length === 0) { mark("drained"); drained = true; maybeStop(); }
	});
	events.on("worker:getJob:empty", () => { mark("drained"); drained = true; maybeStop(); });
	runner = await gw.run({ ...options, events });
	mark("ready");
	maybeStop();
	await runner.promise;
	mark("stopped");
	const rel = Object.entries(t).map(([k, v]) => `${k} +${v - t.start}`).join(" ");
	console.log(`completed ${completed} failed ${failed} ms: ${rel}`);
}

main(process.argv[2]).then(() => process.exit(process.exitCode || 0), (e) => {
	console.error("runner.js:", e && e.stack || e);
	process.exit(1);
});
