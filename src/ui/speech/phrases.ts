/**
 * What the kiosk says, per clip, in Vietnamese and English: each screen's instruction and every
 * result message of the touchscreen app (src/ui/public/app.js shows the same things in writing).
 * Written for the ear: short sentences, the action first, no symbols. The texts are static (no
 * citizen data): they are rendered once and kept in memory. A code on the screen (receipt,
 * tracking, reference) is spoken after its `code.intro.*` clip, synthesised on demand and never
 * cached (src/ui/speech/service.ts).
 *
 * Clip ids (the page asks for them: src/ui/public/speech.js):
 * - `screen.<screen>`: a screen's instruction; `screen.<screen>.not-printed` where the receipt
 *   could not be printed;
 * - `message.<messageKey>`: a result or error message shown on a screen;
 * - `finger.attempts.<n>`, `finger.lift`, `more-time`: the finger step and "need more time?";
 * - `code.intro.<screen>`: says which code follows.
 */
import { numberToWords, type SpeechLang } from './normalise.js';

export type Spoken = Record<SpeechLang, string>;

/** The most finger attempts a step can have left (finger.attempts.1 … .10 are rendered). */
export const MAX_ATTEMPTS_SPOKEN = 10;

const SCREEN_CLIPS: Record<string, Spoken> = {
  'screen.attract': {
    vi: 'Xin chào. Chạm vào màn hình để nhận thẻ căn cước, cập nhật thông tin, hoặc tra cứu hồ sơ cập nhật.',
    en: 'Hello. Touch the screen to collect your ID card, update your details, or check an update request.',
  },
  'screen.identify': {
    vi: 'Đưa mã QR nhận thẻ vào máy quét, hoặc nhập số định danh mười hai chữ số.',
    en: 'Hold your pickup QR code to the scanner, or type your twelve digit ID number.',
  },
  'screen.finger': {
    vi: 'Đặt ngón trỏ phải lên cảm biến vân tay, và giữ yên cho đến khi có thông báo.',
    en: 'Place your right index finger on the sensor, and keep it still until you are told.',
  },
  'screen.checking-card': {
    vi: 'Đang kiểm tra thẻ, vui lòng chờ.',
    en: 'Checking your card, please wait.',
  },
  'screen.take-card': {
    vi: 'Vui lòng lấy thẻ ở khay phía dưới. Thẻ sẽ được thu hồi nếu không lấy kịp thời.',
    en: 'Please take your card from the tray below. The card is taken back if it is not collected in time.',
  },
  'screen.receipt': {
    vi: 'Hoàn tất. Đây là thẻ căn cước của bạn. Biên nhận đã được in.',
    en: 'Done. Here is your ID card. Your receipt has been printed.',
  },
  'screen.receipt.not-printed': {
    vi: 'Hoàn tất. Đây là thẻ căn cước của bạn. Không in được biên nhận, vui lòng ghi lại mã trên màn hình.',
    en: 'Done. Here is your ID card. The receipt could not be printed, please note the code on the screen.',
  },
  'screen.referral': {
    vi: 'Vui lòng gặp cán bộ tại quầy.',
    en: 'Please see a member of staff at the counter.',
  },
  'screen.update-identify': {
    vi: 'Đưa mã QR ở mặt trước thẻ căn cước của bạn vào máy quét.',
    en: 'Hold the QR code on the front of your ID card to the scanner.',
  },
  'screen.update-record': {
    vi: 'Đây là thông tin hiện tại của bạn. Bạn có thể sửa số điện thoại, thư điện tử và nơi cư trú.',
    en: 'These are your current details. You can change your phone number, e-mail and place of residence.',
  },
  'screen.update-edit': {
    vi: 'Sửa thông tin. Chạm vào một ô để nhập, rồi chạm Tiếp tục.',
    en: 'Change your details. Touch a box to type, then touch Continue.',
  },
  'screen.update-confirm': {
    vi: 'Kiểm tra lại thông tin mới, rồi chạm Gửi để gửi yêu cầu cập nhật.',
    en: 'Check your new details, then touch Send to send the update request.',
  },
  'screen.update-done': {
    vi: 'Đã gửi yêu cầu cập nhật. Biên nhận đã được in.',
    en: 'Your update request has been sent. Your receipt has been printed.',
  },
  'screen.update-done.not-printed': {
    vi: 'Đã gửi yêu cầu cập nhật. Không in được biên nhận, vui lòng ghi lại mã hồ sơ trên màn hình.',
    en: 'Your update request has been sent. The receipt could not be printed, please note the tracking code on the screen.',
  },
  'screen.update-status': {
    vi: 'Kết quả cập nhật được hiển thị trên màn hình.',
    en: 'The status of your update request is on the screen.',
  },
  'screen.status-lookup': {
    vi: 'Nhập mã hồ sơ cập nhật in trên biên nhận, rồi chạm Tra cứu.',
    en: 'Type the tracking code printed on your receipt, then touch Check.',
  },
  'screen.out-of-service': {
    vi: 'Ki-ốt tạm ngừng phục vụ. Xin lỗi vì sự bất tiện. Vui lòng quay lại sau hoặc gặp cán bộ tại quầy.',
    en: 'This kiosk is out of service. Sorry for the inconvenience. Please come back later or see staff at the counter.',
  },
};

