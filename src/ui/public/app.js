/* The touchscreen app of cccd-kiosk. It renders the `SessionView` the kiosk pushes over the
 * WebSocket (src/kiosk/view.ts) and sends back `UiInput`s; it keeps no state of its own beyond
 * the language (Vietnamese by default, back to Vietnamese when the kiosk returns to the attract
 * screen) and what a citizen is typing. Plain DOM: no framework, nothing from the network. */
/* global window, document, WebSocket, fetch, performance, requestAnimationFrame, setTimeout, clearTimeout, setInterval */
'use strict';

const TEXT = {
  vi: {
    lang: 'English',
    connecting: 'Đang kết nối…',
    'attract.title': 'Xin chào! Bạn cần làm gì?',
    'attract.hint': 'Chạm vào một lựa chọn để bắt đầu',
    'attract.pickup': 'Nhận thẻ căn cước',
    'attract.update': 'Cập nhật thông tin',
    'attract.status': 'Tra cứu hồ sơ cập nhật',
    'attract.status-placeholder': 'Mã hồ sơ',
    'attract.status-go': 'Tra cứu',
    'identify.title': 'Đưa mã QR nhận thẻ vào máy quét',
    'identify.hint': 'Mã QR có trong tin nhắn hoặc giấy hẹn nhận thẻ',
    'identify.or': 'hoặc nhập số định danh (12 chữ số)',
    'identify.submit': 'Tiếp tục',
    'finger.title': 'Đặt ngón trỏ phải lên cảm biến vân tay',
    'finger.hint': 'Giữ yên ngón tay cho đến khi có thông báo',
    'finger.attempts': 'Còn {n} lần thử',
    'checking.title': 'Đang kiểm tra thẻ, vui lòng chờ',
    'checking.hint': 'Thẻ đang được đọc chip và xác thực',
    'step.bac': 'Mở chip',
    'step.read': 'Đọc dữ liệu',
    'step.passive-auth': 'Xác thực dữ liệu',
    'step.active-auth': 'Xác thực chip',
    'step.match': 'Đối chiếu',
    'take.title': 'Vui lòng lấy thẻ ở khay phía dưới',
    'take.hint': 'Thẻ sẽ được thu hồi nếu không lấy kịp thời',
    'receipt.title': 'Hoàn tất! Đây là thẻ căn cước của bạn',
    'receipt.hint': 'Biên nhận đã được in. Mã biên nhận:',
    'referral.title': 'Vui lòng gặp cán bộ tại quầy',
    'referral.hint': 'Ki-ốt không thể hoàn tất yêu cầu của bạn',
    'update-identify.title': 'Đưa mã QR trên thẻ căn cước của bạn vào máy quét',
    'update-identify.hint': 'Mã QR ở mặt trước của thẻ',
    'update-record.title': 'Thông tin hiện tại của bạn',
    'update-record.hint': 'Bạn có thể sửa số điện thoại, thư điện tử và nơi cư trú',
    'update-record.edit': 'Sửa thông tin',
    'update-edit.title': 'Sửa thông tin',
    'update-edit.submit': 'Tiếp tục',
    'update-confirm.title': 'Kiểm tra lại thông tin mới',
    'update-confirm.hint': 'Chạm “Gửi” để gửi yêu cầu cập nhật',
    'update-confirm.submit': 'Gửi',
    'update-done.title': 'Đã gửi yêu cầu cập nhật',
    'update-done.hint': 'Biên nhận đã được in. Mã hồ sơ để tra cứu:',
    'update-status.title': 'Kết quả cập nhật',
    'state.received': 'Đã tiếp nhận',
    'state.pending': 'Đang xử lý',
    'state.approved': 'Đã duyệt',
    'state.rejected': 'Không được duyệt',
    'oos.title': 'Ki-ốt tạm ngừng phục vụ',
    'oos.hint': 'Xin lỗi vì sự bất tiện. Vui lòng quay lại sau hoặc gặp cán bộ tại quầy.',
    'oos.devices': 'Thiết bị cần kiểm tra: {list}',
    'field.id': 'Số định danh',
    'field.phone': 'Số điện thoại',
    'field.email': 'Thư điện tử',
    'field.province': 'Tỉnh/thành phố',
    'field.ward': 'Phường/xã',
    'field.detail': 'Số nhà, đường',
    'field.residence': 'Nơi cư trú',
    'field.none': '(chưa có)',
    back: 'Quay lại',
    cancel: 'Hủy',
    done: 'Xong',
    clear: 'Xóa',
    'countdown.seconds': 'Còn {n} giây',
    'device.scanner': 'máy quét mã',
    'device.fingerprint': 'cảm biến vân tay',
    'device.printer': 'máy in biên nhận',
    'device.dispenser': 'bộ cấp thẻ',
    'device.card-reader': 'đầu đọc thẻ',
    'device.gpio': 'cửa và đèn',
    'device.storage': 'bộ nhớ',
    'finger.no-match': 'Vân tay không khớp. Vui lòng thử lại.',
    'finger.low-quality': 'Chưa đọc rõ vân tay. Đặt lại ngón tay.',
    'identify.not-found': 'Không tìm thấy thẻ chờ nhận với mã này.',
    'identify.rate-limited': 'Quá nhiều lần thử. Vui lòng đợi một lát hoặc liên hệ nhân viên.',
    'identify.invalid-id': 'Số định danh chưa đúng (12 chữ số).',
    'identify.unknown-code': 'Mã QR này không dùng được ở đây.',
    'referral.finger-attempts': 'Vân tay không khớp sau nhiều lần thử.',
    'referral.chip-mismatch': 'Thẻ cần được cán bộ kiểm tra.',
    'referral.device-fault': 'Thiết bị gặp sự cố trong khi phục vụ.',
    'referral.card-retracted': 'Thẻ đã được thu hồi vì không được lấy kịp thời.',
    'referral.not-eligible': 'Hồ sơ cần được cán bộ xử lý.',
    'referral.registry-unavailable': 'Không kết nối được hệ thống. Vui lòng thử lại sau.',
    'out-of-service.device-missing': 'Một thiết bị cần thiết đang không hoạt động.',
    'out-of-service.storage-full': 'Bộ nhớ của ki-ốt đã đầy.',
    'out-of-service.locked': 'Ki-ốt đang được bảo trì.',
    'out-of-service.no-cards': 'Ki-ốt hiện không có thẻ chờ nhận.',
    'status.not-found': 'Không tìm thấy hồ sơ với mã này.',
    'update.card-not-recognised': 'Không nhận ra mã QR trên thẻ. Vui lòng thử lại.',
    'update.registry-unreachable': 'Không kết nối được hệ thống. Vui lòng thử lại sau.',
    'update.status-unknown': 'Không tìm thấy hồ sơ với mã này.',
    'referral.card-check-failed': 'Thẻ không qua được bước kiểm tra và đã được giữ lại.',
    'referral.registry-unreachable': 'Không kết nối được hệ thống. Vui lòng thử lại sau.',
    'out-of-service.card-stuck': 'Một thẻ bị kẹt trong máy.',
    'out-of-service.storage': 'Bộ nhớ của ki-ốt đã đầy.',
    'card.returning': 'Đang đưa thẻ về vị trí an toàn…',
    'message.unknown': 'Vui lòng làm theo hướng dẫn trên màn hình.',
  },
  en: {
    lang: 'Tiếng Việt',
    connecting: 'Connecting…',
    'attract.title': 'Hello! What would you like to do?',
    'attract.hint': 'Touch a choice to begin',
    'attract.pickup': 'Collect my ID card',
    'attract.update': 'Update my details',
    'attract.status': 'Check an update request',
    'attract.status-placeholder': 'Tracking code',
    'attract.status-go': 'Check',
    'identify.title': 'Hold your pickup QR code to the scanner',
    'identify.hint': 'The QR code is in your text message or appointment slip',
    'identify.or': 'or type your ID number (12 digits)',
    'identify.submit': 'Continue',
    'finger.title': 'Place your right index finger on the sensor',
    'finger.hint': 'Keep your finger still until you are told',
    'finger.attempts': '{n} attempts left',
    'checking.title': 'Checking your card, please wait',
    'checking.hint': 'The card’s chip is being read and verified',
    'step.bac': 'Open chip',
    'step.read': 'Read data',
    'step.passive-auth': 'Verify data',
    'step.active-auth': 'Verify chip',
    'step.match': 'Match',
    'take.title': 'Please take your card from the tray below',
    'take.hint': 'The card is taken back if it is not collected in time',
    'receipt.title': 'Done! Here is your ID card',
    'receipt.hint': 'Your receipt has been printed. Receipt code:',
    'referral.title': 'Please see a member of staff at the counter',
    'referral.hint': 'The kiosk cannot complete your request',
    'update-identify.title': 'Hold the QR code on your ID card to the scanner',
    'update-identify.hint': 'The QR code is on the front of the card',
    'update-record.title': 'Your current details',
    'update-record.hint': 'You can change your phone number, e-mail and place of residence',
    'update-record.edit': 'Change details',
    'update-edit.title': 'Change details',
    'update-edit.submit': 'Continue',
    'update-confirm.title': 'Check your new details',
    'update-confirm.hint': 'Touch “Send” to send the update request',
    'update-confirm.submit': 'Send',
    'update-done.title': 'Your update request has been sent',
    'update-done.hint': 'Your receipt has been printed. Tracking code:',
    'update-status.title': 'Update request status',
    'state.received': 'Received',
    'state.pending': 'In progress',
    'state.approved': 'Approved',
    'state.rejected': 'Not approved',
    'oos.title': 'This kiosk is out of service',
    'oos.hint': 'Sorry for the inconvenience. Please come back later or see staff at the counter.',
    'oos.devices': 'Devices to check: {list}',
    'field.id': 'ID number',
    'field.phone': 'Phone',
    'field.email': 'E-mail',
    'field.province': 'Province/city',
    'field.ward': 'Ward/commune',
    'field.detail': 'House number, street',
    'field.residence': 'Place of residence',
    'field.none': '(none)',
    back: 'Back',
    cancel: 'Cancel',
    done: 'Done',
    clear: 'Clear',
    'countdown.seconds': '{n} s left',
    'device.scanner': 'code scanner',
    'device.fingerprint': 'fingerprint sensor',
    'device.printer': 'receipt printer',
    'device.dispenser': 'card dispenser',
    'device.card-reader': 'card reader',
    'device.gpio': 'door and lights',
    'device.storage': 'storage',
    'finger.no-match': 'The fingerprint did not match. Please try again.',
    'finger.low-quality': 'The fingerprint was unclear. Place your finger again.',
    'identify.not-found': 'No card is waiting for this code.',
    'identify.rate-limited': 'Too many attempts. Please wait a moment or ask staff.',
    'identify.invalid-id': 'That ID number is not valid (12 digits).',
    'identify.unknown-code': 'This QR code cannot be used here.',
    'referral.finger-attempts': 'The fingerprint did not match after several attempts.',
    'referral.chip-mismatch': 'The card needs to be checked by staff.',
    'referral.device-fault': 'A device failed while serving you.',
    'referral.card-retracted': 'The card was taken back because it was not collected in time.',
    'referral.not-eligible': 'Your request needs to be handled by staff.',
    'referral.registry-unavailable': 'The registry cannot be reached. Please try again later.',
    'out-of-service.device-missing': 'A device the kiosk needs is not working.',
    'out-of-service.storage-full': 'The kiosk’s storage is full.',
    'out-of-service.locked': 'The kiosk is under maintenance.',
    'out-of-service.no-cards': 'No cards are waiting at this kiosk.',
    'status.not-found': 'No request was found with this code.',
    'update.card-not-recognised': 'The QR code on the card was not recognised. Please try again.',
    'update.registry-unreachable': 'The registry cannot be reached. Please try again later.',
    'update.status-unknown': 'No request was found with this code.',
    'referral.card-check-failed': 'The card did not pass its check and has been kept.',
    'referral.registry-unreachable': 'The registry cannot be reached. Please try again later.',
    'out-of-service.card-stuck': 'A card is stuck in the machine.',
    'out-of-service.storage': 'The kiosk’s storage is full.',
    'card.returning': 'Returning the card to a safe place…',
    'message.unknown': 'Please follow the instructions on the screen.',
  },
};

