// SPDX-License-Identifier: LGPL-2.1-or-later
// The daemon and the camera simulator for the browser tests, as tests/integration/harness.py
// starts them (loopback ports they pick themselves, readiness from their first stdout line),
// a tiny static file server on 127.0.0.1, and a TAP producer. Every process started here is
// ended by its PID in stop(). Each gateway signs with an HS256 secret of its own, and tests get
// their tokens from `linkage-gateway token`, the command installers use.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createConnection } from 'node:net';
import { openSync, closeSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, extname } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from './browser.mjs';

export const GATEWAY = process.env.VLG_GATEWAY || 'build/gateway/linkage-gateway';
export const CAMSIM = process.env.VLG_CAMSIM || 'build/tests/camsim/linkage-camsim';
export const MEDIA_DIR = process.env.VLG_MEDIA_DIR || 'build/tests/media';

class Process {
	static async start(argv, ready, name, env = process.env, timeoutMs = 20000) {
		const logPath = join(mkdtempSync(join(tmpdir(), `vlg-${name}-`)), `${name}.log`);
		const log = openSync(logPath, 'w');
		const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', log], env });
		closeSync(log);
		const proc = new Process(child, name, logPath);
		try {
			proc.readyMatch = await new Promise((resolve, reject) => {
				const timer = setTimeout(() => reject(new Error(`${name} did not start in ${timeoutMs} ms`)),
					timeoutMs);
				let buffered = '';
				child.stdout.on('data', (chunk) => {
					buffered += chunk.toString();
					const match = buffered.match(ready);
					if (match) {
						clearTimeout(timer);
						resolve(match);
					}
				});
				child.on('exit', (code) => {
					clearTimeout(timer);
					reject(new Error(`${name} exited (${code})`));
				});
				child.on('error', (error) => {
					clearTimeout(timer);
					reject(new Error(`${name}: ${error.message}`));
				});
			});
		} catch (error) {
			await proc.stop();
			throw new Error(`${error.message}: ${proc.stderrTail()}`);
		}
		/* Keep draining stdout so the child never blocks on a full pipe. */
		child.stdout.on('data', () => {});
		return proc;
	}

	constructor(child, name, logPath) {
		this.child = child;
		this.name = name;
		this.logPath = logPath;
		this.exited = new Promise((resolve) => child.on('exit', resolve));
	}

	stderrTail(lines = 30) {
		try {
			return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
		} catch {
			return '';
		}
	}

	async stop(timeoutMs = 15000) {
		if (this.child.exitCode !== null || this.child.signalCode !== null)
			return;
		this.child.kill('SIGTERM');
		const gone = await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
		if (!gone) {
			this.child.kill('SIGKILL');
			await this.exited;
		}
	}
}

export class Camsim {
	/* cameras: {name: clip} with clips from VLG_MEDIA_DIR (without .mkv). */
	static async start(cameras) {
		const argv = [CAMSIM, '--address', '127.0.0.1', '--port', '0', '--control-port', '0'];
		for (const [name, clip] of Object.entries(cameras))
			argv.push('--camera', `${name}=${join(MEDIA_DIR, clip + '.mkv')}`);
		const proc = await Process.start(argv, /camsim ready rtsp=(\d+) control=(\d+)/, 'camsim');
		return new Camsim(proc);
	}

	constructor(proc) {
		this.proc = proc;
		this.port = Number(proc.readyMatch[1]);
		this.controlPort = Number(proc.readyMatch[2]);
	}

	url(name) {
		return `rtsp://127.0.0.1:${this.port}/${name}`;
	}

	control(command) {
		return new Promise((resolve, reject) => {
			const socket = createConnection({ host: '127.0.0.1', port: this.controlPort });
			let reply = '';
			socket.setTimeout(5000, () => socket.destroy(new Error(`camsim ${command}: timeout`)));
			socket.on('connect', () => socket.write(command + '\n'));
			socket.on('data', (chunk) => {
				reply += chunk.toString();
				if (reply.endsWith('\n'))
					socket.end();
			});
			socket.on('error', reject);
			socket.on('close', () => {
				if (reply.trim() === 'ok')
					resolve();
				else
					reject(new Error(`camsim ${command} answered ${JSON.stringify(reply.trim())}`));
			});
		});
	}

