// SPDX-License-Identifier: LGPL-2.1-or-later
// The operator wall. Left: the org tree, fetched a level at a time (only expanded levels are in
// the DOM, so the city's 2,864 cameras never are at once), and a search box. Right: a wall of 1,
// 4, 9 or 16 tiles fed by ONE WebSocket to /ws/wall and ONE RTCPeerConnection, following
// gateway/wall-protocol.md: the server offers, the page answers; the `tiles` messages name each
// tile's transceiver by `mid`, and the page binds each tile's <video> to the track of that mid.
// The layout and the tiles persist in localStorage. window.vlgWall exposes the tiles for tests.

const LAYOUTS = [1, 4, 9, 16];
const MAX_TILES = 16;
const STORAGE_KEY = 'vlg-wall';
const SEARCH_DELAY_MS = 250;
const SEARCH_MAX_BYTES = 64;
const SEARCH_LIMIT = 50;
const PING_EVERY_MS = 15000;
const PONG_WAIT_MS = 10000;
const OFFER_WAIT_MS = 10000;
const RECONNECT_FIRST_MS = 500;
const RECONNECT_MAX_MS = 15000;
const STATS_EVERY_MS = 1000;
const TREE_REFRESH_MS = 10000;
const TREE_REFRESH_MAX_NODES = 20;

const params = new URLSearchParams(location.search);
const token = params.get('token');
/* ?debug: every message in and out on the console (SDP cut short). */
const debug = params.has('debug');

function trace(direction, msg) {
	if (!debug)
		return;
	const text = JSON.stringify(msg, (key, value) =>
		key === 'sdp' && typeof value === 'string' ? `${value.length} bytes, ${(value.match(/^m=/gm) || []).length} m-lines` : value);
	console.debug(`${Math.round(performance.now())} ${direction} ${text}`);
}

const $ = (selector) => document.querySelector(selector);

function element(tag, className, text) {
	const node = document.createElement(tag);
	if (className)
		node.className = className;
	if (text !== undefined)
		node.textContent = text;
	return node;
}

/* ---- State ------------------------------------------------------------------------------ */

/*
 * tiles[i].camera is what the wall shows on tile i as far as the page knows: the operator's
 * choice, then whatever the server confirms in `tiles` messages (a camera it refused comes back
 * empty). pending is a choice sent but not yet confirmed: until then the server's older view of
 * that tile is not shown. server is the tile's last `tiles` entry.
 */
const wall = {
	layout: 4,
	layouts: LAYOUTS.slice(),
	selected: 0,
	names: {},
	tiles: Array.from({ length: MAX_TILES }, () => ({
		camera: null, pending: undefined, server: null, el: null, video: null,
	})),
	statsOn: false,
};

function load() {
	try {
		const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
		if (!saved)
			return;
		if (LAYOUTS.includes(saved.layout))
			wall.layout = saved.layout;
		if (Array.isArray(saved.cameras))
			saved.cameras.slice(0, MAX_TILES).forEach((camera, i) => {
				if (typeof camera === 'string' && camera && i < wall.layout)
					wall.tiles[i].camera = camera;
			});
		if (saved.names && typeof saved.names === 'object')
			for (const [id, name] of Object.entries(saved.names))
				if (typeof name === 'string')
					wall.names[id] = name;
		wall.statsOn = saved.stats === true;
	} catch {
		/* A broken entry is ignored: the wall starts empty. */
	}
}

function save() {
	const cameras = wall.tiles.map((t) => t.camera);
	const names = {};
	for (const camera of cameras)
		if (camera && wall.names[camera])
			names[camera] = wall.names[camera];
	try {
		localStorage.setItem(STORAGE_KEY,
			JSON.stringify({ layout: wall.layout, cameras, names, stats: wall.statsOn }));
	} catch {
		/* Storage full or denied: the wall still works, it just will not be restored. */
	}
}

let noticeTimer = null;

function notice(text) {
	const box = $('#notice');
	box.textContent = text;
	clearTimeout(noticeTimer);
	noticeTimer = setTimeout(() => { box.textContent = ''; }, 8000);
}

/* ---- HTTP API --------------------------------------------------------------------------- */