/* Pictures of what to do, inline SVG (no files to fetch). Static markup only, never data. */
const PICTURES = {
  card: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="40" y="50" width="200" height="126" rx="14" fill="#fff" stroke="#1f57c3" stroke-width="6"/><rect x="62" y="90" width="40" height="32" rx="5" fill="#e0b84a"/><circle cx="190" cy="110" r="26" fill="#d4dcef"/><rect x="62" y="140" width="150" height="10" rx="5" fill="#d4dcef"/><rect x="120" y="80" width="40" height="10" rx="5" fill="#d4dcef"/></svg>`,
  edit: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="50" y="30" width="150" height="170" rx="12" fill="#fff" stroke="#1f57c3" stroke-width="6"/><rect x="72" y="62" width="100" height="10" rx="5" fill="#d4dcef"/><rect x="72" y="92" width="100" height="10" rx="5" fill="#d4dcef"/><rect x="72" y="122" width="70" height="10" rx="5" fill="#d4dcef"/><path d="M236 70 l22 22 -80 80 -30 8 8 -30 z" fill="#e0b84a" stroke="#17233a" stroke-width="4"/></svg>`,
  qr: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="150" y="20" width="110" height="180" rx="16" fill="#17233a"/><rect x="165" y="150" width="80" height="30" rx="6" fill="#c62828"/><path d="M165 150 L120 110 M245 150 L200 110" stroke="#ff6b6b" stroke-width="4" stroke-dasharray="8 6"/><rect x="20" y="40" width="110" height="110" rx="8" fill="#fff" stroke="#17233a" stroke-width="5"/><g fill="#17233a"><rect x="32" y="52" width="28" height="28"/><rect x="90" y="52" width="28" height="28"/><rect x="32" y="110" width="28" height="28"/><rect x="70" y="92" width="12" height="12"/><rect x="90" y="110" width="12" height="12"/><rect x="106" y="126" width="12" height="12"/><rect x="70" y="60" width="12" height="12"/></g></svg>`,
  cardQr: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="180" y="20" width="90" height="180" rx="16" fill="#17233a"/><rect x="192" y="150" width="66" height="30" rx="6" fill="#c62828"/><rect x="10" y="50" width="160" height="110" rx="12" fill="#fff" stroke="#1f57c3" stroke-width="5"/><rect x="26" y="80" width="30" height="24" rx="4" fill="#e0b84a"/><rect x="110" y="66" width="48" height="48" fill="#fff" stroke="#17233a" stroke-width="3"/><g fill="#17233a"><rect x="114" y="70" width="14" height="14"/><rect x="140" y="70" width="14" height="14"/><rect x="114" y="96" width="14" height="14"/><rect x="134" y="90" width="8" height="8"/></g><rect x="26" y="126" width="120" height="8" rx="4" fill="#d4dcef"/></svg>`,
  finger: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="60" y="140" width="160" height="60" rx="12" fill="#17233a"/><rect x="95" y="150" width="90" height="34" rx="8" fill="#3d8bfd" opacity=".85"/><path d="M120 150 C118 110 116 60 128 40 C136 28 152 28 158 40 C168 60 164 110 162 150 Z" fill="#f2c6a0" stroke="#8a5a3b" stroke-width="4"/><path d="M132 70 q10 -8 20 0 M130 84 q12 -10 24 0 M130 98 q12 -10 24 0" stroke="#8a5a3b" stroke-width="3" fill="none"/><path d="M140 120 l0 16 M132 128 l8 8 8 -8" stroke="#1f57c3" stroke-width="5" fill="none"/></svg>`,
  chip: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="40" y="50" width="200" height="126" rx="14" fill="#fff" stroke="#1f57c3" stroke-width="6"/><rect x="110" y="88" width="60" height="50" rx="6" fill="#e0b84a"/><path d="M110 105 h60 M110 121 h60 M140 88 v50" stroke="#8a6d1d" stroke-width="3"/><g class="spin" fill="none" stroke="#1f57c3" stroke-width="6" stroke-linecap="round"><path d="M40 30 a30 30 0 0 1 40 -10"/><path d="M240 196 a30 30 0 0 1 -40 10"/></g></svg>`,
  tray: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="30" y="30" width="220" height="110" rx="12" fill="#17233a"/><rect x="60" y="120" width="160" height="24" rx="6" fill="#3b4560"/><rect x="80" y="98" width="120" height="76" rx="8" fill="#fff" stroke="#1f57c3" stroke-width="5"/><rect x="94" y="120" width="22" height="18" rx="3" fill="#e0b84a"/><path d="M140 200 v-22 M128 190 l12 12 12 -12" stroke="#c62828" stroke-width="6" fill="none"/></svg>`,
  receipt: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><path d="M90 20 h100 v180 l-12 -10 -12 10 -12 -10 -12 10 -12 -10 -12 10 -12 -10 -16 10 z" fill="#fff" stroke="#17233a" stroke-width="5"/><rect x="108" y="50" width="64" height="8" rx="4" fill="#d4dcef"/><rect x="108" y="72" width="64" height="8" rx="4" fill="#d4dcef"/><rect x="108" y="94" width="40" height="8" rx="4" fill="#d4dcef"/><circle cx="210" cy="150" r="32" fill="#0a7d32"/><path d="M194 150 l12 12 22 -24" stroke="#fff" stroke-width="8" fill="none"/></svg>`,
  staff: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="20" y="150" width="240" height="20" rx="6" fill="#8a6d1d"/><circle cx="140" cy="70" r="34" fill="#f2c6a0" stroke="#8a5a3b" stroke-width="4"/><path d="M80 150 c0 -40 120 -40 120 0 z" fill="#1f57c3"/><rect x="124" y="112" width="32" height="20" rx="4" fill="#ffd54a"/></svg>`,
  wrench: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><circle cx="140" cy="110" r="90" fill="#e4e8f0"/><path d="M100 170 l60 -60 a30 30 0 0 1 36 -40 l-18 18 6 16 16 6 18 -18 a30 30 0 0 1 -40 36 l-60 60 z" fill="#5b6475"/></svg>`,
  status: `<svg viewBox="0 0 280 220" class="picture" aria-hidden="true"><rect x="70" y="20" width="140" height="180" rx="12" fill="#fff" stroke="#1f57c3" stroke-width="6"/><circle cx="140" cy="90" r="36" fill="none" stroke="#1f57c3" stroke-width="6"/><path d="M140 66 v26 l16 10" stroke="#1f57c3" stroke-width="6" fill="none"/><rect x="100" y="150" width="80" height="10" rx="5" fill="#d4dcef"/></svg>`,
};

