// PSRT stats page, lower part: health numbers (`details`) and the client list (`clients`),
// polled every two seconds. Text is set with textContent only: addresses and user names are
// whatever clients sent.
(function () {
  'use strict';

  const POLL_MS = 2000;
  const MAX_ROWS = 200;
  const $ = (id) => document.getElementById(id);
  const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const fmtInt = (n) => (typeof n === 'number' && Number.isFinite(n) ? intFormat.format(n) : '—');

  function fmtBytes(n) {
    if (typeof n !== 'number') return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = n;
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
  }

  function fmtSince(ms) {
    const d = new Date(ms);
    const pad = (x) => String(x).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  async function get(url) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 2500);
    try {
      const res = await fetch(url, { cache: 'no-store', signal: ctl.signal });
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      return await res.json();
    } finally {
      clearTimeout(timer);
    }
  }

  function renderDetails(d) {
    $('h-slow').textContent = fmtInt(d.slow_disconnected);
    $('h-undeliverable').textContent = fmtInt(d.undeliverable);
    $('h-rejected').textContent = fmtInt(d.rejected_logins);
    $('h-queue').textContent = `${fmtInt(d.queue_depth_max)} / ${fmtInt(d.queue_depth_sum)}`;
    const u = d.udp;
    $('h-udp').textContent =
      u === null ? 'not bound' : `${fmtInt(u.received)} / ${fmtInt(u.accepted)} / ${fmtInt((u.received || 0) - (u.accepted || 0))}`;
    $('h-rss').textContent = fmtBytes(d.process.rss_bytes);
    const share = d.process.cpu_share;
    $('h-cpu').textContent = `${share === null ? '—' : `${(share * 100).toFixed(1)} %`} / ${d.process.cpu_seconds.toFixed(1)} s`;
  }

  function row(cells) {
    const tr = document.createElement('tr');
    for (const [text, cls] of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  }

  function fill(body, rows, emptyText, columns) {
    body.replaceChildren(...rows);
    if (rows.length === 0) {
      const tr = row([[emptyText, 'empty']]);
      tr.className = 'empty';
      tr.firstChild.colSpan = columns;
      body.append(tr);
    }
  }

  function renderClients(doc) {
    const queue = (q) => (q === null ? '—' : fmtInt(q));
    const clients = doc.clients.slice(0, MAX_ROWS).map((c) =>
      row([[c.address], [c.user], [c.protocol], [fmtInt(c.subscriptions), 'n'], [queue(c.queue), 'n'], [fmtSince(c.connected_since)]]),
    );
    fill($('clients-body'), clients, 'No clients.', 6);
    const shown = Math.min(doc.total, MAX_ROWS);
    $('clients-count').textContent = doc.total > shown ? `(${fmtInt(doc.total)}, oldest ${shown} shown)` : `(${fmtInt(doc.total)})`;
    const links = doc.replication.map((c) => row([[c.address], [c.user], [queue(c.queue), 'n'], [fmtSince(c.connected_since)]]));
    fill($('repl-body'), links, 'None.', 4);
  }

  async function tick() {
    await Promise.all([get('details').then(renderDetails), get('clients').then(renderClients)]).catch(() => {
      // Offline: stats.js shows it; the values stay dimmed until the server is back.
    });
    setTimeout(tick, POLL_MS);
  }

  void tick();
})();
