-- Up Migration

-- A year's dashboard (docs/analytics.md, "ED fact tables") joined 800,000 step facts and 105,000
-- ESI facts to the visits on every query; the joins, and the sort by step they forced, were most
-- of its cost. Each fact row now carries what the metrics read from the other tables:
--
-- * a visit carries its first automated and first override ESI Observation (time and level, the
--   earliest by (time, id)) and its admission (any inpatient Encounter partOf it; the earliest
--   start) — the inputs of triage time, the override metric, length of stay and boarding;
-- * a step Task carries its visit's arrival, ESI level and bed — the window and filters.
--
-- These copies are kept by the same trigger, in the same statement as the resource write, from the
-- base facts of 0010 (still a pure function of one resource each). Whenever a base fact that
-- another row copies changes, the trigger recomputes that visit's copies from the base facts, so
-- they cannot drift: they equal what a join would read at that moment.
--
-- Concurrency: two transactions may write the two sides at once (an Encounter re-triaged while
-- a Task of the visit is created); each would compute its copy from a snapshot without the
-- other's uncommitted write. Every writer of a visit's copies therefore first updates the visit's
-- row in ed_visit_sync: the second writer waits until the first commits; in READ COMMITTED its
-- next statements see the first one's rows (a new snapshot per statement), and in REPEATABLE READ
-- or SERIALIZABLE PostgreSQL refuses the update of a row changed after the snapshot with a
-- serialization failure (40001), which withTransaction retries. Writes about different visits
-- never wait for each other.

ALTER TABLE ed_visit_fact
  ADD COLUMN auto_at timestamptz,
  ADD COLUMN auto_level int,
  ADD COLUMN over_at timestamptz,
  ADD COLUMN over_level int,
  ADD COLUMN admitted boolean NOT NULL DEFAULT false,
  ADD COLUMN admitted_at timestamptz;

ALTER TABLE ed_step_fact
  ADD COLUMN visit_arrival timestamptz,
  ADD COLUMN visit_esi int,
  ADD COLUMN visit_bed text;

-- One row per visit id that a fact has referred to; `n` only changes so that every writer makes a
-- new row version (see above). Updated in place (HOT: no indexed column changes).
CREATE TABLE ed_visit_sync (
  id text PRIMARY KEY,
  n int8 NOT NULL DEFAULT 0
) WITH (fillfactor = 50);

