// SPDX-License-Identifier: LGPL-2.1-or-later
// The operator wall. Left: the org tree, fetched a level at a time (only expanded levels are in
// the DOM, so the city's 2,864 cameras never are at once), and a search box. Right: a wall of 1,
// 4, 9 or 16 tiles fed by ONE WebSocket to /ws/wall and ONE RTCPeerConnection, following
// gateway/wall-protocol.md: the server offers, the page answers; the `tiles` messages name each
// tile's transceiver by `mid`, and the page binds each tile's <video> to the track of that mid.
// The layout and the tiles persist in localStorage. window.vlgWall exposes the tiles for tests.
// Every request carries the screen's token (see "Token" below); without a valid one the page
// shows a panel asking for it instead of an empty wall.

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
const TOKEN_KEY = 'vlg-token';
/* The close code of a wall socket whose token the gateway refused (wall-protocol.md). */
const WS_CLOSE_UNAUTHORIZED = 4401;

const params = new URLSearchParams(location.search);
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
 * that tile is not shown. server is the tile's last `tiles` entry. refused is {camera, message}
 * when the gateway refused the last camera asked for on the tile (unknown, or outside this
 * screen's part of the tree: the gateway answers both alike); it stays until the operator acts.
 */
const wall = {
	layout: 4,
	layouts: LAYOUTS.slice(),
	selected: 0,
	names: {},
	tiles: Array.from({ length: MAX_TILES }, () => ({
		camera: null, pending: undefined, server: null, refused: null, el: null, video: null,
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

/* ---- Token ------------------------------------------------------------------------------ */

/*
 * Each screen has a token: the gateway shows it the org node the token names and what lies below.
 * The token comes in the URL fragment (#token=...), which browsers never send, so it stays out
 * of request lines and access logs. The page moves it to sessionStorage (this tab only, gone
 * with the tab; a reload keeps working) and takes it out of the address bar at once, so that it
 * is not bookmarked, left in the history or caught in a screenshot. The gateway checks the token
 * on every request; the page decodes its claims only to label the header and never trusts them.
 */
const auth = {
	token: null,
	claims: null, /* the decoded payload, for display */
	refused: false, /* the gateway refused auth.token: the panel is up */
};

function storedToken() {
	try {
		return sessionStorage.getItem(TOKEN_KEY);
	} catch {
		return null;
	}
}

/* The token in the fragment, if any, after taking it out of the address bar (and history). */
function takeTokenFromFragment() {
	const fragment = new URLSearchParams(location.hash.slice(1));
	const token = fragment.get('token');
	if (token === null)
		return null;
	fragment.delete('token');
	const rest = fragment.toString();
	const address = `${location.pathname}${location.search}${rest ? '#' + rest : ''}`;
	history.replaceState(history.state, '', address);
	return token.trim() || null;
}

/* What an operator pastes: the token, "Bearer TOKEN", or the whole link with #token=... */
function tokenFromText(text) {
	const link = text.match(/[#&?]token=([^&\s]+)/);
	let token = link ? link[1] : text.trim().replace(/^Bearer\s+/i, '');
	try {
		token = decodeURIComponent(token);
	} catch {
		/* A stray %: the server will judge the token as it is. */
	}
	return token || null;
}

/* The JWT's payload (base64url JSON), or null: display only, no verification. */
function decodeClaims(token) {
	try {
		const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
		const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
		const claims = JSON.parse(new TextDecoder().decode(bytes));
		return claims && typeof claims === 'object' ? claims : null;
	} catch {
		return null;
	}
}

function claim(name) {
	const value = auth.claims?.[name];
	return typeof value === 'string' || typeof value === 'number' ? value : null;
}

/* Header: the screen's node once the tree root is known, who the token names and its role. */
function showViewer(node) {
	const box = $('#viewer');
	const who = [claim('name'), claim('role')].filter((v) => v !== null).join(' · ');
	box.replaceChildren();
	if (node)
		box.append(element('span', 'viewer-node', node.name));
	if (who)
		box.append(element('span', 'viewer-who', who));
	const exp = claim('exp');
	const org = node?.code || claim('org');
	const until = typeof exp === 'number' && `token valid until ${new Date(exp * 1000).toLocaleString()}`;
	box.title = [org && `org ${org}`, until].filter(Boolean).join(', ');
	box.hidden = !box.childNodes.length;
	document.title = `${node ? node.name + ' · ' : ''}Video wall · linkage-gateway`;
}

function showTokenPanel(why) {
	setConnectionBadge('offline', 'no token');
	$('#token-reason').textContent = why;
	$('#token-panel').hidden = false;
	$('#main').hidden = true;
	$('#token-input').focus();
}

/* Starts the screen with `token`: tree and wall afresh (after a refusal or a new link). */
function useToken(token) {
	hangUp();
	auth.token = token;
	auth.claims = decodeClaims(token);
	auth.refused = false;
	try {
		sessionStorage.setItem(TOKEN_KEY, token);
	} catch {
		/* Storage denied: this load works, a reload will ask again. */
	}
	$('#token-panel').hidden = true;
	$('#main').hidden = false;
	showViewer(null);
	connection.attempt = 0;
	loadRoot();
	connect();
}

/*
 * The gateway refused `token` (a 401, or the wall socket's "unauthorized"): stop everything and
 * ask for another one. A late answer about a token already replaced changes nothing.
 */
function refuseToken(why, token = auth.token) {
	if (token !== auth.token || auth.refused)
		return;
	auth.refused = true;
	try {
		sessionStorage.removeItem(TOKEN_KEY);
	} catch {
		/* Nothing stored. */
	}
	hangUp();
	$('#tree').replaceChildren();
	$('#search-results').hidden = true;
	const exp = claim('exp');
	const expired = typeof exp === 'number' && exp * 1000 < Date.now()
		? ` It expired at ${new Date(exp * 1000).toLocaleString()}.` : '';
	showTokenPanel(`The gateway refused the token: ${why}.${expired}`);
}

function onTokenSubmit(event) {
	event.preventDefault();
	const input = $('#token-input');
	const token = tokenFromText(input.value);
	if (!token) {
		$('#token-reason').textContent = 'Paste a token (or the link with #token=…) first.';
		return;
	}
	input.value = '';
	useToken(token);
}

/* A new #token= link opened in this tab changes only the fragment: no reload happens. */
function onHashChange() {
	const token = takeTokenFromFragment();
	if (token)
		useToken(token);
}

/* ---- HTTP API --------------------------------------------------------------------------- */

async function api(path) {
	const token = auth.token;
	if (!token || auth.refused)
		throw new Error('no token');
	const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
	let body = null;
	try {
		body = await response.json();
	} catch {
		/* Not JSON: reported below by status. */
	}
	if (response.status === 401)
		refuseToken(body?.error?.message || 'not authorised', token);
	if (!response.ok) {
		const error = new Error(body?.error?.message || `${response.status} ${response.statusText}`);
		error.status = response.status;
		throw error;
	}
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
	const token = auth.token;
	try {
		/* The root is the token's own node: a street screen never sees the city above it. */
		const reply = await api('/api/v1/org');
		if (token !== auth.token)
			return; /* a newer token loads its own tree */
		const li = nodeItem(reply.node);
		li.setAttribute('aria-expanded', 'true');
		const list = element('ul');
		list.setAttribute('role', 'group');
		fillLevel(list, reply);
		li.append(list);
		top.replaceChildren(li);
		showViewer(reply.node);
	} catch (error) {
		if (auth.refused || token !== auth.token)
			return; /* the token panel says why, or a newer token loads its own tree */
		if (error.status === 404) {
			/* A valid token for a node this gateway does not serve (another city). */
			const org = claim('org') || '';
			top.replaceChildren(message(`This screen's node ${org} is not in this gateway's catalogue`, true));
			return;
		}
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
		el.classList.toggle('refused', !!tile.refused);
		el.querySelector('.tile-reason').textContent = tile.refused
			? `${tile.refused.camera}: not available on this screen (${tile.refused.message})`
			: state === 'live' ? '' : reason;
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
	tile.refused = null;
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
		wall.tiles[i].refused = null;
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
	if (!auth.token || auth.refused)
		return;
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
		/* The first message must carry the token, or the gateway closes the socket with 4401. */
		const tiles = helloTiles();
		send({ type: 'hello', token: auth.token, layout: wall.layout, tiles });
		/* Like a set-tile, each camera of the hello waits for the gateway's word (it may refuse). */
		for (const { tile, camera } of tiles)
			wall.tiles[tile].pending = camera;
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
		if (connection.ws !== ws)
			return;
		/* Usually the `error` message before the close has refused the token already. */
		if (event.code === WS_CLOSE_UNAUTHORIZED)
			refuseToken(event.reason || 'unauthorized');
		else
			dropConnection(`connection closed${event.code ? ` (${event.code}${event.reason ? ': ' + event.reason : ''})` : ''}`);
	});
	/* 'error' is always followed by 'close'. */
}

/* Ends the current socket and PeerConnection (idempotent) and plans the next attempt. */
function dropConnection(why) {
	closeConnection();
	connection.drops++;
	scheduleReconnect(why);
}

/* Ends the current socket and PeerConnection and plans nothing (the token was refused). */
function hangUp() {
	clearTimeout(connection.reconnectTimer);
	connection.reconnectTimer = null;
	closeConnection();
}

function closeConnection() {
	const ws = connection.ws;
	connection.ws = null;
	connection.ready = false;
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
		if (camera && camera === tile.refused?.camera)
			tile.refused = null; /* not refused after all: another pending tile was */
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
		if (msg.code === 'unauthorized') {
			/* The socket closes with 4401 next; nothing else will work with this token. */
			refuseToken(msg.message || 'unauthorized');
			return;
		}
		notice(`Gateway refused: ${msg.message || msg.code}`);
		/* A refused set-tile or clear-tile will not be confirmed: show the server's view again.
		   The error does not name the tile: every pending camera is marked refused, and a
		   `tiles` message that confirms one of them takes the mark off again. */
		if (['unknown-camera', 'bad-tile', 'bad-message'].includes(msg.code))
			for (const tile of wall.tiles)
				if (tile.pending !== undefined) {
					if (msg.code === 'unknown-camera' && tile.pending)
						tile.refused = { camera: tile.pending, message: msg.message || msg.code };
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
				refused: tile.refused?.camera ?? null,
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
	$('#token-form').addEventListener('submit', onTokenSubmit);
	window.addEventListener('hashchange', onHashChange);
	setInterval(updateStats, STATS_EVERY_MS);
	setInterval(refreshTree, TREE_REFRESH_MS);
	renderTiles();
	/* A link's token wins over the one this tab had. */
	const token = takeTokenFromFragment() || storedToken();
	if (token)
		useToken(token);
	else
		showTokenPanel('No token was given: this page was opened without its #token=… link.');
}

start();
