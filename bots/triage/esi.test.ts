import { describe, expect, test } from 'vitest';
import { defaultComplaints } from './complaints.ts';
import { esi } from './esi.ts';
import { predictResources } from './resources.ts';
import type { TriageInput, Vitals } from './types.ts';

const adultVitals: Vitals = { hr: 80, rr: 16, sbp: 125, dbp: 80, spo2: 98, temp: 36.9, onOxygen: false };
const adult = (over: Partial<TriageInput>): TriageInput => ({
  ageYears: 40,
  sex: 'female',
  mentalStatus: 'A',
  vitals: adultVitals,
  ...over,
});
const codes = (input: TriageInput) => esi(input).reasons.map((r) => r.code);

describe('decision point A: immediate life-saving intervention → ESI 1', () => {
  test('unresponsive: AVPU P or U', () => {
    expect(esi(adult({ chiefComplaint: 'found down', mentalStatus: 'U' }))).toMatchObject({ level: 1, decisionPoint: 'A' });
    expect(codes(adult({ chiefComplaint: 'intoxicated', mentalStatus: 'P' }))).toContain('A.unresponsive');
  });

  test('apnoeic or pulseless', () => {
    expect(codes(adult({ vitals: { ...adultVitals, rr: 0 } }))).toContain('A.apnea');
    expect(codes(adult({ vitals: { ...adultVitals, hr: 0 } }))).toContain('A.pulseless');
    expect(esi(adult({ chiefComplaint: 'cardiac arrest, CPR in progress' })).level).toBe(1);
  });

  test('SpO2 < 90 with respiratory compromise; without compromise it is decision point D', () => {
    const distress = esi(adult({ chiefComplaint: 'SOB', vitals: { ...adultVitals, spo2: 85, rr: 34 } }));
    expect(distress.level).toBe(1);
    expect(distress.reasons[0]).toMatchObject({ code: 'A.hypoxia', values: { spo2: 85, rr: 34 } });
    const quiet = esi(adult({ chiefComplaint: 'cough', vitals: { ...adultVitals, spo2: 88 } }));
    expect(quiet).toMatchObject({ level: 2, decisionPoint: 'D' });
  });

  test('profound hypotension: adult < 70, child below the PALS limit', () => {
    expect(codes(adult({ chiefComplaint: 'weakness', vitals: { ...adultVitals, sbp: 65 } }))).toContain('A.hypotension');
    // 4 years: PALS limit 70 + 2 × 4 = 78.
    const child = esi({ ageYears: 4, chiefComplaint: 'vomiting', vitals: { sbp: 74, hr: 130 } });
    expect(child.level).toBe(1);
    expect(child.reasons[0].values).toMatchObject({ sbp: 74, limit: 78 });
    // An adult at 80 is hypotensive (B), not profoundly so.
    expect(esi(adult({ chiefComplaint: 'weakness', vitals: { ...adultVitals, sbp: 80 } }))).toMatchObject({ level: 2, decisionPoint: 'B' });
  });

  test('hypoglycaemia with altered mentation is A; alert it is B', () => {
    expect(codes(adult({ chiefComplaint: 'diabetic', mentalStatus: 'V', vitals: { ...adultVitals, glucose: 38 } }))).toContain(
      'A.hypoglycemia',
    );
    expect(esi(adult({ chiefComplaint: 'low blood sugar', vitals: { ...adultVitals, glucose: 48 } }))).toMatchObject({ level: 2 });
  });

  test('anaphylaxis: compromised vitals → 1, otherwise high risk → 2', () => {
    expect(esi(adult({ chiefComplaint: 'anaphylaxis', vitals: { ...adultVitals, sbp: 82, hr: 128 } })).level).toBe(1);
    expect(esi(adult({ chiefComplaint: 'anaphylaxis' }))).toMatchObject({ level: 2, decisionPoint: 'B' });
  });
});