async function api(path) {
	const headers = token ? { Authorization: `Bearer ${token}` } : {};
	const response = await fetch(path, { headers });
	let body = null;
	try {
		body = await response.json();
	} catch {
		/* Not JSON: reported below by status. */
	}
	if (!response.ok)
		throw new Error(body?.error?.message || `${response.status} ${response.statusText}`);
	return body;
}

/* ---- Org tree and search ---------------------------------------------------------------- */

function nodeItem(node) {
	const li = element('li', 'node');
	li.setAttribute('role', 'treeitem');
	li.setAttribute('aria-expanded', 'false');
	li.dataset.code = node.code;
	const row = element('button', 'row');
	row.type = 'button';
	row.title = `${node.name} (${node.code})`;
	row.append(element('span', 'caret', '▶'), element('span', 'label', node.name));
	if (typeof node.cameras === 'number') {
		const count = element('span', 'count', String(node.cameras));
		count.title = 'cameras';
		row.append(count);
	}
	li.append(row);
	return li;
}

function cameraItem(camera, sub) {
	wall.names[camera.id] = camera.name;
	const li = element('li', 'camera');
	li.setAttribute('role', 'treeitem');
	li.dataset.camera = camera.id;
	const row = element('button', 'row');
	row.type = 'button';
	row.title = `${camera.name} (${camera.id}): put on the selected tile`;
	const dot = element('span', `dot state-${camera.state || 'idle'}`);
	dot.title = camera.state || '';
	row.append(dot, element('span', 'label', camera.name));
	if (sub)
		row.append(element('span', 'sub', sub));
	li.append(row);
	if (onWall().has(camera.id))
		li.classList.add('on-wall');
	return li;
}

/* Tile states in the words of the tree (ingest states). */
const TREE_STATE = { live: 'live', connecting: 'connecting', retrying: 'retrying', offline: 'failed',
	degraded: 'live', paused: 'live' };

function setTreeState(camera, state) {
	for (const dot of document.querySelectorAll(`li.camera[data-camera="${CSS.escape(camera)}"] .dot`)) {
		dot.className = `dot state-${state}`;
		dot.title = state;
	}
}

/* Camera states of the expanded levels (a few requests: only what is open is refreshed). */
async function refreshTree() {
	if (document.hidden)
		return;
	const open = [...document.querySelectorAll('li.node[aria-expanded="true"]')]
		.filter((li) => li.querySelector(':scope > ul > li.camera'))
		.slice(0, TREE_REFRESH_MAX_NODES);
	for (const li of open) {
		try {
			const reply = await api(`/api/v1/org/${encodeURIComponent(li.dataset.code)}`);
			for (const camera of reply.cameras || [])
				setTreeState(camera.id, camera.state || 'idle');
		} catch {
			/* The next round tries again; the connection badge tells about outages. */
		}
	}
}

function message(text, isError) {
	return element('li', `tree-message${isError ? ' error' : ''}`, text);
}

/* Fills `list` with a node's children and cameras (one level). */
function fillLevel(list, reply) {
	const fragment = document.createDocumentFragment();
	for (const child of reply.children || [])
		fragment.append(nodeItem(child));
	for (const camera of reply.cameras || [])
		fragment.append(cameraItem(camera));
	if (!fragment.childNodes.length)
		fragment.append(message('No cameras here'));
	list.replaceChildren(fragment);
}

async function expand(li) {
	const list = element('ul');
	list.setAttribute('role', 'group');
	list.append(message('Loading…'));
	li.append(list);
	li.setAttribute('aria-expanded', 'true');
	try {
		const reply = await api(`/api/v1/org/${encodeURIComponent(li.dataset.code)}`);
		if (list.isConnected)
			fillLevel(list, reply);
	} catch (error) {
		if (list.isConnected)
			list.replaceChildren(message(`Could not load: ${error.message}`, true));
	}
}

/* Collapsing drops the level from the DOM; expanding again fetches it afresh (fresh states). */
function collapse(li) {
	li.querySelector(':scope > ul')?.remove();
	li.setAttribute('aria-expanded', 'false');
}

function onTreeClick(event) {
	const row = event.target.closest('.row');
	if (!row)
		return;
	const li = row.parentElement;
	if (li.classList.contains('node')) {
		if (li.getAttribute('aria-expanded') === 'true')
			collapse(li);
		else
			expand(li);
	} else if (li.classList.contains('camera')) {
		placeCamera(li.dataset.camera);
	}
}

