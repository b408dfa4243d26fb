// SPDX-License-Identifier: LGPL-2.1-or-later
// The operator wall and a WHEP page in headless Chromium against the daemon and simulated
// cameras. Runs inside a loopback-only network namespace (tests/integration/in-netns.sh); ICE is
// held to 127.0.0.1 on the gateway's side too. TAP on stdout. Pages open the wall as the demo's
// links do, with a token minted by `linkage-gateway token` in the URL fragment.
//
//   node --experimental-websocket tests/e2e/test_wall.mjs
//
// Environment: VLG_GATEWAY, VLG_CAMSIM, VLG_MEDIA_DIR (as the integration tests), VLG_CHROMIUM.

import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Browser, chromiumAvailable, sleep } from './lib/browser.mjs';
import { Camsim, Gateway, ORG, Tap, catalogue, serveDirectory } from './lib/harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

/* Two clip sizes, so that a tile showing another tile's camera is caught by its frame size. */
const CLIPS = {
	'cam-1': 'h264-cbp-360p',
	'cam-2': 'h264-main-720p',
	'cam-3': 'h264-cbp-360p',
	'cam-4': 'h264-main-720p',
	'cam-5': 'h264-cbp-360p',
	'cam-whep': 'h264-cbp-360p',
	/* The token checks' own camera: they leave WALL's cameras to the wall checks. */
	'cam-near': 'h264-cbp-360p',
};
/* The other street's camera (Baiyun Street): a Gulou Street screen must not get it. */
const ELSEWHERE = { 'cam-far': 'h264-cbp-360p' };
const CLIP_OF = { ...CLIPS, ...ELSEWHERE };
const HEIGHT = { 'h264-cbp-360p': 360, 'h264-main-720p': 720 };
const WALL = ['cam-1', 'cam-2', 'cam-3', 'cam-4'];
const PATH = [ORG.district, ORG.street, ORG.community]; /* from the city to WALL's community */
const STREET_SCREEN = { org: ORG.street, role: 'viewer', name: 'Gulou screen' };
const CITY_SCREEN = { org: ORG.city, role: 'operator', name: 'city screen' };