describe('decision point B: high risk, new confusion, severe pain → ESI 2', () => {
  test('chest pain suggestive of ACS from 30 years; a 22-year-old with normal vitals is ESI 3', () => {
    const older = esi(adult({ ageYears: 58, sex: 'male', chiefComplaint: 'ant. chest pain' }));
    expect(older).toMatchObject({ level: 2, decisionPoint: 'B' });
    expect(older.reasons[0].text).toContain('acute coronary syndrome');
    expect(older.reasons[0].values).toMatchObject({ complaint: 'chest-pain', age: '58 years' });
    expect(esi(adult({ ageYears: 22, chiefComplaint: 'chest pain' }))).toMatchObject({ level: 3, decisionPoint: 'C' });
  });

  test.each([
    ['facial droop, slurred speech', 'male'],
    ['SI', 'female'],
    ['testicular pain', 'male'],
    ['OD on tylenol', 'female'],
    ['rollover MVC, ejected', 'male'],
    ['GSW to leg', 'male'],
    ['worst headache of my life', 'female'],
    ['sexual assault', 'female'],
  ] as const)('%s → 2', (cc, sex) => {
    expect(esi(adult({ chiefComplaint: cc, sex }))).toMatchObject({ level: 2, decisionPoint: 'B' });
  });

  test('bleeding in pregnancy is high risk; the same bleeding outside pregnancy is not', () => {
    expect(esi(adult({ chiefComplaint: 'vaginal bleeding, 8 weeks pregnant' })).level).toBe(2);
    expect(esi(adult({ chiefComplaint: 'vaginal bleeding', pregnant: true })).level).toBe(2);
    expect(esi(adult({ chiefComplaint: 'vaginal bleeding' })).level).toBe(3);
  });

  test('GI bleed: high risk with abnormal vital signs only', () => {
    const tachy = esi(adult({ chiefComplaint: 'melena', vitals: { ...adultVitals, hr: 118 } }));
    expect(tachy.level).toBe(2);
    expect(tachy.reasons[0].values).toMatchObject({ abnormalVitals: ['HR 118 > 100'] });
    expect(esi(adult({ chiefComplaint: 'melena' })).level).toBe(3);
  });

  test('immunocompromised (or transplant) with fever', () => {
    expect(esi(adult({ chiefComplaint: 'fever, on chemo', vitals: { ...adultVitals, temp: 38.4 } })).level).toBe(2);
    expect(esi(adult({ chiefComplaint: 'cough', immunocompromised: true, vitals: { ...adultVitals, temp: 38.6 } })).level).toBe(2);
    expect(esi(adult({ chiefComplaint: 'cough', immunocompromised: true })).level).toBe(4);
  });

  test('head injury: anticoagulation or age ≥ 65 make it high risk', () => {
    expect(esi(adult({ chiefComplaint: 'hit head, on coumadin' })).level).toBe(2);
    expect(esi(adult({ ageYears: 72, chiefComplaint: 'head injury' })).level).toBe(2);
    expect(esi(adult({ ageYears: 30, chiefComplaint: 'head injury, no LOC' })).level).toBe(4);
  });

  test('new confusion, lethargy (AVPU V)', () => {
    expect(codes(adult({ chiefComplaint: 'weakness', newConfusion: true }))).toContain('B.mental-status');
    expect(esi(adult({ chiefComplaint: 'weakness', mentalStatus: 'V' })).level).toBe(2);
    expect(esi(adult({ chiefComplaint: 'mental change' })).level).toBe(2);
  });

  test('severe pain ≥ 7: ESI 2, except for minor injuries where pain alone is not high acuity', () => {
    expect(esi(adult({ chiefComplaint: 'abd pain', painScore: 8 })).reasons.map((r) => r.code)).toContain('B.pain');
    expect(esi(adult({ chiefComplaint: 'abd pain', painScore: 6 })).level).toBe(3);
    expect(esi(adult({ chiefComplaint: 'sprained ankle', painScore: 9 })).level).toBe(4);
    expect(esi(adult({ chiefComplaint: 'kidney stone', painScore: 7 })).level).toBe(2);
  });

  test('sepsis signs: suspected infection with qSOFA ≥ 2', () => {
    const r = esi(adult({ chiefComplaint: 'fever', vitals: { ...adultVitals, temp: 38.9, rr: 24, sbp: 96, hr: 96 } }));
    expect(r.level).toBe(2);
    expect(r.reasons.find((x) => x.code === 'B.sepsis')?.values).toEqual({ qsofa: 2 });
    // The same qSOFA without an infection is not "sepsis signs" (here decision point D decides).
    expect(codes(adult({ chiefComplaint: 'back pain', vitals: { ...adultVitals, rr: 24, sbp: 96 } }))).not.toContain('B.sepsis');
  });

  test('NEWS2 ≥ 7 is treated as high risk (local policy, labelled)', () => {
    const r = esi(adult({ chiefComplaint: 'weakness', vitals: { hr: 125, rr: 26, sbp: 105, spo2: 94, temp: 38.5, onOxygen: false } }));
    const reason = r.reasons.find((x) => x.code === 'B.news2');
    expect(reason?.source).toBe('local policy');
    expect(reason?.values).toEqual({ news2: 8 });
  });
});