async function loadRoot() {
	const tree = $('#tree');
	const top = element('ul');
	top.append(message('Loading…'));
	tree.replaceChildren(top);
	try {
		const reply = await api('/api/v1/org');
		const li = nodeItem(reply.node);
		li.setAttribute('aria-expanded', 'true');
		const list = element('ul');
		list.setAttribute('role', 'group');
		fillLevel(list, reply);
		li.append(list);
		top.replaceChildren(li);
	} catch (error) {
		const retry = element('button', 'row', 'Retry');
		retry.type = 'button';
		retry.addEventListener('click', loadRoot);
		top.replaceChildren(message(`Could not load the organisation tree: ${error.message}`, true));
		tree.append(retry);
	}
}

let searchSerial = 0;
let searchTimer = null;

function searchText() {
	let text = $('#search').value.trim();
	/* The server takes at most 64 bytes; cut on a character boundary. */
	const encoder = new TextEncoder();
	while (encoder.encode(text).length > SEARCH_MAX_BYTES)
		text = text.slice(0, -1);
	return text;
}

async function runSearch() {
	const query = searchText();
	const results = $('#search-results');
	const serial = ++searchSerial;
	if (!query) {
		results.hidden = true;
		results.replaceChildren();
		$('#tree').hidden = false;
		return;
	}
	try {
		const reply = await api(`/api/v1/search?q=${encodeURIComponent(query)}`);
		if (serial !== searchSerial)
			return;
		const fragment = document.createDocumentFragment();
		const nodes = element('ul');
		for (const node of reply.nodes || [])
			nodes.append(nodeItem(node));
		const cameras = element('ul');
		for (const camera of reply.cameras || [])
			cameras.append(cameraItem(camera, camera.id));
		/* The server answers 50 of each at most: say when there may be more. */
		const count = (list) => (list.childNodes.length >= SEARCH_LIMIT
			? `first ${SEARCH_LIMIT}, refine the search` : String(list.childNodes.length));
		if (nodes.childNodes.length)
			fragment.append(element('div', 'section-title', `Places (${count(nodes)})`), nodes);
		if (cameras.childNodes.length)
			fragment.append(element('div', 'section-title', `Cameras (${count(cameras)})`), cameras);
		if (!fragment.childNodes.length)
			fragment.append(element('div', 'tree-message', `Nothing matches “${query}”`));
		results.replaceChildren(fragment);
	} catch (error) {
		if (serial !== searchSerial)
			return;
		results.replaceChildren(element('div', 'tree-message error', `Search failed: ${error.message}`));
	}
	results.hidden = false;
	$('#tree').hidden = true;
}

function onSearchInput() {
	clearTimeout(searchTimer);
	searchTimer = setTimeout(runSearch, SEARCH_DELAY_MS);
}

function onSearchKey(event) {
	if (event.key === 'Escape') {
		event.target.value = '';
		clearTimeout(searchTimer);
		runSearch();
	} else if (event.key === 'Enter') {
		clearTimeout(searchTimer);
		runSearch();
	}
}

/* ---- Tiles ------------------------------------------------------------------------------ */

function onWall() {
	const cameras = new Set();
	for (let i = 0; i < wall.layout; i++)
		if (shownCamera(wall.tiles[i]))
			cameras.add(shownCamera(wall.tiles[i]));
	return cameras;
}

function shownCamera(tile) {
	return tile.pending !== undefined ? tile.pending : tile.camera;
}

function shownState(tile) {
	const camera = shownCamera(tile);
	if (!camera)
		return { state: 'empty', reason: '' };
	if (!connection.ready)
		return { state: 'offline', reason: 'no connection to the gateway' };
	if (tile.pending !== undefined || !tile.server || tile.server.camera !== camera)
		return { state: 'connecting', reason: '' };
	return { state: tile.server.state || 'connecting', reason: tile.server.reason || '' };
}

function shownName(tile) {
	const camera = shownCamera(tile);
	if (!camera)
		return '';
	if (tile.server?.camera === camera && tile.server.name)
		return tile.server.name;
	return wall.names[camera] || camera;
}

function firstEmptyTile(from = 0) {
	for (let k = 0; k < wall.layout; k++) {
		const i = (from + k) % wall.layout;
		if (!shownCamera(wall.tiles[i]))
			return i;
	}
	return -1;
}

