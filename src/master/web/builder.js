/* postern master dashboard: the guided URL builder under the create form (plain ES2020,
 * no dependencies, apart from app.js: it shares only the page and the key app.js keeps in
 * sessionStorage). The created instances reach the table through the event stream. */
'use strict';
(() => {
  const meta = document.querySelector('meta[name="postern-prefix"]');
  const API = ((meta && meta.content) || '/api').replace(/\/+$/, '') + '/v1';
  const $ = (id) => document.getElementById(id);
  const setText = (node, text) => { node.textContent = text; };

  /* POST /instances with the signed-in key; the API's message on failure. */
  async function post(body) {
    let key = null;
    try { key = sessionStorage.getItem('postern.key'); } catch (_) { key = null; }
    if (!key) throw new Error('signed out');
    const res = await fetch(API + '/instances', {
      method: 'POST', cache: 'no-store', credentials: 'omit', body: JSON.stringify(body),
      headers: { 'X-API-Key': key, Accept: 'application/json', 'Content-Type': 'application/json' },
    });
    if (res.ok) return;
    let msg = `HTTP ${res.status}`;
    try { const d = await res.json(); if (d && typeof d.error === 'string') msg = d.error; } catch (_) { /* keep */ }
    throw new Error(msg);
  }

  /* Builds the URLs of docs/usage.md from a few fields; the raw URL field stays the one
   * that counts ("Use this URL" copies into it). A tunnel gets its server and client
   * together ("Create both": the server here, listening on the tunnel's port, and its
   * client reaching it at the tunnel address). */
  const bval = (id) => $(id).value.trim();
  const isPort = (v) => /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535;
  const isHostPort = (v) => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(v) && isPort(v.slice(v.lastIndexOf(':') + 1));
  const isKey = (v) => /^[A-Za-z0-9._~-]{1,128}$/.test(v);
  function buildUrls() {
    const kind = $('b-kind').value;
    const target = bval('b-target');
    const tunnel = bval('b-tunnel');
    const need = (ok, msg) => { if (!ok) throw new Error(msg); };
    if (kind === 'forward') {
      need(isPort(bval('b-listen')), 'Listen port: a number from 1 to 65535.');
      need(target.split(',').every(isHostPort), 'Service: host:port (several separated by commas).');
      return [`client://:${bval('b-listen')}/${target}?mode=1`];
    }
    need(isHostPort(tunnel), 'Tunnel address: host:port.');
    const tport = tunnel.slice(tunnel.lastIndexOf(':') + 1);
    if (kind === 'pair') {
      need(isPort(bval('b-public')), 'Published port: a number from 1 to 65535.');
      need(isHostPort(target), 'Service: host:port.');
      need(isKey(bval('b-key')), 'Tunnel key: letters, digits, . _ ~ - (press New for one).');
      const tls = $('b-tls').checked ? '?tls=1' : '';
      return [`server://${bval('b-key')}@:${tport}/:${bval('b-public')}${tls}`,
        `client://${bval('b-key')}@${tunnel}/${target}?mode=2`];
    }
    if (kind === 'hub') {
      const acc = bval('b-accounts');
      need(acc && !/[\s&?#]/.test(acc), 'Accounts file: a path.');
      let url = `hub://:${tport}?accounts=${acc}`;
      if (bval('b-http')) { need(isPort(bval('b-http')), 'HTTP port: a number from 1 to 65535.'); url += `&http=:${bval('b-http')}`; }
      if (bval('b-ports')) {
        const m = /^(\d{1,5})-(\d{1,5})$/.exec(bval('b-ports'));
        need(m && isPort(m[1]) && isPort(m[2]) && Number(m[1]) <= Number(m[2]), 'Route ports: low-high, e.g. 20000-20100.');
        url += `&ports=${bval('b-ports')}`;
      }
      return [url];
    }
    need(isKey(bval('b-token')), 'Token: letters, digits, . _ ~ -.');
    need(isHostPort(target), 'Service: host:port.');
    const route = bval('b-route');
    if (isPort(route)) return [`agent://${bval('b-token')}@${tunnel}?tcp=${target},port=${route}`];
    need(/^[A-Za-z0-9.-]+$/.test(route), 'Hub port or HTTP host: a port, or a host name.');
    return [`agent://${bval('b-token')}@${tunnel}?http=${target},host=${route}`];
  }
  function refreshBuilder() {
    const kind = $('b-kind').value;
    for (const f of $('builder').querySelectorAll('[data-kinds]')) f.hidden = !f.dataset.kinds.split(' ').includes(kind);
    $('b-pair').hidden = kind !== 'pair';
    let urls = [];
    let err = '';
    try { urls = buildUrls(); } catch (e) { err = e.message; }
    setText($('b-url'), urls[0] || '');
    setText($('b-url2'), urls[1] || '');
    setText($('b-error'), err);
    $('b-use').disabled = !urls.length;
    $('b-pair').disabled = urls.length !== 2;
    return urls;
  }
  $('builder').addEventListener('input', refreshBuilder);
  $('builder').addEventListener('change', refreshBuilder);
  $('b-key-new').addEventListener('click', () => {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    $('b-key').value = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
    refreshBuilder();
  });
  $('b-use').addEventListener('click', () => {
    const urls = refreshBuilder();
    if (!urls.length) return;
    $('create-url').value = urls[0];
    $('create-url').focus();
  });
  $('b-pair').addEventListener('click', async () => {
    const urls = refreshBuilder();
    if (urls.length !== 2) return;
    const name = $('create-alias').value.trim() || 'tunnel';
    const btn = $('b-pair');
    btn.disabled = true;
    try {
      for (const [i, url] of urls.entries()) {
        await post({ url, alias: `${name}-${i ? 'client' : 'server'}`.slice(0, 64) });
      }
      setText($('b-error'), '');
    } catch (e) {
      setText($('b-error'), `Could not create the pair: ${e.message}`);
    } finally {
      btn.disabled = false;
    }
  });
  refreshBuilder();

})();
