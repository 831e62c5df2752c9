// The official MCP TypeScript SDK client (v1) against mcp-mesh.
//
//   node client.mjs --http http://127.0.0.1:PORT/mcp
//   node client.mjs --stdio -- MESH_BIN --stdio --worker-path W --bridge ...
//
// Expects the mesh to bridge two test gateways named factory and edge.
// Prints one PASS/FAIL line per check and a final "N passed, M failed";
// exits 1 when anything failed.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from
	'@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const CALL_TIMEOUT_MS = 10000;

let passed = 0;
let failed = 0;
let label = 'interop';

function pass(name) {
	passed++;
	console.log(`PASS ${label} ${name}`);
}

function fail(name, why) {
	failed++;
	console.log(`FAIL ${label} ${name}: ${why}`);
}

async function check(name, fn) {
	try {
		await fn();
		pass(name);
	} catch (err) {
		fail(name, err && err.stack ? err.stack : String(err));
	}
}

function assert(cond, msg) {
	if (!cond)
		throw new Error(msg);
}

function textOf(result) {
	const block = (result.content || []).find((c) => c.type === 'text');
	return block ? block.text : undefined;
}

async function allTools(client) {
	const tools = [];
	let cursor;
	for (let page = 0; page < 100; page++) {
		const res = await client.listTools(cursor ? { cursor } : {},
		    { timeout: CALL_TIMEOUT_MS });
		tools.push(...res.tools);
		if (!res.nextCursor)
			return tools;
		cursor = res.nextCursor;
	}
	throw new Error('tools/list: more than 100 pages');
}

function usage() {
	console.error('usage: node client.mjs --http URL | ' +
	    '--stdio -- COMMAND [ARG...]');
	process.exit(2);
}

function transportFromArgs(argv) {
	if (argv[0] === '--http' && argv.length === 2) {
		label = 'http';
		return new StreamableHTTPClientTransport(new URL(argv[1]));
	}
	if (argv[0] === '--stdio' && argv[1] === '--' && argv.length > 2) {
		label = 'stdio';
		return new StdioClientTransport({
			command: argv[2],
			args: argv.slice(3),
			env: { ...process.env },
			stderr: 'pipe',
		});
	}
	usage();
}

async function main() {
	const transport = transportFromArgs(process.argv.slice(2));
	const client = new Client({ name: 'mcp-mesh-interop', version: '1.0.0' });
	let stderr = '';

	if (transport.stderr)
		transport.stderr.on('data', (d) => { stderr += d; });

	await check('initialize', async () => {
		await client.connect(transport, { timeout: CALL_TIMEOUT_MS });
		const info = client.getServerVersion();
		assert(info && info.name, 'no serverInfo');
		assert(client.getServerCapabilities()?.tools,
		    'no tools capability');
	});
	if (failed > 0) {
		await finish(client, stderr);
		return;
	}

	await check('tools/list has factory_echo, edge_add', async () => {
		const names = (await allTools(client)).map((t) => t.name);
		for (const want of ['factory_echo', 'edge_add', 'mesh_node_info'])
			assert(names.includes(want),
			    `${want} missing from ${JSON.stringify(names)}`);
	});

	await check('tools/call factory_echo', async () => {
		const res = await client.callTool({ name: 'factory_echo',
		    arguments: { text: 'hello' } }, undefined,
		    { timeout: CALL_TIMEOUT_MS });
		assert(!res.isError, `isError: ${JSON.stringify(res)}`);
		assert(textOf(res) === 'hello',
		    `want "hello", got ${JSON.stringify(res)}`);
	});

	await check('tools/call edge_add', async () => {
		const res = await client.callTool({ name: 'edge_add',
		    arguments: { a: 2, b: 3 } }, undefined,
		    { timeout: CALL_TIMEOUT_MS });
		assert(!res.isError, `isError: ${JSON.stringify(res)}`);
		assert(textOf(res) === '5',
		    `want "5", got ${JSON.stringify(res)}`);
		assert(res.structuredContent?.sum === 5,
		    `structuredContent: ${JSON.stringify(res)}`);
	});

	await check('ping', async () => {
		await client.ping({ timeout: CALL_TIMEOUT_MS });
	});

	await check('unknown tool is -32602', async () => {
		let err;
		try {
			await client.callTool({ name: 'nosuch_tool',
			    arguments: {} }, undefined,
			    { timeout: CALL_TIMEOUT_MS });
		} catch (e) {
			err = e;
		}
		assert(err, 'no error for an unknown tool');
		assert(err.code === -32602, `want -32602, got ${err}`);
	});

	await meshTools(client);
	await finish(client, stderr);
}

// A mesh tool's call: its structuredContent (the SDK has checked it
// against the tool's outputSchema) or, for the call tools, the result.
async function meshCall(client, name, args) {
	const res = await client.callTool({ name, arguments: args }, undefined,
	    { timeout: CALL_TIMEOUT_MS });
	assert(!res.isError, `${name}: isError: ${JSON.stringify(res)}`);
	return res;
}