const MESSAGE_CLIPS: Record<string, Spoken> = {
  'finger.no-match': {
    vi: 'Vân tay không khớp. Vui lòng thử lại.',
    en: 'The fingerprint did not match. Please try again.',
  },
  'finger.low-quality': {
    vi: 'Chưa đọc rõ vân tay. Đặt lại ngón tay.',
    en: 'The fingerprint was unclear. Place your finger again.',
  },
  'finger.try-again': { vi: 'Đặt lại ngón tay lên cảm biến.', en: 'Place your finger on the sensor again.' },
  'identify.not-found': {
    vi: 'Không tìm thấy thẻ chờ nhận với mã này.',
    en: 'No card is waiting for this code.',
  },
  'identify.invalid-id': {
    vi: 'Số định danh chưa đúng. Số định danh có mười hai chữ số.',
    en: 'That ID number is not valid. It has twelve digits.',
  },
  'identify.rate-limited': {
    vi: 'Quá nhiều lần thử. Vui lòng đợi một lát hoặc liên hệ nhân viên.',
    en: 'Too many attempts. Please wait a moment or ask staff.',
  },
  'identify.unknown-code': {
    vi: 'Mã QR này không dùng được ở đây.',
    en: 'This QR code cannot be used here.',
  },
  'referral.finger-attempts': {
    vi: 'Vân tay không khớp sau nhiều lần thử.',
    en: 'The fingerprint did not match after several attempts.',
  },
  'referral.chip-mismatch': {
    vi: 'Thẻ cần được cán bộ kiểm tra.',
    en: 'The card needs to be checked by staff.',
  },
  'referral.device-fault': {
    vi: 'Thiết bị gặp sự cố trong khi phục vụ.',
    en: 'A device failed while serving you.',
  },
  'referral.card-retracted': {
    vi: 'Thẻ chưa được lấy nên máy đã thu thẻ vào nơi an toàn. Vui lòng đưa mã trên màn hình cho cán bộ tại quầy để nhận thẻ.',
    en: 'The card was not taken, so the kiosk took it back to keep it safe. Show the code on the screen to staff at the counter to get your card.',
  },
  'referral.not-eligible': {
    vi: 'Hồ sơ cần được cán bộ xử lý.',
    en: 'Your request needs to be handled by staff.',
  },
  'referral.registry-unavailable': {
    vi: 'Không kết nối được hệ thống. Vui lòng thử lại sau.',
    en: 'The registry cannot be reached. Please try again later.',
  },
  'referral.registry-unreachable': {
    vi: 'Không kết nối được hệ thống. Vui lòng thử lại sau.',
    en: 'The registry cannot be reached. Please try again later.',
  },
  'referral.pickup-withdrawn': {
    vi: 'Thẻ này hiện không thể nhận tại ki-ốt và vẫn được giữ lại trong máy. Vui lòng liên hệ nhân viên.',
    en: 'This card can no longer be collected at the kiosk; it stays inside. Please see staff.',
  },
  'referral.card-check-failed': {
    vi: 'Thẻ không qua được bước kiểm tra và đã được giữ lại.',
    en: 'The card did not pass its check and has been kept.',
  },
  'out-of-service.device-missing': {
    vi: 'Một thiết bị cần thiết đang không hoạt động.',
    en: 'A device the kiosk needs is not working.',
  },
  'out-of-service.storage-full': { vi: 'Bộ nhớ của ki-ốt đã đầy.', en: 'The kiosk storage is full.' },
  'out-of-service.storage': { vi: 'Bộ nhớ của ki-ốt đã đầy.', en: 'The kiosk storage is full.' },
  'out-of-service.locked': { vi: 'Ki-ốt đang được bảo trì.', en: 'The kiosk is under maintenance.' },
  'out-of-service.no-cards': {
    vi: 'Ki-ốt hiện không có thẻ chờ nhận.',
    en: 'No cards are waiting at this kiosk.',
  },
  'out-of-service.card-stuck': { vi: 'Một thẻ bị kẹt trong máy.', en: 'A card is stuck in the machine.' },
  'status.not-found': { vi: 'Không tìm thấy hồ sơ với mã này.', en: 'No request was found with this code.' },
  'update.card-not-recognised': {
    vi: 'Không nhận ra mã QR trên thẻ. Vui lòng thử lại.',
    en: 'The QR code on the card was not recognised. Please try again.',
  },
  'update.registry-unreachable': {
    vi: 'Không kết nối được hệ thống. Vui lòng thử lại sau.',
    en: 'The registry cannot be reached. Please try again later.',
  },
  'update.status-unknown': {
    vi: 'Không tìm thấy hồ sơ với mã này.',
    en: 'No request was found with this code.',
  },
  'update.status-empty': { vi: 'Vui lòng nhập mã hồ sơ.', en: 'Please type the tracking code.' },
  'update.submitted': { vi: 'Đã gửi yêu cầu cập nhật.', en: 'Your update request has been sent.' },
  'update.invalid-phone': {
    vi: 'Số điện thoại chưa đúng. Số điện thoại có mười chữ số, bắt đầu bằng không ba, không năm, không bảy, không tám hoặc không chín.',
    en: 'The phone number is not valid. It has ten digits, starting zero three, zero five, zero seven, zero eight or zero nine.',
  },
  'update.invalid-email': { vi: 'Địa chỉ thư điện tử chưa đúng.', en: 'The e-mail address is not valid.' },
  'update.invalid-residence': {
    vi: 'Vui lòng chọn tỉnh hoặc thành phố, và phường hoặc xã.',
    en: 'Please choose a province or city, and a ward or commune.',
  },
  'card.returning': { vi: 'Đang đưa thẻ về vị trí an toàn.', en: 'Returning the card to a safe place.' },
  'message.unknown': {
    vi: 'Vui lòng làm theo hướng dẫn trên màn hình.',
    en: 'Please follow the instructions on the screen.',
  },
};

