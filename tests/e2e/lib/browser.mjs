// SPDX-License-Identifier: LGPL-2.1-or-later
// Headless Chromium driven over the DevTools protocol (CDP) with Node's built-in WebSocket
// (node --experimental-websocket): no npm package, no WebDriver. The browser is started with the
// flags that keep it on loopback (see docs: "Driving Chromium"), on a fresh profile, and close()
// ends it by its PID and removes the profile. Callers run it inside a loopback-only namespace.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.VLG_CHROMIUM || '/usr/bin/chromium';

const FLAGS = [
	'--headless=new',
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--disable-dev-shm-usage',
	'--autoplay-policy=no-user-gesture-required',
	'--allow-loopback-in-peer-connection',
	'--disable-features=WebRtcHideLocalIpsWithMdns',
	'--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
	/* Pages in the background keep their timers and rendering (tests run several pages). */
	'--disable-background-timer-throttling',
	'--disable-renderer-backgrounding',
	'--disable-backgrounding-occluded-windows',
	'--remote-debugging-address=127.0.0.1',
	'--remote-debugging-port=0',
];

export function chromiumAvailable() {
	return existsSync(CHROMIUM) && typeof WebSocket === 'function';
}

function withTimeout(promise, ms, what) {
	let timer;
	const timeout = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/* One CDP connection to the browser; pages are flat sessions on it. */
class Connection {
	constructor(ws) {
		this.ws = ws;
		this.nextId = 1;
		this.pending = new Map();
		this.listeners = new Set();
		ws.addEventListener('message', (event) => this.#receive(JSON.parse(event.data)));
		ws.addEventListener('close', () => {
			for (const { reject } of this.pending.values())
				reject(new Error('DevTools connection closed'));
			this.pending.clear();
		});
	}

	#receive(message) {
		if (message.id !== undefined) {
			const waiter = this.pending.get(message.id);
			if (!waiter)
				return;
			this.pending.delete(message.id);
			if (message.error)
				waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
			else
				waiter.resolve(message.result);
			return;
		}
		for (const listener of this.listeners)
			listener(message);
	}

	send(method, params = {}, sessionId = undefined, timeoutMs = 30000) {
		const id = this.nextId++;
		const message = { id, method, params };
		if (sessionId)
			message.sessionId = sessionId;
		const answer = new Promise((resolve, reject) => {
			this.pending.set(id, { resolve, reject, method });
		});
		this.ws.send(JSON.stringify(message));
		return withTimeout(answer, timeoutMs, method);
	}
}

export class Page {
	constructor(connection, sessionId, targetId) {
		this.connection = connection;
		this.sessionId = sessionId;
		this.targetId = targetId;
		this.console = [];
		this.loadWaiters = [];
		connection.listeners.add((message) => {
			if (message.sessionId !== this.sessionId)
				return;
			if (message.method === 'Runtime.consoleAPICalled') {
				const text = message.params.args
					.map((a) => (a.value !== undefined ? String(a.value) : a.description || a.type))
					.join(' ');
				this.#log(`console.${message.params.type}: ${text}`);
			} else if (message.method === 'Runtime.exceptionThrown') {
				const d = message.params.exceptionDetails;
				this.#log(`exception: ${d.exception?.description || d.text}`);
			} else if (message.method === 'Page.loadEventFired') {
				const waiters = this.loadWaiters;
				this.loadWaiters = [];
				for (const resolve of waiters)
					resolve();
			}
		});
	}

	#log(line) {
		this.console.push(line);
		if (this.console.length > 200)
			this.console.shift();
	}

	send(method, params = {}, timeoutMs = 30000) {
		return this.connection.send(method, params, this.sessionId, timeoutMs);
	}

	async init() {
		await this.send('Page.enable');
		await this.send('Runtime.enable');
	}

	#loaded(timeoutMs) {
		return withTimeout(new Promise((resolve) => this.loadWaiters.push(resolve)), timeoutMs,
			'page load');
	}

	async goto(url, timeoutMs = 15000) {
		const loaded = this.#loaded(timeoutMs);
		const result = await this.send('Page.navigate', { url });
		if (result.errorText)
			throw new Error(`navigate ${url}: ${result.errorText}`);
		await loaded;
	}

	async reload(timeoutMs = 15000) {
		const loaded = this.#loaded(timeoutMs);
		await this.send('Page.reload', { ignoreCache: true });
		await loaded;
	}

	/* Value of an expression in the page; promises are awaited. */
	async eval(expression, timeoutMs = 30000) {
		const result = await this.send('Runtime.evaluate', {
			expression,
			awaitPromise: true,
			returnByValue: true,
			timeout: timeoutMs,
		}, timeoutMs + 1000);
		if (result.exceptionDetails) {
			const d = result.exceptionDetails;
			throw new Error(`in page: ${d.exception?.description || d.text}`);
		}
		return result.result.value;
	}

	/* Polls `expression` until it is truthy; returns its value or throws with the last one. */
	async waitFor(expression, timeoutMs, what, intervalMs = 200) {
		const deadline = Date.now() + timeoutMs;
		let last;
		while (Date.now() < deadline) {
			last = await this.eval(expression);
			if (last)
				return last;
			await sleep(intervalMs);
		}
		throw new Error(`${what || expression}: not within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
	}

	/* Runs `source` in every document this page loads from now on, before the page's own
	   scripts (a test's hooks: the page under test stays as it is served). */
	async addInitScript(source) {
		await this.send('Page.addScriptToEvaluateOnNewDocument', { source });
	}

	/* Makes this page the visible one (video frames are presented only there). */
	async front() {
		await this.send('Page.bringToFront');
	}

	consoleTail(lines = 20) {
		return this.console.slice(-lines);
	}
}

export class Browser {
	static async launch(extraFlags = []) {
		const profile = mkdtempSync(join(tmpdir(), 'vlg-chromium-'));
		const args = [...FLAGS, ...extraFlags, `--user-data-dir=${profile}`, 'about:blank'];
		const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'] });
		const browser = new Browser(child, profile);
		try {
			const url = await withTimeout(new Promise((resolve, reject) => {
				let buffered = '';
				child.stderr.on('data', (chunk) => {
					buffered += chunk.toString();
					browser.stderr = (browser.stderr + chunk.toString()).slice(-8000);
					const match = buffered.match(/DevTools listening on (ws:\/\/\S+)/);
					if (match)
						resolve(match[1]);
				});
				child.on('exit', (code) => reject(new Error(`chromium exited (${code}): ${browser.stderr}`)));
			}), 20000, 'chromium start');
			const ws = new WebSocket(url);
			await withTimeout(new Promise((resolve, reject) => {
				ws.addEventListener('open', resolve);
				ws.addEventListener('error', () => reject(new Error('DevTools WebSocket failed')));
			}), 10000, 'DevTools connect');
			browser.connection = new Connection(ws);
		} catch (error) {
			await browser.close();
			throw error;
		}
		return browser;
	}

	constructor(child, profile) {
		this.child = child;
		this.profile = profile;
		this.stderr = '';
		this.connection = null;
		this.exited = new Promise((resolve) => child.on('exit', resolve));
	}

	async newPage(url = 'about:blank') {
		const { targetId } = await this.connection.send('Target.createTarget', { url: 'about:blank' });
		const { sessionId } = await this.connection.send('Target.attachToTarget',
			{ targetId, flatten: true });
		const page = new Page(this.connection, sessionId, targetId);
		await page.init();
		if (url !== 'about:blank')
			await page.goto(url);
		return page;
	}

	async closePage(page) {
		await this.connection.send('Target.closeTarget', { targetId: page.targetId }).catch(() => {});
	}

	/* Ends the browser (politely, then by its PID) and removes its profile. Never throws. */
	async close() {
		try {
			if (this.connection && this.child.exitCode === null)
				await this.connection.send('Browser.close', {}, undefined, 3000).catch(() => {});
			this.connection?.ws.close();
			if (this.child.exitCode === null && this.child.signalCode === null) {
				const gone = await Promise.race([this.exited.then(() => true), sleep(5000).then(() => false)]);
				if (!gone) {
					this.child.kill('SIGKILL');
					await Promise.race([this.exited, sleep(5000)]);
				}
			}
		} finally {
			rmSync(this.profile, { recursive: true, force: true });
		}
	}
}
