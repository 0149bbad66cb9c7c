/* The touchscreen app of cccd-kiosk. It renders the `SessionView` the kiosk pushes over the
 * WebSocket (src/kiosk/view.ts) and sends back `UiInput`s; it keeps no state of its own beyond
 * the language (Vietnamese by default, back to Vietnamese when the kiosk returns to the attract
 * screen), the large-text mode and what a citizen is typing. Plain DOM: no framework, nothing from
 * the network.
 *
 * Audio guidance hook: every screen has a stable key (`body[data-screen]`, e.g. "finger") and every
 * message a key (`[data-message-key]`, e.g. "finger.no-match"). On each new screen or message the
 * app calls `window.kioskSpeech?.say(key, params)` once (see `announce`), and the "Nghe lại /
 * Repeat" button and the keypad's help key call it again with `repeat: true`.
 *
 * Physical keypad: arrows move the focus, Enter activates, Backspace/Escape go back, 0-9 type the
 * ID number, F1/Help/`*` repeat the instruction; the focus ring is always visible. */
/* global window, document, WebSocket, fetch, performance, requestAnimationFrame, setTimeout, clearTimeout, setInterval, CustomEvent, Element, HTMLElement, HTMLSelectElement */
import { groupDigits, isEmailAddress, normalisePhone } from './input-rules.js';
import { telexKey } from './telex.js';

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
    'step.bac': 'Kết nối với thẻ',
    'step.read': 'Đọc thông tin trên thẻ',
    'step.passive-auth': 'Kiểm tra thông tin là thật',
    'step.active-auth': 'Kiểm tra thẻ là thật',
    'step.match': 'So với hồ sơ của bạn',
    'take.title': 'Vui lòng lấy thẻ ở khay phía dưới',
    'take.hint': 'Thẻ sẽ được thu hồi nếu không lấy kịp thời',
    'receipt.title': 'Hoàn tất! Đây là thẻ căn cước của bạn',
    'receipt.hint': 'Biên nhận đã được in. Mã biên nhận:',
    'receipt.not-printed': 'Không in được biên nhận. Vui lòng ghi lại mã này:',
    'referral.reference': 'Mã tham chiếu cho cán bộ:',
    'finger.lift': 'Nhấc ngón tay khỏi cảm biến',
    'finger.try-again': 'Đặt lại ngón tay lên cảm biến',
    'more-time.title': 'Bạn cần thêm thời gian?',
    'more-time.hint': 'Chạm vào màn hình để có thêm thời gian',
    'more-time.yes': 'Có, cho tôi thêm thời gian',
    'status-lookup.title': 'Nhập mã hồ sơ cập nhật',
    'status-lookup.hint': 'Mã hồ sơ in trên biên nhận, ví dụ U-7K3Q9ABC',
    'update.status-empty': 'Vui lòng nhập mã hồ sơ.',
    'update.invalid-phone': 'Số điện thoại chưa đúng: 10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09.',
    'update.invalid-email': 'Địa chỉ thư điện tử chưa đúng, ví dụ: ten@example.vn',
    'update.invalid-residence': 'Vui lòng chọn tỉnh/thành phố và phường/xã.',
    repeat: 'Nghe lại',
    'large-text': 'Chữ to',
    'kb.space': 'Dấu cách',
    'kb.backspace': 'Xóa một ký tự',
    'kb.done': 'Xong',
    'kb.telex': 'Gõ tiếng Việt',
    'kb.shift': 'Chữ hoa',
    'key.delete-one': 'Xóa một số',
    'edit.tap-to-type': 'Chạm vào một ô để nhập',
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
    'update-done.not-printed': 'Không in được biên nhận. Vui lòng ghi lại mã hồ sơ này:',
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
    'referral.card-retracted':
      'Thẻ chưa được lấy nên máy đã thu thẻ vào nơi an toàn. Vui lòng đưa mã dưới đây cho cán bộ tại quầy để nhận thẻ.',
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
    'referral.pickup-withdrawn':
      'Thẻ này hiện không thể nhận tại ki-ốt và vẫn được giữ lại trong máy. Vui lòng liên hệ nhân viên.',
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
    'step.bac': 'Connect to the card',
    'step.read': 'Read the card',
    'step.passive-auth': 'Check the details are genuine',
    'step.active-auth': 'Check the card is genuine',
    'step.match': 'Compare with your record',
    'take.title': 'Please take your card from the tray below',
    'take.hint': 'The card is taken back if it is not collected in time',
    'receipt.title': 'Done! Here is your ID card',
    'receipt.hint': 'Your receipt has been printed. Receipt code:',
    'receipt.not-printed': 'The receipt could not be printed. Please note this code:',
    'referral.reference': 'Reference for staff:',
    'finger.lift': 'Lift your finger off the sensor',
    'finger.try-again': 'Place your finger on the sensor again',
    'more-time.title': 'Need more time?',
    'more-time.hint': 'Touch the screen for more time',
    'more-time.yes': 'Yes, give me more time',
    'status-lookup.title': 'Type your tracking code',
    'status-lookup.hint': 'The tracking code is on your receipt, e.g. U-7K3Q9ABC',
    'update.status-empty': 'Please type the tracking code.',
    'update.invalid-phone': 'The phone number is not valid: 10 digits starting 03, 05, 07, 08 or 09.',
    'update.invalid-email': 'The e-mail address is not valid, e.g. name@example.vn',
    'update.invalid-residence': 'Please choose a province/city and a ward/commune.',
    repeat: 'Repeat',
    'large-text': 'Large text',
    'kb.space': 'Space',
    'kb.backspace': 'Delete one character',
    'kb.done': 'Done',
    'kb.telex': 'Vietnamese typing',
    'kb.shift': 'Capitals',
    'key.delete-one': 'Delete one digit',
    'edit.tap-to-type': 'Touch a box to type',
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
    'update-done.not-printed': 'The receipt could not be printed. Please note this tracking code:',
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
    'referral.card-retracted':
      'The card was not taken, so the kiosk took it back to keep it safe. Show the code below to staff at the counter to get your card.',
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
    'referral.pickup-withdrawn':
      'This card can no longer be collected at the kiosk; it stays inside. Please see staff.',
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
  return view.messageKey
    ? h(
        'p',
        { class: 'message', role: 'status', 'data-testid': 'message', 'data-message-key': view.messageKey },
        t(view.messageKey),
      )
    : null;
}

