import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compactSubscriberOffer } from './media-connections.js';

test('the subscriber offer sent drops header extensions and keeps everything else', () => {
  const sdp = [
    'v=0',
    'a=extmap-allow-mixed',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=mid:0',
    'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
    'a=recvonly',
    'a=rtpmap:111 opus/48000/2',
    '',
  ].join('\r\n');
  assert.equal(
    compactSubscriberOffer(sdp),
    ['v=0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:0', 'a=recvonly', 'a=rtpmap:111 opus/48000/2', ''].join(
      '\r\n',
    ),
  );
});