	stop() {
		return this.proc.stop();
	}
}

/* The test tree, shaped like the demo's: one city, one district, two streets of one community. */
export const ORG = {
	city: '330200000000',
	district: '330203000000',
	street: '330203001000', /* Gulou Street */
	community: '330203001001', /* Xishu Community, under Gulou Street */
	otherStreet: '330203002000', /* Baiyun Street */
	otherCommunity: '330203002001', /* Dongmen Community, under Baiyun Street */
};

/* The tree above with `cameras`: {id: url} in Xishu Community and `elsewhere` in Dongmen. */
export function catalogue(cameras, elsewhere = {}) {
	let text = `[org ${ORG.city}]\nname=Test City\n[org ${ORG.district}]\nname=Test District\n` +
		`[org ${ORG.street}]\nname=Gulou Street\n[org ${ORG.community}]\nname=Xishu Community\n` +
		`[org ${ORG.otherStreet}]\nname=Baiyun Street\n[org ${ORG.otherCommunity}]\nname=Dongmen Community\n`;
	const add = (list, org) => {
		for (const [id, url] of Object.entries(list))
			text += `[camera ${id}]\nname=Camera ${id}\norg=${org}\nurl=${url}\nalways-on=false\n`;
	};
	add(cameras, ORG.community);
	add(elsewhere, ORG.otherCommunity);
	return text;
}

export class Gateway {
	/* port 0: the kernel picks one; restart() starts the same gateway on the same port again.
	   auth: more lines for the [auth] section (the harness writes its hs256-secret-file). */
	static async start(catalogueText, configText = '', { port = 0, auth = '' } = {}) {
		const workdir = mkdtempSync(join(tmpdir(), 'vlg-e2e-'));
		const conf = join(workdir, 'gateway.conf');
		const secret = join(workdir, 'secret');
		writeFileSync(join(workdir, 'catalogue.conf'), catalogueText);
		/* A random secret per run, readable by its owner only (the daemon warns otherwise). */
		writeFileSync(secret, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
		/* VLG_WEB_ROOT: serve the wall from a folder instead of the files built in (development). */
		const webRoot = process.env.VLG_WEB_ROOT ? `web-root=${process.env.VLG_WEB_ROOT}\n` : '';
		writeFileSync(conf, `[gateway]\nlisten=127.0.0.1:8080\ncatalogue=catalogue.conf\n` +
			`state-dir=${workdir}\n${webRoot}[auth]\nhs256-secret-file=${secret}\n${auth}${configText}`);
		const proc = await Gateway.#spawn(conf, port);
		return new Gateway(proc, workdir, conf);
	}

	static #spawn(conf, port) {
		const env = { ...process.env, GIO_USE_PROXY_RESOLVER: 'dummy' };
		return Process.start([GATEWAY, '--config', conf, '--port', String(port)],
			/listening on http:\/\/127\.0\.0\.1:(\d+)\//, 'gateway', env);
	}

	async restart() {
		await this.proc.stop();
		this.proc = await Gateway.#spawn(this.conf, this.port);
	}

	constructor(proc, workdir, conf) {
		this.proc = proc;
		this.workdir = workdir;
		this.conf = conf;
		this.port = Number(proc.readyMatch[1]);
		this.origin = `http://127.0.0.1:${this.port}`;
		this.tokens = new Map();
	}

	/* A token from `linkage-gateway token --config` (signed with this gateway's secret), cached
	   per claims. The defaults are the harness's own: a city admin. */
	async token({ org = ORG.city, role = 'admin', name = 'e2e test', ttl = '1h' } = {}) {
		const key = JSON.stringify([org, role, name, ttl]);
		if (!this.tokens.has(key)) {
			const argv = ['token', '--config', this.conf, '--org', org, '--role', role,
				'--name', name, '--ttl', ttl];
			const { stdout } = await promisify(execFile)(GATEWAY, argv, { timeout: 10000 });
			const token = stdout.trim();
			if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token))
				throw new Error(`linkage-gateway token printed ${JSON.stringify(stdout)}`);
			this.tokens.set(key, token);
		}
		return this.tokens.get(key);
	}

	/* The wall's address for a screen: the token in the fragment, as the demo prints it. */
	async wallUrl(claims = {}) {
		return `${this.origin}/#token=${await this.token(claims)}`;
	}

	/* GET `path` with a city admin token, or `token` (null: none). */
	async get(path, token = undefined) {
		if (token === undefined)
			token = await this.token();
		const headers = token ? { Authorization: `Bearer ${token}` } : {};
		const response = await fetch(this.origin + path, { headers, signal: AbortSignal.timeout(10000) });
		const type = response.headers.get('content-type') || '';
		const body = type.startsWith('application/json') ? await response.json() : await response.text();
		return { status: response.status, body, headers: response.headers };
	}

	async camera(id) {
		const { status, body } = await this.get(`/api/v1/cameras/${id}`);
		if (status !== 200)
			throw new Error(`GET camera ${id}: ${status} ${JSON.stringify(body)}`);
		return body;
	}

	/* The gauges and counters of /metrics without labels: {name: value}. */
	async metrics() {
		const { status, body } = await this.get('/metrics', null);
		if (status !== 200)
			throw new Error(`GET /metrics: ${status}`);
		const values = {};
		for (const line of String(body).split('\n')) {
			const match = line.match(/^(\w+) (\S+)$/);
			if (match)
				values[match[1]] = Number(match[2]);
		}
		return values;
	}

	/* Milliseconds until the camera is in one of `states`; throws on timeout. */
	async waitState(id, states, timeoutMs) {
		states = [].concat(states);
		const start = Date.now();
		let last;
		while (Date.now() - start < timeoutMs) {
			last = await this.camera(id);
			if (states.includes(last.state))
				return Date.now() - start;
			await sleep(50);
		}
		throw new Error(`${id} not ${states.join('/')} within ${timeoutMs} ms ` +
			`(last: ${last?.state}, error: ${last?.last_error})`);
	}

	stop() {
		return this.proc.stop();
	}
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript' };