/** A code the citizen may have to note: large, and spaced so it reads well aloud. */
function bigCode(code, testid) {
  return h('div', { class: 'code', 'data-testid': testid }, code);
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

/* The ID number's keypad: the digits stay visible as they are typed, in groups of three, and ⌫
 * takes one digit off. Keys are 80 px (WCAG 2.5.5 asks 44). */
function keypad() {
  const entry = h('output', {
    class: 'id-entry',
    'data-testid': 'id-entry',
    'aria-live': 'polite',
    'aria-labelledby': 'id-entry-label',
  });
  const submit = h(
    'button',
    { type: 'button', class: 'submit', 'data-testid': 'id-submit', 'aria-label': t('identify.submit') },
    '✓',
  );
  const refresh = () => {
    entry.textContent = groupDigits(idDigits);
    submit.disabled = idDigits.length !== 12;
  };
  const press = (digit) => () => {
    typeDigit(digit);
    refresh();
  };
  const keys = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((d) =>
    h('button', { type: 'button', onclick: press(d), 'data-testid': `key-${d}` }, d),
  );
  const deleteOne = h(
    'button',
    {
      type: 'button',
      'data-testid': 'key-clear',
      'aria-label': t('key.delete-one'),
      onclick: () => {
        idDigits = idDigits.slice(0, -1);
        refresh();
      },
    },
    '⌫',
  );
  const zero = h('button', { type: 'button', onclick: press('0'), 'data-testid': 'key-0' }, '0');
  // the twelfth key sends the number: no reaching for a button elsewhere
  submit.addEventListener('click', submitId);
  refresh();
  keypadRefresh = refresh;
  return h(
    'div',
    { class: 'keypad-box' },
    entry,
    h('div', { class: 'keypad' }, keys, deleteOne, zero, submit),
  );
}
let keypadRefresh = () => undefined;
function typeDigit(digit) {
  if (idDigits.length < 12) idDigits += digit;
}
function submitId() {
  if (idDigits.length !== 12) return;
  send({ type: 'enter-id', idNumber: idDigits });
  idDigits = '';
}

/* ---- the on-screen keyboard ------------------------------------------------------------------
 * One keyboard for every text field, bound to the field being typed: `text` (names, addresses;
 * Vietnamese Telex on by default, so "Nguyeenx" gives "Nguyễn"), `email` (no Telex, @ and dots),
 * `phone` and `code` (digits; letters and a hyphen for tracking codes). */
const LAYOUTS = {
  text: ['1234567890', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm,./'],
  email: ['1234567890', 'qwertyuiop', 'asdfghjkl@', 'zxcvbnm._-'],
  code: ['1234567890', 'QWERTYUIOP', 'ASDFGHJKL-', 'ZXCVBNM'],
  phone: ['123', '456', '789', '+0'],
};
let keyboardShift = false;
let keyboardTelex = true;

function keyboard(input, layout, onChange) {
  const type = (key) => {
    const text = input.value;
    const char = keyboardShift ? key.toUpperCase() : key;
    const next = layout === 'text' && keyboardTelex ? telexKey(text, char) : text + char;
    input.value = next.slice(0, Number(input.getAttribute('maxlength') ?? 200));
    if (keyboardShift) {
      keyboardShift = false;
      redraw();
    }
    onChange();
  };
  const keyButton = (label, action, extra) =>
    h(
      'button',
      {
        type: 'button',
        class: `kb-key ${extra?.class ?? ''}`,
        'data-key': extra?.key ?? label,
        'data-testid': `kb-${extra?.key ?? label}`,
        'aria-label': extra?.aria,
        'aria-pressed': extra?.pressed === undefined ? undefined : String(extra.pressed),
        onclick: action,
      },
      label,
    );
  const box = h('div', { class: `kb kb-${layout}`, 'data-testid': 'keyboard', role: 'group' });
  function redraw() {
    const rows = LAYOUTS[layout].map((row) =>
      h(
        'div',
        { class: 'kb-row' },
        [...row].map((key) => {
          const label = keyboardShift && layout !== 'code' ? key.toUpperCase() : key;
          return keyButton(label, () => type(key), { key });
        }),
      ),
    );
    const controls = [
      layout === 'text' || layout === 'email'
        ? keyButton(
            '⇧',
            () => {
              keyboardShift = !keyboardShift;
              redraw();
            },
            { key: 'shift', aria: t('kb.shift'), pressed: keyboardShift, class: 'wide' },
          )
        : null,
      layout === 'text'
        ? keyButton(
            'ắ',
            () => {
              keyboardTelex = !keyboardTelex;
              redraw();
            },
            { key: 'telex', aria: t('kb.telex'), pressed: keyboardTelex, class: 'wide' },
          )
        : null,
      layout === 'text' ? keyButton(t('kb.space'), () => type(' '), { key: 'space', class: 'space' }) : null,
      layout === 'email' ? keyButton('.vn', () => type('.vn'), { key: '.vn', class: 'wide' }) : null,
      keyButton(
        '⌫',
        () => {
          input.value = [...input.value].slice(0, -1).join('');
          onChange();
        },
        { key: 'backspace', aria: t('kb.backspace'), class: 'wide' },
      ),
    ];
    // digits and codes have no shift, Telex or space: ⌫ ends the last row instead of a row of its own
    if (layout === 'code' || layout === 'phone') rows.at(-1).append(...controls.filter(Boolean));
    else rows.push(h('div', { class: 'kb-row' }, controls));
    box.replaceChildren(...rows);
  }
  redraw();
  return box;
}

/** A labelled field that opens the on-screen keyboard when touched (no system keyboard). */
function textField(id, label, value, options) {
  const input = h('input', {
    id,
    type: 'text',
    inputmode: 'none',
    autocomplete: 'off',
    spellcheck: 'false',
    maxlength: options.maxlength,
    'data-testid': options.testid,
    'data-layout': options.layout,
    'aria-describedby': `${id}-error`,
  });
  input.value = value;
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'data-testid': `${options.testid}-error` });
  return { input, error, label: h('label', { for: id }, label) };
}

