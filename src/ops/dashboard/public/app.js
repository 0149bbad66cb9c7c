/* The operations dashboard of cccd-kiosk (`kiosk-ops serve`). Plain DOM, nothing from the network
 * but its own server. After login it opens one Server-Sent Events stream: a `snapshot` of every
 * kiosk, then a `batch` of what changed every 250 ms. The fleet table is virtualised: only the rows
 * in view (plus a few) exist in the DOM, so 10,000 kiosks scroll and filter as smoothly as 10.
 * Everything kiosks send is shown with textContent, never parsed as HTML.
 *
 * Actions go to the server with the session's CSRF token; the server signs them with the
 * operations key. `body[data-first-rows]` holds the time (ms since navigation) at which the first
 * rows with data were on screen: the bench (bench/fleet/dashboard.ts) reads it. */
/* global window, document, fetch, EventSource, performance, requestAnimationFrame, setTimeout */

const ROW_HEIGHT = 30;
const OVERSCAN = 8;

const state = {
  csrf: '',
  operator: '',
  /** id → row */
  rows: new Map(),
  /** ids shown, in order (filter + search + sort applied) */
  visible: [],
  filter: 'all',
  search: '',
  selected: '',
  activity: [],
  rollouts: [],
  rolloutsAvailable: false,
  broker: false,
  stream: undefined,
  firstRowsMarked: false,
  renderQueued: false,
};

/** Creates an element: el('div', {class: 'x', 'data-testid': 'y'}, child, 'text', …). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return node;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(method === 'POST' ? { 'x-csrf-token': state.csrf } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// ---- login ------------------------------------------------------------------------------------

function showLogin(message) {
  document.body.dataset.view = 'login';
  const error = el('p', { class: 'error', role: 'alert', 'data-testid': 'login-error' }, message || '');
  const name = el('input', { id: 'name', name: 'name', autocomplete: 'username', required: true });
  const password = el('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const form = el(
    'form',
    { class: 'login', 'data-testid': 'login-form' },
    el('h1', {}, 'cccd-kiosk operations'),
    el('label', { for: 'name' }, 'Operator'),
    name,
    el('label', { for: 'password' }, 'Password'),
    password,
    el('button', { type: 'submit', 'data-testid': 'login-submit' }, 'Log in'),
    error,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const session = await api('POST', '/api/login', { name: name.value, password: password.value });
      startFleet(session);
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  document.getElementById('root').replaceChildren(form);
  name.focus();
}

// ---- the fleet view ---------------------------------------------------------------------------

const COLUMNS = [
  ['id', 'Kiosk'],
  ['online', 'Online'],
  ['seen', 'Last seen'],
  ['software', 'Software'],
  ['config', 'Config'],
  ['service', 'Service'],
  ['queue', 'Queue'],
  ['inventory', 'Inventory'],
  ['health', 'Health'],
  ['fault', 'Last fault'],
];

const FILTERS = [
  ['all', 'All kiosks'],
  ['online', 'Online'],
  ['offline', 'Offline'],
  ['locked', 'Locked'],
  ['out', 'Out of service'],
  ['unwell', 'A part not up'],
  ['queue', 'Queue not empty'],
];

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 90) return `${seconds}s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

function serviceText(row) {
  if (row.locked) return `LOCKED${row.reasons.length ? `: ${row.reasons.join('; ')}` : ''}`;
  if (!row.inService && row.reasons.length) return `OUT: ${row.reasons.join('; ')}`;
  return row.inService ? 'in service' : '-';
}

function inventoryText(inventory) {
  const entries = Object.entries(inventory || {});
  if (entries.length === 0) return '-';
  return entries.map(([name, count]) => `${name} ${count}`).join(', ');
}

function cells(row) {
  return {
    id: row.id,
    online: row.online ? 'yes' : 'NO',
    seen: row.online ? 'now' : ago(row.lastSeen),
    software: row.software || '-',
    config: row.config ? `f${row.config.fleet} / k${row.config.kiosk}` : '-',
    service: serviceText(row),
    queue: row.queue === null ? '-' : `${row.queue}${row.queueOldest ? ` (${row.queueOldest}s)` : ''}`,
    inventory: inventoryText(row.inventory),
    health: row.unwell.length === 0 ? 'ok' : row.unwell.join(', '),
    fault: row.lastFault || '-',
  };
}

function matches(row) {
  switch (state.filter) {
    case 'online':
      if (!row.online) return false;
      break;
    case 'offline':
      if (row.online) return false;
      break;
    case 'locked':
      if (!row.locked) return false;
      break;
    case 'out':
      if (!row.online || row.inService) return false;
      break;
    case 'unwell':
      if (row.unwell.length === 0) return false;
      break;
    case 'queue':
      if (!row.queue) return false;
      break;
    default:
  }
  if (!state.search) return true;
  const text = `${row.id} ${row.software || ''} ${row.reasons.join(' ')} ${row.unwell.join(' ')} ${row.lastFault || ''}`;
  return text.toLowerCase().includes(state.search);
}

function recompute() {
  state.visible = [...state.rows.values()]
    .filter(matches)
    .map((row) => row.id)
    .sort();
}

/** Re-renders once per frame, however many batches arrived. */
function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    recompute();
    renderSummary();
    renderRows();
    renderActivity();
    renderRollouts();
  });
}

