// PSRT topic explorer, topic model and tree view. Messages only update plain objects (a Map
// lookup, a ring-buffer slot, a Set insert); the DOM is touched once per animation frame, and
// only for rows that are on screen. Branches are collapsed below the first level and render
// at most MAX_ROWS children, so 10,000 topics never mean 10,000 DOM rows.
/* global TextDecoder */
(function () {
  'use strict';

  const HISTORY = 100;
  const MAX_ROWS = 400;
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  /** One level of the topic tree; `hasData` when a message arrived on exactly this topic. */
  class TopicNode {
    constructor(name, parent) {
      this.name = name;
      this.parent = parent;
      this.topic = parent === null ? '' : parent.parent === null ? name : `${parent.topic}/${name}`;
      this.depth = parent === null ? -1 : parent.depth + 1;
      this.children = null;
      this.leaves = 0;
      this.hasData = false;
      this.count = 0;
      this.window = 0;
      this.rate = 0;
      this.branchRate = 0;
      this.lastAt = 0;
      this.last = null;
      this.retained = false;
      this.hist = null;
      this.histNext = 0;
      this.open = parent === null;
      this.row = null;
    }

    /** Newest first. */
    history() {
      const out = [];
      if (this.hist === null) return out;
      for (let i = 1; i <= this.hist.length; i++) {
        const e = this.hist[(this.histNext - i + HISTORY * 2) % HISTORY];
        if (e !== undefined) out.push(e);
      }
      return out;
    }
  }

  /** Payload → { kind: 'json'|'text'|'hex', text }. */
  function formatPayload(bytes, mode, limit) {
    const cut = bytes.length > limit ? bytes.subarray(0, limit) : bytes;
    if (mode !== 'hex') {
      try {
        const text = utf8.decode(cut);
        if (mode === 'auto' && cut === bytes && /^\s*[[{]/.test(text)) {
          try {
            return { kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2) };
          } catch {
            // not JSON after all: shown as text
          }
        }
        return { kind: 'text', text: cut === bytes ? text : `${text}…` };
      } catch {
        if (mode === 'text') return { kind: 'text', text: '(not UTF-8)' };
      }
    }
    const parts = [];
    for (let i = 0; i < cut.length; i += 16) {
      const line = Array.from(cut.subarray(i, i + 16), (b) => b.toString(16).padStart(2, '0')).join(' ');
      parts.push(`${i.toString(16).padStart(6, '0')}  ${line}`);
    }
    return { kind: 'hex', text: parts.join('\n') + (cut === bytes ? '' : '\n…') };
  }

  /** A number when the payload is one (chartable), else NaN. */
  function numericValue(bytes) {
    if (bytes.length === 0 || bytes.length > 40) return NaN;
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(s) ? Number(s) : NaN;
  }

  /** One line for the tree: text or JSON squeezed, binary as bare hex bytes. */
  function preview(bytes) {
    const f = formatPayload(bytes, 'auto', 64);
    const text = f.kind === 'hex' ? f.text.replace(/^[0-9a-f]{6} {2}/gm, '') : f.text;
    return text.replace(/\s+/g, ' ');
  }

  function formatAge(ms) {
    if (ms < 1000) return 'now';
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m`;
    return `${Math.floor(s / 3600)}h`;
  }

  function formatRate(r) {
    if (r === 0) return '';
    return r >= 100 ? String(Math.round(r)) : r.toFixed(1);
  }

  class TopicTree {
    constructor(container, onSelect) {
      this.container = container;
      this.onSelect = onSelect;
      this.root = new TopicNode('', null);
      this.topics = new Map();
      this.dirty = new Set();
      this.structure = new Set();
      this.rendered = new Set();
      this.selected = null;
      this.filter = '';
      this.received = 0;
      container.addEventListener('click', (ev) => { this.onClick(ev); });
    }

    /** The per-message path: no DOM, no allocation beyond a new topic's node. */
    add(topic, payload, retained, now) {
      let node = this.topics.get(topic);
      if (node === undefined) node = this.insert(topic);
      node.count++;
      node.window++;
      node.last = payload;
      node.lastAt = now;
      node.retained = retained;
      if (node.hist === null) node.hist = [];
      node.hist[node.histNext] = { at: now, payload, retained };
      node.histNext = (node.histNext + 1) % HISTORY;
      this.received++;
      if (node.row !== null || node === this.selected) this.dirty.add(node);
    }

    insert(topic) {
      let node = this.root;
      for (const level of topic.split('/')) {
        if (node.children === null) node.children = new Map();
        let next = node.children.get(level);
        if (next === undefined) {
          next = new TopicNode(level, node);
          node.children.set(level, next);
          this.structure.add(node);
        }
        node = next;
      }
      node.hasData = true;
      this.topics.set(topic, node);
      for (let p = node.parent; p !== null; p = p.parent) {
        p.leaves++;
        if (p.row !== null) this.dirty.add(p);
      }
      return node;
    }

    clear() {
      this.root = new TopicNode('', null);
      this.topics.clear();
      this.dirty.clear();
      this.rendered.clear();
      this.selected = null;
      this.renderAll();
    }

    /** Once a second: msg/s per topic and per branch; every visible row refreshes its age. */
    tick(elapsedS) {
      for (const node of this.topics.values()) {
        node.rate = node.window / elapsedS;
        node.window = 0;
      }
      this.sumBranchRates(this.root);
      for (const node of this.rendered) this.dirty.add(node);
    }

    sumBranchRates(node) {
      let sum = node.hasData ? node.rate : 0;
      if (node.children !== null) for (const c of node.children.values()) sum += this.sumBranchRates(c);
      node.branchRate = sum;
      return sum;
    }

    /** Called once per animation frame with pending changes. */
    flush(now) {
      if (this.structure.size > 0) {
        document.getElementById('topic-count').textContent = String(this.topics.size);
        const branches = [...this.structure];
        this.structure.clear();
        if (this.filter !== '') this.renderAll();
        else for (const b of branches) this.restructure(b);
      }
      for (const node of this.dirty) if (node.row !== null) this.updateRow(node, now);
      const selectedChanged = this.selected !== null && this.dirty.has(this.selected);
      this.dirty.clear();
      return selectedChanged;
    }

    /** `branch` got a child: re-render it, or its parent when its row has no child holder yet. */
    restructure(branch) {
      if (branch === this.root) {
        this.renderChildren(branch);
        return;
      }
      if (branch.row === null) return;
      const holder = branch.row.nextSibling;
      if (holder === null || !holder.classList.contains('kids')) this.renderChildren(branch.parent);
      else if (branch.open) this.renderChildren(branch);
    }

    setFilter(text) {
      this.filter = text;
      this.renderAll();
    }

    renderAll() {
      for (const n of this.rendered) n.row = null;
      this.rendered.clear();
      this.container.textContent = '';
      if (this.filter === '') {
        this.root.row = null;
        this.renderChildren(this.root);
        return;
      }
      const frag = document.createDocumentFragment();
      let shown = 0;
      for (const [topic, node] of this.topics) {
        if (!topic.includes(this.filter)) continue;
        if (shown++ >= MAX_ROWS) continue;
        frag.append(this.makeRow(node, topic, 0));
      }
      if (shown > MAX_ROWS) frag.append(moreNote(shown - MAX_ROWS, 0));
      this.container.append(frag);
    }

    /** Replaces the rows below `branch` (its subtree) with its children, sorted by name. */
    renderChildren(branch) {
      const holder = branch === this.root ? this.container : branch.row?.nextSibling;
      if (holder === undefined || holder === null) return;
      this.clearRows(holder);
      if (branch.children === null) return;
      const names = [...branch.children.keys()].sort();
      const frag = document.createDocumentFragment();
      const now = Date.now();
      for (const name of names.slice(0, MAX_ROWS)) {
        const child = branch.children.get(name);
        frag.append(this.makeRow(child, name === '' ? '(empty)' : name, child.depth));
        this.updateRow(child, now);
        if (child.children !== null) {
          const kids = document.createElement('div');
          kids.className = 'kids';
          kids.hidden = !child.open;
          frag.append(kids);
        }
      }
      if (names.length > MAX_ROWS) frag.append(moreNote(names.length - MAX_ROWS, branch.depth + 1));
      holder.append(frag);
      for (const name of names.slice(0, MAX_ROWS)) {
        const child = branch.children.get(name);
        if (child.open && child.children !== null) this.renderChildren(child);
      }
    }

    clearRows(holder) {
      for (const old of holder.querySelectorAll('.row')) {
        const n = old.psrtNode;
        if (n !== undefined) {
          n.row = null;
          this.rendered.delete(n);
        }
      }
      holder.textContent = '';
    }

    makeRow(node, label, depth) {
      const row = document.createElement('div');
      row.className = node.children !== null && this.filter === '' ? 'row branch' : 'row';
      row.setAttribute('role', 'treeitem');
      row.dataset.topic = node.topic;
      row.style.paddingLeft = `${depth * 14}px`;
      row.innerHTML = '<span class="tw"></span><span class="name"></span><span class="stats"><span class="val"></span><span></span><span></span></span>';
      row.children[1].textContent = label;
      if (node === this.selected) row.classList.add('selected');
      row.psrtNode = node;
      node.row = row;
      this.rendered.add(node);
      return row;
    }

    updateRow(node, now) {
      const row = node.row;
      const [twist, name, stats] = row.children;
      if (node.children !== null && this.filter === '') {
        twist.textContent = node.open ? '▾' : '▸';
        name.dataset.count = `${node.leaves} topic${node.leaves === 1 ? '' : 's'}`;
      }
      const [val, rate, age] = stats.children;
      val.textContent = node.hasData ? preview(node.last) : '';
      rate.textContent = formatRate(node.children !== null && this.filter === '' ? node.branchRate : node.rate);
      age.textContent = node.hasData ? formatAge(now - node.lastAt) : '';
    }

    onClick(ev) {
      const row = ev.target.closest('.row');
      if (row === null || row.psrtNode === undefined) return;
      const node = row.psrtNode;
      if (node.children !== null && this.filter === '' && (ev.target.classList.contains('tw') || !node.hasData)) {
        node.open = !node.open;
        const kids = row.nextSibling;
        if (kids !== null && kids.classList.contains('kids')) {
          kids.hidden = !node.open;
          if (node.open) this.renderChildren(node);
          else this.clearRows(kids);
        }
        this.updateRow(node, Date.now());
        if (!node.hasData) return;
      }
      if (this.selected?.row) this.selected.row.classList.remove('selected');
      this.selected = node;
      row.classList.add('selected');
      this.onSelect(node);
    }

    /** Opens every branch on the way to `topic` (tests, deep links). */
    reveal(topic) {
      const node = this.topics.get(topic);
      if (node === undefined) return false;
      for (let p = node.parent; p !== null && p !== this.root; p = p.parent) p.open = true;
      this.renderAll();
      return true;
    }
  }

  function moreNote(n, depth) {
    const div = document.createElement('div');
    div.className = 'more';
    div.style.paddingLeft = `${depth * 14 + 18}px`;
    div.textContent = `… ${n} more (use the filter)`;
    return div;
  }

  window.PsrtExplorerTree = { TopicTree, formatPayload, numericValue, formatAge, HISTORY };
})();
