import type { Bundle } from '@medplum/fhirtypes';
import { useMedplum, useSubscription } from '@medplum/react';
import { useCallback, useRef, useState } from 'react';
import { canRead } from '../access.ts';
import { OBSERVATION_CODE_SYSTEM } from '../codes.ts';

export type ConnectionState = 'connecting' | 'live' | 'lost';

/** What the board listens to: the encounters and everything their rows show. */
export const BOARD_CRITERIA = [
  'Encounter?class=EMER',
  `Observation?code=${OBSERVATION_CODE_SYSTEM}|esi,${OBSERVATION_CODE_SYSTEM}|news2`,
  'Task',
  'Flag',
  'DetectedIssue',
];

/**
 * Subscribes to the board's criteria over the server's websocket channel and reports the
 * connection: `lost` while the socket is down (the client reconnects by itself). `onReconnect`
 * runs once the socket is back and each time a criteria is bound, so the caller reloads what it
 * may have missed: a write between the board's load and the server's binding reaches nobody (the
 * socket may already be open, the badge live, before this screen's criteria are bound). Pass a
 * debounced reload: the five bindings come together.
 */
export function useBoardSubscriptions(onEvent: (bundle: Bundle) => void, onReconnect: () => void): ConnectionState {
  const medplum = useMedplum();
  // The socket outlives the screen: coming back to the board finds it already open.
  const [state, setState] = useState<ConnectionState>(() =>
    medplum.getSubscriptionManager().getWebSocket().readyState === WebSocket.OPEN ? 'live' : 'connecting',
  );
  const wasLost = useRef(false);
  const events = useRef(onEvent);
  events.current = onEvent;
  const reconnect = useRef(onReconnect);
  reconnect.current = onReconnect;
  const callback = useCallback((bundle: Bundle) => events.current(bundle), []);
  const options = {
    onWebSocketOpen: () => {
      setState('live');
      if (wasLost.current) {
        wasLost.current = false;
        reconnect.current();
      }
    },
    onWebSocketClose: () => {
      wasLost.current = true;
      setState('lost');
    },
    onSubscriptionConnect: () => {
      setState((s) => (s === 'connecting' ? 'live' : s));
      reconnect.current();
    },
  };
  // Only what the role may read: a subscription to anything else would only ever be refused.
  const readable = (criteria: string) => (canRead(medplum, criteria.split('?')[0]) ? criteria : undefined);
  useSubscription(readable(BOARD_CRITERIA[0]), callback, options);
  useSubscription(readable(BOARD_CRITERIA[1]), callback, options);
  useSubscription(readable(BOARD_CRITERIA[2]), callback, options);
  useSubscription(readable(BOARD_CRITERIA[3]), callback, options);
  useSubscription(readable(BOARD_CRITERIA[4]), callback, options);
  return state;
}