function renderSummary() {
  const rows = [...state.rows.values()];
  const online = rows.filter((row) => row.online).length;
  const locked = rows.filter((row) => row.locked).length;
  // an offline kiosk's service is unknown: only the ones that say so count as out of service
  const out = rows.filter((row) => row.online && !row.inService).length;
  const summary = document.getElementById('summary');
  summary.textContent = `${rows.length} kiosks · ${online} online · ${locked} locked · ${out} out of service · showing ${state.visible.length}`;
  document.body.dataset.kiosks = String(rows.length);
  document.body.dataset.shown = String(state.visible.length);
  const broker = document.getElementById('broker');
  broker.textContent = state.broker ? 'broker connected' : 'broker NOT connected';
  broker.className = state.broker ? 'ok' : 'bad';
}

function renderRows() {
  const viewport = document.getElementById('viewport');
  const spacer = document.getElementById('spacer');
  spacer.style.height = `${state.visible.length * ROW_HEIGHT}px`;
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(
    state.visible.length,
    Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW_HEIGHT) + OVERSCAN,
  );
  const nodes = [];
  for (let index = first; index < last; index++) {
    const row = state.rows.get(state.visible[index]);
    if (!row) continue;
    const text = cells(row);
    const classes = ['row'];
    if (!row.online) classes.push('offline');
    if (row.locked) classes.push('locked');
    else if (!row.inService) classes.push('out');
    if (row.id === state.selected) classes.push('selected');
    const node = el(
      'div',
      {
        class: classes.join(' '),
        role: 'row',
        'data-kiosk': row.id,
        'data-locked': String(row.locked),
        'data-online': String(row.online),
        tabindex: '0',
        onclick: () => select(row.id),
        onkeydown: (event) => event.key === 'Enter' && select(row.id),
      },
      COLUMNS.map(([key]) => el('span', { role: 'cell', class: `c-${key}`, title: text[key] }, text[key])),
    );
    // through the CSSOM: the page's CSP allows no inline style attributes
    node.style.top = `${index * ROW_HEIGHT}px`;
    nodes.push(node);
  }
  spacer.replaceChildren(...nodes);
  if (!state.firstRowsMarked && nodes.length > 0) {
    state.firstRowsMarked = true;
    performance.mark('ops-first-rows');
    document.body.dataset.firstRows = String(Math.round(performance.now()));
  }
}

function renderActivity() {
  const list = document.getElementById('activity');
  const entries = state.activity.slice(-30).reverse();
  list.replaceChildren(
    ...entries.map((entry) =>
      el(
        'li',
        { 'data-state': entry.state, 'data-action': entry.action, 'data-kiosk': entry.kioskId },
        `${entry.at.slice(11, 19)} ${entry.operator}: ${entry.action} → ${entry.kioskId}: ${entry.state}${entry.detail ? ` (${entry.detail})` : ''}`,
      ),
    ),
  );
}

