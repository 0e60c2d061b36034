/* postern master dashboard: the manager's nodes and users (docs/master.md "Manager"),
 * plain ES2020, no dependencies. Like builder.js it shares only the page and the key
 * app.js keeps in sessionStorage; the two tables are read every 2 s while signed in. */
'use strict';
(() => {
  const meta = document.querySelector('meta[name="postern-prefix"]');
  const API = ((meta && meta.content) || '/api').replace(/\/+$/, '') + '/v1';
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 2000;

  function key() {
    try { return sessionStorage.getItem('postern.key'); } catch (_) { return null; }
  }

  /* One API call with the signed-in key: the parsed answer, or an Error carrying the
   * API's "<field>: <reason>". */
  async function call(method, path, body) {
    const k = key();
    if (!k) throw new Error('signed out');
    const headers = { 'X-API-Key': k, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(API + path, {
      method, cache: 'no-store', credentials: 'omit', headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (_) { data = null; }
    if (!res.ok) throw new Error(data && typeof data.error === 'string' ? data.error : `HTTP ${res.status}`);
    return data;
  }

  function fmtBytes(v) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let n = Number(v) || 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
  }

  function cell(text, cls, testid) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    if (testid) td.dataset.testid = testid;
    td.textContent = text;
    return td;
  }

  function pill(status, testid) {
    const s = document.createElement('span');
    s.className = 'pill' + (status ? ' pill-' + status : '');
    s.dataset.testid = testid;
    s.textContent = status || 'unknown';
    return s;
  }

  function button(text, testid, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-ghost btn-sm';
    b.dataset.testid = testid;
    b.textContent = text;
    b.addEventListener('click', onClick);
    return b;
  }

  function showError(id, text) { $(id).textContent = text || ''; }

  function renderNodes(nodes) {
    const body = $('nodes-body');
    body.replaceChildren();
    for (const n of nodes) {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'node-row';
      tr.dataset.id = n.id;
      tr.dataset.push = n.push_status;
      tr.dataset.pull = n.pull_status;
      tr.append(cell(`${n.name ? n.name + ' ' : ''}${n.address}:${n.port}`, '', 'node-where'));
      const push = cell('', '', '');
      push.append(pill(n.push_status, 'push-status'));
      if (n.push_error) push.title = n.push_error;
      const pull = cell('', '', '');
      pull.append(pill(n.pull_status, 'pull-status'));
      if (n.pull_error) pull.title = n.pull_error;
      tr.append(push, pull, cell(fmtBytes(n.usage), 'num', 'node-usage'),
                cell(`${Math.max(n.acked, 0)} / ${n.version}`, 'num', 'node-version'));
      const act = cell('', '', '');
      act.append(button('Sync', 'node-sync', () => act1('PATCH', `/nodes/${n.id}`, { action: 'sync' }, 'node-error')),
                 button('Delete', 'node-delete', () => act1('DELETE', `/nodes/${n.id}`, undefined, 'node-error')));
      tr.append(act);
      body.append(tr);
    }
    $('nodes-empty').hidden = nodes.length > 0;
  }

  function renderUsers(users) {
    const body = $('users-body');
    body.replaceChildren();
    for (const u of users) {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'user-row';
      tr.dataset.name = u.name;
      tr.dataset.active = String(u.active);
      tr.dataset.group = u.group || '';
      tr.append(cell(u.group ? `${u.name} (${u.group})` : u.name, '', 'user-cell'));
      const st = cell('', '', '');
      st.append(pill(u.active ? 'available' : 'unavailable', 'user-state'));
      st.lastChild.textContent = u.active ? 'active' : (u.enabled ? 'over quota or expired' : 'disabled');
      tr.append(st);
      const q = cell('', '', 'user-usage');
      if (u.quota > 0) {
        const bar = document.createElement('progress');
        bar.className = 'quota';
        bar.dataset.testid = 'quota-bar';
        bar.max = u.quota;
        bar.value = Math.min(u.usage, u.quota);
        q.append(bar, document.createTextNode(`${fmtBytes(u.usage)} of ${fmtBytes(u.quota)}`));
      } else {
        q.append(document.createTextNode(`${fmtBytes(u.usage)} (no quota)`));
      }
      tr.append(q);
      const act = cell('', '', '');
      act.append(button(u.enabled ? 'Disable' : 'Enable', 'user-toggle',
                        () => act1('PATCH', `/users/${encodeURIComponent(u.name)}`, { enabled: !u.enabled }, 'user-error')),
                 button('Delete', 'user-delete', () => act1('DELETE', `/users/${encodeURIComponent(u.name)}`, undefined, 'user-error')));
      tr.append(act);
      body.append(tr);
    }
    $('users-empty').hidden = users.length > 0;
  }

  async function refresh() {
    if (!key() || $('app').hidden) return;
    try {
      const [nodes, users] = await Promise.all([call('GET', '/nodes'), call('GET', '/users')]);
      renderNodes(nodes);
      renderUsers(users);
    } catch (_) { /* signed out or the master is away: app.js says so */ }
  }

  async function act1(method, path, body, errId) {
    showError(errId, '');
    try {
      await call(method, path, body);
    } catch (e) {
      showError(errId, e.message);
    }
    refresh();
  }

  $('node-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { address: $('node-address').value.trim(), port: Number($('node-port').value.trim()),
                   token: $('node-token').value };
    const ent = $('node-entrance').value.trim();
    if (ent) body.entrances = [{ name: 'entrance', url: ent }];
    showError('node-error', '');
    try {
      await call('POST', '/nodes', body);
      $('node-token').value = '';
      refresh();
    } catch (e) { showError('node-error', e.message); }
  });

  $('user-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const mib = $('user-quota').value.trim();
    const body = { name: $('user-name').value.trim(), password: $('user-password').value };
    if (mib) body.quota = Math.round(Number(mib) * 1048576);
    const group = $('user-group').value.trim();
    if (group) body.group = group;
    showError('user-error', '');
    try {
      await call('POST', '/users', body);
      $('user-password').value = '';
      refresh();
    } catch (e) { showError('user-error', e.message); }
  });

  setInterval(refresh, POLL_MS);
  new MutationObserver(refresh).observe($('app'), { attributes: true, attributeFilter: ['hidden'] });
})();
