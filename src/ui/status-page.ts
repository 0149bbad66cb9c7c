/**
 * The status page of the foundation: kiosk id, broker link and devices, refreshed every two
 * seconds from /api/status. Vietnamese first, English beside it. The citizen app replaces it.
 */
export function statusPage(): string {
  return `<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ki-ốt CCCD — trạng thái</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem; background: #f6f7f9; color: #1d2330; }
  h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
  .sub { color: #5b6475; margin-bottom: 1.5rem; }
  table { border-collapse: collapse; min-width: 28rem; background: #fff; }
  td, th { padding: .55rem .9rem; border-bottom: 1px solid #e4e7ec; text-align: left; }
  .up { color: #0a7d32; } .degraded { color: #a15c00; } .down, .stopped { color: #b42318; }
</style>
</head>
<body>
<h1>Ki-ốt căn cước <span id="kiosk">…</span></h1>
<div class="sub">Trạng thái / Status · phiên bản <span id="version">…</span> · <span id="overall">…</span></div>
<table><thead><tr><th>Bộ phận / Part</th><th>Trạng thái / State</th><th>Chi tiết / Detail</th></tr></thead>
<tbody id="parts"></tbody></table>
<script>
const labels = { link: 'Kết nối máy chủ / Broker link', devices: 'Thiết bị / Devices', store: 'Lưu trữ / Store', ui: 'Giao diện / UI' };
function row(name, part, indent) {
  const tr = document.createElement('tr');
  const cells = [(indent ? '\\u00a0\\u00a0\\u00a0' : '') + (labels[name] || name), part.state, part.detail || ''];
  cells.forEach((text, i) => { const td = document.createElement('td'); td.textContent = text; if (i === 1) td.className = part.state; tr.appendChild(td); });
  return tr;
}
async function refresh() {
  try {
    const status = await (await fetch('/api/status')).json();
    document.getElementById('kiosk').textContent = status.kioskId;
    document.getElementById('version').textContent = status.version;
    const overall = document.getElementById('overall');
    overall.textContent = status.status; overall.className = status.status;
    const body = document.getElementById('parts');
    body.replaceChildren();
    for (const [name, part] of Object.entries(status.parts)) {
      body.appendChild(row(name, part, false));
      for (const [sub, subPart] of Object.entries(part.parts || {})) body.appendChild(row(sub, subPart, true));
    }
  } catch (e) { document.getElementById('overall').textContent = 'không kết nối được / unreachable'; }
}
refresh(); setInterval(refresh, 2000);
</script>
</body>
</html>`;
}
