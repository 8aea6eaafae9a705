import { Center } from '@mantine/core';
import { SetPasswordForm } from '@medplum/react';
import { useNavigate, useParams } from 'react-router';

/**
 * The page an invitation or reset email links to (`/setpassword/:id/:secret`, as Medplum's app):
 * public, so it works signed out; the form posts `auth/setpassword` once.
 */
export function SetPasswordPage() {
  const { id, secret } = useParams() as { id: string; secret: string };
  const navigate = useNavigate();
  return (
    <Center mih="100vh" bg="gray.1">
      <main>
        <SetPasswordForm id={id} secret={secret} onSignIn={() => navigate('/signin')} />
      </main>
    </Center>
  );
}
