import type { PresetRow } from '../store/types.js';

/**
 * The presets every app starts with. RealtimeKit's preset sub-schemas are large and unpublished in
 * full; we keep the fields this server acts on (documented in docs/api.md):
 * - permissions.media.{audio,video}.can_produce: ALLOWED | NOT_ALLOWED
 * - permissions.can_record, permissions.hidden_participant, permissions.is_recorder
 * Other fields are stored and returned as given.
 */
export function defaultPresetBodies(): Pick<PresetRow, 'name' | 'config' | 'permissions' | 'ui'>[] {
  const config = {
    view_type: 'GROUP_CALL',
    max_video_streams: { mobile: 4, desktop: 9 },
    media: { audio: {}, video: { quality: 'vga' } },
  };
  const ui = { design_tokens: { theme: 'dark' } };
  return [
    {
      name: 'group_call_host',
      config,
      ui,
      permissions: {
        can_record: true,
        can_livestream: false,
        hidden_participant: false,
        is_recorder: false,
        kick_participant: true,
        disable_participant_audio: true,
        media: { audio: { can_produce: 'ALLOWED' }, video: { can_produce: 'ALLOWED' } },
      },
    },
    {
      name: 'group_call_participant',
      config,
      ui,
      permissions: {
        can_record: false,
        can_livestream: false,
        hidden_participant: false,
        is_recorder: false,
        kick_participant: false,
        disable_participant_audio: false,
        media: { audio: { can_produce: 'ALLOWED' }, video: { can_produce: 'ALLOWED' } },
      },
    },
  ];
}

export interface PresetCapabilities {
  canProduceAudio: boolean;
  canProduceVideo: boolean;
  canRecord: boolean;
  hidden: boolean;
  isRecorder: boolean;
}

/** Reads what this server acts on from a preset's permissions. */
export function presetCapabilities(permissions: Record<string, unknown> | undefined): PresetCapabilities {
  const p = (permissions ?? {}) as {
    can_record?: unknown;
    hidden_participant?: unknown;
    is_recorder?: unknown;
    media?: { audio?: { can_produce?: unknown }; video?: { can_produce?: unknown } };
  };
  return {
    canProduceAudio: p.media?.audio?.can_produce !== 'NOT_ALLOWED',
    canProduceVideo: p.media?.video?.can_produce !== 'NOT_ALLOWED',
    canRecord: p.can_record === true,
    hidden: p.hidden_participant === true,
    isRecorder: p.is_recorder === true,
  };
}
