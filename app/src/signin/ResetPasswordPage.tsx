import { Center } from '@mantine/core';
import { ResetPasswordForm } from '@medplum/react';
import { useNavigate } from 'react-router';

/** "Forgot password": asks the server to email a set-password link (`auth/resetpassword`). */
export function ResetPasswordPage() {
  const navigate = useNavigate();
  return (
    <Center mih="100vh" bg="gray.1">
      <main>
        <ResetPasswordForm onSignIn={() => navigate('/signin')} />
      </main>
    </Center>
  );
}