-- PL/pgSQL rather than SQL here and below: the trigger calls these per row, and a SQL function
-- that cannot be inlined is planned on every call, while PL/pgSQL keeps its plans for the session.
CREATE FUNCTION es_ed_visit_lock(vid text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ed_visit_sync AS s (id) VALUES (vid) ON CONFLICT (id) DO UPDATE SET n = s.n + 1;
END $$;

-- What a visit copies from the ESI and admission facts (SQL: inlined into the statements that read it).
CREATE FUNCTION es_ed_visit_derived(vid text)
  RETURNS TABLE (auto_at timestamptz, auto_level int, over_at timestamptz, over_level int, admitted boolean, admitted_at timestamptz)
  LANGUAGE sql STABLE AS $$
  SELECT a.at, a.level, o.at, o.level, m.n > 0, m.start
  FROM (SELECT count(*) AS n, min(start) AS start FROM ed_admission_fact WHERE visit = vid) m
  LEFT JOIN LATERAL (SELECT at, level FROM ed_acuity_fact WHERE encounter = vid AND NOT override ORDER BY at, id LIMIT 1) a ON true
  LEFT JOIN LATERAL (SELECT at, level FROM ed_acuity_fact WHERE encounter = vid AND override ORDER BY at, id LIMIT 1) o ON true
$$;

-- Recomputes a visit's copies of its ESI and admission facts (no new row version when unchanged).
CREATE FUNCTION es_ed_visit_derive(vid text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ed_visit_fact v
  SET auto_at = d.auto_at, auto_level = d.auto_level, over_at = d.over_at, over_level = d.over_level,
    admitted = d.admitted, admitted_at = d.admitted_at
  FROM es_ed_visit_derived(vid) d
  WHERE v.id = vid
    AND (v.auto_at, v.auto_level, v.over_at, v.over_level, v.admitted, v.admitted_at)
      IS DISTINCT FROM (d.auto_at, d.auto_level, d.over_at, d.over_level, d.admitted, d.admitted_at);
END $$;

-- Copies a visit's arrival, ESI level and bed onto its step facts (NULL when it is no ED visit).
CREATE FUNCTION es_ed_steps_follow(vid text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  a timestamptz;
  e int;
  b text;
BEGIN
  SELECT arrival, esi, bed INTO a, e, b FROM ed_visit_fact WHERE id = vid;
  UPDATE ed_step_fact SET visit_arrival = a, visit_esi = e, visit_bed = b
  WHERE encounter = vid AND (visit_arrival, visit_esi, visit_bed) IS DISTINCT FROM (a, e, b);
END $$;

-- Every copy of every visit, from the base facts: for facts written without the trigger (this
-- migration, the benchmark's synthetic facts).
CREATE FUNCTION es_ed_facts_derive_all() RETURNS void LANGUAGE sql AS $$
  UPDATE ed_visit_fact v
  SET (auto_at, auto_level, over_at, over_level, admitted, admitted_at) = (SELECT * FROM es_ed_visit_derived(v.id));
  UPDATE ed_step_fact s SET visit_arrival = v.arrival, visit_esi = v.esi, visit_bed = v.bed
  FROM ed_visit_fact v WHERE v.id = s.encounter;
$$;

-- The base facts as in 0010 (same JSON paths), plus the copies. One function rather than the
-- insert/delete pair of 0010: it must know which visits both halves touched, and lock each once.
CREATE OR REPLACE FUNCTION es_ed_facts_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  es constant text := 'https://emergisphere.dev/fhir';
  c jsonb;
  rid text;
  ref text;
  vid text;
  locked text[] := '{}';
  derive text[] := '{}';
  follow text[] := '{}';
BEGIN
  -- The old version's facts (a new resource has none: the bulk load path writes millions).
  IF TG_OP <> 'INSERT' THEN
    rid := OLD.id;
    IF OLD.resource_type = 'Encounter' THEN
      DELETE FROM ed_visit_fact WHERE id = rid RETURNING id INTO vid;
      IF vid IS NOT NULL THEN
        follow := follow || vid;
      END IF;
      vid := NULL;
      DELETE FROM ed_admission_fact WHERE id = rid RETURNING visit INTO vid;
      IF vid IS NOT NULL THEN
        derive := derive || vid;
      END IF;
    ELSIF OLD.resource_type = 'Observation' THEN
      DELETE FROM ed_acuity_fact WHERE id = rid RETURNING encounter INTO vid;
      IF vid IS NOT NULL THEN
        derive := derive || vid;
      END IF;
    ELSIF OLD.resource_type = 'Task' THEN
      DELETE FROM ed_step_fact WHERE id = rid;
    ELSIF OLD.resource_type = 'DetectedIssue' THEN
      DELETE FROM ed_alarm_fact WHERE id = rid;
    END IF;
  END IF;

  IF TG_OP <> 'DELETE' AND NOT NEW.deleted AND NEW.content IS NOT NULL THEN
    rid := NEW.id;
    c := NEW.content::jsonb;
    IF NEW.resource_type = 'Encounter' AND c->'class'->>'code' = 'EMER' THEN
      IF es_fhir_instant(c->'period'->>'start') IS NOT NULL THEN
        -- Locked before the insert reads the visit's ESI and admission facts.
        PERFORM es_ed_visit_lock(rid);
        locked := locked || rid;
        INSERT INTO ed_visit_fact (id, patient, arrival, departure, status, esi, bed, provider_at, lwbs,
          auto_at, auto_level, over_at, over_level, admitted, admitted_at)
        SELECT rid, c->'subject'->>'reference', arrival, es_fhir_instant(c->'period'->>'end'), c->>'status',
          CASE WHEN esi ~ '^\d{1,6}$' THEN esi::int END,
          regexp_replace(c->'location'->-1->'location'->>'reference', '^Location/', ''),
          (SELECT min(es_fhir_instant(p->'period'->>'start')) FROM es_json_items(c->'participant') p),
          c->>'status' = 'cancelled'
            AND EXISTS (SELECT 1 FROM es_json_items(c->'hospitalization'->'dischargeDisposition'->'coding') d WHERE d->>'code' = 'oth')
            AND (coalesce(c->'hospitalization'->'dischargeDisposition'->>'text', '') || ' ' ||
                 coalesce((SELECT string_agg(coalesce(d->>'display', ''), ' ')
                           FROM es_json_items(c->'hospitalization'->'dischargeDisposition'->'coding') d), ''))
                ~* '\ylwbs\y|without being seen',
          d.auto_at, d.auto_level, d.over_at, d.over_level, d.admitted, d.admitted_at
        FROM (SELECT es_fhir_instant(c->'period'->>'start') AS arrival, es_first_code(c->'priority', es || '/CodeSystem/esi') AS esi) x,
          es_ed_visit_derived(rid) d;
        follow := follow || rid;
      END IF;
    ELSIF NEW.resource_type = 'Encounter' AND c->'class'->>'code' = 'IMP' THEN
      ref := c->'partOf'->>'reference';
      IF ref ~ '^Encounter/[^/]+$' THEN
        INSERT INTO ed_admission_fact (id, visit, start) VALUES (rid, substr(ref, 11), es_fhir_instant(c->'period'->>'start'));
        derive := derive || substr(ref, 11);
      END IF;
    ELSIF NEW.resource_type = 'Observation' THEN
      IF EXISTS (SELECT 1 FROM es_json_items(c->'code'->'coding') x
                 WHERE x->>'system' = es || '/CodeSystem/observation-code' AND x->>'code' = 'esi') THEN
        vid := NULL;
        INSERT INTO ed_acuity_fact (id, encounter, at, level, override)
        SELECT rid, regexp_replace(c->'encounter'->>'reference', '^Encounter/', ''), at, level::int,
          coalesce(c->'method'->'coding'->0->>'code' = 'clinician-override', false)
        FROM (SELECT es_fhir_instant(c->>'effectiveDateTime') AS at,
                     es_first_code(c->'valueCodeableConcept', es || '/CodeSystem/esi') AS level) x
        WHERE c->'encounter'->>'reference' IS NOT NULL AND at IS NOT NULL AND level ~ '^\d{1,6}$'
        RETURNING encounter INTO vid;
        IF vid IS NOT NULL THEN
          derive := derive || vid;
        END IF;
      END IF;
    ELSIF NEW.resource_type = 'Task' THEN
      -- The step's visit is `encounter`, or `focus` when the Task has no `encounter` at all.
      ref := CASE WHEN c ? 'encounter' THEN c->'encounter'->>'reference' ELSE c->'focus'->>'reference' END;
      IF ref IS NOT NULL AND es_first_code(c->'code', es || '/CodeSystem/workflow-step') IS NOT NULL THEN
        vid := regexp_replace(ref, '^Encounter/', '');
        -- Locked before the insert reads the visit's columns.
        PERFORM es_ed_visit_lock(vid);
        locked := locked || vid;
        INSERT INTO ed_step_fact (id, encounter, step, status, started, ended, authored, visit_arrival, visit_esi, visit_bed)
        SELECT rid, vid, es_first_code(c->'code', es || '/CodeSystem/workflow-step'), c->>'status',
          es_fhir_instant(c->'executionPeriod'->>'start'), es_fhir_instant(c->'executionPeriod'->>'end'),
          es_fhir_instant(c->>'authoredOn'), v.arrival, v.esi, v.bed
        FROM (SELECT 1) one LEFT JOIN ed_visit_fact v ON v.id = vid;
      END IF;
    ELSIF NEW.resource_type = 'DetectedIssue' THEN
      INSERT INTO ed_alarm_fact (id, patient, at)
      SELECT rid, c->'patient'->>'reference', at
      FROM (SELECT coalesce(es_fhir_instant(c->>'identifiedDateTime'), es_fhir_instant(c->'identifiedPeriod'->>'start')) AS at) x
      WHERE c->'author'->>'reference' ~ '^Device/[^/]+$' AND c->'patient'->>'reference' ~ '^Patient/[^/]+$' AND at IS NOT NULL;
    END IF;
  END IF;

  -- The copies of every visit whose base facts changed, each visit locked once, in id order.
  FOR vid IN SELECT DISTINCT x FROM unnest(derive || follow) x ORDER BY x LOOP
    IF NOT vid = ANY(locked) THEN
      PERFORM es_ed_visit_lock(vid);
    END IF;
    IF vid = ANY(derive) THEN
      PERFORM es_ed_visit_derive(vid);
    END IF;
    IF vid = ANY(follow) THEN
      PERFORM es_ed_steps_follow(vid);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- es_ed_facts_insert/es_ed_facts_delete (0010) are no longer called. They stay until a later
-- release's contract migration drops them: Up migrations only expand the schema (see
-- docs/operations.md, "Zero-downtime upgrades").

SELECT es_ed_facts_derive_all();

-- The agents query reads the step facts of a year in (step, latency) order straight from this
-- index: no join, no sort by step, and each step's latencies arrive sorted (percentile_cont's sort
-- of presorted input is a single pass).
CREATE INDEX ed_step_fact_step_latency_idx ON ed_step_fact (step, latency_ms)
  INCLUDE (status, authored, visit_arrival, visit_esi, visit_bed);

-- Down Migration
DROP INDEX ed_step_fact_step_latency_idx;

CREATE OR REPLACE FUNCTION es_ed_facts_insert(rtype text, rid text, c jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  es constant text := 'https://emergisphere.dev/fhir';
  ref text;
BEGIN
  IF rtype = 'Encounter' AND c->'class'->>'code' = 'EMER' THEN
    INSERT INTO ed_visit_fact (id, patient, arrival, departure, status, esi, bed, provider_at, lwbs)
    SELECT rid, c->'subject'->>'reference', arrival, es_fhir_instant(c->'period'->>'end'), c->>'status',
      CASE WHEN esi ~ '^\d{1,6}$' THEN esi::int END,
      regexp_replace(c->'location'->-1->'location'->>'reference', '^Location/', ''),
      (SELECT min(es_fhir_instant(p->'period'->>'start')) FROM es_json_items(c->'participant') p),
      c->>'status' = 'cancelled'
        AND EXISTS (SELECT 1 FROM es_json_items(c->'hospitalization'->'dischargeDisposition'->'coding') d WHERE d->>'code' = 'oth')
        AND (coalesce(c->'hospitalization'->'dischargeDisposition'->>'text', '') || ' ' ||
             coalesce((SELECT string_agg(coalesce(d->>'display', ''), ' ')
                       FROM es_json_items(c->'hospitalization'->'dischargeDisposition'->'coding') d), ''))
            ~* '\ylwbs\y|without being seen'
    FROM (SELECT es_fhir_instant(c->'period'->>'start') AS arrival, es_first_code(c->'priority', es || '/CodeSystem/esi') AS esi) x
    WHERE arrival IS NOT NULL;
  ELSIF rtype = 'Encounter' AND c->'class'->>'code' = 'IMP' THEN
    ref := c->'partOf'->>'reference';
    IF ref ~ '^Encounter/[^/]+$' THEN
      INSERT INTO ed_admission_fact (id, visit, start) VALUES (rid, substr(ref, 11), es_fhir_instant(c->'period'->>'start'));
    END IF;
  ELSIF rtype = 'Observation' THEN
    IF EXISTS (SELECT 1 FROM es_json_items(c->'code'->'coding') x
               WHERE x->>'system' = es || '/CodeSystem/observation-code' AND x->>'code' = 'esi') THEN
      INSERT INTO ed_acuity_fact (id, encounter, at, level, override)
      SELECT rid, regexp_replace(c->'encounter'->>'reference', '^Encounter/', ''), at, level::int,
        coalesce(c->'method'->'coding'->0->>'code' = 'clinician-override', false)
      FROM (SELECT es_fhir_instant(c->>'effectiveDateTime') AS at,
                   es_first_code(c->'valueCodeableConcept', es || '/CodeSystem/esi') AS level) x
      WHERE c->'encounter'->>'reference' IS NOT NULL AND at IS NOT NULL AND level ~ '^\d{1,6}$';
    END IF;
  ELSIF rtype = 'Task' THEN
    ref := CASE WHEN c ? 'encounter' THEN c->'encounter'->>'reference' ELSE c->'focus'->>'reference' END;
    INSERT INTO ed_step_fact (id, encounter, step, status, started, ended, authored)
    SELECT rid, regexp_replace(ref, '^Encounter/', ''), step, c->>'status',
      es_fhir_instant(c->'executionPeriod'->>'start'), es_fhir_instant(c->'executionPeriod'->>'end'),
      es_fhir_instant(c->>'authoredOn')
    FROM (SELECT es_first_code(c->'code', es || '/CodeSystem/workflow-step') AS step) x
    WHERE step IS NOT NULL AND ref IS NOT NULL;
  ELSIF rtype = 'DetectedIssue' THEN
    INSERT INTO ed_alarm_fact (id, patient, at)
    SELECT rid, c->'patient'->>'reference', at
    FROM (SELECT coalesce(es_fhir_instant(c->>'identifiedDateTime'), es_fhir_instant(c->'identifiedPeriod'->>'start')) AS at) x
    WHERE c->'author'->>'reference' ~ '^Device/[^/]+$' AND c->'patient'->>'reference' ~ '^Patient/[^/]+$' AND at IS NOT NULL;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION es_ed_facts_delete(rtype text, rid text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF rtype = 'Encounter' THEN
    DELETE FROM ed_visit_fact WHERE id = rid;
    DELETE FROM ed_admission_fact WHERE id = rid;
  ELSIF rtype = 'Observation' THEN
    DELETE FROM ed_acuity_fact WHERE id = rid;
  ELSIF rtype = 'Task' THEN
    DELETE FROM ed_step_fact WHERE id = rid;
  ELSIF rtype = 'DetectedIssue' THEN
    DELETE FROM ed_alarm_fact WHERE id = rid;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION es_ed_facts_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM es_ed_facts_delete(OLD.resource_type, OLD.id);
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    PERFORM es_ed_facts_delete(NEW.resource_type, NEW.id);
  END IF;
  IF NOT NEW.deleted AND NEW.content IS NOT NULL THEN
    PERFORM es_ed_facts_insert(NEW.resource_type, NEW.id, NEW.content::jsonb);
  END IF;
  RETURN NULL;
END $$;

DROP FUNCTION es_ed_facts_derive_all();
DROP FUNCTION es_ed_steps_follow(text);
DROP FUNCTION es_ed_visit_derive(text);
DROP FUNCTION es_ed_visit_derived(text);
DROP FUNCTION es_ed_visit_lock(text);
DROP TABLE ed_visit_sync;
ALTER TABLE ed_step_fact DROP COLUMN visit_bed, DROP COLUMN visit_esi, DROP COLUMN visit_arrival;
ALTER TABLE ed_visit_fact DROP COLUMN admitted_at, DROP COLUMN admitted, DROP COLUMN over_level, DROP COLUMN over_at,
  DROP COLUMN auto_level, DROP COLUMN auto_at;
