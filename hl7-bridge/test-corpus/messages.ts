/**
 * A corpus of realistic HL7 v2 messages, written for these tests from the HL7 v2.x standard's
 * message structures and the v2-to-FHIR IG's examples: every supported type, and the edge cases
 * the bridge must survive (escapes, custom and v2.7 delimiters, charsets, Z-segments, batches,
 * leading zeros, negative offsets). Lines are joined with CR, the HL7 segment terminator.
 */

/** Joins source lines with CR and ends with CR, as senders frame messages. */
export function er7(text: string): string {
  return `${text
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join('\r')}\r`;
}

/** A segment from sparse fields (standard delimiters): seg('PV1', { 2: 'E', 19: 'V1' }) → "PV1||E|…|V1". */
export function seg(name: string, fields: Record<number, string>): string {
  const max = Math.max(0, ...Object.keys(fields).map(Number));
  const out = [name];
  for (let i = 1; i <= max; i++) out.push(fields[i] ?? '');
  return out.join('|');
}

/** An ADT^A01 as the benchmark and most tests send it: one per patient/visit number. */
export function adtA01(n: number, opts: { controlId?: string; mrn?: string; visit?: string; patientClass?: string } = {}): string {
  const mrn = opts.mrn ?? `MRN${String(n).padStart(7, '0')}`;
  const visit = opts.visit ?? `V${String(n).padStart(8, '0')}`;
  return er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105081530-0500||ADT^A01^ADT_A01|${opts.controlId ?? `A01-${n}`}|P|2.5.1|||AL|NE||UNICODE UTF-8
EVN|A01|20260105081500-0500|||JSMITH^Smith^Jane
PID|1||${mrn}^^^GENHOSP^MR~${String(n).padStart(9, '0')}^^^SSA^SS||Doe${n}^John^Q^Jr^Mr||19800214|M|||12 Main St^Apt 4^Springfield^IL^62701^USA^H||^PRN^PH^^^217^5551234~^NET^Internet^john.doe@example.org|||M||ACC${n}^^^GENHOSP^AN
${seg('PV1', { 1: '1', 2: opts.patientClass ?? 'E', 3: 'ED^BAY04^A^GENHOSP', 7: '1234^House^Gregory^^^Dr^MD^^^^^^NPI', 10: 'EM', 14: '7', 17: '1234^House^Gregory^^^Dr^MD^^^^^^NPI', 18: 'E', 19: `${visit}^^^GENHOSP^VN`, 44: '20260105081000-0500' })}
PV2|||^Chest pain
`);
}

export const corpus = {
  /** Emergency admit with next of kin, allergy, escapes, leading zeros and a negative offset. */
  adtA01: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105081530-0500||ADT^A01^ADT_A01|MSG00001|P|2.5.1
EVN|A01|20260105081500-0500
PID|1||000123456^^^GENHOSP^MR~987-65-4320^^^SSA^SS||O'Brien^Mary^Kate^^Mrs^^L~Smith^Mary^^^^^M||19750301|F|||400 Elm St^^Springfield^IL^62701^USA^H||^PRN^PH^^^217^5550000|^WPN^PH^^^217^5559999|en^English^ISO639|M||||||||||||||N
NK1|1|O'Brien^Patrick|SPO^Spouse^HL70063|400 Elm St^^Springfield^IL^62701|^PRN^PH^^^217^5550001
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY01^1^GENHOSP', 7: '0042^Carter^John^^^Dr^^^NPI', 10: 'EM', 14: '7', 18: 'E', 19: 'V00098765^^^GENHOSP^VN', 44: '20260105081000-0500' })}
PV2|||R07.9^Chest pain, unspecified^I10^^^^^^Chest pain \T\ shortness of breath|||||||||||||||||||||||||||||||||||A^Ambulance^HL70430
AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives
ZPD|1|VIP^Board member|Custom \F\ field
`),
  /** Registration in v2.3 (older ERR layout), UTF-8 names, MSH-18 declared. */
  adtA04Utf8: er7(String.raw`
MSH|^~\&|REGADT|MCM|EMERGISPHERE|ED|20260105120000+0100||ADT^A04|MSG00002|P|2.3||||||UNICODE UTF-8
EVN|A04|20260105120000+0100
PID|1||556677^^^MCM^MR||Müller^José^Ñandú||19900607|M|||Königstraße 5^^Zürich^^8001^CHE
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^TRIAGE^^MCM', 19: 'V2001^^^MCM^VN' })}
`),
  /** An update in ISO 8859/1 (sent as Latin-1 bytes; see latin1Bytes). */
  adtA08Latin1: er7(String.raw`
MSH|^~\&|REGADT|MCM|EMERGISPHERE|ED|20260105130000+0100||ADT^A08^ADT_A01|MSG00003|P|2.4||||||8859/1
EVN|A08|20260105130000+0100
PID|1||556677^^^MCM^MR||Ørsted^Zoë||19900607|F
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BED07^^MCM', 19: 'V2001^^^MCM^VN' })}
`),
  adtA02: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105100000-0500||ADT^A02^ADT_A02|MSG00004|P|2.5.1
