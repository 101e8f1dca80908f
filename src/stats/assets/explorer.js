// PSRT topic explorer: logs in to psrtd's MQTT over WebSocket listener with MQTT.js (served
// by psrtd as mqtt.min.js), subscribes to masks, and shows live topics (explorer-tree.js),
// the selected topic's recent messages with a chart of numeric values, and publishes. The
// broker applies the user's ACL; denials are shown as the broker reports them.
/* global location, mqtt, requestAnimationFrame, setInterval, performance */
(function () {
  'use strict';

  const { TopicTree, formatPayload, numericValue } = window.PsrtExplorerTree;
  const DETAIL_MIN_MS = 250;
  const $ = (id) => document.getElementById(id);

  const state = {
    client: null,
    subs: new Map(),
    frame: false,
    lastTick: performance.now(),
    lastReceived: 0,
    lastDetail: 0,
    fmt: 'auto',
  };
  const tree = new TopicTree($('tree'), () => { renderDetail(); });

  function notice(text, info = false) {
    const n = $('notice');
    n.textContent = text;
    n.className = info ? 'notice info' : 'notice';
  }

  function setConnected(on, text) {
    document.body.dataset.state = on ? 'connected' : 'disconnected';
    $('status').textContent = text;
    $('connect').disabled = on;
    $('disconnect').disabled = !on;
    $('subscribe').disabled = !on;
    $('publish').disabled = !on;
  }

  // ---- connection ------------------------------------------------------------------------

  /** Default URL: the first WebSocket listener psrtd reports, on the host the page came from. */
  async function defaultUrl() {
    const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
    try {
      const res = await fetch('config.json', { cache: 'no-store' });
      const cfg = await res.json();
      const l = cfg.listeners.find((x) => x.tls === (location.protocol === 'https:')) ?? cfg.listeners[0];
      if (l !== undefined) return `${l.tls ? 'wss' : 'ws'}://${host}:${l.port}${cfg.path}`;
    } catch {
      // psrtd without a WebSocket listener, or behind a proxy: the user types the URL
    }
    return `ws://${host}:9001/mqtt`;
  }

  function connect(ev) {
    ev.preventDefault();
    if (typeof mqtt === 'undefined') {
      notice('mqtt.min.js did not load: psrtd could not find the MQTT.js browser build');
      return;
    }
    disconnect();
    const user = $('user').value;
    const options = {
      protocolVersion: 5,
      clientId: `explorer-${Math.random().toString(16).slice(2, 10)}`,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 8000,
      keepalive: 30,
    };
    if (user !== '') {
      options.username = user;
      options.password = $('password').value;
    }
    notice('connecting…', true);
    const client = mqtt.connect($('url').value, options);
    state.client = client;
    client.on('connect', () => {
      setConnected(true, `connected as ${user === '' ? 'anonymous' : user}`);
      notice('', true);
      for (const mask of state.subs.keys()) subscribe(mask);
    });
    client.on('message', (topic, payload, packet) => {
      tree.add(topic, payload, packet.retain, Date.now());
      schedule();
    });
    client.on('error', (e) => { notice(`connection: ${e.message}`); });
    client.on('close', () => {
      if (state.client === client) setConnected(false, 'disconnected');
    });
  }

  function disconnect() {
    const c = state.client;
    state.client = null;
    if (c !== null) c.end(true);
    setConnected(false, 'disconnected');
  }

  // ---- subscriptions ---------------------------------------------------------------------

  function subscribe(mask) {
    if (!state.subs.has(mask)) state.subs.set(mask, 'pending');
    renderSubs();
    state.client?.subscribe(mask, { qos: 0 }, (err, granted) => {
      const code = granted?.[0]?.qos ?? 0;
      if (err || code >= 0x80) {
        state.subs.set(mask, 'denied');
        notice(`subscribe ${mask}: denied (${err ? err.message : `reason 0x${code.toString(16)}`})`);
      } else {
        state.subs.set(mask, 'ok');
      }
      renderSubs();
    });
  }

  function unsubscribe(mask) {
    state.subs.delete(mask);
    state.client?.unsubscribe(mask);
    renderSubs();
  }

  function renderSubs() {
    const ul = $('subs');
    ul.textContent = '';
    for (const [mask, st] of state.subs) {
      const li = document.createElement('li');
      li.className = st;
      li.dataset.mask = mask;
      li.title = st === 'denied' ? 'denied by the ACL' : st;
      li.textContent = mask;
      const x = document.createElement('button');
      x.type = 'button';
      x.textContent = '×';
      x.title = `unsubscribe ${mask}`;
      x.addEventListener('click', () => { unsubscribe(mask); });
      li.append(x);
      ul.append(li);
    }
  }

  // ---- publish ---------------------------------------------------------------------------

  function publish(ev) {
    ev.preventDefault();
    const out = $('pub-result');
    const topic = $('pub-topic').value;
    const qos = Number($('pub-qos').value);
    const opts = { qos, retain: $('pub-retain').checked };
    out.className = 'pub-result';
    out.textContent = 'publishing…';
    state.client?.publish(topic, $('pub-payload').value, opts, (err, packet) => {
      const code = packet?.reasonCode ?? 0;
      if (err || code >= 0x80) {
        out.className = 'pub-result bad';
        out.textContent = `denied: ${err ? err.message : `reason 0x${code.toString(16)}`}`;
      } else {
        out.className = 'pub-result ok';
        out.textContent = qos === 0 ? 'sent (QoS 0: no acknowledgement)' : 'published';
      }
    });
  }

  // ---- selected topic --------------------------------------------------------------------

  function renderDetail() {
    const node = tree.selected;
    state.lastDetail = performance.now();
    if (node === null) return;
    $('detail-topic').textContent = node.topic;
    $('pub-topic').value ||= node.topic;
    $('detail-meta').textContent = `${node.count} messages · ${node.rate.toFixed(1)} msg/s${node.retained ? ' · retained' : ''}`;
    const hist = node.history();
    const list = $('history');
    const frag = document.createDocumentFragment();
    for (const m of hist.slice(0, 50)) {
      const li = document.createElement('li');
      const time = document.createElement('time');
      time.textContent = new Date(m.at).toLocaleTimeString() + (m.retained ? ' (retained)' : '');
      const shown = formatPayload(m.payload, state.fmt, 4096);
      const pre = document.createElement('pre');
      pre.className = shown.kind;
      pre.textContent = shown.text;
      li.append(time, document.createTextNode(shown.kind), pre);
      frag.append(li);
    }
    list.textContent = '';
    list.append(frag);
    drawChart(hist);
  }

  function drawChart(hist) {
    const canvas = $('chart');
    const points = [];
    for (let i = hist.length - 1; i >= 0; i--) {
      const v = numericValue(hist[i].payload);
      if (Number.isFinite(v)) points.push([hist[i].at, v]);
    }
    canvas.hidden = points.length < 2;
    if (canvas.hidden) return;
    const ctx = canvas.getContext('2d');
    const w = canvas.width, h = canvas.height, pad = 18;
    const t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
    let lo = Infinity, hi = -Infinity;
    for (const [, v] of points) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (hi === lo) { hi += 1; lo -= 1; }
    const style = window.getComputedStyle(document.body);
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = style.color;
    ctx.font = '11px sans-serif';
    ctx.fillText(String(hi), 2, 11);
    ctx.fillText(String(lo), 2, h - 3);
    ctx.strokeStyle = style.getPropertyValue('--accent') || '#2358d9';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach(([t, v], i) => {
      const x = pad + ((t - t0) / Math.max(1, t1 - t0)) * (w - 2 * pad);
      const y = h - pad - ((v - lo) / (hi - lo)) * (h - 2 * pad);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }

  // ---- frame loop ------------------------------------------------------------------------

  function schedule() {
    if (state.frame) return;
    state.frame = true;
    requestAnimationFrame(onFrame);
  }

  /** All DOM work happens here, at most once per frame. */
  function onFrame() {
    state.frame = false;
    const now = performance.now();
    const selectedChanged = tree.flush(Date.now());
    if (selectedChanged && now - state.lastDetail >= DETAIL_MIN_MS) renderDetail();
    else if (selectedChanged) schedule();
  }

  function tick() {
    const now = performance.now();
    const elapsed = Math.max(0.001, (now - state.lastTick) / 1000);
    state.lastTick = now;
    tree.tick(elapsed);
    $('topic-count').textContent = String(tree.topics.size);
    $('msg-rate').textContent = String(Math.round((tree.received - state.lastReceived) / elapsed));
    state.lastReceived = tree.received;
    if (tree.selected !== null) tree.dirty.add(tree.selected);
    schedule();
  }

  // ---- start -----------------------------------------------------------------------------

  $('login-form').addEventListener('submit', connect);
  $('disconnect').addEventListener('click', disconnect);
  $('sub-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const mask = $('mask').value.trim();
    if (mask !== '') subscribe(mask);
  });
  $('pub-form').addEventListener('submit', publish);
  $('filter').addEventListener('input', (ev) => { tree.setFilter(ev.target.value); });
  for (const r of document.querySelectorAll('input[name=fmt]')) {
    r.addEventListener('change', () => { state.fmt = r.value; renderDetail(); });
  }
  setInterval(tick, 1000);
  defaultUrl().then((url) => { if ($('url').value === '') $('url').value = url; });
  // For tests and the performance script: read-only numbers.
  window.psrtExplorer = {
    topics: () => tree.topics.size,
    received: () => tree.received,
    reveal: (topic) => tree.reveal(topic),
    select: (topic) => {
      if (!tree.reveal(topic)) return false;
      tree.topics.get(topic)?.row?.querySelector('.name')?.click();
      return true;
    },
  };
})();