let lang = 'vi';
let view = null;
let socket = null;
let idDigits = '';
let lastTouch = 0;

function t(key, params) {
  const table = TEXT[lang];
  let text = table[key] ?? TEXT.vi[key] ?? table['message.unknown'];
  for (const [name, value] of Object.entries(params ?? {})) text = text.replace(`{${name}}`, String(value));
  return text;
}

/** Builds an element; children are nodes or text (never parsed as markup). */
function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return element;
}

function picture(name, small) {
  const template = document.createElement('template');
  template.innerHTML = PICTURES[name];
  const svg = template.content.firstElementChild;
  svg.setAttribute('data-picture', name);
  if (small) svg.classList.add('small');
  return svg;
}

function send(input) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(input));
}

function button(label, input, options) {
  const o = options ?? {};
  return withClick(
    h('button', { type: 'button', class: `big ${o.kind ?? ''}`, 'data-testid': o.testid }, label),
    input,
  );
}
function withClick(element, input) {
  element.addEventListener('click', () => send(typeof input === 'function' ? input() : input));
  return element;
}

function message() {
  return view.messageKey ? h('p', { class: 'message', 'data-testid': 'message' }, t(view.messageKey)) : null;
}

function cancelButton() {
  return button(t('cancel'), { type: 'cancel' }, { kind: 'quiet', testid: 'cancel' });
}