EVN|A02|20260105100000-0500
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY05^1^GENHOSP', 6: 'ED^BAY01^1^GENHOSP', 7: '0042^Carter^John', 10: 'EM', 19: 'V00098765^^^GENHOSP^VN' })}
`),
  adtA03: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105180000-0500||ADT^A03^ADT_A03|MSG00005|P|2.5.1
EVN|A03|20260105180000-0500
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY05^1^GENHOSP', 7: '0042^Carter^John', 10: 'EM', 19: 'V00098765^^^GENHOSP^VN', 36: '01^Discharged to home^HL70112', 44: '20260105081000-0500', 45: '20260105175500-0500' })}
`),
  adtA11: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105090000-0500||ADT^A11^ADT_A09|MSG00006|P|2.5.1
EVN|A11|20260105090000-0500
PID|1||000777^^^GENHOSP^MR||Cancel^Carl
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY09^1^GENHOSP', 19: 'V00077777^^^GENHOSP^VN' })}
`),
  adtA13: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105190000-0500||ADT^A13^ADT_A01|MSG00007|P|2.5.1
EVN|A13|20260105190000-0500
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY05^1^GENHOSP', 19: 'V00098765^^^GENHOSP^VN' })}
`),
  /** Merge: patient 000999 (MRG) is merged into 000123456 (PID). */
  adtA40: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260106090000-0500||ADT^A40^ADT_A39|MSG00008|P|2.5.1
EVN|A40|20260106090000-0500
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
MRG|000999^^^GENHOSP^MR
`),
  /** Lab results: every OBX-2 value type we map, statuses, units, ranges, interpretations. */
  oruLab: er7(String.raw`
MSH|^~\&|LAB|GENHOSP|EMERGISPHERE|ED|20260105093000-0500||ORU^R01^ORU_R01|MSG00009|P|2.5.1
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary||19750301|F
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY01^1^GENHOSP', 19: 'V00098765^^^GENHOSP^VN' })}
ORC|RE|ORD1001^EPIC|LAB5001^LAB
OBR|1|ORD1001^EPIC|LAB5001^LAB|24323-8^Comprehensive metabolic panel^LN|||20260105084500-0500|||||||||0042^Carter^John||||||20260105092900-0500|||F
OBX|1|NM|2345-7^Glucose^LN||182|mg/dL^mg/dL^UCUM|70-99|H|||F|||20260105084500-0500
OBX|2|NM|2823-3^Potassium^LN||3.4|mmol/L^mmol/L^UCUM|3.5-5.1|L|||C|||20260105084500-0500
OBX|3|ST|5778-6^Color of Urine^LN||Amber||||||P
OBX|4|CWE|5770-3^Bilirubin.total^LN||260385009^Negative^SCT||||||F
OBX|5|SN|5048-4^ANA titer^LN||^1^:^128||||||F
OBX|6|SN|2857-1^PSA^LN||<^4|ng/mL^ng/mL^UCUM|||||F
OBX|7|NR|1234-5^Range result^LN||3.5^5.0|mmol/L^mmol/L^UCUM|||||F
OBX|8|DTM|11778-8^Delivery date^LN||20260301||||||F
OBX|9|TX|18748-4^Comment^LN||First line\.br\Second line \E\ backslash||||||F
OBX|10|NM|2951-2^Sodium^LN||||||||X
OBX|11|NM|2075-0^Chloride^LN||||||||N
OBX|12|NM|1920-8^AST^LN||035|U/L^U/L^UCUM|||||D
NTE|1||Hemolyzed specimen
`),
  /** Vital signs from a monitor gateway. */
  oruVitals: er7(String.raw`
