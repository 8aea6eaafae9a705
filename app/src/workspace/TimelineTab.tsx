import type { Encounter, Patient, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { DefaultResourceTimeline, EncounterTimeline, PatientTimeline, ServiceRequestTimeline } from '@medplum/react';

/** Medplum's stock timelines (they search with `_filter`, which our server supports). */
export function TimelineTab({ resource }: { resource: Resource }) {
  switch (resource.resourceType) {
    case 'Patient':
      return <PatientTimeline patient={resource as Patient} />;
    case 'Encounter':
      return <EncounterTimeline encounter={resource as Encounter} />;
    case 'ServiceRequest':
      return <ServiceRequestTimeline serviceRequest={resource as ServiceRequest} />;
    default:
      return <DefaultResourceTimeline resource={resource} />;
  }
}
