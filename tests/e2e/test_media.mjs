// SPDX-License-Identifier: LGPL-2.1-or-later
// Cameras a browser cannot take as they are, in headless Chromium: an H.265 camera and an H.264
// camera with B-frames over WebRTC (WHEP, through the gateway's H.264 transcode) and over fMP4
// on a WebSocket into Media Source Extensions (mse.html), and a 16-tile wall of the `low`
// profile whose 16 tiles share the transcodes of 3 cameras. Runs inside a loopback-only network
// namespace (tests/integration/in-netns.sh); TAP on stdout.
//
//   node --experimental-websocket tests/e2e/test_media.mjs
//
// Environment: VLG_GATEWAY, VLG_CAMSIM, VLG_MEDIA_DIR (as the integration tests), VLG_CHROMIUM.

import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Browser, chromiumAvailable, sleep } from './lib/browser.mjs';
import { Camsim, Gateway, ORG, Tap, catalogue, serveDirectory } from './lib/harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

const CLIPS = {
	'cam-h265': 'h265-main-720p',
	/* Pulled from the gateway's start (always-on): its codec is known before any viewer. */
	'cam-h265-on': 'h265-main-720p',
	'cam-bf': 'h264-high-bframes-720p',
	/* The wall's cameras: cheap to decode but one, so that the 2-core box keeps up. */
	'cam-w1': 'h264-cbp-360p',
	'cam-w2': 'h264-main-720p',
	'cam-w3': 'h264-cbp-360p',
};
const ALWAYS_ON = new Set(['cam-h265-on']);
const WALL_CAMERAS = ['cam-w1', 'cam-w2', 'cam-w3'];
/* The default profiles (sub and low are transcodes); 4 transcodes: the wall needs 3. */
const CONFIG = '[ice]\naddresses=127.0.0.1\n[ingest]\nlinger=1\n[budget]\ntranscodes=4\n';
/* Every clip runs at 25 fps; `low` is 5 fps. What a check asks for leaves room for a busy box
   (another test may be transcoding next to this one): these say "it plays", not "how well". */
const WINDOW_MS = 3000;
const MIN_FRAMES = 30; /* in WINDOW_MS, of a 25 fps stream: 10 fps */
const MIN_ADVANCE_S = 1.5; /* currentTime of an MSE player, in WINDOW_MS */
const LOW_WINDOW_MS = 5000;
const LOW_FPS = [2, 8]; /* a tile of `low` (5 fps): well under the clip's 25 */

async function main() {
	if (!chromiumAvailable()) {
		Tap.skipAll('needs /usr/bin/chromium (Debian packages chromium, chromium-driver) and node --experimental-websocket');
		return 0;
	}
	const tap = new Tap(7);
	/* gateway and page: the current check's (see withGateway). */
	const ctx = { camsim: null, gateway: null, files: null, browser: null, page: null };
	try {
		ctx.camsim = await Camsim.start(CLIPS);
		ctx.files = await serveDirectory(HERE);
		ctx.browser = await Browser.launch();
		const detail = async () => [
			...(ctx.page ? ['page console:', ...ctx.page.consoleTail(25)] : []),
			...(ctx.gateway ? [
				`metrics: ${JSON.stringify(await transcodeMetrics(ctx.gateway).catch((e) => e.message))}`,
				`gateway stderr${exited(ctx.gateway.proc.child)}:`, ctx.gateway.proc.stderrTail(25),
			] : []),
		].join('\n');
		/* Each check has a gateway of its own, with only its cameras: a daemon that crashes
		   fails that check alone, and the transcode counts are the check's own. */
		const check = (description, cameras, func) => tap.run(description,
			() => withGateway(ctx, cameras, func), detail);

		await check('WHEP: an H.265 camera nobody watched plays as a 1280x720 H.264 transcode of main',
			['cam-h265'], (c) => whepPlays(c, 'cam-h265'));
		await check('WHEP: an H.265 camera already pulled plays as a 1280x720 H.264 transcode of main',
			['cam-h265-on'], (c) => whepPlays(c, 'cam-h265-on'));
		await check('WHEP: an H.264 camera with B-frames plays, and goes on playing after the switch to the transcode',
			['cam-bf'], (c) => whepPlays(c, 'cam-bf'));
		await check('a wall tile of an H.264 camera with B-frames moves to the transcode on its transceiver while playing',
			['cam-bf'], (c) => bframeTile(c));
		await check('fMP4/MSE: an H.265 camera plays (transcoded to H.264)',
			['cam-h265'], (c) => msePlays(c, 'cam-h265', { transcoded: true }));
		await check('fMP4/MSE: an H.264 camera with B-frames plays untouched',
			['cam-bf'], (c) => msePlays(c, 'cam-bf', { transcoded: false }));
		await check('a 16-tile wall over 3 cameras plays `low` on every tile from 3 shared transcodes',
			WALL_CAMERAS, (c) => lowWall(c));
	} catch (error) {
		tap.diag(`setup failed: ${error.stack || error}`);
		tap.failed++;
	} finally {
		await ctx.browser?.close();
		await ctx.files?.close();
		await ctx.gateway?.stop();
		await ctx.camsim?.stop();
	}
	return tap.exitCode();
}