function doneButton() {
  return button(t('done'), { type: 'cancel' }, { kind: 'secondary', testid: 'done' });
}

/* The province and ward names of the session's last gazetteer, for screens whose view carries
 * codes only (update-confirm); forgotten when the session ends. */
let gazetteerSeen = [];

function residenceText(residence) {
  if (!residence) return t('field.none');
  const province = (view.gazetteer ?? gazetteerSeen).find((p) => p.code === residence.provinceCode);
  const ward = province?.wards.find((w) => w.code === residence.wardCode);
  return [residence.detail, ward?.name ?? residence.wardCode, province?.name ?? residence.provinceCode]
    .filter(Boolean)
    .join(', ');
}

function recordList(record) {
  const r = record ?? {};
  return h(
    'dl',
    { class: 'record', 'data-testid': 'record' },
    view.maskedId ? [h('dt', {}, t('field.id')), h('dd', { 'data-testid': 'masked-id' }, view.maskedId)] : [],
    h('dt', {}, t('field.phone')),
    h('dd', { 'data-testid': 'record-phone' }, r.phone || t('field.none')),
    h('dt', {}, t('field.email')),
    h('dd', { 'data-testid': 'record-email' }, r.email || t('field.none')),
    h('dt', {}, t('field.residence')),
    h('dd', { 'data-testid': 'record-residence' }, residenceText(r.residence)),
  );
}

