/**
 * `npm run hl7:send -- [file]`: sends one HL7 v2 message (a file, or stdin) over MLLP to the bridge
 * (HL7_HOST, HL7_PORT; default 127.0.0.1:2575) and prints the ACK. Line breaks are sent as the
 * segment separator HL7 requires (CR), so a message written in an editor works as is.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { MllpClient } from '../hl7-bridge/mllp/client.ts';

export function toEr7(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .filter((line) => line.trim())
    .join('\r');
}

async function main(): Promise<void> {
  const file = process.argv[2];
  const text = readFileSync(file && file !== '-' ? file : 0, 'utf8');
  const message = toEr7(text);
  if (!message.startsWith('MSH')) throw new Error('an HL7 v2 message starts with MSH');
  const client = new MllpClient({ host: process.env.HL7_HOST ?? '127.0.0.1', port: Number(process.env.HL7_PORT ?? 2575) });
  try {
    const ack = (await client.send(message)).toString('utf8');
    process.stdout.write(`${ack.replace(/\r/g, '\n').trim()}\n`);
    if (!/\rMSA\|(AA|CA)/.test(ack)) process.exitCode = 1;
  } finally {
    client.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`hl7:send failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