function buildTiles() {
	const template = $('#tile-template');
	const container = $('#wall');
	wall.tiles.forEach((tile, i) => {
		const el = template.content.firstElementChild.cloneNode(true);
		el.dataset.tile = String(i);
		el.querySelector('.tile-number').textContent = String(i + 1);
		el.addEventListener('click', (event) => {
			if (event.target.closest('.tile-clear'))
				clearTile(i);
			else
				selectTile(i);
		});
		el.addEventListener('keydown', (event) => {
			if (event.target !== el)
				return;
			if (event.key === 'Enter' || event.key === ' ') {
				event.preventDefault();
				selectTile(i);
			} else if (event.key === 'Delete' || event.key === 'Backspace') {
				clearTile(i);
			}
		});
		tile.el = el;
		tile.video = el.querySelector('video');
		tile.video.muted = true;
		container.append(el);
	});
}

function renderTiles() {
	const container = $('#wall');
	container.className = `wall layout-${wall.layout}`;
	if (wall.selected >= wall.layout)
		wall.selected = Math.max(0, firstEmptyTile());
	wall.tiles.forEach((tile, i) => {
		const el = tile.el;
		el.hidden = i >= wall.layout;
		const camera = shownCamera(tile);
		const { state, reason } = shownState(tile);
		el.classList.toggle('empty', !camera);
		el.classList.toggle('selected', i === wall.selected);
		el.dataset.camera = camera || '';
		el.dataset.state = state;
		el.querySelector('.tile-name').textContent = shownName(tile);
		const badge = el.querySelector('.tile-state');
		badge.textContent = state;
		badge.className = `tile-state state-${state}`;
		el.querySelector('.tile-reason').textContent = state === 'live' ? '' : reason;
		el.title = camera ? `${shownName(tile)} (${camera})` : `Tile ${i + 1}: empty`;
		el.querySelector('.tile-stats').hidden = !wall.statsOn || !camera;
	});
	for (const button of document.querySelectorAll('.layout-button')) {
		const n = Number(button.dataset.layout);
		button.setAttribute('aria-pressed', String(n === wall.layout));
		button.disabled = !wall.layouts.includes(n);
	}
	const cameras = onWall();
	for (const li of document.querySelectorAll('li.camera'))
		li.classList.toggle('on-wall', cameras.has(li.dataset.camera));
}

function selectTile(i) {
	wall.selected = i;
	renderTiles();
}

function setTile(i, camera) {
	const tile = wall.tiles[i];
	tile.camera = camera;
	tile.pending = camera;
	if (camera)
		send({ type: 'set-tile', tile: i, camera });
	else
		send({ type: 'clear-tile', tile: i });
	/* Not sent (no connection): hello carries it later, nothing to wait for. */
	if (!connection.ready)
		tile.pending = undefined;
}

function placeCamera(camera) {
	const target = wall.selected < wall.layout ? wall.selected : Math.max(0, firstEmptyTile());
	setTile(target, camera);
	/* Fill the wall by clicking cameras one after another: move on to the next empty tile. */
	const next = firstEmptyTile(target + 1);
	wall.selected = next >= 0 ? next : target;
	save();
	renderTiles();
}

function clearTile(i) {
	setTile(i, null);
	wall.selected = i;
	save();
	renderTiles();
}

function setLayout(layout) {
	if (!wall.layouts.includes(layout) || layout === wall.layout)
		return;
	/* Tiles that disappear are released first, so their cameras are no longer pulled. */
	for (let i = layout; i < wall.layout; i++)
		if (shownCamera(wall.tiles[i]))
			setTile(i, null);
	for (let i = layout; i < MAX_TILES; i++) {
		wall.tiles[i].camera = null;
		wall.tiles[i].pending = undefined;
	}
	wall.layout = layout;
	send({ type: 'set-layout', layout });
	if (wall.selected >= layout || shownCamera(wall.tiles[wall.selected]))
		wall.selected = Math.max(0, firstEmptyTile());
	save();
	renderTiles();
	bindVideos();
}

/* ---- Connection: one WebSocket, one RTCPeerConnection ------------------------------------ */

const connection = {
	ws: null,
	pc: null,
	ready: false, /* welcome received on the current socket */
	attempt: 0,
	reconnectTimer: null,
	pingTimer: null,
	pongDue: 0,
	offerTimer: null, /* the first offer is late: start over */
	drops: 0, /* connections lost since the page loaded */
	answering: Promise.resolve(),
	tracks: new Map(), /* mid -> MediaStream of that transceiver's track */
};