describe('decision point C: resource types', () => {
  const table = defaultComplaints().table;
  const resources = (text: string, ageYears = 40) => predictResources(defaultComplaints().match(text).matches, table, ageYears);

  test('types are counted, not tests: CBC + electrolytes + troponin are one "labs"', () => {
    const r = resources('chest pain');
    expect(r.types.map((t) => t.type).sort()).toEqual(['ecg', 'labs', 'xray']);
    expect(r.types.find((t) => t.type === 'labs')?.items).toEqual(['troponin', 'CBC', 'electrolytes/BMP']);
    expect(r.count).toBe(3);
  });

  test('non-resources are excluded and named: point-of-care tests, oral medication, tetanus, splints, refills', () => {
    expect(resources('sore throat')).toMatchObject({ count: 0, unknown: false });
    expect(resources('sore throat').excluded.map((e) => e.why)).toContain('point-of-care test');
    expect(resources('laceration').count).toBe(1);
    expect(resources('laceration').excluded.map((e) => e.item)).toEqual(['tetanus immunisation']);
    expect(resources('sprained ankle').excluded.map((e) => e.item)).toContain('splint, sling or crutches');
    expect(resources('med refill').count).toBe(0);
  });

  test('a complex procedure counts two', () => {
    const r = resources('dislocated shoulder');
    expect(r.types.find((t) => t.type === 'complex-procedure')?.counts).toBe(2);
    expect(r.count).toBe(4);
  });

  test('pediatric expectations differ where the table says so', () => {
    expect(resources('fever', 40).count).toBe(2);
    expect(resources('fever', 6).count).toBe(1);
  });

  test.each([
    ['med refill', 5],
    ['sore throat', 5],
    ['rash', 5],
    ['earache', 5],
    ['laceration to finger', 4],
    ['sprained ankle', 4],
    ['UTI sx', 4],
    ['back pain', 4],
    ['abd pain', 3],
    ['N/V x3 days', 3],
  ])('%s → ESI %d', (cc, level) => {
    expect(esi(adult({ chiefComplaint: cc })).level).toBe(level);
  });

  test('an unrecognised complaint is not "no resources": it is counted as two or more', () => {
    const r = esi(adult({ chiefComplaint: 'zzz' }));
    expect(r.level).toBe(3);
    expect(r.reasons[0]).toMatchObject({ code: 'C.unknown', source: 'local policy' });
    expect(esi(adult({ chiefComplaint: undefined })).level).toBe(3);
  });
});