function renderRollouts() {
  const list = document.getElementById('rollouts');
  if (!state.rolloutsAvailable) {
    list.replaceChildren(el('p', { class: 'muted' }, 'Rollouts are not available in this dashboard.'));
    return;
  }
  list.replaceChildren(
    ...state.rollouts
      .slice()
      .reverse()
      .map((rollout) =>
        el(
          'div',
          { class: `rollout ${rollout.state}`, 'data-rollout': rollout.id, 'data-state': rollout.state },
          el(
            'div',
            { class: 'rollout-head' },
            el('strong', {}, `${rollout.payload}`),
            ` · ${rollout.state.toUpperCase()}`,
            rollout.reason
              ? el('span', { class: 'reason', 'data-testid': 'rollout-reason' }, ` · ${rollout.reason}`)
              : '',
            ` · by ${rollout.createdBy}`,
          ),
          el(
            'div',
            { class: 'counts' },
            Object.entries(rollout.counts)
              .map(([name, count]) => `${name} ${count}`)
              .join(' · '),
          ),
          el(
            'ul',
            { class: 'outcomes' },
            rollout.kiosks.map((kiosk) =>
              el(
                'li',
                { 'data-kiosk': kiosk.id, 'data-outcome': kiosk.outcome },
                `${kiosk.id}: ${kiosk.outcome}${kiosk.detail ? ` (${kiosk.detail})` : ''}`,
              ),
            ),
          ),
          ['running', 'paused'].includes(rollout.state)
            ? el(
                'div',
                { class: 'buttons' },
                rollout.state === 'running'
                  ? el('button', { onclick: () => controlRollout(rollout.id, 'pause') }, 'Pause')
                  : el('button', { onclick: () => controlRollout(rollout.id, 'resume') }, 'Resume'),
                el(
                  'button',
                  { class: 'danger', onclick: () => controlRollout(rollout.id, 'abort') },
                  'Abort',
                ),
              )
            : '',
        ),
      ),
  );
}

async function controlRollout(id, action) {
  await act(() => api('POST', `/api/rollouts/${id}/${action}`, {}), `${action} rollout`);
}

/** Runs an action, saying on the page what came of it. */
async function act(run, what) {
  const result = document.getElementById('action-result');
  result.textContent = `${what}…`;
  result.className = '';
  try {
    await run();
    result.textContent = `${what}: sent`;
    result.className = 'ok';
  } catch (failure) {
    result.textContent = `${what}: ${failure.message}`;
    result.className = 'bad';
  }
}

async function select(id) {
  state.selected = id;
  scheduleRender();
  const panel = document.getElementById('detail');
  panel.replaceChildren(el('p', { class: 'muted' }, `Loading ${id}…`));
  let detail;
  try {
    detail = await api('GET', `/api/kiosks/${encodeURIComponent(id)}`);
  } catch (failure) {
    panel.replaceChildren(el('p', { class: 'bad' }, failure.message));
    return;
  }
  if (state.selected !== id) return;
  const settings = el(
    'textarea',
    { id: 'config-settings', rows: 4, 'aria-label': 'settings (JSON)' },
    '{\n  "log": { "level": "info" }\n}',
  );
  panel.replaceChildren(
    el('h2', { 'data-testid': 'detail-id' }, detail.id),
    el(
      'dl',
      {},
      el('dt', {}, 'Online'),
      el(
        'dd',
        { 'data-testid': 'detail-online' },
        detail.online ? 'yes' : `no (last seen ${ago(detail.lastSeen)})`,
      ),
      el('dt', {}, 'Service'),
      el('dd', { 'data-testid': 'detail-service' }, serviceText(detail)),
      el('dt', {}, 'Software'),
      el('dd', {}, detail.software || '-'),
      el('dt', {}, 'Config'),
      el('dd', {}, detail.config ? `fleet v${detail.config.fleet}, own v${detail.config.kiosk}` : '-'),
      el('dt', {}, 'Queue'),
      el('dd', {}, detail.queue === null ? '-' : `${detail.queue} (oldest ${detail.queueOldest ?? 0}s)`),
      el('dt', {}, 'Inventory'),
      el('dd', {}, inventoryText(detail.inventory)),
      el('dt', {}, 'Uptime'),
      el('dd', {}, detail.uptimeSeconds === null ? '-' : `${Math.round(detail.uptimeSeconds / 60)} min`),
    ),
    el('h3', {}, 'Recent faults'),
    detail.faults.length === 0
      ? el('p', { class: 'muted', 'data-testid': 'detail-faults' }, 'none reported')
      : el(
          'ol',
          { class: 'faults', 'data-testid': 'detail-faults' },
          detail.faults
            .slice()
            .reverse()
            .map((fault) => el('li', {}, `${fault.at.replace('T', ' ').slice(0, 19)} ${fault.code}`)),
        ),
    el(
      'div',
      { class: 'buttons' },
      el('button', { 'data-testid': 'action-lock', onclick: () => command('lock', id) }, 'Lock'),
      el('button', { 'data-testid': 'action-unlock', onclick: () => command('unlock', id) }, 'Unlock'),
      el(
        'button',
        { 'data-testid': 'action-resync', onclick: () => command('resync', id) },
        'Resync manifest',
      ),
    ),
    el('h3', {}, 'Push config to this kiosk'),
    settings,
    el(
      'button',
      {
        'data-testid': 'action-config',
        onclick: () =>
          act(
            async () =>
              api('POST', '/api/actions/config', { kiosks: [id], settings: JSON.parse(settings.value) }),
            `config to ${id}`,
          ),
      },
      'Sign and push',
    ),
    el('h3', {}, 'Parts'),
    el(
      'ul',
      { class: 'parts', 'data-testid': 'detail-parts' },
      Object.entries(detail.parts).map(([name, part]) =>
        el(
          'li',
          { 'data-state': part.state },
          `${name}: ${part.state}${part.detail ? ` (${part.detail})` : ''}`,
        ),
      ),
      Object.entries(detail.devices).map(([name, health]) =>
        el('li', { 'data-state': health }, `device ${name}: ${health}`),
      ),
    ),
  );
}

