/* postern master dashboard: the cluster of the master's hubs (GET /cluster, docs/master.md
 * "Cluster"), plain ES2020, no dependencies. It shares only the page and the key app.js
 * keeps in sessionStorage; the card shows while some hub instance is in a cluster and is
 * read every 5 s while signed in. */
'use strict';
(() => {
  const meta = document.querySelector('meta[name="postern-prefix"]');
  const API = ((meta && meta.content) || '/api').replace(/\/+$/, '') + '/v1';
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 5000;

  async function view() {
    let k = null;
    try { k = sessionStorage.getItem('postern.key'); } catch (_) { k = null; }
    if (!k || $('app').hidden) return null;
    const res = await fetch(API + '/cluster', {
      cache: 'no-store', credentials: 'omit', headers: { 'X-API-Key': k, Accept: 'application/json' },
    });
    return res.ok ? res.json() : null;
  }

  function td(text, testid, cls) {
    const c = document.createElement('td');
    c.textContent = text;
    if (testid) c.dataset.testid = testid;
    if (cls) c.className = cls;
    return c;
  }

  /* A hub's routes as one short line: the first few keys, and how many more. */
  function routesText(routes) {
    if (!routes.length) return '—';
    const shown = routes.slice(0, 3).map((r) => r.route + (r.held ? ' (held)' : ''));
    return shown.join(', ') + (routes.length > 3 ? ` +${routes.length - 3}` : '');
  }

  function render(v) {
    const card = $('cluster-card');
    card.hidden = !v || v.hubs.length === 0;
    if (card.hidden) return;
    const body = $('cluster-body');
    body.textContent = '';
    for (const h of v.hubs) {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'cluster-row';
      tr.dataset.hub = h.id;
      tr.append(td(h.id, 'cluster-id'));
      const st = td('', 'cluster-state');
      const pill = document.createElement('span');
      pill.className = 'pill pill-' + (h.live ? 'running' : 'error');
      pill.textContent = h.live ? 'live' : 'no heartbeat';
      st.append(pill);
      tr.append(st);
      tr.append(td(h.age_ms === null ? '—' : `${(h.age_ms / 1000).toFixed(1)} s`, 'cluster-age', 'num'));
      tr.append(td(h.peer, 'cluster-peer'));
      tr.append(td(h.instance === null ? 'elsewhere' : (h.alias || h.instance), 'cluster-instance'));
      tr.append(td(h.redis === null ? '—' : h.redis, 'cluster-redis', h.redis === 'down' ? 'bad' : ''));
      tr.append(td(h.agents === null ? '—' : String(h.agents.length), 'cluster-agents', 'num'));
      const rt = td(routesText(h.routes), 'cluster-routes');
      rt.title = h.routes.map((r) => `${r.route} (${r.account})`).join('\n');
      tr.append(rt);
      body.append(tr);
    }
    $('cluster-count').textContent = String(v.hubs.length);
  }

  async function refresh() {
    try { render(await view()); } catch (_) { /* signed out or the master is away: app.js says so */ }
  }

  setInterval(refresh, POLL_MS);
  new MutationObserver(refresh).observe($('app'), { attributes: true, attributeFilter: ['hidden'] });
})();