function send(msg) {
	const ws = connection.ws;
	if (ws && ws.readyState === WebSocket.OPEN) {
		trace('>>', msg);
		ws.send(JSON.stringify(msg));
		return true;
	}
	return false;
}

function setConnectionBadge(state, text) {
	const badge = $('#connection');
	badge.className = `connection state-${state}`;
	badge.textContent = text;
}

function helloTiles() {
	const tiles = [];
	for (let i = 0; i < wall.layout; i++)
		if (wall.tiles[i].camera)
			tiles.push({ tile: i, camera: wall.tiles[i].camera });
	return tiles;
}

function connect() {
	clearTimeout(connection.reconnectTimer);
	connection.reconnectTimer = null;
	setConnectionBadge('connecting', 'connecting');
	const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
	let ws;
	try {
		ws = new WebSocket(`${scheme}//${location.host}/ws/wall`);
	} catch (error) {
		scheduleReconnect(`cannot open the WebSocket: ${error.message}`);
		return;
	}
	connection.ws = ws;
	ws.addEventListener('open', () => {
		if (connection.ws !== ws)
			return;
		startPeer();
		const hello = { type: 'hello', layout: wall.layout, tiles: helloTiles() };
		if (token)
			hello.token = token;
		send(hello);
		connection.offerTimer = setTimeout(() => dropConnection('the gateway sent no offer'),
			OFFER_WAIT_MS);
		connection.pongDue = 0;
		connection.pingTimer = setInterval(keepAlive, PING_EVERY_MS);
	});
	ws.addEventListener('message', (event) => {
		if (connection.ws === ws)
			receive(event.data);
	});
	ws.addEventListener('close', (event) => {
		if (connection.ws === ws)
			dropConnection(`connection closed${event.code ? ` (${event.code}${event.reason ? ': ' + event.reason : ''})` : ''}`);
	});
	/* 'error' is always followed by 'close'. */
}

/* Ends the current socket and PeerConnection (idempotent) and plans the next attempt. */
function dropConnection(why) {
	const ws = connection.ws;
	connection.ws = null;
	connection.ready = false;
	connection.drops++;
	clearInterval(connection.pingTimer);
	connection.pingTimer = null;
	clearTimeout(connection.offerTimer);
	connection.offerTimer = null;
	if (ws && ws.readyState <= WebSocket.OPEN)
		ws.close();
	stopPeer();
	for (const tile of wall.tiles) {
		tile.server = null;
		tile.pending = undefined;
	}
	renderTiles();
	scheduleReconnect(why);
}

function scheduleReconnect(why) {
	if (connection.reconnectTimer)
		return;
	connection.attempt++;
	const base = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** (connection.attempt - 1));
	const delay = Math.round(base * (0.75 + Math.random() * 0.5));
	setConnectionBadge('offline', `offline · retry in ${Math.ceil(delay / 1000)} s`);
	if (why)
		notice(`Gateway: ${why}`);
	connection.reconnectTimer = setTimeout(connect, delay);
}

function keepAlive() {
	if (connection.pongDue && Date.now() > connection.pongDue) {
		dropConnection('no answer to ping');
		return;
	}
	if (!connection.pongDue && send({ type: 'ping' }))
		connection.pongDue = Date.now() + PONG_WAIT_MS;
}

function startPeer() {
	stopPeer();
	const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
	connection.pc = pc;
	connection.answering = Promise.resolve();
	pc.addEventListener('icecandidate', (event) => {
		const c = event.candidate;
		if (connection.pc === pc && c && c.candidate)
			send({ type: 'candidate', candidate: c.candidate, sdpMLineIndex: c.sdpMLineIndex ?? 0 });
	});
	pc.addEventListener('track', (event) => {
		const mid = event.transceiver?.mid;
		if (connection.pc !== pc || mid == null)
			return;
		/* A stream of this track alone: the server may put every tile's track in one stream,
		   and a <video> would then show only the first of them on every tile. */
		connection.tracks.set(mid, new MediaStream([event.track]));
		bindVideos();
	});
	pc.addEventListener('connectionstatechange', () => {
		if (connection.pc === pc && pc.connectionState === 'failed')
			dropConnection('media connection failed');
	});
}

