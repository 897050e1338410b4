/**
 * What the join page tells a person, in words: why they are not (or no longer) in the meeting, why
 * their microphone cannot work, and whether they are being recorded. Pure functions of SDK state, so
 * the wording is tested without a browser.
 */
import type {
  MediaConnectionState,
  MediaPermission,
  RecordingEntry,
  RecordingState,
  RoomLeftState,
} from '@trackroom/sdk';

/** A message for a panel: what happened, what to do, and whether a Rejoin button makes sense. */
export interface PageMessage {
  title: string;
  text: string;
  rejoin: boolean;
}

/** Why the page is not in the meeting: after `roomLeft` or a failed `join()` (`code`: its RtkError code). */
export function explainOutside(state: RoomLeftState | 'no-token', code?: string): PageMessage {
  if (state === 'no-token') {
    return {
      title: 'This address has no join token',
      text:
        'A join link looks like /join?authToken=… . Open the full link you were given, or ask the ' +
        'meeting organiser for one.',
      rejoin: false,
    };
  }
  if (state === 'left') {
    return { title: 'You left the meeting', text: 'Your microphone is off. You can rejoin.', rejoin: true };
  }
  if (state === 'kicked') {
    return {
      title: 'A host removed you from the meeting',
      text:
        'Your microphone is off and the others no longer hear you. You can rejoin with the same link ' +
        'unless the organiser has removed your access.',
      rejoin: true,
    };
  }
  if (state === 'rejected' || code === 'TOKEN_INVALID' || code === 'TOKEN_EXPIRED') {
    if (code === 'TOKEN_EXPIRED') {
      return {
        title: 'This join link has expired',
        text: 'Ask the meeting organiser for a new link (they can refresh your participant token).',
        rejoin: false,
      };
    }
    if (code === 'FORBIDDEN') {
      return {
        title: 'This meeting is not open',
        text: 'The meeting has been closed (it is inactive). Ask the organiser to reopen it or to send a new link.',
        rejoin: false,
      };
    }
    return {
      title: 'This join link is not valid',
      text:
        'The server did not accept its token: it may be mistyped or cut short, or the participant was ' +
        'removed. Check that you opened the whole link, or ask the meeting organiser for a new one.',
      rejoin: false,
    };
  }
  // failed (gave up reconnecting) or disconnected
  return {
    title: 'The connection to the meeting was lost',
    text: 'The page could not reach the meeting server. Check your network, then rejoin.',
    rejoin: true,
  };
}

/** The microphone problem to explain, or undefined when there is none (on, or muted by choice). */
export function explainMicrophone(
  permission: MediaPermission,
  secureContext: boolean,
): PageMessage | undefined {
  switch (permission) {
    case 'UNAVAILABLE':
      return {
        title: 'Your microphone cannot work on this page',
        text:
          `Browsers allow the microphone only on secure pages (https://, or http://localhost)${
            secureContext ? '' : ', and this page is neither'
          }. You can listen, but nobody hears you. Open the meeting through an https:// address ` +
          '(ask the organiser), or on this computer through http://localhost.',
        rejoin: false,
      };
    case 'DENIED':
      return {
        title: 'Your browser blocked the microphone',
        text:
          'You can listen, but nobody hears you. Allow the microphone for this site (the camera or lock ' +
          'icon in the address bar, or the site settings), then press "Try the microphone again".',
        rejoin: false,
      };
    case 'SYSTEM_DENIED':
      return {
        title: 'Your computer blocked the microphone',
        text:
          'The operating system does not let the browser use the microphone. Allow it in the system ' +
          'privacy settings, then press "Try the microphone again". Until then you can only listen.',
        rejoin: false,
      };
    case 'COULD_NOT_START':
      return {
        title: 'No microphone could be started',
        text:
          'None was found, or another program is using it. Plug one in or close the other program, then ' +
          'press "Try the microphone again". Until then you can only listen.',
        rejoin: false,
      };
    default:
      return undefined;
  }
}

/**
 * The media problem to explain, or undefined while the audio connections work (or are still coming
 * up). `relayOffered`: whether the server sent TURN relays with the join.
 */
export function explainMediaConnection(
  state: Readonly<Record<'producing' | 'consuming', MediaConnectionState>>,
  relayOffered: boolean,
): PageMessage | undefined {
  if (state.producing !== 'failed' && state.consuming !== 'failed') return undefined;
  const who =
    state.producing === 'failed' && state.consuming === 'failed'
      ? 'Nobody hears you and you hear nobody'
      : state.producing === 'failed'
        ? 'Nobody hears you'
        : 'You cannot hear the others';
  return {
    title: 'No audio connection to the meeting server',
    text: relayOffered
      ? `${who}: the audio could not reach the server, neither directly nor through its TURN relay. ` +
        'This network probably blocks it (a firewall or VPN). Try another network, or tell the organiser ' +
        'that the TURN relay is unreachable from here.'
      : `${who}: the audio could not reach the server, and the server offers no TURN relay to get ` +
        'around firewalls. This network probably blocks the direct path (UDP). Try another network, or ask ' +
        'the organiser to set up TURN (TURN_URLS).',
    rejoin: false,
  };
}

/** The sentence about the participant's own audio: being recorded or not, right now. */
export function consentLine(
  self: { userId: string; isBeingRecorded: boolean },
  recordings: readonly RecordingEntry[],
  state: RecordingState,
): { recorded: boolean; text: string } {
  if (self.isBeingRecorded) return { recorded: true, text: 'Your audio is being recorded.' };
  const selectsMe = recordings.some(
    (r) =>
      r.recordedParticipantIds.includes(self.userId) && (r.status === 'PAUSED' || r.status === 'INVOKED'),
  );
  if (state === 'IDLE') return { recorded: false, text: 'Nobody is being recorded.' };
  if (selectsMe && state === 'PAUSED')
    return { recorded: false, text: 'Recording paused: your audio is not being recorded right now.' };
  if (selectsMe && state === 'STARTING')
    return { recorded: false, text: 'A recording of your audio is starting.' };
  return {
    recorded: false,
    text:
      state === 'RECORDING'
        ? 'Your audio is not being recorded (the running recording does not include you).'
        : 'Your audio is not being recorded.',
  };
}