/* Runs `func(ctx)` with a gateway of `cameras`; then, the viewers gone, every transcode, stream
   and camera of it must be released. */
async function withGateway(ctx, cameras, func) {
	/* The previous check's gateway and page were kept for its failure's detail. */
	await ctx.gateway?.stop();
	ctx.page = null;
	let text = catalogue(Object.fromEntries(cameras.map((id) => [id, ctx.camsim.url(id)])));
	for (const id of cameras.filter((c) => ALWAYS_ON.has(c)))
		text = text.replace(`url=${ctx.camsim.url(id)}\nalways-on=false`,
			`url=${ctx.camsim.url(id)}\nalways-on=true`);
	ctx.gateway = await Gateway.start(text, CONFIG);
	for (const id of cameras.filter((c) => ALWAYS_ON.has(c)))
		await ctx.gateway.waitState(id, 'live', 15000);
	const note = await func(ctx);
	await waitMetrics(ctx.gateway, (m) => m.transcodes === 0 && m.encoders === 0 &&
		m.decoders === 0 && m.streams === 0, 15000, 'every transcode and stream released after the viewers left');
	for (const id of cameras.filter((c) => !ALWAYS_ON.has(c)))
		await ctx.gateway.waitState(id, 'idle', 15000);
	return `${note}; then all released`;
}

/* " (exited with …)" once the daemon is gone: a crash explains every later failure. */
function exited(child) {
	if (child.signalCode)
		return ` (killed by ${child.signalCode})`;
	return child.exitCode !== null ? ` (exited with ${child.exitCode})` : '';
}

/* Milliseconds of the day of the first line of the gateway's log that matches each pattern
   (null for none). */
function logTimes(gateway, patterns) {
	const lines = gateway.proc.stderrTail(100000).split('\n');
	return patterns.map((pattern) => {
		const line = lines.find((l) => pattern.test(l));
		const t = line && /(\d\d):(\d\d):(\d\d\.\d+)/.exec(line);
		return t ? Math.round((Number(t[1]) * 3600 + Number(t[2]) * 60 + Number(t[3])) * 1000) : null;
	});
}

async function transcodeMetrics(gateway) {
	const m = await gateway.metrics();
	return {
		transcodes: m.vlg_transcodes, encoders: m.vlg_transcode_encoders,
		decoders: m.vlg_transcode_decoders, streams: m.vlg_streams,
	};
}

/* The metrics once `check` holds on them; throws with the last ones after timeoutMs. */
async function waitMetrics(gateway, check, timeoutMs, what) {
	const deadline = Date.now() + timeoutMs;
	let last;
	while (Date.now() < deadline) {
		last = await transcodeMetrics(gateway);
		if (check(last))
			return last;
		await sleep(200);
	}
	throw new Error(`${what}: not within ${timeoutMs} ms (metrics ${JSON.stringify(last)})`);
}