// Every mesh_* tool of the contract, through the SDK: each listed with a
// description and an inputSchema, each answering, the structured ones
// checked against their outputSchema by the SDK itself.
async function meshTools(client) {
	const want = ['mesh_list_peers', 'mesh_add_peer', 'mesh_remove_peer',
	    'mesh_call_peer', 'mesh_list_peer_tools', 'mesh_list_bridged_tools',
	    'mesh_call_bridged', 'mesh_directory_list', 'mesh_directory_lookup',
	    'mesh_node_info'];

	await check('every mesh tool listed, described, with schemas', async () => {
		const tools = await allTools(client);
		for (const name of want) {
			const t = tools.find((x) => x.name === name);
			assert(t, `${name} missing`);
			assert(t.description, `${name}: no description`);
			assert(t.inputSchema?.type === 'object',
			    `${name}: no inputSchema`);
			if (name !== 'mesh_call_peer' && name !== 'mesh_call_bridged')
				assert(t.outputSchema?.type === 'object',
				    `${name}: no outputSchema`);
		}
	});
	await check('mesh_node_info', async () => {
		const r = await meshCall(client, 'mesh_node_info', {});
		const s = r.structuredContent;
		assert(/^[0-9a-f-]{36}$/.test(s.nodeId), `nodeId ${s.nodeId}`);
		assert(s.peers.length === 2, `peers ${JSON.stringify(s.peers)}`);
		assert(s.directory.entries === 3, `directory ${JSON.stringify(s)}`);
	});
	await check('mesh_list_peers', async () => {
		const s = (await meshCall(client, 'mesh_list_peers', {}))
		    .structuredContent;
		const names = s.peers.map((p) => p.name).sort();
		assert(JSON.stringify(names) === '["edge","factory"]',
		    `peers ${JSON.stringify(names)}`);
		assert(s.peers.every((p) => p.state === 'ready'), 'not ready');
	});
	await check('mesh_list_peer_tools', async () => {
		const s = (await meshCall(client, 'mesh_list_peer_tools',
		    { peer: 'edge' })).structuredContent;
		assert(s.tools.some((t) => t.name === 'add'),
		    `edge's own tools: ${JSON.stringify(s.tools.map((t) => t.name))}`);
	});
	await check('mesh_list_bridged_tools', async () => {
		const s = (await meshCall(client, 'mesh_list_bridged_tools', {}))
		    .structuredContent;
		assert(s.tools.some((t) => t.name === 'factory_echo' &&
		    t.peer === 'factory' && t.tool === 'echo'),
		    JSON.stringify(s.tools.slice(0, 3)));
	});
	await check('mesh_call_peer', async () => {
		const r = await meshCall(client, 'mesh_call_peer',
		    { peer: 'edge', tool: 'add', arguments: { a: 20, b: 22 } });
		assert(textOf(r) === '42' && r.structuredContent?.sum === 42,
		    JSON.stringify(r));
	});
	await check('mesh_call_bridged', async () => {
		const r = await meshCall(client, 'mesh_call_bridged',
		    { tool: 'factory_echo', arguments: { text: 'through' } });
		assert(textOf(r) === 'through', JSON.stringify(r));
	});
	await check('mesh_directory_list', async () => {
		const s = (await meshCall(client, 'mesh_directory_list', {}))
		    .structuredContent;
		const names = s.entries.map((e) => e.name).sort();
		assert(JSON.stringify(names) === '["edge","factory","spare"]',
		    JSON.stringify(s));
	});
	await check('mesh_directory_lookup', async () => {
		const s = (await meshCall(client, 'mesh_directory_lookup',
		    { spec: 'factory' })).structuredContent;
		assert(s.found && s.entry.name === 'factory', JSON.stringify(s));
		const miss = (await meshCall(client, 'mesh_directory_lookup',
		    { spec: 'nobody' })).structuredContent;
		assert(!miss.found && miss.reason, JSON.stringify(miss));
	});
	await check('mesh_add_peer, then its tools, then mesh_remove_peer',
	    async () => {
		const s = (await meshCall(client, 'mesh_add_peer',
		    { spec: 'spare', bridge: true })).structuredContent;
		assert(s.peer.name === 'spare' && s.peer.state === 'ready',
		    JSON.stringify(s));
		const names = (await allTools(client)).map((t) => t.name);
		assert(names.includes('spare_echo'), 'spare_echo not listed');
		const r = await meshCall(client, 'spare_echo', { text: 'new' });
		assert(textOf(r) === 'new', JSON.stringify(r));
		const gone = (await meshCall(client, 'mesh_remove_peer',
		    { peer: 'spare' })).structuredContent;
		assert(gone.removed === 'spare', JSON.stringify(gone));
		const after = (await allTools(client)).map((t) => t.name);
		assert(!after.includes('spare_echo'), 'spare_echo still listed');
	});
}

async function finish(client, stderr) {
	try {
		await client.close();
	} catch (err) {
		fail('close', String(err));
	}
	if (failed > 0 && stderr)
		console.log(`--- mesh stderr (${label}) ---\n${stderr}` +
		    `--- end ---`);
	console.log(`${label}: ${passed} passed, ${failed} failed`);
	process.exit(failed > 0 ? 1 : 0);
}

main().catch((err) => {
	console.log(`FAIL ${label} unexpected: ${err && err.stack || err}`);
	console.log(`${label}: ${passed} passed, ${failed + 1} failed`);
	process.exit(1);
});
