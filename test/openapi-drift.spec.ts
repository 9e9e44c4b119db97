import { ApiPropertyOptional } from '@nestjs/swagger';
import { StartVerificationDto } from '../src/issuance/dto/start-verification.dto';
import { buildOpenApiDocument } from '../src/openapi';
import { committedFiles, GENERATED_FILES, generatedFiles, REGENERATE_COMMAND } from '../tools/openapi';
import { ROOT } from './support/process';

/**
 * Issue 12 item 2: the spec and the client never drift. The committed packages/client/openapi.json and the
 * types generated from it (packages/client/src/schema.ts) must be exactly what `npm run openapi` makes from the
 * service now; CI runs this file with every `npm test`.
 */
type Json = Record<string, any>;

/** Where @nestjs/swagger keeps a property's options (its DECORATORS.API_MODEL_PROPERTIES, not exported). */
const PROPERTY_METADATA = 'swagger/apiModelProperties';

/** The first line where two texts differ, for a message a person can act on. */
function firstDifference(committed: string, fresh: string): string {
  const a = committed.split('\n');
  const b = fresh.split('\n');
  const i = a.findIndex((line, n) => line !== b[n]);
  const at = i === -1 ? a.length : i;
  return `line ${at + 1}: committed ${JSON.stringify(a[at] ?? '<end of file>')}, service now ${JSON.stringify(b[at] ?? '<end of file>')}`;
}

function expectSame(file: string, committed: string, fresh: string): void {
  if (committed !== fresh) {
    throw new Error(`${file} is not what the service documents now (${firstDifference(committed, fresh)}). Run \`${REGENERATE_COMMAND}\` and commit the result.`);
  }
}

describe('the client is generated from the service', () => {
  let document: Json;
  let fresh: { document: string; types: string };
  beforeAll(async () => {
    document = await buildOpenApiDocument();
    fresh = await generatedFiles(document);
  });

  it(`has the committed document and types that \`${REGENERATE_COMMAND}\` makes now`, () => {
    const committed = committedFiles(ROOT);
    expectSame(GENERATED_FILES.document, committed.document, fresh.document);
    expectSame(GENERATED_FILES.types, committed.types, fresh.types);
    expect(committed.types).toContain('"/v1/verifications": {');
    expect(committed.types).toContain('startVerification: {');
  });

  it('fails the check when an endpoint changes: a field, an answer, a route', async () => {
    const committed = committedFiles(ROOT);
    const changed = structuredClone(document);
    changed.components.schemas.VerificationView.properties.riskScore = { type: 'integer' };
    expect((await generatedFiles(changed)).types).not.toBe(committed.types);

    const answer = structuredClone(document);
    delete answer.paths['/v1/verifications/{id}/check'].post.responses['409'];
    expect((await generatedFiles(answer)).types).not.toBe(committed.types);

    const route = structuredClone(document);
    route.paths['/v1/verifications/{id}/extend'] = { post: { ...document.paths['/v1/verifications/{id}/cancel'].post, operationId: 'extendVerification' } };
    const regenerated = await generatedFiles(route);
    expect(regenerated.types).toContain('extendVerification');
    expect(() => expectSame(GENERATED_FILES.types, committed.types, regenerated.types)).toThrow(`Run \`${REGENERATE_COMMAND}\``);
  });

  it('fails the check when a DTO changes in the service and nobody regenerates', async () => {
    // the same change a developer would make: a new constraint on a field of the start body
    const proto = StartVerificationDto.prototype;
    const before = Reflect.getMetadata(PROPERTY_METADATA, proto, 'reference');
    expect(before).toMatchObject({ maxLength: 128 });
    ApiPropertyOptional({ maxLength: 64 })(proto, 'reference');
    try {
      const after = await generatedFiles(await buildOpenApiDocument());
      expect(after.document).not.toBe(committedFiles(ROOT).document);
      expect(() => expectSame(GENERATED_FILES.document, committedFiles(ROOT).document, after.document)).toThrow(/packages\/client\/openapi.json is not what the service documents now .*maxLength.*64.*Run `npm run openapi`/);
    } finally {
      Reflect.defineMetadata(PROPERTY_METADATA, before, proto, 'reference');
    }
    expect((await generatedFiles(await buildOpenApiDocument())).document).toBe(committedFiles(ROOT).document);
  });
});