function command(name, id) {
  return act(() => api('POST', `/api/actions/${name}`, { kiosks: [id] }), `${name} ${id}`);
}

function rolloutForm() {
  const kind = el(
    'select',
    {
      id: 'rollout-kind',
      onchange: () => {
        settings.hidden = kind.value !== 'config';
        software.hidden = kind.value !== 'software';
      },
    },
    el('option', { value: 'config' }, 'Configuration settings'),
    el('option', { value: 'software' }, 'Software release'),
  );
  const settings = el(
    'textarea',
    { id: 'rollout-settings', rows: 3, 'aria-label': 'rollout settings (JSON)' },
    '{\n  "log": { "level": "warn" }\n}',
  );
  const software = el('input', {
    id: 'rollout-software',
    placeholder: 'release version, e.g. 0.4.1',
    'aria-label': 'software release version',
    hidden: true,
  });
  const canary = el('input', {
    id: 'rollout-canary',
    placeholder: 'canary kiosks (comma separated) or empty for 10 %',
  });
  const perStep = el('input', {
    id: 'rollout-step',
    type: 'number',
    min: 1,
    value: 5,
    'aria-label': 'kiosks per step',
  });
  const maxFailures = el('input', {
    id: 'rollout-failures',
    type: 'number',
    min: 0,
    value: 0,
    'aria-label': 'failures tolerated',
  });
  const start = async () => {
    const canaryIds = canary.value
      .split(',')
      .map((id) => id.trim())
      .filter(Boolean);
    const what =
      kind.value === 'software'
        ? { software: software.value.trim() }
        : { settings: JSON.parse(settings.value) };
    await api('POST', '/api/rollouts', {
      kiosks: state.visible.slice(),
      ...what,
      canary: canaryIds.length ? { kiosks: canaryIds } : { percent: 10 },
      rate: { kind: 'constant', perStep: Number(perStep.value) },
      maxFailures: Number(maxFailures.value),
    });
  };
  return el(
    'div',
    { class: 'rollout-form' },
    el('h3', {}, 'Start a rollout to the kiosks shown'),
    el('label', { for: 'rollout-kind' }, 'Roll out'),
    kind,
    settings,
    software,
    el('label', { for: 'rollout-canary' }, 'Canary'),
    canary,
    el('label', { for: 'rollout-step' }, 'Kiosks per step'),
    perStep,
    el('label', { for: 'rollout-failures' }, 'Failures tolerated'),
    maxFailures,
    el('button', { 'data-testid': 'rollout-start', onclick: () => act(start, 'rollout') }, 'Start rollout'),
  );
}

