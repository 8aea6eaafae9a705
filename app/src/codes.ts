/** The FHIR conventions of docs/ed-data.md and docs/workflows.md, as the app reads them. */
export const ES = 'https://emergisphere.dev/fhir';
export const ESI_SYSTEM = `${ES}/CodeSystem/esi`;
export const OBSERVATION_CODE_SYSTEM = `${ES}/CodeSystem/observation-code`;
export const OBSERVATION_METHOD_SYSTEM = `${ES}/CodeSystem/observation-method`;
export const STEP_SYSTEM = `${ES}/CodeSystem/workflow-step`;
export const COMMUNICATION_CATEGORY_SYSTEM = `${ES}/CodeSystem/communication-category`;
export const PATIENT_TAG_SYSTEM = `${ES}/CodeSystem/patient-tag`;
export const DEVICE_LAST_SEEN_EXTENSION = `${ES}/StructureDefinition/device-last-seen`;
export const BATTERY_CODE = 'urn:iso:std:iso:11073:10101|67996';
export const V3_ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const MODE_OF_ARRIVAL_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival';

/** Encounter statuses of a patient still in the department. */
export const ACTIVE_ED_STATUSES = ['arrived', 'triaged', 'in-progress'] as const;

/** Workflow step codes, in the order the board shows their marks. */
export const STEP_ORDER = ['triage', 'admission', 'medical-records', 'legal', 'smart-device', 'communication', 'scheduling', 'billing'];

export const LOINC = 'http://loinc.org';
export const VITALS: { code: string; label: string; unit: string }[] = [
  { code: '8867-4', label: 'Heart rate', unit: '/min' },
  { code: '9279-1', label: 'Resp. rate', unit: '/min' },
  { code: '59408-5', label: 'SpO2', unit: '%' },
  { code: '8480-6', label: 'Systolic BP', unit: 'mm[Hg]' },
  { code: '8462-4', label: 'Diastolic BP', unit: 'mm[Hg]' },
  { code: '8310-5', label: 'Temperature', unit: 'Cel' },
  { code: '72514-3', label: 'Pain', unit: '{score}' },
];
