import { getSearchParameters, globalSchema, isResourceType } from '@medplum/core';
import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceSearchParam,
  StructureDefinition,
} from '@medplum/fhirtypes';

const VERSION = '0.1.0';

/** Type-specific operations (terminology, profiles). */
const TYPE_OPERATIONS: Record<string, { name: string; definition: string }[]> = {
  ValueSet: [{ name: 'expand', definition: 'http://hl7.org/fhir/OperationDefinition/ValueSet-expand' }],
  CodeSystem: [{ name: 'lookup', definition: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup' }],
  StructureDefinition: [
    { name: 'expand-profile', definition: 'https://medplum.com/fhir/OperationDefinition/StructureDefinition-expand-profile' },
  ],
  // The family status page's (docs/ed-data.md, "Family status page").
  Patient: [
    { name: 'invite-family', definition: 'https://emergisphere.dev/fhir/OperationDefinition/Patient-invite-family' },
    { name: 'family-status', definition: 'https://emergisphere.dev/fhir/OperationDefinition/Patient-family-status' },
  ],
};

/**
 * The server's CapabilityStatement, computed from what it actually loads: every resource type
 * of the schema, each with its interactions and the search parameters the SQL search indexes.
 */
export function buildCapabilityStatement(baseUrl: string, profiles: Map<string, StructureDefinition>): CapabilityStatement {
  const resources: CapabilityStatementRestResource[] = [];
  for (const type of Object.keys(globalSchema.types).sort()) {
    if (!isResourceType(type)) {
      continue;
    }
    const searchParam: CapabilityStatementRestResourceSearchParam[] = Object.values(getSearchParameters(type) ?? {})
      .filter((sp) => sp.type !== 'composite' && sp.type !== 'special')
      .map((sp) => ({ name: sp.code as string, type: sp.type, definition: sp.url, documentation: sp.description }));
    const supportedProfile = [...profiles.values()].filter((p) => p.type === type && p.url).map((p) => p.url as string);
    resources.push({
      type: type as CapabilityStatementRestResource['type'],
      ...(supportedProfile.length ? { supportedProfile } : {}),
      interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'].map(
        (code) => ({ code: code as 'read' }),
      ),
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalRead: 'not-supported',
      conditionalUpdate: true,
      conditionalDelete: 'single',
      referencePolicy: ['literal', 'local'],
      searchInclude: ['*'],
      searchRevInclude: ['*'],
      searchParam,
      operation: [
        { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
        // Medplum's operation (subscriptions/resend.ts); it has no OperationDefinition of its own.
        { name: 'resend', definition: 'https://medplum.com/fhir/OperationDefinition/resend' },
        ...(TYPE_OPERATIONS[type] ?? []),
      ],
    });
  }
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    publisher: 'EmergiSphere',
    kind: 'instance',
    software: { name: 'EmergiSphere FHIR server', version: VERSION },
    implementation: { description: 'EmergiSphere: a Medplum-compatible FHIR R4 server', url: `${baseUrl}fhir/R4` },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    patchFormat: ['application/json-patch+json'],
    rest: [
      {
        mode: 'server',
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }, { code: 'history-system' }],
        operation: [{ name: 'graphql', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-graphql' }],
      },
    ],
  };
}