describe('decision point D: danger-zone vital signs by age band', () => {
  // "Weakness" needs two resource types (labs, ECG) at every age and has no high-risk criterion, so D decides.
  const at = (age: Partial<TriageInput>, vitals: Vitals) => esi({ chiefComplaint: 'weakness', mentalStatus: 'A', ...age, vitals });

  test.each([
    { label: '< 3 months', age: { ageDays: 45 }, hr: 180, rr: 50 },
    { label: '3 months – 3 years', age: { ageYears: 1.5 }, hr: 160, rr: 40 },
    { label: '3 – 8 years', age: { ageYears: 6 }, hr: 140, rr: 30 },
    { label: '> 8 years', age: { ageYears: 30 }, hr: 100, rr: 20 },
  ])('$label: HR > $hr, RR > $rr', ({ label, age, hr, rr }) => {
    expect(at(age, { hr, rr, spo2: 98, temp: 37 })).toMatchObject({ level: 3, decisionPoint: 'C' });
    const fast = at(age, { hr: hr + 1, rr, spo2: 98, temp: 37 });
    expect(fast).toMatchObject({ level: 2, decisionPoint: 'D' });
    expect(fast.ageBand.label).toBe(label);
    expect(fast.reasons.find((r) => r.code === 'D.hr')?.values).toEqual({ hr: hr + 1, limit: hr });
    expect(at(age, { hr, rr: rr + 1, spo2: 98, temp: 37 }).reasons.map((r) => r.code)).toContain('D.rr');
  });

  test('band edges: 89 vs 90 days, 3 years, 8 years', () => {
    expect(at({ ageDays: 89 }, {}).ageBand.id).toBe('under-3-months');
    expect(at({ ageDays: 90 }, {}).ageBand.id).toBe('3-months-to-3-years');
    expect(at({ ageYears: 3 }, {}).ageBand.id).toBe('3-to-8-years');
    expect(at({ ageYears: 8 }, {}).ageBand.id).toBe('3-to-8-years');
    expect(at({ ageYears: 8.5 }, {}).ageBand.id).toBe('over-8-years');
  });

  test('SpO2 < 92 at any age; 92 is not', () => {
    expect(at({ ageYears: 30 }, { spo2: 91 })).toMatchObject({ level: 2, decisionPoint: 'D' });
    expect(at({ ageYears: 30 }, { spo2: 92 }).level).toBe(3);
    expect(at({ ageDays: 200 }, { spo2: 90 }).level).toBe(2);
  });

  test('with fewer than two resources, SpO2 < 92 still applies; HR/RR danger zone raises to 3 (local policy)', () => {
    expect(esi(adult({ chiefComplaint: 'sprained ankle', vitals: { ...adultVitals, spo2: 90 } }))).toMatchObject({
      level: 2,
      decisionPoint: 'D',
    });
    const tachy = esi(adult({ chiefComplaint: 'sprained ankle', vitals: { ...adultVitals, hr: 115 } }));
    expect(tachy).toMatchObject({ level: 3, decisionPoint: 'local-policy' });
    expect(tachy.reasons.find((r) => r.code === 'D.hr')?.source).toBe('local policy');
  });

  test('unknown age: adult limits (the most sensitive), said in the rationale', () => {
    const r = esi({ chiefComplaint: 'weakness', vitals: { hr: 105 } });
    expect(r).toMatchObject({ level: 2, decisionPoint: 'D' });
    expect(r.ageBand.assumed).toBe(true);
    expect(r.notes.map((n) => n.code)).toContain('age.unknown');
  });
});

describe('pediatric fever', () => {
  test('1–28 days with T ≥ 38.0 → at least ESI 2', () => {
    const r = esi({ ageDays: 20, chiefComplaint: 'sleepy', vitals: { temp: 38.0 } });
    expect(r.level).toBe(2);
    expect(r.reasons.map((x) => x.code)).toContain('fever.neonate');
    expect(esi({ ageDays: 20, chiefComplaint: 'rash', vitals: { temp: 37.9 } }).reasons.map((x) => x.code)).not.toContain('fever.neonate');
  });

  test('1–3 months with T ≥ 38.0 → ESI 2 (consider, applied)', () => {
    const r = esi({ ageDays: 60, chiefComplaint: 'cough', vitals: { temp: 38.3, hr: 150, rr: 40, spo2: 98 } });
    expect(r).toMatchObject({ level: 2, decisionPoint: 'pediatric-fever' });
    expect(r.reasons[0]).toMatchObject({ code: 'fever.young-infant', values: { ageDays: 60, temp: 38.3 } });
  });

  test('3 months – 3 years, T > 39.0: ESI 3 with no obvious source or incomplete immunisations', () => {
    const noSource = esi({ ageYears: 1.5, chiefComplaint: 'fever', vitals: { temp: 39.4, hr: 150, rr: 30, spo2: 98 } });
    expect(noSource).toMatchObject({ level: 3, decisionPoint: 'pediatric-fever' });
    // An obvious source (ear pain): rule not applied, said so.
    const withSource = esi({ ageYears: 1.5, chiefComplaint: 'pulling at ears', vitals: { temp: 39.4, hr: 150, rr: 30, spo2: 98 } });
    expect(withSource.level).toBe(5);
    expect(withSource.notes.map((n) => n.code)).toContain('fever.toddler-not-applied');
    const unimmunised = esi({
      ageYears: 1.5,
      chiefComplaint: 'pulling at ears',
      immunizationsIncomplete: true,
      vitals: { temp: 39.4, hr: 150, rr: 30, spo2: 98 },
    });
    expect(unimmunised.level).toBe(3);
    // T 39.0 is not > 39.0; and the rule ends at 3 years.
    expect(esi({ ageYears: 1.5, chiefComplaint: 'pulling at ears', immunizationsIncomplete: true, vitals: { temp: 39.0 } }).level).toBe(5);
    expect(esi({ ageYears: 4, chiefComplaint: 'pulling at ears', immunizationsIncomplete: true, vitals: { temp: 39.6 } }).level).toBe(5);
  });
});

