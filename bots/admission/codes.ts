/** The systems and codes the admission agent reads and writes (see docs/ed-data.md). Pure data. */
import type { Coding } from '@medplum/fhirtypes';
import { ES } from '../lib/workflow.ts';

export const BOT_NAME = 'admission';
export const PATIENT_TAG_SYSTEM = `${ES}/CodeSystem/patient-tag`;
export const TEMPORARY_IDENTITY_TAG: Coding = { system: PATIENT_TAG_SYSTEM, code: 'temporary-identity', display: 'Temporary identity' };
export const TEMPORARY_IDENTIFIER_SYSTEM = `${ES}/temporary-identity`;
export const ADMISSION_TASK_SYSTEM = `${ES}/CodeSystem/admission-task`;
export const ADMISSION_ISSUE_SYSTEM = `${ES}/CodeSystem/admission-issue`;
export const DOCUMENT_TYPE_SYSTEM = `${ES}/CodeSystem/document-type`;
export const BED_ZONE_SYSTEM = `${ES}/CodeSystem/bed-zone`;
export const ADMISSION_KEY_SYSTEM = `${ES}/admission`;
/** HL7 v2 table 0116 (bed status), which Location.operationalStatus uses. */
export const BED_STATUS_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0116';
export const LOCATION_PHYSICAL_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/location-physical-type';
export const IDENTIFIER_TYPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0203';
export const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';
export const DATA_OPERATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';

export const OCCUPIED: Coding = { system: BED_STATUS_SYSTEM, code: 'O', display: 'Occupied' };
export const UNOCCUPIED: Coding = { system: BED_STATUS_SYSTEM, code: 'U', display: 'Unoccupied' };

export const CONFIRM_MATCH_TASK: Coding = {
  system: ADMISSION_TASK_SYSTEM,
  code: 'confirm-patient-match',
  display: 'Confirm patient match',
};
export const ID_MISMATCH_ISSUE: Coding = {
  system: ADMISSION_ISSUE_SYSTEM,
  code: 'id-mismatch',
  display: 'ID document does not match the record',
};
export const ID_CARD_TYPE = 'id-card';
export const INSURANCE_CARD_TYPE = 'insurance-card';