function keypad() {
  const entry = h('div', { class: 'id-entry', 'data-testid': 'id-entry' }, idDigits.replace(/\d/g, '•'));
  const press = (digit) => () => {
    if (idDigits.length < 12) idDigits += digit;
    entry.textContent = idDigits.replace(/\d/g, '•');
    submit.disabled = idDigits.length !== 12;
  };
  const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((d) =>
    h('button', { type: 'button', onclick: press(d), 'data-testid': `key-${d}` }, d),
  );
  const clear = h(
    'button',
    {
      type: 'button',
      'data-testid': 'key-clear',
      onclick: () => {
        idDigits = '';
        entry.textContent = '';
        submit.disabled = true;
      },
    },
    '⌫',
  );
  const zero = h('button', { type: 'button', onclick: press('0'), 'data-testid': 'key-0' }, '0');
  // the twelfth key sends the number: no reaching for a button elsewhere
  const submit = h(
    'button',
    { type: 'button', class: 'submit', 'data-testid': 'id-submit', 'aria-label': t('identify.submit') },
    '✓',
  );
  submit.disabled = idDigits.length !== 12;
  submit.addEventListener('click', () => {
    send({ type: 'enter-id', idNumber: idDigits });
    idDigits = '';
  });
  return h('div', { class: 'keypad-box' }, entry, h('div', { class: 'keypad' }, keys, clear, zero, submit));
}

function editForm() {
  const record = view.record ?? {};
  const gazetteer = view.gazetteer ?? [];
  const phone = h('input', {
    type: 'tel',
    name: 'phone',
    inputmode: 'tel',
    maxlength: 20,
    'data-testid': 'edit-phone',
  });
  phone.value = record.phone ?? '';
  const email = h('input', { type: 'email', name: 'email', maxlength: 254, 'data-testid': 'edit-email' });
  email.value = record.email ?? '';
  const province = h(
    'select',
    { name: 'province', 'data-testid': 'edit-province' },
    h('option', { value: '' }, '—'),
    gazetteer.map((p) => h('option', { value: p.code }, p.name)),
  );
  province.value = record.residence?.provinceCode ?? '';
  const ward = h('select', { name: 'ward', 'data-testid': 'edit-ward' });
  const fillWards = () => {
    const wards = gazetteer.find((p) => p.code === province.value)?.wards ?? [];
    ward.replaceChildren(
      h('option', { value: '' }, '—'),
      ...wards.map((w) => h('option', { value: w.code }, w.name)),
    );
  };
  fillWards();
  ward.value = record.residence?.wardCode ?? '';
  province.addEventListener('change', fillWards);
  const detail = h('input', { type: 'text', name: 'detail', maxlength: 200, 'data-testid': 'edit-detail' });
  detail.value = record.residence?.detail ?? '';
  const form = h(
    'form',
    { class: 'edit', 'data-testid': 'edit-form' },
    h('label', {}, t('field.phone')),
    phone,
    h('label', {}, t('field.email')),
    email,
    h('label', {}, t('field.province')),
    province,
    h('label', {}, t('field.ward')),
    ward,
    h('label', {}, t('field.detail')),
    detail,
  );
  form.addEventListener('submit', (event) => event.preventDefault());
  const submit = withClick(
    h('button', { type: 'button', class: 'big', 'data-testid': 'edit-submit' }, t('update-edit.submit')),
    () => {
      const fields = {};
      if (phone.value !== (record.phone ?? '')) fields.phone = phone.value.trim();
      if (email.value !== (record.email ?? '')) fields.email = email.value.trim();
      const residence = { provinceCode: province.value, wardCode: ward.value, detail: detail.value.trim() };
      const old = record.residence;
      if (
        residence.provinceCode &&
        residence.wardCode &&
        (!old ||
          old.provinceCode !== residence.provinceCode ||
          old.wardCode !== residence.wardCode ||
          old.detail !== residence.detail)
      )
        fields.residence = residence;
      return { type: 'edit', fields };
    },
  );
  return [
    form,
    h(
      'div',
      { class: 'actions' },
      button(t('back'), { type: 'back' }, { kind: 'quiet', testid: 'back' }),
      submit,
    ),
  ];
}