async function whepPlays(ctx, camera) {
	const { gateway, files, browser } = ctx;
	const page = await browser.newPage(`${files.origin}/whep.html`);
	ctx.page = page;
	try {
		await page.front();
		const status = await page.eval(`whepPlay(${JSON.stringify(`${gateway.origin}/whep/${camera}`)},
			${JSON.stringify(await gateway.token())})`);
		if (status !== 201)
			throw new Error(`POST /whep/${camera}: ${status} ${JSON.stringify(await page.eval('whepState()'))}`);
		const first = await page.waitFor('whepState().then((s) => s.framesDecoded > 0 && s)', 20000,
			'a first decoded frame');
		/* H.265: the transcode from the start (once the codec is known); B-frames: the
		   passthrough first, then the switch within ~0.5 s of the gateway seeing B-frames. */
		await waitMetrics(gateway, (m) => m.transcodes === 1 && m.encoders === 1,
			10000, 'one transcode (main) running');
		const framesAtSwitch = (await page.eval('whepState()')).framesDecoded;
		await sleep(1000); /* past the switch's keyframe */
		const a = await page.eval('whepState()');
		await sleep(WINDOW_MS);
		const b = await page.eval('whepState()');
		const rise = b.framesDecoded - a.framesDecoded;
		if (rise < MIN_FRAMES)
			throw new Error(`${rise} frames decoded in ${WINDOW_MS} ms after the transcode started ` +
				`(${a.framesDecoded} -> ${b.framesDecoded}; ${framesAtSwitch} when it was seen running)`);
		if (b.width !== 1280 || b.height !== 720)
			throw new Error(`decoded ${b.width}x${b.height}; main of the 720p clip is 1280x720`);
		const running = await transcodeMetrics(gateway);
		if (running.transcodes !== 1)
			throw new Error(`one WHEP viewer of ${camera}, ${running.transcodes} transcodes`);
		const deleted = await page.eval(`whepStop(${JSON.stringify(gateway.origin)})`);
		if (deleted !== 200)
			throw new Error(`DELETE of the session answered ${deleted}`);
		const [connected, moved] = logTimes(gateway, [new RegExp(`\\(camera ${camera}\\) connected`),
			new RegExp(`\\(camera ${camera}\\): .*now sent transcoded`)]);
		const when = moved === null ? 'transcoded from the POST on' :
			`moved to the transcode ${Math.abs(moved - connected)} ms ${moved < connected ? 'before' : 'after'} ` +
			`the session connected`;
		return `${when}; ${rise} frames in ${WINDOW_MS / 1000} s, ${b.width}x${b.height}, ` +
			`first frame ${Math.round(first.firstFrameMs)} ms`;
	} finally {
		await page.eval(`whepStop(null)`).catch(() => {});
		await browser.closePage(page);
	}
}

const MSE_STATS = 'mseStats()';