describe('missing and implausible vitals', () => {
  const vignettes: TriageInput[] = [
    adult({ chiefComplaint: 'abd pain' }),
    adult({ chiefComplaint: 'sprained ankle' }),
    adult({ chiefComplaint: 'med refill' }),
    adult({ ageYears: 58, chiefComplaint: 'chest pain' }),
    { ageYears: 2, chiefComplaint: 'fever', vitals: { hr: 120, rr: 28, spo2: 99, temp: 38.5 } },
    { ageDays: 50, chiefComplaint: 'cough', vitals: { hr: 150, rr: 40, spo2: 98, temp: 37.2 } },
  ];

  test.each(vignettes)('missing vitals do not lower acuity below the same patient with normal vitals (%#)', (input) => {
    const normal = esi(input).level;
    for (const key of ['hr', 'rr', 'sbp', 'dbp', 'temp', 'spo2', 'onOxygen'] as const) {
      const vitals = { ...input.vitals };
      delete vitals[key];
      expect(esi({ ...input, vitals }).level, `without ${key}`).toBeLessThanOrEqual(normal);
    }
    const none = esi({ ...input, vitals: undefined });
    expect(none.level).toBeLessThanOrEqual(normal);
    expect(none.notes.find((n) => n.code === 'vitals.missing')?.text).toContain('not assumed normal');
  });

  test('implausible values are ignored with a reason, never guessed (101 in a °C field)', () => {
    const r = esi(adult({ chiefComplaint: 'cough', vitals: { ...adultVitals, temp: 101, spo2: 140 } }));
    expect(r.vitals.temp).toBeUndefined();
    expect(r.notes.filter((n) => n.code === 'vitals.implausible').map((n) => n.text)).toEqual([
      'spo2 140 ignored: outside 0–100 % (not guessed; re-measure)',
      'temp 101 ignored: outside 20–46 °C (not guessed; re-measure)',
    ]);
    expect(r.missingVitals).toEqual(['spo2', 'temp']);
  });

  test('NEWS2 policies use adult physiology, so they do not apply to children', () => {
    // RR 40 and HR 150 score 3 each on the adult chart, yet are normal at 2 months.
    const infant = esi({ ageDays: 60, chiefComplaint: 'cough', vitals: { hr: 150, rr: 40, spo2: 98, temp: 37.0 } });
    expect(infant.news2.score).toBeGreaterThanOrEqual(6);
    expect(infant.level).toBe(4);
    expect(infant.reasons.map((r) => r.code)).not.toContain('floor.news2');
  });

  test('NEWS2 ≥ 5 or a single 3 needs at least ESI 3 (local policy)', () => {
    const r = esi(adult({ chiefComplaint: 'sprained ankle', vitals: { ...adultVitals, temp: 34.8 } }));
    expect(r.level).toBe(3);
    expect(r.reasons.map((x) => x.code)).toContain('floor.news2');
  });
});
