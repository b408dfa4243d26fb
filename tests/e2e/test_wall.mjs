// SPDX-License-Identifier: LGPL-2.1-or-later
// The operator wall and a WHEP page in headless Chromium against the daemon and simulated
// cameras. Runs inside a loopback-only network namespace (tests/integration/in-netns.sh); ICE is
// held to 127.0.0.1 on the gateway's side too. TAP on stdout.
//
//   node --experimental-websocket tests/e2e/test_wall.mjs
//
// Environment: VLG_GATEWAY, VLG_CAMSIM, VLG_MEDIA_DIR (as the integration tests), VLG_CHROMIUM.

import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Browser, chromiumAvailable, sleep } from './lib/browser.mjs';
import { Camsim, Gateway, Tap, catalogue, serveDirectory } from './lib/harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

/* Two clip sizes, so that a tile showing another tile's camera is caught by its frame size. */
const CLIPS = {
	'cam-1': 'h264-cbp-360p',
	'cam-2': 'h264-main-720p',
	'cam-3': 'h264-cbp-360p',
	'cam-4': 'h264-main-720p',
	'cam-5': 'h264-cbp-360p',
	'cam-whep': 'h264-cbp-360p',
};
const HEIGHT = { 'h264-cbp-360p': 360, 'h264-main-720p': 720 };
const WALL = ['cam-1', 'cam-2', 'cam-3', 'cam-4'];
const ORG = ['330203000000', '330203001000', '330203001001']; /* district, street, community */

async function main() {
	if (!chromiumAvailable()) {
		Tap.skipAll('needs /usr/bin/chromium (Debian packages chromium, chromium-driver) and node --experimental-websocket');
		return 0;
	}
	const tap = new Tap(7);
	let camsim, gateway, files, browser;
	try {
		camsim = await Camsim.start(CLIPS);
		const urls = Object.fromEntries(Object.keys(CLIPS).map((id) => [id, camsim.url(id)]));
		gateway = await Gateway.start(catalogue(urls), '[ice]\naddresses=127.0.0.1\n[ingest]\nlinger=1\n');
		files = await serveDirectory(HERE);
		browser = await Browser.launch();
		const ctx = { camsim, gateway, files, browser, page: null };
		const detail = async () => [
			...(ctx.page ? ['page console:', ...ctx.page.consoleTail(25)] : []),
			'gateway stderr:', gateway.proc.stderrTail(25),
		].join('\n');

		await tap.run('a WHEP page plays one camera', () => whepPlays(ctx), detail);
		await tap.run('the org tree loads level by level', () => treeLoads(ctx), detail);
		await tap.run('a 4-tile wall plays 4 cameras, each on its own tile', () => fourTiles(ctx), detail);
		await tap.run('a camera that goes down plays again on its tile without a reload',
			() => downAndUp(ctx), detail);
		await tap.run('search puts a camera on the selected tile of a 9-tile layout',
			() => searchAndLayout(ctx), detail);
		await tap.run('layout and tiles survive a reload', () => reloadKeeps(ctx), detail);
		await tap.run('the wall comes back by itself after the gateway restarts',
			() => gatewayRestart(ctx), detail);
	} catch (error) {
		tap.diag(`setup failed: ${error.stack || error}`);
		tap.failed++;
	} finally {
		await browser?.close();
		await files?.close();
		await gateway?.stop();
		await camsim?.stop();
	}
	return tap.exitCode();
}

async function whepPlays({ gateway, files, browser }) {
	const page = await browser.newPage(`${files.origin}/whep.html`);
	try {
		const url = `${gateway.origin}/whep/cam-whep`;
		const status = await page.eval(`whepPlay(${JSON.stringify(url)})`);
		if (status !== 201)
			throw new Error(`POST ${url}: ${status} ${JSON.stringify(await page.eval('whepState()'))}`);
		const state = await page.waitFor('whepState().then((s) => s.framesDecoded > 25 && s)', 15000,
			'more than 25 frames decoded');
		if (state.height !== 360)
			throw new Error(`decoded ${state.width}x${state.height}, the clip is 640x360`);
		await page.eval(`whepStop(${JSON.stringify(gateway.origin)})`);
		return `${state.framesDecoded} frames, ${state.width}x${state.height}, first frame ${Math.round(state.firstFrameMs)} ms`;
	} finally {
		await browser.closePage(page);
	}
}

/* Clicks a tree row: the node or camera row inside `selector`. */
function click(page, selector) {
	return page.eval(`(() => {
		const row = document.querySelector(${JSON.stringify(selector)});
		if (!row) throw new Error('nothing matches ' + ${JSON.stringify(selector)});
		row.click();
		return true;
	})()`);
}

