/**
 * Fabricated citizens (cccd-facts.md §1.3 examples; names and addresses invented) that the demo
 * registry stages for pickup and the demo rig's vault holds chips for. Not PII: made up.
 */
import { syntheticTemplate } from '../../devices/index.js';
import { TRAN_THI_MAI } from './sample-record.js';
import { cccdMrzFromRecord, type CitizenRecord, formatQr, type QrPayload } from '../cccd/index.js';
import type { RegistryCitizen } from '../registry/citizens.js';

export interface DemoCitizen {
  pickupId: string;
  record: CitizenRecord;
  /** seed of the citizen's synthetic finger (the rig's `finger <id>` places it) */
  fingerSeed: string;
  contact: RegistryCitizen['contact'];
}

const LE_DUC_ANH: CitizenRecord = {
  ...TRAN_THI_MAI,
  idNumber: '079204000777',
  oldIdNumber: '',
  fullName: 'Lê Đức Anh',
  dateOfBirth: { year: 2004, month: 11, day: 2 },
  sex: 'male',
  placeOfOrigin: 'Phường Bến Thành, Thành phố Hồ Chí Minh',
  placeOfResidence: '45 Nguyễn Trãi, Phường Bến Thành, Thành phố Hồ Chí Minh',
  identifyingMarks: 'Sẹo chấm C:1cm trên đuôi mắt phải',
  dateOfIssue: { year: 2024, month: 9, day: 20 },
  dateOfExpiry: { year: 2029, month: 11, day: 2 },
  fatherName: 'Lê Văn Bình',
  motherName: 'Đỗ Thị Lan',
};

const PHAM_VAN_HUNG: CitizenRecord = {
  ...TRAN_THI_MAI,
  idNumber: '040058000321',
  oldIdNumber: '181234567',
  fullName: 'Phạm Văn Hùng',
  dateOfBirth: { year: 1958, month: 6, day: 30 },
  sex: 'male',
  placeOfOrigin: 'Xã An Phú, Tỉnh Nghệ An',
  placeOfResidence: 'Xóm 3, Xã An Phú, Tỉnh Nghệ An',
  identifyingMarks: 'Nốt ruồi C:1cm trên mép phải',
  dateOfIssue: { year: 2025, month: 8, day: 15 },
  dateOfExpiry: null,
  fatherName: 'Phạm Văn Tư',
  motherName: 'Hoàng Thị Sen',
};

export const DEMO_CITIZENS: readonly DemoCitizen[] = [
  {
    pickupId: 'PK-DEMO-0001',
    record: TRAN_THI_MAI,
    // the finger the demo rig places on the sensor at start
    fingerSeed: 'demo-citizen',
    contact: {
      phone: '0912345678',
      email: 'mai.tran@example.vn',
      residence: { provinceCode: '01', wardCode: '00070', detail: 'Số 12 ngõ 34 Hàng Bạc' },
    },
  },
  {
    pickupId: 'PK-DEMO-0002',
    record: LE_DUC_ANH,
    fingerSeed: 'le-duc-anh',
    contact: {
      phone: '0987654321',
      residence: { provinceCode: '79', wardCode: '26743', detail: '45 Nguyễn Trãi' },
    },
  },
  {
    pickupId: 'PK-DEMO-0003',
    record: PHAM_VAN_HUNG,
    fingerSeed: 'pham-van-hung',
    contact: { residence: { provinceCode: '40', wardCode: '17011', detail: 'Xóm 3' } },
  },
];

export function registryCitizenOf(citizen: DemoCitizen): RegistryCitizen {
  return {
    idNumber: citizen.record.idNumber,
    mrzLines: cccdMrzFromRecord(citizen.record),
    fingerTemplate: syntheticTemplate(citizen.fingerSeed),
    contact: citizen.contact,
  };
}

/** The front QR of the citizen's card (what the update flow scans). */
export function qrOf(record: CitizenRecord): string {
  const payload: QrPayload = {
    idNumber: record.idNumber,
    oldIdNumber: record.oldIdNumber ?? '',
    fullName: record.fullName,
    dateOfBirth: record.dateOfBirth,
    sex: record.sex,
    address: record.placeOfResidence,
    dateOfIssue: record.dateOfIssue,
    extraFields: [],
  };
  return formatQr(payload);
}
