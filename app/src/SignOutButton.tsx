import { Button } from '@mantine/core';
import { useMedplum } from '@medplum/react';
import { useNavigate } from 'react-router';

export function SignOutButton() {
  const medplum = useMedplum();
  const navigate = useNavigate();
  return (
    <Button
      size="xs"
      variant="default"
      onClick={async () => {
        await medplum.signOut();
        navigate('/signin');
      }}
    >
      Sign out
    </Button>
  );
}