/* What the citizen has typed on the edit screen, kept across a change of language or of large
 * text (both redraw the screen); forgotten when the screen changes. */
let editDraft = null;
let afterRender = null;

function editForm() {
  const record = view.record ?? {};
  const gazetteer = view.gazetteer ?? [];
  const draft = editDraft ?? {
    phone: record.phone ?? '',
    email: record.email ?? '',
    detail: record.residence?.detail ?? '',
    province: record.residence?.provinceCode ?? '',
    ward: record.residence?.wardCode ?? '',
    typing: null,
  };
  editDraft = draft;
  const phone = textField('edit-phone', t('field.phone'), draft.phone, {
    maxlength: 20,
    testid: 'edit-phone',
    layout: 'phone',
  });
  const email = textField('edit-email', t('field.email'), draft.email, {
    maxlength: 254,
    testid: 'edit-email',
    layout: 'email',
  });
  const detail = textField('edit-detail', t('field.detail'), draft.detail, {
    maxlength: 200,
    testid: 'edit-detail',
    layout: 'text',
  });
  const province = h(
    'select',
    { id: 'edit-province', name: 'province', 'data-testid': 'edit-province' },
    h('option', { value: '' }, '—'),
    gazetteer.map((p) => h('option', { value: p.code }, p.name)),
  );
  province.value = draft.province;
  const ward = h('select', { id: 'edit-ward', name: 'ward', 'data-testid': 'edit-ward' });
  const fillWards = () => {
    const wards = gazetteer.find((p) => p.code === province.value)?.wards ?? [];
    ward.replaceChildren(
      h('option', { value: '' }, '—'),
      ...wards.map((w) => h('option', { value: w.code }, w.name)),
    );
  };
  fillWards();
  ward.value = draft.ward;
  province.addEventListener('change', fillWards);
  const keep = () => {
    Object.assign(draft, {
      phone: phone.input.value,
      email: email.input.value,
      detail: detail.input.value,
      province: province.value,
      ward: ward.value,
    });
  };
  province.addEventListener('change', keep);
  ward.addEventListener('change', keep);

  /* what is wrong with each field, told next to it (and again by the kiosk if the page missed it) */
  const check = () => {
    keep();
    const phoneText = phone.input.value.trim();
    const emailText = email.input.value.trim();
    const phoneBad = phoneText !== '' && !normalisePhone(phoneText);
    const emailBad = emailText !== '' && !isEmailAddress(emailText);
    phone.error.textContent = phoneBad ? t('update.invalid-phone') : '';
    email.error.textContent = emailBad ? t('update.invalid-email') : '';
    phone.input.setAttribute('aria-invalid', String(phoneBad));
    email.input.setAttribute('aria-invalid', String(emailBad));
    return !phoneBad && !emailBad;
  };
  const rows = [phone, email, detail].map((field) =>
    h('div', { class: 'field-row', 'data-field': field.input.id }, field.label, field.input, field.error),
  );
  const selectRow = (id, label, select) =>
    h('div', { class: 'field-row', 'data-field': id }, h('label', { for: id }, label), select);
  const form = h(
    'form',
    { class: 'edit', 'data-testid': 'edit-form' },
    rows[0],
    rows[1],
    selectRow('edit-province', t('field.province'), province),
    selectRow('edit-ward', t('field.ward'), ward),
    rows[2],
  );
  const keyboardSlot = h('div', { class: 'kb-slot' });
  const doneTyping = h(
    'button',
    { type: 'button', class: 'big secondary kb-done', 'data-testid': 'kb-done', hidden: true },
    t('kb.done'),
  );
  const stopTyping = () => {
    draft.typing = null;
    form.classList.remove('typing');
    for (const row of form.children) row.hidden = false;
    keyboardSlot.replaceChildren();
    doneTyping.hidden = true;
    submit.hidden = false;
    back.hidden = false;
    check();
  };
  doneTyping.addEventListener('click', stopTyping);
  /* one field at a time while typing: the field, its message, the keyboard fit the screen */
  for (const field of [phone, email, detail]) {
    field.input.addEventListener('focus', () => {
      if (form.classList.contains('typing') && keyboardSlot.dataset.field === field.input.id) return;
      draft.typing = field.input.id;
      form.classList.add('typing');
      for (const row of form.children) row.hidden = row.dataset.field !== field.input.id;
      keyboardSlot.dataset.field = field.input.id;
      keyboardSlot.replaceChildren(keyboard(field.input, field.input.dataset.layout, check));
      doneTyping.hidden = false;
      submit.hidden = true;
      back.hidden = true;
    });
    field.input.addEventListener('input', check);
  }
  form.addEventListener('submit', (event) => event.preventDefault());
  const submit = h(
    'button',
    { type: 'button', class: 'big', 'data-testid': 'edit-submit' },
    t('update-edit.submit'),
  );
  submit.addEventListener('click', () => {
    if (!check()) return;
    const fields = {};
    const phoneText = phone.input.value.trim();
    const emailText = email.input.value.trim();
    if (phoneText !== (record.phone ?? '')) fields.phone = normalisePhone(phoneText) ?? phoneText;
    if (emailText !== (record.email ?? '')) fields.email = emailText;
    const residence = {
      provinceCode: province.value,
      wardCode: ward.value,
      detail: detail.input.value.trim(),
    };
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
    send({ type: 'edit', fields });
  });
  const back = button(t('back'), { type: 'back' }, { kind: 'quiet', testid: 'back' });
  if (draft.typing) {
    const typing = draft.typing;
    afterRender = () => document.getElementById(typing)?.focus();
  }
  return [form, keyboardSlot, h('div', { class: 'actions' }, back, submit, doneTyping)];
}