const STEP_CLIPS: Record<string, Spoken> = {
  'finger.lift': { vi: 'Nhấc ngón tay khỏi cảm biến.', en: 'Lift your finger off the sensor.' },
  'more-time': {
    vi: 'Bạn cần thêm thời gian? Chạm vào màn hình để có thêm thời gian.',
    en: 'Need more time? Touch the screen for more time.',
  },
  'code.intro.receipt': { vi: 'Mã biên nhận là:', en: 'The receipt code is:' },
  'code.intro.update-done': { vi: 'Mã hồ sơ để tra cứu là:', en: 'The tracking code is:' },
  'code.intro.referral': { vi: 'Mã tham chiếu cho cán bộ là:', en: 'The reference for staff is:' },
};

function attemptClips(): Record<string, Spoken> {
  const clips: Record<string, Spoken> = {};
  for (let n = 1; n <= MAX_ATTEMPTS_SPOKEN; n++)
    clips[`finger.attempts.${n}`] = {
      vi: `Còn ${numberToWords(n, 'vi')} lần thử.`,
      en: n === 1 ? 'One attempt left.' : `${numberToWords(n, 'en')} attempts left.`,
    };
  return clips;
}

/** Every static clip, by id. */
export const CLIPS: ReadonlyMap<string, Spoken> = new Map(
  Object.entries({
    ...SCREEN_CLIPS,
    ...Object.fromEntries(Object.entries(MESSAGE_CLIPS).map(([key, spoken]) => [`message.${key}`, spoken])),
    ...STEP_CLIPS,
    ...attemptClips(),
  }),
);

/** A clip id as the page may ask for it: letters, digits, dots and dashes, nothing else. */
export const CLIP_ID = /^[a-z0-9][a-z0-9.-]{0,63}$/;
