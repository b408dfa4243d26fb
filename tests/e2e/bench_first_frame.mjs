// SPDX-License-Identifier: LGPL-2.1-or-later
// Benchmark, not a test: time to the first decoded frame in headless Chromium, p50/p95 over N
// trials, for a camera already pulled (warm: another viewer holds it) and for a cold one (the
// gateway runs with linger=1 and each trial waits for the camera to go idle), via a WHEP page,
// via the wall (set-tile on a connected 1-tile wall) and via fMP4 over a WebSocket into Media
// Source Extensions (mse.html). Prints figures; asserts nothing.
//
//   tests/integration/in-netns.sh node --experimental-websocket tests/e2e/bench_first_frame.mjs [--trials N]
//
// Environment as the e2e test: VLG_GATEWAY, VLG_CAMSIM, VLG_MEDIA_DIR (defaults under build/).
// The first frame is the first requestVideoFrameCallback of the <video> that follows a rise in
// framesDecoded (fMP4: the first requestVideoFrameCallback, which follows a decoded frame); the
// clock starts when the page starts the request (WHEP: before createOffer; wall: the click on the
// camera in the tree; fMP4: new WebSocket, the token being its first message). All carry a city
// token minted with `linkage-gateway token` for the bench's gateway.

import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Browser, chromiumAvailable, sleep } from './lib/browser.mjs';
import { Camsim, Gateway, ORG, catalogue, serveDirectory } from './lib/harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const argTrials = process.argv.indexOf('--trials');
const TRIALS = argTrials > 0 ? Number(process.argv[argTrials + 1]) : 20;
const CLIP = 'h264-cbp-360p';
const CAMERA = 'cam-bench';