/* Serves the files of `dir` (flat, by name) on 127.0.0.1 at a port the kernel picks. */
export async function serveDirectory(dir) {
	const server = createServer((request, response) => {
		const name = new URL(request.url, 'http://x').pathname.slice(1);
		if (!/^[\w.-]+$/.test(name) || name.startsWith('.')) {
			response.writeHead(404).end();
			return;
		}
		try {
			const body = readFileSync(join(dir, name));
			response.writeHead(200, { 'Content-Type': TYPES[extname(name)] || 'application/octet-stream' });
			response.end(body);
		} catch {
			response.writeHead(404).end();
		}
	});
	await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		origin: `http://127.0.0.1:${server.address().port}`,
		close: () => new Promise((resolve) => server.close(resolve)),
	};
}

/* Minimal TAP producer: each check is an async function; a failure prints its stack and notes. */
export class Tap {
	constructor(plan) {
		this.plan = plan;
		this.number = 0;
		this.failed = 0;
		console.log(`1..${plan}`);
	}

	static skipAll(reason) {
		console.log(`1..0 # SKIP ${reason}`);
	}

	diag(text) {
		for (const line of String(text).split('\n'))
			console.log(`# ${line}`);
	}

	/* todo: the reason a failure is expected (a known bug elsewhere): TAP's "# TODO", which
	   does not fail the run, while a pass is reported as unexpected so that the mark comes off. */
	async run(description, func, onFailure = null, { todo = null } = {}) {
		this.number++;
		const directive = todo ? ` # TODO ${todo}` : '';
		try {
			const note = await func();
			console.log(`ok ${this.number} - ${description}${directive || (note ? ' # ' + note : '')}`);
			if (todo && note)
				this.diag(note);
		} catch (error) {
			if (!todo)
				this.failed++;
			console.log(`not ok ${this.number} - ${description}${directive}`);
			this.diag(error.stack || String(error));
			if (onFailure) {
				try {
					this.diag(await onFailure());
				} catch (e) {
					this.diag(`(no more detail: ${e.message})`);
				}
			}
		}
	}

	exitCode() {
		return this.failed || this.number !== this.plan ? 1 : 0;
	}
}
