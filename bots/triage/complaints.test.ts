import { describe, expect, test } from 'vitest';
import tableJson from '../../server-config/triage/complaints.json' with { type: 'json' };
import { type ComplaintTable, compileComplaintTable, defaultComplaints, validateComplaintTable } from './complaints.ts';

const complaints = defaultComplaints();
const ids = (text: string, context = {}) => complaints.match(text, context).matches.map((m) => m.entry.id);

describe('abbreviations and phrasings from the issue', () => {
  test.each([
    ['abd pain', 'abdominal-pain'],
    ['Abd. pain', 'abdominal-pain'],
    ['SOB', 'shortness-of-breath'],
    ['ant. chest pain', 'chest-pain'],
    ['mental change', 'altered-mental-status'],
    ['CP', 'chest-pain'],
    ['LOC', 'syncope'],
    ['N/V', 'nausea-vomiting'],
    ['HA', 'headache'],
    ['s/p fall', 'fall'],
    ['r/o MI', 'chest-pain'],
    ['AMS', 'altered-mental-status'],
    ['GSW', 'penetrating-trauma'],
    ['MVC', 'motor-vehicle-collision'],
    ['SI', 'suicidal-ideation'],
    ['OD', 'overdose'],
    ['BRBPR', 'gi-bleed'],
    ['UTI sx', 'urinary-symptoms'],
    ['med refill', 'medication-refill'],
    ['lac to L hand', 'laceration'],
    ['LBP', 'back-pain'],
    ['ped vs auto', 'major-trauma-mechanism'],
  ])('%s → %s', (text, id) => {
    expect(ids(text)).toContain(id);
  });
});

describe('common ED complaints in free text', () => {
  test.each([
    ['chest tightness radiating to left arm', 'chest-pain'],
    ['my chest hurts', 'chest-pain'],
    ["can't breathe", 'shortness-of-breath'],
    ['difficulty breathing', 'shortness-of-breath'],
    ['my stomach hurts', 'abdominal-pain'],
    ['RLQ pain', 'abdominal-pain'],
    ['worst headache of my life', 'thunderclap-headache'],
    ['facial droop and slurred speech', 'stroke'],
    ['fever and chills', 'fever'],
    ['passed out at church', 'syncope'],
    ['fell off ladder', 'fall-from-height'],
    ['rollover MVC', 'major-trauma-mechanism'],
    ['took too many pills', 'overdose'],
    ['wants to kill himself', 'suicidal-ideation'],
    ['vomiting blood', 'gi-bleed'],
    ['8 weeks pregnant with vaginal bleeding', 'vaginal-bleeding'],
    ['testicle pain since this morning', 'testicular-pain'],
    ['allergic reaction to peanuts', 'allergic-reaction'],
    ['tongue swelling', 'airway-threat'],
    ['seizure', 'seizure'],
    ['lower back pain after lifting', 'back-pain'],
    ['cut finger on knife', 'laceration'],
    ['twisted ankle playing soccer', 'extremity-injury'],
    ['itchy rash on arms', 'rash'],
    ['sore throat', 'sore-throat'],
    ['earache', 'earache'],
    ['burning with urination', 'urinary-symptoms'],
    ['needs prescription refill', 'medication-refill'],
    ['nosebleed', 'epistaxis'],
    ['toothache', 'dental'],
  ])('%s → %s', (text, id) => {
    expect(ids(text)).toContain(id);
  });
});

describe('normalisation', () => {
  test('cheap misspellings are corrected and reported', () => {
    const r = complaints.match('feaver and siezure');
    expect(r.matches.map((m) => m.entry.id)).toEqual(['fever', 'seizure']);
    expect(r.corrections).toEqual([
      { from: 'feaver', to: 'fever' },
      { from: 'siezure', to: 'seizure' },
    ]);
    expect(ids('vomitting and diarrhoea')).toEqual(['nausea-vomiting', 'diarrhea']);
    expect(ids('stomache ache')).toEqual(['abdominal-pain']);
  });

  test('short unknown words are not "corrected" into complaints', () => {
    expect(ids('rough day')).toEqual([]);
  });

  test('several complaints in one text', () => {
    expect(ids('CP, SOB, N/V')).toEqual(['chest-pain', 'shortness-of-breath', 'nausea-vomiting']);
  });

  test('the longest phrase wins: a fall from a ladder is not also a plain fall', () => {
    expect(ids('s/p fall from ladder')).toEqual(['fall-from-height']);
    expect(ids('cut wrists')).toEqual(['suicidal-ideation']);
  });

  test('a period after an abbreviation does not end the clause; after a word it does', () => {
    expect(complaints.normalize('ant. chest pain').text).toBe('anterior chest pain');
    const r = complaints.match('denies fever. cough');
    expect(r.matches.map((m) => m.entry.id)).toEqual(['cough']);
    expect(r.negated).toEqual(['fever']);
  });
});