async function msePlays(ctx, camera, { transcoded }) {
	const { gateway, files, browser } = ctx;
	const page = await browser.newPage(`${files.origin}/mse.html`);
	ctx.page = page;
	try {
		await page.front();
		const url = `ws://127.0.0.1:${gateway.port}/ws/fmp4/${camera}`;
		await page.eval(`msePlay(${JSON.stringify(url)}, ${JSON.stringify(await gateway.token())})`);
		const first = await page.waitFor(`(() => { const s = ${MSE_STATS};
			return (s.errors.length || s.closed || (s.frames > 0 && s.currentTime > 0)) && s; })()`,
		20000, 'a first frame played');
		if (first.errors.length || first.closed)
			throw new Error(`the player: ${JSON.stringify(first)}`);
		await sleep(1000); /* past the seek to the live edge */
		const a = await page.eval(MSE_STATS);
		await sleep(WINDOW_MS);
		const b = await page.eval(MSE_STATS);
		const facts = `stats ${JSON.stringify({ ...b, mimes: undefined })}`;
		if (b.errors.length || b.closed)
			throw new Error(`the player: ${facts}`);
		const rise = b.frames - a.frames;
		const advance = b.currentTime - a.currentTime;
		if (rise < MIN_FRAMES || advance < MIN_ADVANCE_S)
			throw new Error(`in ${WINDOW_MS} ms: ${rise} frames, currentTime +${advance.toFixed(2)} s; ${facts}`);
		if (b.stream?.profile !== 'main' || b.stream?.fallback)
			throw new Error(`stream message ${JSON.stringify(b.stream)}, expected main without fallback`);
		/* H.265 comes as H.264 (no ?h265=1); the B-frame clip as itself, High profile. */
		const codec = /codecs="([^"]*)"/.exec(b.mime || '')?.[1] || '';
		const wanted = transcoded ? /^avc1\./ : /^avc1\.64/;
		if (!wanted.test(codec))
			throw new Error(`MSE type ${b.mime}, expected ${wanted}`);
		if (b.width !== 1280 || b.height !== 720)
			throw new Error(`video is ${b.width}x${b.height}; main of the 720p clip is 1280x720`);
		const running = await transcodeMetrics(gateway);
		if (running.transcodes !== (transcoded ? 1 : 0))
			throw new Error(`one fMP4 reader of ${camera}: ${running.transcodes} transcodes`);
		return `${b.mime}; ${rise} frames, currentTime +${advance.toFixed(2)} s in ${WINDOW_MS / 1000} s; ` +
			`${b.segments} segments, ${b.seeks} catch-up seeks, ${b.gapJumps} gap jumps, ` +
			`${b.droppedFrames} dropped; first frame ${Math.round(first.firstFrameMs)} ms`;
	} finally {
		await page.eval('mseStop()').catch(() => {});
		await browser.closePage(page);
	}
}

/* Installed before the wall's scripts: keeps the last entry the gateway sent for each tile
   (the page itself keeps no profile), in window.vlgTilesSeen. */
const TILES_TAP = `(() => {
	const Native = window.WebSocket;
	window.vlgTilesSeen = {};
	window.WebSocket = class extends Native {
		constructor(...args) {
			super(...args);
			if (!String(args[0]).includes('/ws/wall'))
				return;
			this.addEventListener('message', (event) => {
				try {
					const msg = JSON.parse(event.data);
					if (msg.type === 'tiles')
						for (const entry of msg.tiles)
							window.vlgTilesSeen[entry.tile] = entry;
				} catch {}
			});
		}
	};
})();`;

/* A city admin's wall as a screen kept it (layout, cameras per tile): written from a public page
   of the origin, then the wall opens with it (its hello carries them), TILES_TAP installed. */
async function openWall(ctx, layout, cameras) {
	const { gateway, browser } = ctx;
	const page = await browser.newPage(`${gateway.origin}/static/style.css`);
	ctx.page = page;
	await page.addInitScript(TILES_TAP);
	await page.eval(`localStorage.setItem('vlg-wall', ${JSON.stringify(JSON.stringify({ layout, cameras }))})`);
	await page.goto(await gateway.wallUrl());
	await page.front();
	await page.waitFor(`window.vlgWall && vlgWall.connected() && vlgWall.layout() === ${layout}`, 10000,
		`a connected ${layout}-tile wall`);
	return page;
}

async function closeWall(ctx, page) {
	await page.eval('localStorage.clear()').catch(() => {});
	await ctx.browser.closePage(page);
}

