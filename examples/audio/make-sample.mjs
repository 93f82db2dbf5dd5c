// Writes sample-16k.pcm: 0.4 s of raw PCM (16 kHz, 16-bit little-endian, mono), the format the
// dictation (iat) examples stream. It is a few synthesised tones, not speech: a real dictation
// service answers it with an empty or near-empty text, which is enough to prove the service
// accepted, decoded and finished the audio. Replace it with a recording of your own (same format,
// e.g. `ffmpeg -i in.wav -ac 1 -ar 16000 -f s16le out.pcm`) to also check the recognised text.
//
//   node examples/audio/make-sample.mjs
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const RATE = 16000;
// Three 440/660/880 Hz notes with short fades, so there are no clicks between them.
const notes = [440, 660, 880];
const perNote = Math.round(RATE * 0.4 / notes.length);
const pcm = Buffer.alloc(perNote * notes.length * 2);
notes.forEach((hz, n) => {
  for (let i = 0; i < perNote; i++) {
    const fade = Math.min(1, i / 160, (perNote - i) / 160);
    const v = Math.round(9000 * fade * Math.sin((2 * Math.PI * hz * i) / RATE));
    pcm.writeInt16LE(v, (n * perNote + i) * 2);
  }
});
const out = fileURLToPath(new URL('./sample-16k.pcm', import.meta.url));
writeFileSync(out, pcm);
process.stdout.write(`${out}: ${pcm.length} bytes (${pcm.length / 2 / RATE} s)\n`);