async function main() {
	if (!chromiumAvailable()) {
		Tap.skipAll('needs /usr/bin/chromium (Debian packages chromium, chromium-driver) and node --experimental-websocket');
		return 0;
	}
	const tap = new Tap(12);
	let camsim, gateway, files, browser;
	try {
		camsim = await Camsim.start(CLIP_OF);
		const urls = (clips) => Object.fromEntries(Object.keys(clips).map((id) => [id, camsim.url(id)]));
		/* No leeway on exp, so that a token of a few seconds expires within the test. */
		gateway = await Gateway.start(catalogue(urls(CLIPS), urls(ELSEWHERE)),
			// sub and low as passthrough: these checks tell tiles apart by each clip's own
			// size, and the 2-core box need not transcode for them (transcodes have their
			// own integration test).
			'[ice]\naddresses=127.0.0.1\n[ingest]\nlinger=1\n' +
			'[profile sub]\npassthrough=true\n[profile low]\npassthrough=true\n',
			{ auth: 'leeway=0\n' });
		files = await serveDirectory(HERE);
		browser = await Browser.launch();
		const ctx = { camsim, gateway, files, browser, page: null };
		const detail = async () => [
			...(ctx.page ? ['page console:', ...ctx.page.consoleTail(25)] : []),
			'gateway stderr:', gateway.proc.stderrTail(25),
		].join('\n');

		await tap.run('a WHEP page plays one camera with a token', () => whepPlays(ctx), detail);
		await tap.run('a WHEP page on another origin reads the 401 of a POST without a token',
			() => whepUnauthorized(ctx), detail);
		await tap.run('without a token the page shows the token panel and loads nothing; a pasted token starts it',
			() => noToken(ctx), detail);
		await tap.run('a street screen sees only its subtree and cannot play the other street\'s camera; a city screen can',
			() => streetScope(ctx), detail);
		await tap.run('an expired token is refused on the next set-tile (4401) and the page asks for a new one',
			() => tokenExpires(ctx), detail);
		await tap.run('the org tree loads level by level', () => treeLoads(ctx), detail);
		await tap.run('the token leaves the address bar; the header names the screen',
			() => tokenHidden(ctx), detail);
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

/* whep.html is served from another origin than the gateway's: the POST and the DELETE carry
   "Authorization: Bearer", which the gateway's CORS preflight must allow. */
async function whepPlays({ gateway, files, browser }) {
	const page = await browser.newPage(`${files.origin}/whep.html`);
	try {
		const url = `${gateway.origin}/whep/cam-whep`;
		const token = await gateway.token(STREET_SCREEN);
		const status = await page.eval(`whepPlay(${JSON.stringify(url)}, ${JSON.stringify(token)})`);
		if (status !== 201)
			throw new Error(`POST ${url}: ${status} ${JSON.stringify(await page.eval('whepState()'))}`);
		const state = await page.waitFor('whepState().then((s) => s.framesDecoded > 25 && s)', 15000,
			'more than 25 frames decoded');
		if (state.height !== 360)
			throw new Error(`decoded ${state.width}x${state.height}, the clip is 640x360`);
		const deleted = await page.eval(`whepStop(${JSON.stringify(gateway.origin)})`);
		if (deleted !== 200)
			throw new Error(`DELETE of the session answered ${deleted}`);
		return `${state.framesDecoded} frames, ${state.width}x${state.height}, first frame ${Math.round(state.firstFrameMs)} ms`;
	} finally {
		await browser.closePage(page);
	}
}

async function whepUnauthorized({ gateway, files, browser }) {
	const url = `${gateway.origin}/whep/cam-whep`;
	/* What the gateway answers (Node sees every response, CORS or not). */
	const plain = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Origin: files.origin },
		body: 'v=0\r\n', signal: AbortSignal.timeout(10000) });
	const challenge = plain.headers.get('www-authenticate');
	if (plain.status !== 401 || !/^Bearer realm=/.test(challenge || ''))
		throw new Error(`POST without a token: ${plain.status}, WWW-Authenticate ${challenge}`);
	const page = await browser.newPage(`${files.origin}/whep.html`);
	try {
		/* What a player on another origin sees: only a response with CORS headers is readable. */
		const seen = await page.eval(`whepPlay(${JSON.stringify(url)}).then((status) => ({ status }),
			(error) => ({ error: String(error) }))`);
		await page.eval(`whepStop(null)`);
		if (seen.status !== 401)
			throw new Error(`the page saw ${JSON.stringify(seen)}; the 401 has Access-Control-Allow-Origin ` +
				`${JSON.stringify(plain.headers.get('access-control-allow-origin'))}`);
		return 'the page read 401';
	} finally {
		await browser.closePage(page);
	}
}

/* Empties the wall's localStorage (shared by every page of the gateway's origin), so that the
   next page starts with an empty wall, and closes `page`. */
async function closeClean(browser, page) {
	await page.eval('localStorage.clear()').catch(() => {});
	await browser.closePage(page);
}

const PANEL_SHOWN = `!document.querySelector('#token-panel').hidden && document.querySelector('#main').hidden`;

async function submitToken(page, text) {
	await page.eval(`(() => {
		document.querySelector('#token-input').value = ${JSON.stringify(text)};
		document.querySelector('#token-form .token-submit').click();
		return true;
	})()`);
}

async function noToken({ gateway, browser }) {
	const page = await browser.newPage(`${gateway.origin}/`);
	try {
		await page.waitFor(PANEL_SHOWN, 5000, 'the token panel');
		await sleep(1000); /* time enough for anything the page should not do */
		const seen = await page.eval(`({
			title: document.querySelector('#token-title').textContent,
			nodes: document.querySelectorAll('#tree li.node').length,
			connected: vlgWall.connected(),
			api: performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/')).length,
			badge: document.querySelector('#connection').textContent })`);
		if (seen.title !== 'This screen needs a token' || seen.nodes || seen.connected || seen.api)
			throw new Error(`without a token: ${JSON.stringify(seen)}`);
		/* A token the gateway does not accept: the panel again, saying so. */
		await submitToken(page, 'eyJhbGciOiJIUzI1NiJ9.eyJvcmciOiIzMzAyMDAwMDAwMDAifQ.bm90LXNpZ25lZA');
		const reason = `document.querySelector('#token-reason').textContent`;
		const refused = await page.waitFor(`${PANEL_SHOWN} && ${reason}.includes('refused') && ${reason}`,
			10000, 'the panel after a bad token');
		/* The screen's whole link pasted into the field: the tree and the wall start. */
		await submitToken(page, await gateway.wallUrl(CITY_SCREEN));
		await page.waitFor(`document.querySelector('#token-panel').hidden &&
			!!document.querySelector('#tree li.node[data-code="${ORG.city}"]') && vlgWall.connected()`,
		10000, 'tree and wall after pasting a link');
		return `bad token: "${refused}"`;
	} finally {
		await closeClean(browser, page);
	}
}

