/* postern master dashboard: plain ES2020, no dependencies.
 * Every string that comes from the API reaches the DOM through textContent only. */
'use strict';
(() => {
  const meta = document.querySelector('meta[name="postern-prefix"]');
  const PREFIX = ((meta && meta.content) || '/api').replace(/\/+$/, '');
  const API = PREFIX + '/v1';
  const KEY_SLOT = 'postern.key';
  const POINTS = 300;            // chart points, whatever the span
  // chart spans (seconds): x-axis tick every `tick` s, labelled in `unit` s called `name`
  const RANGES = {
    300: { tick: 60, unit: 60, name: 'min', label: 'last 5 minutes' },
    3600: { tick: 600, unit: 60, name: 'min', label: 'last hour' },
    86400: { tick: 14400, unit: 3600, name: 'h', label: 'last 24 hours' },
  };
  const LOG_MAX = 1000;          // lines kept in the log panel
  const STALL_MS = 45000;        // no byte (not even a keepalive) for this long: reconnect
  const HUB_POLL_MS = 5000;      // the hub panel reloads at least this often
  const HUB_GAP_MS = 1000;       // and at most this often (`hub` events come every report interval)
  const $ = (id) => document.getElementById(id);

  const st = {
    key: null,
    inst: new Map(),             // id -> Instance
    rows: new Map(),             // id -> row parts
    hist: new Map(),             // id -> {t, rx, tx, since, rx0, tx0, past, bins: Map<sec, [rx, tx]>}
    total: new Map(),            // sec -> [rx, tx], every instance summed
    range: 300,                  // the chart's span, seconds (a key of RANGES)
    histGen: 0,                  // the history load in flight (a newer one wins)
    chartId: '',
    log: { id: null, loading: false, queue: [] },
    hub: { id: null, poll: 0, timer: 0, busy: false, again: false, last: 0 },
    info: null, infoAt: 0,
    stream: { gen: 0, ctrl: null, timer: 0, retry: 3000, live: false, last: 0, shutdown: false },
    sync: null,
    ticker: 0, infoTimer: 0,
  };

  // ---------- formatting ----------
  function fmtBytes(v) {
    let n = Number(v) || 0;
    if (n < 1024) return `${Math.round(n)} B`;
    const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return `${n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)} ${units[i]}`;
  }
  const fmtRate = (v) => fmtBytes(v) + '/s';
  function fmtDuration(sec) {
    let s = Math.max(0, Math.floor(Number(sec) || 0));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }
  const num = (v) => (Number.isFinite(Number(v)) ? Number(v) : 0);
  const str = (v) => (v === undefined || v === null ? '' : String(v));
  const label = (inst) => (inst.alias ? `${inst.alias} (${inst.id})` : str(inst.id));

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (k === 'text') e.textContent = v;
        else if (k === 'cls') e.className = v;
        else e.setAttribute(k, v);
      }
    }
    for (const k of kids) if (k) e.append(k);
    return e;
  }
  const setText = (node, text) => { text = str(text); if (node.textContent !== text) node.textContent = text; };

  // ---------- API ----------
  class ApiError extends Error {
    constructor(status, body) {
      super((body && typeof body.error === 'string' && body.error) || (status ? `HTTP ${status}` : 'cannot reach the master'));
      this.status = status;
      this.field = body && typeof body.field === 'string' ? body.field : '';
    }
  }

  async function request(key, method, path, body) {
    const headers = { 'X-API-Key': key, Accept: 'application/json' };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) { headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    let res;
    try { res = await fetch(API + path, init); } catch (_) { throw new ApiError(0, null); }
    const text = res.status === 204 ? '' : await res.text().catch(() => '');
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
    if (!res.ok) throw new ApiError(res.status, data && typeof data === 'object' ? data : null);
    return data;
  }

  async function api(method, path, body) {
    if (!st.key) throw new ApiError(401, { error: 'signed out' });
    try {
      return await request(st.key, method, path, body);
    } catch (e) {
      if (e.status === 401) expire();
      throw e;
    }
  }
  const instPath = (id) => `/instances/${encodeURIComponent(id)}`;

  // ---------- sign in / out ----------
  function showSignin(message) {
    $('app').hidden = true;
    $('session-bar').hidden = true;
    $('signin').hidden = false;
    setText($('signin-error'), message || '');
    $('signin-key').setAttribute('aria-invalid', message ? 'true' : 'false');
    $('signin-key').focus();
  }

  async function trySignin(key, quiet) {
    const btn = $('signin-submit');
    btn.disabled = true;
    setText($('signin-error'), quiet ? '' : 'Checking…');
    try {
      const info = await request(key, 'GET', '/info');
      st.key = key;
      try { sessionStorage.setItem(KEY_SLOT, key); } catch (_) { /* private mode: keep in memory */ }
      $('signin-key').value = '';
      setText($('signin-error'), '');
      enterApp(info);
    } catch (e) {
      try { sessionStorage.removeItem(KEY_SLOT); } catch (_) { /* ignore */ }
      showSignin(e.status === 401 ? 'That API key was not accepted. Check it and try again.'
        : e.status ? `The master answered ${e.status}: ${e.message}`
          : 'Cannot reach the master. Is it running?');
    } finally {
      btn.disabled = false;
    }
  }

  function enterApp(info) {
    $('signin').hidden = true;
    $('app').hidden = false;
    $('session-bar').hidden = false;
    hideError();
    setInfo(info);
    st.stream.retry = 3000;
    st.stream.shutdown = false;
    connect();
    clearInterval(st.ticker);
    st.ticker = setInterval(tick, 1000);
    clearInterval(st.infoTimer);
    st.infoTimer = setInterval(loadInfo, 15000);
    tick();
  }

  function signOut(message) {
    st.key = null;
    try { sessionStorage.removeItem(KEY_SLOT); } catch (_) { /* ignore */ }
    stopStream();
    clearInterval(st.ticker);
    clearInterval(st.infoTimer);
    for (const id of [...st.inst.keys()]) removeInstance(id);
    st.total.clear();
    closeLog();
    hideHub();
    st.info = null;
    setConn('offline');
    showSignin(message);
  }
  const expire = () => { if (st.key) signOut('The master no longer accepts this key (was it rotated?). Sign in again.'); };

  // ---------- master info ----------
  function setInfo(info) {
    if (!info || typeof info !== 'object') return;
    st.info = info;
    st.infoAt = Date.now();
    const name = str(info.name) || 'master';
    setText($('info-name'), name);
    document.title = `${name} · postern`;
    setText($('info-ver'), str(info.ver) || '–');
    const host = [];
    if (info.os || info.arch) host.push([info.os, info.arch].filter(Boolean).join('/'));
    if (info.cpu !== undefined) host.push(`CPU ${Math.round(num(info.cpu))}%`);
    if (num(info.mem_total) > 0) host.push(`mem ${fmtBytes(info.mem_used)} of ${fmtBytes(info.mem_total)}`);
    setText($('info-host'), host.join(' · ') || '–');
    $('info-host').title = host.join(' · ');
    tick();
  }
  async function loadInfo() {
    try { setInfo(await api('GET', '/info')); } catch (_) { /* the stream state tells the story */ }
  }

  // ---------- event stream ----------
  function setConn(state, text) {
    const c = $('conn-state');
    c.dataset.state = state;
    setText(c.querySelector('.conn-text'), text || state);
  }

  function stopStream() {
    st.stream.gen++;
    clearTimeout(st.stream.timer);
    if (st.stream.ctrl) st.stream.ctrl.abort();
    st.stream.ctrl = null;
    st.stream.live = false;
  }

  function scheduleReconnect(gen) {
    if (gen !== st.stream.gen || !st.key) return;
    st.stream.live = false;
    const secs = Math.max(1, Math.round(st.stream.retry / 1000));
    setConn('reconnecting', st.stream.shutdown ? `master stopped · retry in ${secs} s` : `reconnecting in ${secs} s`);
    clearTimeout(st.stream.timer);
    st.stream.timer = setTimeout(() => { if (gen === st.stream.gen) connect(); }, st.stream.retry);
  }

  async function connect() {
    stopStream();
    const gen = st.stream.gen;
    const ctrl = new AbortController();
    st.stream.ctrl = ctrl;
    setConn('connecting', 'connecting');
    let res;
    try {
      res = await fetch(API + '/events', {
        headers: { 'X-API-Key': st.key, Accept: 'text/event-stream' },
        cache: 'no-store', credentials: 'omit', signal: ctrl.signal,
      });
    } catch (_) { scheduleReconnect(gen); return; }
    if (gen !== st.stream.gen) return;
    if (res.status === 401) { expire(); return; }
    if (!res.ok || !res.body) { scheduleReconnect(gen); return; }
    st.stream.live = true;
    st.stream.last = Date.now();
    if (st.stream.shutdown) { st.stream.shutdown = false; hideError(); loadInfo(); }
    setConn('live', 'live');
    beginSync();
    const parser = sseParser(onEvent, (ms) => { st.stream.retry = Math.min(Math.max(ms, 250), 60000); });
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (gen !== st.stream.gen) { reader.cancel().catch(() => {}); return; }
        if (done) break;
        st.stream.last = Date.now();
        parser.push(dec.decode(value, { stream: true }));
      }
      parser.push(dec.decode());
    } catch (_) { /* network error or abort */ }
    if (st.sync) endSync();
    scheduleReconnect(gen);
  }

  /* Server-Sent Events parser (WHATWG HTML "event stream interpretation"), fed text chunks. */
  function sseParser(onMessage, onRetry) {
    let buf = '';
    let first = true;
    let type = '';
    let data = [];
    function line(l) {
      if (l === '') {
        if (data.length) onMessage(type || 'message', data.join('\n'));
        type = ''; data = [];
        return;
      }
      if (l.charCodeAt(0) === 58) return; // ':' comment, e.g. keepalive
      const i = l.indexOf(':');
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? '' : l.slice(i + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry') { if (/^\d+$/.test(value)) onRetry(Number(value)); }
      // 'id' is not used: the stream restarts with "initial" events anyway
    }
    return {
      push(chunk) {
        buf += chunk;
        if (first && buf.length) { if (buf.charCodeAt(0) === 0xfeff) buf = buf.slice(1); first = false; }
        let start = 0;
        for (let i = 0; i < buf.length; i++) {
          const c = buf.charCodeAt(i);
          if (c !== 10 && c !== 13) continue;
          if (c === 13 && i + 1 === buf.length) break; // CR at the end: wait for a possible LF
          line(buf.slice(start, i));
          if (c === 13 && buf.charCodeAt(i + 1) === 10) i++;
          start = i + 1;
        }
        buf = buf.slice(start);
      },
    };
  }

  /* After each (re)connect the master replays every instance as "initial": whatever is not
   * replayed was deleted while we were away. */
  function beginSync() {
    clearTimeout(st.sync && st.sync.timer);
    st.sync = { seen: new Set(), timer: setTimeout(endSync, 2000) };
  }
  function endSync() {
    const s = st.sync;
    if (!s) return;
    clearTimeout(s.timer);
    st.sync = null;
    for (const id of [...st.inst.keys()]) if (!s.seen.has(id)) removeInstance(id);
    refreshEmpty();
    loadHistory();
  }

  function onEvent(type, data) {
    if (type !== 'instance' && type !== 'message' && type !== 'hub') return;
    let msg;
    try { msg = JSON.parse(data); } catch (_) { return; }
    if (!msg || typeof msg !== 'object') return;
    if (type === 'hub') {
      if (msg.id === st.hub.id) scheduleHub();
      return;
    }
    const inst = msg.instance && typeof msg.instance === 'object' && typeof msg.instance.id === 'string' ? msg.instance : null;
    if (msg.type === 'initial') {
      if (!inst) return;
      if (st.sync) {
        st.sync.seen.add(inst.id);
        clearTimeout(st.sync.timer);
        st.sync.timer = setTimeout(endSync, 1000);
      }
      upsert(inst, true);
      return;
    }
    if (st.sync) endSync();
    switch (msg.type) {
      case 'create':
      case 'update':
        if (inst) upsert(inst, true);
        break;
      case 'delete':
        if (inst) removeInstance(inst.id);
        break;
      case 'log':
        if (inst) appendLog(inst.id, str(msg.logs));
        break;
      case 'shutdown':
        st.stream.shutdown = true;
        showError('The master is shutting down. This page reconnects when it is back.');
        setConn('reconnecting', 'master stopping');
        break;
      default:
        break;
    }
  }

  // ---------- instances ----------
  const ACTIONS = [
    ['start', 'Start'], ['stop', 'Stop'], ['restart', 'Restart'],
    ['reset', 'Reset'], ['logs', 'Log'], ['edit', 'Edit'], ['delete', 'Delete'],
  ];
  const COUNTERS = ['tcprx', 'tcptx', 'udprx', 'udptx'];

  function makeRow(id) {
    const tr = el('tr', { 'data-testid': 'instance-row', 'data-id': id });
    const p = { tr, btn: {} };
    const span = (k, cls, tag) => (p[k] = el(tag || 'span', { cls: cls || '', 'data-testid': k }));
    const pair = (a, b) => el('span', { cls: 'val' }, span(a), el('span', { cls: 'sep', text: ' / ' }), span(b));
    const td = (lbl, cls, ...kids) => tr.append(el('td', { 'data-label': lbl, cls }, ...kids));
    td('Instance', 'c-name', span('alias', 'alias'), span('type', 'tag'), el('br'), span('id', 'id muted', 'code'));
    td('Status', '', el('span', { cls: 'val' }, span('status', 'pill'), span('restarts', 'muted small'), span('health', 'pill'), span('reason', 'inst-reason small', 'div'), span('error', 'inst-error small', 'div')));
    td('URL', 'c-url', span('url', 'url', 'code'));
    td('TCP rx / tx', 'num', pair('tcprx', 'tcptx'));
    td('UDP rx / tx', 'num', pair('udprx', 'udptx'));
    td('TCPS / UDPS', 'num', pair('tcps', 'udps'));
    td('Pool', 'num', span('pool'));
    td('Ping', 'num', span('ping'));
    const acts = el('div', { cls: 'actions' });
    for (const [a, text] of ACTIONS) {
      acts.append(p.btn[a] = el('button', { type: 'button', cls: `btn btn-sm${a === 'delete' ? ' btn-danger-ghost' : ''}`, 'data-action': a, 'data-testid': `action-${a}`, text }));
    }
    td('Actions', 'c-actions', acts);
    p.id.textContent = id;
    return p;
  }

  function renderRow(inst) {
    let p = st.rows.get(inst.id);
    if (!p) {
      p = makeRow(inst.id);
      st.rows.set(inst.id, p);
      $('instances-body').append(p.tr);
      addChartOption(inst);
    }
    const status = str(inst.status) || 'stopped';
    p.tr.dataset.status = status;
    p.tr.classList.toggle('selected', st.chartId === inst.id);
    setText(p.alias, inst.alias || '(no alias)');
    p.alias.classList.toggle('muted', !inst.alias);
    setText(p.type, inst.type);
    setText(p.status, status);
    p.status.className = `pill pill-${['running', 'stopped', 'error'].includes(status) ? status : 'other'}`;
    setText(p.restarts, num(inst.restarts) > 0 ? ` ↻${num(inst.restarts)}` : '');
    p.restarts.title = num(inst.restarts) > 0 ? `${num(inst.restarts)} automatic restart(s)` : '';
    // The instance's own word (docs/master.md "States"): stopped needs no second badge.
    const hl = inst.health && typeof inst.health === 'object' ? inst.health : {};
    const hs = str(hl.state) || (status === 'running' ? 'connecting' : status);
    const known = ['connecting', 'connected', 'degraded', 'error'].includes(hs);
    p.tr.dataset.health = hs;
    setText(p.health, status === 'running' ? hs : '');
    p.health.className = `pill health health-${known ? hs : 'other'}`;
    p.health.hidden = status !== 'running';
    p.health.title = hl.since ? `${hs} since ${new Date(str(hl.since)).toLocaleString()}` : hs;
    const reason = status === 'running' ? str(hl.reason) : '';
    setText(p.reason, reason);
    p.reason.className = `inst-reason small health-text-${known ? hs : 'other'}`;
    p.reason.title = reason;
    const err = status === 'error' ? (str(hl.reason) || str(inst.error)) : '';
    setText(p.error, err);
    p.error.title = str(inst.error);
    setText(p.url, inst.url);
    p.url.title = str(inst.url);
    for (const k of COUNTERS) {
      const v = num(inst[k]);
      p[k].dataset.bytes = String(v);
      setText(p[k], fmtBytes(v));
      p[k].title = `${v.toLocaleString()} bytes`;
    }
    setText(p.tcps, num(inst.tcps));
    setText(p.udps, num(inst.udps));
    setText(p.pool, num(inst.pool));
    setText(p.ping, status === 'running' ? `${num(inst.ping)} ms` : '–');
    const busy = p.tr.dataset.busy === '1';
    const name = label(inst);
    for (const [a, text] of ACTIONS) {
      p.btn[a].setAttribute('aria-label', `${text} ${name}`);
      p.btn[a].disabled = busy
        || (a === 'start' && status === 'running')
        || (a === 'stop' && status === 'stopped');
    }
    p.btn.logs.setAttribute('aria-pressed', st.log.id === inst.id ? 'true' : 'false');
  }

  function upsert(inst, fromStream) {
    if (fromStream) track(inst);
    const prev = st.inst.get(inst.id);
    st.inst.set(inst.id, inst);
    renderRow(inst);
    if (prev && prev.alias !== inst.alias) renameChartOption(inst);
    if (st.log.id === inst.id) setText($('log-which'), label(inst));
    if (st.chartId === inst.id) {
      syncHub();
      if (st.hub.id === inst.id && prev && prev.status !== inst.status) scheduleHub();
    }
    refreshEmpty();
  }

  function removeInstance(id) {
    const p = st.rows.get(id);
    if (p) p.tr.remove();
    st.rows.delete(id);
    st.inst.delete(id);
    st.hist.delete(id);
    const opt = $('chart-select').querySelector(`option[value="${CSS.escape(id)}"]`);
    if (opt) opt.remove();
    if (st.chartId === id) { st.chartId = ''; $('chart-select').value = ''; }
    if (st.hub.id === id) hideHub();
    if (st.log.id === id) {
      appendSystemLine('The instance was deleted.');
      st.log.id = null;
      $('log-close').hidden = false;
    }
    refreshEmpty();
  }

  function refreshEmpty() {
    $('instances-empty').hidden = st.inst.size > 0;
    tickCounts();
  }

  // ---------- actions ----------
  $('instances-body').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-id]');
    if (!tr) return;
    const id = tr.dataset.id;
    const b = ev.target.closest('button[data-action]');
    if (b) { doAction(id, b.dataset.action); return; }
    selectChart(id);
  });

  async function doAction(id, action) {
    const inst = st.inst.get(id);
    if (!inst) return;
    if (action === 'logs') { openLog(id); return; }
    if (action === 'edit') { openEdit(inst); return; }
    if (action === 'delete' && !(await confirmDelete(inst))) return;
    const p = st.rows.get(id);
    if (p) { p.tr.dataset.busy = '1'; renderRow(inst); }
    hideError();
    try {
      if (action === 'delete') {
        await api('DELETE', instPath(id));
        removeInstance(id);
        return;
      }
      const fresh = await api('PATCH', instPath(id), { action });
      if (p) delete p.tr.dataset.busy;
      if (fresh && typeof fresh.id === 'string' && st.inst.has(id)) upsert(fresh, false);
    } catch (e) {
      if (e.status !== 401) showError(`Could not ${action} ${label(inst)}: ${e.message}`);
      if (e.status === 404) removeInstance(id);
    } finally {
      if (p && st.rows.get(id) === p) { delete p.tr.dataset.busy; const cur = st.inst.get(id); if (cur) renderRow(cur); }
    }
  }

  function confirmDelete(inst) {
    const dlg = $('confirm');
    setText($('confirm-text'), `Delete ${label(inst)}? Its process is stopped and its counters are lost.`);
    return new Promise((resolve) => {
      const done = (ok) => {
        $('confirm-ok').removeEventListener('click', yes);
        $('confirm-cancel').removeEventListener('click', no);
        dlg.removeEventListener('cancel', no);
        if (dlg.open) dlg.close();
        resolve(ok);
      };
      const yes = () => done(true);
      const no = (e) => { if (e) e.preventDefault(); done(false); };
      $('confirm-ok').addEventListener('click', yes);
      $('confirm-cancel').addEventListener('click', no);
      dlg.addEventListener('cancel', no);
      dlg.showModal();
      $('confirm-cancel').focus();
    });
  }

  /* The edit dialog: a new URL is a PUT (a running instance restarts with it), a new alias
   * a PATCH; the API's 400 lands next to the field it names, and the dialog stays open. */
  let editing = null;
  function editErrors(field, text) {
    for (const f of ['url', 'alias']) {
      const on = f === field;
      setText($(`edit-${f}-error`), on ? text : '');
      if (on) $(`edit-${f}`).setAttribute('aria-invalid', 'true'); else $(`edit-${f}`).removeAttribute('aria-invalid');
    }
    setText($('edit-error'), field ? '' : text);
  }
  function openEdit(inst) {
    editing = inst.id;
    editErrors(null, '');
    setText($('edit-which'), `${label(inst)} (${inst.id})`);
    $('edit-url').value = str(inst.url);
    $('edit-alias').value = str(inst.alias);
    $('edit').showModal();
    $('edit-url').focus();
  }
  function closeEdit() { editing = null; if ($('edit').open) $('edit').close(); }
  $('edit-cancel').addEventListener('click', closeEdit);
  $('edit').addEventListener('cancel', (e) => { e.preventDefault(); closeEdit(); });
  $('edit-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const id = editing;
    const inst = id && st.inst.get(id);
    if (!inst) { closeEdit(); return; }
    editErrors(null, '');
    const url = $('edit-url').value.trim();
    const alias = $('edit-alias').value.trim();
    if (!url) { editErrors('url', 'url: required'); $('edit-url').focus(); return; }
    const btn = $('edit-save');
    btn.disabled = true;
    try {
      let fresh = null;
      if (alias !== str(inst.alias)) fresh = await api('PATCH', instPath(id), { alias });
      if (url !== str(inst.url)) fresh = await api('PUT', instPath(id), { url });
      if (fresh && typeof fresh.id === 'string' && st.inst.has(id)) upsert(fresh, false);
      closeEdit();
    } catch (e) {
      if (e.status === 401) { closeEdit(); return; }
      let f = e.field || null;
      if (!f && e.status === 400 && /^url\b/.test(e.message)) f = 'url';
      editErrors(f === 'url' || f === 'alias' ? f : null, e.message);
      if (e.status === 404) { closeEdit(); removeInstance(id); }
    } finally {
      btn.disabled = false;
    }
  });

  function showError(text) { const b = $('app-error'); setText(b, text); b.hidden = false; }
  function hideError() { const b = $('app-error'); b.hidden = true; setText(b, ''); }

  // ---------- create ----------
  const FIELD_ERR = { url: 'create-url-error', alias: 'create-alias-error' };
  const FIELD_IN = { url: 'create-url', alias: 'create-alias' };
  function clearCreateErrors() {
    for (const f of Object.keys(FIELD_ERR)) { setText($(FIELD_ERR[f]), ''); $(FIELD_IN[f]).removeAttribute('aria-invalid'); }
    setText($('create-error'), '');
  }
  $('create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearCreateErrors();
    const url = $('create-url').value.trim();
    const alias = $('create-alias').value.trim();
    if (!url) {
      setText($('create-url-error'), 'url: required');
      $('create-url').setAttribute('aria-invalid', 'true');
      $('create-url').focus();
      return;
    }
    const body = { url, restart: $('create-restart').checked };
    if (alias) body.alias = alias;
    const btn = $('create-submit');
    btn.disabled = true;
    try {
      const inst = await api('POST', '/instances', body);
      if (inst && typeof inst.id === 'string') upsert(inst, false);
      $('create-url').value = '';
      $('create-alias').value = '';
      $('create-restart').checked = true;
    } catch (e) {
      if (e.status === 401) return;
      let f = e.field;
      if (!f && e.status === 400 && /^url\b/.test(e.message)) f = 'url';
      if (FIELD_ERR[f]) {
        setText($(FIELD_ERR[f]), e.message);
        $(FIELD_IN[f]).setAttribute('aria-invalid', 'true');
        $(FIELD_IN[f]).focus();
      } else {
        setText($('create-error'), `Could not create the instance: ${e.message}`);
      }
    } finally {
      btn.disabled = false;
    }
  });

  // ---------- traffic history ----------
  function addBins(bins, rx, tx, t0, t1) {
    if (rx <= 0 && tx <= 0) return;
    t0 = Math.max(t0, t1 - Math.max(st.range, 300) * 1000);
    if (t1 - t0 < 1) { const s = Math.floor(t1 / 1000); const b = bins.get(s) || [0, 0]; b[0] += rx; b[1] += tx; bins.set(s, b); return; }
    const span = t1 - t0;
    for (let s = Math.floor(t0 / 1000); s * 1000 < t1; s++) {
      const part = (Math.min(t1, (s + 1) * 1000) - Math.max(t0, s * 1000)) / span;
      if (part <= 0) continue;
      const b = bins.get(s) || [0, 0];
      b[0] += rx * part; b[1] += tx * part;
      bins.set(s, b);
    }
  }
  /* Counters arrive after each CHECK_POINT: spread each increase evenly over the time since the
   * previous sample, in one-second bins. A drop (reset) counts from zero. */
  function track(inst) {
    const now = Date.now();
    const rx = num(inst.tcprx) + num(inst.udprx);
    const tx = num(inst.tcptx) + num(inst.udptx);
    const h = st.hist.get(inst.id);
    if (!h) { st.hist.set(inst.id, { t: now, rx, tx, since: now, rx0: rx, tx0: tx, past: null, bins: new Map() }); return; }
    const drx = rx >= h.rx ? rx - h.rx : rx;
    const dtx = tx >= h.tx ? tx - h.tx : tx;
    addBins(h.bins, drx, dtx, h.t, now);
    addBins(st.total, drx, dtx, h.t, now);
    h.t = now; h.rx = rx; h.tx = tx;
  }
  function prune(bins, minSec) { for (const s of bins.keys()) if (s < minSec) bins.delete(s); }

  /* What the master's database kept (GET /instances/{id}/history, docs/master.md "History")
   * fills each instance's bins before the page first saw it; the events fill them from
   * then on. So the chart survives a reload and spans up to 24 h. */
  async function loadHistory() {
    const gen = ++st.histGen;
    const range = st.range <= 3600 ? '1h' : '24h';
    const ids = [...st.hist.keys()];
    const answers = await Promise.all(ids.map((id) => api('GET', `${instPath(id)}/history?range=${range}`).catch(() => null)));
    if (gen !== st.histGen || !st.key) return;
    ids.forEach((id, i) => {
      const res = answers[i];
      const h = st.hist.get(id);
      if (!h || !res || !Array.isArray(res.samples)) return;
      const step = (num(res.step) || 10) * 1000;
      const samples = res.samples.map((b) => ({ t: num(b.t) * 1000, rx: num(b.tcprx) + num(b.udprx), tx: num(b.tcptx) + num(b.udptx) }));
      // The history counts up to its `now`, the events from when the page first saw the
      // instance: what it counted since then (its totals over the first counters seen)
      // is the events', taken off its newest buckets.
      const tot = res.totals && typeof res.totals === 'object' ? res.totals : {};
      let exRx = Math.max(0, num(tot.tcprx) + num(tot.udprx) - h.rx0);
      let exTx = Math.max(0, num(tot.tcptx) + num(tot.udptx) - h.tx0);
      for (let k = samples.length - 1; k >= 0 && (exRx > 0 || exTx > 0); k--) {
        const a = Math.min(samples[k].rx, exRx); samples[k].rx -= a; exRx -= a;
        const c = Math.min(samples[k].tx, exTx); samples[k].tx -= c; exTx -= c;
      }
      const past = new Map();
      // What is left happened before the page saw the instance; a bucket that starts after
      // that (the answer sampled the counters a moment later, into the next bucket) is drawn
      // in the second before it, not dropped.
      for (const b of samples) {
        const t1 = Math.min(b.t + step, h.since);
        addBins(past, b.rx, b.tx, Math.min(b.t, t1 - 1000), t1);
      }
      // replace what an earlier load added
      for (const [sec, v] of h.past || []) {
        const cur = h.bins.get(sec);
        if (!cur) continue;
        cur[0] -= v[0]; cur[1] -= v[1];
        if (cur[0] <= 0.5 && cur[1] <= 0.5) h.bins.delete(sec);
      }
      for (const [sec, v] of past) { const cur = h.bins.get(sec) || [0, 0]; cur[0] += v[0]; cur[1] += v[1]; h.bins.set(sec, cur); }
      h.past = past;
    });
    st.total.clear();
    for (const h of st.hist.values()) {
      for (const [sec, v] of h.bins) { const b = st.total.get(sec) || [0, 0]; b[0] += v[0]; b[1] += v[1]; st.total.set(sec, b); }
    }
    drawChart();
  }
  $('chart-range').addEventListener('change', (e) => {
    const r = Number(e.target.value);
    st.range = RANGES[r] ? r : 300;
    setText($('chart-span'), RANGES[st.range].label);
    loadHistory();
    drawChart();
  });

  // ---------- chart ----------
  function addChartOption(inst) {
    const sel = $('chart-select');
    sel.append(el('option', { value: inst.id, text: label(inst) }));
  }
  function renameChartOption(inst) {
    const opt = $('chart-select').querySelector(`option[value="${CSS.escape(inst.id)}"]`);
    if (opt) opt.textContent = label(inst);
  }
  function selectChart(id) {
    st.chartId = st.inst.has(id) ? id : '';
    $('chart-select').value = st.chartId;
    for (const [rid, p] of st.rows) p.tr.classList.toggle('selected', rid === st.chartId);
    syncHub();
    drawChart();
  }
  $('chart-select').addEventListener('change', (e) => selectChart(e.target.value));

  function series() {
    const nowS = Math.floor(Date.now() / 1000);
    let bins; let lastT;
    if (st.chartId && st.hist.has(st.chartId)) {
      const h = st.hist.get(st.chartId);
      bins = h.bins; lastT = h.t;
    } else {
      bins = st.total;
      // the freshest point every recently reporting instance has reached
      lastT = Infinity;
      for (const h of st.hist.values()) if (Date.now() - h.t < 30000) lastT = Math.min(lastT, h.t);
      if (lastT === Infinity) lastT = Date.now();
    }
    const endS = Math.min(nowS, Math.floor(lastT / 1000)) - 1; // last complete second
    // POINTS points of `w` seconds each, the newest ending at endS: each the mean rate
    const w = st.range / POINTS;
    const rx = new Float64Array(POINTS);
    const tx = new Float64Array(POINTS);
    let bytes = 0;
    for (let i = 0; i < POINTS; i++) {
      for (let k = 0; k < w; k++) {
        const b = bins.get(endS - (POINTS - 1 - i) * w - k);
        if (b) { rx[i] += b[0] / w; tx[i] += b[1] / w; bytes += b[0] + b[1]; }
      }
    }
    // the current rate: the last 5 complete seconds, whatever the span
    let r = 0; let t = 0;
    for (let k = 0; k < 5; k++) { const b = bins.get(endS - k); if (b) { r += b[0] / 5; t += b[1] / 5; } }
    return { rx, tx, lag: Math.max(0, nowS - endS) / w, bytes, rate: [r, t] };
  }

  function niceMax(v) {
    if (v <= 0) return 1024;
    const p = Math.pow(2, Math.ceil(Math.log2(v)));
    return p / 2 >= v * 1.25 ? p / 2 : p;
  }

  function drawChart() {
    const cv = $('chart');
    if ($('app').hidden) return;
    const box = cv.parentElement.getBoundingClientRect();
    const w = Math.max(200, Math.floor(box.width));
    const h = Math.max(140, Math.floor(box.height));
    const dpr = window.devicePixelRatio || 1;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
    }
    const g = cv.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const css = getComputedStyle(document.documentElement);
    const color = (n, d) => (css.getPropertyValue(n).trim() || d);
    const cRx = color('--rx', '#2457c5');
    const cTx = color('--tx', '#d9822b');
    const cGrid = color('--grid', '#e3e6eb');
    const cText = color('--muted', '#6b7280');

    const { rx, tx, lag, bytes, rate } = series();
    cv.dataset.windowBytes = String(Math.round(bytes)); // the bytes the chart shows (tests read it)
    let max = 0;
    for (let i = 0; i < POINTS; i++) max = Math.max(max, rx[i], tx[i]);
    const ymax = niceMax(max);
    const L = 74; const R = 10; const T = 10; const B = 22;
    const pw = w - L - R; const ph = h - T - B;
    g.font = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    g.lineWidth = 1;
    g.fillStyle = cText;
    g.textBaseline = 'middle';
    g.textAlign = 'right';
    for (let i = 0; i <= 4; i++) {
      const y = T + ph - (ph * i) / 4;
      g.strokeStyle = cGrid;
      g.beginPath(); g.moveTo(L, Math.round(y) + 0.5); g.lineTo(L + pw, Math.round(y) + 0.5); g.stroke();
      g.fillText(fmtRate((ymax * i) / 4), L - 6, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const short = pw < 420;
    const RG = RANGES[st.range];
    for (let m = 0; m * RG.tick <= st.range; m++) {
      const x = L + (pw * (st.range - m * RG.tick)) / st.range;
      const v = (m * RG.tick) / RG.unit;
      const text = m === 0 ? 'now' : short ? `−${v}${RG.name[0]}` : `−${v} ${RG.name}`;
      g.fillText(text, Math.min(Math.max(x, L + 16), L + pw - 12), T + ph + 6);
    }
    const X = (i) => L + (pw * (i + 1 - lag)) / POINTS; // the newest complete second sits `lag` points before now
    const Y = (v) => T + ph - (ph * v) / ymax;
    const line = (data, c, dash) => {
      g.beginPath();
      g.setLineDash(dash || []);
      for (let i = 0; i < POINTS; i++) { const x = X(i); const y = Y(data[i]); if (i) g.lineTo(x, y); else g.moveTo(x, y); }
      g.strokeStyle = c; g.lineWidth = 1.75; g.lineJoin = 'round'; g.stroke();
      g.setLineDash([]);
      g.lineTo(X(POINTS - 1), T + ph); g.lineTo(X(0), T + ph); g.closePath();
      g.globalAlpha = 0.12; g.fillStyle = c; g.fill(); g.globalAlpha = 1;
    };
    g.save();
    g.beginPath(); g.rect(L, T, pw, ph + 1); g.clip();
    line(rx, cRx);
    line(tx, cTx, [5, 3]); // dashed: visible on top of rx when both are equal (an echo)
    g.restore();

    // current rate: mean of the last 5 complete seconds
    const [r, t] = rate;
    setText($('rate-rx'), fmtRate(r));
    setText($('rate-tx'), fmtRate(t));
    const who = st.chartId && st.inst.has(st.chartId) ? label(st.inst.get(st.chartId)) : 'all instances';
    cv.setAttribute('aria-label', `Traffic of ${who} over the ${RG.label}: now ${fmtRate(r)} received, ${fmtRate(t)} sent`);
  }

  // ---------- log panel ----------
  function logLine(text, cls) {
    const li = el('li', { text });
    if (cls) li.className = cls;
    else if (/\b(ERROR|FATAL)\b/.test(text)) li.className = 'lvl-error';
    else if (/\bWARN(ING)?\b/.test(text)) li.className = 'lvl-warn';
    return li;
  }
  function appendLines(lines) {
    const box = $('log-lines');
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
    const frag = document.createDocumentFragment();
    for (const l of lines) frag.append(logLine(str(l)));
    box.append(frag);
    while (box.childElementCount > LOG_MAX) box.firstElementChild.remove();
    if (stick) box.scrollTop = box.scrollHeight;
  }
  function appendSystemLine(text) {
    $('log-lines').append(logLine(text, 'lvl-system'));
  }
  function appendLog(id, line) {
    if (id !== st.log.id) return;
    if (st.log.loading) st.log.queue.push(line);
    else appendLines([line]);
  }
  async function openLog(id) {
    const inst = st.inst.get(id);
    if (!inst) return;
    st.log = { id, loading: true, queue: [] };
    const box = $('log-lines');
    box.replaceChildren();
    setText($('log-which'), label(inst));
    $('log-close').hidden = false;
    for (const [rid, p] of st.rows) p.btn.logs.setAttribute('aria-pressed', rid === id ? 'true' : 'false');
    const mine = st.log;
    try {
      const res = await api('GET', `${instPath(id)}/logs`);
      if (st.log !== mine) return;
      const lines = res && Array.isArray(res.logs) ? res.logs.map(str) : [];
      const seen = new Set(lines);
      mine.loading = false;
      appendLines(lines.concat(mine.queue.filter((l) => !seen.has(l))));
      if (!box.childElementCount) appendSystemLine('No output yet.');
      box.scrollTop = box.scrollHeight;
    } catch (e) {
      if (st.log !== mine) return;
      mine.loading = false;
      appendSystemLine(`Could not load the log: ${e.message}`);
      appendLines(mine.queue);
    }
    mine.queue = [];
    if (window.matchMedia('(max-width: 900px)').matches) $('log-panel').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }
  function closeLog() {
    st.log = { id: null, loading: false, queue: [] };
    $('log-lines').replaceChildren();
    setText($('log-which'), 'Choose “Log” on an instance.');
    $('log-close').hidden = true;
    for (const p of st.rows.values()) p.btn.logs.setAttribute('aria-pressed', 'false');
  }
  $('log-close').addEventListener('click', closeLog);

  // ---------- hub panel ----------
  /* The panel follows the selected row: shown while it is a hub (GET /instances/{id}/hub),
   * reloaded on its `hub` events (at most once a second) and every 5 s. */
  function syncHub() {
    const inst = st.inst.get(st.chartId);
    if (inst && inst.type === 'hub') showHub(inst);
    else hideHub();
  }
  function showHub(inst) {
    setText($('hub-which'), label(inst));
    if (st.hub.id === inst.id) return;
    hideHub();
    st.hub.id = inst.id;
    renderHub(null);
    setText($('hub-updated'), 'loading…');
    $('hub-panel').hidden = false;
    st.hub.poll = setInterval(loadHub, HUB_POLL_MS);
    loadHub();
  }
  function hideHub() {
    const h = st.hub;
    clearInterval(h.poll);
    clearTimeout(h.timer);
    st.hub = { id: null, poll: 0, timer: 0, busy: false, again: false, last: 0 };
    $('hub-panel').hidden = true;
  }
  function scheduleHub() {
    const h = st.hub;
    if (!h.id || h.timer) return;
    h.timer = setTimeout(() => { h.timer = 0; loadHub(); }, Math.max(0, HUB_GAP_MS - (Date.now() - h.last)));
  }
  async function loadHub() {
    const h = st.hub;
    if (!h.id) return;
    if (h.busy) { h.again = true; return; }
    h.busy = true;
    try {
      const res = await api('GET', `${instPath(h.id)}/hub`);
      if (st.hub === h) renderHub(res);
    } catch (e) {
      if (st.hub === h) showHubNote(e.status === 404 ? 'This instance is not a hub (any more).' : `Could not load the hub's state: ${e.message}`);
    } finally {
      h.busy = false;
      h.last = Date.now();
      if (h.again && st.hub === h) { h.again = false; scheduleHub(); }
    }
  }
  function showHubNote(text) {
    setText($('hub-note'), text);
    $('hub-note').hidden = !text;
  }
  const list = (v) => (Array.isArray(v) ? v.filter((x) => x && typeof x === 'object') : []);
  function fillTable(name, items, makeRow) {
    const body = $(`hub-${name}-body`);
    const frag = document.createDocumentFragment();
    for (const it of items) frag.append(makeRow(it));
    body.replaceChildren(frag);
    setText($(`hub-${name}-count`), items.length);
    $(`hub-${name}-empty`).hidden = items.length > 0;
  }
  const cell = (text, cls, testid) => el('td', Object.assign({ text: str(text) }, cls ? { cls } : {}, testid ? { 'data-testid': testid } : {}));
  function bytesCell(v, testid) {
    const n = num(v);
    const td = cell(fmtBytes(n), 'num', testid);
    td.dataset.bytes = String(n);
    td.title = `${n.toLocaleString()} bytes`;
    return td;
  }
  function renderHub(res) {
    const state = res && typeof res === 'object' ? res : {};
    const inst = st.inst.get(st.hub.id);
    const running = inst && inst.status === 'running';
    if (state.updated) {
      const t = new Date(state.updated);
      setText($('hub-updated'), `updated ${Number.isNaN(t.getTime()) ? str(state.updated) : t.toLocaleTimeString()}`);
      $('hub-updated').title = str(state.updated);
    } else {
      setText($('hub-updated'), res ? (running ? 'no report yet' : 'not running') : '');
      $('hub-updated').title = '';
    }
    showHubNote(state.truncated === true ? 'The hub cut its route list to stay within 1 MiB: some routes are not shown.' : '');
    const now = Date.now() / 1000;
    fillTable('clients', list(state.clients), (c) => {
      const tr = el('tr', { 'data-testid': 'hub-client-row', 'data-id': str(c.id) });
      const since = num(c.since);
      const conn = cell(since ? fmtDuration(now - since) : '–', '', 'since');
      if (since) conn.title = new Date(since * 1000).toISOString();
      tr.append(cell(c.id, 'mono', 'id'), cell(c.account, '', 'account'), cell(c.peer, 'mono', 'peer'), conn,
        cell(num(c.routes), 'num', 'routes'), cell(num(c.pool), 'num', 'pool'), cell(`${num(c.ping_ms)} ms`, 'num', 'ping'));
      return tr;
    });
    fillTable('routes', list(state.routes), (r) => {
      const tr = el('tr', { 'data-testid': 'hub-route-row', 'data-key': str(r.key), 'data-type': str(r.type) });
      const members = num(r.members);
      const online = num(r.online);
      const on = cell(`${online} / ${members}`, `num ${online === 0 ? 'bad' : online < members ? 'warn' : ''}`.trim(), 'online');
      on.title = `${online} of ${members} member(s) online`;
      tr.append(cell(r.type, '', 'type'), cell(r.key, 'mono', 'key'), cell(r.account, '', 'account'),
        cell(r.group || '–', r.group ? '' : 'muted', 'group'), on, cell(num(r.conns), 'num', 'conns'));
      return tr;
    });
    fillTable('accounts', list(state.accounts), (a) => {
      const tr = el('tr', { 'data-testid': 'hub-account-row', 'data-name': str(a.name) });
      const refused = a.refused && typeof a.refused === 'object' ? Object.entries(a.refused).filter(([, v]) => num(v) > 0) : [];
      tr.append(cell(a.name, '', 'name'), cell(num(a.clients), 'num', 'clients'), cell(num(a.routes), 'num', 'routes'),
        cell(num(a.conns), 'num', 'conns'), cell(num(a.requests), 'num', 'requests'), bytesCell(a.rx, 'rx'), bytesCell(a.tx, 'tx'),
        cell(refused.length ? refused.map(([k, v]) => `${k} ${num(v)}`).join(' · ') : '–', refused.length ? 'warn' : 'muted', 'refused'));
      return tr;
    });
  }
  $('hub-close').addEventListener('click', () => selectChart(''));

  // ---------- periodic ----------
  function tickCounts() {
    const running = [...st.inst.values()].filter((i) => i.status === 'running').length;
    const count = st.stream.live || !st.info ? st.inst.size : num(st.info.instances);
    setText($('info-instances'), st.key ? count : '–');
    setText($('info-running'), st.key ? running : '–');
  }
  function tick() {
    if (!st.key) return;
    if (st.info) setText($('info-uptime'), fmtDuration(num(st.info.uptime) + (Date.now() - st.infoAt) / 1000));
    tickCounts();
    const nowS = Math.floor(Date.now() / 1000);
    prune(st.total, nowS - st.range - 5);
    for (const h of st.hist.values()) prune(h.bins, nowS - st.range - 5);
    if (st.stream.live && Date.now() - st.stream.last > STALL_MS) { const g = st.stream.gen; stopStream(); scheduleReconnect(g + 1); }
    drawChart();
  }
  window.addEventListener('resize', () => { if (st.key) drawChart(); });

  // ---------- start ----------
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = $('signin-key').value.trim();
    if (!key) { showSignin('Enter the API key.'); return; }
    trySignin(key, false);
  });
  $('signout').addEventListener('click', () => signOut(''));

  let saved = null;
  try { saved = sessionStorage.getItem(KEY_SLOT); } catch (_) { saved = null; }
  if (saved) { $('signin').hidden = true; trySignin(saved, true); } else showSignin('');
})();