function stopPeer() {
	const pc = connection.pc;
	connection.pc = null;
	connection.tracks.clear();
	if (pc)
		pc.close();
	bindVideos();
}

/* Each tile's <video> shows the track of the transceiver the server named for it. */
function bindVideos() {
	wall.tiles.forEach((tile, i) => {
		if (!tile.video)
			return;
		const mid = i < wall.layout ? tile.server?.mid : null;
		const stream = (mid != null && connection.tracks.get(String(mid))) || null;
		if (tile.video.srcObject !== stream) {
			tile.video.srcObject = stream;
			if (stream)
				tile.video.play().catch(() => { /* muted autoplay: only fails if detached */ });
		}
	});
}

function answerOffer(sdp) {
	const pc = connection.pc;
	if (!pc)
		return;
	/* One offer at a time, in order: each waits for the previous answer to be sent. */
	connection.answering = connection.answering.then(async () => {
		if (connection.pc !== pc)
			return;
		await pc.setRemoteDescription({ type: 'offer', sdp });
		await pc.setLocalDescription(await pc.createAnswer());
		if (connection.pc === pc)
			send({ type: 'answer', sdp: pc.localDescription.sdp });
	}).catch((error) => {
		if (connection.pc === pc)
			dropConnection(`cannot answer the gateway's offer: ${error.message}`);
	});
}

function applyTiles(entries) {
	if (!Array.isArray(entries))
		return;
	for (const entry of entries) {
		const i = entry?.tile;
		if (!Number.isInteger(i) || i < 0 || i >= MAX_TILES)
			continue;
		const tile = wall.tiles[i];
		const camera = typeof entry.camera === 'string' && entry.camera ? entry.camera : null;
		tile.server = {
			camera,
			name: entry.name || '',
			mid: entry.mid ?? null,
			state: entry.state || (camera ? 'connecting' : 'empty'),
			reason: entry.reason || '',
		};
		if (camera && entry.name)
			wall.names[camera] = entry.name;
		if (camera && TREE_STATE[entry.state])
			setTreeState(camera, TREE_STATE[entry.state]);
		if (tile.pending !== undefined && tile.pending !== camera)
			continue; /* an older view of a tile the operator just changed */
		tile.pending = undefined;
		if (i < wall.layout)
			tile.camera = camera;
	}
	save();
	renderTiles();
	bindVideos();
}

const handlers = {
	welcome(msg) {
		connection.ready = true;
		connection.attempt = 0;
		if (Array.isArray(msg.layouts)) {
			const offered = msg.layouts.filter((n) => LAYOUTS.includes(n));
			if (offered.length)
				wall.layouts = offered;
		}
		setConnectionBadge('live', 'connected');
		renderTiles();
	},
	offer(msg) {
		clearTimeout(connection.offerTimer);
		connection.offerTimer = null;
		if (typeof msg.sdp === 'string')
			answerOffer(msg.sdp);
	},
	tiles(msg) {
		applyTiles(msg.tiles);
	},
	error(msg) {
		notice(`Gateway refused: ${msg.message || msg.code}`);
		/* A refused set-tile or clear-tile will not be confirmed: show the server's view again. */
		if (['unknown-camera', 'bad-tile', 'bad-message'].includes(msg.code))
			for (const tile of wall.tiles)
				if (tile.pending !== undefined) {
					tile.pending = undefined;
					if (tile.server)
						tile.camera = tile.server.camera;
				}
		renderTiles();
	},
	pong() {
		connection.pongDue = 0;
	},
};

function receive(data) {
	let msg;
	try {
		msg = JSON.parse(data);
	} catch {
		return;
	}
	trace('<<', msg);
	const handler = msg && typeof msg.type === 'string' && Object.hasOwn(handlers, msg.type)
		? handlers[msg.type] : null;
	if (handler)
		handler(msg);
}

/* ---- Stats ------------------------------------------------------------------------------ */

