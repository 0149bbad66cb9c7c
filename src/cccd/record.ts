import { type Dg13 } from '../card/lds.js';
import { type CalendarDate, formatSlashed } from './dates.js';
import { type Sex } from './id-number.js';

/** A citizen as the population database knows them: what the card's chip and print carry. */
export interface CitizenRecord {
  idNumber: string;
  oldIdNumber?: string;
  fullName: string;
  dateOfBirth: CalendarDate;
  sex: Sex;
  nationality: string;
  ethnicity: string;
  religion: string;
  placeOfOrigin: string;
  placeOfResidence: string;
  identifyingMarks: string;
  dateOfIssue: CalendarDate;
  /** null: "Không thời hạn" (no expiry, MRZ 991231) */
  dateOfExpiry: CalendarDate | null;
  fatherName?: string;
  motherName?: string;
  spouseName?: string;
}

export const sexText = (sex: Sex) => (sex === 'male' ? 'Nam' : 'Nữ');

/** DG13 as the card writes it (cccd-facts.md §4.3): dates dd/MM/yyyy, sex Nam/Nữ. */
export function dg13FromRecord(r: CitizenRecord): Dg13 {
  return {
    idNumber: r.idNumber,
    fullName: r.fullName,
    dateOfBirth: formatSlashed(r.dateOfBirth),
    sex: sexText(r.sex),
    nationality: r.nationality,
    ethnicity: r.ethnicity,
    religion: r.religion,
    placeOfOrigin: r.placeOfOrigin,
    placeOfResidence: r.placeOfResidence,
    identifyingMarks: r.identifyingMarks,
    dateOfIssue: formatSlashed(r.dateOfIssue),
    dateOfExpiry: r.dateOfExpiry ? formatSlashed(r.dateOfExpiry) : 'Không thời hạn',
    parents: [r.fatherName, r.motherName].filter((n): n is string => n !== undefined),
    ...(r.spouseName ? { spouse: r.spouseName } : {}),
    ...(r.oldIdNumber ? { oldIdNumber: r.oldIdNumber } : {}),
  };
}