function percentile(sorted, p) {
	if (!sorted.length)
		return NaN;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function summary(values) {
	const sorted = values.filter((v) => typeof v === 'number').sort((a, b) => a - b);
	return {
		n: sorted.length,
		p50: percentile(sorted, 50),
		p95: percentile(sorted, 95),
		min: sorted[0],
		max: sorted[sorted.length - 1],
	};
}

/* Registered in a page: resolves with ms from t0 to the first frame presented after
   framesDecoded rose above `before` (stats read from `statsOf()`), or null after 15 s. */
const FIRST_FRAME = `
window.vlgFirstFrame = (video, t0, before, framesNow) => new Promise((resolve) => {
	const timer = setTimeout(() => resolve(null), 15000);
	const wait = () => video.requestVideoFrameCallback(async () => {
		const at = performance.now();
		if ((await framesNow()) > before) {
			clearTimeout(timer);
			resolve(at - t0);
		} else {
			wait();
		}
	});
	wait();
});`;

async function whepTrial(page, gateway) {
	const url = JSON.stringify(`${gateway.origin}/whep/${CAMERA}`);
	const token = JSON.stringify(await gateway.token());
	const result = await page.eval(`(async () => {
		const status = await whepPlay(${url}, ${token});
		if (status !== 201) return { error: status };
		/* whepPlay records firstFrameMs from its own start; wait for it. */
		for (let i = 0; i < 300 && (await whepState()).firstFrameMs === null; i++)
			await new Promise((r) => setTimeout(r, 20));
		const done = await whepState();
		return { ms: done.firstFrameMs, post: done.postMs, answer: done.answerMs };
	})()`, 30000);
	await page.eval(`whepStop(${JSON.stringify(gateway.origin)})`);
	return result;
}

/* mse.html: a fresh <video> and WebSocket per trial; firstFrameMs counts from new WebSocket. */
async function fmp4Trial(page, gateway) {
	const url = JSON.stringify(`ws://127.0.0.1:${gateway.port}/ws/fmp4/${CAMERA}`);
	const token = JSON.stringify(await gateway.token());
	const result = await page.eval(`(async () => {
		msePlay(${url}, ${token});
		const over = (s) => s.firstFrameMs !== null || s.closed || s.errors.length;
		for (let i = 0; i < 750 && !over(mseStats()); i++)
			await new Promise((r) => setTimeout(r, 20));
		const s = mseStats();
		return { ms: s.firstFrameMs, open: s.openMs, init: s.initMs, segment: s.segmentMs,
			errors: s.errors.length ? s.errors : undefined, closed: s.closed || undefined };
	})()`, 30000);
	await page.eval('mseStop()');
	return result;
}

async function wallTrial(page) {
	return page.eval(`(async () => {
		${FIRST_FRAME}
		const tile = document.querySelector('#wall .tile[data-tile="0"]');
		const video = tile.querySelector('video');
		const frames = async () => (await vlgWall.tiles())[0].framesDecoded;
		const before = await frames();
		const row = document.querySelector('#tree li.camera[data-camera="${CAMERA}"] > .row');
		const t0 = performance.now();
		const first = vlgFirstFrame(video, t0, before, frames);
		row.click();
		return { ms: await first };
	})()`, 30000);
}

async function clearWallTile(page) {
	await page.eval(`document.querySelector('#wall .tile[data-tile="0"] .tile-clear').click()`);
	await page.waitFor(`vlgWall.tiles().then((t) => t[0].state === 'empty')`, 5000, 'tile 0 cleared');
}

async function series(name, page, trials, before, trial) {
	const values = [];
	const parts = [];
	await page.front();
	for (let i = 0; i < trials; i++) {
		await before();
		const result = await trial();
		if (result?.ms == null) {
			process.stderr.write(`${name}: trial ${i + 1} saw no frame (${JSON.stringify(result)})\n`);
			continue;
		}
		values.push(result.ms);
		parts.push(result);
		process.stderr.write(`${name} ${i + 1}/${trials}: ${result.ms.toFixed(0)} ms\n`);
	}
	return { name, ...summary(values), parts };
}

async function main() {
	if (!chromiumAvailable()) {
		console.log('needs /usr/bin/chromium and node --experimental-websocket');
		return 1;
	}
	let camsim, gateway, files, browser;
	const results = [];
	try {
		camsim = await Camsim.start({ [CAMERA]: CLIP });
		gateway = await Gateway.start(catalogue({ [CAMERA]: camsim.url(CAMERA) }),
			'[ice]\naddresses=127.0.0.1\n[ingest]\nlinger=1\n');
		files = await serveDirectory(HERE);
		browser = await Browser.launch();
		const whep = await browser.newPage(`${files.origin}/whep.html`);
		const holder = await browser.newPage(`${files.origin}/whep.html`);
		const mse = await browser.newPage(`${files.origin}/mse.html`);
		const wall = await browser.newPage(await gateway.wallUrl());
		const idle = () => gateway.waitState(CAMERA, 'idle', 20000);

		/* The wall: one tile, the camera's community expanded in the tree. */
		await wall.waitFor('window.vlgWall && vlgWall.connected()', 10000, 'wall connected');
		await wall.eval(`document.querySelector('.layout-button[data-layout="1"]').click()`);
		for (const code of [ORG.district, ORG.street, ORG.community]) {
			await wall.waitFor(`!!document.querySelector('#tree li.node[data-code="${code}"]')`, 5000, code);
			await wall.eval(`document.querySelector('#tree li.node[data-code="${code}"] > .row').click()`);
		}
		await wall.waitFor(`!!document.querySelector('#tree li.camera[data-camera="${CAMERA}"]')`, 5000, 'camera row');

		results.push(await series('WHEP cold', whep, TRIALS, idle, () => whepTrial(whep, gateway)));
		results.push(await series('wall cold', wall, TRIALS, async () => {
			await clearWallTile(wall);
			await idle();
		}, () => wallTrial(wall)));
		await clearWallTile(wall); /* the wall's last trial holds the camera */
		results.push(await series('fMP4 cold', mse, TRIALS, idle, () => fmp4Trial(mse, gateway)));

		/* Warm: a second viewer holds the camera for the whole series. */
		await holder.eval(`whepPlay(${JSON.stringify(`${gateway.origin}/whep/${CAMERA}`)}, ${JSON.stringify(await gateway.token())})`);
		await gateway.waitState(CAMERA, 'live', 10000);
		await sleep(3000);
		results.push(await series('WHEP warm', whep, TRIALS, () => sleep(300), () => whepTrial(whep, gateway)));
		results.push(await series('wall warm', wall, TRIALS, async () => {
			await clearWallTile(wall);
			await sleep(300);
		}, () => wallTrial(wall)));
		/* Each trial opens the camera's fMP4 muxer afresh: it starts on the hub's cached GOP. */
		results.push(await series('fMP4 warm', mse, TRIALS, () => sleep(300), () => fmp4Trial(mse, gateway)));
		await holder.eval(`whepStop(${JSON.stringify(gateway.origin)})`);
	} finally {
		await browser?.close();
		await files?.close();
		await gateway?.stop();
		await camsim?.stop();
	}

	const fmt = (v) => (typeof v === 'number' ? v.toFixed(0).padStart(6) : '     -');
	console.log(`First decoded frame in headless Chromium ${'(ms)'}, clip ${CLIP} (2 s GOP), ${TRIALS} trials each`);
	console.log('path        trials    p50    p95    min    max');
	for (const r of results)
		console.log(`${r.name.padEnd(12)}${String(r.n).padStart(6)} ${fmt(r.p50)} ${fmt(r.p95)} ${fmt(r.min)} ${fmt(r.max)}`);
	for (const r of results.filter((x) => x.name.startsWith('WHEP'))) {
		const post = summary(r.parts.map((p) => p.post));
		const answer = summary(r.parts.map((p) => p.answer));
		console.log(`${r.name}: p50 offer ready (ICE gathered) ${fmt(post.p50).trim()} ms, ` +
			`201 answer ${fmt(answer.p50).trim()} ms`);
	}
	for (const r of results.filter((x) => x.name.startsWith('fMP4'))) {
		const [open, init, segment] = ['open', 'init', 'segment']
			.map((key) => summary(r.parts.map((p) => p[key])));
		console.log(`${r.name}: p50 socket open ${fmt(open.p50).trim()} ms, ` +
			`init segment ${fmt(init.p50).trim()} ms, first media segment ${fmt(segment.p50).trim()} ms`);
	}
	return 0;
}

process.exitCode = await main();
