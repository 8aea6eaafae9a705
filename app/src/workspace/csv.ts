import {
  evalFhirPathTyped,
  formatAddress,
  formatCodeableConcept,
  formatCoding,
  formatDateTime,
  formatHumanName,
  formatMoney,
  formatPeriod,
  formatQuantity,
  formatRange,
  getTypedPropertyValue,
  type TypedValue,
} from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { SearchControlField } from '@medplum/react';

export { csvCell, toCsv } from '../csv.ts';

/** The text of one typed FHIR value, as a person reads it in the search table. */
export function typedValueText(v: TypedValue): string {
  const value = v.value;
  if (value === undefined || value === null) return '';
  switch (v.type) {
    case 'HumanName':
      return formatHumanName(value);
    case 'CodeableConcept':
      return formatCodeableConcept(value);
    case 'Coding':
      return formatCoding(value);
    case 'Address':
      return formatAddress(value);
    case 'ContactPoint':
      return value.value ?? '';
    case 'Identifier':
      return value.value ?? '';
    case 'Reference':
      return value.display ?? value.reference ?? '';
    case 'Period':
      return formatPeriod(value);
    case 'Quantity':
    case 'Age':
    case 'Duration':
    case 'Distance':
    case 'Count':
    case 'SimpleQuantity':
      return formatQuantity(value);
    case 'Range':
      return formatRange(value);
    case 'Money':
      return formatMoney(value);
    case 'Annotation':
      return value.text ?? '';
    case 'Attachment':
      return value.title ?? value.url ?? '';
    case 'Narrative':
      return '';
  }
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** A column's text for one resource: the element it names, or else its search parameter's values. */
export function fieldText(resource: Resource, field: SearchControlField): string {
  if (field.name === 'id') return resource.id ?? '';
  if (field.name === '_lastUpdated') return resource.meta?.lastUpdated ? formatDateTime(resource.meta.lastUpdated) : '';
  if (field.name === 'meta.versionId') return resource.meta?.versionId ?? '';
  const input: TypedValue = { type: resource.resourceType, value: resource };
  let values: TypedValue[] = [];
  if (field.elementDefinition && `${resource.resourceType}.${field.name}` === field.elementDefinition.path) {
    const found = getTypedPropertyValue(input, field.name.replace('[x]', ''));
    values = Array.isArray(found) ? found : found ? [found] : [];
  } else if (field.searchParams?.length === 1 && field.searchParams[0].expression) {
    values = evalFhirPathTyped(field.searchParams[0].expression, [input]);
  }
  return values
    .flatMap((v) => (Array.isArray(v.value) ? v.value.map((value: unknown) => ({ type: v.type, value })) : [v]))
    .map(typedValueText)
    .filter(Boolean)
    .join('; ');
}
