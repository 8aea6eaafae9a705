/**
 * The inputs and results shared by the triage modules. Everything here is plain data: the
 * handler maps FHIR to a TriageInput, the pure functions decide, the handler maps back.
 */

/** AVPU (alert, responds to voice, to pain, unresponsive). New confusion is a separate flag. */
export type Avpu = 'A' | 'V' | 'P' | 'U';

export type EsiLevel = 1 | 2 | 3 | 4 | 5;

/** Vital signs as measured; every field may be missing (unknown is never read as normal). */
export interface Vitals {
  /** Systolic blood pressure, mmHg. */
  sbp?: number;
  /** Diastolic blood pressure, mmHg. */
  dbp?: number;
  /** Heart rate, /min. */
  hr?: number;
  /** Respiratory rate, /min. */
  rr?: number;
  /** Temperature, °C. */
  temp?: number;
  /** Peripheral oxygen saturation, %. */
  spo2?: number;
  /** Breathing supplemental oxygen (NEWS2 "air or oxygen"); undefined = not recorded. */
  onOxygen?: boolean;
  /** Point-of-care blood glucose, mg/dL. */
  glucose?: number;
}

export interface TriageInput {
  /** Age in days (preferred for infants); takes precedence over ageYears. */
  ageDays?: number;
  /** Age in years, fractions allowed. */
  ageYears?: number;
  sex?: 'male' | 'female' | 'other' | 'unknown';
  /** Free text, English, abbreviations allowed ("abd pain", "SOB", "ant. chest pain"). */
  chiefComplaint?: string;
  /** e.g. "ambulance", "walk-in", "helicopter", "police". Recorded in the rationale. */
  arrivalMode?: string;
  /** true/false, or a mechanism in free text ("MVC rollover", "fall from ladder"). */
  injury?: boolean | string;
  mentalStatus?: Avpu;
  /** New confusion, lethargy or disorientation (NEWS2 scores it as V/P/U). */
  newConfusion?: boolean;
  /** 0–10. */
  painScore?: number;
  vitals?: Vitals;
  pregnant?: boolean;
  immunocompromised?: boolean;
  /** Known incomplete immunisations (pediatric fever rule, 3 months – 3 years). */
  immunizationsIncomplete?: boolean;
  /** NEWS2 SpO2 scale 2: confirmed hypercapnic respiratory failure (a clinician's choice). */
  hypercapnicRespiratoryFailure?: boolean;
}

/** Where a reason comes from: a published rule, or a local policy the rationale must label as such. */
export type ReasonSource = 'ESI v4' | 'NEWS2' | 'qSOFA' | 'complaint table' | 'local policy';

/** One structured reason: which rule fired, with the values that drove it. */
export interface Reason {
  /** Stable code, e.g. "A.unresponsive", "B.high-risk", "C.resources", "D.hr", "fever.neonate", "missing.vitals". */
  code: string;
  source: ReasonSource;
  text: string;
  values?: Record<string, string | number | boolean | null | string[]>;
}