async function expandTo(page, codes) {
	for (const code of codes) {
		const li = `#tree li.node[data-code="${code}"]`;
		await page.waitFor(`!!document.querySelector('${li}')`, 5000, `tree node ${code}`);
		const open = await page.eval(`document.querySelector('${li}').getAttribute('aria-expanded')`);
		if (open !== 'true')
			await click(page, `${li} > .row`);
	}
	const last = codes[codes.length - 1];
	await page.waitFor(`document.querySelectorAll('#tree li.node[data-code="${last}"] li.camera').length > 0`,
		5000, `cameras of ${last}`);
}

async function treeLoads(ctx) {
	const page = await ctx.browser.newPage(`${ctx.gateway.origin}/`);
	ctx.page = page;
	await page.waitFor(`!!document.querySelector('#tree li.node[data-code="330200000000"]')`, 10000, 'tree root');
	const before = await page.eval(`({
		nodes: document.querySelectorAll('#tree li.node').length,
		cameras: document.querySelectorAll('#tree li.camera').length,
		count: document.querySelector('#tree li.node[data-code="${ORG[0]}"] .count')?.textContent })`);
	/* Only the root's level: the city and its district, no cameras yet. */
	if (before.nodes !== 2 || before.cameras !== 0)
		throw new Error(`before expanding: ${JSON.stringify(before)}`);
	const total = String(Object.keys(CLIPS).length);
	if (before.count !== total)
		throw new Error(`district shows ${before.count} cameras, catalogue has ${total}`);
	await expandTo(page, ORG);
	const after = await page.eval(`[...document.querySelectorAll('#tree li.camera')].map((li) => li.dataset.camera)`);
	if (after.length !== Object.keys(CLIPS).length)
		throw new Error(`community shows ${JSON.stringify(after)}`);
	/* Collapsing the street takes its levels out of the DOM. */
	await click(page, `#tree li.node[data-code="${ORG[1]}"] > .row`);
	const collapsed = await page.eval(`document.querySelectorAll('#tree li.camera').length`);
	if (collapsed !== 0)
		throw new Error(`${collapsed} cameras still in the DOM after collapsing`);
	await expandTo(page, ORG);
	return `${after.length} cameras under ${ORG[2]}`;
}

const TILES = 'vlgWall.tiles()';

/* Waits until every tile in `expected` (tile -> camera) is live and has decoded frames, then
   checks that each one's frame count still rises over two seconds. */
async function wallPlays(page, expected, timeoutMs) {
	const want = JSON.stringify(expected);
	try {
		await page.waitFor(`${TILES}.then((tiles) => {
			const want = ${want};
			return Object.entries(want).every(([i, cam]) => tiles[i] && tiles[i].camera === cam &&
				tiles[i].framesDecoded > 0) && tiles;
		})`, timeoutMs, `tiles ${want} decoding`);
	} catch (error) {
		error.message += `; tiles: ${JSON.stringify(await page.eval(TILES))}`;
		throw error;
	}
	const first = await page.eval(TILES);
	await sleep(2000);
	const second = await page.eval(TILES);
	const notes = [];
	for (const [i, camera] of Object.entries(expected)) {
		const a = first[i], b = second[i];
		if (!(b.framesDecoded >= a.framesDecoded + 20))
			throw new Error(`tile ${i} (${camera}): frames ${a.framesDecoded} -> ${b.framesDecoded} in 2 s`);
		const height = HEIGHT[CLIPS[camera]];
		if (b.height !== height)
			throw new Error(`tile ${i} shows ${b.width}x${b.height}, ${camera} is ${height}p: wrong track on the tile?`);
		if (b.state !== 'live')
			throw new Error(`tile ${i} (${camera}) plays but says ${b.state}`);
		notes.push(`${i}:${b.framesDecoded - a.framesDecoded}`);
	}
	/* The page restarts its connection when the gateway misbehaves (no offer, failed ICE):
	   that must not have been needed. */
	const drops = await page.eval('vlgWall.drops()');
	if (drops !== 0)
		throw new Error(`the wall lost its connection ${drops} time(s); console: ${page.consoleTail(10).join(' | ')}`);
	return notes.join(' ');
}