function expandScript(code) {
	return `(() => {
		const li = document.querySelector('#tree li.node[data-code="${code}"]');
		if (li && li.getAttribute('aria-expanded') !== 'true') li.querySelector(':scope > .row').click();
		return !!li;
	})()`;
}

async function streetScope({ gateway, browser }) {
	/* HTTP first: the other street's camera answers as an unknown one, and is not listed. */
	const streetToken = await gateway.token(STREET_SCREEN);
	const far = await gateway.get('/api/v1/cameras/cam-far', streetToken);
	const none = await gateway.get('/api/v1/cameras/cam-none', streetToken);
	if (far.status !== 404 || JSON.stringify(far.body) !== JSON.stringify(none.body))
		throw new Error(`street token, cam-far: ${far.status} ${JSON.stringify(far.body)}; ` +
			`unknown camera: ${none.status} ${JSON.stringify(none.body)}`);
	const listed = (await gateway.get('/api/v1/cameras', streetToken)).body.cameras.map((c) => c.id);
	if (listed.includes('cam-far') || !listed.includes('cam-near'))
		throw new Error(`street token lists ${JSON.stringify(listed)}`);

	/* A wall this browser kept from another screen: the other street's camera on tile 0, one of
	   the street's own (cam-near) on tile 1. Written from a public page of the origin, before
	   the wall runs. */
	let page = await browser.newPage(`${gateway.origin}/static/style.css`);
	try {
		await page.eval(`localStorage.setItem('vlg-wall', JSON.stringify({ layout: 4, cameras: ['cam-far', 'cam-near'] }))`);
		await page.goto(await gateway.wallUrl(STREET_SCREEN));
		await page.waitFor(`!!document.querySelector('#tree li.node[data-code="${ORG.community}"]')`, 10000, 'street tree');
		const tree = await page.eval(`({
			root: document.querySelector('#tree > ul > li.node')?.dataset.code,
			nodes: [...document.querySelectorAll('#tree li.node')].map((li) => li.dataset.code),
			node: document.querySelector('#viewer .viewer-node')?.textContent,
			who: document.querySelector('#viewer .viewer-who')?.textContent })`);
		if (tree.root !== ORG.street || JSON.stringify(tree.nodes) !== JSON.stringify([ORG.street, ORG.community]))
			throw new Error(`street screen's tree: ${JSON.stringify(tree)}`);
		if (tree.node !== 'Gulou Street' || tree.who !== 'Gulou screen · viewer')
			throw new Error(`street screen's header: ${JSON.stringify(tree)}`);
		/* The restored wall: cam-far refused on its tile, cam-near plays. */
		await page.waitFor(`${TILES}.then((t) => t[0].refused === 'cam-far' && !t[0].camera && t[1].framesDecoded > 0)`,
			20000, 'cam-far refused on tile 0, cam-near playing on tile 1');
		const reason = await page.eval(`document.querySelector('#wall .tile[data-tile="0"] .tile-reason').textContent`);
		if (!reason.includes('cam-far'))
			throw new Error(`tile 0 says ${JSON.stringify(reason)}`);
		/* Search does not find it. */
		await page.eval(`(() => {
			const box = document.querySelector('#search');
			box.value = 'cam-far';
			box.dispatchEvent(new Event('input'));
		})()`);
		await page.waitFor(`document.querySelector('#search-results:not([hidden]) .tree-message')
			?.textContent.startsWith('Nothing matches')`, 5000, 'no search result for cam-far');
		await page.eval(`(() => { const box = document.querySelector('#search'); box.value = '';
			box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' })); })()`);
		/* A set-tile of it (a stale tree row, say) is refused on its tile too. */
		await click(page, '#wall .tile[data-tile="2"]');
		await page.eval(`(() => {
			const li = document.createElement('li');
			li.className = 'camera';
			li.dataset.camera = 'cam-far';
			const row = document.createElement('button');
			row.className = 'row';
			li.append(row);
			document.querySelector('#tree ul').append(li);
			row.click();
			return true;
		})()`);
		await page.waitFor(`${TILES}.then((t) => t[2].refused === 'cam-far' && !t[2].camera && t[2].state === 'empty')`,
			10000, 'cam-far refused on tile 2');
		const drops = await page.eval('vlgWall.drops()');
		if (drops !== 0)
			throw new Error(`the street wall lost its connection ${drops} time(s)`);
	} finally {
		await closeClean(browser, page);
	}

	/* A city screen finds it under the other street and plays it. */
	page = await browser.newPage(await gateway.wallUrl(CITY_SCREEN));
	try {
		await page.waitFor('vlgWall.connected()', 10000, 'city wall connected');
		for (const code of [ORG.district, ORG.otherStreet, ORG.otherCommunity])
			await page.waitFor(expandScript(code), 5000, `tree node ${code}`);
		await page.waitFor(`!!document.querySelector('#tree li.camera[data-camera="cam-far"]')`, 5000, 'cam-far in the tree');
		await click(page, '#tree li.camera[data-camera="cam-far"] > .row');
		const rising = await wallPlays(page, { 0: 'cam-far' }, 20000);
		return `street: tree ${ORG.street} > ${ORG.community}, cam-far refused; city: cam-far frames ${rising}`;
	} finally {
		await closeClean(browser, page);
	}
}

