import { type CitizenRecord } from '../cccd/record.js';

/** A fabricated citizen (cccd-facts.md §1.3 / §3 worked example 1) for emulated cards and tests. */
export const TRAN_THI_MAI: CitizenRecord = {
  idNumber: '001195012345',
  oldIdNumber: '012345678',
  fullName: 'Trần Thị Mai',
  dateOfBirth: { year: 1995, month: 3, day: 15 },
  sex: 'female',
  nationality: 'Việt Nam',
  ethnicity: 'Kinh',
  religion: 'Không',
  placeOfOrigin: 'Xã Đông Hội, Huyện Đông Anh, Hà Nội',
  placeOfResidence:
    'Số 12 ngõ 34 Hàng Bạc, Phường Hàng Bạc, Quận Hoàn Kiếm, Hà Nội — một địa chỉ dài hơn 127 byte để buộc độ dài dạng dài trong DER',
  identifyingMarks: 'Nốt ruồi C:2cm dưới sau cánh mũi trái',
  dateOfIssue: { year: 2021, month: 7, day: 10 },
  dateOfExpiry: { year: 2035, month: 3, day: 15 },
  fatherName: 'Trần Văn Nam',
  motherName: 'Nguyễn Thị Hoa',
};