function statusLookup() {
  const input = h('input', {
    type: 'text',
    maxlength: 32,
    placeholder: t('attract.status-placeholder'),
    'data-testid': 'status-code',
  });
  const go = h(
    'button',
    { type: 'button', class: 'big quiet', 'data-testid': 'status-go' },
    t('attract.status-go'),
  );
  go.addEventListener('click', () => {
    const code = input.value.trim();
    if (code) send({ type: 'ask-status', trackingCode: code });
  });
  return h('div', { class: 'status-lookup' }, h('span', {}, t('attract.status')), input, go);
}

/** One function per screen: a title (the one instruction), a picture, then what to touch. */
const SCREENS = {
  connecting: () => [h('h1', {}, t('connecting'))],
  attract: () => [
    h('h1', {}, t('attract.title')),
    h('p', { class: 'hint' }, t('attract.hint')),
    h(
      'div',
      { class: 'actions' },
      withClick(
        h(
          'button',
          { type: 'button', class: 'big choice', 'data-testid': 'start-pickup' },
          picture('card'),
          t('attract.pickup'),
        ),
        { type: 'start', flow: 'pickup' },
      ),
      withClick(
        h(
          'button',
          { type: 'button', class: 'big choice', 'data-testid': 'start-update' },
          picture('edit'),
          t('attract.update'),
        ),
        { type: 'start', flow: 'update' },
      ),
    ),
    statusLookup(),
  ],
  identify: () => [
    h('h1', {}, t('identify.title')),
    message(),
    h(
      'div',
      { class: 'identify' },
      h('div', {}, picture('qr'), h('p', { class: 'hint' }, t('identify.hint'))),
      h('div', {}, h('p', { class: 'or' }, t('identify.or')), keypad()),
    ),
    h('div', { class: 'actions' }, cancelButton()),
  ],
  finger: () => [
    h('h1', {}, t('finger.title')),
    picture('finger'),
    message(),
    view.maskedId ? h('div', { class: 'masked', 'data-testid': 'masked-id' }, view.maskedId) : null,
    view.attemptsLeft !== undefined
      ? h(
          'div',
          { class: 'attempts', 'data-testid': 'attempts' },
          t('finger.attempts', { n: view.attemptsLeft }),
        )
      : null,
    h('p', { class: 'hint' }, t('finger.hint')),
    h('div', { class: 'actions' }, cancelButton()),
  ],
  'checking-card': () => {
    const order = ['bac', 'read', 'passive-auth', 'active-auth', 'match'];
    const now = view.progress ? order.indexOf(view.progress.step) : -1;
    return [
      h('h1', {}, t('checking.title')),
      picture('chip'),
      h(
        'ol',
        { class: 'steps', 'data-testid': 'steps' },
        order.map((step, i) =>
          h('li', { class: i < now ? 'done' : i === now ? 'now' : '' }, t(`step.${step}`)),
        ),
      ),
      h('p', { class: 'hint' }, t('checking.hint')),
    ];
  },
  'take-card': () => [
    h('h1', {}, t('take.title')),
    picture('tray'),
    h('p', { class: 'hint' }, t('take.hint')),
  ],
  receipt: () => [
    h('h1', {}, t('receipt.title')),
    picture('receipt'),
    h('p', { class: 'hint' }, t('receipt.hint')),
    view.receiptCode ? h('div', { class: 'code', 'data-testid': 'receipt-code' }, view.receiptCode) : null,
    h('div', { class: 'actions' }, doneButton()),
  ],
  referral: () => [
    h('h1', {}, t('referral.title')),
    picture('staff'),
    message() ?? h('p', { class: 'hint' }, t('referral.hint')),
    h('div', { class: 'actions' }, doneButton()),
  ],
  'update-identify': () => [
    h('h1', {}, t('update-identify.title')),
    picture('cardQr'),
    message(),
    h('p', { class: 'hint' }, t('update-identify.hint')),
    h('div', { class: 'actions' }, cancelButton()),
  ],
  'update-record': () => [
    h('h1', {}, t('update-record.title')),
    message(),
    recordList(view.record),
    h('p', { class: 'hint' }, t('update-record.hint')),
    h(
      'div',
      { class: 'actions' },
      cancelButton(),
      button(t('update-record.edit'), { type: 'confirm' }, { testid: 'record-edit' }),
    ),
  ],
  'update-edit': () => [h('h1', {}, t('update-edit.title')), message(), ...editForm()],
  'update-confirm': () => [
    h('h1', {}, t('update-confirm.title')),
    message(),
    recordList(view.record),
    h('p', { class: 'hint' }, t('update-confirm.hint')),
    h(
      'div',
      { class: 'actions' },
      button(t('back'), { type: 'back' }, { kind: 'quiet', testid: 'back' }),
      button(t('update-confirm.submit'), { type: 'confirm' }, { testid: 'confirm' }),
    ),
  ],
  'update-done': () => [
    h('h1', {}, t('update-done.title')),
    picture('receipt'),
    h('p', { class: 'hint' }, t('update-done.hint')),
    view.trackingCode ? h('div', { class: 'code', 'data-testid': 'tracking-code' }, view.trackingCode) : null,
    h('div', { class: 'actions' }, doneButton()),
  ],
  'update-status': () => [
    h('h1', {}, t('update-status.title')),
    picture('status'),
    message(),
    view.updateStatus
      ? [
          h('div', { class: 'code', 'data-testid': 'status-tracking-code' }, view.updateStatus.trackingCode),
          h(
            'div',
            { class: `status-state ${view.updateStatus.state}`, 'data-testid': 'status-state' },
            t(`state.${view.updateStatus.state}`),
          ),
          view.updateStatus.note ? h('p', { class: 'hint' }, view.updateStatus.note) : null,
        ]
      : null,
    h('div', { class: 'actions' }, doneButton()),
  ],
  'out-of-service': () => {
    const oos = view.outOfService;
    return [
      h('h1', {}, t('oos.title')),
      picture('wrench'),
      oos ? h('p', { class: 'message', 'data-testid': 'oos-reason' }, t(oos.reasonKey)) : null,
      h('p', { class: 'hint' }, t('oos.hint')),
      oos && oos.devices.length > 0
        ? h(
            'p',
            { class: 'devices', 'data-testid': 'oos-devices' },
            t('oos.devices', { list: oos.devices.map((d) => t(`device.${d}`)).join(', ') }),
          )
        : null,
    ];
  },
};