async function tokenExpires({ gateway, browser }) {
	const ttl = 5;
	const page = await browser.newPage(await gateway.wallUrl({ ...STREET_SCREEN, name: 'short-lived', ttl: `${ttl}s` }));
	const start = Date.now();
	try {
		await page.waitFor('vlgWall.connected()', 3000, 'wall connected');
		await page.waitFor(expandScript(ORG.community), 3000, `tree node ${ORG.community}`);
		await page.waitFor(`!!document.querySelector('#tree li.camera[data-camera="cam-near"]')`, 3000, 'cam-near in the tree');
		/* Past exp (whole seconds, no leeway), and well before the page's tree refresh (10 s),
		   so that the wall socket, not an HTTP 401, is what refuses it. */
		await sleep(Math.max(0, (ttl + 1.5) * 1000 - (Date.now() - start)));
		await click(page, '#tree li.camera[data-camera="cam-near"] > .row');
		const reason = await page.waitFor(`${PANEL_SHOWN} && document.querySelector('#token-reason').textContent`,
			5000, 'the token panel');
		if (!reason.includes('the token has expired') || !reason.includes('It expired at'))
			throw new Error(`the panel says ${JSON.stringify(reason)}`);
		const after = await page.eval(`({ connected: vlgWall.connected(), stored: sessionStorage.getItem('vlg-token'),
			badge: document.querySelector('#connection').textContent })`);
		if (after.connected || after.stored !== null)
			throw new Error(`after the refusal: ${JSON.stringify(after)}`);
		return `"${reason}"`;
	} finally {
		await closeClean(browser, page);
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

/* The page the next checks share: a city admin's screen, opened from its #token= link. */
async function treeLoads(ctx) {
	const page = await ctx.browser.newPage(await ctx.gateway.wallUrl());
	ctx.page = page;
	await page.waitFor(`!!document.querySelector('#tree li.node[data-code="${ORG.city}"]')`, 10000, 'tree root');
	const before = await page.eval(`({
		nodes: document.querySelectorAll('#tree li.node').length,
		cameras: document.querySelectorAll('#tree li.camera').length,
		count: document.querySelector('#tree li.node[data-code="${ORG.district}"] .count')?.textContent })`);
	/* Only the root's level: the city and its district, no cameras yet. */
	if (before.nodes !== 2 || before.cameras !== 0)
		throw new Error(`before expanding: ${JSON.stringify(before)}`);
	const total = String(Object.keys(CLIP_OF).length);
	if (before.count !== total)
		throw new Error(`district shows ${before.count} cameras, catalogue has ${total}`);
	await expandTo(page, PATH);
	const after = await page.eval(`[...document.querySelectorAll('#tree li.camera')].map((li) => li.dataset.camera)`);
	if (after.length !== Object.keys(CLIPS).length)
		throw new Error(`community shows ${JSON.stringify(after)}`);
	/* Collapsing the street takes its levels out of the DOM. */
	await click(page, `#tree li.node[data-code="${ORG.street}"] > .row`);
	const collapsed = await page.eval(`document.querySelectorAll('#tree li.camera').length`);
	if (collapsed !== 0)
		throw new Error(`${collapsed} cameras still in the DOM after collapsing`);
	await expandTo(page, PATH);
	return `${after.length} cameras under ${ORG.community}`;
}

/* What the address bar and the tab keep of the token, and the header. */
function tokenTraces(page) {
	return page.eval(`({
		href: location.href,
		stored: sessionStorage.getItem('vlg-token'),
		node: document.querySelector('#viewer .viewer-node')?.textContent,
		who: document.querySelector('#viewer .viewer-who')?.textContent })`);
}

async function tokenHidden({ page, gateway }) {
	const token = await gateway.token();
	const seen = await tokenTraces(page);
	if (seen.href !== `${gateway.origin}/`)
		throw new Error(`the address bar shows ${seen.href}`);
	if (seen.stored !== token)
		throw new Error('the token is not in sessionStorage');
	if (seen.node !== 'Test City' || seen.who !== 'e2e test · admin')
		throw new Error(`header: ${JSON.stringify({ node: seen.node, who: seen.who })}`);
	/* The gateway logs who was refused and why, never a token. */
	const log = gateway.proc.stderrTail(100000);
	const leaked = [...gateway.tokens.values()].filter((t) => log.includes(t.split('.')[2]));
	if (leaked.length)
		throw new Error(`${leaked.length} token(s) in the gateway's log`);
	return `address bar ${seen.href}, header "${seen.node}" "${seen.who}"`;
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
		if (!(b.framesDecoded >= a.framesDecoded + 20)) {
			const all = Object.keys(expected).map((k) => [k, first[k].framesDecoded, second[k].framesDecoded]);
			throw new Error(`tile ${i} (${camera}): frames ${a.framesDecoded} -> ${b.framesDecoded} in 2 s; ` +
				`all tiles (tile, before, after): ${JSON.stringify(all)}`);
		}
		const height = HEIGHT[CLIP_OF[camera]];
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

async function reloadKeeps({ page, gateway }) {
	const before = (await page.eval(TILES)).map((t) => t.camera);
	await page.reload();
	/* The address bar has no token any more: the tab's sessionStorage has. */
	await page.waitFor('window.vlgWall && vlgWall.connected()', 10000, 'wall connected after reload');
	const { href } = await tokenTraces(page);
	if (href !== `${gateway.origin}/`)
		throw new Error(`after reload the address bar shows ${href}`);
	const layout = await page.eval('vlgWall.layout()');
	const after = (await page.eval(TILES)).map((t) => t.camera);
	if (layout !== 9 || JSON.stringify(after) !== JSON.stringify(before))
		throw new Error(`after reload layout ${layout}, tiles ${JSON.stringify(after)}; before ${JSON.stringify(before)}`);
	const expected = Object.fromEntries(before.map((cam, i) => [i, cam]).filter(([, cam]) => cam));
	let rising;
	try {
		rising = await wallPlays(page, expected, 20000);
	} catch (error) {
		/* Known weakness (see the closing note of session 2): a tile of a camera that flapped
		   earlier sometimes decodes ~7-10 fps for a few seconds after a reload. Shown here,
		   and measured once more; a tile still stalled then fails the check. */
		if (!/frames \d+ -> \d+ in 2 s/.test(error.message))
			throw error;
		console.log(`# first window after the reload stalled: ${error.message.split(';')[0]}`);
		await sleep(3000);
		rising = 'after a retry: ' + await wallPlays(page, expected, 20000);
	}
	return `layout 9, ${Object.keys(expected).length} tiles playing again, frames in 2 s per tile ${rising}`;
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