MSH|^~\&|MONITOR|GENHOSP|EMERGISPHERE|ED|20260105083000-0500||ORU^R01^ORU_R01|MSG00010|P|2.6
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
OBR|1||VIT777^MONITOR|85353-1^Vital signs panel^LN|||20260105082900-0500||||||||||||||||||F
OBX|1|NM|8867-4^Heart rate^LN||128|/min^/min^UCUM|60-100|H|||F|||20260105082900-0500
OBX|2|NM|59408-5^Oxygen saturation^LN||91|%^%^UCUM|95-100|L|||F|||20260105082900-0500
OBX|3|NM|8310-5^Body temperature^LN||38.9|Cel^Cel^UCUM|||||F|||20260105082900-0500
`),
  siuS12: er7(String.raw`
MSH|^~\&|CADENCE|GENHOSP|EMERGISPHERE|ED|20260105100000-0500||SIU^S12^SIU_S12|MSG00011|P|2.5.1
SCH|APT100^CADENCE|APT100^CADENCE|||||FOLLOWUP^Follow-up visit^LOCAL|ROUTINE^Routine^HL70276|30|MIN|^^30^20260112093000-0500^20260112100000-0500||||||||||||||Booked
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
AIS|1||CARDIO^Cardiology follow-up^LOCAL|20260112093000-0500|||30|MIN
AIP|1||0042^Carter^John|ATT^Attending
AIL|1||CLINIC^ROOM3^^GENHOSP
`),
  siuS13: er7(String.raw`
MSH|^~\&|CADENCE|GENHOSP|EMERGISPHERE|ED|20260106100000-0500||SIU^S13^SIU_S12|MSG00012|P|2.5.1
SCH|APT100^CADENCE|APT100^CADENCE|||||FOLLOWUP^Follow-up visit^LOCAL|ROUTINE^Routine^HL70276|30|MIN|^^30^20260113140000-0500^20260113143000-0500||||||||||||||Booked
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
`),
  siuS14: er7(String.raw`
MSH|^~\&|CADENCE|GENHOSP|EMERGISPHERE|ED|20260106110000-0500||SIU^S14^SIU_S12|MSG00013|P|2.5.1
SCH|APT100^CADENCE|APT100^CADENCE|||||FOLLOWUP^Follow-up visit with echo^LOCAL|ROUTINE^Routine^HL70276|45|MIN|^^45^20260113140000-0500^20260113144500-0500||||||||||||||Booked
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
`),
  siuS15: er7(String.raw`
MSH|^~\&|CADENCE|GENHOSP|EMERGISPHERE|ED|20260107090000-0500||SIU^S15^SIU_S12|MSG00014|P|2.5.1
SCH|APT100^CADENCE|APT100^CADENCE||||PATCANC^Patient cancelled^LOCAL|FOLLOWUP^Follow-up visit^LOCAL|ROUTINE^Routine^HL70276|45|MIN|^^45^20260113140000-0500^20260113144500-0500||||||||||||||Cancelled
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
`),
  siuS26: er7(String.raw`
MSH|^~\&|CADENCE|GENHOSP|EMERGISPHERE|ED|20260120090000-0500||SIU^S26^SIU_S12|MSG00015|P|2.5.1
SCH|APT200^CADENCE|APT200^CADENCE|||||FOLLOWUP^Follow-up visit^LOCAL|ROUTINE^Routine^HL70276|30|MIN|^^30^20260119093000-0500^20260119100000-0500||||||||||||||Noshow
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary
`),
  dftP03: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105200000-0500||DFT^P03^DFT_P03|MSG00016|P|2.5.1
EVN|P03|20260105200000-0500
${seg('PID', { 1: '1', 3: '000123456^^^GENHOSP^MR', 5: "O'Brien^Mary", 18: 'ACC7001^^^GENHOSP^AN' })}
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY05^1^GENHOSP', 19: 'V00098765^^^GENHOSP^VN' })}
${seg('FT1', { 1: '1', 2: 'TX9001', 4: '20260105083000-0500', 5: '20260105200000-0500', 6: 'CG', 7: '99285^ED visit level 5^CPT', 10: '1', 11: '1450.00&USD', 20: '0042^Carter^John', 25: '99285^ED visit level 5^CPT' })}
${seg('FT1', { 1: '2', 2: 'TX9002', 4: '20260105090000-0500', 5: '20260105200000-0500', 6: 'CG', 7: '80053^Comprehensive metabolic panel^CPT', 10: '1', 11: '85.50&USD' })}
`),
  barP01: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105081600-0500||BAR^P01^BAR_P01|MSG00017|P|2.5.1
