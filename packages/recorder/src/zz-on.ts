import { decodeMono } from './testing/media-tools.js';
const { samples } = decodeMono(process.argv[2]!);
const blk = 48 * 10;
let line = '';
let prev = false;
for (let i = 0; i * blk < samples.length; i++) {
  let s = 0;
  for (let j = i * blk; j < (i + 1) * blk && j < samples.length; j++) s += samples[j]! ** 2;
  const loud = Math.sqrt(s / blk) > 800;
  if (loud !== prev) line += `${loud ? 'on' : 'off'}@${i * 10} `;
  prev = loud;
}
console.log(samples.length / 48, line);
