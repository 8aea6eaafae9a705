import type { Identifier, Location } from '@medplum/fhirtypes';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';

export const LOCATION_SYSTEM = 'https://emergisphere.dev/fhir/sid/hl7v2-location';

/**
 * PL → Location (IG PL[Location]). The most granular level sent (bed, else room, else point of
 * care) becomes one Location; its identifier is the whole PL path (facility^point of care^room^bed),
 * so the same bed from another message is the same Location.
 */
export function plToLocation(rep: Rep): { location: Location; identifier: Identifier; display: string } | undefined {
  const pointOfCare = rep.c(1);
  const room = rep.c(2);
  const bed = rep.c(3);
  const facility = rep.c(4, 1);
  if (!pointOfCare && !room && !bed) return undefined;
  const identifier: Identifier = { system: LOCATION_SYSTEM, value: [facility, pointOfCare, room, bed].join('^') };
  const display = [pointOfCare, room, bed].filter(Boolean).join(' ');
  const physicalType = bed ? 'bd' : room ? 'ro' : 'wa';
  const location: Location = {
    resourceType: 'Location',
    identifier: [identifier],
    status: 'active',
    name: display,
    mode: 'instance',
    physicalType: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: physicalType }],
    },
    ...(rep.c(9) ? { description: rep.c(9) } : {}),
  };
  return { location, identifier, display };
}