function fleetLayout() {
  const search = el('input', {
    id: 'search',
    type: 'search',
    placeholder: 'Search kiosk, version, reason, fault…',
    'aria-label': 'search',
    'data-testid': 'search',
    oninput: (event) => {
      state.search = event.target.value.trim().toLowerCase();
      scheduleRender();
    },
  });
  const filter = el(
    'select',
    {
      id: 'filter',
      'aria-label': 'filter',
      'data-testid': 'filter',
      onchange: (event) => {
        state.filter = event.target.value;
        scheduleRender();
      },
    },
    FILTERS.map(([value, label]) => el('option', { value }, label)),
  );
  const viewport = el(
    'div',
    { id: 'viewport', role: 'rowgroup', onscroll: () => renderRows() },
    el('div', { id: 'spacer' }),
  );
  return [
    el(
      'header',
      {},
      el('h1', {}, 'cccd-kiosk operations'),
      el('span', { id: 'broker' }),
      el('span', { id: 'summary', 'data-testid': 'summary' }),
      el('span', { class: 'who' }, state.operator),
      el('button', { 'data-testid': 'logout', onclick: logout }, 'Log out'),
    ),
    el('div', { class: 'toolbar' }, search, filter, el('span', { id: 'action-result', role: 'status' })),
    el(
      'div',
      { class: 'main' },
      el(
        'section',
        { class: 'fleet', role: 'table', 'aria-label': 'fleet' },
        el(
          'div',
          { class: 'row head', role: 'row' },
          COLUMNS.map(([key, title]) => el('span', { role: 'columnheader', class: `c-${key}` }, title)),
        ),
        viewport,
      ),
      el('aside', { id: 'detail', 'data-testid': 'detail' }, el('p', { class: 'muted' }, 'Select a kiosk.')),
    ),
    el(
      'div',
      { class: 'lower' },
      el(
        'section',
        {},
        el('h2', {}, 'Rollouts'),
        rolloutForm(),
        el('div', { id: 'rollouts', 'data-testid': 'rollouts' }),
      ),
      el('section', {}, el('h2', {}, 'Activity'), el('ul', { id: 'activity', 'data-testid': 'activity' })),
    ),
  ];
}

function mergeActivity(entries) {
  for (const entry of entries) {
    const index = state.activity.findIndex((known) => known.seq === entry.seq);
    if (index >= 0) state.activity[index] = entry;
    else state.activity.push(entry);
  }
  state.activity.sort((a, b) => a.seq - b.seq);
  if (state.activity.length > 500) state.activity.splice(0, state.activity.length - 500);
}

function startFleet(session) {
  state.csrf = session.csrf;
  state.operator = session.operator;
  document.body.dataset.view = 'fleet';
  document.getElementById('root').replaceChildren(...fleetLayout());
  const stream = new EventSource('/api/stream');
  state.stream = stream;
  stream.addEventListener('snapshot', (event) => {
    const data = JSON.parse(event.data);
    state.rows = new Map(data.rows.map((row) => [row.id, row]));
    state.activity = data.activity;
    state.rollouts = data.rollouts;
    state.rolloutsAvailable = data.rolloutsAvailable;
    state.broker = data.broker;
    document.body.dataset.stream = 'open';
    scheduleRender();
  });
  stream.addEventListener('batch', (event) => {
    const data = JSON.parse(event.data);
    for (const row of data.rows) state.rows.set(row.id, row);
    for (const id of data.removed) state.rows.delete(id);
    mergeActivity(data.activity);
    if (data.rollouts) state.rollouts = data.rollouts;
    state.broker = data.broker;
    scheduleRender();
    // the open kiosk's detail follows its row
    if (state.selected && data.rows.some((row) => row.id === state.selected)) refreshDetailSoon();
  });
  stream.addEventListener('error', () => {
    // the server went away or the session ended: EventSource retries by itself; a 401 closes it
    if (stream.readyState === EventSource.CLOSED) showLogin('Session ended: log in again.');
  });
}

let detailTimer;
function refreshDetailSoon() {
  if (detailTimer) return;
  detailTimer = setTimeout(() => {
    detailTimer = undefined;
    // keep what the operator is typing
    if (document.activeElement?.id === 'config-settings') return;
    if (state.selected) select(state.selected);
  }, 500);
}

async function logout() {
  state.stream?.close();
  await api('POST', '/api/logout', {}).catch(() => undefined);
  state.rows = new Map();
  state.firstRowsMarked = false;
  showLogin();
}

async function boot() {
  try {
    startFleet(await api('GET', '/api/session'));
  } catch {
    showLogin();
  }
}

boot();
window.addEventListener('resize', () => scheduleRender());
