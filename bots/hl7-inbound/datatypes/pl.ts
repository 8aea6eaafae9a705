import type { Identifier, Location } from '@medplum/fhirtypes';
import type { Rep } from '../../../hl7-bridge/hl7v2/message.ts';

export const LOCATION_SYSTEM = 'https://emergisphere.dev/fhir/sid/hl7v2-location';

/** A Location as one level of a PL: its identifier is the PL path down to that level. */
function level(
  path: string[],
  name: string,
  physicalType: 'wa' | 'ro' | 'bd',
  description?: string,
): { location: Location; identifier: Identifier; display: string } {
  const identifier: Identifier = { system: LOCATION_SYSTEM, value: path.join('^') };
  return {
    identifier,
    display: name,
    location: {
      resourceType: 'Location',
      identifier: [identifier],
      status: 'active',
      name,
      mode: 'instance',
      physicalType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/location-physical-type', code: physicalType }] },
      ...(description ? { description } : {}),
    },
  };
}

export interface PlLocations {
  /** The most granular level sent (bed, else room, else point of care): what the encounter is at. */
  location: Location;
  identifier: Identifier;
  display: string;
  /** The point of care (the ED area) the bed or room is part of, when both are sent. */
  area?: { location: Location; identifier: Identifier; display: string };
}

/**
 * PL → Locations (IG PL[Location]): the most granular level becomes the encounter's Location, and
 * its point of care (PL.1, e.g. the ED) the Location it is `partOf` (ES convention: a bed
 * `physicalType` bd, part of the ED area `wa`). Identifiers are the PL path (facility^point of
 * care^room^bed), so the same bed from another message is the same Location.
 */
export function plToLocation(rep: Rep): PlLocations | undefined {
  const pointOfCare = rep.c(1);
  const room = rep.c(2);
  const bed = rep.c(3);
  const facility = rep.c(4, 1);
  if (!pointOfCare && !room && !bed) return undefined;
  const display = [pointOfCare, room, bed].filter(Boolean).join(' ');
  const leaf = level([facility, pointOfCare, room, bed], display, bed ? 'bd' : room ? 'ro' : 'wa', rep.c(9) || undefined);
  if (!pointOfCare || (!room && !bed)) return leaf;
  return { ...leaf, area: level([facility, pointOfCare, '', ''], pointOfCare, 'wa') };
}