/* The tracking-code look-up: its own screen, so an unknown code stays there with the reason. */
let statusCodeTyped = '';
function statusLookup() {
  const field = textField('status-code', t('attract.status-placeholder'), statusCodeTyped, {
    maxlength: 32,
    testid: 'status-code',
    layout: 'code',
  });
  const remember = () => {
    statusCodeTyped = field.input.value;
  };
  field.input.addEventListener('input', remember);
  const go = h(
    'button',
    { type: 'button', class: 'big', 'data-testid': 'status-go' },
    t('attract.status-go'),
  );
  go.addEventListener('click', () => {
    remember();
    send({ type: 'ask-status', trackingCode: field.input.value.trim() });
  });
  return [
    h('div', { class: 'status-lookup' }, field.label, field.input),
    keyboard(field.input, 'code', remember),
    h('div', { class: 'actions' }, cancelButton(), go),
  ];
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
    h(
      'div',
      { class: 'actions' },
      button(
        t('attract.status'),
        { type: 'start', flow: 'status' },
        { kind: 'quiet', testid: 'start-status' },
      ),
    ),
  ],
  'status-lookup': () => [
    h('h1', {}, t('status-lookup.title')),
    message() ?? h('p', { class: 'hint' }, t('status-lookup.hint')),
    ...statusLookup(),
  ],
  identify: () => [
    h('h1', {}, t('identify.title')),
    message(),
    h(
      'div',
      { class: 'identify' },
      h('div', {}, picture('qr'), h('p', { class: 'hint' }, t('identify.hint'))),
      h('div', {}, h('p', { class: 'or', id: 'id-entry-label' }, t('identify.or')), keypad()),
    ),
    h('div', { class: 'actions' }, cancelButton()),
  ],
  finger: () => [
    h('h1', {}, t('finger.title')),
    picture('finger', Boolean(view.messageKey)),
    message(),
    view.maskedId ? h('div', { class: 'masked', 'data-testid': 'masked-id' }, view.maskedId) : null,
    view.attemptsLeft !== undefined
      ? h(
          'div',
          { class: 'attempts', 'data-testid': 'attempts' },
          t('finger.attempts', { n: view.attemptsLeft }),
        )
      : null,
    view.liftFinger
      ? h('p', { class: 'lift', 'data-testid': 'lift-finger', role: 'status' }, t('finger.lift'))
      : h('p', { class: 'hint' }, t('finger.hint')),
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
  // "printed" only when the printer confirmed it; otherwise the code is to be noted, shown large
  receipt: () => [
    h('h1', {}, t('receipt.title')),
    view.receiptPrinted ? picture('receipt', true) : null,
    h(
      'p',
      { class: view.receiptPrinted ? 'hint' : 'message', 'data-testid': 'receipt-note' },
      t(view.receiptPrinted ? 'receipt.hint' : 'receipt.not-printed'),
    ),
    view.receiptCode ? bigCode(view.receiptCode, 'receipt-code') : null,
    h('div', { class: 'actions' }, doneButton()),
  ],
  referral: () => [
    h('h1', {}, t('referral.title')),
    picture('staff', true),
    message() ?? h('p', { class: 'hint' }, t('referral.hint')),
    view.referenceCode
      ? [h('p', { class: 'hint' }, t('referral.reference')), bigCode(view.referenceCode, 'reference-code')]
      : null,
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
    view.receiptPrinted ? picture('receipt', true) : null,
    h(
      'p',
      { class: view.receiptPrinted ? 'hint' : 'message', 'data-testid': 'receipt-note' },
      t(view.receiptPrinted ? 'update-done.hint' : 'update-done.not-printed'),
    ),
    view.trackingCode ? bigCode(view.trackingCode, 'tracking-code') : null,
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

/* ---- audio guidance hook (the speech itself is another module's: window.kioskSpeech) ---------- */
let announced = '';
/** The keys a screen is spoken by: the screen, then its message, with what fills their blanks. */
function speechOf(current) {
  const params = { lang };
  if (current.attemptsLeft !== undefined) params.n = current.attemptsLeft;
  if (current.receiptCode) params.code = current.receiptCode;
  if (current.trackingCode) params.code = current.trackingCode;
  if (current.referenceCode) params.code = current.referenceCode;
  if (current.receiptPrinted !== undefined) params.printed = current.receiptPrinted;
  if (current.liftFinger) params.liftFinger = true;
  if (current.moreTime) params.moreTime = true;
  if (current.messageKey) params.messageKey = current.messageKey;
  else if (current.outOfService) params.messageKey = current.outOfService.reasonKey;
  return { key: current.moreTime ? 'more-time' : current.screen, params };
}
function announce(repeat) {
  if (!view) return;
  const { key, params } = speechOf(view);
  const signature = JSON.stringify([key, params]);
  if (!repeat && signature === announced) return;
  announced = signature;
  const detail = { key, params: repeat ? { ...params, repeat: true } : params };
  try {
    window.kioskSpeech?.say(detail.key, detail.params);
  } catch {
    // speech is guidance, never a reason for the screen to fail
  }
  window.dispatchEvent(new CustomEvent('kiosk:screen', { detail }));
}

/* ---- "need more time?" (WCAG 2.2.1): over the screen, so what is typed stays ----------------- */
function renderMoreTime() {
  const dialog = document.getElementById('more-time');
  if (!view?.moreTime) {
    dialog.hidden = true;
    dialog.replaceChildren();
    return;
  }
  if (!dialog.hidden) return;
  const yes = button(t('more-time.yes'), { type: 'more-time' }, { testid: 'more-time-yes' });
  dialog.replaceChildren(
    h(
      'div',
      { class: 'dialog-box' },
      h('h2', { id: 'more-time-title' }, t('more-time.title')),
      h('p', { class: 'hint' }, t('more-time.hint')),
      yes,
    ),
  );
  dialog.hidden = false;
  yes.focus();
}

/* ---- large text, high contrast: for this citizen, until the attract screen -------------------- */
let largeText = false;
function applyLargeText() {
  document.body.classList.toggle('large', largeText);
  const toggle = document.getElementById('large-text');
  toggle.setAttribute('aria-pressed', String(largeText));
  toggle.textContent = t('large-text');
}

function render() {
  const screen = view ? view.screen : 'connecting';
  const body = document.body;
  body.setAttribute('data-screen', screen);
  body.setAttribute('data-lang', lang);
  document.documentElement.lang = lang;
  document.title = lang === 'vi' ? 'Ki-ốt căn cước' : 'ID card kiosk';
  document.getElementById('lang').textContent = t('lang');
  document.getElementById('lang').setAttribute('lang', lang === 'vi' ? 'en' : 'vi');
  document.getElementById('repeat').textContent = `🔊 ${t('repeat')}`;
  applyLargeText();
  const builder = SCREENS[screen] ?? SCREENS.connecting;
  if (screen !== 'update-edit') editDraft = null;
  afterRender = null;
  document.getElementById('screen').replaceChildren(...builder().flat().filter(Boolean));
  afterRender?.();
  renderCountdown();
  document.getElementById('more-time').hidden = true;
  renderMoreTime();
  if (keypadUsed) focusFirst();
  if (view) {
    const { seq, messageKey } = view;
    body.setAttribute('data-seq', String(seq));
    announce(false);
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
    // A new citizen starts in Vietnamese, normal text, with an empty keypad.
    if (view.screen === 'attract' && previous?.screen !== 'attract') {
      lang = 'vi';
      largeText = false;
      statusCodeTyped = '';
    }
    if (view.gazetteer) gazetteerSeen = view.gazetteer;
    if (!view.flow) gazetteerSeen = [];
    if (view.screen !== previous?.screen) {
      idDigits = '';
      editDraft = null;
    }
    // The edit form keeps what the citizen is typing while only the countdown or the
    // "need more time?" question changes.
    if (
      previous &&
      view.screen === 'update-edit' &&
      previous.screen === 'update-edit' &&
      previous.messageKey === view.messageKey
    ) {
      document.body.setAttribute('data-seq', String(view.seq));
      renderCountdown();
      renderMoreTime();
      announce(false);
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
  announced = '';
  render();
  send({ type: 'touch' });
});
document.getElementById('repeat').addEventListener('click', () => announce(true));
document.getElementById('large-text').addEventListener('click', () => {
  largeText = !largeText;
  applyLargeText();
});
// Any touch keeps the session alive (the kiosk resets its idle countdown, or answers "need more
// time?"), at most once a second.
function touched() {
  if (!view || view.screen === 'attract' || Date.now() - lastTouch < 1000) return;
  lastTouch = Date.now();
  send({ type: 'touch' });
}
document.addEventListener('pointerdown', () => {
  keypadUsed = false;
  touched();
});

/* ---- the physical keypad: every screen without touching it ----------------------------------- */
let keypadUsed = false;
const HELP_KEYS = new Set(['F1', 'Help', '*']);
function focusables() {
  const scope = view?.moreTime ? document.getElementById('more-time') : document;
  return [...scope.querySelectorAll('button, input, select')].filter(
    (element) =>
      !element.disabled &&
      !element.hidden &&
      element.offsetParent !== null &&
      !element.closest('#demo-panel'),
  );
}
function focusFirst() {
  const items = focusables();
  const main = document.getElementById('screen');
  // a focus kept on the screen stays; one left in the header by a screen without buttons moves on
  const kept = items.includes(document.activeElement);
  if (kept && (main.contains(document.activeElement) || !main.querySelector('button, input, select'))) return;
  const preferred =
    main.querySelector('.actions button.big:not(.quiet):not([hidden])') ??
    main.querySelector('.keypad button, .kb button') ??
    items.find((element) => main.contains(element)) ??
    items[0];
  preferred?.focus();
}
function moveFocus(step) {
  const items = focusables();
  if (items.length === 0) return;
  const at = items.indexOf(document.activeElement);
  const next = at < 0 ? 0 : (at + step + items.length) % items.length;
  items[next].focus();
}
document.addEventListener('keydown', (event) => {
  if (event.target instanceof Element && event.target.closest('#demo-panel')) return;
  keypadUsed = true;
  touched();
  const inField =
    event.target instanceof HTMLElement &&
    (event.target.tagName === 'INPUT' || event.target.tagName === 'SELECT');
  const screen = view?.screen;
  if (HELP_KEYS.has(event.key)) {
    event.preventDefault();
    announce(true);
    focusFirst();
    return;
  }
  if (/^[0-9]$/.test(event.key) && screen === 'identify' && !inField) {
    event.preventDefault();
    typeDigit(event.key);
    keypadRefresh();
    if (idDigits.length === 12) document.querySelector('[data-testid="id-submit"]')?.focus();
    return;
  }
  if (event.key === 'Backspace' && screen === 'identify' && !inField) {
    event.preventDefault();
    idDigits = idDigits.slice(0, -1);
    keypadRefresh();
    return;
  }
  if ((event.key === 'Escape' || (event.key === 'Backspace' && !inField)) && view) {
    event.preventDefault();
    const back = document.querySelector('[data-testid="back"]:not([hidden]), [data-testid="cancel"]');
    back?.click();
    return;
  }
  if (event.key === 'ArrowRight' || event.key === 'ArrowDown') {
    if (event.target instanceof HTMLSelectElement) return;
    event.preventDefault();
    moveFocus(1);
    return;
  }
  if (event.key === 'ArrowLeft' || event.key === 'ArrowUp') {
    if (event.target instanceof HTMLSelectElement) return;
    event.preventDefault();
    moveFocus(-1);
    return;
  }
  if (event.key === 'Enter') {
    if (screen === 'identify' && idDigits.length === 12 && !inField) {
      event.preventDefault();
      submitId();
      return;
    }
    if (!focusables().includes(document.activeElement)) {
      event.preventDefault();
      focusFirst();
    }
  }
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
    demoCollapsed ? '◂ demo' : '▸ thu gọn / fold',
  );
  toggle.setAttribute('aria-expanded', String(!demoCollapsed));
  panel.classList.toggle('collapsed', demoCollapsed);
  document.body.classList.toggle('demo-folded', demoCollapsed);
  const devices = ['scanner', 'fingerprint', 'printer', 'dispenser'];
  panel.replaceChildren(
    demoCollapsed ? toggle : h('h2', {}, 'Demo: thiết bị giả lập / emulated devices', toggle),
    h(
      'div',
      { class: 'demo-body' },
      h('h3', {}, 'Công dân / Citizens'),
      demoCitizens.map((citizen, i) =>
        h(
          'div',
          { class: 'demo-citizen' },
          h('div', {}, citizen.name),
          // the ID to type on the kiosk's keypad (the card QR's first field)
          h(
            'div',
            { class: 'demo-id', 'data-testid': `demo-id-${i}` },
            `Số định danh / ID: ${groupDigits(String(citizen.cardQr ?? '').split('|')[0] ?? '')}`,
          ),
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