async function lowWall(ctx) {
	const { gateway } = ctx;
	const cameras = Array.from({ length: 16 }, (_, i) => WALL_CAMERAS[i % WALL_CAMERAS.length]);
	const page = await openWall(ctx, 16, cameras);
	try {
		const want = JSON.stringify(cameras);
		try {
			await page.waitFor(`vlgWall.tiles().then((tiles) => ${want}.every((cam, i) =>
				tiles[i].camera === cam && tiles[i].framesDecoded > 0 && tiles[i].state === 'live') && tiles)`,
			40000, 'every tile live and decoding');
		} catch (error) {
			error.message += `; tiles: ${JSON.stringify(await page.eval('vlgWall.tiles()'))}; ` +
				`seen: ${JSON.stringify(await page.eval('window.vlgTilesSeen'))}`;
			throw error;
		}
		const seen = await page.eval('window.vlgTilesSeen');
		const wrong = cameras.map((cam, i) => seen[i])
			.filter((entry, i) => !entry || entry.camera !== cameras[i] || entry.profile !== 'low' || !entry.transcoded);
		if (wrong.length)
			throw new Error(`tiles not on a low transcode: ${JSON.stringify(wrong)}`);
		const a = await page.eval('vlgWall.tiles()');
		await sleep(LOW_WINDOW_MS);
		const b = await page.eval('vlgWall.tiles()');
		const rates = b.map((t, i) => (t.framesDecoded - a[i].framesDecoded) / (LOW_WINDOW_MS / 1000));
		const off = rates.map((fps, i) => ({ tile: i, fps, size: `${b[i].width}x${b[i].height}` }))
			.filter(({ fps, tile }) => fps < LOW_FPS[0] || fps > LOW_FPS[1] || b[tile].height !== 180);
		if (off.length)
			throw new Error(`tiles off 320x180 at ~5 fps: ${JSON.stringify(off)}`);
		const running = await transcodeMetrics(gateway);
		if (!(running.transcodes <= 3))
			throw new Error(`16 tiles over 3 cameras, ${running.transcodes} transcodes: not shared`);
		const drops = await page.eval('vlgWall.drops()');
		if (drops !== 0)
			throw new Error(`the wall lost its connection ${drops} time(s)`);
		const mids = new Set(b.map((t) => t.mid));
		if (mids.size !== 16)
			throw new Error(`16 tiles on ${mids.size} transceivers`);
		return `fps per tile ${rates.map((r) => r.toFixed(1)).join(' ')}; metrics ${JSON.stringify(running)}`;
	} finally {
		await closeWall(ctx, page);
	}
}

/* A wall is connected before its tile gets the camera, so the passthrough reaches the browser
   first and the move to the transcode happens while the tile plays (a WHEP session may switch
   before it is connected). */
async function bframeTile(ctx) {
	const page = await openWall(ctx, 1, []);
	try {
		for (const code of [ORG.district, ORG.street, ORG.community]) {
			const li = `#tree li.node[data-code="${code}"]`;
			await page.waitFor(`!!document.querySelector('${li}')`, 5000, `tree node ${code}`);
			await page.eval(`document.querySelector('${li} > .row').click()`);
		}
		const row = `#tree li.camera[data-camera="cam-bf"] > .row`;
		await page.waitFor(`!!document.querySelector('${row}')`, 5000, 'cam-bf in the tree');
		await page.eval(`document.querySelector('${row}').click()`);
		const TILE = `vlgWall.tiles().then((t) => ({ ...t[0], seen: window.vlgTilesSeen[0] }))`;
		let tile;
		try {
			/* Polled often: the frames decoded when the tile says transcoded tell whether the
			   passthrough played first. */
			tile = await page.waitFor(`${TILE}.then((t) => t.seen?.transcoded && t)`, 20000,
				'tile 0 on the transcode', 100);
			await page.waitFor(`${TILE}.then((t) => t.framesDecoded > ${tile.framesDecoded})`, 10000,
				'tile 0 decoding on the transcode');
		} catch (error) {
			error.message += `; tile: ${JSON.stringify(await page.eval(TILE))}`;
			throw error;
		}
		if (tile.seen.profile !== 'main' || tile.seen.mid !== tile.mid)
			throw new Error(`tile 0: ${JSON.stringify(tile)}`);
		await sleep(1000); /* past the transcode's first keyframe */
		const a = await page.eval(TILE);
		await sleep(WINDOW_MS);
		const b = await page.eval(TILE);
		const rise = b.framesDecoded - a.framesDecoded;
		if (rise < MIN_FRAMES || b.height !== 720 || b.mid !== tile.mid || b.state !== 'live')
			throw new Error(`after the switch, in ${WINDOW_MS} ms: ${rise} frames; tile then ${JSON.stringify(b)}`);
		return `${tile.framesDecoded} frames decoded (passthrough) when the tile said transcoded; then ` +
			`${rise} frames in ${WINDOW_MS / 1000} s on the same mid ${b.mid}, ${b.width}x${b.height}`;
	} finally {
		await closeWall(ctx, page);
	}
}

process.exitCode = await main();