/* inbound-rtp video reports by mid, and the round-trip time of the selected candidate pair. */
async function collectStats() {
	const pc = connection.pc;
	const byMid = new Map();
	let rtt = null;
	if (!pc)
		return { byMid, rtt };
	const midOfTrack = new Map();
	for (const transceiver of pc.getTransceivers())
		if (transceiver.mid != null && transceiver.receiver.track)
			midOfTrack.set(transceiver.receiver.track.id, transceiver.mid);
	const report = await pc.getStats();
	let pairId = null;
	report.forEach((s) => {
		if (s.type === 'inbound-rtp' && s.kind === 'video') {
			const mid = s.mid ?? midOfTrack.get(s.trackIdentifier);
			if (mid != null)
				byMid.set(String(mid), s);
		} else if (s.type === 'transport' && s.selectedCandidatePairId) {
			pairId = s.selectedCandidatePairId;
		}
	});
	const pair = pairId ? report.get(pairId) : null;
	if (pair && typeof pair.currentRoundTripTime === 'number')
		rtt = pair.currentRoundTripTime;
	return { byMid, rtt };
}

const previous = new Map(); /* mid -> {bytes, timestamp} for the bit rate */

function formatStats(s, rtt, mid) {
	if (!s || !s.framesDecoded)
		return 'no video';
	const last = previous.get(mid);
	let kbps = null;
	if (last && s.timestamp > last.timestamp)
		kbps = ((s.bytesReceived - last.bytes) * 8) / (s.timestamp - last.timestamp);
	previous.set(mid, { bytes: s.bytesReceived, timestamp: s.timestamp });
	const size = s.frameWidth ? `${s.frameWidth}×${s.frameHeight}` : '—';
	const fps = typeof s.framesPerSecond === 'number' ? `${s.framesPerSecond.toFixed(0)} fps` : '— fps';
	const rate = kbps === null ? '— kbit/s'
		: kbps >= 1000 ? `${(kbps / 1000).toFixed(2)} Mbit/s` : `${kbps.toFixed(0)} kbit/s`;
	const time = rtt === null ? '—' : `${(rtt * 1000).toFixed(0)} ms`;
	return `${size} · ${fps}\n${rate} · RTT ${time}`;
}

async function updateStats() {
	if (!wall.statsOn)
		return;
	const { byMid, rtt } = await collectStats();
	for (let i = 0; i < wall.layout; i++) {
		const tile = wall.tiles[i];
		const box = tile.el.querySelector('.tile-stats');
		const mid = tile.server?.mid;
		if (!shownCamera(tile) || mid == null) {
			box.textContent = '';
			continue;
		}
		box.textContent = formatStats(byMid.get(String(mid)), rtt, String(mid));
	}
}

function setStats(on) {
	wall.statsOn = on;
	$('#stats-toggle').setAttribute('aria-pressed', String(on));
	previous.clear();
	save();
	renderTiles();
	updateStats();
}

/* ---- Test hook and start ---------------------------------------------------------------- */

window.vlgWall = {
	/* [{tile, camera, state, mid, framesDecoded, width, height}] of the tiles shown. */
	async tiles() {
		const { byMid } = await collectStats();
		const out = [];
		for (let i = 0; i < wall.layout; i++) {
			const tile = wall.tiles[i];
			const mid = tile.server?.mid ?? null;
			const s = mid != null ? byMid.get(String(mid)) : undefined;
			out.push({
				tile: i,
				camera: shownCamera(tile),
				state: shownState(tile).state,
				mid,
				framesDecoded: s?.framesDecoded ?? 0,
				width: s?.frameWidth ?? 0,
				height: s?.frameHeight ?? 0,
			});
		}
		return out;
	},
	layout: () => wall.layout,
	connected: () => connection.ready,
	/* Connections lost (and started again) since the page loaded. */
	drops: () => connection.drops,
};

function start() {
	load();
	buildTiles();
	wall.selected = Math.max(0, firstEmptyTile());
	for (const button of document.querySelectorAll('.layout-button'))
		button.addEventListener('click', () => setLayout(Number(button.dataset.layout)));
	$('#stats-toggle').addEventListener('click', () => setStats(!wall.statsOn));
	$('#stats-toggle').setAttribute('aria-pressed', String(wall.statsOn));
	$('#tree').addEventListener('click', onTreeClick);
	$('#search-results').addEventListener('click', onTreeClick);
	$('#search').addEventListener('input', onSearchInput);
	$('#search').addEventListener('keydown', onSearchKey);
	setInterval(updateStats, STATS_EVERY_MS);
	setInterval(refreshTree, TREE_REFRESH_MS);
	renderTiles();
	loadRoot();
	connect();
}

start();
