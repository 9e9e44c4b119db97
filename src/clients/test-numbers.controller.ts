import { Body, Controller, Delete, Get, HttpCode, Post, Req } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Authenticated, CurrentPrincipal, Principal } from '../common/auth';
import { ApiBodyProblems, ApiProblem } from '../common/problem-docs';
import { IdParam } from '../common/resource-id.pipe';
import type { ActingAs } from './clients.service';
import { CreateTestNumberDto, TestNumberListView, TestNumberView } from './dto/test-number.dto';
import { TestNumbersService } from './test-numbers.service';

const admin = (who: Principal, req: FastifyRequest): ActingAs => ({ actor: { type: 'admin', id: who.keyId }, ip: req.ip });

@ApiTags('admin')
@Authenticated('admin')
@Controller('v1/admin/clients')
export class TestNumbersController {
  constructor(private readonly testNumbers: TestNumbersService) {}

  @Post(':id/test-numbers')
  @ApiOperation({
    operationId: 'addTestNumber',
    summary: 'Add a test number to a client (audited as client.test_number_added)',
    description:
      'Its verifications never reach a provider (provider `test`), accept the fixed code, and play the scripted delivery status and IVR outcome ' +
      'through the same events real receipts and calls use, so webhooks and voice-contract decisions follow the real path. They are marked ' +
      '`test: true` on the verification and in their audit events. Outside production they always work; with NODE_ENV=production only when ' +
      "the client's policy sets testNumbersInProduction (else this answers 409 and an existing test number is an ordinary number). " +
      'Takes effect at once on the instance that took it and within API_KEY_CACHE_TTL_SECONDS on the others.',
  })
  @ApiCreatedResponse({ type: TestNumberView })
  @ApiBodyProblems('A code that is not 4-10 digits, an unknown deliveryStatus or ivrOutcome, an unknown field; nothing changed.')
  @ApiProblem('invalid_phone_number', 'phoneNumber is not a possible number in E.164 form.')
  @ApiProblem('not_found', 'No such client.')
  @ApiProblem('conflict', 'The client has this test number already, or 100 of them, or (in production) its policy does not allow test numbers.')
  add(@IdParam('id') id: string, @Body() dto: CreateTestNumberDto, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<TestNumberView> {
    return this.testNumbers.add(id, dto, admin(who, req));
  }

  @Get(':id/test-numbers')
  @ApiOperation({ operationId: 'listTestNumbers', summary: "A client's test numbers, oldest first (all of them: at most 100)" })
  @ApiOkResponse({ type: TestNumberListView })
  @ApiProblem('not_found', 'No such client.')
  list(@IdParam('id') id: string): Promise<TestNumberListView> {
    return this.testNumbers.list(id);
  }

  @Delete(':id/test-numbers/:testNumberId')
  @HttpCode(200)
  @ApiOperation({ operationId: 'removeTestNumber', summary: 'Remove a test number (audited as client.test_number_removed); answers the removed one' })
  @ApiOkResponse({ type: TestNumberView })
  @ApiProblem('not_found', 'No such client, or no such test number of this client.')
  remove(@IdParam('id') id: string, @IdParam('testNumberId') testNumberId: string, @CurrentPrincipal() who: Principal, @Req() req: FastifyRequest): Promise<TestNumberView> {
    return this.testNumbers.remove(id, testNumberId, admin(who, req));
  }
}