describe('negation', () => {
  test('denies / no / without negate to the end of the clause', () => {
    const r = complaints.match('CP, denies SOB or N/V');
    expect(r.matches.map((m) => m.entry.id)).toEqual(['chest-pain']);
    expect(r.negated).toEqual(['shortness breath', 'nausea vomiting']);
    expect(ids('head injury, no LOC')).toEqual(['head-injury']);
    expect(ids('fall w/o head injury')).toEqual(['fall']);
  });

  test('"but" ends the negation', () => {
    expect(ids('no fever but vomiting')).toEqual(['nausea-vomiting']);
  });

  test('a cue inside the complaint itself is not a negation', () => {
    expect(ids('no pulse')).toEqual(['cardiac-arrest']);
    expect(ids('pt not breathing')).toEqual(['respiratory-arrest']);
    expect(ids('not able to breathe')).toEqual(['shortness-of-breath']);
  });

  test('negated modifiers are not applied', () => {
    const r = complaints.match('abd pain, not pregnant');
    expect(r.modifiers).toEqual([]);
    expect(r.negated).toEqual(['pregnant']);
  });
});

describe('modifiers and applicability', () => {
  test('pregnancy, anticoagulation and immunosuppression are found in the text', () => {
    expect(complaints.match('vaginal bleeding, 10 weeks pregnant').modifiers).toEqual(['pregnant']);
    expect(complaints.match('fall, on eliquis').modifiers).toEqual(['anticoagulated']);
    expect(complaints.match('fever, on chemo').modifiers).toEqual(['immunocompromised']);
    expect(complaints.match('fever, kidney transplant').modifiers.sort()).toEqual(['immunocompromised', 'transplant']);
  });

  test('an entry for the other sex is kept for safety but flagged', () => {
    const [m] = complaints.match('testicular pain', { sex: 'female' }).matches;
    expect(m.entry.id).toBe('testicular-pain');
    expect(m.applicable).toBe(false);
    expect(m.notApplicable).toContain('male');
    expect(complaints.match('testicular pain', { sex: 'male' }).matches[0].applicable).toBe(true);
  });

  test('age applicability', () => {
    expect(complaints.match('croup', { ageYears: 40 }).matches[0].applicable).toBe(false);
    expect(complaints.match('croup', { ageYears: 2 }).matches[0].applicable).toBe(true);
  });

  test('SNOMED CT codes ride along with the entry', () => {
    expect(complaints.match('chest pain').matches[0].entry.snomed).toEqual({ code: '29857009', display: 'Chest pain' });
  });
});

describe('the table itself', () => {
  const table = tableJson as ComplaintTable;

  test('the shipped table validates and compiles', () => {
    expect(() => validateComplaintTable(table)).not.toThrow();
    expect(table.complaints.length).toBeGreaterThan(80);
  });

  test('every high-risk example of the clinical reference has a high-risk entry', () => {
    const highRisk = (text: string, context = {}) =>
      complaints.match(text, context).matches.some((m) => (m.entry.highRisk?.length ?? 0) > 0 || (m.entry.immediate?.length ?? 0) > 0);
    for (const text of [
      'chest pain',
      'stroke',
      'suicidal ideation',
      'homicidal ideation',
      'ectopic pregnancy',
      'testicular torsion',
      'GI bleed',
      'vaginal bleeding',
      'rollover MVC',
      'sepsis',
      'severe asthma',
      'overdose',
    ]) {
      expect(highRisk(text), text).toBe(true);
    }
  });

  test('bad tables fail loudly at load', () => {
    const broken: ComplaintTable = {
      ...table,
      complaints: [
        ...table.complaints,
        { id: 'x', display: 'X', synonyms: ['chest pain'], items: ['cbc'] },
        {
          id: 'y',
          display: 'Y',
          synonyms: ['y thing'],
          items: ['no-such-item'],
          highRisk: [{ reason: 'r', when: { modifiers: ['nope'] } }],
        },
      ],
    };
    expect(() => validateComplaintTable(broken)).toThrow(/unknown item no-such-item.*unknown modifier nope/);
    expect(() =>
      compileComplaintTable({ ...table, complaints: [...table.complaints, { id: 'x', display: 'X', synonyms: ['CP'], items: [] }] }),
    ).toThrow(/belongs to both chest-pain and x/);
  });
});
