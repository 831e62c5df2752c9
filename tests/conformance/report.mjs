// Reads the checks.json files that `conformance server -o DIR` wrote (one
// folder per scenario, server-<scenario>-<ISO time>/checks.json) and
// prints one table: scenario, checks passed / failed / warnings, verdict,
// and the suite's own words for what went wrong.
//
//   node report.mjs --title TEXT --results DIR --scenarios a,b,c
//                   (--expected FILE | --expect-all FILE) [--tally FILE]
//
// --expected FILE: the scenarios that must pass, one a line, each with
// the ids of the warnings it may keep after it ("#" starts a comment);
// a scenario not in FILE that fails is "not yet".  --expect-all FILE:
// every scenario must pass, FILE only granting warnings.  A scenario
// passes when none of its checks is FAILURE and each WARNING is granted;
// a scenario without a checks.json did not run and fails.  --tally FILE
// gets one line "passed failed notyet".  Exit status: 1 when a scenario
// that must pass did not, else 0.
import fs from 'node:fs';
import path from 'node:path';

function usage(msg) {
	console.error(`report.mjs: ${msg}`);
	process.exit(2);
}

const opt = {};
for (let i = 2; i < process.argv.length; i += 2) {
	const k = process.argv[i], v = process.argv[i + 1];
	if (!k.startsWith('--') || v === undefined)
		usage(`bad argument ${k}`);
	opt[k.slice(2)] = v;
}
for (const k of ['title', 'results', 'scenarios'])
	if (opt[k] === undefined)
		usage(`--${k} is required`);
if ((opt.expected === undefined) === (opt['expect-all'] === undefined))
	usage('one of --expected and --expect-all is required');

// FILE -> Map(scenario -> Set(warning ids it may keep))
function readList(file) {
	const m = new Map();
	for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
		const line = raw.replace(/#.*/, '').trim();
		if (line === '')
			continue;
		const [name, ...warn] = line.split(/\s+/);
		m.set(name, new Set(warn));
	}
	return m;
}

const scenarios = opt.scenarios.split(',').filter((s) => s !== '');
const listFile = opt.expected ?? opt['expect-all'];
const list = readList(listFile);
const expectAll = opt['expect-all'] !== undefined;
for (const name of list.keys())
	if (!scenarios.includes(name))
		usage(`${listFile}: no scenario ${name} in this suite`);

// scenario -> checks (the newest folder if there are several)
const found = new Map();
let entries = [];
try {
	entries = fs.readdirSync(opt.results).sort();
} catch {
	/* nothing ran */
}
for (const d of entries) {
	const m = /^server-(.+)-(\d{4}-\d\d-\d\dT[\d-]+Z)$/.exec(d);
	if (m === null)
		continue;
	try {
		const checks = JSON.parse(fs.readFileSync(
		    path.join(opt.results, d, 'checks.json'), 'utf8'));
		if (Array.isArray(checks))
			found.set(m[1], checks);
	} catch {
		/* a scenario that died before writing: no result */
	}
}

const oneLine = (s) => String(s ?? '').replace(/\s+/g, ' ').trim();
const rows = [];
let passed = 0, failed = 0, notyet = 0;
const failing = [], notYet = [], unlisted = [];
for (const name of scenarios) {
	const must = expectAll || list.has(name);
	const granted = list.get(name) ?? new Set();
	const checks = found.get(name);
	let ok, verdict, note = '';
	let p = 0, f = 0, w = 0;
	if (checks === undefined) {
		ok = false;
		note = 'no checks.json: the scenario did not run or died';
	} else {
		const bad = [];
		for (const c of checks) {
			if (c.status === 'SUCCESS')
				p++;
			else if (c.status === 'FAILURE') {
				f++;
				bad.push(c);
			} else if (c.status === 'WARNING') {
				w++;
				if (!granted.has(c.id))
					bad.push(c);
			}
		}
		ok = bad.length === 0;
		if (!ok)
			note = bad.map((c) => `${c.status} ${c.id}: ` +
			    oneLine(c.errorMessage || c.description)).join('; ');
		else if (w > 0)
			note = `warnings granted: ${[...granted].join(', ')}`;
		else if (p === 0)
			note = 'no check passed, none failed (only INFO)';
	}
	if (ok && must) {
		verdict = 'pass';
		passed++;
	} else if (ok) {
		verdict = 'pass*';
		passed++;
		unlisted.push(name);
	} else if (must) {
		verdict = 'FAIL';
		failed++;
		failing.push(name);
	} else {
		verdict = 'not yet';
		notyet++;
		notYet.push(name);
	}
	rows.push([name, String(p), String(f), String(w), verdict, note]);
}

const head = ['scenario', 'passed', 'failed', 'warn', 'verdict', 'cause'];
const width = head.map((h, i) => Math.max(h.length,
    ...rows.map((r) => r[i].length)));
const fmt = (r) => r.map((c, i) => i === r.length - 1 ? c :
    i >= 1 && i <= 3 ? c.padStart(width[i]) : c.padEnd(width[i]))
    .join('  ').trimEnd();
console.log(`\n== ${opt.title}`);
console.log(fmt(head));
console.log(fmt(width.map((n, i) => i === head.length - 1 ? '-----' :
    '-'.repeat(n))));
for (const r of rows)
	console.log(fmt(r));
console.log(`${passed} of ${scenarios.length} scenarios pass` +
    (notyet > 0 ? `, ${notyet} not yet` : '') +
    (failed > 0 ? `, ${failed} FAIL` : ''));
if (failing.length > 0)
	console.log(`FAILING (must pass): ${failing.join(' ')}`);
if (notYet.length > 0)
	console.log(`not yet: ${notYet.join(' ')}`);
if (unlisted.length > 0)
	console.log(`pass* = passes but is not in ${path.basename(listFile)}: ` +
	    `add it so that it keeps passing: ${unlisted.join(' ')}`);
if (opt.tally !== undefined)
	fs.writeFileSync(opt.tally, `${passed} ${failed} ${notyet}\n`);
process.exit(failed > 0 ? 1 : 0);
