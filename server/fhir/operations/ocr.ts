import { createRequire } from 'node:module';
import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { Binary, Parameters } from '@medplum/fhirtypes';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createWorker, OEM, type Worker } from 'tesseract.js';
import { FHIR_JSON } from '../../http/outcomes.ts';
import type { RouteDeps } from './routes.ts';

/**
 * `POST Binary/{id}/$ocr`: the text of an image (an ID card, an insurance card) read with
 * tesseract.js, for bots, which run in a sandbox that cannot load WebAssembly or language data.
 * The English model comes from the `@tesseract.js-data/eng` npm package: nothing is downloaded at
 * run time. The caller must be allowed to read the Binary. Answers `Parameters` with `text` and
 * `confidence` (0–100).
 *
 * One recogniser serves the whole process (its start costs a second or two), one image at a time;
 * it is ended after a minute without work, and when the server closes.
 */

const IMAGE_TYPES = new Set([
  'image/png',
  'image/jpeg',
  'image/jpg',
  'image/bmp',
  'image/x-ms-bmp',
  'image/webp',
  'image/gif',
  'image/tiff',
]);
/** Larger photos are no more legible and take seconds more: refuse them. */
const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
const IDLE_MS = 60_000;

export interface OcrResult {
  text: string;
  confidence: number;
}

export class OcrEngine {
  private worker: Promise<Worker> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private idle: NodeJS.Timeout | undefined;

  private start(): Promise<Worker> {
    const require = createRequire(import.meta.url);
    const eng = require('@tesseract.js-data/eng') as { langPath: string; gzip: boolean };
    return createWorker('eng', OEM.LSTM_ONLY, { langPath: eng.langPath, gzip: eng.gzip, cacheMethod: 'none' });
  }

  recognize(image: Buffer): Promise<OcrResult> {
    const run = this.queue.then(async () => {
      clearTimeout(this.idle);
      this.worker ??= this.start();
      const worker = await this.worker;
      try {
        const { data } = await worker.recognize(image);
        return { text: data.text, confidence: Math.round(data.confidence) };
      } finally {
        this.idle = setTimeout(() => void this.close(), IDLE_MS);
        this.idle.unref();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    clearTimeout(this.idle);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await (await worker.catch(() => undefined))?.terminate();
  }
}

export function registerOcrRoutes(fastify: FastifyInstance, deps: RouteDeps, engine: OcrEngine = new OcrEngine()): void {
  fastify.addHook('onClose', () => engine.close());
  fastify.post<{ Params: { id: string } }>(
    '/fhir/R4/Binary/:id/$ocr',
    async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      const repo = deps.repoFor(request);
      const binary = await repo.readResource<Binary>('Binary', request.params.id);
      const contentType = (binary.contentType ?? '').split(';')[0].trim().toLowerCase();
      if (!IMAGE_TYPES.has(contentType)) {
        throw new OperationOutcomeError(
          badRequest(`Binary/${binary.id} is ${contentType || 'of no content type'}, not an image`, 'Binary.contentType'),
        );
      }
      const { rows } = await repo.query<{ data: Buffer }>('SELECT data FROM binary_content WHERE version_id = $1', [
        binary.meta?.versionId,
      ]);
      const bytes = rows[0]?.data ?? Buffer.from(binary.data ?? '', 'base64');
      if (bytes.length === 0) {
        throw new OperationOutcomeError(badRequest(`Binary/${binary.id} is empty`));
      }
      if (bytes.length > MAX_IMAGE_BYTES) {
        throw new OperationOutcomeError(badRequest(`Binary/${binary.id} is larger than ${MAX_IMAGE_BYTES / 1024 / 1024} MB`));
      }
      let result: OcrResult;
      try {
        result = await engine.recognize(bytes);
      } catch (err) {
        request.log.warn({ err, binary: binary.id }, 'OCR failed');
        throw new OperationOutcomeError(badRequest(`Binary/${binary.id} could not be read as an image`));
      }
      const out: Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'text', valueString: result.text },
          { name: 'confidence', valueDecimal: result.confidence },
        ],
      };
      return reply.type(FHIR_JSON).send(JSON.stringify(out));
    },
  );
}