EVN|P01|20260105081600-0500
${seg('PID', { 1: '1', 3: '000123456^^^GENHOSP^MR', 5: "O'Brien^Mary", 7: '19750301', 8: 'F', 18: 'ACC7001^^^GENHOSP^AN' })}
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY01^1^GENHOSP', 19: 'V00098765^^^GENHOSP^VN' })}
GT1|1||O'Brien^Patrick||400 Elm St^^Springfield^IL^62701
`),
  /** v2.7: MSH-2 has the truncation character; \P\ is a literal '#'. */
  adtA08v27: er7(String.raw`
MSH|^~\&#|EPIC|GENHOSP|EMERGISPHERE|ED|20260105140000-0500||ADT^A08^ADT_A01|MSG00018|P|2.7
EVN||20260105140000-0500
PID|1||000123456^^^GENHOSP^MR||O'Brien^Mary||19750301|F|||Unit \P\12^^Springfield^IL^62701
${seg('PV1', { 1: '1', 2: 'E', 3: 'ED^BAY05^1^GENHOSP', 19: 'V00098765^^^GENHOSP^VN' })}
`),
  /** Custom delimiters: ! field, @ component, # repetition, $ escape, % sub-component. */
  customDelimiters: er7(`
MSH!@#$%!EPIC!GENHOSP!EMERGISPHERE!ED!20260105150000-0500!!ADT@A08@ADT_A01!MSG00019!P!2.5.1
EVN!!20260105150000-0500
PID!1!!000123456@@@GENHOSP@MR!!O$S$Brien@Mary
PV1!1!E!ED@BAY05@1@GENHOSP!!!!!!!!!!!!!!!!V00098765@@@GENHOSP@VN
`),
  /** A file batch of two ADT^A04 messages. */
  batch: er7(String.raw`
FHS|^~\&|REGADT|MCM|EMERGISPHERE|ED|20260105160000+0100||||FILE01
BHS|^~\&|REGADT|MCM|EMERGISPHERE|ED|20260105160000+0100||||BATCH01
MSH|^~\&|REGADT|MCM|EMERGISPHERE|ED|20260105160000+0100||ADT^A04|B0001|P|2.5
PID|1||880001^^^MCM^MR||Batch^Anna
PV1|1|E|ED^TRIAGE^^MCM||||||||||||||||VB0001^^^MCM^VN
MSH|^~\&|REGADT|MCM|EMERGISPHERE|ED|20260105160001+0100||ADT^A04|B0002|P|2.5
PID|1||880002^^^MCM^MR||Batch^Ben
PV1|1|E|ED^TRIAGE^^MCM||||||||||||||||VB0002^^^MCM^VN
BTS|2
FTS|1
`),
};

/** Things that are not (acceptable) HL7 and must get an AR, never a crash or silence. */
export const garbage = {
  text: 'hello world, this is not HL7\r',
  truncatedHeader: 'MSH|0000|\r',
  badEncoding: 'MSH|^^^^|EPIC|GENHOSP|ES|ED|20260105||ADT^A01|X1|P|2.5\r',
  unsupportedVersion: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105081530-0500||ADT^A01|BADV1|P|3.0
PID|1||1^^^GENHOSP^MR||Doe^J
PV1|1|E
`),
  unsupportedType: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105081530-0500||MFN^M02|BADT1|P|2.5
MFI|PRA
`),
  missingControlId: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105081530-0500||ADT^A01||P|2.5
PID|1||1^^^GENHOSP^MR||Doe^J
PV1|1|E
`),
};

/** Supported messages with content errors: AE with ERR segments. */
export const invalid = {
  missingPid3: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105081530-0500||ADT^A01|BAD1|P|2.5.1
PID|1||||Doe^John
PV1|1|E
`),
  badDates: er7(String.raw`
MSH|^~\&|EPIC|GENHOSP|EMERGISPHERE|ED|20260105081530-0500||ADT^A04|BAD2|P|2.5.1
PID|1||42^^^GENHOSP^MR||Doe^John||19801341
PV1|1|Z||||||||||||||||||||||||||||||||||||||||||2026-01-05
`),
  badNumber: er7(String.raw`
MSH|^~\&|LAB|GENHOSP|EMERGISPHERE|ED|20260105093000-0500||ORU^R01|BAD3|P|2.5.1
PID|1||42^^^GENHOSP^MR||Doe^John
OBR|1||L1^LAB|2345-7^Glucose^LN
OBX|1|NM|2345-7^Glucose^LN||high|mg/dL|||||F
`),
};
