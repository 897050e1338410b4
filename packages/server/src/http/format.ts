import { publicRecordingConfig } from '../storage/storage-config.js';
import type {
  MeetingRow,
  ParticipantRow,
  PresetRow,
  SessionPeerRow,
  SessionRow,
  WebhookRow,
} from '../store/types.js';

/** Row -> API shape, one function per resource. Internal fields (app_id and the like) never leave. */
export function meetingOut(m: MeetingRow) {
  return {
    id: m.id,
    // The contract types title as a plain string: a meeting without one leaves it out.
    title: m.title ?? undefined,
    status: m.status,
    record_on_start: m.record_on_start,
    live_stream_on_start: m.live_stream_on_start,
    persist_chat: m.persist_chat,
    summarize_on_end: m.summarize_on_end,
    transcribe_on_end: m.transcribe_on_end,
    session_keep_alive_time_in_secs: m.session_keep_alive_time_in_secs,
    // storage_config without its keys, as RealtimeKit shows it.
    recording_config: (m.recording_config && publicRecordingConfig(m.recording_config)) ?? undefined,
    ai_config: m.ai_config ?? undefined,
    created_at: m.created_at,
    updated_at: m.updated_at,
  };
}

export function participantOut(p: ParticipantRow, token?: string) {
  return {
    id: p.id,
    name: p.name ?? undefined,
    picture: p.picture ?? undefined,
    custom_participant_id: p.custom_participant_id,
    preset_name: p.preset_name,
    created_at: p.created_at,
    updated_at: p.updated_at,
    ...(token ? { token } : {}),
  };
}

export function presetOut(p: PresetRow) {
  return {
    id: p.id,
    name: p.name,
    config: p.config,
    permissions: p.permissions,
    ui: p.ui,
    created_at: p.created_at,
    updated_at: p.updated_at,
  };
}

export function presetListItem(p: PresetRow) {
  return { id: p.id, name: p.name, created_at: p.created_at, updated_at: p.updated_at };
}

export function webhookOut(w: WebhookRow) {
  return {
    id: w.id,
    name: w.name,
    url: w.url,
    events: w.events,
    enabled: w.enabled,
    created_at: w.created_at,
    updated_at: w.updated_at,
  };
}

export function sessionOut(s: SessionRow) {
  const end = s.ended_at ? Date.parse(s.ended_at) : Date.now();
  return {
    id: s.id,
    associated_id: s.meeting_id,
    meeting_display_name: s.meeting_display_name,
    type: 'meeting' as const,
    status: s.status,
    live_participants: s.live_participants,
    max_concurrent_participants: s.max_concurrent_participants,
    minutes_consumed: Math.round(((end - Date.parse(s.started_at)) / 60000) * 100) / 100,
    organization_id: s.app_id,
    started_at: s.started_at,
    ended_at: s.ended_at ?? undefined,
    created_at: s.created_at,
    updated_at: s.updated_at,
  };
}

export function sessionPeerOut(p: SessionPeerRow) {
  const end = p.left_at ? Date.parse(p.left_at) : Date.now();
  return {
    id: p.id,
    peer_id: p.id,
    user_id: p.participant_id,
    custom_participant_id: p.custom_participant_id,
    display_name: p.display_name,
    preset_name: p.preset_name,
    joined_at: p.joined_at,
    left_at: p.left_at ?? undefined,
    duration: Math.max(0, Math.round((end - Date.parse(p.joined_at)) / 1000)),
    created_at: p.created_at,
    updated_at: p.updated_at,
  };
}