let countdownTimer;
function renderCountdown() {
  clearTimeout(countdownTimer);
  const box = document.getElementById('countdown');
  const countdown = view?.countdown;
  if (!countdown) {
    box.hidden = true;
    return;
  }
  const leftMs = Math.max(0, countdown.endsAt - Date.now());
  const seconds = Math.ceil(leftMs / 1000);
  box.hidden = false;
  box.classList.toggle('urgent', seconds <= 10);
  box.querySelector('.countdown-text').textContent = t('countdown.seconds', { n: seconds });
  box.querySelector('.countdown-fill').style.width = `${Math.min(100, (leftMs / countdown.totalMs) * 100)}%`;
  box.setAttribute('data-seconds', String(seconds));
  if (leftMs > 0) countdownTimer = setTimeout(renderCountdown, Math.min(250, leftMs));
}

function render() {
  const screen = view ? view.screen : 'connecting';
  const body = document.body;
  body.setAttribute('data-screen', screen);
  body.setAttribute('data-lang', lang);
  document.documentElement.lang = lang;
  document.title = lang === 'vi' ? 'Ki-ốt căn cước' : 'ID card kiosk';
  document.getElementById('lang').textContent = t('lang');
  const builder = SCREENS[screen] ?? SCREENS.connecting;
  document.getElementById('screen').replaceChildren(...builder().flat().filter(Boolean));
  renderCountdown();
  if (view) {
    const { seq, messageKey } = view;
    body.setAttribute('data-seq', String(seq));
    // "shown" = after the frame that paints it: the latency bench reads this (bench/session).
    requestAnimationFrame(() =>
      setTimeout(() => {
        window.__kioskShown = { seq, screen, messageKey, at: performance.timeOrigin + performance.now() };
      }, 0),
    );
  }
}

function connect() {
  socket = new WebSocket(`ws://${window.location.host}/ws`);
  socket.addEventListener('message', (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.type !== 'view') return;
    const previous = view;
    view = message.view;
    window.__kioskReceived = { seq: view.seq, at: performance.timeOrigin + performance.now() };
    // the screens this page has shown, in order (the e2e tests read it: no take-card before referral)
    window.__kioskScreens = [...(window.__kioskScreens ?? []), view.screen].slice(-100);
    // A new citizen starts in Vietnamese, with an empty keypad.
    if (view.screen === 'attract' && previous?.screen !== 'attract') lang = 'vi';
    if (view.gazetteer) gazetteerSeen = view.gazetteer;
    if (!view.flow) gazetteerSeen = [];
    if (view.screen !== previous?.screen) idDigits = '';
    // The edit form keeps what the citizen is typing while only the countdown changes.
    if (
      previous &&
      view.screen === 'update-edit' &&
      previous.screen === 'update-edit' &&
      previous.messageKey === view.messageKey
    ) {
      renderCountdown();
      return;
    }
    render();
  });
  socket.addEventListener('close', () => {
    view = null;
    render();
    setTimeout(connect, 1000);
  });
}

