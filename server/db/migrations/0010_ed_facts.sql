-- Up Migration

-- ED analytics facts (docs/analytics.md): the few timestamps and codes each metric needs, one row
-- per resource, kept by a trigger on `resource` in the same statement that writes the resource.
-- Every write path (REST, transactions, bulk insert, restore) therefore leaves them consistent:
-- a fact row is a pure function of the resource's current version, never a stale copy. The
-- metrics read these narrow, indexed tables instead of parsing a year of resource JSON.

-- A FHIR date/dateTime/instant as an instant, the way the metrics read it (Date.parse): partial
-- dates are the start of their period in UTC; anything unreadable is NULL, never an error that
-- would fail the write. Checked field by field rather than caught: an EXCEPTION block is a
-- subtransaction per call. PL/pgSQL (plans cached per session) with a capture-free regex: SQL
-- functions that cannot be inlined are planned on every call from PL/pgSQL, and capture groups
-- are slow in PostgreSQL's regex engine; together they cost ~0.4 ms a call. Millisecond
-- precision, like a JavaScript Date.
CREATE FUNCTION es_fhir_instant(t text) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  y int;
  mo int;
  d int;
  s text;
BEGIN
  IF t IS NULL OR t !~ '^\d{4}(?:-\d{2}(?:-\d{2}(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)?)?)?)?$' THEN
    RETURN NULL;
  END IF;
  y := substr(t, 1, 4)::int;
  mo := CASE WHEN length(t) >= 7 THEN substr(t, 6, 2)::int ELSE 1 END;
  d := CASE WHEN length(t) >= 10 THEN substr(t, 9, 2)::int ELSE 1 END;
  IF y = 0 OR mo < 1 OR mo > 12 OR d < 1 OR d > extract(day FROM make_date(y, mo, 1) + interval '1 month - 1 day') THEN
    RETURN NULL;
  END IF;
  s := substr(t, 1, 4) || '-' || lpad(mo::text, 2, '0') || '-' || lpad(d::text, 2, '0') ||
    CASE WHEN length(t) > 10 THEN substr(t, 11) ELSE 'T00:00:00' END;
  IF s !~ '(?:Z|[+-]\d{2}:\d{2})$' THEN
    s := s || 'Z';
  END IF;
  RETURN date_trunc('milliseconds', s::timestamptz);
END $$;

-- The elements of a JSON array, or none when the value is absent or not an array (inlined by the planner).
CREATE FUNCTION es_json_items(j jsonb) RETURNS SETOF jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(j) = 'array' THEN j ELSE '[]'::jsonb END) x
$$;

-- The code of the first coding of `system` in a CodeableConcept (Array.find).
CREATE FUNCTION es_first_code(concept jsonb, sys text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  x jsonb;
BEGIN
  IF jsonb_typeof(concept->'coding') IS DISTINCT FROM 'array' THEN
    RETURN NULL;
  END IF;
  FOR x IN SELECT jsonb_array_elements(concept->'coding') LOOP
    IF x->>'system' = sys THEN
      RETURN x->>'code';
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- An ED visit: an Encounter of class EMER with a door time.
CREATE TABLE ed_visit_fact (
  id text PRIMARY KEY,
  patient text,
  arrival timestamptz NOT NULL,
  departure timestamptz,
  status text,
  esi int,
  bed text,
  provider_at timestamptz,
  lwbs boolean NOT NULL
);
CREATE INDEX ed_visit_fact_arrival_idx ON ed_visit_fact (arrival);
CREATE INDEX ed_visit_fact_patient_idx ON ed_visit_fact (patient, arrival);

-- An inpatient Encounter (class IMP) that is `partOf` an ED visit: the admission decision.
CREATE TABLE ed_admission_fact (
  id text PRIMARY KEY,
  visit text NOT NULL,
  start timestamptz
);
CREATE INDEX ed_admission_fact_visit_idx ON ed_admission_fact (visit);

-- An ESI Observation: level, time, and whether a clinician overrode the automated level.
CREATE TABLE ed_acuity_fact (
  id text PRIMARY KEY,
  encounter text NOT NULL,
  at timestamptz NOT NULL,
  level int NOT NULL,
  override boolean NOT NULL
);
CREATE INDEX ed_acuity_fact_encounter_idx ON ed_acuity_fact (encounter, at);

-- A workflow step Task.
CREATE TABLE ed_step_fact (
  id text PRIMARY KEY,
  encounter text NOT NULL,
  step text NOT NULL,
  status text,
  started timestamptz,
  ended timestamptz,
  authored timestamptz
);
CREATE INDEX ed_step_fact_authored_idx ON ed_step_fact (authored);
CREATE INDEX ed_step_fact_encounter_idx ON ed_step_fact (encounter);

-- A device alarm: a DetectedIssue authored by a Device.
CREATE TABLE ed_alarm_fact (
  id text PRIMARY KEY,
  patient text NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX ed_alarm_fact_at_idx ON ed_alarm_fact (at);

-- Writes the facts of one stored resource version (after its old facts were removed).
CREATE FUNCTION es_ed_facts_insert(rtype text, rid text, c jsonb) RETURNS void LANGUAGE plpgsql AS $$
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
    -- The step's visit is `encounter`, or `focus` when the Task has no `encounter` at all.
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

CREATE FUNCTION es_ed_facts_delete(rtype text, rid text) RETURNS void LANGUAGE plpgsql AS $$
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

CREATE FUNCTION es_ed_facts_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM es_ed_facts_delete(OLD.resource_type, OLD.id);
    RETURN NULL;
  END IF;
  -- A new resource has no facts yet: skip the deletes (the bulk load path writes millions).
  IF TG_OP = 'UPDATE' THEN
    PERFORM es_ed_facts_delete(NEW.resource_type, NEW.id);
  END IF;
  IF NOT NEW.deleted AND NEW.content IS NOT NULL THEN
    PERFORM es_ed_facts_insert(NEW.resource_type, NEW.id, NEW.content::jsonb);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER resource_ed_facts_write AFTER INSERT OR UPDATE ON resource
  FOR EACH ROW WHEN (NEW.resource_type IN ('Encounter', 'Observation', 'Task', 'DetectedIssue'))
  EXECUTE FUNCTION es_ed_facts_trigger();
CREATE TRIGGER resource_ed_facts_remove AFTER DELETE ON resource
  FOR EACH ROW WHEN (OLD.resource_type IN ('Encounter', 'Observation', 'Task', 'DetectedIssue'))
  EXECUTE FUNCTION es_ed_facts_trigger();

-- The facts of what is already stored.
SELECT es_ed_facts_insert(resource_type, id, content::jsonb)
FROM resource
WHERE resource_type IN ('Encounter', 'Observation', 'Task', 'DetectedIssue') AND NOT deleted AND content IS NOT NULL;

-- Down Migration
DROP TRIGGER resource_ed_facts_remove ON resource;
DROP TRIGGER resource_ed_facts_write ON resource;
DROP FUNCTION es_ed_facts_trigger();
DROP FUNCTION es_ed_facts_delete(text, text);
DROP FUNCTION es_ed_facts_insert(text, text, jsonb);
DROP TABLE ed_alarm_fact;
DROP TABLE ed_step_fact;
DROP TABLE ed_acuity_fact;
DROP TABLE ed_admission_fact;
DROP TABLE ed_visit_fact;
DROP FUNCTION es_first_code(jsonb, text);
DROP FUNCTION es_json_items(jsonb);
DROP FUNCTION es_fhir_instant(text);
