// PSRT stats page: polls `status` and `topics` (relative URLs) once a second and renders
// counters, rates, charts of the last minutes and the busiest topics. Plain browser script, no
// build step; Chart.js (served by psrtd as chart.min.js) is optional: without it the page
// still shows every number.
(function () {
  'use strict';

  const POLL_MS = 1000;
  const FETCH_TIMEOUT_MS = 2500;
  /** Chart window: one sample per poll, so 300 samples = the last five minutes. */
  const HISTORY = 300;
  const TOPICS_LIMIT = 15;
  /** The reference's counters are u64 and wrap; a decrease means wrap-around. */
  const WRAP = 2 ** 64;

  const state = {
    /** Previous /status document (rates are computed against it). */
    prev: null,
    by: 'messages',
    topicsAvailable: true,
    /** topic → { messages, bytes, time } from the previous /topics poll. */
    topicsPrev: new Map(),
    charts: null,
    lastOk: 0,
  };

  const $ = (id) => document.getElementById(id);

  // ---- formatting ------------------------------------------------------------------------

  const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const fmtInt = (n) => intFormat.format(n);

  function fmtRate(n) {
    if (n === null || !Number.isFinite(n)) return '—';
    if (n === 0) return '0';
    if (n >= 100) return fmtInt(Math.round(n));
    return n >= 10 ? n.toFixed(1) : n.toFixed(2);
  }

  const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

  /** [number text, unit] in base 1024. */
  function bytesParts(n) {
    if (n === null || !Number.isFinite(n)) return ['—', 'B'];
    let i = 0;
    while (n >= 1024 && i < BYTE_UNITS.length - 1) {
      n /= 1024;
      i++;
    }
    if (i === 0) return [fmtInt(Math.round(n)), 'B'];
    return [n >= 100 ? n.toFixed(0) : n.toFixed(1), BYTE_UNITS[i]];
  }

  const fmtBytes = (n) => bytesParts(n).join(' ');

  function fmtUptime(s) {
    const d = Math.floor(s / 86400);
    const pad = (x) => String(x).padStart(2, '0');
    const hms = `${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
    return d > 0 ? `${d}d ${hms}` : hms;
  }

  const clockLabel = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

  /** Local `YYYY-MM-DD HH:MM:SS`: short enough for the info strip, unambiguous everywhere. */
  function fmtDateTime(ms) {
    const d = new Date(ms);
    const p = (x) => String(x).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  /** Axis ticks: compact (80, 1.2K, 3M). */
  const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
  const fmtTick = (n) => compact.format(n);

  function delta(cur, prev) {
    return cur >= prev ? cur - prev : WRAP - prev + cur;
  }

  // ---- fetching --------------------------------------------------------------------------

  async function fetchJson(url) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    try {
      const res = await fetch(url, { cache: 'no-store', signal: ctl.signal });
      if (!res.ok) {
        const err = new Error(`${url}: HTTP ${res.status}`);
        err.status = res.status;
        throw err;
      }
      return await res.json();
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- status ----------------------------------------------------------------------------

  function setConnection(s) {
    const pill = $('status');
    pill.dataset.state = s;
    pill.textContent = s === 'connecting' ? 'connecting…' : s;
    document.body.className = `state-${s}`;
  }

  function computeRates(prev, cur) {
    const dt = (cur.time - prev.time) / 1e6;
    const d = {};
    for (const k of Object.keys(cur.counters)) d[k] = delta(cur.counters[k], prev.counters[k] || 0);
    const per = (k) => d[k] / dt;
    return {
      c_sub_ops: per('c_sub_ops'),
      c_pub_messages: per('c_pub_messages'),
      c_pub_bytes: per('c_pub_bytes'),
      c_sent_messages: per('c_sent_messages'),
      c_sent_bytes: per('c_sent_bytes'),
      // Average latency per message sent in the interval, not a rate.
      // No message sent: no latency to show ("—" and a gap), not 0 µs.
      c_sent_latency: d.c_sent_messages > 0 ? d.c_sent_latency / d.c_sent_messages : null,
    };
  }

  function renderInfo(st) {
    $('topbar-host').textContent = st.host;
    $('info-host').textContent = st.host;
    $('info-uptime').textContent = fmtUptime(st.uptime);
    $('info-uptime').title = `${fmtInt(st.uptime)} s`;
    $('info-version').textContent = st.version;
    $('info-queue').textContent = fmtInt(st.data_queue_size);
    $('info-queue').title = 'data_queue: messages per data-socket queue';
    $('info-time').textContent = fmtDateTime(st.time / 1000);
    $('info-time').title = new Date(st.time / 1000).toString();
    $('info-updated').textContent = clockLabel(Date.now());
    document.title = `PSRT stats · ${st.host}`;
  }

  function setKpi(key, num, unit, total) {
    const el = document.querySelector(`[data-counter="${key}"], [data-gauge="${key}"]`);
    el.querySelector('.num').textContent = num;
    if (unit !== null) el.querySelector('.unit').textContent = unit;
    el.querySelector('.total').textContent = total;
  }

  function renderKpis(st, rates) {
    const c = st.counters;
    const r = (k) => (rates === null ? null : rates[k]);
    setKpi('c_pub_messages', fmtRate(r('c_pub_messages')), null, `${fmtInt(c.c_pub_messages)} total`);
    setKpi('c_sent_messages', fmtRate(r('c_sent_messages')), null, `${fmtInt(c.c_sent_messages)} total`);
    setKpi('c_sub_ops', fmtRate(r('c_sub_ops')), null, `${fmtInt(c.c_sub_ops)} total`);
    for (const k of ['c_pub_bytes', 'c_sent_bytes']) {
      const [num, unit] = bytesParts(r(k));
      setKpi(k, num, `${unit}/s`, `${fmtBytes(c[k])} total (${fmtInt(c[k])} B)`);
    }
    setKpi('c_sent_latency', fmtRate(r('c_sent_latency')), null, `${fmtInt(c.c_sent_latency)} µs total`);
    setKpi('client_count', fmtInt(st.clients.client_count), null, 'control sessions');
    setKpi('subscription_count', fmtInt(st.clients.subscription_count), null, 'distinct topic masks');
  }

  function renderCluster(cluster) {
    const none = cluster === null || typeof cluster !== 'object';
    $('cluster-none').hidden = !none;
    $('cluster-table').hidden = none;
    if (none) return;
    const body = $('cluster-body');
    body.replaceChildren();
    for (const node of Object.keys(cluster).sort()) {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      name.textContent = node;
      const st = document.createElement('td');
      st.textContent = cluster[node];
      st.className = `node-state ${String(cluster[node]).replace(/[^a-z]/g, '')}`;
      tr.append(name, st);
      body.append(tr);
    }
  }

  /** Bridges (present in /status only while some are configured), with rates since the last poll. */
  function renderBridges(st, prev) {
    const bridges = st.bridges;
    const none = bridges === undefined || bridges === null || typeof bridges !== 'object';
    $('bridges-card').hidden = none;
    if (none) return;
    const seconds = prev === null ? 0 : (st.time - prev.time) / 1e6;
    const rate = (name, key) => {
      const before = prev !== null && prev.bridges ? prev.bridges[name] : undefined;
      if (before === undefined || seconds <= 0 || bridges[name][key] < before[key]) return null;
      return (bridges[name][key] - before[key]) / seconds;
    };
    const body = $('bridges-body');
    body.replaceChildren();
    for (const name of Object.keys(bridges).sort()) {
      const b = bridges[name];
      const cells = [
        `${name} (${b.type})`, b.state, b.server, fmtRate(rate(name, 'exported')), fmtRate(rate(name, 'imported')),
        `${fmtInt(b.buffered)} (${fmtBytes(b.buffered_bytes)})`, fmtInt(b.dropped), fmtInt(b.unmappable),
      ];
      const tr = document.createElement('tr');
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (i === 1) td.className = `node-state ${String(b.state).replace(/[^a-z]/g, '')}`;
        if (i >= 3) td.className = 'n';
        tr.append(td);
      });
      body.append(tr);
    }
  }

  /** When the server started (s since the epoch), to within the second `uptime` is cut to. */
  const startedAt = (st) => st.time / 1e6 - st.uptime;

  /**
   * `cur` continues `prev`'s counters: the same server run (its start time did not move: a
   * restarted psrtd's counters began again at 0, and a smaller uptime alone misses a run shorter
   * than the poll gap) on a clock that went forward (a clock stepped back gives no rate).
   */
  function continues(prev, cur) {
    return cur.time > prev.time && cur.uptime >= prev.uptime && Math.abs(startedAt(cur) - startedAt(prev)) < 1.5;
  }

  function onStatus(st) {
    const prev = state.prev;
    renderInfo(st);
    renderCluster(st.cluster);
    renderBridges(st, prev);
    // Same `time` as last poll (cached or duplicated answer): nothing new to show.
    if (prev !== null && st.time === prev.time) return;
    // Restarted or clock stepped: show the new totals and skip this interval's rates.
    const rates = prev !== null && continues(prev, st) ? computeRates(prev, st) : null;
    renderKpis(st, rates);
    if (prev !== null) pushSample(rates); // the first poll has nothing to compare with
    state.prev = st;
  }

  async function pollStatus() {
    try {
      const st = await fetchJson('status');
      state.lastOk = Date.now();
      setConnection('online');
      onStatus(st);
    } catch {
      setConnection('offline');
      pushSample(null); // a gap in the charts while the server is away
    }
  }

  // ---- charts ----------------------------------------------------------------------------

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function withAlpha(color, a) {
    const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
    if (m === null) return color;
    return `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${a})`;
  }

  const CHARTS = [
    { id: 'chart-messages', series: [['published', 'c_pub_messages', '--series-1'], ['sent', 'c_sent_messages', '--series-2']], tick: fmtTick, value: fmtRate },
    { id: 'chart-bytes', series: [['published', 'c_pub_bytes', '--series-1'], ['sent', 'c_sent_bytes', '--series-2']], tick: fmtBytes, value: fmtBytes },
    { id: 'chart-subops', series: [['sub / unsub', 'c_sub_ops', '--series-3']], tick: fmtTick, value: fmtRate },
    { id: 'chart-latency', series: [['avg latency', 'c_sent_latency', '--series-4']], tick: (v) => `${fmtTick(v)} µs`, value: (v) => `${fmtRate(v)} µs` },
  ];

  function makeChart(spec) {
    // Pre-filled window (times of the past HISTORY polls) so the axis shows the full span at once.
    const now = Date.now();
    const labels = Array.from({ length: HISTORY }, (_, i) => clockLabel(now - (HISTORY - i) * POLL_MS));
    const datasets = spec.series.map(([label, key]) => ({
      label,
      key,
      data: new Array(HISTORY).fill(null),
      fill: true,
      tension: 0.25,
      pointRadius: 0,
      borderWidth: 1.5,
    }));
    return new window.Chart($(spec.id), {
      type: 'line',
      data: { labels, datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: { ticks: { maxTicksLimit: 6, maxRotation: 0, autoSkip: true }, grid: { display: false } },
          y: { beginAtZero: true, ticks: { maxTicksLimit: 5, precision: 0, callback: (v) => spec.tick(v) } },
        },
        plugins: {
          legend: { display: spec.series.length > 1, align: 'end', labels: { usePointStyle: true, pointStyle: 'line' } },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${spec.value(ctx.parsed.y)}` } },
        },
      },
    });
  }

  /** Colours come from the CSS variables, re-read whenever the colour scheme changes. */
  function applyTheme() {
    if (state.charts === null) return;
    const text = cssVar('--muted');
    const grid = cssVar('--grid');
    CHARTS.forEach((spec, i) => {
      const chart = state.charts[i];
      chart.data.datasets.forEach((ds, j) => {
        const color = cssVar(spec.series[j][2]);
        ds.borderColor = color;
        ds.backgroundColor = withAlpha(color, 0.12);
      });
      chart.options.scales.x.ticks.color = text;
      chart.options.scales.y.ticks.color = text;
      chart.options.scales.y.grid.color = grid;
      chart.options.plugins.legend.labels.color = text;
      chart.update('none');
    });
  }

  function initCharts() {
    if (typeof window.Chart === 'undefined') {
      $('charts-missing').hidden = false;
      return;
    }
    state.charts = CHARTS.map(makeChart);
    applyTheme();
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);
  }

  function pushSample(rates, atMs) {
    if (state.charts === null) return;
    const label = clockLabel(atMs === undefined ? Date.now() : atMs);
    for (const chart of state.charts) {
      chart.data.labels.push(label);
      chart.data.labels.shift();
      for (const ds of chart.data.datasets) {
        ds.data.push(rates === null ? null : rates[ds.key]);
        ds.data.shift();
      }
      chart.update('none');
    }
  }

  // ---- top topics ------------------------------------------------------------------------

  function topicRate(t, now) {
    const p = state.topicsPrev.get(t.topic);
    if (p === undefined || now <= p.time || t.messages < p.messages) return null; // new or evicted
    const dt = (now - p.time) / 1e6;
    return { messages: (t.messages - p.messages) / dt, bytes: (t.bytes - p.bytes) / dt };
  }

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function renderTopics(doc) {
    const body = $('topics-body');
    body.replaceChildren();
    if (doc.topics.length === 0) {
      const tr = document.createElement('tr');
      tr.className = 'empty';
      tr.append(cell('No topics published yet.'));
      tr.firstChild.colSpan = 7;
      body.append(tr);
    }
    const key = doc.by;
    const total = doc.topics.reduce((s, t) => s + t[key], 0) || 1;
    const max = doc.topics.reduce((m, t) => Math.max(m, t[key]), 0) || 1;
    doc.topics.forEach((t, i) => {
      const rate = topicRate(t, doc.time);
      const tr = document.createElement('tr');
      const share = document.createElement('td');
      share.className = 'share';
      share.title = `${((t[key] / total) * 100).toFixed(1)} % of the listed ${key}`;
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${(t[key] / max) * 100}%`;
      share.append(bar);
      tr.append(
        cell(String(i + 1), 'rank'),
        cell(t.topic, 'topic'),
        cell(fmtInt(t.messages), 'n'),
        cell(rate === null ? '–' : fmtRate(rate.messages), 'n'),
        cell(fmtBytes(t.bytes), 'n'),
        cell(rate === null ? '–' : fmtBytes(rate.bytes), 'n'),
        share,
      );
      body.append(tr);
    });
    state.topicsPrev = new Map(doc.topics.map((t) => [t.topic, { messages: t.messages, bytes: t.bytes, time: doc.time }]));
  }

  async function pollTopics() {
    if (!state.topicsAvailable) return;
    try {
      renderTopics(await fetchJson(`topics?limit=${TOPICS_LIMIT}&by=${state.by}`));
    } catch (e) {
      if (e.status === 404) {
        // A server without /topics (e.g. the reference psrtd): say so instead of an empty table.
        state.topicsAvailable = false;
        $('topics-body').replaceChildren();
        const tr = document.createElement('tr');
        tr.className = 'empty';
        tr.append(cell('This server does not publish topic statistics.'));
        tr.firstChild.colSpan = 7;
        $('topics-body').append(tr);
      }
      // Other failures: pollStatus reports the server as offline.
    }
  }

  function setSort(by) {
    state.by = by;
    for (const [id, value] of [['by-messages', 'messages'], ['by-bytes', 'bytes']]) {
      $(id).classList.toggle('active', value === by);
      $(id).setAttribute('aria-pressed', String(value === by));
    }
    void pollTopics();
  }

  // ---- main loop -------------------------------------------------------------------------

  /** The server's last minutes (/history), so the charts are full at once. */
  async function loadHistory() {
    try {
      const h = await fetchJson('history');
      const samples = h.samples.slice(-(HISTORY + 1));
      for (let i = 1; i < samples.length; i++) {
        pushSample(computeRates(samples[i - 1], samples[i]), samples[i].time / 1000);
      }
    } catch {
      // Older server or offline: the charts fill as polls arrive.
    }
  }

  async function tick() {
    const started = Date.now();
    await Promise.all([pollStatus(), pollTopics()]);
    setTimeout(tick, Math.max(0, POLL_MS - (Date.now() - started)));
  }

  $('by-messages').addEventListener('click', () => setSort('messages'));
  $('by-bytes').addEventListener('click', () => setSort('bytes'));
  initCharts();
  void loadHistory().then(tick);
})();
