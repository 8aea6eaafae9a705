/**
 * Draws a plain ID card (black text on white) as a PNG for OCR tests, so no binary image is kept
 * in the repository. The font is DejaVu Sans from the `dejavu-fonts-ttf` npm package.
 */
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import * as PImage from 'pureimage';

let fontLoaded: Promise<void> | undefined;

function loadFont(): Promise<void> {
  const require = createRequire(import.meta.url);
  fontLoaded ??= PImage.registerFont(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'), 'DejaVu Sans').load();
  return fontLoaded;
}

/** One line of text per row; MRZ lines print in a smaller size so that 30–44 characters fit. */
export async function renderIdCard(lines: string[], options: { width?: number; fontPx?: number } = {}): Promise<Buffer> {
  await loadFont();
  const width = options.width ?? 1000;
  const fontPx = options.fontPx ?? 34;
  const image = PImage.make(width, 60 + lines.length * Math.round(fontPx * 1.9));
  const ctx = image.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, image.width, image.height);
  ctx.fillStyle = '#000000';
  lines.forEach((line, i) => {
    const size = /^[A-Z0-9<]{30,}$/.test(line) ? Math.floor((width - 40) / (line.length * 0.72)) : fontPx;
    ctx.font = `${Math.min(size, fontPx)}px 'DejaVu Sans'`;
    ctx.fillText(line, 20, 50 + i * Math.round(fontPx * 1.9));
  });
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  await PImage.encodePNGToStream(image, sink);
  return Buffer.concat(chunks);
}
