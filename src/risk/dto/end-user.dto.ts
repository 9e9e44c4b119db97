import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIP, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';

/**
 * API.md `endUser`: optional signals about the person behind a start, for the risk rules (starts per IP and per
 * device, one number verified for many accounts). The account reference and the device id are stored only as
 * keyed hashes; none of them is echoed or logged.
 */
export class EndUserDto {
  @ApiPropertyOptional({ example: '203.0.113.7', description: "The end user's IP address (IPv4 or IPv6), as the caller saw it." })
  @IsOptional()
  @IsString()
  @MaxLength(45)
  @IsIP(undefined, { message: 'endUser.ip must be an IPv4 or IPv6 address' })
  ip?: string;

  @ApiPropertyOptional({ example: 'd-77f3a9', minLength: 1, maxLength: 128, description: "An id of the end user's device (the caller's own), 1-128 visible ASCII characters." })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @Matches(/^[\x21-\x7e]+$/, { message: 'endUser.deviceId must be 1-128 visible ASCII characters' })
  deviceId?: string;

  @ApiPropertyOptional({ example: 'acct-1234', minLength: 1, maxLength: 128, description: "The caller's reference of the account being verified; stored only as a keyed hash." })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  @Matches(/^[^\p{Cc}]+$/u, { message: 'endUser.accountRef must be 1-128 characters without control characters' })
  accountRef?: string;
}
