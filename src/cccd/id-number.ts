import { type CalendarDate } from './dates.js';
import { CccdError, type CccdReason } from './errors.js';

/**
 * The 12-digit personal identification number `PPP G YY RRRRRR` (Circular 59/2021/TT-BCA Art. 4;
 * cccd-facts.md §2): birth-registration province (legacy 63-province codes), a gender/century digit,
 * the last two digits of the birth year, and six random digits. It has no check digit.
 */
export const PROVINCE_CODES: Readonly<Record<string, string>> = {
  '001': 'Hà Nội',
  '002': 'Hà Giang',
  '004': 'Cao Bằng',
  '006': 'Bắc Kạn',
  '008': 'Tuyên Quang',
  '010': 'Lào Cai',
  '011': 'Điện Biên',
  '012': 'Lai Châu',
  '014': 'Sơn La',
  '015': 'Yên Bái',
  '017': 'Hòa Bình',
  '019': 'Thái Nguyên',
  '020': 'Lạng Sơn',
  '022': 'Quảng Ninh',
  '024': 'Bắc Giang',
  '025': 'Phú Thọ',
  '026': 'Vĩnh Phúc',
  '027': 'Bắc Ninh',
  '030': 'Hải Dương',
  '031': 'Hải Phòng',
  '033': 'Hưng Yên',
  '034': 'Thái Bình',
  '035': 'Hà Nam',
  '036': 'Nam Định',
  '037': 'Ninh Bình',
  '038': 'Thanh Hóa',
  '040': 'Nghệ An',
  '042': 'Hà Tĩnh',
  '044': 'Quảng Bình',
  '045': 'Quảng Trị',
  '046': 'Thừa Thiên Huế',
  '048': 'Đà Nẵng',
  '049': 'Quảng Nam',
  '051': 'Quảng Ngãi',
  '052': 'Bình Định',
  '054': 'Phú Yên',
  '056': 'Khánh Hòa',
  '058': 'Ninh Thuận',
  '060': 'Bình Thuận',
  '062': 'Kon Tum',
  '064': 'Gia Lai',
  '066': 'Đắk Lắk',
  '067': 'Đắk Nông',
  '068': 'Lâm Đồng',
  '070': 'Bình Phước',
  '072': 'Tây Ninh',
  '074': 'Bình Dương',
  '075': 'Đồng Nai',
  '077': 'Bà Rịa–Vũng Tàu',
  '079': 'TP Hồ Chí Minh',
  '080': 'Long An',
  '082': 'Tiền Giang',
  '083': 'Bến Tre',
  '084': 'Trà Vinh',
  '086': 'Vĩnh Long',
  '087': 'Đồng Tháp',
  '089': 'An Giang',
  '091': 'Kiên Giang',
  '092': 'Cần Thơ',
  '093': 'Hậu Giang',
  '094': 'Sóc Trăng',
  '095': 'Bạc Liêu',
  '096': 'Cà Mau',
};

export type Sex = 'male' | 'female';

export interface IdNumber {
  value: string;
  provinceCode: string;
  /** undefined for codes of births registered abroad (not starting with 0) */
  province?: string;
  sex: Sex;
  birthYear: number;
  /** the 9 digits printed as the MRZ document number (cccd-facts.md §3) */
  documentNumber: string;
}

/** Parses and validates an ID number; when `expected` is given, checks sex and birth year agree. */
export function parseIdNumber(value: string, expected?: { dateOfBirth?: CalendarDate; sex?: Sex }): IdNumber {
  // The MRZ's 9-digit document number is the ID without its province code, not the ID.
  if (/^\d{9}$/.test(value)) throw new CccdError('id-number', ['document-number-given-as-id']);
  if (!/^\d{12}$/.test(value)) throw new CccdError('id-number', ['id-format'], `${value.length} characters`);
  const reasons: CccdReason[] = [];
  const provinceCode = value.slice(0, 3);
  const province = PROVINCE_CODES[provinceCode];
  // Codes starting with 0 are provinces; others are countries of birth registration abroad.
  if (provinceCode.startsWith('0') && !province) reasons.push('unknown-province');
  const g = Number(value[3]);
  const sex: Sex = g % 2 === 1 ? 'female' : 'male';
  const birthYear = (Math.floor(g / 2) + 19) * 100 + Number(value.slice(4, 6));
  if (expected?.dateOfBirth && expected.dateOfBirth.year !== birthYear) reasons.push('birth-year-mismatch');
  if (expected?.sex && expected.sex !== sex) reasons.push('sex-mismatch');
  if (reasons.length > 0) throw new CccdError('id-number', reasons);
  return {
    value,
    provinceCode,
    ...(province ? { province } : {}),
    sex,
    birthYear,
    documentNumber: value.slice(3),
  };
}

/** Two-digit MRZ year → full year, resolving the century with the ID's gender/century digit. */
export function birthYearFromMrz(yy: string, id: IdNumber): number {
  return Math.floor(id.birthYear / 100) * 100 + Number(yy);
}
