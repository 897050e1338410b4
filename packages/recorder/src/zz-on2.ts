import { decodeMono } from './testing/media-tools.js';
const { samples } = decodeMono(process.argv[2]!);
const r = (a: number, b: number) => {
  let s = 0;
  for (let i = a * 48; i < b * 48; i++) s += samples[i]! ** 2;
  return Math.sqrt(s / ((b - a) * 48));
};
const out: string[] = [];
for (let t = 100; t < samples.length / 48 - 1; t++)
  if (r(t, t + 1) > 300 && r(t - 100, t - 1) < 100) out.push(`${t}`);
console.log(out.slice(0, 12).join(' '), '| rms of tone', r(3500, 3600).toFixed(0));
