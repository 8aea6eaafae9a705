import { Anchor, Group } from '@mantine/core';
import { Link, useLocation } from 'react-router';

const SECTIONS = [
  // Named apart from the header's link to the same page, so every link name on the page is unique.
  { to: '/admin', label: 'Bots and deliveries' },
  { to: '/admin/project', label: 'Project' },
  { to: '/admin/members', label: 'Users' },
  { to: '/admin/clients', label: 'Client applications' },
  { to: '/admin/secrets', label: 'Secrets' },
  { to: '/admin/access-policies', label: 'Access policies' },
];

/** The administration sections, one route each (so a section can be linked and reloaded). */
export function AdminNav() {
  const { pathname } = useLocation();
  const active = (to: string) => (to === '/admin' ? pathname === to : pathname.startsWith(to));
  return (
    <nav aria-label="Administration">
      <Group gap="md">
        {SECTIONS.map((s) => (
          <Anchor
            key={s.to}
            component={Link}
            to={s.to}
            size="sm"
            fw={active(s.to) ? 700 : undefined}
            aria-current={active(s.to) ? 'page' : undefined}
          >
            {s.label}
          </Anchor>
        ))}
      </Group>
    </nav>
  );
}
