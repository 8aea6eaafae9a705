import { Stack, Text } from '@mantine/core';
import { useParams } from 'react-router';
import { AdminNav } from '../admin/AdminNav.tsx';
import { AccessPoliciesSection, AccessPolicyEditor } from './AccessPoliciesSection.tsx';
import { ClientsSection } from './ClientsSection.tsx';
import { MembersSection } from './MembersSection.tsx';
import { ProjectDetailsSection } from './ProjectDetailsSection.tsx';
import { SecretsSection } from './SecretsSection.tsx';

/** Project administration (`/admin/:section`), through Medplum's admin API and the FHIR API. */
const SECTIONS = new Set(['project', 'members', 'clients', 'secrets', 'access-policies']);

export function ProjectAdminPage() {
  const { section, id } = useParams();
  return (
    <Stack>
      <AdminNav />
      {!SECTIONS.has(section ?? '') && <Text>Page not found.</Text>}
      {section === 'project' && <ProjectDetailsSection />}
      {section === 'members' && <MembersSection />}
      {section === 'clients' && <ClientsSection />}
      {section === 'secrets' && <SecretsSection />}
      {section === 'access-policies' && (id ? <AccessPolicyEditor id={id} /> : <AccessPoliciesSection />)}
    </Stack>
  );
}