async function fourTiles({ page }) {
	const layout = await page.eval('vlgWall.layout()');
	if (layout !== 4)
		throw new Error(`a fresh wall has layout ${layout}, expected 4`);
	await page.waitFor('vlgWall.connected()', 10000, 'wall connected');
	/* Each click fills the next empty tile. */
	for (const camera of WALL)
		await click(page, `#tree li.camera[data-camera="${camera}"] > .row`);
	const expected = Object.fromEntries(WALL.map((cam, i) => [i, cam]));
	const rising = await wallPlays(page, expected, 20000);
	const mids = (await page.eval(TILES)).map((t) => t.mid);
	if (new Set(mids).size !== 4)
		throw new Error(`tiles share transceivers: mids ${JSON.stringify(mids)}`);
	return `frames in 2 s per tile ${rising}`;
}

async function downAndUp({ page, camsim, gateway }) {
	const tile = 0, camera = WALL[tile];
	await camsim.control(`down ${camera}`);
	await gateway.waitState(camera, 'retrying', 10000);
	/* The tile must say so (retrying/offline/...), from the server's `tiles` messages. */
	const down = await page.waitFor(`${TILES}.then((t) => t[${tile}].state !== 'live' && t[${tile}])`,
		10000, `tile ${tile} leaving live`);
	await sleep(1000);
	const stalled = (await page.eval(TILES))[tile].framesDecoded;
	await camsim.control(`up ${camera}`);
	await gateway.waitState(camera, 'live', 40000);
	const back = await page.waitFor(`${TILES}.then((t) => t[${tile}].framesDecoded > ${stalled + 50} &&
		t[${tile}].state === 'live' && t[${tile}])`, 20000, `tile ${tile} decoding again`);
	/* The other tiles kept playing throughout. */
	await wallPlays(page, Object.fromEntries(WALL.map((cam, i) => [i, cam])), 5000);
	return `state while down: ${down.state}; frames ${stalled} -> ${back.framesDecoded}`;
}

async function searchAndLayout({ page }) {
	await click(page, '.layout-button[data-layout="9"]');
	await page.waitFor(`vlgWall.layout() === 9 && document.querySelectorAll('#wall .tile:not([hidden])').length === 9`,
		5000, 'layout 9');
	await click(page, '#wall .tile[data-tile="6"]');
	await page.eval(`(() => {
		const box = document.querySelector('#search');
		box.value = 'cam-5';
		box.dispatchEvent(new Event('input'));
	})()`);
	await page.waitFor(`!!document.querySelector('#search-results:not([hidden]) li.camera[data-camera="cam-5"]')`,
		5000, 'search result cam-5');
	await click(page, '#search-results li.camera[data-camera="cam-5"] > .row');
	const expected = { ...Object.fromEntries(WALL.map((cam, i) => [i, cam])), 6: 'cam-5' };
	await wallPlays(page, expected, 20000);
	return 'cam-5 on tile 6 of 9';
}

async function reloadKeeps({ page }) {
	const before = (await page.eval(TILES)).map((t) => t.camera);
	await page.reload();
	await page.waitFor('window.vlgWall && vlgWall.connected()', 10000, 'wall connected after reload');
	const layout = await page.eval('vlgWall.layout()');
	const after = (await page.eval(TILES)).map((t) => t.camera);
	if (layout !== 9 || JSON.stringify(after) !== JSON.stringify(before))
		throw new Error(`after reload layout ${layout}, tiles ${JSON.stringify(after)}; before ${JSON.stringify(before)}`);
	const expected = Object.fromEntries(before.map((cam, i) => [i, cam]).filter(([, cam]) => cam));
	await wallPlays(page, expected, 20000);
	return `layout 9, ${Object.keys(expected).length} tiles playing again`;
}

async function gatewayRestart({ page, gateway }) {
	const before = (await page.eval(TILES)).map((t) => t.camera);
	await gateway.restart();
	/* The page notices the closed socket, waits its backoff, and starts a new PeerConnection. */
	await page.waitFor('vlgWall.drops() >= 1', 10000, 'the page seeing the connection go');
	await page.waitFor('vlgWall.connected()', 20000, 'the page connecting again');
	const expected = Object.fromEntries(before.map((cam, i) => [i, cam]).filter(([, cam]) => cam));
	try {
		await page.waitFor(`${TILES}.then((tiles) => Object.entries(${JSON.stringify(expected)})
			.every(([i, cam]) => tiles[i].camera === cam && tiles[i].framesDecoded > 25) && tiles)`,
		20000, 'tiles decoding after the restart');
	} catch (error) {
		error.message += `; tiles: ${JSON.stringify(await page.eval(TILES))}`;
		throw error;
	}
	const drops = await page.eval('vlgWall.drops()');
	return `reconnected after ${drops} drop(s), ${Object.keys(expected).length} tiles playing`;
}

process.exitCode = await main();