document.getElementById('lang').addEventListener('click', () => {
  lang = lang === 'vi' ? 'en' : 'vi';
  render();
  send({ type: 'touch' });
});
// Any touch keeps the session alive (the kiosk resets its idle countdown), at most once a second.
document.addEventListener('pointerdown', () => {
  if (!view || view.screen === 'attract' || Date.now() - lastTouch < 1000) return;
  lastTouch = Date.now();
  send({ type: 'touch' });
});

// ---- the demo's control panel (`kiosk demo` only: the server adds data-demo) ----------------
/* The rig's demo citizens (fabricated): a name, their finger, their pickup QR, their card's QR. */
let demoCitizens = [];
let demoCollapsed = false;
let demoResult = '';
async function demo(command) {
  try {
    const response = await fetch('/demo/control', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(command),
    });
    const answer = response.ok ? undefined : await response.json().catch(() => ({}));
    demoResult = response.ok ? `✓ ${command.type}` : `✗ ${command.type}: ${answer?.error ?? response.status}`;
  } catch {
    demoResult = `✗ ${command.type}`;
  }
  renderDemoPanel();
}
function demoScanText() {
  const input = h('input', {
    type: 'text',
    maxlength: 512,
    placeholder: 'QR text',
    'data-testid': 'demo-scan-text',
  });
  const go = h('button', { type: 'button', 'data-testid': 'demo-scan-go' }, 'Quét / scan');
  go.addEventListener('click', () => {
    if (input.value) void demo({ type: 'scan', text: input.value });
  });
  return h('div', {}, input, go);
}
function renderDemoPanel() {
  const panel = document.getElementById('demo-panel');
  if (!panel) return;
  const b = (label, command, testid) =>
    h('button', { type: 'button', 'data-testid': testid, onclick: () => void demo(command) }, label);
  const toggle = h(
    'button',
    {
      type: 'button',
      'data-testid': 'demo-toggle',
      onclick: () => {
        demoCollapsed = !demoCollapsed;
        renderDemoPanel();
      },
    },
    demoCollapsed ? '▴' : '▾',
  );
  panel.classList.toggle('collapsed', demoCollapsed);
  document.body.classList.toggle('demo-folded', demoCollapsed);
  const devices = ['scanner', 'fingerprint', 'printer', 'dispenser'];
  panel.replaceChildren(
    h('h2', {}, 'Demo: thiết bị giả lập / emulated devices', toggle),
    h(
      'div',
      { class: 'demo-body' },
      h('h3', {}, 'Công dân / Citizens'),
      demoCitizens.map((citizen, i) =>
        h(
          'div',
          { class: 'demo-citizen' },
          h('div', {}, citizen.name),
          b('ngón tay / finger', { type: 'finger', who: citizen.pickupId }, `demo-finger-${i}`),
          b('QR nhận thẻ / pickup QR', { type: 'scan', text: citizen.pickupCode }, `demo-scan-pickup-${i}`),
          b('QR trên thẻ / card QR', { type: 'scan', text: citizen.cardQr }, `demo-scan-card-${i}`),
        ),
      ),
      h('h3', {}, 'Cảm biến / Sensor · máy quét / scanner'),
      b('ngón tay sai / wrong finger', { type: 'finger', who: 'wrong' }, 'demo-finger-wrong'),
      b('nhấc ngón tay / lift finger', { type: 'finger', who: 'none' }, 'demo-finger-none'),
      demoScanText(),
      h('h3', {}, 'Khay thẻ / Card tray'),
      b('lấy thẻ / take card', { type: 'take-card' }, 'demo-take-card'),
      h('h3', {}, 'Cáp / Cables'),
      devices.map((d) =>
        h(
          'div',
          {},
          d,
          ' ',
          b('rút / unplug', { type: 'unplug', device: d }, `demo-unplug-${d}`),
          b('cắm / replug', { type: 'replug', device: d }, `demo-replug-${d}`),
        ),
      ),
      h('div', { class: 'demo-result', 'data-testid': 'demo-result' }, demoResult),
      h('h3', {}, 'Biên nhận in gần nhất / Last printed receipt'),
      h('img', {
        class: 'demo-receipt',
        'data-testid': 'demo-receipt',
        alt: 'chưa in / nothing printed yet',
        ...(demoReceiptStamp ? { src: `/demo/receipt.png?t=${demoReceiptStamp}` } : {}),
      }),
    ),
  );
}
/* The printer emulator's PNG of the last receipt, polled; shown only once one exists (204 before). */
let demoReceiptStamp = 0;
if (document.body.hasAttribute('data-demo')) {
  setInterval(() => {
    fetch('/demo/receipt.png', { cache: 'no-store' })
      .then((response) => {
        if (response.status !== 200) return;
        demoReceiptStamp = Date.now();
        const img = document.querySelector('[data-testid="demo-receipt"]');
        if (img) img.setAttribute('src', `/demo/receipt.png?t=${demoReceiptStamp}`);
      })
      .catch(() => undefined);
  }, 3000);
}
if (document.body.hasAttribute('data-demo')) {
  fetch('/demo/citizens')
    .then((response) => response.json())
    .then((citizens) => {
      demoCitizens = citizens;
      renderDemoPanel();
    })
    .catch(() => undefined);
}

render();
renderDemoPanel();
connect();
