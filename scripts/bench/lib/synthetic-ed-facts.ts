import pg from 'pg';

/**
 * Fills the ED fact tables (migration 0010) of a scratch database straight from generate_series,
 * with the shape of scripts/bench/export.ts's generated year (arrivals spread over the period,
 * ESI mix 2/15/45/30/8 %, 2 % LWBS, 20 % admitted, 5 % overridden triage, eight step Tasks per
 * visit with 2 % failures, alarms for a fifth of the visits, 30 beds in three zones). This skips
 * the resource load (38 minutes for 100,000 visits) to time the metric queries alone; the
 * numbers it gives are about synthetic facts, not facts the trigger derived from resources.
 * Deterministic: the random sequence is seeded.
 */
export async function fillSyntheticFacts(
  url: string,
  opts: { visits: number; from: Date; spanMs: number; beds: string[]; steps: string[] },
): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT setseed(0.42)');
    // One row per visit with its random draws, then every fact table from it.
    await client.query(
      `CREATE TEMP TABLE synth ON COMMIT DROP AS
       SELECT n, arrival, esi, lwbs, bed, patient,
         date_trunc('milliseconds', arrival + (2 + r_triage * 18) * interval '1 minute') AS triaged,
         r_seen, r_stay, r_admit, r_override, r_alarms, r_board
       FROM (
         SELECT n,
           date_trunc('milliseconds', $1::timestamptz + random() * $2::float8 * interval '1 millisecond') AS arrival,
           CASE WHEN r < 0.02 THEN 1 WHEN r < 0.17 THEN 2 WHEN r < 0.62 THEN 3 WHEN r < 0.92 THEN 4 ELSE 5 END AS esi,
           random() < 0.02 AS lwbs,
           ($4::text[])[1 + floor(random() * cardinality($4::text[]))::int] AS bed,
           'Patient/bench-p-' || floor(random() * greatest(1, floor($3::int * 0.7)))::int AS patient,
           random() AS r_triage, random() AS r_seen, random() AS r_stay, random() AS r_admit,
           random() AS r_override, random() AS r_alarms, random() AS r_board
         FROM (SELECT n, random() AS r FROM generate_series(0, $3::int - 1) n) g
       ) x`,
      [opts.from.toISOString(), opts.spanMs, opts.visits, opts.beds],
    );
    await client.query(
      `CREATE TEMP TABLE synth_visit ON COMMIT DROP AS
       SELECT s.*, seen,
         CASE WHEN lwbs THEN date_trunc('milliseconds', triaged + r_stay * interval '2 hours')
              ELSE date_trunc('milliseconds', seen + (1 + r_stay * 7) * interval '1 hour') END AS departure,
         NOT lwbs AND r_admit < 0.2 AS admitted
       FROM synth s CROSS JOIN LATERAL (SELECT date_trunc('milliseconds', triaged + (5 + r_seen * 80) * interval '1 minute') AS seen) t`,
    );
    await client.query(
      `INSERT INTO ed_admission_fact (id, visit, start)
       SELECT 'bench-imp-' || n, 'bench-e-' || n, date_trunc('milliseconds', departure - (0.5 + r_board * 5) * interval '1 hour')
       FROM synth_visit WHERE admitted`,
    );
    await client.query(
      `INSERT INTO ed_acuity_fact (id, encounter, at, level, override)
       SELECT 'bench-esi-' || n, 'bench-e-' || n, triaged, esi, false FROM synth_visit
       UNION ALL
       SELECT 'bench-esi-o-' || n, 'bench-e-' || n, triaged + interval '10 minutes', greatest(1, esi - 1), true
       FROM synth_visit WHERE r_override < 0.05`,
    );
    // Visits after their ESI and admission facts, carrying their copies (migration 0013) as the trigger writes them.
    await client.query(
      `INSERT INTO ed_visit_fact (id, patient, arrival, departure, status, esi, bed, provider_at, lwbs,
         auto_at, auto_level, over_at, over_level, admitted, admitted_at)
       SELECT 'bench-e-' || n, patient, arrival, departure, CASE WHEN lwbs THEN 'cancelled' ELSE 'finished' END,
         esi, bed, CASE WHEN lwbs THEN NULL ELSE seen END, lwbs, d.*
       FROM synth_visit CROSS JOIN LATERAL es_ed_visit_derived('bench-e-' || n) d`,
    );
    // Eight steps one after another from a second after arrival, each 0.5–8.5 s.
    await client.query(
      `INSERT INTO ed_step_fact (id, encounter, step, status, started, ended, authored, visit_arrival, visit_esi, visit_bed)
       SELECT 'bench-task-' || n || '-' || k, 'bench-e-' || n, step,
         CASE WHEN random() < 0.02 THEN 'failed' ELSE 'completed' END,
         arrival + interval '1 second' + (k - 1) * interval '4500 milliseconds',
         date_trunc('milliseconds', arrival + interval '1 second' + (k - 1) * interval '4500 milliseconds'
           + (500 + random() * 8000) * interval '1 millisecond'),
         arrival, arrival, esi, bed
       FROM synth_visit CROSS JOIN unnest($1::text[]) WITH ORDINALITY AS s(step, k)`,
      [opts.steps],
    );
    await client.query(
      `INSERT INTO ed_alarm_fact (id, patient, at)
       SELECT 'bench-alarm-' || n || '-' || a, patient,
         date_trunc('milliseconds', arrival + random() * (departure - arrival))
       FROM synth_visit CROSS JOIN LATERAL generate_series(1, CASE WHEN r_alarms < 0.2 THEN 1 + floor(r_alarms * 15)::int ELSE 0 END) a`,
    );
    await client.query('COMMIT');
    await client.query('VACUUM ANALYZE');
  } finally {
    await client.end();
  }
}

/** Rows per fact table, for the benchmark's log. */
export async function factCounts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, number> = {};
    for (const t of ['ed_visit_fact', 'ed_admission_fact', 'ed_acuity_fact', 'ed_step_fact', 'ed_alarm_fact']) {
      out[t] = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
    }
    return out;
  } finally {
    await client.end();
  }
}
