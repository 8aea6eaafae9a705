/**
 * Which jurisdiction's rules apply: the state in the address of where care is given (the
 * encounter's Location), else of the providing Organization, else the project secret
 * `LEGAL_JURISDICTION`, else the default rules. A state without a rule file gets the default
 * rules, and the rationale says so. Pure.
 */
import type { Address } from '@medplum/fhirtypes';
import { DEFAULT_JURISDICTION } from './rules.ts';

const US_STATES: Record<string, string> = {
  alabama: 'AL',
  alaska: 'AK',
  arizona: 'AZ',
  arkansas: 'AR',
  california: 'CA',
  colorado: 'CO',
  connecticut: 'CT',
  delaware: 'DE',
  'district of columbia': 'DC',
  florida: 'FL',
  georgia: 'GA',
  hawaii: 'HI',
  idaho: 'ID',
  illinois: 'IL',
  indiana: 'IN',
  iowa: 'IA',
  kansas: 'KS',
  kentucky: 'KY',
  louisiana: 'LA',
  maine: 'ME',
  maryland: 'MD',
  massachusetts: 'MA',
  michigan: 'MI',
  minnesota: 'MN',
  mississippi: 'MS',
  missouri: 'MO',
  montana: 'MT',
  nebraska: 'NE',
  nevada: 'NV',
  'new hampshire': 'NH',
  'new jersey': 'NJ',
  'new mexico': 'NM',
  'new york': 'NY',
  'north carolina': 'NC',
  'north dakota': 'ND',
  ohio: 'OH',
  oklahoma: 'OK',
  oregon: 'OR',
  pennsylvania: 'PA',
  'rhode island': 'RI',
  'south carolina': 'SC',
  'south dakota': 'SD',
  tennessee: 'TN',
  texas: 'TX',
  utah: 'UT',
  vermont: 'VT',
  virginia: 'VA',
  washington: 'WA',
  'west virginia': 'WV',
  wisconsin: 'WI',
  wyoming: 'WY',
  'puerto rico': 'PR',
};
const STATE_CODES = new Set(Object.values(US_STATES));
const US_COUNTRY = /^(us|usa|united states( of america)?)$/i;

/** "US-CA" from an address in California (state as code or name); undefined outside the US or without a state. */
export function jurisdictionOfAddress(address: Address | undefined): string | undefined {
  if (!address?.state) return undefined;
  if (address.country && !US_COUNTRY.test(address.country.trim())) return undefined;
  const state = address.state.trim();
  const code = STATE_CODES.has(state.toUpperCase()) ? state.toUpperCase() : US_STATES[state.toLowerCase()];
  return code ? `US-${code}` : undefined;
}

export interface JurisdictionSources {
  location?: { reference: string; address?: Address };
  organization?: { reference: string; address?: Address[] };
  /** The project secret LEGAL_JURISDICTION, e.g. "US-CA". */
  configured?: string;
}

export interface Jurisdiction {
  /** The rules to use. */
  code: string;
  /** How it was decided, for the rationale. */
  reason: string;
}

export function resolveJurisdiction(src: JurisdictionSources, available: string[]): Jurisdiction {
  const candidates: [string | undefined, string][] = [
    [jurisdictionOfAddress(src.location?.address), `address of ${src.location?.reference}`],
    ...(src.organization?.address ?? []).map((a): [string | undefined, string] => [
      jurisdictionOfAddress(a),
      `address of ${src.organization?.reference}`,
    ]),
    [src.configured?.trim() || undefined, 'project secret LEGAL_JURISDICTION'],
  ];
  const found = candidates.find(([code]) => code);
  if (!found) {
    return { code: DEFAULT_JURISDICTION, reason: 'no address with a US state and no LEGAL_JURISDICTION secret: default rules' };
  }
  const [code, where] = found as [string, string];
  if (available.includes(code)) return { code, reason: `${code} from the ${where}` };
  return { code: DEFAULT_JURISDICTION, reason: `${code} from the ${where}, which has no rule file: default rules` };
}
